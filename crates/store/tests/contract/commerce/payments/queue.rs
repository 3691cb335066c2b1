//! The payment queue: in-flight payments become due when their backoff or
//! lease runs out, and a claim leases at most `limit` of them, each to one
//! worker only, even when workers claim at once.

use std::collections::HashSet;

use emporium_domain::orders::OrderStatus;
use emporium_domain::payments::{PaymentJob, PaymentStatus, QueueStats, RefundStart};
use emporium_domain::ports::{PaymentStore, RefundStore};
use uuid::Uuid;

use super::refunds::new_refund;
use super::{order, paid_by_card, retry, settle, start, stocked, succeeded, STARTED};
use crate::commerce::{ordered, MINUTE, T0};
use crate::support::TestDb;

crate::contract!(
    a_retried_payment_is_claimed_once_its_backoff_has_passed,
    a_processing_payment_whose_lease_ran_out_is_claimed_again,
    a_claim_takes_at_most_limit_payments,
    concurrent_claims_hand_out_each_payment_once,
    queue_stats_count_what_waits,
);

async fn a_retried_payment_is_claimed_once_its_backoff_has_passed(db: TestDb) {
    let p = stocked(&db, 1, 10).await;
    let o = ordered(&db.store, "a", &[(&p[0], 2)]).await;
    let new = start(&db, &o, STARTED).await;
    let due = STARTED + 10 * MINUTE;
    let settled = settle(&db, new.id, retry(due), STARTED + MINUTE).await;
    assert!(settled.changed && !settled.orphaned, "{settled:?}");
    assert_eq!(settled.payment.status, PaymentStatus::Queued);
    assert_eq!(settled.payment.attempts, 1);
    let queued = order(&db, o.id).await;
    assert_eq!(queued.payment_in_flight(), Some(&settled.payment));

    let lease = due + 2 * MINUTE;
    let claims = |now| db.store.claim_payments(now, lease, 10);
    assert!(claims(due - 1).await.unwrap().is_empty(), "backing off");
    let jobs = claims(due).await.unwrap();
    assert_eq!(
        jobs,
        [PaymentJob {
            id: new.id,
            order_id: o.id,
            amount: new.amount,
            currency: new.currency.clone(),
            payment_token: new.payment_token.clone(),
            idempotency_key: new.idempotency_key.clone(),
            attempts: 2,
            created_at: STARTED,
        }]
    );
    let claimed = db.store.payment(new.id).await.unwrap().unwrap();
    assert_eq!(claimed.status, PaymentStatus::Processing);
    assert_eq!(claimed.attempts, 2);
    assert!(claims(due).await.unwrap().is_empty(), "leased");
    assert!(claims(lease - 1).await.unwrap().is_empty(), "still leased");

    settle(&db, new.id, succeeded("pi_1"), due + MINUTE).await;
    assert_eq!(order(&db, o.id).await.status, OrderStatus::Paid);
    let never = db.store.claim_payments(T0 + 10_000 * MINUTE, lease, 10);
    assert!(
        never.await.unwrap().is_empty(),
        "settled payments leave the queue"
    );
}

async fn a_processing_payment_whose_lease_ran_out_is_claimed_again(db: TestDb) {
    let p = stocked(&db, 1, 10).await;
    let o = ordered(&db.store, "a", &[(&p[0], 1)]).await;
    // The request path's lease ends at STARTED + 1 min; its instance dies.
    let new = start(&db, &o, STARTED).await;
    let lease_end = new.lease_until;
    assert!(db
        .store
        .claim_payments(lease_end - 1, lease_end + MINUTE, 10)
        .await
        .unwrap()
        .is_empty());

    let first = db
        .store
        .claim_payments(lease_end, lease_end + 2 * MINUTE, 10)
        .await
        .unwrap();
    let ids: Vec<(Uuid, u32)> = first.iter().map(|j| (j.id, j.attempts)).collect();
    assert_eq!(ids, [(new.id, 2)]);
    // The worker dies too: once its lease ends the payment is due again.
    assert!(db
        .store
        .claim_payments(lease_end + MINUTE, lease_end + 5 * MINUTE, 10)
        .await
        .unwrap()
        .is_empty());
    let second = db
        .store
        .claim_payments(lease_end + 2 * MINUTE, lease_end + 5 * MINUTE, 10)
        .await
        .unwrap();
    let ids: Vec<(Uuid, u32)> = second.iter().map(|j| (j.id, j.attempts)).collect();
    assert_eq!(ids, [(new.id, 3)]);
    let payment = db.store.payment(new.id).await.unwrap().unwrap();
    assert_eq!(
        (payment.status, payment.attempts),
        (PaymentStatus::Processing, 3)
    );
}

async fn a_claim_takes_at_most_limit_payments(db: TestDb) {
    let p = stocked(&db, 1, 10).await;
    let mut queued = HashSet::new();
    for i in 0..5 {
        let o = ordered(&db.store, &format!("t{i}"), &[(&p[0], 1)]).await;
        let new = start(&db, &o, STARTED).await;
        settle(&db, new.id, retry(STARTED + 2 * MINUTE), STARTED + MINUTE).await;
        queued.insert(new.id);
    }
    let now = STARTED + 5 * MINUTE;
    let mut claimed = HashSet::new();
    for expected in [2, 2, 1, 0] {
        let jobs = db.store.claim_payments(now, now + MINUTE, 2).await.unwrap();
        assert_eq!(jobs.len(), expected, "{jobs:?}");
        for job in jobs {
            assert!(claimed.insert(job.id), "claimed twice: {job:?}");
        }
    }
    assert_eq!(claimed, queued);
}

async fn concurrent_claims_hand_out_each_payment_once(db: TestDb) {
    const PAYMENTS: usize = 40;
    const CLAIMERS: usize = 8;
    const LIMIT: u32 = 10;
    let p = stocked(&db, 1, 100).await;
    let mut queued = HashSet::new();
    for i in 0..PAYMENTS {
        let o = ordered(&db.store, &format!("t{i}"), &[(&p[0], 1)]).await;
        let new = start(&db, &o, STARTED).await;
        let at = STARTED + MINUTE + i as i64;
        settle(&db, new.id, retry(STARTED + 2 * MINUTE), at).await;
        queued.insert(new.id);
    }

    let now = STARTED + 5 * MINUTE;
    let tasks: Vec<_> = (0..CLAIMERS)
        .map(|_| {
            let store = db.store.clone();
            tokio::spawn(async move { store.claim_payments(now, now + MINUTE, LIMIT).await })
        })
        .collect();
    let mut claimed = Vec::new();
    for t in tasks {
        let jobs = t.await.unwrap().unwrap();
        assert!(jobs.len() <= LIMIT as usize, "{} > limit", jobs.len());
        assert!(jobs.iter().all(|j| j.attempts == 2), "{jobs:?}");
        claimed.extend(jobs.into_iter().map(|j| j.id));
    }
    let distinct: HashSet<Uuid> = claimed.iter().copied().collect();
    assert_eq!(distinct.len(), claimed.len(), "a payment claimed twice");
    assert_eq!(distinct, queued, "every payment claimed");
    assert!(db
        .store
        .claim_payments(now, now + MINUTE, 100)
        .await
        .unwrap()
        .is_empty());
    for id in queued {
        let payment = db.store.payment(id).await.unwrap().unwrap();
        assert_eq!(
            (payment.status, payment.attempts),
            (PaymentStatus::Processing, 2)
        );
    }
}

async fn queue_stats_count_what_waits(db: TestDb) {
    assert_eq!(db.store.queue_stats().await.unwrap(), QueueStats::default());
    let p = stocked(&db, 1, 10).await;
    let processing = ordered(&db.store, "processing", &[(&p[0], 1)]).await;
    let older = ordered(&db.store, "older", &[(&p[0], 1)]).await;
    let newer = ordered(&db.store, "newer", &[(&p[0], 1)]).await;
    start(&db, &processing, STARTED).await;
    let older = start(&db, &older, STARTED + 1).await;
    let newer = start(&db, &newer, STARTED + 2).await;
    // Queued in the other order: the oldest is by when the payment was made.
    settle(&db, newer.id, retry(T0 + 20 * MINUTE), STARTED + MINUTE).await;
    settle(&db, older.id, retry(T0 + 20 * MINUTE), STARTED + 2 * MINUTE).await;
    let (paid, _) = paid_by_card(&db, "paid", &[(&p[0], 1)]).await;
    let refund = db
        .store
        .start_refund(&new_refund(paid.id, None, T0 + 10 * MINUTE))
        .await
        .unwrap();
    assert!(matches!(refund, RefundStart::Started(_)), "{refund:?}");

    assert_eq!(
        db.store.queue_stats().await.unwrap(),
        QueueStats {
            queued: 2,
            processing: 1,
            oldest_queued_at: Some(STARTED + 1),
            refunds_pending: 1,
        }
    );
}
