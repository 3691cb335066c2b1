//! Idempotency-Key: the first response replayed, a different request with
//! the same key refused, a refused-before-running request not saved.

use crate::support::{json, stripe_error, Sim};

#[tokio::test]
async fn the_same_key_replays_the_first_response() {
    let sim = Sim::start().await;
    let form = [
        ("amount", "1200"),
        ("currency", "usd"),
        ("payment_method", "pm_card_visa"),
        ("confirm", "true"),
        ("metadata[order_id]", "idem-1"),
    ];
    let first = sim.post_idem("/v1/payment_intents", &form, "key-1").await;
    assert!(!first.headers().contains_key("idempotent-replayed"));
    assert_eq!(first.headers()["idempotency-key"], "key-1");
    let first = json(first, 200).await;
    // The same parameters in another order are the same request.
    let mut reordered = form;
    reordered.reverse();
    let again = sim
        .post_idem("/v1/payment_intents", &reordered, "key-1")
        .await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(json(again, 200).await, first);
    assert_eq!(sim.intents_of("idem-1").await.len(), 1);
}

#[tokio::test]
async fn a_declined_payment_is_replayed_as_declined() {
    let sim = Sim::start().await;
    let form = [
        ("amount", "1200"),
        ("currency", "usd"),
        ("payment_method", "pm_card_chargeDeclined"),
        ("confirm", "true"),
    ];
    let first = stripe_error(
        sim.post_idem("/v1/payment_intents", &form, "k-dec").await,
        402,
        "card_error",
        Some("card_declined"),
    )
    .await;
    let again = sim.post_idem("/v1/payment_intents", &form, "k-dec").await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(stripe_error(again, 402, "card_error", None).await, first);
}

#[tokio::test]
async fn the_same_key_with_other_parameters_or_endpoint_is_refused() {
    let sim = Sim::start().await;
    let res = sim
        .post_idem(
            "/v1/payment_intents",
            &[("amount", "1200"), ("currency", "usd")],
            "k2",
        )
        .await;
    let intent = json(res, 200).await;
    let res = sim
        .post_idem(
            "/v1/payment_intents",
            &[("amount", "1300"), ("currency", "usd")],
            "k2",
        )
        .await;
    let error = stripe_error(res, 400, "idempotency_error", None).await;
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("same parameters"));
    let confirm = format!(
        "/v1/payment_intents/{}/confirm",
        intent["id"].as_str().unwrap()
    );
    let res = sim
        .post_idem(&confirm, &[("payment_method", "pm_card_visa")], "k2")
        .await;
    let error = stripe_error(res, 400, "idempotency_error", None).await;
    assert!(error["message"].as_str().unwrap().contains("same endpoint"));
    let long_key = "k".repeat(256);
    let res = sim
        .post_idem(
            "/v1/payment_intents",
            &[("amount", "1"), ("currency", "usd")],
            &long_key,
        )
        .await;
    stripe_error(res, 400, "invalid_request_error", None).await;
}

#[tokio::test]
async fn a_request_refused_for_its_parameters_is_not_saved() {
    let sim = Sim::start().await;
    let res = sim
        .post_idem(
            "/v1/payment_intents",
            &[("amount", "lots"), ("currency", "usd")],
            "k3",
        )
        .await;
    stripe_error(
        res,
        400,
        "invalid_request_error",
        Some("parameter_invalid_integer"),
    )
    .await;
    let res = sim
        .post_idem(
            "/v1/payment_intents",
            &[("amount", "100"), ("currency", "usd")],
            "k3",
        )
        .await;
    assert!(!res.headers().contains_key("idempotent-replayed"));
    assert_eq!(json(res, 200).await["amount"], 100);
}
