//! Carts: one per user, quantities added and capped, the line limit,
//! concurrent adds, setting and clearing lines, merging a guest's cart,
//! purging idle guest carts.

use std::collections::HashSet;

use emporium_domain::cart::{AddOutcome, CartLimits, CartOwner};
use emporium_domain::ports::{CartStore, OrderStore};
use emporium_domain::StoreError;
use uuid::Uuid;

use super::{add, cart, customer, guest, ordered, products, stock, MINUTE, T0};
use crate::support::TestDb;

crate::contract!(
    carts_for_users_are_unique_even_when_created_concurrently,
    adding_to_a_cart_adds_quantities_and_caps_them,
    a_new_line_beyond_the_line_limit_is_refused,
    concurrent_adds_from_two_devices_lose_nothing,
    set_and_clear_cart_lines,
    merging_carts_adds_quantities_and_deletes_the_guest_cart,
    purge_removes_idle_guest_carts_and_old_keys_only,
);

async fn purge_removes_idle_guest_carts_and_old_keys_only(db: TestDb) {
    let ps = products(&db.store, 1).await;
    stock(&db.store, ps[0].id, 10).await;
    // Carts are touched at T0 + 1 minute (their first line); the order's
    // key is claimed at T0 + 2 minutes.
    let order = ordered(&db.store, "old-guest", &[(&ps[0], 1)]).await;
    let idle = cart(&db.store, &guest("idle")).await;
    add(&db.store, idle, &ps[0], 1).await;
    let user = customer(&db.store, "keeps@example.com").await;
    let theirs = cart(&db.store, &CartOwner::User(user)).await;
    add(&db.store, theirs, &ps[0], 1).await;

    // Nothing is old enough yet.
    assert_eq!(db.store.purge_stale(T0, T0).await.unwrap(), (0, 0));
    let (carts, keys) = db
        .store
        .purge_stale(T0 + 90_000, T0 + 3 * MINUTE)
        .await
        .unwrap();
    assert_eq!((carts, keys), (2, 1), "both guest carts, and the one key");
    assert_eq!(db.store.find_cart(&guest("idle")).await.unwrap(), None);
    assert_eq!(
        db.store.find_cart(&CartOwner::User(user)).await.unwrap(),
        Some(theirs)
    );
    assert_eq!(
        db.store.cart_lines(theirs).await.unwrap().len(),
        1,
        "users' carts stay"
    );
    assert!(
        db.store.order(order.id).await.unwrap().is_some(),
        "orders stay"
    );
}

async fn carts_for_users_are_unique_even_when_created_concurrently(db: TestDb) {
    let user = customer(&db.store, "ada@example.com").await;
    let owner = CartOwner::User(user);
    assert_eq!(db.store.find_cart(&owner).await.unwrap(), None);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (store, owner) = (db.store.clone(), owner.clone());
            tokio::spawn(async move { store.create_cart(Uuid::now_v7(), &owner, T0).await })
        })
        .collect();
    let mut ids = HashSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap().unwrap());
    }
    assert_eq!(ids.len(), 1, "one cart for one user: {ids:?}");
    let id = ids.into_iter().next().unwrap();
    assert_eq!(db.store.find_cart(&owner).await.unwrap(), Some(id));
    let again = db.store.create_cart(Uuid::now_v7(), &owner, T0).await;
    assert_eq!(again.unwrap(), id, "a user keeps the cart they have");

    let g = Uuid::now_v7();
    assert_eq!(db.store.create_cart(g, &guest("t1"), T0).await.unwrap(), g);
    assert_eq!(db.store.find_cart(&guest("t1")).await.unwrap(), Some(g));
    assert_eq!(db.store.find_cart(&guest("t2")).await.unwrap(), None);
    let taken = db.store.create_cart(Uuid::now_v7(), &guest("t1"), T0).await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
}

async fn adding_to_a_cart_adds_quantities_and_caps_them(db: TestDb) {
    let p = products(&db.store, 2).await;
    stock(&db.store, p[0].id, 10).await;
    let c = cart(&db.store, &guest("t")).await;
    assert_eq!(add(&db.store, c, &p[0], 3).await, 3);
    // A later add keeps the line's price: it was the price when added.
    let out = db
        .store
        .add_to_cart(c, p[0].id, 4, 1, CartLimits::default(), T0 + 5 * MINUTE)
        .await
        .unwrap();
    assert_eq!(out, AddOutcome::Added { quantity: 7 });
    let limits = CartLimits {
        max_per_line: 9,
        max_lines: 100,
    };
    let capped = db
        .store
        .add_to_cart(c, p[0].id, 5, p[0].price, limits, T0 + 6 * MINUTE)
        .await
        .unwrap();
    assert_eq!(capped, AddOutcome::Added { quantity: 9 });
    let fresh = db
        .store
        .add_to_cart(c, p[1].id, 50, p[1].price, limits, T0 + 7 * MINUTE)
        .await
        .unwrap();
    assert_eq!(
        fresh,
        AddOutcome::Added { quantity: 9 },
        "a new line is capped too"
    );

    let lines = db.store.cart_lines(c).await.unwrap();
    assert_eq!(lines.len(), 2);
    let first = &lines[0];
    assert_eq!(first.product_id, p[0].id, "oldest line first");
    assert_eq!(first.sku, p[0].sku);
    assert_eq!(first.name, p[0].name);
    assert_eq!(first.image.as_deref(), Some("https://example.com/P-01.jpg"));
    assert_eq!((first.quantity, first.unit_price), (9, p[0].price));
    assert_eq!(first.current_price, p[0].price);
    assert!(!first.archived);
    assert_eq!(first.available, 10);
    assert_eq!(first.added_at, T0 + MINUTE);
    assert_eq!(lines[1].product_id, p[1].id);
    assert_eq!(lines[1].available, 0, "no inventory row: none available");
}

async fn a_new_line_beyond_the_line_limit_is_refused(db: TestDb) {
    let p = products(&db.store, 3).await;
    let c = cart(&db.store, &guest("t")).await;
    let limits = CartLimits {
        max_per_line: 99,
        max_lines: 2,
    };
    for (i, product) in p.iter().enumerate() {
        let out = db
            .store
            .add_to_cart(c, product.id, 1, product.price, limits, T0 + i as i64)
            .await
            .unwrap();
        if i < 2 {
            assert_eq!(out, AddOutcome::Added { quantity: 1 });
        } else {
            assert_eq!(out, AddOutcome::TooManyLines);
        }
    }
    let more = db
        .store
        .add_to_cart(c, p[0].id, 2, p[0].price, limits, T0 + 10)
        .await
        .unwrap();
    assert_eq!(
        more,
        AddOutcome::Added { quantity: 3 },
        "an existing line can still grow"
    );
    let lines = db.store.cart_lines(c).await.unwrap();
    let ids: Vec<Uuid> = lines.iter().map(|l| l.product_id).collect();
    assert_eq!(ids, [p[0].id, p[1].id]);

    // Concurrent adds of new products cannot overshoot the limit.
    let p = products(&db.store, 10).await;
    let c = cart(&db.store, &guest("u")).await;
    let limits = CartLimits {
        max_per_line: 99,
        max_lines: 4,
    };
    let tasks: Vec<_> = p
        .iter()
        .map(|product| {
            let (store, product) = (db.store.clone(), product.clone());
            tokio::spawn(async move {
                store
                    .add_to_cart(c, product.id, 1, product.price, limits, T0)
                    .await
            })
        })
        .collect();
    let mut added = 0;
    for t in tasks {
        match t.await.unwrap().unwrap() {
            AddOutcome::Added { quantity } => {
                assert_eq!(quantity, 1);
                added += 1;
            }
            AddOutcome::TooManyLines => {}
        }
    }
    assert_eq!(added, 4);
    assert_eq!(db.store.cart_lines(c).await.unwrap().len(), 4);
}

async fn concurrent_adds_from_two_devices_lose_nothing(db: TestDb) {
    let p = products(&db.store, 10).await;
    let user = customer(&db.store, "ada@example.com").await;
    let c = cart(&db.store, &CartOwner::User(user)).await;
    // Two devices, twenty adds each: product i % 10, quantity 1 + i % 3.
    let mut tasks = Vec::new();
    for device in 0..2 {
        for i in 0..20usize {
            let (store, product) = (db.store.clone(), p[i % 10].clone());
            let quantity = 1 + (i % 3) as u32;
            tasks.push(tokio::spawn(async move {
                let now = T0 + (device * 100 + i) as i64;
                store
                    .add_to_cart(
                        c,
                        product.id,
                        quantity,
                        product.price,
                        CartLimits::default(),
                        now,
                    )
                    .await
            }));
        }
    }
    for t in tasks {
        let out = t.await.unwrap().unwrap();
        assert!(matches!(out, AddOutcome::Added { .. }), "{out:?}");
    }
    let lines = db.store.cart_lines(c).await.unwrap();
    assert_eq!(lines.len(), 10, "one line per product");
    for (k, product) in p.iter().enumerate() {
        // Adds of product k: i = k and i = k + 10, on each device.
        let expected: u32 = 2 * ((1 + (k % 3) as u32) + (1 + ((k + 10) % 3) as u32));
        let line = lines.iter().find(|l| l.product_id == product.id).unwrap();
        assert_eq!(line.quantity, expected, "{}", product.sku);
    }
}

async fn set_and_clear_cart_lines(db: TestDb) {
    let p = products(&db.store, 3).await;
    let c = cart(&db.store, &guest("t")).await;
    add(&db.store, c, &p[0], 2).await;
    add(&db.store, c, &p[1], 2).await;
    assert!(db.store.set_cart_line(c, p[0].id, 5, T0).await.unwrap());
    assert!(db.store.set_cart_line(c, p[1].id, 0, T0).await.unwrap());
    assert!(
        !db.store.set_cart_line(c, p[2].id, 1, T0).await.unwrap(),
        "no such line"
    );
    assert!(!db.store.set_cart_line(c, p[1].id, 0, T0).await.unwrap());
    let lines = db.store.cart_lines(c).await.unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!((lines[0].product_id, lines[0].quantity), (p[0].id, 5));

    add(&db.store, c, &p[2], 1).await;
    db.store.clear_cart(c).await.unwrap();
    assert!(db.store.cart_lines(c).await.unwrap().is_empty());
    assert_eq!(
        db.store.find_cart(&guest("t")).await.unwrap(),
        Some(c),
        "a cleared cart still exists"
    );
}

async fn merging_carts_adds_quantities_and_deletes_the_guest_cart(db: TestDb) {
    let p = products(&db.store, 4).await;
    let user = customer(&db.store, "ada@example.com").await;
    let mine = cart(&db.store, &CartOwner::User(user)).await;
    add(&db.store, mine, &p[0], 98).await;
    add(&db.store, mine, &p[3], 1).await;
    let theirs = cart(&db.store, &guest("t")).await;
    for (i, (product, q)) in [(&p[0], 2), (&p[1], 1), (&p[2], 1)].into_iter().enumerate() {
        db.store
            .add_to_cart(
                theirs,
                product.id,
                q,
                product.price,
                CartLimits::default(),
                T0 + i as i64,
            )
            .await
            .unwrap();
    }
    let limits = CartLimits {
        max_per_line: 99,
        max_lines: 3,
    };
    db.store
        .merge_carts(theirs, mine, limits, T0 + MINUTE)
        .await
        .unwrap();
    let lines = db.store.cart_lines(mine).await.unwrap();
    let got: HashSet<(Uuid, u32)> = lines.iter().map(|l| (l.product_id, l.quantity)).collect();
    let want: HashSet<(Uuid, u32)> = [(p[0].id, 99), (p[3].id, 1), (p[1].id, 1)].into();
    assert_eq!(
        got, want,
        "added and capped; the guest's oldest new line fits, the next does not"
    );
    assert_eq!(db.store.find_cart(&guest("t")).await.unwrap(), None);
    assert!(db.store.cart_lines(theirs).await.unwrap().is_empty());
    // Merging a cart into itself keeps it.
    db.store
        .merge_carts(mine, mine, limits, T0 + MINUTE)
        .await
        .unwrap();
    assert_eq!(db.store.cart_lines(mine).await.unwrap().len(), 3);
}
