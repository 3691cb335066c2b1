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

/// Expands to the payment functions of a `payments` module: `$db` is the
/// sqlx database, `$begin` starts a write transaction, `$fu` locks the rows
/// a read returns, `$greatest` is the two-argument maximum and `$skip` is
/// appended to the queue's claim.
macro_rules! payment_sql {
    ($db:ty, $begin:literal, $fu:literal, $greatest:literal, $skip:literal) => {
        use emporium_domain::identity::UnixMillis;
        use emporium_domain::orders::OrderStatus;
        use emporium_domain::payments::{
            NewPayment, NewRefund, Payment, PaymentAnomaly, PaymentJob, PaymentStatus, QueueStats, Refund,
            RefundJob, RefundSettlement, RefundStart, RefundStatus, Settled, Settlement,
            StartOutcome,
        };
        use emporium_domain::StoreError;
        use uuid::Uuid;

        use $crate::commerce::{PaymentRow, RefundRow};
        use $crate::error::db;

        type Connection = <$db as sqlx::Database>::Connection;
        type Pool = sqlx::Pool<$db>;

        pub(super) async fn start(pool: &Pool, p: &NewPayment) -> Result<StartOutcome, StoreError> {
            let mut tx = pool.begin_with($begin).await.map_err(db)?;
            let order: Option<(String, Option<Uuid>)> = sqlx::query_as(concat!(
                "SELECT status, payment_in_flight FROM orders WHERE id = $1",
                $fu
            ))
            .bind(p.order_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
            let outcome = match order {
                None => StartOutcome::NotFound,
                Some((status, _)) if status != OrderStatus::PendingPayment.as_str() => {
                    StartOutcome::NotPayable {
                        status: $crate::commerce::status(&status)?,
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

        async fn load_payment(
            conn: &mut Connection,
            id: Uuid,
        ) -> Result<Option<Payment>, StoreError> {
            let row: Option<PaymentRow> =
                sqlx::query_as(concat!($crate::commerce::payment_columns!(), " WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db)?;
            row.map($crate::commerce::payment).transpose()
        }

        pub(super) async fn settle(
            pool: &Pool,
            id: Uuid,
            settlement: &Settlement,
            grace_ms: i64,
            now: UnixMillis,
        ) -> Result<Option<Settled>, StoreError> {
            let mut tx = pool.begin_with($begin).await.map_err(db)?;
            let current: Option<(Uuid, String)> = sqlx::query_as(concat!(
                "SELECT order_id, status FROM payments WHERE id = $1",
                $fu
            ))
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
                    sqlx::query(
                        "UPDATE payments SET status = 'succeeded', provider_reference = $1, \
                         decline_code = NULL, message = NULL, next_attempt_at = NULL, \
                         updated_at = $2 WHERE id = $3",
                    )
                    .bind(reference)
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
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
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                    if paid.rows_affected() == 1 {
                        super::orders::settle(&mut tx, order_id, true, now).await?;
                        sqlx::query(
                            "INSERT INTO order_events \
                             (order_id, from_status, to_status, actor, reason, at) \
                             VALUES ($1, 'pending_payment', 'paid', 'system', $2, $3)",
                        )
                        .bind(order_id)
                        .bind(format!("paid by card ({reference})"))
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(db)?;
                    } else {
                        orphaned = true;
                        sqlx::query("UPDATE payments SET orphaned = $1 WHERE id = $2")
                            .bind(true)
                            .bind(id)
                            .execute(&mut *tx)
                            .await
                            .map_err(db)?;
                    }
                    true
                }
                _ if !status.in_flight() => false,
                Settlement::Declined {
                    reference,
                    code,
                    message,
                } => {
                    end(&mut tx, id, order_id, "declined", reference.as_deref(), Some(code), message, grace_ms, now).await?;
                    true
                }
                Settlement::Failed { message } => {
                    end(&mut tx, id, order_id, "failed", None, None, message, grace_ms, now).await?;
                    true
                }
                Settlement::Retry {
                    error,
                    next_attempt_at,
                } => {
                    sqlx::query(
                        "UPDATE payments SET status = 'queued', message = $1, \
                         next_attempt_at = $2, updated_at = $3 WHERE id = $4",
                    )
                    .bind(error)
                    .bind(next_attempt_at)
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
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

        /// Ends an in-flight payment without money taken: the order has no
        /// payment in flight any more and stays payable at least `grace_ms`.
        #[allow(clippy::too_many_arguments, reason = "one UPDATE's bindings")]
        async fn end(
            conn: &mut Connection,
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
            sqlx::query(concat!(
                "UPDATE orders SET payment_in_flight = NULL, updated_at = $1, expires_at = ",
                $greatest,
                "(expires_at, $2) WHERE id = $3 AND payment_in_flight = $4"
            ))
            .bind(now)
            .bind(now.saturating_add(grace_ms))
            .bind(order_id)
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
            Ok(())
        }

        pub(super) async fn claim(
            pool: &Pool,
            now: UnixMillis,
            lease_until: UnixMillis,
            limit: u32,
        ) -> Result<Vec<PaymentJob>, StoreError> {
            let rows: Vec<(Uuid, Uuid, i64, String, String, String, i64, UnixMillis)> =
                sqlx::query_as(concat!(
                    // The CTE is computed once: as a plain `IN (subquery)`,
                    // PostgreSQL may re-run the subquery per row and skip
                    // the rows it just updated, claiming past `LIMIT`.
                    "WITH due AS MATERIALIZED (SELECT id FROM payments \
                     WHERE status IN ('processing', 'queued') AND next_attempt_at <= $2 \
                     ORDER BY next_attempt_at LIMIT $3",
                    $skip,
                    ") UPDATE payments SET status = 'processing', next_attempt_at = $1, \
                     attempts = attempts + 1, updated_at = $2 \
                     WHERE status IN ('processing', 'queued') AND next_attempt_at <= $2 \
                     AND id IN (SELECT id FROM due) \
                     RETURNING id, order_id, amount, currency, payment_token, \
                     idempotency_key, attempts, created_at"
                ))
                .bind(lease_until)
                .bind(now)
                .bind(i64::from(limit))
                .fetch_all(pool)
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
                            attempts: $crate::commerce::count(attempts)?,
                            created_at,
                        })
                    },
                )
                .collect()
        }

        pub(super) async fn by_id(pool: &Pool, id: Uuid) -> Result<Option<Payment>, StoreError> {
            let mut conn = pool.acquire().await.map_err(db)?;
            load_payment(&mut conn, id).await
        }

        pub(super) async fn by_reference(
            pool: &Pool,
            reference: &str,
        ) -> Result<Option<Payment>, StoreError> {
            let row: Option<PaymentRow> = sqlx::query_as(concat!(
                $crate::commerce::payment_columns!(),
                " WHERE provider_reference = $1 ORDER BY id LIMIT 1"
            ))
            .bind(reference)
            .fetch_optional(pool)
            .await
            .map_err(db)?;
            row.map($crate::commerce::payment).transpose()
        }

        pub(super) async fn stats(pool: &Pool) -> Result<QueueStats, StoreError> {
            let (queued, processing, oldest, refunds): (i64, i64, Option<i64>, i64) =
                sqlx::query_as(
                    "SELECT \
                     (SELECT COUNT(*) FROM payments WHERE status = 'queued'), \
                     (SELECT COUNT(*) FROM payments WHERE status = 'processing'), \
                     (SELECT MIN(created_at) FROM payments WHERE status = 'queued'), \
                     (SELECT COUNT(*) FROM refunds WHERE status = 'pending')",
                )
                .fetch_one(pool)
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

        pub(super) async fn event_recorded(pool: &Pool, id: &str) -> Result<bool, StoreError> {
            let found: Option<String> =
                sqlx::query_scalar("SELECT id FROM provider_events WHERE id = $1")
                    .bind(id)
                    .fetch_optional(pool)
                    .await
                    .map_err(db)?;
            Ok(found.is_some())
        }

        pub(super) async fn record_event(
            pool: &Pool,
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
            .execute(pool)
            .await
            .map_err(db)?;
            Ok(done.rows_affected() == 1)
        }

        pub(super) async fn record_anomaly(
            pool: &Pool,
            a: &PaymentAnomaly,
        ) -> Result<(), StoreError> {
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
            .execute(pool)
            .await
            .map_err(db)?;
            Ok(())
        }

        pub(super) async fn anomalies(
            pool: &Pool,
            order_id: Uuid,
        ) -> Result<Vec<PaymentAnomaly>, StoreError> {
            let rows: Vec<(Uuid, Uuid, String, String, String, i64)> = sqlx::query_as(
                "SELECT id, payment_id, event_id, reason, detail, at FROM payment_anomalies \
                 WHERE order_id = $1 ORDER BY at, id",
            )
            .bind(order_id)
            .fetch_all(pool)
            .await
            .map_err(db)?;
            Ok(rows
                .into_iter()
                .map(|(id, payment_id, event_id, reason, detail, at)| PaymentAnomaly {
                    id,
                    payment_id,
                    order_id,
                    event_id,
                    reason,
                    detail,
                    at,
                })
                .collect())
        }

        pub(super) async fn start_refund(
            pool: &Pool,
            r: &NewRefund,
        ) -> Result<RefundStart, StoreError> {
            let mut tx = pool.begin_with($begin).await.map_err(db)?;
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

        /// Whether (and how much of) the order can be refunded, with the
        /// order row locked.
        async fn plan_refund(
            conn: &mut Connection,
            r: &NewRefund,
        ) -> Result<RefundStart, StoreError> {
            let status: Option<String> = sqlx::query_scalar(concat!(
                "SELECT status FROM orders WHERE id = $1",
                $fu
            ))
            .bind(r.order_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?;
            let Some(status) = status else {
                return Ok(RefundStart::NotFound);
            };
            let status = $crate::commerce::status(&status)?;
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

        async fn load_refund(
            conn: &mut Connection,
            id: Uuid,
        ) -> Result<Option<Refund>, StoreError> {
            let row: Option<RefundRow> =
                sqlx::query_as(concat!($crate::commerce::refund_columns!(), " WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db)?;
            row.map($crate::commerce::refund).transpose()
        }

        pub(super) async fn settle_refund(
            pool: &Pool,
            id: Uuid,
            settlement: &RefundSettlement,
            now: UnixMillis,
        ) -> Result<Option<Refund>, StoreError> {
            let mut tx = pool.begin_with($begin).await.map_err(db)?;
            let current: Option<(Uuid, Uuid, String, String)> = sqlx::query_as(concat!(
                "SELECT order_id, payment_id, status, actor FROM refunds WHERE id = $1",
                $fu
            ))
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

        /// Moves the order to `refunded` once succeeded refunds of its
        /// payment reach what the payment took.
        async fn close_if_refunded(
            conn: &mut Connection,
            order_id: Uuid,
            payment_id: Uuid,
            actor: &str,
            now: UnixMillis,
        ) -> Result<(), StoreError> {
            // Lock the order first: the sum below then sees every refund
            // committed by a concurrent settlement that held the lock.
            let from: Option<String> = sqlx::query_scalar(concat!(
                "SELECT status FROM orders WHERE id = $1 AND status IN ('paid', 'fulfilled')",
                $fu
            ))
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

        pub(super) async fn claim_refunds(
            pool: &Pool,
            now: UnixMillis,
            lease_until: UnixMillis,
            limit: u32,
        ) -> Result<Vec<RefundJob>, StoreError> {
            let rows: Vec<(Uuid, Uuid, i64, Uuid, String, UnixMillis)> = sqlx::query_as(concat!(
                "WITH due AS MATERIALIZED (SELECT id FROM refunds \
                 WHERE status = 'pending' AND next_attempt_at <= $2 \
                 ORDER BY next_attempt_at LIMIT $3",
                $skip,
                ") UPDATE refunds SET next_attempt_at = $1, updated_at = $2 \
                 WHERE status = 'pending' AND next_attempt_at <= $2 \
                 AND id IN (SELECT id FROM due) \
                 RETURNING id, order_id, amount, payment_id, idempotency_key, created_at"
            ))
            .bind(lease_until)
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(db)?;
            let mut jobs = Vec::with_capacity(rows.len());
            for (id, order_id, amount, payment_id, key, created_at) in rows {
                let reference: Option<String> =
                    sqlx::query_scalar("SELECT provider_reference FROM payments WHERE id = $1")
                        .bind(payment_id)
                        .fetch_optional(pool)
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
    };
}
pub(crate) use payment_sql;
