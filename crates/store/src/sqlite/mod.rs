//! The SQLite adapter: the embedded default. One file in WAL mode (readers
//! never block the writer), FTS5 for search, migrations in
//! `migrations/sqlite/`.

mod import;

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use emporium_domain::catalog::spelling::Vocabulary;
use emporium_domain::catalog::{ImportCounts, ProductDetail, ProductDraft, StorePage, StoreSearch};
use emporium_domain::ports::CategoryRow;
use emporium_domain::StoreError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, Sqlite, SqlitePool};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::error::db;
use crate::rows::{category, hit};
use crate::sql::Dialect;

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The spelling index and the catalog version it was built from.
    vocabulary: Arc<Mutex<(i64, Arc<Vocabulary>)>>,
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
        let pool = SqlitePoolOptions::new()
            .max_connections(pool_size.max(1))
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(db)?;
        let store = SqliteStore {
            pool,
            vocabulary: Arc::new(Mutex::new((-1, Arc::new(Vocabulary::default())))),
        };
        store.migrate().await?;
        Ok(store)
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.pool)
            .await
            .map_err(crate::error::migrate)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub async fn search(&self, q: &StoreSearch) -> Result<StorePage, StoreError> {
        crate::sql::run_search!(&self.pool, q, Sqlite, Dialect::Sqlite, "c.path")
    }

    pub async fn product(&self, id: Uuid) -> Result<Option<ProductDetail>, StoreError> {
        let row = sqlx::query(
            "SELECT p.key, p.id, p.sku, p.name, p.name_key, p.brand, p.price, p.currency, p.image, \
             p.popularity, 0 AS score, c.key, c.id, c.slug, c.name, c.path, p.description, p.attributes \
             FROM products p JOIN categories c ON c.key = p.category_key WHERE p.id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let attributes: String = row.try_get(17).map_err(db)?;
        Ok(Some(ProductDetail {
            summary: hit(&row)?.product,
            description: row.try_get(16).map_err(db)?,
            attributes: serde_json::from_str::<BTreeMap<String, String>>(&attributes)
                .unwrap_or_default(),
        }))
    }

    pub async fn categories(&self) -> Result<Vec<CategoryRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.key, c.id, c.slug, c.name, c.path, c.parent_key, \
             (SELECT count(*) FROM products p JOIN category_closure cl ON cl.descendant = p.category_key \
              WHERE cl.ancestor = c.key) \
             FROM categories c ORDER BY c.depth, c.key",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(CategoryRow {
                    category: category(r, 0)?,
                    parent_key: r.try_get(5).map_err(db)?,
                    product_count: u64::try_from(r.try_get::<i64, _>(6).map_err(db)?).unwrap_or(0),
                })
            })
            .collect()
    }

    pub async fn similar_terms(&self, word: &str) -> Result<Vec<(String, u64)>, StoreError> {
        // A word the index knows (once stemmed, as the index stores it) is
        // not a typo: answer it alone, so the domain leaves it be.
        let known: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM products_fts WHERE products_fts MATCH ? LIMIT 1")
                .bind(format!("\"{}\"", word.replace('"', "\"\"")))
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?;
        if known.is_some() {
            return Ok(vec![(word.to_owned(), 1)]);
        }
        let version = self.catalog_version().await?;
        let mut guard = self.vocabulary.lock().await;
        if guard.0 != version {
            let rows: Vec<(String, i64)> = sqlx::query_as("SELECT term, doc FROM products_vocab")
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
            let vocab = Vocabulary::new(
                rows.into_iter()
                    .map(|(t, d)| (t, u64::try_from(d).unwrap_or(0))),
            );
            *guard = (version, Arc::new(vocab));
        }
        let vocab = guard.1.clone();
        drop(guard);
        Ok(vocab.candidates(word))
    }

    pub async fn brands_with_prefix(
        &self,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        // `brand_key >= p AND brand_key < p || U+10FFFF` is a prefix range the index can use.
        let end = format!("{prefix}\u{10FFFF}");
        sqlx::query_scalar(
            "SELECT min(brand) FROM products WHERE brand_key >= ? AND brand_key < ? \
             GROUP BY brand_key ORDER BY count(*) DESC, brand_key LIMIT ?",
        )
        .bind(prefix)
        .bind(end)
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

    pub async fn catalog_version(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT version FROM catalog_meta WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(db)
    }

    pub async fn product_count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM products")
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }
}
