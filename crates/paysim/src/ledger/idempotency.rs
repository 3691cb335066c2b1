//! Idempotency records: the first response to each `Idempotency-Key`,
//! kept 24 hours. Claiming a key is one atomic insert, so of concurrent
//! requests with the same key exactly one runs; the others see it in
//! flight, or its saved response once it finished.

use sqlx::Row;

use super::{Ledger, LedgerError};

/// How long a key's response is replayed.
pub const TTL_SECS: i64 = 24 * 60 * 60;

pub struct IdempotencyRequest<'a> {
    pub key: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    /// A digest of the request's parameters.
    pub fingerprint: &'a str,
}

/// What to do with a request that carries a key.
#[derive(Debug, PartialEq, Eq)]
pub enum Begun {
    /// The key is new (or expired): run the request, then save its response.
    Started,
    /// The key's first request finished: answer with its response.
    Replay { status: u16, body: Vec<u8> },
    /// The key's first request is still running.
    InFlight,
    /// The key was first used for another endpoint or other parameters.
    Mismatch { method: String, path: String },
}

impl Ledger {
    /// Claims `req.key` at time `now` (seconds), or says why not.
    pub async fn begin_idempotent(
        &self,
        req: &IdempotencyRequest<'_>,
        now: i64,
    ) -> Result<Begun, LedgerError> {
        // A key whose first request is deleted between the statements below
        // (it failed and was abandoned) is tried again.
        for _ in 0..3 {
            let claimed = sqlx::query(
                "INSERT INTO idempotency (key, method, path, fingerprint, created_at) \
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
            )
            .bind(req.key)
            .bind(req.method)
            .bind(req.path)
            .bind(req.fingerprint)
            .bind(now)
            .execute(&self.pool)
            .await?;
            if claimed.rows_affected() == 1 {
                return Ok(Begun::Started);
            }
            let renewed = sqlx::query(
                "UPDATE idempotency SET method = ?, path = ?, fingerprint = ?, status = NULL, \
                 body = NULL, created_at = ? \
                 WHERE key = ? AND status IS NOT NULL AND created_at <= ?",
            )
            .bind(req.method)
            .bind(req.path)
            .bind(req.fingerprint)
            .bind(now)
            .bind(req.key)
            .bind(now - TTL_SECS)
            .execute(&self.pool)
            .await?;
            if renewed.rows_affected() == 1 {
                return Ok(Begun::Started);
            }
            let row = sqlx::query(
                "SELECT method, path, fingerprint, status, body FROM idempotency WHERE key = ?",
            )
            .bind(req.key)
            .fetch_optional(&self.pool)
            .await?;
            let Some(row) = row else { continue };
            let (method, path, fingerprint): (String, String, String) =
                (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
            if method != req.method || path != req.path || fingerprint != req.fingerprint {
                return Ok(Begun::Mismatch { method, path });
            }
            let status: Option<i64> = row.try_get(3)?;
            return Ok(match status {
                None => Begun::InFlight,
                Some(status) => Begun::Replay {
                    status: u16::try_from(status).unwrap_or(500),
                    body: row.try_get::<Option<Vec<u8>>, _>(4)?.unwrap_or_default(),
                },
            });
        }
        Ok(Begun::InFlight)
    }

    /// Saves the response of the request that claimed `key`.
    pub async fn finish_idempotent(
        &self,
        key: &str,
        status: u16,
        body: &[u8],
    ) -> Result<(), LedgerError> {
        sqlx::query("UPDATE idempotency SET status = ?, body = ? WHERE key = ? AND status IS NULL")
            .bind(i64::from(status))
            .bind(body)
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Releases `key` after a request that did nothing, so a retry runs anew.
    pub async fn abandon_idempotent(&self, key: &str) -> Result<(), LedgerError> {
        sqlx::query("DELETE FROM idempotency WHERE key = ? AND status IS NULL")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets expired keys and those whose request never finished (its
    /// process stopped): called at start-up.
    pub(super) async fn forget_stale_keys(&self, now: i64) -> Result<(), LedgerError> {
        sqlx::query("DELETE FROM idempotency WHERE status IS NULL OR created_at <= ?")
            .bind(now - TTL_SECS)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "a test fails loudly on what it did not expect"
    )]

    use super::*;

    fn req<'a>(key: &'a str, fingerprint: &'a str) -> IdempotencyRequest<'a> {
        IdempotencyRequest {
            key,
            method: "POST",
            path: "/v1/payment_intents",
            fingerprint,
        }
    }

    #[tokio::test]
    async fn a_key_replays_for_a_day_then_runs_anew() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("l.db")).await.unwrap();
        let t0 = 1_700_000_000;
        assert_eq!(
            ledger.begin_idempotent(&req("k", "a"), t0).await.unwrap(),
            Begun::Started
        );
        assert_eq!(
            ledger.begin_idempotent(&req("k", "a"), t0).await.unwrap(),
            Begun::InFlight
        );
        ledger.finish_idempotent("k", 200, b"{}").await.unwrap();
        let replay = Begun::Replay {
            status: 200,
            body: b"{}".to_vec(),
        };
        assert_eq!(
            ledger
                .begin_idempotent(&req("k", "a"), t0 + TTL_SECS - 1)
                .await
                .unwrap(),
            replay
        );
        assert!(matches!(
            ledger
                .begin_idempotent(&req("k", "b"), t0 + 1)
                .await
                .unwrap(),
            Begun::Mismatch { .. }
        ));
        assert_eq!(
            ledger
                .begin_idempotent(&req("k", "b"), t0 + TTL_SECS)
                .await
                .unwrap(),
            Begun::Started
        );
    }

    #[tokio::test]
    async fn an_abandoned_key_can_be_used_again() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("l.db")).await.unwrap();
        assert_eq!(
            ledger.begin_idempotent(&req("k", "a"), 10).await.unwrap(),
            Begun::Started
        );
        ledger.abandon_idempotent("k").await.unwrap();
        assert_eq!(
            ledger.begin_idempotent(&req("k", "b"), 11).await.unwrap(),
            Begun::Started
        );
    }
}
