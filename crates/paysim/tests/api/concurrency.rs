//! Money moves once under contention: concurrent confirms with one key,
//! concurrent confirms without keys, concurrent refunds.

use futures::future::join_all;
use serde_json::Value;

use crate::support::{json, Sim};

/// Of 20 concurrent identical requests with one key, one runs; the others
/// are replays of it, or told (409) that it is still running.
async fn assert_one_ran(responses: Vec<reqwest::Response>) -> Value {
    let mut bodies = Vec::new();
    for res in responses {
        match res.status().as_u16() {
            200 => bodies.push(json(res, 200).await),
            409 => {
                let body = json(res, 409).await;
                assert_eq!(body["error"]["type"], "idempotency_error");
                assert_eq!(body["error"]["code"], "idempotency_key_in_use");
            }
            other => panic!("unexpected status {other}: {}", res.text().await.unwrap()),
        }
    }
    assert!(!bodies.is_empty());
    assert!(
        bodies.iter().all(|b| *b == bodies[0]),
        "every 200 is the same response"
    );
    bodies.swap_remove(0)
}

#[tokio::test]
async fn twenty_concurrent_confirms_with_one_key_charge_once() {
    let sim = Sim::start().await;
    let intent = sim
        .post_json(
            "/v1/payment_intents",
            &[
                ("amount", "4200"),
                ("currency", "usd"),
                ("metadata[order_id]", "contended"),
            ],
        )
        .await;
    let path = format!(
        "/v1/payment_intents/{}/confirm",
        intent["id"].as_str().unwrap()
    );
    let responses = join_all(
        (0..20)
            .map(|_| sim.post_idem(&path, &[("payment_method", "pm_card_visa")], "confirm-once")),
    )
    .await;
    let confirmed = assert_one_ran(responses).await;
    assert_eq!(confirmed["status"], "succeeded");
    let intents = sim.intents_of("contended").await;
    assert_eq!(intents.len(), 1);
    assert_eq!(intents[0]["status"], "succeeded");
    assert_eq!(intents[0]["amount_received"], 4200);
    let charges = sim
        .get_json(&format!(
            "/v1/charges?payment_intent={}",
            intent["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        charges["data"].as_array().unwrap().len(),
        1,
        "exactly one charge"
    );
    // A late retry gets the saved response.
    let late = sim
        .post_idem(&path, &[("payment_method", "pm_card_visa")], "confirm-once")
        .await;
    assert_eq!(late.headers()["idempotent-replayed"], "true");
    assert_eq!(json(late, 200).await, confirmed);
}

#[tokio::test]
async fn twenty_concurrent_creates_with_one_key_make_one_intent() {
    let sim = Sim::start().await;
    let form = [
        ("amount", "999"),
        ("currency", "usd"),
        ("payment_method", "pm_card_visa"),
        ("confirm", "true"),
        ("metadata[order_id]", "one-key"),
    ];
    let responses =
        join_all((0..20).map(|_| sim.post_idem("/v1/payment_intents", &form, "create-once"))).await;
    assert_one_ran(responses).await;
    let intents = sim.intents_of("one-key").await;
    assert_eq!(intents.len(), 1);
    assert_eq!(intents[0]["amount_received"], 999);
}

#[tokio::test]
async fn twenty_concurrent_creates_with_different_keys_make_twenty_intents() {
    let sim = Sim::start().await;
    let keys: Vec<String> = (0..20).map(|i| format!("create-{i}")).collect();
    let form = [
        ("amount", "100"),
        ("currency", "usd"),
        ("metadata[order_id]", "many"),
    ];
    let responses = join_all(
        keys.iter()
            .map(|k| sim.post_idem("/v1/payment_intents", &form, k)),
    )
    .await;
    let mut ids = Vec::new();
    for res in responses {
        ids.push(json(res, 200).await["id"].as_str().unwrap().to_owned());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20);
    let listed = sim
        .get_json("/v1/payment_intents?metadata[order_id]=many&limit=100")
        .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 20);
}

#[tokio::test]
async fn concurrent_confirms_without_keys_still_charge_once() {
    let sim = Sim::start().await;
    let intent = sim
        .post_json(
            "/v1/payment_intents",
            &[("amount", "300"), ("currency", "usd")],
        )
        .await;
    let id = intent["id"].as_str().unwrap();
    let path = format!("/v1/payment_intents/{id}/confirm");
    let responses =
        join_all((0..20).map(|_| sim.post(&path, &[("payment_method", "pm_card_visa")]))).await;
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 400),
        "{statuses:?}"
    );
    let charges = sim
        .get_json(&format!("/v1/charges?payment_intent={id}"))
        .await;
    assert_eq!(charges["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn concurrent_refunds_never_exceed_the_capture() {
    let sim = Sim::start().await;
    let intent = json(sim.pay("refund-race", "1000", "pm_card_visa").await, 200).await;
    let pi = intent["id"].as_str().unwrap();
    let form = [("payment_intent", pi), ("amount", "300")];
    let responses = join_all((0..20).map(|_| sim.post("/v1/refunds", &form))).await;
    let ok = responses.iter().filter(|r| r.status() == 200).count();
    assert_eq!(ok, 3, "3 × 300 fit in 1000, a fourth does not");
    let refunds = sim
        .get_json(&format!("/v1/refunds?payment_intent={pi}"))
        .await;
    let total: i64 = refunds["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 900);
}
