//! Orders after checkout (see `crate::commerce` for the guarantees):
//! reading one with its lines and history, listing, expiry, and state
//! transitions. A transition is one conditional update (`WHERE status =
//! $from`), so of concurrent transitions from one state exactly one moves
//! the order; in the same transaction it releases or consumes the stock
//! the order reserved (inventory rows in product order) and records the
//! event. The state machine itself is the domain's to check.

use emporium_domain::identity::UnixMillis;
use emporium_domain::orders::{Order, OrderFilter, OrderStatus, OrderSummary, TransitionOutcome};
use emporium_domain::ports::OrderStore;
use emporium_domain::StoreError;
use sqlx::PgConnection;
use uuid::Uuid;

use super::PgStore;
use crate::commerce::{EventRow, OrderLineRow, OrderRow, SummaryRow};
use crate::error::db;

impl OrderStore for PgStore {
    async fn order(&self, id: Uuid) -> Result<Option<Order>, StoreError> {
        let mut conn = self.primary()?.acquire().await.map_err(db)?;
        load(&mut conn, id).await
    }

    async fn list_orders(&self, filter: &OrderFilter) -> Result<Vec<OrderSummary>, StoreError> {
        let rows: Vec<SummaryRow> = sqlx::query_as(
            "SELECT o.id, o.status, o.currency, o.subtotal, o.shipping, o.tax, o.total, \
             CAST(COALESCE((SELECT SUM(l.quantity) FROM order_lines l \
             WHERE l.order_id = o.id), 0) AS BIGINT), \
             o.user_id, o.guest_email, o.created_at FROM orders o \
             WHERE ($1 IS NULL OR o.status = $1) AND ($2 IS NULL OR o.user_id = $2) \
             AND ($3 IS NULL OR o.id < $3) ORDER BY o.id DESC LIMIT $4",
        )
        .bind(filter.status.map(OrderStatus::as_str))
        .bind(filter.user_id)
        .bind(filter.before)
        .bind(i64::from(filter.limit))
        .fetch_all(&self.primary()?)
        .await
        .map_err(db)?;
        rows.into_iter().map(crate::commerce::summary).collect()
    }

    async fn transition_order(
        &self,
        id: Uuid,
        from: OrderStatus,
        to: OrderStatus,
        actor: &str,
        reason: Option<&str>,
        now: UnixMillis,
    ) -> Result<TransitionOutcome, StoreError> {
        let mut tx = self.primary()?.begin_with("BEGIN").await.map_err(db)?;
        let moved = sqlx::query(
            "UPDATE orders SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4 \
             AND payment_in_flight IS NULL",
        )
        .bind(to.as_str())
        .bind(now)
        .bind(id)
        .bind(from.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if moved.rows_affected() == 0 {
            let current: Option<(String, Option<Uuid>)> =
                sqlx::query_as("SELECT status, payment_in_flight FROM orders WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db)?;
            tx.rollback().await.map_err(db)?;
            return Ok(match current {
                Some((s, _)) if s != from.as_str() => TransitionOutcome::Refused {
                    current: crate::commerce::status(&s)?,
                },
                Some(_) => TransitionOutcome::PaymentInFlight,
                None => TransitionOutcome::NotFound,
            });
        }
        if from.reserves_stock() && !to.reserves_stock() {
            let consume = matches!(to, OrderStatus::Paid | OrderStatus::Fulfilled);
            settle(&mut tx, id, consume, now).await?;
        }
        sqlx::query(
            "INSERT INTO order_events (order_id, from_status, to_status, actor, reason, at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(actor)
        .bind(reason)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let order = load(&mut tx, id)
            .await?
            .ok_or_else(|| StoreError::Internal(format!("order {id} vanished")))?;
        tx.commit().await.map_err(db)?;
        Ok(TransitionOutcome::Done(Box::new(order)))
    }

    async fn expired_orders(&self, now: UnixMillis, limit: u32) -> Result<Vec<Uuid>, StoreError> {
        sqlx::query_scalar(
            "SELECT id FROM orders WHERE status = 'pending_payment' AND expires_at < $1 \
             AND payment_in_flight IS NULL ORDER BY expires_at, id LIMIT $2",
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.primary()?)
        .await
        .map_err(db)
    }
}

/// The order with its lines (by SKU) and events (oldest first).
pub(super) async fn load(conn: &mut PgConnection, id: Uuid) -> Result<Option<Order>, StoreError> {
    let row: Option<OrderRow> = sqlx::query_as(
        "SELECT id, user_id, guest_email, order_token_hash, status, currency, subtotal, \
         shipping, tax, total, shipping_method, CAST(shipping_address AS TEXT), \
         created_at, updated_at, expires_at FROM orders WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    let Some(row) = row else { return Ok(None) };
    let lines: Vec<OrderLineRow> = sqlx::query_as(
        "SELECT product_id, sku, name, unit_price, quantity FROM order_lines \
         WHERE order_id = $1 ORDER BY sku, product_id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let events: Vec<EventRow> = sqlx::query_as(
        "SELECT from_status, to_status, actor, reason, at FROM order_events \
         WHERE order_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let payments: Vec<crate::commerce::PaymentRow> = sqlx::query_as(
        "SELECT id, order_id, status, amount, currency, provider_reference, decline_code, \
         message, attempts, created_at, updated_at, orphaned FROM payments \
         WHERE order_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let refunds: Vec<crate::commerce::RefundRow> = sqlx::query_as(
        "SELECT id, order_id, payment_id, status, amount, provider_reference, reason, actor, \
         created_at, updated_at FROM refunds \
         WHERE order_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    crate::commerce::order(row, lines, events, payments, refunds).map(Some)
}

/// Ends an order's reservation: the units leave stock (`consume`,
/// a sale) or become available again.
pub(super) async fn settle(
    conn: &mut PgConnection,
    id: Uuid,
    consume: bool,
    now: UnixMillis,
) -> Result<(), StoreError> {
    let lines: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT product_id, quantity FROM order_lines WHERE order_id = $1 \
         ORDER BY product_id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let sql = if consume {
        "UPDATE inventory SET on_hand = on_hand - $1, reserved = reserved - $1, \
         updated_at = $2 WHERE product_id = $3"
    } else {
        "UPDATE inventory SET reserved = reserved - $1, updated_at = $2 \
         WHERE product_id = $3"
    };
    for (product_id, quantity) in lines {
        sqlx::query(sql)
            .bind(quantity)
            .bind(now)
            .bind(product_id)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
    }
    Ok(())
}
