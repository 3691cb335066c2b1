//! The catalog on Sqlite (see `crate::sql` for how searches are built and
//! `crate::rows` for how their rows are read).

use std::sync::Arc;

use emporium_domain::catalog::spelling::Vocabulary;
use emporium_domain::catalog::{ImportCounts, ProductDetail, ProductDraft, StorePage, StoreSearch};
use emporium_domain::ports::{CatalogStore, CategoryRow};
use emporium_domain::StoreError;
use sqlx::{Sqlite, SqliteConnection};
use uuid::Uuid;

use super::TimeLimit;
use super::{import, SqliteStore};
use crate::error::db;
use crate::rows::hit;
use crate::sql::{self, Dialect};

impl CatalogStore for SqliteStore {
    /// One search on one connection, stopped at `search_timeout`.
    async fn search(&self, q: &StoreSearch) -> Result<StorePage, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let limit = TimeLimit::set(&mut conn, self.search_timeout).await?;
        let page = run_search(&mut conn, q).await;
        limit.lift(&mut conn).await;
        page
    }

    async fn product(&self, id: Uuid) -> Result<Option<ProductDetail>, StoreError> {
        use sqlx::Row;
        let mut qb = sqlx::QueryBuilder::<Sqlite>::new(
            "SELECT p.key, p.id, p.sku, p.name, p.name_key, p.brand, p.price, p.currency, \
             p.image, p.popularity, CAST(0 AS BIGINT), c.key, c.id, c.slug, c.name, ",
        );
        qb.push("c.path")
            .push(", p.description, ")
            .push("p.attributes");
        // An archived product is not shown to customers: none. Nor is
        // one priced above what one payment may take (see `sql`).
        qb.push(format!(
            " FROM products p JOIN categories c ON c.key = p.category_key \
             WHERE p.archived_at IS NULL AND p.price <= {} AND p.id = ",
            emporium_domain::MAX_AMOUNT
        ));
        qb.push_bind(id);
        let row = qb
            .build()
            .fetch_optional(&self.pool)
            .await
            .map_err(crate::error::db)?;
        let Some(row) = row else { return Ok(None) };
        let attributes: String = row.try_get(17).map_err(crate::error::db)?;
        Ok(Some(ProductDetail {
            summary: crate::rows::hit(&row)?.product,
            description: row.try_get(16).map_err(crate::error::db)?,
            attributes: serde_json::from_str(&attributes).unwrap_or_default(),
        }))
    }

    async fn categories(&self) -> Result<Vec<CategoryRow>, StoreError> {
        use sqlx::Row;
        let rows = sqlx::QueryBuilder::<Sqlite>::new("SELECT c.key, c.id, c.slug, c.name, ")
            .push("c.path")
            .push(format!(
                ", c.parent_key, coalesce(n.count, 0) FROM categories c LEFT JOIN \
                 (SELECT cl.ancestor, count(*) AS count FROM products p \
                 JOIN category_closure cl ON cl.descendant = p.category_key \
                 WHERE p.archived_at IS NULL AND p.price <= {} GROUP BY cl.ancestor) n \
                 ON n.ancestor = c.key ORDER BY c.depth, c.key",
                emporium_domain::MAX_AMOUNT
            ))
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(crate::error::db)?;
        rows.iter()
            .map(|r| {
                Ok(CategoryRow {
                    category: crate::rows::category(r, 0)?,
                    parent_key: r.try_get(5).map_err(crate::error::db)?,
                    product_count: u64::try_from(r.try_get::<i64, _>(6).map_err(crate::error::db)?)
                        .unwrap_or(0),
                })
            })
            .collect()
    }

    async fn catalog_version(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT version FROM catalog_meta WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(crate::error::db)
    }

    async fn product_count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM products")
            .fetch_one(&self.pool)
            .await
            .map_err(crate::error::db)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Archives (or restores) a product and bumps the catalog version in
    /// the same transaction. Only a change of state counts:
    /// re-archiving keeps the first date and the version.
    async fn set_archived(&self, id: Uuid, archived: bool, now: i64) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(crate::error::db)?;
        let changed = sqlx::query(
            "UPDATE products SET archived_at = $1 WHERE id = $2 AND (archived_at IS NULL) = $3",
        )
        .bind(archived.then_some(now))
        .bind(id)
        .bind(archived)
        .execute(&mut *tx)
        .await
        .map_err(crate::error::db)?
        .rows_affected()
            > 0;
        if changed {
            sqlx::query("UPDATE catalog_meta SET version = version + 1 WHERE id = 1")
                .execute(&mut *tx)
                .await
                .map_err(crate::error::db)?;
        }
        tx.commit().await.map_err(crate::error::db)?;
        Ok(changed)
    }

    /// The id of the product with this SKU, archived or not.
    async fn product_id_by_sku(&self, sku: &str) -> Result<Option<Uuid>, StoreError> {
        sqlx::query_scalar("SELECT id FROM products WHERE sku = $1")
            .bind(sku)
            .fetch_optional(&self.pool)
            .await
            .map_err(crate::error::db)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(crate::error::db)?;
        Ok(())
    }

    async fn similar_terms(&self, word: &str) -> Result<Vec<(String, u64)>, StoreError> {
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
        // The fts5vocab vocabulary (and the check above) still hold the
        // words of archived products: that only affects spelling
        // suggestions, never what a search returns.
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

    async fn brands_with_prefix(
        &self,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        // `brand_key >= p AND brand_key < p || U+10FFFF` is a prefix range the index can use.
        let end = format!("{prefix}\u{10FFFF}");
        sqlx::query_scalar(
            "SELECT min(brand) FROM products WHERE brand_key >= ? AND brand_key < ? \
             AND archived_at IS NULL \
             GROUP BY brand_key ORDER BY count(*) DESC, brand_key LIMIT ?",
        )
        .bind(prefix)
        .bind(end)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)
    }

    async fn import(
        &self,
        drafts: &[ProductDraft],
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<ImportCounts, StoreError> {
        import::run(&self.pool, drafts, progress).await
    }
}

/// The one search statement, then the page's details by key (or only a
/// page query when no facets are wanted).
async fn run_search(conn: &mut SqliteConnection, q: &StoreSearch) -> Result<StorePage, StoreError> {
    if !q.facets {
        let mut page = sql::page_query::<Sqlite>(q, Dialect::Sqlite, "c.path");
        let rows = page.build().fetch_all(&mut *conn).await.map_err(db)?;
        let hits = rows.iter().map(hit).collect::<Result<Vec<_>, _>>()?;
        return Ok(StorePage {
            hits,
            ..Default::default()
        });
    }
    let row: sql::SearchRow = sql::search_query::<Sqlite>(q, Dialect::Sqlite)
        .build_query_as()
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
    let (total, facets, page) = sql::read_search_row(row)?;
    let mut hits = Vec::new();
    if !page.is_empty() {
        let keys: Vec<i64> = page.iter().map(|(k, _)| *k).collect();
        let rows = sql::details_query::<Sqlite>(&keys, "c.path")
            .build()
            .fetch_all(&mut *conn)
            .await
            .map_err(db)?;
        hits = rows.iter().map(hit).collect::<Result<Vec<_>, _>>()?;
    }
    Ok(StorePage {
        hits: sql::in_page_order(&page, hits),
        total,
        facets,
    })
}
