//! Commerce behaviours every store must show: carts (including concurrent
//! adds and merges), checkout (idempotency, re-pricing, stock reservation
//! under concurrency), order transitions and listings, stock changes, and
//! card payments and refunds of orders.
//! Shared fixtures here; the behaviours in `commerce/`.

mod carts;
mod checkout;
mod orders;
mod payments;

use std::collections::HashMap;

use emporium_domain::cart::{AddOutcome, CartLimits, CartOwner};
use emporium_domain::catalog::{ProductDraft, Sku, Sort, StoreSearch};
use emporium_domain::identity::{DisplayName, Email, Role, UnixMillis, User};
use emporium_domain::inventory::{StockChange, StockChangeOutcome};
use emporium_domain::orders::{
    Address, Idempotency, NewOrder, Order, OrderLine, OrderOwner, PlaceOutcome, Totals,
};
use emporium_domain::ports::{CartStore, CatalogStore, CheckoutStore, IdentityStore, StockStore};
use emporium_domain::{Currency, Money};
use emporium_store::Store;
use uuid::Uuid;

pub const T0: UnixMillis = 1_767_225_600_000;
pub const MINUTE: UnixMillis = 60_000;

/// A product as the tests know it.
#[derive(Debug, Clone)]
pub struct Product {
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub price: i64,
}

pub fn draft(sku: &str, price: i64) -> ProductDraft {
    ProductDraft {
        sku: Sku::parse(sku).unwrap(),
        name: format!("Gadget {sku}"),
        brand: Some("Acme".into()),
        description: None,
        category: vec!["Test".into(), "Gadgets".into()],
        price: Money::new(price, Currency::USD).unwrap(),
        image: Some(format!("https://example.com/{sku}.jpg")),
        popularity: 0,
        attributes: Default::default(),
    }
}

fn noop(_: u64) {}

/// Imports `n` products `P-01`, `P-02`… priced 1000, 1100…, in SKU order.
pub async fn products(store: &Store, n: usize) -> Vec<Product> {
    let drafts: Vec<ProductDraft> = (0..n)
        .map(|i| draft(&format!("P-{:02}", i + 1), 1000 + 100 * i as i64))
        .collect();
    store.import(&drafts, &noop).await.unwrap();
    let page = store
        .search(&StoreSearch {
            term_groups: vec![],
            prefix_last: false,
            match_any: false,
            category_key: None,
            brand: None,
            min_price: None,
            max_price: None,
            sort: Sort::Name,
            limit: 1000,
            after: None,
            facets: false,
            facet_parent_key: None,
        })
        .await
        .unwrap();
    let ids: HashMap<String, Uuid> = page
        .hits
        .iter()
        .map(|h| (h.product.sku.as_str().to_owned(), h.product.id))
        .collect();
    drafts
        .iter()
        .map(|d| Product {
            id: ids[d.sku.as_str()],
            sku: d.sku.as_str().to_owned(),
            name: d.name.clone(),
            price: d.price.amount(),
        })
        .collect()
}

/// Sets a product's stock on hand.
pub async fn stock(store: &Store, product_id: Uuid, on_hand: u32) {
    let out = store
        .change_stock(product_id, StockChange::Set(on_hand), "count", "test", T0)
        .await
        .unwrap();
    assert!(matches!(out, StockChangeOutcome::Changed(_)), "{out:?}");
}

pub async fn customer(store: &Store, email: &str) -> Uuid {
    let user = User {
        id: Uuid::now_v7(),
        email: Email::parse(email).unwrap(),
        name: DisplayName::parse("Customer").unwrap(),
        role: Role::Customer,
        created_at: T0,
    };
    store.create_user(&user, "$argon2id$hash").await.unwrap();
    user.id
}

pub fn guest(token: &str) -> CartOwner {
    CartOwner::Guest {
        token_hash: format!("hash-of-{token}"),
    }
}

pub async fn cart(store: &Store, owner: &CartOwner) -> Uuid {
    store.create_cart(Uuid::now_v7(), owner, T0).await.unwrap()
}

/// Adds `quantity` of `p` at its catalog price, within the default limits.
pub async fn add(store: &Store, cart_id: Uuid, p: &Product, quantity: u32) -> u32 {
    let out = store
        .add_to_cart(
            cart_id,
            p.id,
            quantity,
            p.price,
            CartLimits::default(),
            T0 + MINUTE,
        )
        .await
        .unwrap();
    match out {
        AddOutcome::Added { quantity } => quantity,
        AddOutcome::TooManyLines => panic!("too many lines"),
    }
}

pub fn address() -> Address {
    Address {
        name: "Ada Lovelace".into(),
        line1: "12 Analytical Row".into(),
        line2: Some("Flat 3".into()),
        city: "London".into(),
        region: None,
        postal_code: "N1 9GU".into(),
        country: "GB".into(),
        phone: None,
    }
}

pub fn line(p: &Product, quantity: u32) -> OrderLine {
    OrderLine {
        product_id: p.id,
        sku: p.sku.clone(),
        name: p.name.clone(),
        unit_price: p.price,
        quantity,
    }
}

/// A checkout of `lines` from `cart_id` with Idempotency-Key `key`, whose
/// request hash is `hash`. The order id is fresh each time.
pub fn new_order(
    cart_id: Uuid,
    owner: OrderOwner,
    lines: Vec<OrderLine>,
    key: &str,
    hash: &str,
) -> NewOrder {
    let subtotal = lines
        .iter()
        .map(|l| l.unit_price * i64::from(l.quantity))
        .sum::<i64>();
    NewOrder {
        id: Uuid::now_v7(),
        owner,
        cart_id,
        lines,
        currency: "USD".into(),
        totals: Totals {
            subtotal,
            shipping: 499,
            tax: 100,
            total: subtotal + 599,
        },
        shipping_method: "standard".into(),
        address: address(),
        idempotency: Idempotency {
            scope: format!("cart:{cart_id}"),
            key: key.into(),
            request_hash: hash.into(),
        },
        actor: "guest".into(),
        created_at: T0 + 2 * MINUTE,
        expires_at: T0 + 32 * MINUTE,
    }
}

pub fn guest_owner(email: &str) -> OrderOwner {
    OrderOwner::Guest {
        email: email.into(),
        token_hash: format!("order-token-of-{email}"),
    }
}

pub fn created(out: PlaceOutcome) -> Order {
    match out {
        PlaceOutcome::Created(order) => *order,
        other => panic!("expected Created, got {other:?}"),
    }
}

/// A guest cart holding `lines` (product, quantity), ordered at once:
/// the order, created.
pub async fn ordered(store: &Store, token: &str, lines: &[(&Product, u32)]) -> Order {
    let cart_id = cart(store, &guest(token)).await;
    for (p, q) in lines {
        add(store, cart_id, p, *q).await;
    }
    let lines = lines.iter().map(|(p, q)| line(p, *q)).collect();
    let email = format!("{token}@example.com");
    let order = new_order(cart_id, guest_owner(&email), lines, "key-1", "hash-1");
    created(store.place_order(&order).await.unwrap())
}
