//! The ledger: every payment method, intent, charge, refund, idempotency
//! record and event, in one SQLite file (WAL, migrations in
//! `crates/paysim/migrations/`), so a restart loses nothing. Each
//! operation that moves money is one `BEGIN IMMEDIATE` transaction with
//! conditional updates, and writes its events in the same transaction
//! (an outbox the webhook dispatcher drains).

mod charging;
mod events;
mod idempotency;
mod intents;
mod methods;
mod refunds;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, SqlitePool, Transaction};

pub use events::{EventDelivery, StoredEvent};
pub use idempotency::{Begun, IdempotencyRequest};
pub use intents::{ConfirmOutcome, IntentFilter, NewIntent};
pub use refunds::NewRefund;

use crate::form::Metadata;
use crate::model::PaymentIntent;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The object named in the URL does not exist.
    #[error("no such {object}: {id}")]
    NotFound { object: &'static str, id: String },
    /// An object named by a parameter does not exist.
    #[error("no such {object}: {id} ({param})")]
    MissingReference {
        object: &'static str,
        id: String,
        param: &'static str,
    },
    /// The intent's status does not allow the operation.
    #[error("{message}")]
    UnexpectedState {
        message: String,
        intent: Box<PaymentIntent>,
    },
    /// A request the ledger refuses (too large a refund…).
    #[error("{message}")]
    Invalid {
        code: Option<&'static str>,
        param: Option<&'static str>,
        message: String,
    },
    #[error("ledger: {0}")]
    Db(String),
}

impl From<sqlx::Error> for LedgerError {
    fn from(e: sqlx::Error) -> Self {
        LedgerError::Db(e.to_string())
    }
}

impl From<serde_json::Error> for LedgerError {
    fn from(e: serde_json::Error) -> Self {
        LedgerError::Db(format!("json: {e}"))
    }
}

impl LedgerError {
    pub(crate) fn invalid(
        code: Option<&'static str>,
        param: Option<&'static str>,
        message: impl Into<String>,
    ) -> Self {
        LedgerError::Invalid {
            code,
            param,
            message: message.into(),
        }
    }
}

type Tx = Transaction<'static, Sqlite>;

#[derive(Clone)]
pub struct Ledger {
    pool: SqlitePool,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").finish_non_exhaustive()
    }
}

impl Ledger {
    /// Opens (creating when missing) and migrates the ledger at `path`,
    /// then forgets idempotency records left in flight by a previous
    /// process and those older than a day.
    pub async fn open(path: &Path) -> Result<Ledger, LedgerError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| LedgerError::Db(format!("creating {}: {e}", dir.display())))?;
        }
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| LedgerError::Db(format!("migration failed: {e}")))?;
        let ledger = Ledger { pool };
        ledger.forget_stale_keys(crate::model::now()).await?;
        Ok(ledger)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A write transaction: `BEGIN IMMEDIATE` takes the write lock at once,
    /// so a read-then-write inside it can never be overtaken by another
    /// writer.
    async fn begin(&self) -> Result<Tx, LedgerError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

fn metadata_json(metadata: &Metadata) -> Result<String, LedgerError> {
    Ok(serde_json::to_string(metadata)?)
}

fn metadata_of(row: &SqliteRow) -> Result<Metadata, LedgerError> {
    let text: String = row.try_get("metadata")?;
    Ok(serde_json::from_str(&text)?)
}
