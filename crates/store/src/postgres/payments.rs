//! Payments, the payment queue, refunds and webhook events (the
//! `PaymentStore` port; see `crate::commerce` for the shared guarantees).
//!
//! A payment's state and its order's change in one transaction: starting a
//! payment sets `orders.payment_in_flight` (only on a `pending_payment`
//! order without one), and settling clears it — with a success, the order
//! becomes `paid` in the same transaction, its stock consumed. Every
//! change is conditional on the payment still being in flight, so the
//! request path, the worker on any instance and a webhook settle a payment
//! exactly once. The queue is the in-flight payments whose
//! `next_attempt_at` has passed; claiming one moves that time to the end
//! of a lease in one `UPDATE … RETURNING` (PostgreSQL skips rows another
//! worker is claiming; SQLite writers run one at a time).

use emporium_domain::identity::UnixMillis;
use emporium_domain::orders::OrderStatus;
use emporium_domain::payments::{
    NewPayment, Payment, PaymentAnomaly, PaymentJob, PaymentStatus, QueueStats, Settled,
    Settlement, StartOutcome,
};
use emporium_domain::ports::PaymentStore;
use emporium_domain::StoreError;
use sqlx::PgConnection;
use uuid::Uuid;

use super::PgStore;
use crate::commerce::PaymentRow;
use crate::error::db;

/// `id, order_id, amount, currency, payment_token, idempotency_key,
/// attempts, created_at` of a claimed payment.
type JobRow = (Uuid, Uuid, i64, String, String, String, i64, UnixMillis);

impl PaymentStore for PgStore {
    async fn start_payment(&self, p: &NewPayment) -> Result<StartOutcome, StoreError> {
        let mut tx = self.primary()?.begin_with("BEGIN").await.map_err(db)?;
        let order: Option<(String, Option<Uuid>)> = sqlx::query_as(
            "SELECT status, payment_in_flight FROM orders WHERE id = $1 \
             FOR UPDATE",
        )
        .bind(p.order_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let outcome = match order {
            None => StartOutcome::NotFound,
            Some((status, _)) if status != OrderStatus::PendingPayment.as_str() => {
                StartOutcome::NotPayable {
                    status: crate::commerce::status(&status)?,
                }
            }
            Some((_, Some(_))) => StartOutcome::InProgress,
            Some((_, None)) => {
                let made: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM payments WHERE order_id = $1")
                        .bind(p.order_id)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db)?;
                if made >= i64::from(p.max_per_order) {
                    StartOutcome::TooManyAttempts
                } else {
                    StartOutcome::Started
                }
            }
        };
        if outcome != StartOutcome::Started {
            tx.rollback().await.map_err(db)?;
            return Ok(outcome);
        }
        let marked = sqlx::query(
            "UPDATE orders SET payment_in_flight = $1, updated_at = $2 WHERE id = $3 \
             AND status = 'pending_payment' AND payment_in_flight IS NULL",
        )
        .bind(p.id)
        .bind(p.created_at)
        .bind(p.order_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if marked.rows_affected() == 0 {
            tx.rollback().await.map_err(db)?;
            return Ok(StartOutcome::InProgress);
        }
        sqlx::query(
            "INSERT INTO payments (id, order_id, status, amount, currency, payment_token, \
             idempotency_key, attempts, next_attempt_at, created_at, updated_at) \
             VALUES ($1, $2, 'processing', $3, $4, $5, $6, 1, $7, $8, $8)",
        )
        .bind(p.id)
        .bind(p.order_id)
        .bind(p.amount)
        .bind(&p.currency)
        .bind(&p.payment_token)
        .bind(&p.idempotency_key)
        .bind(p.lease_until)
        .bind(p.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(StartOutcome::Started)
    }

    async fn settle_payment(
        &self,
        id: Uuid,
        settlement: &Settlement,
        grace_ms: i64,
        now: UnixMillis,
    ) -> Result<Option<Settled>, StoreError> {
        let mut tx = self.primary()?.begin_with("BEGIN").await.map_err(db)?;
        let current: Option<(Uuid, String)> = sqlx::query_as(
            "SELECT order_id, status FROM payments WHERE id = $1 \
             FOR UPDATE",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some((order_id, status)) = current else {
            tx.rollback().await.map_err(db)?;
            return Ok(None);
        };
        let status: PaymentStatus = status.parse()?;
        let mut orphaned = false;
        let changed = match settlement {
            Settlement::Succeeded { .. } if status == PaymentStatus::Succeeded => false,
            Settlement::Succeeded { reference } => {
                orphaned = !succeed(&mut tx, id, order_id, reference, now).await?;
                true
            }
            _ if !status.in_flight() => false,
            Settlement::Declined {
                reference,
                code,
                message,
            } => {
                end(
                    &mut tx,
                    id,
                    order_id,
                    "declined",
                    reference.as_deref(),
                    Some(code),
                    message,
                    grace_ms,
                    now,
                )
                .await?;
                true
            }
            Settlement::Failed { message } => {
                end(
                    &mut tx, id, order_id, "failed", None, None, message, grace_ms, now,
                )
                .await?;
                true
            }
            Settlement::Retry {
                error,
                next_attempt_at,
            } => {
                requeue(&mut tx, id, error, *next_attempt_at, now).await?;
                true
            }
        };
        let payment = load_payment(&mut tx, id)
            .await?
            .ok_or_else(|| StoreError::Internal(format!("payment {id} vanished")))?;
        tx.commit().await.map_err(db)?;
        Ok(Some(Settled {
            payment,
            changed,
            orphaned,
        }))
    }

    async fn claim_payments(
        &self,
        now: UnixMillis,
        lease_until: UnixMillis,
        limit: u32,
    ) -> Result<Vec<PaymentJob>, StoreError> {
        // The CTE is computed once: as a plain `IN (subquery)`, PostgreSQL
        // may re-run the subquery per row and skip the rows it just updated,
        // claiming past `LIMIT`.
        let rows: Vec<JobRow> = sqlx::query_as(
            "WITH due AS MATERIALIZED (SELECT id FROM payments \
             WHERE status IN ('processing', 'queued') AND next_attempt_at <= $2 \
             ORDER BY next_attempt_at LIMIT $3 \
             FOR UPDATE SKIP LOCKED) \
             UPDATE payments SET status = 'processing', next_attempt_at = $1, \
             attempts = attempts + 1, updated_at = $2 \
             WHERE status IN ('processing', 'queued') AND next_attempt_at <= $2 \
             AND id IN (SELECT id FROM due) \
             RETURNING id, order_id, amount, currency, payment_token, \
             idempotency_key, attempts, created_at",
        )
        .bind(lease_until)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.primary()?)
        .await
        .map_err(db)?;
        rows.into_iter()
            .map(
                |(id, order_id, amount, currency, token, key, attempts, created_at)| {
                    Ok(PaymentJob {
                        id,
                        order_id,
                        amount,
                        currency,
                        payment_token: token,
                        idempotency_key: key,
                        attempts: crate::commerce::count(attempts)?,
                        created_at,
                    })
                },
            )
            .collect()
    }

    async fn payment(&self, id: Uuid) -> Result<Option<Payment>, StoreError> {
        let mut conn = self.primary()?.acquire().await.map_err(db)?;
        load_payment(&mut conn, id).await
    }

    async fn payment_by_reference(&self, reference: &str) -> Result<Option<Payment>, StoreError> {
        let row: Option<PaymentRow> = sqlx::query_as(
            "SELECT id, order_id, status, amount, currency, provider_reference, decline_code, \
             message, attempts, created_at, updated_at, orphaned FROM payments \
             WHERE provider_reference = $1 ORDER BY id LIMIT 1",
        )
        .bind(reference)
        .fetch_optional(&self.primary()?)
        .await
        .map_err(db)?;
        row.map(crate::commerce::payment).transpose()
    }

    async fn queue_stats(&self) -> Result<QueueStats, StoreError> {
        let (queued, processing, oldest, refunds): (i64, i64, Option<i64>, i64) = sqlx::query_as(
            "SELECT \
             (SELECT COUNT(*) FROM payments WHERE status = 'queued'), \
             (SELECT COUNT(*) FROM payments WHERE status = 'processing'), \
             (SELECT MIN(created_at) FROM payments WHERE status = 'queued'), \
             (SELECT COUNT(*) FROM refunds WHERE status = 'pending')",
        )
        .fetch_one(&self.primary()?)
        .await
        .map_err(db)?;
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(QueueStats {
            queued: n(queued),
            processing: n(processing),
            oldest_queued_at: oldest,
            refunds_pending: n(refunds),
        })
    }

    async fn event_recorded(&self, id: &str) -> Result<bool, StoreError> {
        let found: Option<String> =
            sqlx::query_scalar("SELECT id FROM provider_events WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.primary()?)
                .await
                .map_err(db)?;
        Ok(found.is_some())
    }

    async fn record_event(
        &self,
        id: &str,
        kind: &str,
        now: UnixMillis,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO provider_events (id, kind, received_at) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(kind)
        .bind(now)
        .execute(&self.primary()?)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn record_anomaly(&self, a: &PaymentAnomaly) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO payment_anomalies \
             (id, payment_id, order_id, event_id, reason, detail, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(a.id)
        .bind(a.payment_id)
        .bind(a.order_id)
        .bind(&a.event_id)
        .bind(&a.reason)
        .bind(&a.detail)
        .bind(a.at)
        .execute(&self.primary()?)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn anomalies(&self, order_id: Uuid) -> Result<Vec<PaymentAnomaly>, StoreError> {
        let rows: Vec<(Uuid, Uuid, String, String, String, i64)> = sqlx::query_as(
            "SELECT id, payment_id, event_id, reason, detail, at FROM payment_anomalies \
             WHERE order_id = $1 ORDER BY at, id",
        )
        .bind(order_id)
        .fetch_all(&self.primary()?)
        .await
        .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(
                |(id, payment_id, event_id, reason, detail, at)| PaymentAnomaly {
                    id,
                    payment_id,
                    order_id,
                    event_id,
                    reason,
                    detail,
                    at,
                },
            )
            .collect())
    }
}

/// Records a success; the order becomes `paid` (its stock consumed) if it
/// still waits for this payment. `false` when it does not: the payment is
/// then orphaned, money taken for an order that no longer wants it.
async fn succeed(
    conn: &mut PgConnection,
    id: Uuid,
    order_id: Uuid,
    reference: &str,
    now: UnixMillis,
) -> Result<bool, StoreError> {
    sqlx::query(
        "UPDATE payments SET status = 'succeeded', provider_reference = $1, \
         decline_code = NULL, message = NULL, next_attempt_at = NULL, \
         updated_at = $2 WHERE id = $3",
    )
    .bind(reference)
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    let paid = sqlx::query(
        "UPDATE orders SET status = 'paid', payment_in_flight = NULL, \
         updated_at = $1 WHERE id = $2 AND status = 'pending_payment' \
         AND (payment_in_flight IS NULL OR payment_in_flight = $3)",
    )
    .bind(now)
    .bind(order_id)
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    if paid.rows_affected() == 1 {
        super::orders::settle(&mut *conn, order_id, true, now).await?;
        sqlx::query(
            "INSERT INTO order_events \
             (order_id, from_status, to_status, actor, reason, at) \
             VALUES ($1, 'pending_payment', 'paid', 'system', $2, $3)",
        )
        .bind(order_id)
        .bind(format!("paid by card ({reference})"))
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
        Ok(true)
    } else {
        sqlx::query("UPDATE payments SET orphaned = $1 WHERE id = $2")
            .bind(true)
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        Ok(false)
    }
}

async fn load_payment(conn: &mut PgConnection, id: Uuid) -> Result<Option<Payment>, StoreError> {
    let row: Option<PaymentRow> = sqlx::query_as(
        "SELECT id, order_id, status, amount, currency, provider_reference, decline_code, \
         message, attempts, created_at, updated_at, orphaned FROM payments \
         WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    row.map(crate::commerce::payment).transpose()
}

/// Ends an in-flight payment without money taken: the order has no
/// payment in flight any more and stays payable at least `grace_ms`.
#[allow(clippy::too_many_arguments, reason = "one UPDATE's bindings")]
async fn end(
    conn: &mut PgConnection,
    id: Uuid,
    order_id: Uuid,
    status: &str,
    reference: Option<&str>,
    code: Option<&str>,
    message: &str,
    grace_ms: i64,
    now: UnixMillis,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE payments SET status = $1, \
         provider_reference = COALESCE($2, provider_reference), decline_code = $3, \
         message = $4, next_attempt_at = NULL, updated_at = $5 WHERE id = $6",
    )
    .bind(status)
    .bind(reference)
    .bind(code)
    .bind(message)
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    sqlx::query(
        "UPDATE orders SET payment_in_flight = NULL, updated_at = $1, \
         expires_at = GREATEST(expires_at, $2) WHERE id = $3 AND payment_in_flight = $4",
    )
    .bind(now)
    .bind(now.saturating_add(grace_ms))
    .bind(order_id)
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// Puts a payment back in the queue, due at `next_attempt_at`.
async fn requeue(
    conn: &mut PgConnection,
    id: Uuid,
    error: &str,
    next_attempt_at: UnixMillis,
    now: UnixMillis,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE payments SET status = 'queued', message = $1, \
         next_attempt_at = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(error)
    .bind(next_attempt_at)
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}
