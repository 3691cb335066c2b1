//! Storage adapters for Emporium's [`CatalogStore`] and [`IdentityStore`]
//! ports: SQLite (the embedded default) and PostgreSQL (scale-out). Each has
//! its own migrations and SQL; both pass the same contract tests.
//!
//! The set of backends is fixed, so [`Store`] is an enum chosen at start-up
//! rather than a trait object.

mod commerce;
mod dispatch;
mod error;
mod identity;
mod import_plan;
pub mod postgres;
mod rows;
mod sql;
pub mod sqlite;

use std::path::Path;
use std::time::Duration;

use emporium_domain::StoreError;

pub use postgres::{BreakerState, PgOptions, PgStore, ServerRole, ServerStatus};
pub use sqlite::SqliteStore;

/// How long a search may run unless configured (`store.search_timeout_ms`).
pub const DEFAULT_SEARCH_TIMEOUT: Duration = Duration::from_secs(3);

/// The configured store (catalog and identity).
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Store {
    /// Opens (creating and migrating if needed) the SQLite file `catalog.db` in `data_dir`.
    pub async fn open_sqlite(data_dir: &Path, pool_size: u32) -> Result<Store, StoreError> {
        Ok(Store::Sqlite(
            SqliteStore::open(&data_dir.join("catalog.db"), pool_size).await?,
        ))
    }

    /// Connects to PostgreSQL; run [`Store::migrate`] before use.
    pub async fn connect_postgres(url: &str, pool_size: u32) -> Result<Store, StoreError> {
        Ok(Store::Postgres(PgStore::connect(url, pool_size).await?))
    }

    /// Connects to PostgreSQL servers (a comma-separated list: a primary
    /// and replicas, told apart by asking them) with these options.
    pub async fn connect_postgres_with(
        urls: &str,
        options: PgOptions,
    ) -> Result<Store, StoreError> {
        Ok(Store::Postgres(PgStore::connect_with(urls, options).await?))
    }

    /// Whether writes can be made now: always for SQLite; for PostgreSQL,
    /// whether a primary is known and its circuit breaker is closed.
    pub fn writable(&self) -> bool {
        match self {
            Store::Sqlite(_) => true,
            Store::Postgres(s) => s.writable(),
        }
    }

    /// The PostgreSQL servers and what the store knows of each (none for
    /// SQLite).
    pub fn servers(&self) -> Vec<ServerStatus> {
        match self {
            Store::Sqlite(_) => Vec::new(),
            Store::Postgres(s) => s.servers(),
        }
    }

    /// The same store with another time limit per search: a search still
    /// running after it is stopped and answered `StoreError::TimedOut`.
    pub fn with_search_timeout(self, limit: Duration) -> Store {
        match self {
            Store::Sqlite(s) => Store::Sqlite(s.with_search_timeout(limit)),
            Store::Postgres(s) => Store::Postgres(s.with_search_timeout(limit)),
        }
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.migrate().await,
            Store::Postgres(s) => s.migrate().await,
        }
    }

    /// `sqlite` or `postgres`.
    pub fn kind(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        match self {
            Store::Sqlite(s) => s.close().await,
            Store::Postgres(s) => s.close().await,
        }
    }
}
