//! The SQLite adapter: the embedded default. One file in WAL mode (readers
//! never block the writer), FTS5 for search, migrations in
//! `migrations/sqlite/`. A search is stopped at its time limit by SQLite's
//! progress handler ([`TimeLimit`]), which interrupts the statement running
//! on that connection and nothing else.

mod carts;
mod catalog;
mod checkout;
mod identity;
mod import;
mod orders;
mod payments;
mod refunds;
mod stock;

use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use emporium_domain::catalog::spelling::Vocabulary;
use emporium_domain::StoreError;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::SqlitePool;
use tokio::sync::Mutex;

use crate::error::db;

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The spelling index and the catalog version it was built from.
    vocabulary: Arc<Mutex<(i64, Arc<Vocabulary>)>>,
    /// How long one search may run.
    search_timeout: Duration,
}

/// Virtual-machine steps between two looks at the clock: a fraction of a
/// millisecond of work, and a clock read costs far less than that.
const PROGRESS_STEPS: i32 = 1_000;

/// A time limit on what runs next on one connection: SQLite's progress
/// handler interrupts the running statement once the deadline has passed
/// (the statement fails with `SQLITE_INTERRUPT`, read as
/// `StoreError::TimedOut`). Lifted by [`TimeLimit::lift`]; if the search is
/// dropped half-way instead (its request timed out), dropping the limit
/// disarms the handler, so the connection goes back to the pool harmless.
struct TimeLimit {
    lifted: Arc<AtomicBool>,
}

impl TimeLimit {
    async fn set(conn: &mut SqliteConnection, limit: Duration) -> Result<TimeLimit, StoreError> {
        let lifted = Arc::new(AtomicBool::new(false));
        let deadline = Instant::now() + limit;
        let flag = lifted.clone();
        conn.lock_handle()
            .await
            .map_err(db)?
            .set_progress_handler(PROGRESS_STEPS, move || {
                flag.load(Ordering::Relaxed) || Instant::now() < deadline
            });
        Ok(TimeLimit { lifted })
    }

    /// Removes the handler (and disarms it first, should that fail).
    async fn lift(self, conn: &mut SqliteConnection) {
        self.lifted.store(true, Ordering::Relaxed);
        if let Ok(mut handle) = conn.lock_handle().await {
            handle.remove_progress_handler();
        }
    }
}

impl Drop for TimeLimit {
    fn drop(&mut self) {
        self.lifted.store(true, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens `path`, creating the file if needed, and migrates it.
    pub async fn open(path: &Path, pool_size: u32) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("creating {}: {e}", dir.display())))?;
        }
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(db)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        // Switching a new file to WAL takes a lock that another process
        // opening it at the same moment may hold: such a busy error is not
        // waited out by busy_timeout, so retry a few times.
        let mut attempt = 0u64;
        let pool = loop {
            let opened = SqlitePoolOptions::new()
                .max_connections(pool_size.max(1))
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options.clone())
                .await;
            match opened {
                Ok(pool) => break pool,
                Err(e) if attempt >= 5 => return Err(db(e)),
                Err(_) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                }
            }
        };
        let store = SqliteStore {
            pool,
            vocabulary: Arc::new(Mutex::new((-1, Arc::new(Vocabulary::default())))),
            search_timeout: crate::DEFAULT_SEARCH_TIMEOUT,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies pending migrations. Two processes opening a new file at
    /// once (an auth and an api role started together) race to create the
    /// schema: SQLite has no migration lock, so the loser's migration fails
    /// and rolls back; retrying finds it applied.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut attempt = 0u64;
        loop {
            match sqlx::migrate!("./migrations/sqlite").run(&self.pool).await {
                Ok(()) => return Ok(()),
                Err(e) if attempt >= 5 => return Err(crate::error::migrate(e)),
                Err(_) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                }
            }
        }
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The same store with another time limit per search.
    pub fn with_search_timeout(mut self, limit: Duration) -> SqliteStore {
        self.search_timeout = limit;
        self
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use emporium_domain::ports::CatalogStore;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn processes_opening_a_new_file_at_once_both_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        let opens: Vec<_> = (0..4)
            .map(|_| {
                let path = path.clone();
                tokio::spawn(async move { SqliteStore::open(&path, 2).await })
            })
            .collect();
        for o in opens {
            let store = o.await.unwrap().unwrap();
            assert_eq!(store.catalog_version().await.unwrap(), 0);
        }
    }
}
