//! Stock on hand (see `crate::commerce` for the guarantees). A change
//! runs in one write transaction that first makes sure the product has an
//! inventory row (`INSERT … ON CONFLICT DO NOTHING`, undone if the change
//! is refused) and then locks it (SQLite: `BEGIN IMMEDIATE`; PostgreSQL:
//! `FOR UPDATE`), so the reserved count it checks against cannot move
//! before it writes; the update itself is conditional on the bounds
//! (`reserved <= on_hand <= MAX_ON_HAND`), and the movement is recorded in
//! the same transaction.

use emporium_domain::identity::UnixMillis;
use emporium_domain::inventory::{
    StockChange, StockChangeOutcome, StockLevel, StockMovement, MAX_ON_HAND,
};
use emporium_domain::ports::StockStore;
use emporium_domain::StoreError;
use sqlx::PgConnection;
use uuid::Uuid;

use super::PgStore;
use crate::commerce::{count, MovementRow};
use crate::error::db;

impl StockStore for PgStore {
    async fn stock(&self, product_id: Uuid) -> Result<Option<StockLevel>, StoreError> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT on_hand, reserved FROM inventory WHERE product_id = $1")
                .bind(product_id)
                .fetch_optional(&self.primary()?)
                .await
                .map_err(db)?;
        row.map(|(on_hand, reserved)| {
            Ok(StockLevel {
                product_id,
                on_hand: count(on_hand)?,
                reserved: count(reserved)?,
            })
        })
        .transpose()
    }

    async fn change_stock(
        &self,
        product_id: Uuid,
        change: StockChange,
        reason: &str,
        actor: &str,
        now: UnixMillis,
    ) -> Result<StockChangeOutcome, StoreError> {
        let mut tx = self.primary()?.begin_with("BEGIN").await.map_err(db)?;
        // A product without a row has none on hand and none reserved.
        ensure_row(&mut tx, product_id, now).await?;
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT on_hand, reserved FROM inventory WHERE product_id = $1 \
             FOR UPDATE",
        )
        .bind(product_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some((before, reserved)) = row else {
            tx.rollback().await.map_err(db)?;
            return Ok(StockChangeOutcome::UnknownProduct);
        };
        // The domain bounds a delta to ± MAX_ON_HAND, so this is exact.
        let after = match change {
            StockChange::Set(n) => i64::from(n),
            StockChange::Adjust(delta) => before.saturating_add(delta),
        };
        let max = i64::from(MAX_ON_HAND);
        if after < reserved || after < 0 {
            tx.rollback().await.map_err(db)?;
            return Ok(StockChangeOutcome::BelowReserved {
                on_hand: before,
                reserved: count(reserved)?,
                requested_on_hand: after,
            });
        }
        if after > max {
            tx.rollback().await.map_err(db)?;
            return Ok(StockChangeOutcome::AboveMaximum {
                on_hand: before,
                requested_on_hand: after,
            });
        }
        let level = StockLevel {
            product_id,
            on_hand: count(after)?,
            reserved: count(reserved)?,
        };
        // The row is locked, so the checks above hold; the update
        // states them again, so that it can never write a count out of
        // bounds whatever happened in between.
        let updated = sqlx::query(
            "UPDATE inventory SET on_hand = $1, updated_at = $2 \
             WHERE product_id = $3 AND reserved <= $1 AND $1 >= 0 AND $1 <= $4",
        )
        .bind(after)
        .bind(now)
        .bind(product_id)
        .bind(max)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if updated != 1 {
            tx.rollback().await.map_err(db)?;
            return Err(StoreError::Internal(format!(
                "stock of {product_id} moved while locked"
            )));
        }
        record_movement(&mut tx, product_id, (before, after), reason, actor, now).await?;
        tx.commit().await.map_err(db)?;
        Ok(StockChangeOutcome::Changed(level))
    }

    async fn stock_movements(
        &self,
        product_id: Uuid,
        limit: u32,
    ) -> Result<Vec<StockMovement>, StoreError> {
        let rows: Vec<MovementRow> = sqlx::query_as(
            "SELECT product_id, on_hand_before, on_hand_after, reason, actor, created_at \
             FROM stock_movements WHERE product_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(product_id)
        .bind(i64::from(limit))
        .fetch_all(&self.primary()?)
        .await
        .map_err(db)?;
        rows.into_iter().map(crate::commerce::movement).collect()
    }

    async fn stock_unstocked(&self, on_hand: u32, now: UnixMillis) -> Result<u64, StoreError> {
        sqlx::query(
            "INSERT INTO inventory (product_id, on_hand, reserved, updated_at) \
             SELECT p.id, $1, 0, $2 FROM products p \
             WHERE NOT EXISTS (SELECT 1 FROM inventory i WHERE i.product_id = p.id) \
             ON CONFLICT (product_id) DO NOTHING",
        )
        .bind(i64::from(on_hand))
        .bind(now)
        .execute(&self.primary()?)
        .await
        .map(|r| r.rows_affected())
        .map_err(db)
    }
}

/// Gives a product an inventory row (none on hand, none reserved) if it
/// has none.
async fn ensure_row(
    conn: &mut PgConnection,
    product_id: Uuid,
    now: UnixMillis,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO inventory (product_id, on_hand, reserved, updated_at) \
         SELECT id, 0, 0, $2 FROM products WHERE id = $1 \
         ON CONFLICT (product_id) DO NOTHING",
    )
    .bind(product_id)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// Records a change of stock on hand, `(before, after)`, for the audit
/// trail.
async fn record_movement(
    conn: &mut PgConnection,
    product_id: Uuid,
    (before, after): (i64, i64),
    reason: &str,
    actor: &str,
    now: UnixMillis,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO stock_movements \
         (product_id, on_hand_before, on_hand_after, reason, actor, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(product_id)
    .bind(before)
    .bind(after)
    .bind(reason)
    .bind(actor)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}
