//! What the commerce stores (carts, checkout, orders, stock, payments,
//! refunds) share on both backends: the row shapes they read and the
//! functions that turn rows into domain values. The SQL itself is in each
//! adapter's modules (`sqlite::carts`, `postgres::carts`, …); the statements
//! are the same on SQLite and PostgreSQL but for a few dialect fragments:
//! how a write transaction starts, `MIN`/`LEAST`, row locks (`FOR UPDATE`,
//! absent on SQLite, whose `BEGIN IMMEDIATE` already excludes other
//! writers), the JSON column type, and the advisory lock that serialises
//! checkouts of one idempotency key on PostgreSQL.
//!
//! Guarantees, on both backends:
//! * every method that writes more than one row does so in one transaction;
//!   an outcome that says "nothing written" rolls it back;
//! * a user has at most one cart: concurrent `create_cart`s return one id;
//! * concurrent `add_to_cart`s to one cart serialise (SQLite: the write
//!   lock; PostgreSQL: the cart's row lock), so none is lost, a line exists
//!   once per product, and a cart never exceeds `max_lines`;
//! * `place_order` is the trait's five steps in one transaction. Checkouts
//!   with one idempotency key serialise (SQLite: the write lock; PostgreSQL:
//!   a transaction-scoped advisory lock on the key), so exactly one creates
//!   the order and the others replay it. Stock is reserved with a
//!   conditional update (`on_hand - reserved >= q`), lines in product order
//!   so that concurrent checkouts cannot deadlock: stock is never oversold;
//! * `transition_order` moves an order only if it is still in `from`, and
//!   releases or consumes its reservation in the same transaction;
//! * `change_stock` never sets on hand below reserved or below 0, nor
//!   above `MAX_ON_HAND`, and records every change it makes as a movement;
//! * times are the callers' (`now`, `created_at`), never the database's;
//! * a row the domain cannot read (an unknown status, bad address JSON, a
//!   negative quantity) is `StoreError::Internal`.

use emporium_domain::cart::CartLineRecord;
use emporium_domain::identity::UnixMillis;
use emporium_domain::inventory::{Sellable, StockLevel, StockMovement};
use emporium_domain::orders::{
    Address, NewOrder, Order, OrderEvent, OrderLine, OrderOwner, OrderStatus, OrderSummary, Totals,
};
use emporium_domain::payments::{Payment, Refund};
use emporium_domain::StoreError;
use uuid::Uuid;

/// `product_id, sku, name, image, quantity, unit_price, price, archived,
/// available, added_at`.
pub(crate) type CartLineRow = (
    Uuid,
    String,
    String,
    Option<String>,
    i64,
    i64,
    i64,
    bool,
    i64,
    UnixMillis,
);
/// `id, sku, name, price, image, archived, on_hand, reserved`.
pub(crate) type SellableRow = (Uuid, String, String, i64, Option<String>, bool, i64, i64);
/// `id, user_id, guest_email, order_token_hash, status, currency, subtotal,
/// shipping, tax, total, shipping_method, shipping_address (JSON text),
/// created_at, updated_at, expires_at`.
pub(crate) type OrderRow = (
    Uuid,
    Option<Uuid>,
    Option<String>,
    Option<String>,
    String,
    String,
    i64,
    i64,
    i64,
    i64,
    String,
    String,
    UnixMillis,
    UnixMillis,
    UnixMillis,
);
/// `product_id, sku, name, unit_price, quantity`.
pub(crate) type OrderLineRow = (Uuid, String, String, i64, i64);
/// `from_status, to_status, actor, reason, at`.
pub(crate) type EventRow = (Option<String>, String, String, Option<String>, UnixMillis);
/// `id, status, currency, subtotal, shipping, tax, total, item_count,
/// user_id, guest_email, created_at`.
pub(crate) type SummaryRow = (
    Uuid,
    String,
    String,
    i64,
    i64,
    i64,
    i64,
    i64,
    Option<Uuid>,
    Option<String>,
    UnixMillis,
);
/// `product_id, on_hand_before, on_hand_after, reason, actor, created_at`.
pub(crate) type MovementRow = (Uuid, i64, i64, String, String, UnixMillis);
/// `id, order_id, status, amount, currency, provider_reference,
/// decline_code, message, attempts, created_at, updated_at, orphaned`.
pub(crate) type PaymentRow = (
    Uuid,
    Uuid,
    String,
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    UnixMillis,
    UnixMillis,
    bool,
);
/// `id, order_id, payment_id, status, amount, provider_reference, reason,
/// actor, created_at, updated_at`.
pub(crate) type RefundRow = (
    Uuid,
    Uuid,
    Uuid,
    String,
    i64,
    Option<String>,
    Option<String>,
    String,
    UnixMillis,
    UnixMillis,
);

pub(crate) fn payment(row: PaymentRow) -> Result<Payment, StoreError> {
    let (id, order_id, st, amount, currency, reference, code, message, attempts, created, updated) = (
        row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9, row.10,
    );
    Ok(Payment {
        id,
        order_id,
        status: st.parse()?,
        amount,
        currency,
        provider_reference: reference,
        decline_code: code,
        message,
        attempts: count(attempts)?,
        created_at: created,
        updated_at: updated,
        orphaned: row.11,
    })
}

pub(crate) fn refund(row: RefundRow) -> Result<Refund, StoreError> {
    let (id, order_id, payment_id, st, amount, reference, reason, actor, created, updated) = row;
    Ok(Refund {
        id,
        order_id,
        payment_id,
        status: st.parse()?,
        amount,
        provider_reference: reference,
        reason,
        actor,
        created_at: created,
        updated_at: updated,
    })
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("unreadable commerce row: {what}"))
}

/// A count the schema keeps non-negative, as the domain's `u32`.
pub(crate) fn count(n: i64) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| corrupt(format!("count {n} out of range")))
}

/// Units available from on hand minus reserved (0 if that is negative).
pub(crate) fn available(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

pub(crate) fn status(s: &str) -> Result<OrderStatus, StoreError> {
    s.parse().map_err(|_| corrupt(format!("status {s:?}")))
}

pub(crate) fn address_json(address: &Address) -> Result<String, StoreError> {
    serde_json::to_string(address).map_err(|e| StoreError::Internal(e.to_string()))
}

pub(crate) fn cart_line(row: CartLineRow) -> Result<CartLineRecord, StoreError> {
    let (product_id, sku, name, image, quantity, unit_price, price, archived, avail, added_at) =
        row;
    Ok(CartLineRecord {
        product_id,
        sku,
        name,
        image,
        quantity: count(quantity)?,
        unit_price,
        current_price: price,
        archived,
        available: available(avail),
        added_at,
    })
}

pub(crate) fn sellable(row: SellableRow) -> Result<Sellable, StoreError> {
    let (product_id, sku, name, price, image, archived, on_hand, reserved) = row;
    Ok(Sellable {
        product_id,
        sku,
        name,
        price,
        image,
        archived,
        stock: StockLevel {
            product_id,
            on_hand: count(on_hand)?,
            reserved: count(reserved)?,
        },
    })
}

pub(crate) fn movement(row: MovementRow) -> Result<StockMovement, StoreError> {
    let (product_id, before, after, reason, actor, created_at) = row;
    Ok(StockMovement {
        product_id,
        on_hand_before: count(before)?,
        on_hand_after: count(after)?,
        reason,
        actor,
        created_at,
    })
}

pub(crate) fn summary(row: SummaryRow) -> Result<OrderSummary, StoreError> {
    let (id, st, currency, subtotal, shipping, tax, total, items, user_id, guest_email, created) =
        row;
    Ok(OrderSummary {
        id,
        status: status(&st)?,
        currency,
        totals: Totals {
            subtotal,
            shipping,
            tax,
            total,
        },
        item_count: count(items)?,
        user_id,
        guest_email,
        created_at: created,
    })
}

/// An order from its row, its lines, and its events, payments and refunds
/// (each oldest first).
pub(crate) fn order(
    row: OrderRow,
    lines: Vec<OrderLineRow>,
    events: Vec<EventRow>,
    payments: Vec<PaymentRow>,
    refunds: Vec<RefundRow>,
) -> Result<Order, StoreError> {
    let (id, user_id, guest_email, token_hash, st, currency, subtotal, shipping, tax, total) = (
        row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9,
    );
    let (shipping_method, address, created_at, updated_at, expires_at) =
        (row.10, row.11, row.12, row.13, row.14);
    let owner = match (user_id, guest_email, token_hash) {
        (Some(user), _, _) => OrderOwner::User(user),
        (None, Some(email), Some(token_hash)) => OrderOwner::Guest { email, token_hash },
        _ => return Err(corrupt(format!("order {id} has no owner"))),
    };
    let lines = lines
        .into_iter()
        .map(|(product_id, sku, name, unit_price, quantity)| {
            Ok(OrderLine {
                product_id,
                sku,
                name,
                unit_price,
                quantity: count(quantity)?,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    let events = events
        .into_iter()
        .map(|(from, to, actor, reason, at)| {
            Ok(OrderEvent {
                from: from.as_deref().map(status).transpose()?,
                to: status(&to)?,
                actor,
                reason,
                at,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(Order {
        id,
        owner,
        status: status(&st)?,
        currency,
        lines,
        totals: Totals {
            subtotal,
            shipping,
            tax,
            total,
        },
        shipping_method,
        address: serde_json::from_str(&address).map_err(|e| corrupt(format!("address: {e}")))?,
        created_at,
        updated_at,
        expires_at,
        events,
        payments: payments
            .into_iter()
            .map(payment)
            .collect::<Result<_, _>>()?,
        refunds: refunds.into_iter().map(refund).collect::<Result<_, _>>()?,
    })
}

/// Orders lines as the store reads them back: by SKU, then product.
pub(crate) fn sort_lines(lines: &mut [OrderLine]) {
    lines.sort_by(|a, b| (&a.sku, a.product_id).cmp(&(&b.sku, b.product_id)));
}

/// The order a checkout just created, as [`order`] would read it back.
pub(crate) fn created(o: &NewOrder) -> Order {
    let mut lines = o.lines.clone();
    sort_lines(&mut lines);
    Order {
        id: o.id,
        owner: o.owner.clone(),
        status: OrderStatus::PendingPayment,
        currency: o.currency.clone(),
        lines,
        totals: o.totals,
        shipping_method: o.shipping_method.clone(),
        address: o.address.clone(),
        created_at: o.created_at,
        updated_at: o.created_at,
        expires_at: o.expires_at,
        events: vec![OrderEvent {
            from: None,
            to: OrderStatus::PendingPayment,
            actor: o.actor.clone(),
            reason: None,
            at: o.created_at,
        }],
        payments: Vec::new(),
        refunds: Vec::new(),
    }
}

/// Whether the cart's `(product, quantity, unit price)` lines are exactly
/// the order's, in any order.
pub(crate) fn cart_matches(cart: &[(Uuid, i64, i64)], lines: &[OrderLine]) -> bool {
    let mut cart = cart.to_vec();
    let mut wanted: Vec<(Uuid, i64, i64)> = lines
        .iter()
        .map(|l| (l.product_id, i64::from(l.quantity), l.unit_price))
        .collect();
    cart.sort_unstable();
    wanted.sort_unstable();
    cart == wanted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: u8, quantity: u32, unit_price: i64) -> OrderLine {
        OrderLine {
            product_id: Uuid::from_bytes([n; 16]),
            sku: format!("S-{n}"),
            name: format!("Product {n}"),
            unit_price,
            quantity,
        }
    }

    #[test]
    fn a_cart_matches_exactly_the_same_lines_in_any_order() {
        let (a, b) = (Uuid::from_bytes([1; 16]), Uuid::from_bytes([2; 16]));
        let cart = [(a, 2, 100), (b, 1, 50)];
        assert!(cart_matches(&cart, &[line(2, 1, 50), line(1, 2, 100)]));
        for lines in [
            vec![line(1, 3, 100), line(2, 1, 50)],
            vec![line(1, 2, 99), line(2, 1, 50)],
            vec![line(1, 2, 100)],
            vec![line(1, 2, 100), line(2, 1, 50), line(2, 1, 50)],
            vec![],
        ] {
            assert!(!cart_matches(&cart, &lines), "{lines:?}");
        }
    }

    fn row(status: &str, user: Option<Uuid>, email: Option<&str>, token: Option<&str>) -> OrderRow {
        let address = r#"{"name":"A","line1":"1 St","line2":null,"city":"C","region":null,
            "postal_code":"P","country":"GB","phone":null}"#;
        (
            Uuid::nil(),
            user,
            email.map(str::to_owned),
            token.map(str::to_owned),
            status.into(),
            "USD".into(),
            1,
            2,
            3,
            6,
            "standard".into(),
            address.into(),
            10,
            11,
            12,
        )
    }

    #[test]
    fn rows_the_domain_cannot_read_are_internal_errors() {
        let ok = order(
            row("paid", Some(Uuid::nil()), None, None),
            vec![],
            vec![],
            vec![],
            vec![],
        )
        .unwrap();
        assert_eq!(ok.status, OrderStatus::Paid);
        assert_eq!(ok.address.country, "GB");
        let guest = order(
            row("paid", None, Some("g@x"), Some("t")),
            vec![],
            vec![],
            vec![],
            vec![],
        )
        .unwrap();
        assert!(matches!(guest.owner, OrderOwner::Guest { .. }));
        for bad in [
            order(
                row("shipped", Some(Uuid::nil()), None, None),
                vec![],
                vec![],
                vec![],
                vec![],
            ),
            order(
                row("paid", None, Some("g@x"), None),
                vec![],
                vec![],
                vec![],
                vec![],
            ),
            order(
                row("paid", Some(Uuid::nil()), None, None),
                vec![(Uuid::nil(), "S".into(), "N".into(), 1, -1)],
                vec![],
                vec![],
                vec![],
            ),
        ] {
            assert!(matches!(bad, Err(StoreError::Internal(_))), "{bad:?}");
        }
        let mut broken = row("paid", Some(Uuid::nil()), None, None);
        broken.11 = "{}".into();
        assert!(order(broken, vec![], vec![], vec![], vec![]).is_err());
    }
}
