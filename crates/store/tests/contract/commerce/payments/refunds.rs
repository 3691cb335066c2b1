//! Refunds of orders paid by card: never more than what was paid (pending
//! refunds included, failed ones not), one at a time under concurrency, the
//! order `refunded` once refunds reach what was paid, and the refund queue.

use std::collections::HashSet;

use emporium_domain::identity::UnixMillis;
use emporium_domain::orders::{OrderEvent, OrderStatus, TransitionOutcome};
use emporium_domain::payments::{
    NewRefund, Refund, RefundJob, RefundSettlement, RefundStart, RefundStatus,
};
use emporium_domain::ports::{OrderStore, RefundStore};
use uuid::Uuid;

use super::{order, paid_by_card, stocked, MINUTE, T0};
use crate::commerce::ordered;
use crate::support::TestDb;

crate::contract!(
    only_orders_paid_by_card_are_refundable,
    a_full_refund_refunds_the_order,
    partial_refunds_never_exceed_what_was_paid,
    concurrent_full_refunds_start_once,
    concurrent_settlements_completing_a_refund_refund_the_order,
    pending_refunds_are_claimed_once_due,
    a_refund_claim_takes_at_most_limit_refunds,
);

use OrderStatus::{Cancelled, Fulfilled, Paid, PendingPayment, Refunded};

/// When the tests' refunds are asked for (payments succeed at `T0 + 4 min`).
const ASKED: UnixMillis = T0 + 10 * MINUTE;

/// A refund of `amount` (None: all that is left) asked for by `admin:7`
/// at `at`, leased for a minute.
pub fn new_refund(order_id: Uuid, amount: Option<i64>, at: UnixMillis) -> NewRefund {
    let id = Uuid::now_v7();
    NewRefund {
        id,
        order_id,
        amount,
        reason: Some("damaged in transit".into()),
        actor: "admin:7".into(),
        idempotency_key: format!("refund-{id}"),
        lease_until: at + MINUTE,
        created_at: at,
    }
}

async fn refund(db: &TestDb, order_id: Uuid, amount: Option<i64>, at: UnixMillis) -> RefundStart {
    db.store
        .start_refund(&new_refund(order_id, amount, at))
        .await
        .unwrap()
}

/// Starts a refund that must be `Started`; its job.
async fn started(db: &TestDb, order_id: Uuid, amount: Option<i64>, at: UnixMillis) -> RefundJob {
    match refund(db, order_id, amount, at).await {
        RefundStart::Started(job) => job,
        other => panic!("expected Started, got {other:?}"),
    }
}

async fn settle(db: &TestDb, id: Uuid, settlement: RefundSettlement, now: UnixMillis) -> Refund {
    db.store
        .settle_refund(id, &settlement, now)
        .await
        .unwrap()
        .expect("the refund exists")
}

fn refunded(reference: &str) -> RefundSettlement {
    RefundSettlement::Succeeded {
        reference: reference.into(),
    }
}

fn refused() -> RefundSettlement {
    RefundSettlement::Failed {
        message: "charge already refunded".into(),
    }
}

async fn only_orders_paid_by_card_are_refundable(db: TestDb) {
    let p = stocked(&db, 1, 10).await;
    let pending = ordered(&db.store, "pending", &[(&p[0], 1)]).await;
    let offline = ordered(&db.store, "offline", &[(&p[0], 1)]).await;
    let cancelled = ordered(&db.store, "cancelled", &[(&p[0], 1)]).await;
    for (o, to) in [(&offline, Paid), (&cancelled, Cancelled)] {
        let out = db
            .store
            .transition_order(o.id, PendingPayment, to, "admin:1", None, T0 + 5 * MINUTE)
            .await
            .unwrap();
        assert!(matches!(out, TransitionOutcome::Done(_)), "{out:?}");
    }
    for (o, status) in [
        (&pending, PendingPayment),
        (&offline, Paid),
        (&cancelled, Cancelled),
    ] {
        assert_eq!(
            refund(&db, o.id, None, ASKED).await,
            RefundStart::NotRefundable { status },
            "{status:?}"
        );
        assert!(order(&db, o.id).await.refunds.is_empty(), "nothing written");
    }
    assert_eq!(
        refund(&db, Uuid::now_v7(), None, ASKED).await,
        RefundStart::NotFound
    );

    // Shipped orders paid by card are refundable too.
    let (shipped, payment) = paid_by_card(&db, "shipped", &[(&p[0], 1)]).await;
    let out = db
        .store
        .transition_order(shipped.id, Paid, Fulfilled, "admin:1", None, ASKED - 1)
        .await
        .unwrap();
    assert!(matches!(out, TransitionOutcome::Done(_)), "{out:?}");
    let job = started(&db, shipped.id, None, ASKED).await;
    assert_eq!(job.amount, payment.amount);
}

async fn a_full_refund_refunds_the_order(db: TestDb) {
    let p = stocked(&db, 1, 10).await;
    let (o, payment) = paid_by_card(&db, "a", &[(&p[0], 2)]).await;
    let new = new_refund(o.id, None, ASKED);
    let out = db.store.start_refund(&new).await.unwrap();
    assert_eq!(
        out,
        RefundStart::Started(RefundJob {
            id: new.id,
            order_id: o.id,
            amount: o.totals.total,
            payment_reference: "pi_a".into(),
            idempotency_key: new.idempotency_key.clone(),
            created_at: ASKED,
        })
    );
    let pending = Refund {
        id: new.id,
        order_id: o.id,
        payment_id: payment.id,
        status: RefundStatus::Pending,
        amount: o.totals.total,
        provider_reference: None,
        reason: Some("damaged in transit".into()),
        actor: "admin:7".into(),
        created_at: ASKED,
        updated_at: ASKED,
    };
    let waiting = order(&db, o.id).await;
    assert_eq!(waiting.refunds, std::slice::from_ref(&pending));
    assert_eq!(
        waiting.status, Paid,
        "not refunded before the provider says so"
    );

    let now = ASKED + MINUTE;
    let done = settle(&db, new.id, refunded("re_1"), now).await;
    assert_eq!(
        done,
        Refund {
            status: RefundStatus::Succeeded,
            provider_reference: Some("re_1".into()),
            updated_at: now,
            ..pending
        }
    );
    let after = order(&db, o.id).await;
    assert_eq!(after.status, Refunded);
    assert_eq!(after.refunded_amount(), after.paid_amount());
    let last = after.events.last().unwrap();
    assert_eq!(
        (last.from, last.to, last.actor.as_str(), last.at),
        (Some(Paid), Refunded, "admin:7", now),
        "{last:?}"
    );

    // Settled once: a late failure changes nothing, nor does asking again.
    assert_eq!(settle(&db, new.id, refused(), now + 1).await, done);
    let again = refund(&db, o.id, None, now + 2).await;
    assert!(
        matches!(
            again,
            RefundStart::NotRefundable { status: Refunded } | RefundStart::TooMuch { remaining: 0 }
        ),
        "{again:?}"
    );
    assert_eq!(order(&db, o.id).await, after);
    let unknown = db
        .store
        .settle_refund(Uuid::now_v7(), &refunded("re_2"), now)
        .await
        .unwrap();
    assert_eq!(unknown, None);
}

async fn partial_refunds_never_exceed_what_was_paid(db: TestDb) {
    let p = stocked(&db, 1, 10).await;
    let (o, _) = paid_by_card(&db, "a", &[(&p[0], 3)]).await;
    let total = o.totals.total;
    let percent = |n: i64| total * n / 100;

    let first = started(&db, o.id, Some(percent(30)), ASKED).await;
    assert_eq!(first.amount, percent(30));
    let second = started(&db, o.id, Some(percent(50)), ASKED + 1).await;
    let left = total - percent(30) - percent(50);
    // Both are pending: they count against what is left.
    assert_eq!(
        refund(&db, o.id, Some(percent(30)), ASKED + 2).await,
        RefundStart::TooMuch { remaining: left }
    );

    settle(&db, first.id, refunded("re_1"), ASKED + MINUTE).await;
    assert_eq!(order(&db, o.id).await.status, Paid, "refunded in part");
    assert_eq!(
        refund(&db, o.id, Some(percent(30)), ASKED + MINUTE).await,
        RefundStart::TooMuch { remaining: left }
    );

    // A failed refund gives its amount back.
    let failed = settle(&db, second.id, refused(), ASKED + 2 * MINUTE).await;
    assert_eq!(failed.status, RefundStatus::Failed);
    let third = started(&db, o.id, Some(percent(30)), ASKED + 3 * MINUTE).await;
    assert_eq!(third.amount, percent(30));
    let rest = started(&db, o.id, None, ASKED + 3 * MINUTE).await;
    assert_eq!(rest.amount, total - 2 * percent(30), "all that is left");
    assert_eq!(
        refund(&db, o.id, Some(1), ASKED + 4 * MINUTE).await,
        RefundStart::TooMuch { remaining: 0 }
    );

    settle(&db, third.id, refunded("re_3"), ASKED + 5 * MINUTE).await;
    assert_eq!(order(&db, o.id).await.status, Paid);
    settle(&db, rest.id, refunded("re_4"), ASKED + 6 * MINUTE).await;
    let after = order(&db, o.id).await;
    assert_eq!(after.status, Refunded);
    assert_eq!(after.refunded_amount(), total);
    let statuses: Vec<RefundStatus> = after.refunds.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            RefundStatus::Succeeded,
            RefundStatus::Failed,
            RefundStatus::Succeeded,
            RefundStatus::Succeeded
        ]
    );
    let refunded_events: Vec<&OrderEvent> =
        after.events.iter().filter(|e| e.to == Refunded).collect();
    assert_eq!(refunded_events.len(), 1, "{:?}", after.events);
    assert_eq!(refunded_events[0].at, ASKED + 6 * MINUTE);
}

async fn concurrent_full_refunds_start_once(db: TestDb) {
    let p = stocked(&db, 1, 10).await;
    let (o, _) = paid_by_card(&db, "a", &[(&p[0], 2)]).await;
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let store = db.store.clone();
            let new = new_refund(o.id, None, ASKED + i);
            tokio::spawn(async move { store.start_refund(&new).await.unwrap() })
        })
        .collect();
    let (mut jobs, mut too_much) = (Vec::new(), 0);
    for t in tasks {
        match t.await.unwrap() {
            RefundStart::Started(job) => jobs.push(job),
            RefundStart::TooMuch { remaining: 0 } => too_much += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(jobs.len(), 1, "exactly one refund started");
    assert_eq!(too_much, 9);
    assert_eq!(jobs[0].amount, o.totals.total);
    let after = order(&db, o.id).await;
    let ids: Vec<Uuid> = after.refunds.iter().map(|r| r.id).collect();
    assert_eq!(ids, [jobs[0].id]);
}

async fn concurrent_settlements_completing_a_refund_refund_the_order(db: TestDb) {
    const ORDERS: usize = 4;
    const PARTS: i64 = 8;
    let p = stocked(&db, 1, 10).await;
    // Orders each refunded in parts that add up to what was paid, every
    // part settled at once (several orders: more chances to interleave).
    let mut orders = Vec::new();
    let mut jobs = Vec::new();
    for i in 0..ORDERS {
        let (o, _) = paid_by_card(&db, &format!("t{i}"), &[(&p[0], 1)]).await;
        let part = o.totals.total / PARTS;
        for n in 0..PARTS {
            let amount = if n + 1 < PARTS {
                part
            } else {
                o.totals.total - n * part
            };
            jobs.push(started(&db, o.id, Some(amount), ASKED + n).await);
        }
        orders.push(o);
    }
    let now = ASKED + MINUTE;
    let tasks: Vec<_> = jobs
        .into_iter()
        .map(|job| {
            let store = db.store.clone();
            tokio::spawn(async move {
                let done = refunded(&format!("re_{}", job.id));
                store
                    .settle_refund(job.id, &done, now)
                    .await
                    .unwrap()
                    .unwrap()
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().status, RefundStatus::Succeeded);
    }
    for o in orders {
        let after = order(&db, o.id).await;
        assert_eq!(after.refunded_amount(), o.totals.total);
        assert_eq!(after.status, Refunded, "refunds reached what was paid");
        let refunded_events = after.events.iter().filter(|e| e.to == Refunded).count();
        assert_eq!(refunded_events, 1, "{:?}", after.events);
    }
}

async fn pending_refunds_are_claimed_once_due(db: TestDb) {
    let p = stocked(&db, 1, 10).await;
    let (a, _) = paid_by_card(&db, "a", &[(&p[0], 1)]).await;
    let (b, _) = paid_by_card(&db, "b", &[(&p[0], 2)]).await;
    let ra = started(&db, a.id, None, ASKED).await;
    let rb = started(&db, b.id, Some(100), ASKED).await;
    let lease_end = ASKED + MINUTE;

    let claim = |now, lease| db.store.claim_refunds(now, lease, 10);
    assert!(claim(lease_end - 1, lease_end + MINUTE)
        .await
        .unwrap()
        .is_empty());
    let jobs: HashSet<(Uuid, i64, String)> = claim(lease_end, lease_end + 2 * MINUTE)
        .await
        .unwrap()
        .into_iter()
        .map(|j| (j.id, j.amount, j.payment_reference))
        .collect();
    let both = HashSet::from([
        (ra.id, a.totals.total, "pi_a".to_owned()),
        (rb.id, 100, "pi_b".to_owned()),
    ]);
    assert_eq!(jobs, both);
    assert!(claim(lease_end, lease_end + 2 * MINUTE)
        .await
        .unwrap()
        .is_empty());

    // `a` waits for its backoff; `b` is done.
    let backoff = ASKED + 20 * MINUTE;
    let retried = RefundSettlement::Retry {
        error: "provider timed out".into(),
        next_attempt_at: backoff,
    };
    let waiting = settle(&db, ra.id, retried, lease_end + 1).await;
    assert_eq!(waiting.status, RefundStatus::Pending);
    settle(&db, rb.id, refunded("re_b"), lease_end + 1).await;
    assert!(claim(backoff - 1, backoff + MINUTE)
        .await
        .unwrap()
        .is_empty());
    let due = claim(backoff, backoff + MINUTE).await.unwrap();
    assert_eq!(due, std::slice::from_ref(&ra));
    assert!(claim(backoff, backoff + MINUTE).await.unwrap().is_empty());
    let later = claim(T0 + 10_000 * MINUTE, T0 + 10_001 * MINUTE)
        .await
        .unwrap();
    let ids: Vec<Uuid> = later.iter().map(|j| j.id).collect();
    assert_eq!(ids, [ra.id], "settled refunds leave the queue");
}

async fn a_refund_claim_takes_at_most_limit_refunds(db: TestDb) {
    let p = stocked(&db, 1, 10).await;
    let mut pending = HashSet::new();
    for i in 0..5 {
        let (o, _) = paid_by_card(&db, &format!("t{i}"), &[(&p[0], 1)]).await;
        pending.insert(started(&db, o.id, None, ASKED).await.id);
    }
    let now = ASKED + 5 * MINUTE;
    let mut claimed = HashSet::new();
    for expected in [2, 2, 1, 0] {
        let jobs = db.store.claim_refunds(now, now + MINUTE, 2).await.unwrap();
        assert_eq!(jobs.len(), expected, "{jobs:?}");
        for job in jobs {
            assert!(claimed.insert(job.id), "claimed twice: {job:?}");
        }
    }
    assert_eq!(claimed, pending);
}
