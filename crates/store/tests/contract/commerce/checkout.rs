//! Checkout: what a placed order holds, idempotency (also under 50
//! concurrent retries), no overselling under concurrent checkouts, and
//! the refusals that write nothing (or only new prices).

use emporium_domain::catalog::ProductDraft;
use emporium_domain::orders::{OrderEvent, OrderOwner, OrderStatus, PlaceOutcome, PriceChange};
use emporium_domain::ports::{CartStore, CatalogStore, CheckoutStore, OrderStore, StockStore};
use uuid::Uuid;

use super::{
    add, cart, created, customer, draft, guest, guest_owner, line, new_order, products, stock, T0,
};
use crate::support::TestDb;

crate::contract!(
    placing_an_order_reserves_stock_and_empties_the_cart,
    same_idempotency_key_replays_and_a_different_body_is_refused,
    fifty_concurrent_checkouts_with_one_key_create_one_order,
    concurrent_checkouts_never_oversell,
    price_changes_update_the_cart_and_write_nothing_else,
    archived_products_cannot_be_ordered,
    cart_changed_is_detected,
);

fn noop(_: u64) {}

async fn reserved(db: &TestDb, product_id: Uuid) -> (u32, u32) {
    let s = db.store.stock(product_id).await.unwrap().unwrap();
    (s.on_hand, s.reserved)
}

async fn placing_an_order_reserves_stock_and_empties_the_cart(db: TestDb) {
    let p = products(&db.store, 3).await;
    for product in &p {
        stock(&db.store, product.id, 10).await;
    }
    let user = customer(&db.store, "ada@example.com").await;
    let c = cart(&db.store, &emporium_domain::cart::CartOwner::User(user)).await;
    add(&db.store, c, &p[1], 3).await;
    add(&db.store, c, &p[0], 2).await;
    let mut new = new_order(
        c,
        OrderOwner::User(user),
        vec![line(&p[1], 3), line(&p[0], 2)],
        "k",
        "h",
    );
    new.actor = format!("user:{user}");
    let order = created(db.store.place_order(&new).await.unwrap());

    assert_eq!(order.id, new.id);
    assert_eq!(order.owner, OrderOwner::User(user));
    assert_eq!(order.status, OrderStatus::PendingPayment);
    assert_eq!(order.currency, "USD");
    assert_eq!(order.totals, new.totals);
    assert_eq!(order.shipping_method, "standard");
    assert_eq!(order.address, new.address);
    assert_eq!(
        (order.created_at, order.updated_at, order.expires_at),
        (new.created_at, new.created_at, new.expires_at)
    );
    assert_eq!(order.lines, [line(&p[0], 2), line(&p[1], 3)], "by SKU");
    assert_eq!(
        order.events,
        [OrderEvent {
            from: None,
            to: OrderStatus::PendingPayment,
            actor: format!("user:{user}"),
            reason: None,
            at: new.created_at,
        }]
    );
    assert_eq!(
        db.store.order(order.id).await.unwrap().as_ref(),
        Some(&order),
        "what was created is what is stored"
    );
    assert_eq!(reserved(&db, p[0].id).await, (10, 2));
    assert_eq!(reserved(&db, p[1].id).await, (10, 3));
    assert_eq!(reserved(&db, p[2].id).await, (10, 0));
    assert!(db.store.cart_lines(c).await.unwrap().is_empty());
    assert_eq!(
        db.store
            .order_for_key(&new.idempotency.scope, "k")
            .await
            .unwrap(),
        Some(("h".to_string(), order.id))
    );

    // A guest order keeps the guest's email and order token.
    let g = cart(&db.store, &guest("t")).await;
    add(&db.store, g, &p[2], 11).await;
    let short = new_order(
        g,
        guest_owner("g@example.com"),
        vec![line(&p[2], 11)],
        "k",
        "h",
    );
    assert_eq!(
        db.store.place_order(&short).await.unwrap(),
        PlaceOutcome::OutOfStock {
            product_id: p[2].id,
            requested: 11,
            available: 10
        }
    );
    db.store.set_cart_line(g, p[2].id, 4, T0).await.unwrap();
    let ok = new_order(
        g,
        guest_owner("g@example.com"),
        vec![line(&p[2], 4)],
        "k",
        "h",
    );
    let order = created(db.store.place_order(&ok).await.unwrap());
    assert_eq!(order.owner, guest_owner("g@example.com"));
    assert_eq!(db.store.order(order.id).await.unwrap(), Some(order));
    assert_eq!(reserved(&db, p[2].id).await, (10, 4));
}

async fn same_idempotency_key_replays_and_a_different_body_is_refused(db: TestDb) {
    let p = products(&db.store, 1).await;
    stock(&db.store, p[0].id, 10).await;
    let c = cart(&db.store, &guest("t")).await;
    add(&db.store, c, &p[0], 2).await;
    let owner = guest_owner("g@example.com");
    let first = new_order(c, owner.clone(), vec![line(&p[0], 2)], "key", "body-1");
    let order = created(db.store.place_order(&first).await.unwrap());

    let retry = new_order(c, owner.clone(), vec![line(&p[0], 2)], "key", "body-1");
    assert_ne!(retry.id, first.id);
    assert_eq!(
        db.store.place_order(&retry).await.unwrap(),
        PlaceOutcome::Replayed(Box::new(order.clone()))
    );
    let other = new_order(c, owner.clone(), vec![line(&p[0], 1)], "key", "body-2");
    assert_eq!(
        db.store.place_order(&other).await.unwrap(),
        PlaceOutcome::KeyReused
    );
    assert_eq!(db.store.order(retry.id).await.unwrap(), None);
    assert_eq!(db.store.order(other.id).await.unwrap(), None);
    assert_eq!(reserved(&db, p[0].id).await, (10, 2), "reserved once");

    // The same key in another scope is another checkout (here of an
    // emptied cart).
    let mut elsewhere = new_order(c, owner, vec![line(&p[0], 2)], "key", "body-1");
    elsewhere.idempotency.scope = "user:someone-else".into();
    assert_eq!(
        db.store.place_order(&elsewhere).await.unwrap(),
        PlaceOutcome::CartChanged
    );
}

async fn fifty_concurrent_checkouts_with_one_key_create_one_order(db: TestDb) {
    let p = products(&db.store, 2).await;
    stock(&db.store, p[0].id, 100).await;
    stock(&db.store, p[1].id, 100).await;
    let c = cart(&db.store, &guest("t")).await;
    add(&db.store, c, &p[0], 2).await;
    add(&db.store, c, &p[1], 1).await;
    let lines = vec![line(&p[0], 2), line(&p[1], 1)];
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let store = db.store.clone();
            let new = new_order(c, guest_owner("g@example.com"), lines.clone(), "key", "h");
            tokio::spawn(async move { (new.id, store.place_order(&new).await.unwrap()) })
        })
        .collect();
    let (mut created_ids, mut replayed_ids) = (Vec::new(), Vec::new());
    for t in tasks {
        match t.await.unwrap() {
            (id, PlaceOutcome::Created(order)) => {
                assert_eq!(order.id, id);
                created_ids.push(id);
            }
            (_, PlaceOutcome::Replayed(order)) => replayed_ids.push(order.id),
            (_, other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(created_ids.len(), 1, "exactly one order created");
    assert_eq!(replayed_ids.len(), 49);
    assert!(replayed_ids.iter().all(|id| *id == created_ids[0]));
    assert_eq!(reserved(&db, p[0].id).await, (100, 2), "reserved once");
    assert_eq!(reserved(&db, p[1].id).await, (100, 1));
}

async fn concurrent_checkouts_never_oversell(db: TestDb) {
    const ON_HAND: u32 = 40;
    const CARTS: usize = 120;
    let p = products(&db.store, 1).await;
    stock(&db.store, p[0].id, ON_HAND).await;
    let mut orders = Vec::new();
    for i in 0..CARTS {
        let c = cart(&db.store, &guest(&format!("t{i}"))).await;
        add(&db.store, c, &p[0], 1).await;
        let email = format!("g{i}@example.com");
        orders.push(new_order(
            c,
            guest_owner(&email),
            vec![line(&p[0], 1)],
            "k",
            "h",
        ));
    }
    let tasks: Vec<_> = orders
        .into_iter()
        .map(|new| {
            let store = db.store.clone();
            tokio::spawn(async move { store.place_order(&new).await.unwrap() })
        })
        .collect();
    let (mut placed, mut short) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            PlaceOutcome::Created(_) => placed += 1,
            PlaceOutcome::OutOfStock {
                product_id,
                requested,
                available,
            } => {
                assert_eq!((product_id, requested, available), (p[0].id, 1, 0));
                short += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(placed, ON_HAND as usize, "as many orders as units");
    assert_eq!(short, CARTS - ON_HAND as usize);
    assert_eq!(reserved(&db, p[0].id).await, (ON_HAND, ON_HAND));
    let sellable = db.store.sellable(p[0].id).await.unwrap().unwrap();
    assert_eq!(sellable.stock.available(), 0);
}

async fn price_changes_update_the_cart_and_write_nothing_else(db: TestDb) {
    let p = products(&db.store, 2).await;
    stock(&db.store, p[0].id, 10).await;
    stock(&db.store, p[1].id, 10).await;
    let c = cart(&db.store, &guest("t")).await;
    add(&db.store, c, &p[0], 1).await;
    add(&db.store, c, &p[1], 1).await;
    let raised: ProductDraft = draft(&p[1].sku, p[1].price + 250);
    db.store.import(&[raised], &noop).await.unwrap();

    let owner = guest_owner("g@example.com");
    let stale = new_order(
        c,
        owner.clone(),
        vec![line(&p[0], 1), line(&p[1], 1)],
        "k",
        "h",
    );
    assert_eq!(
        db.store.place_order(&stale).await.unwrap(),
        PlaceOutcome::PriceChanged(vec![PriceChange {
            product_id: p[1].id,
            old_price: p[1].price,
            new_price: p[1].price + 250,
        }])
    );
    let lines = db.store.cart_lines(c).await.unwrap();
    let prices: Vec<(Uuid, i64, i64)> = lines
        .iter()
        .map(|l| (l.product_id, l.unit_price, l.current_price))
        .collect();
    assert_eq!(
        prices,
        [
            (p[0].id, p[0].price, p[0].price),
            (p[1].id, p[1].price + 250, p[1].price + 250)
        ]
    );
    assert_eq!(db.store.order(stale.id).await.unwrap(), None);
    assert_eq!(reserved(&db, p[1].id).await, (10, 0));
    assert_eq!(
        db.store
            .order_for_key(&stale.idempotency.scope, "k")
            .await
            .unwrap(),
        None,
        "the key is not claimed"
    );

    // Retried with the new price and the same key, it goes through.
    let mut repriced = line(&p[1], 1);
    repriced.unit_price += 250;
    let fresh = new_order(c, owner, vec![line(&p[0], 1), repriced], "k", "h2");
    let order = created(db.store.place_order(&fresh).await.unwrap());
    assert_eq!(order.lines[1].unit_price, p[1].price + 250);
}

async fn archived_products_cannot_be_ordered(db: TestDb) {
    let p = products(&db.store, 2).await;
    stock(&db.store, p[0].id, 10).await;
    stock(&db.store, p[1].id, 10).await;
    let c = cart(&db.store, &guest("t")).await;
    add(&db.store, c, &p[0], 1).await;
    add(&db.store, c, &p[1], 1).await;
    assert!(db.store.set_archived(p[1].id, true, T0).await.unwrap());

    let new = new_order(
        c,
        guest_owner("g@example.com"),
        vec![line(&p[0], 1), line(&p[1], 1)],
        "k",
        "h",
    );
    assert_eq!(
        db.store.place_order(&new).await.unwrap(),
        PlaceOutcome::Unavailable {
            product_id: p[1].id
        }
    );
    assert_eq!(db.store.order(new.id).await.unwrap(), None);
    assert_eq!(reserved(&db, p[0].id).await, (10, 0), "nothing reserved");
    let lines = db.store.cart_lines(c).await.unwrap();
    assert_eq!(lines.len(), 2, "the cart is left as it was");
    assert!(!lines[0].archived && lines[1].archived);
    assert!(db.store.sellable(p[1].id).await.unwrap().unwrap().archived);
}

async fn cart_changed_is_detected(db: TestDb) {
    let p = products(&db.store, 2).await;
    stock(&db.store, p[0].id, 10).await;
    stock(&db.store, p[1].id, 10).await;
    let c = cart(&db.store, &guest("t")).await;
    add(&db.store, c, &p[0], 2).await;
    add(&db.store, c, &p[1], 1).await;
    let owner = guest_owner("g@example.com");
    let mut cheaper = line(&p[0], 2);
    cheaper.unit_price -= 1;
    for lines in [
        vec![line(&p[0], 3), line(&p[1], 1)],
        vec![line(&p[0], 2)],
        vec![cheaper, line(&p[1], 1)],
        vec![line(&p[0], 2), line(&p[1], 1), line(&p[1], 1)],
        vec![],
    ] {
        let new = new_order(c, owner.clone(), lines.clone(), "k", "h");
        assert_eq!(
            db.store.place_order(&new).await.unwrap(),
            PlaceOutcome::CartChanged,
            "{lines:?}"
        );
    }
    assert_eq!(reserved(&db, p[0].id).await, (10, 0));
    assert_eq!(db.store.cart_lines(c).await.unwrap().len(), 2);
    let matching = new_order(c, owner, vec![line(&p[1], 1), line(&p[0], 2)], "k", "h");
    created(db.store.place_order(&matching).await.unwrap());
}
