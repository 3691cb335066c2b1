//! The client against paysim (the simulator of the provider's API), on
//! port 0 with a ledger of its own: card outcomes, retries that never
//! charge twice, the circuit breaker, a charge that succeeds but answers
//! too late, refunds. Every "charged once" is checked in paysim's ledger.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

use std::time::{Duration, Instant};

use emporium_domain::payments::{
    ChargeOutcome, ChargeRequest, PaymentProvider, ProviderError, RefundRequest,
};
use emporium_domain::Currency;
use emporium_payments::{BreakerState, ProviderConfig, StripeClient};
use serde_json::{json, Value};
use uuid::Uuid;

const SK: &str = "sk_test_paysim";

/// paysim with a ledger of its own (see `emporium_paysim::harness`).
struct Sim {
    sim: emporium_paysim::harness::Sim,
    base: String,
    _dir: tempfile::TempDir,
}

impl Sim {
    async fn start() -> Sim {
        let dir = tempfile::tempdir().unwrap();
        let listener = emporium_paysim::harness::Sim::bind().await.unwrap();
        let sim =
            emporium_paysim::harness::Sim::serve(listener, &dir.path().join("ledger.db"), None);
        Sim {
            base: sim.base.clone(),
            sim,
            _dir: dir,
        }
    }

    fn client(&self, timeout: Duration) -> StripeClient {
        StripeClient::new(ProviderConfig {
            base_url: self.base.clone(),
            secret_key: SK.into(),
            connect_timeout: Duration::from_secs(1),
            timeout,
            retries: 3,
            backoff: Duration::from_millis(20),
            breaker_threshold: 3,
            breaker_cooldown: Duration::from_millis(300),
        })
        .unwrap()
    }

    async fn card(&self, number: &str) -> String {
        self.sim.card(number).await
    }

    async fn faults(&self, faults: Value) {
        self.sim.faults(faults).await
    }

    /// The intents paysim holds for an order.
    async fn intents(&self, order: Uuid) -> Vec<Value> {
        self.sim.intents("order_id", &order.to_string()).await
    }
}

fn charge(order: Uuid, token: &str, amount: i64) -> ChargeRequest {
    ChargeRequest {
        order_id: order,
        // One payment per order here, so its id can be the order's.
        payment_id: order,
        amount,
        currency: Currency::USD,
        payment_token: token.to_owned(),
        idempotency_key: format!("order-{order}"),
    }
}

#[tokio::test]
async fn cards_succeed_and_decline_as_documented() {
    let sim = Sim::start().await;
    let client = sim.client(Duration::from_secs(5));
    let order = Uuid::now_v7();
    let out = client
        .charge(charge(order, &sim.card("4242424242424242").await, 1999))
        .await
        .unwrap();
    let ChargeOutcome::Succeeded { reference } = out else {
        panic!("{out:?}")
    };
    let intents = sim.intents(order).await;
    assert_eq!(intents.len(), 1);
    assert_eq!(
        (
            intents[0]["id"].as_str(),
            intents[0]["amount_received"].as_i64()
        ),
        (Some(reference.as_str()), Some(1999))
    );
    for (number, code) in [
        ("4000000000000002", "generic_decline"),
        ("4000000000009995", "insufficient_funds"),
        ("4000000000000119", "processing_error"),
    ] {
        let order = Uuid::now_v7();
        let out = client
            .charge(charge(order, &sim.card(number).await, 500))
            .await
            .unwrap();
        match out {
            ChargeOutcome::Declined { code: c, .. } => assert_eq!(c, code, "{number}"),
            other => panic!("{number}: {other:?}"),
        }
        assert!(
            sim.intents(order)
                .await
                .iter()
                .all(|i| i["amount_received"] == 0),
            "{number} took no money"
        );
    }
    let out = client
        .charge(charge(Uuid::now_v7(), "pm_no_such_method", 500))
        .await;
    assert!(matches!(out, Err(ProviderError::Rejected(_))), "{out:?}");
}

#[tokio::test]
async fn a_flaky_provider_is_retried_and_never_charges_twice() {
    let sim = Sim::start().await;
    let client = sim.client(Duration::from_secs(5));
    let token = sim.card("4242424242424242").await;
    let mut succeeded = 0;
    for _ in 0..10 {
        let order = Uuid::now_v7();
        sim.faults(json!({"error_rate": 0.5})).await;
        match client.charge(charge(order, &token, 700)).await {
            Ok(ChargeOutcome::Succeeded { .. }) => succeeded += 1,
            Err(ProviderError::Unavailable(_)) => {}
            other => panic!("{other:?}"),
        }
        // Read the ledger without faults (they apply to every /v1 request).
        sim.faults(json!({})).await;
        let taken: i64 = sim
            .intents(order)
            .await
            .iter()
            .map(|i| i["amount_received"].as_i64().unwrap())
            .sum();
        assert!(taken == 0 || taken == 700, "charged at most once: {taken}");
        // Let the breaker close again if a run of errors opened it.
        tokio::time::sleep(Duration::from_millis(350)).await;
    }
    assert!(
        succeeded >= 3,
        "retries get most charges through a 50 % error rate: {succeeded}/10"
    );
}

#[tokio::test]
async fn a_down_provider_opens_the_breaker_which_recovers() {
    let sim = Sim::start().await;
    let client = sim.client(Duration::from_secs(5));
    let token = sim.card("4242424242424242").await;
    sim.faults(json!({"down": true})).await;
    let out = client.charge(charge(Uuid::now_v7(), &token, 100)).await;
    assert!(matches!(out, Err(ProviderError::Unavailable(_))), "{out:?}");
    assert!(matches!(
        client.breaker().state(),
        BreakerState::Open { .. }
    ));
    let started = Instant::now();
    let out = client.charge(charge(Uuid::now_v7(), &token, 100)).await;
    assert_eq!(
        out,
        Err(ProviderError::Unavailable("circuit breaker open".into()))
    );
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "an open breaker fails fast"
    );
    sim.faults(json!({})).await;
    tokio::time::sleep(Duration::from_millis(350)).await;
    let order = Uuid::now_v7();
    let out = client.charge(charge(order, &token, 100)).await.unwrap();
    assert!(matches!(out, ChargeOutcome::Succeeded { .. }));
    assert_eq!(
        client.breaker().state(),
        BreakerState::Closed { failures: 0 }
    );
    assert_eq!(sim.intents(order).await.len(), 1);
}

#[tokio::test]
async fn a_charge_that_answers_too_late_is_retried_with_its_key_and_taken_once() {
    let sim = Sim::start().await;
    let client = sim.client(Duration::from_millis(500));
    let token = sim.card("4242424242424242").await;
    sim.faults(json!({"timeout_after_success": true, "timeout_ms": 2000}))
        .await;
    let order = Uuid::now_v7();
    let out = client.charge(charge(order, &token, 4200)).await;
    // The first attempt charged and timed out; the retries carried the same
    // key, so they could only ever replay that charge.
    let intents = sim.intents(order).await;
    assert_eq!(intents.len(), 1, "one intent for one key: {intents:?}");
    assert_eq!(intents[0]["amount_received"], 4200);
    match out {
        Ok(ChargeOutcome::Succeeded { reference }) => {
            assert_eq!(intents[0]["id"].as_str(), Some(reference.as_str()))
        }
        Err(ProviderError::Unavailable(_)) => {
            // Every attempt timed out: a later retry (the payment queue's)
            // with the same key gets the charge that happened.
            sim.faults(json!({})).await;
            tokio::time::sleep(Duration::from_millis(350)).await;
            let again = client.charge(charge(order, &token, 4200)).await.unwrap();
            assert!(
                matches!(again, ChargeOutcome::Succeeded { .. }),
                "{again:?}"
            );
            assert_eq!(sim.intents(order).await.len(), 1);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn refunds_are_partial_or_full_and_never_more_than_paid() {
    let sim = Sim::start().await;
    let client = sim.client(Duration::from_secs(5));
    let order = Uuid::now_v7();
    let out = client
        .charge(charge(order, &sim.card("4242424242424242").await, 1000))
        .await
        .unwrap();
    let ChargeOutcome::Succeeded { reference } = out else {
        panic!("{out:?}")
    };
    let refund = |amount: Option<i64>, key: &str| RefundRequest {
        reference: reference.clone(),
        amount,
        idempotency_key: key.into(),
    };
    assert!(client
        .refund(refund(Some(300), "r1"))
        .await
        .unwrap()
        .starts_with("re_"));
    assert!(
        client.refund(refund(None, "r2")).await.is_ok(),
        "the remaining 700"
    );
    let out = client.refund(refund(Some(1), "r3")).await;
    assert!(matches!(out, Err(ProviderError::Rejected(_))), "{out:?}");
}
