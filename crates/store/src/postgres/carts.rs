//! Carts and their lines (see `crate::commerce` for the guarantees).
//! `create` claims a user's one cart with `ON CONFLICT (user_id) DO
//! NOTHING` and reads back whichever cart won; `add` and `merge` run in a
//! write transaction that first locks the cart (SQLite: `BEGIN IMMEDIATE`;
//! PostgreSQL: the cart's row, `FOR UPDATE`), so the line count they check
//! cannot change before their upsert, which adds and caps quantities in one
//! statement.

use emporium_domain::cart::{AddOutcome, CartLimits, CartLineRecord, CartOwner};
use emporium_domain::identity::UnixMillis;
use emporium_domain::inventory::Sellable;
use emporium_domain::ports::CartStore;
use emporium_domain::StoreError;
use sqlx::PgConnection;
use uuid::Uuid;

use super::PgStore;
use crate::commerce::{CartLineRow, SellableRow};
use crate::error::db;

impl CartStore for PgStore {
    async fn create_cart(
        &self,
        id: Uuid,
        owner: &CartOwner,
        now: UnixMillis,
    ) -> Result<Uuid, StoreError> {
        match owner {
            CartOwner::User(user_id) => {
                // Of concurrent creators one inserts; the others' inserts
                // wait for it, do nothing, and read its cart.
                sqlx::query(
                    "INSERT INTO carts (id, user_id, created_at, updated_at) \
                     VALUES ($1, $2, $3, $3) ON CONFLICT (user_id) DO NOTHING",
                )
                .bind(id)
                .bind(user_id)
                .bind(now)
                .execute(&self.primary()?)
                .await
                .map_err(db)?;
                sqlx::query_scalar("SELECT id FROM carts WHERE user_id = $1")
                    .bind(user_id)
                    .fetch_one(&self.primary()?)
                    .await
                    .map_err(db)
            }
            CartOwner::Guest { token_hash } => {
                sqlx::query(
                    "INSERT INTO carts (id, token_hash, created_at, updated_at) \
                     VALUES ($1, $2, $3, $3)",
                )
                .bind(id)
                .bind(token_hash)
                .bind(now)
                .execute(&self.primary()?)
                .await
                .map_err(db)?;
                Ok(id)
            }
        }
    }

    async fn find_cart(&self, owner: &CartOwner) -> Result<Option<Uuid>, StoreError> {
        let query = match owner {
            CartOwner::User(user_id) => {
                sqlx::query_scalar("SELECT id FROM carts WHERE user_id = $1").bind(*user_id)
            }
            CartOwner::Guest { token_hash } => {
                sqlx::query_scalar("SELECT id FROM carts WHERE token_hash = $1")
                    .bind(token_hash.as_str())
            }
        };
        query.fetch_optional(&self.primary()?).await.map_err(db)
    }

    async fn cart_lines(&self, cart_id: Uuid) -> Result<Vec<CartLineRecord>, StoreError> {
        let rows: Vec<CartLineRow> = sqlx::query_as(
            "SELECT l.product_id, p.sku, p.name, p.image, l.quantity, l.unit_price, p.price, \
             p.archived_at IS NOT NULL, COALESCE(i.on_hand - i.reserved, 0), l.added_at \
             FROM cart_lines l JOIN products p ON p.id = l.product_id \
             LEFT JOIN inventory i ON i.product_id = l.product_id \
             WHERE l.cart_id = $1 ORDER BY l.added_at, l.product_id",
        )
        .bind(cart_id)
        .fetch_all(&self.primary()?)
        .await
        .map_err(db)?;
        rows.into_iter().map(crate::commerce::cart_line).collect()
    }

    async fn add_to_cart(
        &self,
        cart_id: Uuid,
        product_id: Uuid,
        quantity: u32,
        unit_price: i64,
        limits: CartLimits,
        now: UnixMillis,
    ) -> Result<AddOutcome, StoreError> {
        let mut tx = self.primary()?.begin_with("BEGIN").await.map_err(db)?;
        lock_carts(&mut tx, &[cart_id]).await?;
        let (lines, has_line) = line_count(&mut tx, cart_id, product_id).await?;
        if !has_line && lines >= i64::from(limits.max_lines) {
            tx.rollback().await.map_err(db)?;
            return Ok(AddOutcome::TooManyLines);
        }
        let quantity: i64 = sqlx::query_scalar(UPSERT)
            .bind(cart_id)
            .bind(product_id)
            .bind(i64::from(quantity))
            .bind(unit_price)
            .bind(now)
            .bind(i64::from(limits.max_per_line))
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        touch(&mut tx, cart_id, now).await?;
        tx.commit().await.map_err(db)?;
        Ok(AddOutcome::Added {
            quantity: crate::commerce::count(quantity)?,
        })
    }

    async fn set_cart_line(
        &self,
        cart_id: Uuid,
        product_id: Uuid,
        quantity: u32,
        now: UnixMillis,
    ) -> Result<bool, StoreError> {
        let mut tx = self.primary()?.begin_with("BEGIN").await.map_err(db)?;
        let done = if quantity == 0 {
            sqlx::query("DELETE FROM cart_lines WHERE cart_id = $1 AND product_id = $2")
                .bind(cart_id)
                .bind(product_id)
                .execute(&mut *tx)
                .await
        } else {
            sqlx::query(
                "UPDATE cart_lines SET quantity = $1 WHERE cart_id = $2 AND product_id = $3",
            )
            .bind(i64::from(quantity))
            .bind(cart_id)
            .bind(product_id)
            .execute(&mut *tx)
            .await
        }
        .map_err(db)?;
        if done.rows_affected() == 0 {
            tx.rollback().await.map_err(db)?;
            return Ok(false);
        }
        touch(&mut tx, cart_id, now).await?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    /// Deletes idle guest carts and old Idempotency-Keys.
    async fn purge_stale(
        &self,
        carts_before: i64,
        keys_before: i64,
    ) -> Result<(u64, u64), StoreError> {
        let carts = sqlx::query("DELETE FROM carts WHERE user_id IS NULL AND updated_at < $1")
            .bind(carts_before)
            .execute(&self.primary()?)
            .await
            .map_err(db)?
            .rows_affected();
        let keys = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(keys_before)
            .execute(&self.primary()?)
            .await
            .map_err(db)?
            .rows_affected();
        Ok((carts, keys))
    }

    async fn clear_cart(&self, cart_id: Uuid) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM cart_lines WHERE cart_id = $1")
            .bind(cart_id)
            .execute(&self.primary()?)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn merge_carts(
        &self,
        from: Uuid,
        into: Uuid,
        limits: CartLimits,
        now: UnixMillis,
    ) -> Result<(), StoreError> {
        if from == into {
            return Ok(());
        }
        let mut tx = self.primary()?.begin_with("BEGIN").await.map_err(db)?;
        let (first, second) = if from < into {
            (from, into)
        } else {
            (into, from)
        };
        lock_carts(&mut tx, &[first, second]).await?;
        let moving: Vec<(Uuid, i64, i64, UnixMillis)> = sqlx::query_as(
            "SELECT product_id, quantity, unit_price, added_at FROM cart_lines \
             WHERE cart_id = $1 ORDER BY added_at, product_id",
        )
        .bind(from)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        for (product_id, quantity, unit_price, added_at) in moving {
            let (lines, has_line) = line_count(&mut tx, into, product_id).await?;
            if !has_line && lines >= i64::from(limits.max_lines) {
                continue;
            }
            sqlx::query(UPSERT)
                .bind(into)
                .bind(product_id)
                .bind(quantity)
                .bind(unit_price)
                .bind(added_at)
                .bind(i64::from(limits.max_per_line))
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        // Its lines go with it (ON DELETE CASCADE).
        sqlx::query("DELETE FROM carts WHERE id = $1")
            .bind(from)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        touch(&mut tx, into, now).await?;
        tx.commit().await.map_err(db)
    }

    async fn sellable(&self, product_id: Uuid) -> Result<Option<Sellable>, StoreError> {
        let row: Option<SellableRow> = sqlx::query_as(
            "SELECT p.id, p.sku, p.name, p.price, p.image, p.archived_at IS NOT NULL, \
             COALESCE(i.on_hand, 0), COALESCE(i.reserved, 0) \
             FROM products p LEFT JOIN inventory i ON i.product_id = p.id WHERE p.id = $1",
        )
        .bind(product_id)
        .fetch_optional(&self.primary()?)
        .await
        .map_err(db)?;
        row.map(crate::commerce::sellable).transpose()
    }
}

/// Adds to a line (a new one takes `$4` as its price and `$5` as
/// its time), capping the quantity at `$6`; returns the quantity.
const UPSERT: &str =
    "INSERT INTO cart_lines (cart_id, product_id, quantity, unit_price, added_at) \
     VALUES ($1, $2, LEAST($3, $6), $4, $5) \
     ON CONFLICT (cart_id, product_id) \
     DO UPDATE SET quantity = LEAST(cart_lines.quantity + excluded.quantity, $6) \
     RETURNING quantity";

/// Locks carts (in the order given; callers sort them) until the
/// transaction ends. A missing cart is a conflict: its lines would
/// break the foreign key.
async fn lock_carts(conn: &mut PgConnection, ids: &[Uuid]) -> Result<(), StoreError> {
    for id in ids {
        let found: Option<Uuid> = sqlx::query_scalar(
            "SELECT id FROM carts WHERE id = $1 \
             FOR UPDATE",
        )
        .bind(*id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
        if found.is_none() {
            return Err(StoreError::Conflict(format!("cart {id} does not exist")));
        }
    }
    Ok(())
}

/// The cart's number of lines, and whether one is for `product_id`.
async fn line_count(
    conn: &mut PgConnection,
    cart_id: Uuid,
    product_id: Uuid,
) -> Result<(i64, bool), StoreError> {
    let (lines, has_line): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(CASE WHEN product_id = $2 THEN 1 END) \
         FROM cart_lines WHERE cart_id = $1",
    )
    .bind(cart_id)
    .bind(product_id)
    .fetch_one(conn)
    .await
    .map_err(db)?;
    Ok((lines, has_line > 0))
}

async fn touch(conn: &mut PgConnection, cart_id: Uuid, now: UnixMillis) -> Result<(), StoreError> {
    sqlx::query("UPDATE carts SET updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(cart_id)
        .execute(conn)
        .await
        .map_err(db)?;
    Ok(())
}
