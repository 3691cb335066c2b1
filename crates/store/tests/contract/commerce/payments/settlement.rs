//! Settling a payment, once, in one transaction with its order: a success
//! pays the order and consumes its stock, a decline or failure leaves it
//! payable a while longer, a settled payment ignores later news but a
//! late success (the provider's word wins), which pays the order if it
//! still can and is orphaned otherwise.

use emporium_domain::orders::{OrderStatus, TransitionOutcome};
use emporium_domain::payments::{PaymentStatus, Settled};
use emporium_domain::ports::{OrderStore, PaymentStore, RefundStore};
use uuid::Uuid;

use super::{
    declined, failed, level, order, retry, settle, start, steps, stocked, succeeded, GRACE, STARTED,
};
use crate::commerce::{ordered, MINUTE, T0};
use crate::support::TestDb;

crate::contract!(
    a_success_pays_the_order_and_consumes_stock_once,
    concurrent_successes_settle_a_payment_once,
    a_decline_leaves_the_order_payable_a_while_longer,
    settled_payments_ignore_later_declines_failures_and_retries,
    a_late_success_pays_a_declined_payment_s_order_if_it_still_can,
    a_late_success_for_an_order_that_can_no_longer_be_paid_is_orphaned,
);

use OrderStatus::{Cancelled, Paid, PendingPayment};

async fn a_success_pays_the_order_and_consumes_stock_once(db: TestDb) {
    let p = stocked(&db, 2, 10).await;
    let o = ordered(&db.store, "a", &[(&p[0], 2), (&p[1], 3)]).await;
    let new = start(&db, &o, STARTED).await;
    let now = STARTED + MINUTE;

    let settled = settle(&db, new.id, succeeded("pi_1"), now).await;
    assert!(settled.changed);
    assert!(!settled.orphaned);
    let payment = settled.payment;
    assert_eq!(payment.status, PaymentStatus::Succeeded);
    assert_eq!(payment.provider_reference.as_deref(), Some("pi_1"));
    assert_eq!((payment.amount, payment.updated_at), (o.totals.total, now));

    let paid = order(&db, o.id).await;
    assert_eq!(paid.status, Paid);
    assert_eq!(paid.payments, std::slice::from_ref(&payment));
    assert_eq!(paid.payment_in_flight(), None);
    assert_eq!(paid.paid_amount(), o.totals.total);
    assert_eq!(
        steps(&paid),
        [(None, PendingPayment), (Some(PendingPayment), Paid)]
    );
    assert_eq!(paid.events[1].at, now);
    assert_eq!(level(&db, p[0].id).await, (8, 0), "consumed");
    assert_eq!(level(&db, p[1].id).await, (7, 0));

    // The worker and a webhook may report the same success again.
    let again = settle(&db, new.id, succeeded("pi_1"), now + MINUTE).await;
    assert_eq!(
        again,
        Settled {
            payment,
            changed: false,
            orphaned: false
        }
    );
    assert_eq!(order(&db, o.id).await, paid, "nothing doubled");
    assert_eq!(level(&db, p[0].id).await, (8, 0));
    assert_eq!(level(&db, p[1].id).await, (7, 0));

    let unknown = db
        .store
        .settle_payment(Uuid::now_v7(), &succeeded("pi_2"), GRACE, now)
        .await
        .unwrap();
    assert_eq!(unknown, None);
}

async fn concurrent_successes_settle_a_payment_once(db: TestDb) {
    let p = stocked(&db, 2, 10).await;
    let o = ordered(&db.store, "a", &[(&p[0], 2), (&p[1], 1)]).await;
    let new = start(&db, &o, STARTED).await;
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let store = db.store.clone();
            let id = new.id;
            tokio::spawn(async move {
                let success = succeeded("pi_1");
                store
                    .settle_payment(id, &success, GRACE, STARTED + MINUTE + i)
                    .await
                    .unwrap()
                    .unwrap()
            })
        })
        .collect();
    let mut changed = 0;
    for t in tasks {
        let settled = t.await.unwrap();
        assert!(!settled.orphaned, "{settled:?}");
        assert_eq!(settled.payment.status, PaymentStatus::Succeeded);
        changed += usize::from(settled.changed);
    }
    assert_eq!(changed, 1, "exactly one settlement changes the payment");
    let paid = order(&db, o.id).await;
    assert_eq!(paid.status, OrderStatus::Paid);
    let paid_events = paid
        .events
        .iter()
        .filter(|e| e.to == OrderStatus::Paid)
        .count();
    assert_eq!(paid_events, 1, "paid once");
    assert_eq!(level(&db, p[0].id).await, (8, 0), "consumed once");
    assert_eq!(level(&db, p[1].id).await, (9, 0));
}

async fn a_decline_leaves_the_order_payable_a_while_longer(db: TestDb) {
    let p = stocked(&db, 1, 10).await;
    let o = ordered(&db.store, "a", &[(&p[0], 2)]).await;
    assert_eq!(o.expires_at, T0 + 32 * MINUTE);

    // Declined well before expiry: the expiry stays (never lowered).
    let first = start(&db, &o, STARTED).await;
    let now = STARTED + MINUTE;
    let settled = settle(&db, first.id, declined(), now).await;
    assert!(settled.changed && !settled.orphaned, "{settled:?}");
    let payment = settled.payment;
    assert_eq!(payment.status, PaymentStatus::Declined);
    assert_eq!(payment.decline_code.as_deref(), Some("card_declined"));
    assert_eq!(payment.message.as_deref(), Some("Your card was declined."));
    assert_eq!(payment.provider_reference.as_deref(), Some("pi_declined"));
    assert_eq!(payment.updated_at, now);
    let after = order(&db, o.id).await;
    assert_eq!(after.status, PendingPayment);
    assert_eq!(after.payment_in_flight(), None);
    assert_eq!(after.payments, [payment]);
    assert_eq!(
        after.expires_at,
        T0 + 32 * MINUTE,
        "now + grace was earlier"
    );
    assert_eq!(level(&db, p[0].id).await, (10, 2), "still reserved");

    // Failing just before expiry: the customer gets the grace period.
    let second = start(&db, &o, T0 + 29 * MINUTE).await;
    let now = T0 + 30 * MINUTE;
    let settled = settle(&db, second.id, failed(), now).await;
    assert!(settled.changed);
    assert_eq!(settled.payment.status, PaymentStatus::Failed);
    assert_eq!(
        settled.payment.message.as_deref(),
        Some("token already used")
    );
    let after = order(&db, o.id).await;
    assert_eq!(after.status, PendingPayment);
    assert_eq!(after.payment_in_flight(), None);
    assert_eq!(after.expires_at, now + GRACE);

    // And may try again.
    start(&db, &o, now + 1).await;
    assert_eq!(order(&db, o.id).await.payments.len(), 3);
}

async fn settled_payments_ignore_later_declines_failures_and_retries(db: TestDb) {
    let p = stocked(&db, 1, 10).await;
    let declined_order = ordered(&db.store, "d", &[(&p[0], 1)]).await;
    let paid_order = ordered(&db.store, "p", &[(&p[0], 1)]).await;
    let d = start(&db, &declined_order, STARTED).await;
    let s = start(&db, &paid_order, STARTED).await;
    let d = settle(&db, d.id, declined(), STARTED + MINUTE)
        .await
        .payment;
    let s = settle(&db, s.id, succeeded("pi_s"), STARTED + MINUTE)
        .await
        .payment;
    let before = (
        order(&db, declined_order.id).await,
        order(&db, paid_order.id).await,
    );

    let later = T0 + 40 * MINUTE;
    for payment in [&d, &s] {
        for ending in [declined(), failed(), retry(later + MINUTE)] {
            let settled = settle(&db, payment.id, ending.clone(), later).await;
            assert_eq!(
                settled,
                Settled {
                    payment: payment.clone(),
                    changed: false,
                    orphaned: false
                },
                "{ending:?} after {}",
                payment.status
            );
        }
    }
    let after = (
        order(&db, declined_order.id).await,
        order(&db, paid_order.id).await,
    );
    assert_eq!(after, before, "orders untouched (expiry included)");
    assert_eq!(level(&db, p[0].id).await, (9, 1));
}

async fn a_late_success_pays_a_declined_payment_s_order_if_it_still_can(db: TestDb) {
    let p = stocked(&db, 1, 10).await;
    let o = ordered(&db.store, "a", &[(&p[0], 2)]).await;
    let new = start(&db, &o, STARTED).await;
    settle(&db, new.id, declined(), STARTED + MINUTE).await;

    // The provider's webhook says it went through after all.
    let now = STARTED + 2 * MINUTE;
    let settled = settle(&db, new.id, succeeded("pi_late"), now).await;
    assert!(settled.changed);
    assert!(!settled.orphaned);
    assert_eq!(settled.payment.status, PaymentStatus::Succeeded);
    assert_eq!(
        settled.payment.provider_reference.as_deref(),
        Some("pi_late")
    );
    let paid = order(&db, o.id).await;
    assert_eq!(paid.status, Paid);
    assert_eq!(
        steps(&paid),
        [(None, PendingPayment), (Some(PendingPayment), Paid)]
    );
    assert_eq!(paid.paid_amount(), o.totals.total);
    assert_eq!(level(&db, p[0].id).await, (8, 0), "consumed");
}

async fn a_late_success_for_an_order_that_can_no_longer_be_paid_is_orphaned(db: TestDb) {
    let p = stocked(&db, 1, 10).await;

    // Declined, then cancelled; then the provider reports a success.
    let o = ordered(&db.store, "cancelled", &[(&p[0], 2)]).await;
    let new = start(&db, &o, STARTED).await;
    settle(&db, new.id, declined(), STARTED + MINUTE).await;
    let out = db
        .store
        .transition_order(
            o.id,
            PendingPayment,
            Cancelled,
            "system",
            None,
            T0 + 40 * MINUTE,
        )
        .await
        .unwrap();
    assert!(matches!(out, TransitionOutcome::Done(_)), "{out:?}");
    let settled = settle(&db, new.id, succeeded("pi_late"), T0 + 41 * MINUTE).await;
    assert!(settled.changed);
    assert!(settled.orphaned, "money taken for a cancelled order");
    assert!(settled.payment.orphaned);
    assert_eq!(settled.payment.status, PaymentStatus::Succeeded);
    let after = order(&db, o.id).await;
    assert_eq!(after.status, Cancelled);
    assert_eq!(
        steps(&after),
        [(None, PendingPayment), (Some(PendingPayment), Cancelled)]
    );
    assert_eq!(level(&db, p[0].id).await, (10, 0), "released, not consumed");

    // Declined, paid by a second payment; then the first succeeds late.
    let o = ordered(&db.store, "twice", &[(&p[0], 3)]).await;
    let first = start(&db, &o, STARTED).await;
    settle(&db, first.id, declined(), STARTED + MINUTE).await;
    let second = start(&db, &o, STARTED + 2 * MINUTE).await;
    let settled = settle(&db, second.id, succeeded("pi_2"), STARTED + 3 * MINUTE).await;
    assert!(settled.changed && !settled.orphaned, "{settled:?}");
    let late = settle(&db, first.id, succeeded("pi_1"), STARTED + 4 * MINUTE).await;
    assert!(late.changed);
    assert!(late.orphaned, "paid by another payment");
    assert!(late.payment.orphaned, "recorded as orphaned");
    let after = order(&db, o.id).await;
    assert_eq!(after.status, Paid);
    let flags: Vec<bool> = after.payments.iter().map(|p| p.orphaned).collect();
    assert_eq!(flags, [true, false], "only the late success is orphaned");
    // Refunds go against the payment that paid the order, not the orphan.
    let refund = super::refunds::new_refund(o.id, None, STARTED + 5 * MINUTE);
    match db.store.start_refund(&refund).await.unwrap() {
        emporium_domain::payments::RefundStart::Started(job) => {
            assert_eq!(job.payment_reference, "pi_2")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        steps(&after),
        [(None, PendingPayment), (Some(PendingPayment), Paid)]
    );
    assert_eq!(level(&db, p[0].id).await, (7, 0), "consumed once");
}
