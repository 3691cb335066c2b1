//! Events: written in the transaction of the change they describe (so a
//! change and its webhook are never separated), with their delivery state
//! — pending until a 2xx, then delivered, or failed once the retries are
//! spent.

use serde_json::{json, Value};
use sqlx::{Row, SqliteConnection};

use super::{Ledger, LedgerError};
use crate::model::{new_id, now, now_ms};

/// The Stripe API version events are shaped after.
pub const API_VERSION: &str = "2024-06-20";

/// An event waiting for delivery.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub id: String,
    /// The exact JSON body every attempt sends.
    pub payload: String,
    pub attempts: u32,
    /// When the next attempt is due (Unix milliseconds).
    pub next_attempt_ms: i64,
}

/// How a delivery attempt went.
#[derive(Debug)]
pub enum EventDelivery {
    Delivered,
    Retry { error: String, next_attempt_ms: i64 },
    GaveUp { error: String },
}

/// Records a `kind` event about `object` inside the caller's transaction.
pub(super) async fn record_event(
    conn: &mut SqliteConnection,
    kind: &str,
    object: Value,
) -> Result<String, LedgerError> {
    let id = new_id("evt");
    let created = now();
    let payload = json!({
        "id": id,
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": { "object": object },
        "livemode": false,
        "pending_webhooks": 1,
        "request": { "id": null, "idempotency_key": null },
        "type": kind,
    });
    sqlx::query(
        "INSERT INTO events (id, type, created, payload, next_attempt_ms) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(&id)
    .bind(kind)
    .bind(created)
    .bind(payload.to_string())
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

impl Ledger {
    /// Pending events, the soonest due first.
    pub async fn pending_events(&self, limit: u32) -> Result<Vec<StoredEvent>, LedgerError> {
        let rows = sqlx::query(
            "SELECT id, payload, attempts, next_attempt_ms FROM events \
             WHERE delivery = 'pending' ORDER BY next_attempt_ms LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredEvent {
                    id: row.try_get(0)?,
                    payload: row.try_get(1)?,
                    attempts: u32::try_from(row.try_get::<i64, _>(2)?).unwrap_or(u32::MAX),
                    next_attempt_ms: row.try_get(3)?,
                })
            })
            .collect()
    }

    pub async fn record_delivery(
        &self,
        id: &str,
        outcome: &EventDelivery,
    ) -> Result<(), LedgerError> {
        let (delivery, error, next, delivered_at) = match outcome {
            EventDelivery::Delivered => ("delivered", None, None, Some(now())),
            EventDelivery::Retry {
                error,
                next_attempt_ms,
            } => ("pending", Some(error), Some(*next_attempt_ms), None),
            EventDelivery::GaveUp { error } => ("failed", Some(error), None, None),
        };
        sqlx::query(
            "UPDATE events SET delivery = ?, attempts = attempts + 1, last_error = ?, \
             next_attempt_ms = coalesce(?, next_attempt_ms), delivered_at = ? WHERE id = ?",
        )
        .bind(delivery)
        .bind(error)
        .bind(next)
        .bind(delivered_at)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// An event as the API shows it (`pending_webhooks` is 1 until delivered).
    pub async fn event(&self, id: &str) -> Result<Value, LedgerError> {
        let row = sqlx::query("SELECT payload, delivery FROM events WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => shown(row.try_get(0)?, row.try_get(1)?),
            None => Err(LedgerError::NotFound {
                object: "event",
                id: id.to_owned(),
            }),
        }
    }

    /// Events newest first, of one type if given, with whether more exist.
    pub async fn list_events(
        &self,
        kind: Option<&str>,
        limit: u32,
    ) -> Result<(Vec<Value>, bool), LedgerError> {
        let rows = sqlx::query(
            "SELECT payload, delivery FROM events WHERE (?1 IS NULL OR type = ?1) \
             ORDER BY created DESC, rowid DESC LIMIT ?2",
        )
        .bind(kind)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let has_more = rows.len() > limit as usize;
        let events = rows
            .iter()
            .take(limit as usize)
            .map(|row| shown(row.try_get(0)?, row.try_get(1)?))
            .collect::<Result<_, _>>()?;
        Ok((events, has_more))
    }
}

fn shown(payload: String, delivery: String) -> Result<Value, LedgerError> {
    let mut event: Value = serde_json::from_str(&payload)?;
    event["pending_webhooks"] = json!(i64::from(delivery == "pending"));
    Ok(event)
}
