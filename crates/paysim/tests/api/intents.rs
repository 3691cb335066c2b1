//! PaymentIntents: Stripe's statuses, test cards and errors.

use serde_json::Value;

use crate::support::{json, stripe_error, Sim};

#[tokio::test]
async fn a_good_card_succeeds_at_once() {
    let sim = Sim::start().await;
    let pm = sim.card("4242424242424242").await;
    let intent = json(
        sim.pay("o-1", "2000", pm["id"].as_str().unwrap()).await,
        200,
    )
    .await;
    assert!(intent["id"].as_str().unwrap().starts_with("pi_"));
    assert_eq!(intent["object"], "payment_intent");
    assert_eq!(intent["status"], "succeeded");
    assert_eq!(intent["amount"], 2000);
    assert_eq!(intent["currency"], "usd");
    assert_eq!(intent["amount_received"], 2000);
    assert_eq!(intent["payment_method"], pm["id"]);
    assert_eq!(intent["metadata"]["order_id"], "o-1");
    assert_eq!(intent["last_payment_error"], Value::Null);
    let charge_id = intent["latest_charge"].as_str().unwrap();
    assert!(charge_id.starts_with("ch_"));
    let charge = sim.get_json(&format!("/v1/charges/{charge_id}")).await;
    assert_eq!(charge["status"], "succeeded");
    assert_eq!(charge["amount_captured"], 2000);
    let fetched = sim
        .get_json(&format!(
            "/v1/payment_intents/{}",
            intent["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(fetched, intent);
}

#[tokio::test]
async fn create_then_confirm_walks_the_statuses() {
    let sim = Sim::start().await;
    let intent = sim
        .post_json(
            "/v1/payment_intents",
            &[("amount", "500"), ("currency", "EUR")],
        )
        .await;
    assert_eq!(intent["status"], "requires_payment_method");
    assert_eq!(intent["currency"], "eur");
    let id = intent["id"].as_str().unwrap();
    let res = sim
        .post(&format!("/v1/payment_intents/{id}/confirm"), &[])
        .await;
    stripe_error(
        res,
        400,
        "invalid_request_error",
        Some("payment_intent_unexpected_state"),
    )
    .await;
    let confirmed = sim
        .post_json(
            &format!("/v1/payment_intents/{id}/confirm"),
            &[("payment_method", "pm_card_visa")],
        )
        .await;
    assert_eq!(confirmed["status"], "succeeded");
    let res = sim
        .post(
            &format!("/v1/payment_intents/{id}/confirm"),
            &[("payment_method", "pm_card_visa")],
        )
        .await;
    let error = stripe_error(
        res,
        400,
        "invalid_request_error",
        Some("payment_intent_unexpected_state"),
    )
    .await;
    assert_eq!(error["payment_intent"]["status"], "succeeded");
    let res = sim
        .post(&format!("/v1/payment_intents/{id}/cancel"), &[])
        .await;
    stripe_error(
        res,
        400,
        "invalid_request_error",
        Some("payment_intent_unexpected_state"),
    )
    .await;
}

#[tokio::test]
async fn test_cards_decline_as_documented() {
    let sim = Sim::start().await;
    for (number, code, decline_code) in [
        ("4000000000000002", "card_declined", Some("generic_decline")),
        (
            "4000000000009995",
            "card_declined",
            Some("insufficient_funds"),
        ),
        ("4000000000000119", "processing_error", None),
    ] {
        let pm = sim.card(number).await;
        let order = format!("declined-{number}");
        let res = sim.pay(&order, "2000", pm["id"].as_str().unwrap()).await;
        let error = stripe_error(res, 402, "card_error", Some(code)).await;
        assert_eq!(error["decline_code"].as_str(), decline_code, "{number}");
        assert!(error["charge"].as_str().unwrap().starts_with("ch_"));
        let intent = &error["payment_intent"];
        assert_eq!(intent["status"], "requires_payment_method", "{number}");
        assert_eq!(intent["amount_received"], 0);
        assert_eq!(intent["last_payment_error"]["code"], code);
        assert_eq!(intent["last_payment_error"]["type"], "card_error");
        // The declined intent exists and can be paid with another card.
        let stored = sim.intents_of(&order).await;
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0]["last_payment_error"]["code"], code);
        let id = stored[0]["id"].as_str().unwrap();
        let retried = sim
            .post_json(
                &format!("/v1/payment_intents/{id}/confirm"),
                &[("payment_method", "pm_card_visa")],
            )
            .await;
        assert_eq!(retried["status"], "succeeded");
        assert_eq!(retried["last_payment_error"], Value::Null);
    }
}

#[tokio::test]
async fn manual_capture_authorizes_then_captures_part() {
    let sim = Sim::start().await;
    let intent = sim
        .post_json(
            "/v1/payment_intents",
            &[
                ("amount", "3000"),
                ("currency", "usd"),
                ("capture_method", "manual"),
                ("payment_method", "pm_card_mastercard"),
                ("confirm", "true"),
            ],
        )
        .await;
    assert_eq!(intent["status"], "requires_capture");
    assert_eq!(intent["amount_capturable"], 3000);
    assert_eq!(intent["amount_received"], 0);
    let id = intent["id"].as_str().unwrap();
    let res = sim
        .post(
            &format!("/v1/payment_intents/{id}/capture"),
            &[("amount_to_capture", "3001")],
        )
        .await;
    stripe_error(res, 400, "invalid_request_error", Some("amount_too_large")).await;
    let captured = sim
        .post_json(
            &format!("/v1/payment_intents/{id}/capture"),
            &[("amount_to_capture", "2500")],
        )
        .await;
    assert_eq!(captured["status"], "succeeded");
    assert_eq!(captured["amount_received"], 2500);
    assert_eq!(captured["amount_capturable"], 0);
    let res = sim
        .post(&format!("/v1/payment_intents/{id}/capture"), &[])
        .await;
    stripe_error(
        res,
        400,
        "invalid_request_error",
        Some("payment_intent_unexpected_state"),
    )
    .await;
}

#[tokio::test]
async fn cancel_releases_an_authorization() {
    let sim = Sim::start().await;
    let intent = sim
        .post_json(
            "/v1/payment_intents",
            &[
                ("amount", "700"),
                ("currency", "usd"),
                ("capture_method", "manual"),
                ("payment_method", "pm_card_visa"),
                ("confirm", "true"),
            ],
        )
        .await;
    let id = intent["id"].as_str().unwrap();
    let canceled = sim
        .post_json(
            &format!("/v1/payment_intents/{id}/cancel"),
            &[("cancellation_reason", "abandoned")],
        )
        .await;
    assert_eq!(canceled["status"], "canceled");
    assert_eq!(canceled["cancellation_reason"], "abandoned");
    assert_eq!(canceled["amount_capturable"], 0);
    assert!(canceled["canceled_at"].is_i64());
}

#[tokio::test]
async fn intents_are_listed_and_searched_by_metadata() {
    let sim = Sim::start().await;
    json(sim.pay("A", "100", "pm_card_visa").await, 200).await;
    json(sim.pay("A", "200", "pm_card_chargeDeclined").await, 402).await;
    json(sim.pay("B", "300", "pm_card_visa").await, 200).await;
    let a = sim.intents_of("A").await;
    assert_eq!(a.len(), 2);
    assert_eq!(a[0]["amount"], 200, "newest first");
    let found = sim
        .get_json("/v1/payment_intents/search?query=metadata%5B%27order_id%27%5D%3A%27A%27%20AND%20status%3A%27succeeded%27")
        .await;
    assert_eq!(found["object"], "search_result");
    let data = found["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["amount"], 100);
    let page = sim.get_json("/v1/payment_intents?limit=2").await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert_eq!(page["has_more"], true);
    let res = sim.get("/v1/payment_intents/search?query=amount%3E5").await;
    stripe_error(res, 400, "invalid_request_error", None).await;
}

#[tokio::test]
async fn an_unknown_intent_is_resource_missing() {
    let sim = Sim::start().await;
    let res = sim.get("/v1/payment_intents/pi_nope").await;
    let error = stripe_error(res, 404, "invalid_request_error", Some("resource_missing")).await;
    assert!(error["message"].as_str().unwrap().contains("pi_nope"));
    let res = sim.post("/v1/payment_intents/pi_nope/confirm", &[]).await;
    stripe_error(res, 404, "invalid_request_error", Some("resource_missing")).await;
    let res = sim.pay("x", "100", "pm_nope").await;
    let error = stripe_error(res, 400, "invalid_request_error", Some("resource_missing")).await;
    assert_eq!(error["param"], "payment_method");
    assert!(sim.intents_of("x").await.is_empty());
}
