//! The PostgreSQL adapter: connection pool, weighted `tsvector` + GIN for
//! search, `pg_trgm` over the indexed words for typo candidates,
//! migrations in `migrations/postgres/`. A search runs in a read-only
//! transaction with `SET LOCAL statement_timeout`, so the server stops a
//! costly one, and the limit ends with the transaction whatever happens.

mod breaker;
mod carts;
mod catalog;
mod checkout;
mod cluster;
mod identity;
mod import;
mod orders;
mod payments;
mod refunds;
mod stock;

use std::sync::Arc;
use std::time::Duration;

use emporium_domain::StoreError;
use sqlx::PgPool;

pub use breaker::BreakerState;
use cluster::{Cluster, Prefer};
pub use cluster::{PgOptions, ServerRole, ServerStatus};

/// Path as JSON text, so that both backends read categories alike.
const PATH_JSON: &str = "array_to_json(c.path)::text";

#[derive(Clone, Debug)]
pub struct PgStore {
    cluster: Arc<Cluster>,
    /// How long each statement of a search may run.
    search_timeout: Duration,
}

impl PgStore {
    /// Connects to one server, or to several given as a comma-separated
    /// list of URLs (a primary and its replicas, in any order: each is
    /// asked what it is).
    pub async fn connect(url: &str, pool_size: u32) -> Result<PgStore, StoreError> {
        let options = PgOptions {
            pool_size,
            ..PgOptions::default()
        };
        PgStore::connect_with(url, options).await
    }

    pub async fn connect_with(urls: &str, options: PgOptions) -> Result<PgStore, StoreError> {
        let urls: Vec<&str> = urls
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .collect();
        Ok(PgStore {
            cluster: Cluster::connect(&urls, options).await?,
            search_timeout: crate::DEFAULT_SEARCH_TIMEOUT,
        })
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.primary()?)
            .await
            .map_err(crate::error::migrate)
    }

    pub async fn close(&self) {
        self.cluster.close().await;
    }

    /// The same store with another time limit per search statement.
    pub fn with_search_timeout(mut self, limit: Duration) -> PgStore {
        self.search_timeout = limit;
        self
    }

    /// Each server: its role, breaker and lag.
    pub fn servers(&self) -> Vec<ServerStatus> {
        self.cluster.status()
    }

    /// Whether a primary is known and answering (writes can be made).
    pub fn writable(&self) -> bool {
        self.cluster.writable()
    }

    /// The primary's pool: everything that must see its own writes.
    fn primary(&self) -> Result<PgPool, StoreError> {
        self.cluster.primary()
    }
}
