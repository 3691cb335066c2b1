//! The ledger survives a restart: intents, and idempotent replays.

use crate::support::{json, Sim};

#[tokio::test]
async fn a_restart_loses_nothing() {
    let sim = Sim::start().await;
    let form = [
        ("amount", "3300"),
        ("currency", "usd"),
        ("payment_method", "pm_card_visa"),
        ("confirm", "true"),
        ("metadata[order_id]", "durable"),
    ];
    let first = json(
        sim.post_idem("/v1/payment_intents", &form, "durable-key")
            .await,
        200,
    )
    .await;
    let id = first["id"].as_str().unwrap().to_owned();
    sim.post_json("/v1/refunds", &[("payment_intent", &id), ("amount", "300")])
        .await;

    let sim = sim.restart().await;
    let fetched = sim.get_json(&format!("/v1/payment_intents/{id}")).await;
    assert_eq!(fetched, first);
    let replay = sim
        .post_idem("/v1/payment_intents", &form, "durable-key")
        .await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(json(replay, 200).await, first);
    assert_eq!(sim.intents_of("durable").await.len(), 1);
    let refunds = sim
        .get_json(&format!("/v1/refunds?payment_intent={id}"))
        .await;
    assert_eq!(refunds["data"][0]["amount"], 300);
    // The refund limit still holds across the restart.
    let res = sim
        .post(
            "/v1/refunds",
            &[("payment_intent", &id), ("amount", "3001")],
        )
        .await;
    assert_eq!(res.status(), 400);
    sim.stop().await;
}
