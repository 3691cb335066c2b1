//! Webhooks: signed Stripe events, retried with backoff until a 2xx, in
//! the background.

use std::time::{Duration, Instant};

use emporium_paysim::{verify, Config};
use serde_json::Value;

use crate::support::{json, Receiver, Sim, WHSEC};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn webhooks_to(receiver: &Receiver) -> impl FnOnce(&mut Config) + '_ {
    move |config| config.webhook_url = Some(receiver.url.clone())
}

#[tokio::test]
async fn a_failed_delivery_is_retried_with_the_same_signed_event() {
    let receiver = Receiver::start(2).await;
    let sim = Sim::start_with(webhooks_to(&receiver)).await;
    let started = Instant::now();
    let intent = json(sim.pay("hook-1", "2500", "pm_card_visa").await, 200).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the API does not wait for delivery"
    );
    let deliveries = receiver.wait_for("payment_intent.succeeded", 3).await;
    let id = deliveries[0].event["id"].as_str().unwrap();
    assert!(id.starts_with("evt_"));
    for d in &deliveries {
        assert_eq!(d.event["id"], id, "the same event every time");
        assert_eq!(d.event["object"], "event");
        assert!(d.event["created"].is_i64());
        assert_eq!(d.event["data"]["object"]["id"], intent["id"]);
        assert_eq!(d.event["data"]["object"]["status"], "succeeded");
        assert!(d.signature.starts_with("t="), "{}", d.signature);
        verify(
            WHSEC,
            &d.signature,
            d.body.as_bytes(),
            Duration::from_secs(300),
            now(),
        )
        .unwrap();
        assert!(verify(
            "whsec_other",
            &d.signature,
            d.body.as_bytes(),
            Duration::from_secs(300),
            now()
        )
        .is_err());
    }
    // Delivered on the third attempt: no more come, and the event says so.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.of_type("payment_intent.succeeded").len(), 3);
    let event = sim.get_json(&format!("/v1/events/{id}")).await;
    assert_eq!(event["pending_webhooks"], 0);
    assert_eq!(event["type"], "payment_intent.succeeded");
}

#[tokio::test]
async fn the_api_never_waits_for_a_webhook() {
    // An endpoint that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", silent.local_addr().unwrap());
    let sim = Sim::start_with(|config| {
        config.webhook_url = Some(url);
        config.webhook_retry.timeout = Duration::from_secs(30);
    })
    .await;
    for order in ["quick-1", "quick-2", "quick-3"] {
        let started = Instant::now();
        json(sim.pay(order, "100", "pm_card_visa").await, 200).await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
    let events = sim
        .get_json("/v1/events?type=payment_intent.succeeded")
        .await;
    let events = events["data"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    assert!(
        events.iter().all(|e| e["pending_webhooks"] == 1),
        "not delivered yet"
    );
    sim.stop().await;
    drop(silent);
}

#[tokio::test]
async fn failures_and_refunds_are_announced() {
    let receiver = Receiver::start(0).await;
    let sim = Sim::start_with(webhooks_to(&receiver)).await;
    let declined = json(
        sim.pay("hook-2", "800", "pm_card_chargeDeclinedInsufficientFunds")
            .await,
        402,
    )
    .await;
    let failed = receiver.wait_for("payment_intent.payment_failed", 1).await;
    let object = &failed[0].event["data"]["object"];
    assert_eq!(object["id"], declined["error"]["payment_intent"]["id"]);
    assert_eq!(
        object["last_payment_error"]["decline_code"],
        "insufficient_funds"
    );
    let paid = json(sim.pay("hook-3", "800", "pm_card_visa").await, 200).await;
    sim.post_json(
        "/v1/refunds",
        &[
            ("payment_intent", paid["id"].as_str().unwrap()),
            ("amount", "300"),
        ],
    )
    .await;
    let refunded = receiver.wait_for("charge.refunded", 1).await;
    let charge: &Value = &refunded[0].event["data"]["object"];
    assert_eq!(charge["object"], "charge");
    assert_eq!(charge["id"], paid["latest_charge"]);
    assert_eq!(charge["amount_refunded"], 300);
    let listed = sim.get_json("/v1/events?type=charge.refunded").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn pending_deliveries_resume_after_a_restart() {
    let receiver = Receiver::start(usize::MAX).await;
    let sim = Sim::start_with(|config| {
        config.webhook_url = Some(receiver.url.clone());
        config.webhook_retry.initial_backoff = Duration::from_millis(300);
        config.webhook_retry.max_attempts = 20;
    })
    .await;
    json(sim.pay("hook-4", "100", "pm_card_visa").await, 200).await;
    receiver.wait_for("payment_intent.succeeded", 1).await;
    let sim = sim.restart().await;
    let before = receiver.of_type("payment_intent.succeeded").len();
    receiver
        .wait_for("payment_intent.succeeded", before + 1)
        .await;
    drop(sim);
}
