//! Card payments of orders (the `PaymentStore` port): starting one per
//! order at a time, what a payment in flight forbids, lookups and webhook
//! events. Settling in `settlement`, the queue in `queue`, refunds in
//! `refunds`; shared fixtures here.

mod queue;
mod refunds;
mod settlement;

use emporium_domain::identity::UnixMillis;
use emporium_domain::orders::{Order, OrderStatus, TransitionOutcome};
use emporium_domain::payments::{
    NewPayment, Payment, PaymentStatus, Settled, Settlement, StartOutcome,
};
use emporium_domain::ports::{OrderStore, PaymentStore, StockStore};
use uuid::Uuid;

use super::{ordered, products, stock, Product, MINUTE, T0};
use crate::support::TestDb;

crate::contract!(
    a_payment_starts_once_per_order_while_in_flight,
    concurrent_starts_record_one_payment,
    only_pending_orders_with_attempts_left_are_payable,
    an_order_with_a_payment_in_flight_is_neither_cancelled_nor_expired,
    a_payment_is_found_by_its_provider_reference,
    provider_events_are_recorded_once,
    payment_anomalies_are_kept_per_order,
);

use OrderStatus::{Cancelled, Paid, PendingPayment};

/// How long an order stays payable after a payment of it ends unpaid.
pub const GRACE: i64 = 15 * MINUTE;

/// When the tests' payments start (orders are placed at `T0 + 2 min`).
pub const STARTED: UnixMillis = T0 + 3 * MINUTE;

/// `n` products (see `products`), each with `on_hand` units.
pub async fn stocked(db: &TestDb, n: usize, on_hand: u32) -> Vec<Product> {
    let p = products(&db.store, n).await;
    for product in &p {
        stock(&db.store, product.id, on_hand).await;
    }
    p
}

pub async fn level(db: &TestDb, product_id: Uuid) -> (u32, u32) {
    let s = db.store.stock(product_id).await.unwrap().unwrap();
    (s.on_hand, s.reserved)
}

pub async fn order(db: &TestDb, id: Uuid) -> Order {
    db.store.order(id).await.unwrap().unwrap()
}

/// A payment of the order's total made at `at`, leased for a minute, at
/// most five per order.
pub fn new_payment(order: &Order, at: UnixMillis) -> NewPayment {
    let id = Uuid::now_v7();
    NewPayment {
        id,
        order_id: order.id,
        amount: order.totals.total,
        currency: order.currency.clone(),
        payment_token: "pm_card_visa".into(),
        idempotency_key: format!("pay-{id}"),
        lease_until: at + MINUTE,
        created_at: at,
        max_per_order: 5,
    }
}

/// Starts a payment of `order` at `at`, which must be `Started`.
pub async fn start(db: &TestDb, order: &Order, at: UnixMillis) -> NewPayment {
    let new = new_payment(order, at);
    assert_eq!(
        db.store.start_payment(&new).await.unwrap(),
        StartOutcome::Started
    );
    new
}

pub async fn settle(db: &TestDb, id: Uuid, settlement: Settlement, now: UnixMillis) -> Settled {
    db.store
        .settle_payment(id, &settlement, GRACE, now)
        .await
        .unwrap()
        .expect("the payment exists")
}

pub fn succeeded(reference: &str) -> Settlement {
    Settlement::Succeeded {
        reference: reference.into(),
    }
}

pub fn declined() -> Settlement {
    Settlement::Declined {
        reference: Some("pi_declined".into()),
        code: "card_declined".into(),
        message: "Your card was declined.".into(),
    }
}

pub fn failed() -> Settlement {
    Settlement::Failed {
        message: "token already used".into(),
    }
}

pub fn retry(next_attempt_at: UnixMillis) -> Settlement {
    Settlement::Retry {
        error: "provider timed out".into(),
        next_attempt_at,
    }
}

/// An order of `lines` (guest `token`), paid by card: its payment started
/// at `STARTED` and succeeded a minute later with reference `pi_<token>`.
pub async fn paid_by_card(db: &TestDb, token: &str, lines: &[(&Product, u32)]) -> (Order, Payment) {
    let o = ordered(&db.store, token, lines).await;
    let new = start(db, &o, STARTED).await;
    let settled = settle(
        db,
        new.id,
        succeeded(&format!("pi_{token}")),
        STARTED + MINUTE,
    )
    .await;
    assert!(settled.changed && !settled.orphaned, "{settled:?}");
    (order(db, o.id).await, settled.payment)
}

/// The order's events as `(from, to)` steps.
pub fn steps(order: &Order) -> Vec<(Option<OrderStatus>, OrderStatus)> {
    order.events.iter().map(|e| (e.from, e.to)).collect()
}

async fn a_payment_starts_once_per_order_while_in_flight(db: TestDb) {
    let p = stocked(&db, 1, 10).await;
    let o = ordered(&db.store, "a", &[(&p[0], 2)]).await;
    let new = start(&db, &o, STARTED).await;

    let expected = Payment {
        id: new.id,
        order_id: o.id,
        status: PaymentStatus::Processing,
        amount: o.totals.total,
        currency: "USD".into(),
        provider_reference: None,
        decline_code: None,
        message: None,
        attempts: 1,
        created_at: STARTED,
        updated_at: STARTED,
        orphaned: false,
    };
    let after = order(&db, o.id).await;
    assert_eq!(after.payments, std::slice::from_ref(&expected));
    assert_eq!(after.payment_in_flight(), Some(&expected));
    assert_eq!(after.status, PendingPayment);
    assert_eq!(db.store.payment(new.id).await.unwrap(), Some(expected));
    assert_eq!(level(&db, p[0].id).await, (10, 2), "still reserved");

    let second = new_payment(&o, STARTED + 1);
    assert_eq!(
        db.store.start_payment(&second).await.unwrap(),
        StartOutcome::InProgress
    );
    assert_eq!(order(&db, o.id).await.payments.len(), 1, "nothing written");
    assert_eq!(db.store.payment(second.id).await.unwrap(), None);

    let mut unknown = new_payment(&o, STARTED);
    unknown.order_id = Uuid::now_v7();
    assert_eq!(
        db.store.start_payment(&unknown).await.unwrap(),
        StartOutcome::NotFound
    );
    assert_eq!(db.store.payment(Uuid::now_v7()).await.unwrap(), None);
}

async fn concurrent_starts_record_one_payment(db: TestDb) {
    let p = stocked(&db, 1, 10).await;
    let o = ordered(&db.store, "a", &[(&p[0], 1)]).await;
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let store = db.store.clone();
            let new = new_payment(&o, STARTED + i);
            tokio::spawn(async move { (new.id, store.start_payment(&new).await.unwrap()) })
        })
        .collect();
    let (mut started, mut in_progress) = (Vec::new(), 0);
    for t in tasks {
        match t.await.unwrap() {
            (id, StartOutcome::Started) => started.push(id),
            (_, StartOutcome::InProgress) => in_progress += 1,
            (_, other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(started.len(), 1, "exactly one payment in flight");
    assert_eq!(in_progress, 9);
    let ids: Vec<Uuid> = order(&db, o.id)
        .await
        .payments
        .iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(ids, started);
}

async fn only_pending_orders_with_attempts_left_are_payable(db: TestDb) {
    let p = stocked(&db, 1, 10).await;
    let paid = ordered(&db.store, "paid", &[(&p[0], 1)]).await;
    let cancelled = ordered(&db.store, "cancelled", &[(&p[0], 1)]).await;
    for (o, to) in [(&paid, Paid), (&cancelled, Cancelled)] {
        let out = db
            .store
            .transition_order(o.id, PendingPayment, to, "admin:1", None, T0 + MINUTE)
            .await
            .unwrap();
        assert!(matches!(out, TransitionOutcome::Done(_)), "{out:?}");
        assert_eq!(
            db.store
                .start_payment(&new_payment(o, STARTED))
                .await
                .unwrap(),
            StartOutcome::NotPayable { status: to }
        );
        assert!(
            order(&db, o.id).await.payments.is_empty(),
            "nothing written"
        );
    }

    // At most two payments: a declined and a failed one count.
    let o = ordered(&db.store, "tries", &[(&p[0], 1)]).await;
    let limited = |at| NewPayment {
        max_per_order: 2,
        ..new_payment(&o, at)
    };
    for (i, ending) in [declined(), failed()].into_iter().enumerate() {
        let at = STARTED + i as i64 * MINUTE;
        let new = limited(at);
        assert_eq!(
            db.store.start_payment(&new).await.unwrap(),
            StartOutcome::Started
        );
        assert!(settle(&db, new.id, ending, at + 1).await.changed);
    }
    assert_eq!(
        db.store
            .start_payment(&limited(STARTED + 5 * MINUTE))
            .await
            .unwrap(),
        StartOutcome::TooManyAttempts
    );
    let after = order(&db, o.id).await;
    assert_eq!(after.payments.len(), 2, "nothing written");
    assert_eq!(after.payment_in_flight(), None);
    assert_eq!(after.status, PendingPayment);
}

async fn an_order_with_a_payment_in_flight_is_neither_cancelled_nor_expired(db: TestDb) {
    let p = stocked(&db, 1, 10).await;
    let o = ordered(&db.store, "a", &[(&p[0], 2)]).await;
    let new = start(&db, &o, STARTED).await;
    let far = T0 + 1000 * MINUTE;

    let id = o.id;
    let transition = |db: &TestDb, to| {
        let store = db.store.clone();
        async move {
            store
                .transition_order(id, PendingPayment, to, "system", Some("expired"), far)
                .await
                .unwrap()
        }
    };
    for to in [Cancelled, Paid] {
        assert_eq!(
            transition(&db, to).await,
            TransitionOutcome::PaymentInFlight
        );
    }
    assert!(db.store.expired_orders(far, 10).await.unwrap().is_empty());

    // Queued for a retry, it is still in flight.
    assert!(
        settle(&db, new.id, retry(far), STARTED + MINUTE)
            .await
            .changed
    );
    assert_eq!(
        transition(&db, Cancelled).await,
        TransitionOutcome::PaymentInFlight
    );
    assert!(db.store.expired_orders(far, 10).await.unwrap().is_empty());
    let waiting = order(&db, o.id).await;
    assert_eq!(waiting.status, PendingPayment);
    assert_eq!(waiting.events.len(), 1, "no event for a refusal");
    assert_eq!(level(&db, p[0].id).await, (10, 2), "still reserved");

    settle(&db, new.id, declined(), STARTED + 2 * MINUTE).await;
    assert_eq!(db.store.expired_orders(far, 10).await.unwrap(), [o.id]);
    let out = transition(&db, Cancelled).await;
    assert!(
        matches!(&out, TransitionOutcome::Done(o) if o.status == Cancelled),
        "{out:?}"
    );
    assert_eq!(level(&db, p[0].id).await, (10, 0), "released");
}

async fn a_payment_is_found_by_its_provider_reference(db: TestDb) {
    let p = stocked(&db, 1, 10).await;
    let a = ordered(&db.store, "a", &[(&p[0], 1)]).await;
    let b = ordered(&db.store, "b", &[(&p[0], 1)]).await;
    let pa = start(&db, &a, STARTED).await;
    let pb = start(&db, &b, STARTED).await;
    assert_eq!(db.store.payment_by_reference("pi_a").await.unwrap(), None);

    let paid = settle(&db, pa.id, succeeded("pi_a"), STARTED + MINUTE).await;
    let refused = settle(&db, pb.id, declined(), STARTED + MINUTE).await;
    assert_eq!(
        db.store.payment_by_reference("pi_a").await.unwrap(),
        Some(paid.payment)
    );
    assert_eq!(
        db.store.payment_by_reference("pi_declined").await.unwrap(),
        Some(refused.payment),
        "a decline's reference is kept"
    );
    assert_eq!(db.store.payment_by_reference("pi_zzz").await.unwrap(), None);
}

async fn payment_anomalies_are_kept_per_order(db: TestDb) {
    let p = stocked(&db, 1, 10).await;
    let a = ordered(&db.store, "a", &[(&p[0], 1)]).await;
    let b = ordered(&db.store, "b", &[(&p[0], 1)]).await;
    let pa = start(&db, &a, STARTED).await;
    let anomaly = |n: i64, order_id| emporium_domain::payments::PaymentAnomaly {
        id: uuid::Uuid::now_v7(),
        payment_id: pa.id,
        order_id,
        event_id: format!("evt_{n}"),
        reason: "amount_mismatch".into(),
        detail: format!("the payment asked 100; the event says {n}"),
        at: STARTED + n,
    };
    let (second, first) = (anomaly(2, a.id), anomaly(1, a.id));
    db.store.record_anomaly(&second).await.unwrap();
    db.store.record_anomaly(&first).await.unwrap();
    assert_eq!(db.store.anomalies(a.id).await.unwrap(), [first, second]);
    assert_eq!(db.store.anomalies(b.id).await.unwrap(), []);
}

async fn provider_events_are_recorded_once(db: TestDb) {
    let store = &db.store;
    assert!(!store.event_recorded("evt_1").await.unwrap());
    assert!(store
        .record_event("evt_1", "payment_intent.succeeded", T0)
        .await
        .unwrap());
    assert!(!store
        .record_event("evt_1", "payment_intent.succeeded", T0 + 1)
        .await
        .unwrap());
    assert!(
        !store
            .record_event("evt_1", "charge.refunded", T0 + 2)
            .await
            .unwrap(),
        "the id alone identifies an event"
    );
    assert!(store.event_recorded("evt_1").await.unwrap());
    assert!(store
        .record_event("evt_2", "payment_intent.succeeded", T0)
        .await
        .unwrap());
}
