//! After checkout: transitions and what they do to stock, expiry,
//! listings; and stock changes by staff.

use emporium_domain::inventory::{StockChange, StockChangeOutcome, StockLevel, MAX_ON_HAND};
use emporium_domain::orders::{
    OrderEvent, OrderFilter, OrderOwner, OrderStatus, TransitionOutcome,
};
use emporium_domain::ports::{CheckoutStore, OrderStore, StockStore};
use uuid::Uuid;

use super::{
    add, cart, created, customer, draft, line, new_order, ordered, products, stock, MINUTE, T0,
};
use crate::support::TestDb;

crate::contract!(
    cancelling_releases_stock_and_paying_consumes_it,
    a_transition_from_the_wrong_state_is_refused_with_the_current_state,
    expired_orders_are_listed_oldest_first,
    list_orders_filters_and_pages_newest_first,
    stock_changes_are_audited_and_never_below_reserved,
    stock_never_rises_above_the_maximum_even_under_concurrent_adjustments,
    stock_unstocked_fills_only_missing_rows,
);

use OrderStatus::{Cancelled, Fulfilled, Paid, PendingPayment};

async fn level(db: &TestDb, product_id: Uuid) -> (u32, u32) {
    let s = db.store.stock(product_id).await.unwrap().unwrap();
    (s.on_hand, s.reserved)
}

async fn cancelling_releases_stock_and_paying_consumes_it(db: TestDb) {
    let p = products(&db.store, 2).await;
    stock(&db.store, p[0].id, 10).await;
    stock(&db.store, p[1].id, 10).await;
    let a = ordered(&db.store, "a", &[(&p[0], 2), (&p[1], 1)]).await;
    let b = ordered(&db.store, "b", &[(&p[0], 3)]).await;
    assert_eq!(level(&db, p[0].id).await, (10, 5));

    let later = T0 + 10 * MINUTE;
    let out = db
        .store
        .transition_order(
            a.id,
            PendingPayment,
            Cancelled,
            "system",
            Some("expired"),
            later,
        )
        .await
        .unwrap();
    let TransitionOutcome::Done(cancelled) = out else {
        panic!("{out:?}")
    };
    assert_eq!(cancelled.status, Cancelled);
    assert_eq!(cancelled.updated_at, later);
    assert_eq!(
        cancelled.events[1],
        OrderEvent {
            from: Some(PendingPayment),
            to: Cancelled,
            actor: "system".into(),
            reason: Some("expired".into()),
            at: later,
        }
    );
    assert_eq!(level(&db, p[0].id).await, (10, 3), "released");
    assert_eq!(level(&db, p[1].id).await, (10, 0));

    let out = db
        .store
        .transition_order(b.id, PendingPayment, Paid, "psp", None, later)
        .await
        .unwrap();
    assert!(
        matches!(&out, TransitionOutcome::Done(o) if o.status == Paid),
        "{out:?}"
    );
    assert_eq!(level(&db, p[0].id).await, (7, 0), "consumed");

    // Later transitions leave stock alone.
    let out = db
        .store
        .transition_order(b.id, Paid, Fulfilled, "admin:1", None, later + 1)
        .await
        .unwrap();
    let TransitionOutcome::Done(fulfilled) = out else {
        panic!("{out:?}")
    };
    let steps: Vec<(Option<OrderStatus>, OrderStatus)> =
        fulfilled.events.iter().map(|e| (e.from, e.to)).collect();
    assert_eq!(
        steps,
        [
            (None, PendingPayment),
            (Some(PendingPayment), Paid),
            (Some(Paid), Fulfilled)
        ]
    );
    assert_eq!(level(&db, p[0].id).await, (7, 0));
    assert_eq!(db.store.order(b.id).await.unwrap(), Some(*fulfilled));
}

async fn a_transition_from_the_wrong_state_is_refused_with_the_current_state(db: TestDb) {
    let p = products(&db.store, 1).await;
    stock(&db.store, p[0].id, 10).await;
    let o = ordered(&db.store, "a", &[(&p[0], 2)]).await;
    let refused = db
        .store
        .transition_order(o.id, Paid, Fulfilled, "admin:1", None, T0)
        .await
        .unwrap();
    assert_eq!(
        refused,
        TransitionOutcome::Refused {
            current: PendingPayment
        }
    );
    db.store
        .transition_order(o.id, PendingPayment, Paid, "psp", None, T0)
        .await
        .unwrap();
    let late = db
        .store
        .transition_order(o.id, PendingPayment, Cancelled, "system", None, T0)
        .await
        .unwrap();
    assert_eq!(late, TransitionOutcome::Refused { current: Paid });
    assert_eq!(
        level(&db, p[0].id).await,
        (8, 0),
        "a refusal changes no stock"
    );
    assert_eq!(db.store.order(o.id).await.unwrap().unwrap().events.len(), 2);
    let missing = db
        .store
        .transition_order(Uuid::now_v7(), PendingPayment, Paid, "psp", None, T0)
        .await
        .unwrap();
    assert_eq!(missing, TransitionOutcome::NotFound);
}

async fn expired_orders_are_listed_oldest_first(db: TestDb) {
    let p = products(&db.store, 1).await;
    stock(&db.store, p[0].id, 100).await;
    // Orders expiring at T0 + 30, 10, 20, 40 minutes; the one at 20 is paid.
    let mut ids = Vec::new();
    for (i, expires) in [30, 10, 20, 40].into_iter().enumerate() {
        let c = cart(&db.store, &super::guest(&format!("t{i}"))).await;
        add(&db.store, c, &p[0], 1).await;
        let owner = super::guest_owner("g@example.com");
        let mut new = new_order(c, owner, vec![line(&p[0], 1)], "k", "h");
        new.expires_at = T0 + expires * MINUTE;
        ids.push(created(db.store.place_order(&new).await.unwrap()).id);
    }
    db.store
        .transition_order(ids[2], PendingPayment, Paid, "psp", None, T0)
        .await
        .unwrap();
    let now = T0 + 35 * MINUTE;
    assert_eq!(
        db.store.expired_orders(now, 10).await.unwrap(),
        [ids[1], ids[0]]
    );
    assert_eq!(db.store.expired_orders(now, 1).await.unwrap(), [ids[1]]);
    assert!(db.store.expired_orders(T0, 10).await.unwrap().is_empty());
}

async fn list_orders_filters_and_pages_newest_first(db: TestDb) {
    let p = products(&db.store, 2).await;
    stock(&db.store, p[0].id, 100).await;
    stock(&db.store, p[1].id, 100).await;
    let user = customer(&db.store, "ada@example.com").await;
    let mut mine = Vec::new();
    for i in 0..3u32 {
        let c = cart(&db.store, &emporium_domain::cart::CartOwner::User(user)).await;
        add(&db.store, c, &p[0], 1 + i).await;
        add(&db.store, c, &p[1], 2).await;
        let lines = vec![line(&p[0], 1 + i), line(&p[1], 2)];
        let new = new_order(c, OrderOwner::User(user), lines, &format!("k{i}"), "h");
        mine.push(created(db.store.place_order(&new).await.unwrap()));
    }
    let guest = ordered(&db.store, "g", &[(&p[0], 5)]).await;
    db.store
        .transition_order(mine[1].id, PendingPayment, Cancelled, "system", None, T0)
        .await
        .unwrap();

    let all = db
        .store
        .list_orders(&OrderFilter {
            limit: 10,
            ..OrderFilter::default()
        })
        .await
        .unwrap();
    let ids: Vec<Uuid> = all.iter().map(|o| o.id).collect();
    assert_eq!(ids, [guest.id, mine[2].id, mine[1].id, mine[0].id]);
    assert_eq!(all[0].guest_email.as_deref(), Some("g@example.com"));
    assert_eq!((all[0].user_id, all[0].item_count), (None, 5));
    let newest_of_mine = &all[1];
    assert_eq!(newest_of_mine.user_id, Some(user));
    assert_eq!(newest_of_mine.item_count, 5, "3 + 2");
    assert_eq!(newest_of_mine.totals, mine[2].totals);
    assert_eq!(newest_of_mine.currency, "USD");
    assert_eq!(newest_of_mine.created_at, mine[2].created_at);
    assert_eq!(all[2].status, Cancelled);

    let by_user = |before: Option<Uuid>, limit| OrderFilter {
        user_id: Some(user),
        before,
        limit,
        ..OrderFilter::default()
    };
    let page1 = db.store.list_orders(&by_user(None, 2)).await.unwrap();
    let page1: Vec<Uuid> = page1.iter().map(|o| o.id).collect();
    assert_eq!(page1, [mine[2].id, mine[1].id]);
    let page2 = db
        .store
        .list_orders(&by_user(Some(page1[1]), 2))
        .await
        .unwrap();
    let page2: Vec<Uuid> = page2.iter().map(|o| o.id).collect();
    assert_eq!(page2, [mine[0].id]);

    let pending = db
        .store
        .list_orders(&OrderFilter {
            status: Some(PendingPayment),
            user_id: Some(user),
            limit: 10,
            ..OrderFilter::default()
        })
        .await
        .unwrap();
    let pending: Vec<Uuid> = pending.iter().map(|o| o.id).collect();
    assert_eq!(pending, [mine[2].id, mine[0].id]);
    let none = OrderFilter {
        status: Some(Paid),
        limit: 10,
        ..OrderFilter::default()
    };
    assert!(db.store.list_orders(&none).await.unwrap().is_empty());
}

async fn stock_changes_are_audited_and_never_below_reserved(db: TestDb) {
    let p = products(&db.store, 2).await;
    let id = p[0].id;
    assert_eq!(db.store.stock(id).await.unwrap(), None);
    let refused = db
        .store
        .change_stock(id, StockChange::Adjust(-1), "oops", "admin:1", T0)
        .await
        .unwrap();
    assert_eq!(
        refused,
        StockChangeOutcome::BelowReserved {
            on_hand: 0,
            reserved: 0,
            requested_on_hand: -1
        }
    );
    assert_eq!(
        db.store.stock(id).await.unwrap(),
        None,
        "refusal writes nothing"
    );

    let set = db
        .store
        .change_stock(id, StockChange::Set(10), "delivery", "admin:1", T0 + 1)
        .await
        .unwrap();
    let ten = StockLevel {
        product_id: id,
        on_hand: 10,
        reserved: 0,
    };
    assert_eq!(set, StockChangeOutcome::Changed(ten));
    ordered(&db.store, "a", &[(&p[0], 4)]).await;
    let below = db
        .store
        .change_stock(id, StockChange::Set(3), "recount", "admin:1", T0 + 2)
        .await
        .unwrap();
    assert_eq!(
        below,
        StockChangeOutcome::BelowReserved {
            on_hand: 10,
            reserved: 4,
            requested_on_hand: 3
        }
    );
    let adjusted = db
        .store
        .change_stock(id, StockChange::Adjust(-6), "damaged", "admin:2", T0 + 3)
        .await
        .unwrap();
    let four = StockLevel {
        product_id: id,
        on_hand: 4,
        reserved: 4,
    };
    assert_eq!(adjusted, StockChangeOutcome::Changed(four));
    assert_eq!(db.store.stock(id).await.unwrap(), Some(four));

    let moves = db.store.stock_movements(id, 10).await.unwrap();
    let summary: Vec<(u32, u32, &str, &str, i64)> = moves
        .iter()
        .map(|m| {
            assert_eq!(m.product_id, id);
            (
                m.on_hand_before,
                m.on_hand_after,
                m.reason.as_str(),
                m.actor.as_str(),
                m.created_at,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (10, 4, "damaged", "admin:2", T0 + 3),
            (0, 10, "delivery", "admin:1", T0 + 1)
        ],
        "newest first, refusals not recorded"
    );
    assert_eq!(db.store.stock_movements(id, 1).await.unwrap().len(), 1);
    assert!(db
        .store
        .stock_movements(p[1].id, 10)
        .await
        .unwrap()
        .is_empty());

    let unknown = db
        .store
        .change_stock(Uuid::now_v7(), StockChange::Set(1), "x", "admin:1", T0)
        .await
        .unwrap();
    assert_eq!(unknown, StockChangeOutcome::UnknownProduct);
}

async fn stock_never_rises_above_the_maximum_even_under_concurrent_adjustments(db: TestDb) {
    let p = products(&db.store, 2).await;
    let id = p[0].id;
    let change = |c: StockChange, at: i64| {
        let store = db.store.clone();
        async move {
            store
                .change_stock(id, c, "delivery", "admin:1", at)
                .await
                .unwrap()
        }
    };
    // What the fuzzer did: +10,000,000 again and again from 0.
    let first = change(StockChange::Adjust(MAX_ON_HAND.into()), T0).await;
    assert!(matches!(first, StockChangeOutcome::Changed(l) if l.on_hand == MAX_ON_HAND));
    for i in 1..4 {
        assert_eq!(
            change(StockChange::Adjust(MAX_ON_HAND.into()), T0 + i).await,
            StockChangeOutcome::AboveMaximum {
                on_hand: MAX_ON_HAND.into(),
                requested_on_hand: 2 * i64::from(MAX_ON_HAND),
            }
        );
    }
    assert_eq!(
        change(StockChange::Adjust(1), T0 + 5).await,
        StockChangeOutcome::AboveMaximum {
            on_hand: MAX_ON_HAND.into(),
            requested_on_hand: i64::from(MAX_ON_HAND) + 1,
        },
        "one past the cap"
    );
    assert_eq!(
        change(StockChange::Set(MAX_ON_HAND + 1), T0 + 6).await,
        StockChangeOutcome::AboveMaximum {
            on_hand: MAX_ON_HAND.into(),
            requested_on_hand: i64::from(MAX_ON_HAND) + 1,
        },
        "the store checks a set count too"
    );
    assert_eq!(level(&db, id).await, (MAX_ON_HAND, 0));
    assert_eq!(
        db.store.stock_movements(id, 10).await.unwrap().len(),
        1,
        "refusals are not recorded"
    );

    // Racing adjustments: exactly as many as fit are applied.
    let other = p[1].id;
    let step = i64::from(MAX_ON_HAND) / 8;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = db.store.clone();
            tokio::spawn(async move {
                store
                    .change_stock(
                        other,
                        StockChange::Adjust(step),
                        "delivery",
                        "admin:1",
                        T0 + i,
                    )
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut applied = 0;
    for t in tasks {
        match t.await.unwrap() {
            StockChangeOutcome::Changed(_) => applied += 1,
            StockChangeOutcome::AboveMaximum { .. } => {}
            o => panic!("{o:?}"),
        }
    }
    assert_eq!(applied, 8);
    assert_eq!(level(&db, other).await, (MAX_ON_HAND, 0));
    assert_eq!(db.store.stock_movements(other, 50).await.unwrap().len(), 8);
}

async fn stock_unstocked_fills_only_missing_rows(db: TestDb) {
    let p = products(&db.store, 3).await;
    stock(&db.store, p[0].id, 7).await;
    assert_eq!(db.store.stock_unstocked(50, T0).await.unwrap(), 2);
    assert_eq!(level(&db, p[0].id).await, (7, 0), "left alone");
    assert_eq!(level(&db, p[1].id).await, (50, 0));
    assert_eq!(level(&db, p[2].id).await, (50, 0));
    assert_eq!(db.store.stock_unstocked(50, T0).await.unwrap(), 0);
    use emporium_domain::ports::CatalogStore;
    db.store
        .import(&[draft("P-99", 500)], &|_| {})
        .await
        .unwrap();
    assert_eq!(db.store.stock_unstocked(5, T0).await.unwrap(), 1);
}
