//! The checkout transaction (see `crate::commerce` for the guarantees):
//! the five steps of `CheckoutStore::place_order`, in one write
//! transaction that commits only a created order or re-priced cart lines.
//!
//! The idempotency key is claimed by reading it under a lock that is held
//! to the end of the transaction: SQLite's `BEGIN IMMEDIATE` write lock, or
//! on PostgreSQL an advisory lock on the key's hash. A concurrent checkout
//! with the same key waits for the first to commit, then reads its key row
//! and replays its order. The key row itself is written last, with the
//! order it points at.

use emporium_domain::orders::{NewOrder, OrderLine, OrderOwner, PlaceOutcome, PriceChange};
use emporium_domain::ports::CheckoutStore;
use emporium_domain::StoreError;
use sqlx::PgConnection;
use uuid::Uuid;

use super::PgStore;
use crate::error::db;

impl CheckoutStore for PgStore {
    async fn place_order(&self, order: &NewOrder) -> Result<PlaceOutcome, StoreError> {
        let mut tx = self.primary()?.begin_with("BEGIN").await.map_err(db)?;
        let outcome = run(&mut tx, order).await?;
        if matches!(
            outcome,
            PlaceOutcome::Created(_) | PlaceOutcome::PriceChanged(_)
        ) {
            tx.commit().await.map_err(db)?;
        } else {
            tx.rollback().await.map_err(db)?;
        }
        Ok(outcome)
    }

    /// The request hash and order of a claimed key.
    async fn order_for_key(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<(String, Uuid)>, StoreError> {
        sqlx::query_as(CLAIM)
            .bind(scope)
            .bind(key)
            .fetch_optional(&self.primary()?)
            .await
            .map_err(db)
    }
}

const CLAIM: &str =
    "SELECT request_hash, order_id FROM idempotency_keys WHERE scope = $1 AND key = $2";

/// Steps 1 to 5; the caller commits or rolls back by the outcome.
async fn run(conn: &mut PgConnection, o: &NewOrder) -> Result<PlaceOutcome, StoreError> {
    if let Some(replay) = claimed(conn, o).await? {
        return Ok(replay);
    }
    let cart: Vec<(Uuid, i64, i64)> = sqlx::query_as(
        "SELECT product_id, quantity, unit_price FROM cart_lines WHERE cart_id = $1 \
         FOR UPDATE",
    )
    .bind(o.cart_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    if !crate::commerce::cart_matches(&cart, &o.lines) {
        return Ok(PlaceOutcome::CartChanged);
    }
    if let Some(refused) = check_prices(conn, o).await? {
        return Ok(refused);
    }
    if let Some(short) = reserve(conn, o).await? {
        return Ok(short);
    }
    insert(conn, o).await?;
    Ok(PlaceOutcome::Created(Box::new(crate::commerce::created(o))))
}

/// Step 1: `Replayed` or `KeyReused` if the key was claimed before.
async fn claimed(
    conn: &mut PgConnection,
    o: &NewOrder,
) -> Result<Option<PlaceOutcome>, StoreError> {
    let key = &o.idempotency;
    // Checkouts with one key wait here for the first to commit (keys whose
    // hashes collide merely wait for each other); on SQLite the write lock
    // taken by `BEGIN IMMEDIATE` already serialises them.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(format!("{}:{}", key.scope, key.key))
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    let row: Option<(String, Uuid)> = sqlx::query_as(CLAIM)
        .bind(&key.scope)
        .bind(&key.key)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
    let Some((request_hash, order_id)) = row else {
        return Ok(None);
    };
    if request_hash != key.request_hash {
        return Ok(Some(PlaceOutcome::KeyReused));
    }
    let order = super::orders::load(conn, order_id).await?.ok_or_else(|| {
        StoreError::Internal(format!("idempotency key names missing order {order_id}"))
    })?;
    Ok(Some(PlaceOutcome::Replayed(Box::new(order))))
}

/// Step 3: `Unavailable` for an archived product, else `PriceChanged`
/// (after re-pricing the cart's lines) if a price moved.
async fn check_prices(
    conn: &mut PgConnection,
    o: &NewOrder,
) -> Result<Option<PlaceOutcome>, StoreError> {
    let mut changes = Vec::new();
    for line in &o.lines {
        let product: Option<(i64, bool)> =
            sqlx::query_as("SELECT price, archived_at IS NOT NULL FROM products WHERE id = $1")
                .bind(line.product_id)
                .fetch_optional(&mut *conn)
                .await
                .map_err(db)?;
        match product {
            None | Some((_, true)) => {
                return Ok(Some(PlaceOutcome::Unavailable {
                    product_id: line.product_id,
                }));
            }
            Some((price, false)) if price != line.unit_price => {
                changes.push(PriceChange {
                    product_id: line.product_id,
                    old_price: line.unit_price,
                    new_price: price,
                });
            }
            Some(_) => {}
        }
    }
    if changes.is_empty() {
        return Ok(None);
    }
    for c in &changes {
        sqlx::query("UPDATE cart_lines SET unit_price = $1 WHERE cart_id = $2 AND product_id = $3")
            .bind(c.new_price)
            .bind(o.cart_id)
            .bind(c.product_id)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
    }
    Ok(Some(PlaceOutcome::PriceChanged(changes)))
}

/// Step 4: reserves every line, in product order (so that concurrent
/// checkouts lock inventory rows in one order), or `OutOfStock`.
async fn reserve(
    conn: &mut PgConnection,
    o: &NewOrder,
) -> Result<Option<PlaceOutcome>, StoreError> {
    let mut lines: Vec<&OrderLine> = o.lines.iter().collect();
    lines.sort_by_key(|l| l.product_id);
    for line in lines {
        let done = sqlx::query(
            "UPDATE inventory SET reserved = reserved + $1, updated_at = $2 \
             WHERE product_id = $3 AND on_hand - reserved >= $1",
        )
        .bind(i64::from(line.quantity))
        .bind(o.created_at)
        .bind(line.product_id)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            let available: Option<i64> = sqlx::query_scalar(
                "SELECT on_hand - reserved FROM inventory WHERE product_id = $1",
            )
            .bind(line.product_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?;
            return Ok(Some(PlaceOutcome::OutOfStock {
                product_id: line.product_id,
                requested: line.quantity,
                available: crate::commerce::available(available.unwrap_or(0)),
            }));
        }
    }
    Ok(None)
}

/// Step 5: the order, its lines, its first event and its key; the
/// ordered lines leave the cart.
async fn insert(conn: &mut PgConnection, o: &NewOrder) -> Result<(), StoreError> {
    let (user_id, guest_email, token_hash) = match &o.owner {
        OrderOwner::User(id) => (Some(*id), None, None),
        OrderOwner::Guest { email, token_hash } => {
            (None, Some(email.as_str()), Some(token_hash.as_str()))
        }
    };
    sqlx::query(
        "INSERT INTO orders (id, user_id, guest_email, order_token_hash, status, \
                 currency, subtotal, shipping, tax, total, shipping_method, shipping_address, \
                 created_at, updated_at, expires_at) \
                 VALUES ($1, $2, $3, $4, 'pending_payment', $5, $6, $7, $8, $9, $10, \
                 CAST($11 AS JSONB), $12, $12, $13)",
    )
    .bind(o.id)
    .bind(user_id)
    .bind(guest_email)
    .bind(token_hash)
    .bind(&o.currency)
    .bind(o.totals.subtotal)
    .bind(o.totals.shipping)
    .bind(o.totals.tax)
    .bind(o.totals.total)
    .bind(&o.shipping_method)
    .bind(crate::commerce::address_json(&o.address)?)
    .bind(o.created_at)
    .bind(o.expires_at)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    for line in &o.lines {
        sqlx::query(
            "INSERT INTO order_lines (order_id, product_id, sku, name, unit_price, quantity) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(o.id)
        .bind(line.product_id)
        .bind(&line.sku)
        .bind(&line.name)
        .bind(line.unit_price)
        .bind(i64::from(line.quantity))
        .execute(&mut *conn)
        .await
        .map_err(db)?;
        sqlx::query("DELETE FROM cart_lines WHERE cart_id = $1 AND product_id = $2")
            .bind(o.cart_id)
            .bind(line.product_id)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
    }
    sqlx::query(
        "INSERT INTO order_events (order_id, from_status, to_status, actor, reason, at) \
         VALUES ($1, NULL, 'pending_payment', $2, NULL, $3)",
    )
    .bind(o.id)
    .bind(&o.actor)
    .bind(o.created_at)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    sqlx::query(
        "INSERT INTO idempotency_keys (scope, key, request_hash, order_id, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&o.idempotency.scope)
    .bind(&o.idempotency.key)
    .bind(&o.idempotency.request_hash)
    .bind(o.id)
    .bind(o.created_at)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}
