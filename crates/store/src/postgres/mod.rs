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

use emporium_domain::catalog::{StorePage, StoreSearch};
use emporium_domain::StoreError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor, PgPool, Postgres};

use crate::error::db;
use crate::sql::Dialect;

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

    /// One search in a read-only transaction whose statements stop at
    /// `search_timeout` (one round trip opens it and sets the limit). A
    /// timed-out statement aborts the transaction; it is rolled back here
    /// (or, if the search is dropped half-way, by sqlx when the connection
    /// is next used), so the connection goes back to the pool clean.
    pub async fn search(&self, q: &StoreSearch) -> Result<StorePage, StoreError> {
        let ms = self.search_timeout.as_millis().max(1);
        let mut tx = self
            .pool
            .begin_with(format!(
                "BEGIN READ ONLY; SET LOCAL statement_timeout = {ms}"
            ))
            .await
            .map_err(db)?;
        let page =
            async { crate::sql::run_search!(&mut *tx, q, Postgres, Dialect::Postgres, PATH_JSON) }
                .await;
        match page {
            Ok(page) => {
                tx.commit().await.map_err(db)?;
                Ok(page)
            }
            Err(e) => {
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    }
}
