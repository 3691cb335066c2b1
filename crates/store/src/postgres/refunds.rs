//! Refunds (the `RefundStore` port; see `crate::commerce` for the shared
//! guarantees). Starting one locks the order and checks what is left to
//! refund in the same transaction; settling one that brings the refunded
//! total to what was paid moves the order to `refunded`.

use emporium_domain::identity::UnixMillis;
use emporium_domain::orders::OrderStatus;
use emporium_domain::payments::{
    NewRefund, Refund, RefundJob, RefundSettlement, RefundStart, RefundStatus,
};
use emporium_domain::ports::RefundStore;
use emporium_domain::StoreError;
use sqlx::PgConnection;
use uuid::Uuid;

use super::PgStore;
use crate::commerce::RefundRow;
use crate::error::db;

impl RefundStore for PgStore {
    async fn start_refund(&self, r: &NewRefund) -> Result<RefundStart, StoreError> {
        let mut tx = self.primary()?.begin_with("BEGIN").await.map_err(db)?;
        let outcome = plan_refund(&mut tx, r).await?;
        if let RefundStart::Started(job) = &outcome {
            sqlx::query(
                "INSERT INTO refunds (id, order_id, payment_id, status, amount, \
                 idempotency_key, reason, actor, next_attempt_at, created_at, updated_at) \
                 SELECT $1, $2, id, 'pending', $3, $4, $5, $6, $7, $8, $8 \
                 FROM payments WHERE order_id = $2 AND status = 'succeeded' \
                 AND orphaned = $9 ORDER BY id LIMIT 1",
            )
            .bind(job.id)
            .bind(job.order_id)
            .bind(job.amount)
            .bind(&job.idempotency_key)
            .bind(&r.reason)
            .bind(&r.actor)
            .bind(r.lease_until)
            .bind(r.created_at)
            .bind(false)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            tx.commit().await.map_err(db)?;
        } else {
            tx.rollback().await.map_err(db)?;
        }
        Ok(outcome)
    }

    async fn settle_refund(
        &self,
        id: Uuid,
        settlement: &RefundSettlement,
        now: UnixMillis,
    ) -> Result<Option<Refund>, StoreError> {
        let mut tx = self.primary()?.begin_with("BEGIN").await.map_err(db)?;
        let current: Option<(Uuid, Uuid, String, String)> = sqlx::query_as(
            "SELECT order_id, payment_id, status, actor FROM refunds WHERE id = $1 \
             FOR UPDATE",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some((order_id, payment_id, status, actor)) = current else {
            tx.rollback().await.map_err(db)?;
            return Ok(None);
        };
        if status.parse::<RefundStatus>()? == RefundStatus::Pending {
            match settlement {
                RefundSettlement::Succeeded { reference } => {
                    sqlx::query(
                        "UPDATE refunds SET status = 'succeeded', provider_reference = $1, \
                         message = NULL, next_attempt_at = NULL, updated_at = $2 WHERE id = $3",
                    )
                    .bind(reference)
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                    close_if_refunded(&mut tx, order_id, payment_id, &actor, now).await?;
                }
                RefundSettlement::Failed { message } => {
                    sqlx::query(
                        "UPDATE refunds SET status = 'failed', message = $1, \
                         next_attempt_at = NULL, updated_at = $2 WHERE id = $3",
                    )
                    .bind(message)
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                }
                RefundSettlement::Retry {
                    error,
                    next_attempt_at,
                } => {
                    sqlx::query(
                        "UPDATE refunds SET message = $1, next_attempt_at = $2, \
                         updated_at = $3 WHERE id = $4",
                    )
                    .bind(error)
                    .bind(next_attempt_at)
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                }
            }
        }
        let refund = load_refund(&mut tx, id).await?;
        tx.commit().await.map_err(db)?;
        Ok(refund)
    }

    async fn claim_refunds(
        &self,
        now: UnixMillis,
        lease_until: UnixMillis,
        limit: u32,
    ) -> Result<Vec<RefundJob>, StoreError> {
        let rows: Vec<(Uuid, Uuid, i64, Uuid, String, UnixMillis)> = sqlx::query_as(
            "WITH due AS MATERIALIZED (SELECT id FROM refunds \
             WHERE status = 'pending' AND next_attempt_at <= $2 \
             ORDER BY next_attempt_at LIMIT $3 \
             FOR UPDATE SKIP LOCKED) \
             UPDATE refunds SET next_attempt_at = $1, updated_at = $2 \
             WHERE status = 'pending' AND next_attempt_at <= $2 \
             AND id IN (SELECT id FROM due) \
             RETURNING id, order_id, amount, payment_id, idempotency_key, created_at",
        )
        .bind(lease_until)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.primary()?)
        .await
        .map_err(db)?;
        let mut jobs = Vec::with_capacity(rows.len());
        for (id, order_id, amount, payment_id, key, created_at) in rows {
            let reference: Option<String> =
                sqlx::query_scalar("SELECT provider_reference FROM payments WHERE id = $1")
                    .bind(payment_id)
                    .fetch_optional(&self.primary()?)
                    .await
                    .map_err(db)?
                    .flatten();
            let reference = reference.ok_or_else(|| {
                StoreError::Internal(format!("refund {id}: its payment has no reference"))
            })?;
            jobs.push(RefundJob {
                id,
                order_id,
                amount,
                payment_reference: reference,
                idempotency_key: key,
                created_at,
            });
        }
        Ok(jobs)
    }
}

/// Whether (and how much of) the order can be refunded, with the
/// order row locked.
async fn plan_refund(conn: &mut PgConnection, r: &NewRefund) -> Result<RefundStart, StoreError> {
    let status: Option<String> = sqlx::query_scalar(
        "SELECT status FROM orders WHERE id = $1 \
         FOR UPDATE",
    )
    .bind(r.order_id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    let Some(status) = status else {
        return Ok(RefundStart::NotFound);
    };
    let status = crate::commerce::status(&status)?;
    if !matches!(status, OrderStatus::Paid | OrderStatus::Fulfilled) {
        return Ok(RefundStart::NotRefundable { status });
    }
    let paid: Option<(Uuid, i64, Option<String>)> = sqlx::query_as(
        "SELECT id, amount, provider_reference FROM payments \
         WHERE order_id = $1 AND status = 'succeeded' AND orphaned = $2 \
         ORDER BY id LIMIT 1",
    )
    .bind(r.order_id)
    .bind(false)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    let Some((payment_id, paid, Some(reference))) = paid else {
        return Ok(RefundStart::NotRefundable { status });
    };
    let used: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM refunds \
         WHERE payment_id = $1 AND status IN ('pending', 'succeeded')",
    )
    .bind(payment_id)
    .fetch_one(&mut *conn)
    .await
    .map_err(db)?;
    let remaining = paid.saturating_sub(used).max(0);
    let amount = r.amount.unwrap_or(remaining);
    if amount <= 0 || amount > remaining {
        return Ok(RefundStart::TooMuch { remaining });
    }
    Ok(RefundStart::Started(RefundJob {
        id: r.id,
        order_id: r.order_id,
        amount,
        payment_reference: reference,
        idempotency_key: r.idempotency_key.clone(),
        created_at: r.created_at,
    }))
}

async fn load_refund(conn: &mut PgConnection, id: Uuid) -> Result<Option<Refund>, StoreError> {
    let row: Option<RefundRow> = sqlx::query_as(
        "SELECT id, order_id, payment_id, status, amount, provider_reference, reason, actor, \
         created_at, updated_at FROM refunds \
         WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    row.map(crate::commerce::refund).transpose()
}

/// Moves the order to `refunded` once succeeded refunds of its
/// payment reach what the payment took.
async fn close_if_refunded(
    conn: &mut PgConnection,
    order_id: Uuid,
    payment_id: Uuid,
    actor: &str,
    now: UnixMillis,
) -> Result<(), StoreError> {
    // Lock the order first: the sum below then sees every refund
    // committed by a concurrent settlement that held the lock.
    let from: Option<String> = sqlx::query_scalar(
        "SELECT status FROM orders WHERE id = $1 AND status IN ('paid', 'fulfilled') \
         FOR UPDATE",
    )
    .bind(order_id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    let Some(from) = from else { return Ok(()) };
    let (paid, refunded): (i64, i64) = sqlx::query_as(
        "SELECT p.amount, CAST(COALESCE((SELECT SUM(r.amount) FROM refunds r \
         WHERE r.payment_id = p.id AND r.status = 'succeeded'), 0) AS BIGINT) \
         FROM payments p WHERE p.id = $1",
    )
    .bind(payment_id)
    .fetch_one(&mut *conn)
    .await
    .map_err(db)?;
    if refunded < paid {
        return Ok(());
    }
    sqlx::query("UPDATE orders SET status = 'refunded', updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(order_id)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    sqlx::query(
        "INSERT INTO order_events (order_id, from_status, to_status, actor, reason, at) \
         VALUES ($1, $2, 'refunded', $3, 'refunded in full', $4)",
    )
    .bind(order_id)
    .bind(from)
    .bind(actor)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}
