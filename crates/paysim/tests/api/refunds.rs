//! Refunds: full or partial, never more than captured.

use crate::support::{json, stripe_error, Sim};

#[tokio::test]
async fn partial_refunds_add_up_to_the_captured_amount_and_no_more() {
    let sim = Sim::start().await;
    let intent = json(sim.pay("r-1", "2000", "pm_card_visa").await, 200).await;
    let pi = intent["id"].as_str().unwrap();
    let refund = sim
        .post_json(
            "/v1/refunds",
            &[
                ("payment_intent", pi),
                ("amount", "500"),
                ("reason", "requested_by_customer"),
            ],
        )
        .await;
    assert!(refund["id"].as_str().unwrap().starts_with("re_"));
    assert_eq!(refund["object"], "refund");
    assert_eq!(refund["amount"], 500);
    assert_eq!(refund["status"], "succeeded");
    assert_eq!(refund["payment_intent"], pi);
    assert_eq!(refund["charge"], intent["latest_charge"]);
    let res = sim
        .post("/v1/refunds", &[("payment_intent", pi), ("amount", "1501")])
        .await;
    stripe_error(res, 400, "invalid_request_error", Some("amount_too_large")).await;
    // Without an amount, the rest is refunded.
    let rest = sim
        .post_json("/v1/refunds", &[("payment_intent", pi)])
        .await;
    assert_eq!(rest["amount"], 1500);
    let res = sim
        .post("/v1/refunds", &[("payment_intent", pi), ("amount", "1")])
        .await;
    stripe_error(
        res,
        400,
        "invalid_request_error",
        Some("charge_already_refunded"),
    )
    .await;
    let listed = sim
        .get_json(&format!("/v1/refunds?payment_intent={pi}"))
        .await;
    assert_eq!(listed["object"], "list");
    let amounts: Vec<_> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, vec![1500, 500]);
    let charge = sim
        .get_json(&format!(
            "/v1/charges/{}",
            intent["latest_charge"].as_str().unwrap()
        ))
        .await;
    assert_eq!(charge["amount_refunded"], 2000);
    assert_eq!(charge["refunded"], true);
    let one = sim
        .get_json(&format!("/v1/refunds/{}", refund["id"].as_str().unwrap()))
        .await;
    assert_eq!(one, refund);
}

#[tokio::test]
async fn only_a_captured_payment_can_be_refunded() {
    let sim = Sim::start().await;
    let open = sim
        .post_json(
            "/v1/payment_intents",
            &[("amount", "900"), ("currency", "usd")],
        )
        .await;
    let res = sim
        .post(
            "/v1/refunds",
            &[("payment_intent", open["id"].as_str().unwrap())],
        )
        .await;
    stripe_error(
        res,
        400,
        "invalid_request_error",
        Some("charge_not_refundable"),
    )
    .await;
    let res = sim
        .post("/v1/refunds", &[("payment_intent", "pi_missing")])
        .await;
    stripe_error(res, 400, "invalid_request_error", Some("resource_missing")).await;
    let res = sim.post("/v1/refunds", &[]).await;
    stripe_error(res, 400, "invalid_request_error", Some("parameter_missing")).await;
    let paid = json(sim.pay("r-2", "900", "pm_card_visa").await, 200).await;
    let res = sim
        .post(
            "/v1/refunds",
            &[
                ("payment_intent", paid["id"].as_str().unwrap()),
                ("amount", "0"),
            ],
        )
        .await;
    stripe_error(res, 400, "invalid_request_error", None).await;
    let res = sim
        .post(
            "/v1/refunds",
            &[
                ("payment_intent", paid["id"].as_str().unwrap()),
                ("amount", "-5"),
            ],
        )
        .await;
    stripe_error(res, 400, "invalid_request_error", None).await;
}
