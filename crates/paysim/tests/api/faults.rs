//! Injected faults: outage, errors, latency, and "succeeds but times out";
//! set at start or through `/_control`.

use std::time::{Duration, Instant};

use emporium_paysim::Faults;
use serde_json::json;

use crate::support::{json, stripe_error, Receiver, Sim, SK};

#[tokio::test]
async fn down_answers_503_until_reset() {
    let sim = Sim::start_with(|c| c.faults.down = true).await;
    let res = sim.pay("down-1", "100", "pm_card_visa").await;
    stripe_error(res, 503, "api_error", None).await;
    let faults = sim.get_json("/_control/faults").await;
    assert_eq!(faults["down"], true);
    let res = sim
        .client
        .post(sim.url("/_control/reset"))
        .bearer_auth(SK)
        .send()
        .await
        .unwrap();
    assert_eq!(json(res, 200).await["down"], false);
    assert!(
        sim.intents_of("down-1").await.is_empty(),
        "the refused request did nothing"
    );
    json(sim.pay("down-1", "100", "pm_card_visa").await, 200).await;
}

#[tokio::test]
async fn injected_errors_do_nothing() {
    let sim = Sim::start().await;
    let set = sim.set_faults(json!({"error_rate": 1.0})).await;
    assert_eq!(set["error_rate"], 1.0);
    assert_eq!(set["down"], false, "missing fields take their defaults");
    for _ in 0..3 {
        let res = sim
            .post_idem(
                "/v1/payment_intents",
                &[
                    ("amount", "100"),
                    ("currency", "usd"),
                    ("metadata[order_id]", "err"),
                ],
                "err-key",
            )
            .await;
        stripe_error(res, 500, "api_error", None).await;
    }
    sim.set_faults(json!({})).await;
    assert!(sim.intents_of("err").await.is_empty());
    // The key was never used, so the retry runs.
    let res = sim
        .post_idem(
            "/v1/payment_intents",
            &[
                ("amount", "100"),
                ("currency", "usd"),
                ("metadata[order_id]", "err"),
            ],
            "err-key",
        )
        .await;
    assert!(!res.headers().contains_key("idempotent-replayed"));
    json(res, 200).await;
}

#[tokio::test]
async fn latency_delays_every_answer() {
    let sim = Sim::start().await;
    sim.set_faults(json!({"latency_ms": 300})).await;
    let started = Instant::now();
    json(sim.get("/v1/payment_intents").await, 200).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn bad_fault_settings_are_refused() {
    let sim = Sim::start().await;
    for body in [
        json!({"error_rate": 2.0}),
        json!({"nonsense": true}),
        json!({"down": "yes"}),
    ] {
        let res = sim
            .client
            .post(sim.url("/_control/faults"))
            .bearer_auth(SK)
            .json(&body)
            .send()
            .await
            .unwrap();
        stripe_error(res, 400, "invalid_request_error", None).await;
    }
    let res = sim
        .client
        .post(sim.url("/_control/faults"))
        .json(&json!({"down": true}))
        .send()
        .await
        .unwrap();
    stripe_error(res, 401, "invalid_request_error", None).await;
    assert_eq!(
        sim.get_json("/_control/faults").await,
        serde_json::to_value(Faults::default()).unwrap()
    );
}

#[tokio::test]
async fn succeeds_but_times_out_moves_the_money_anyway() {
    let receiver = Receiver::start(0).await;
    let sim = Sim::start_with(|c| {
        c.webhook_url = Some(receiver.url.clone());
        c.faults.timeout_after_success = true;
        c.faults.timeout_ms = 5_000;
    })
    .await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let form = [
        ("amount", "6100"),
        ("currency", "usd"),
        ("payment_method", "pm_card_visa"),
        ("confirm", "true"),
        ("metadata[order_id]", "slow-1"),
    ];
    let sent = impatient
        .post(sim.url("/v1/payment_intents"))
        .bearer_auth(SK)
        .header("Idempotency-Key", "slow-key")
        .form(&form)
        .send()
        .await;
    let err = sent.expect_err("the client gives up");
    assert!(err.is_timeout(), "{err}");
    let intents = sim.intents_of("slow-1").await;
    assert_eq!(intents.len(), 1);
    assert_eq!(intents[0]["status"], "succeeded");
    assert_eq!(intents[0]["amount_received"], 6100);
    let hooks = receiver.wait_for("payment_intent.succeeded", 1).await;
    assert_eq!(hooks[0].event["data"]["object"]["id"], intents[0]["id"]);
    // Once the fault is gone, the client's retry learns the outcome.
    sim.set_faults(json!({})).await;
    let retry = sim
        .post_idem("/v1/payment_intents", &form, "slow-key")
        .await;
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(json(retry, 200).await["id"], intents[0]["id"]);
    assert_eq!(sim.intents_of("slow-1").await.len(), 1);
}
