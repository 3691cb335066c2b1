//! The PostgreSQL adapter: connection pool, weighted `tsvector` + GIN for
//! search, `pg_trgm` over the indexed words for typo candidates,
//! migrations in `migrations/postgres/`. A search runs in a read-only
//! transaction with `SET LOCAL statement_timeout`, so the server stops a
//! costly one, and the limit ends with the transaction whatever happens.

mod commerce;
mod identity;
mod import;

use std::time::Duration;

use emporium_domain::catalog::{ImportCounts, ProductDraft, StorePage, StoreSearch};
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

    crate::reads::shared_reads!(Postgres, PATH_JSON, "p.attributes::text");

    pub async fn similar_terms(&self, word: &str) -> Result<Vec<(String, u64)>, StoreError> {
        // A word the index knows (once stemmed, as the index stores it) is
        // not a typo: answer it alone, so the domain leaves it be.
        let known: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM products WHERE search @@ to_tsquery('english', $1))",
        )
        .bind(format!("'{}'", word.replace('\'', "''")))
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        if known {
            return Ok(vec![(word.to_owned(), 1)]);
        }
        // `search_terms` (and the check above) still hold the words of
        // archived products: that only affects spelling suggestions, never
        // what a search returns.
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT term, docs FROM search_terms WHERE term % $1 OR term = $1 \
             ORDER BY similarity(term, $1) DESC, docs DESC LIMIT 30",
        )
        .bind(word)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|(t, d)| (t, u64::try_from(d).unwrap_or(0)))
            .collect())
    }

    pub async fn brands_with_prefix(
        &self,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        let pattern = format!(
            "{}%",
            prefix
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        sqlx::query_scalar(
            "SELECT min(brand) FROM products WHERE brand_key LIKE $1 AND archived_at IS NULL \
             GROUP BY brand_key ORDER BY count(*) DESC, brand_key LIMIT $2",
        )
        .bind(pattern)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)
    }

    pub async fn import(
        &self,
        drafts: &[ProductDraft],
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<ImportCounts, StoreError> {
        import::run(&self.pool, drafts, progress).await
    }
}
