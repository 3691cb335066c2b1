//! The PostgreSQL adapter: connection pool, weighted `tsvector` + GIN for
//! search, `pg_trgm` over the indexed words for typo candidates,
//! migrations in `migrations/postgres/`. A search runs in a read-only
//! transaction with `SET LOCAL statement_timeout`, so the server stops a
//! costly one, and the limit ends with the transaction whatever happens.

mod carts;
mod catalog;
mod checkout;
mod identity;
mod import;
mod orders;
mod payments;
mod refunds;
mod stock;

use std::time::Duration;

use emporium_domain::StoreError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor, PgPool};

use crate::error::db;

/// Path as JSON text, so that both backends read categories alike.
const PATH_JSON: &str = "array_to_json(c.path)::text";

#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    /// How long each statement of a search may run.
    search_timeout: Duration,
}

impl PgStore {
    pub async fn connect(url: &str, pool_size: u32) -> Result<PgStore, StoreError> {
        let options: PgConnectOptions = url.parse().map_err(|_| {
            StoreError::Unavailable("DATABASE_URL is not a valid postgres:// URL".into())
        })?;
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.max(1))
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    // Typo candidates: looser than the 0.3 default, so that a
                    // swapped pair of letters in a short word still qualifies.
                    // (Ignored before pg_trgm exists, i.e. before migrations.)
                    let _ = conn
                        .execute("SET pg_trgm.similarity_threshold = 0.25")
                        .await;
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(db)?;
        Ok(PgStore {
            pool,
            search_timeout: crate::DEFAULT_SEARCH_TIMEOUT,
        })
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await
            .map_err(crate::error::migrate)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The same store with another time limit per search statement.
    pub fn with_search_timeout(mut self, limit: Duration) -> PgStore {
        self.search_timeout = limit;
        self
    }
}
