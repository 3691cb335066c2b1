//! The catalog on Postgres (see `crate::sql` for how searches are built and
//! `crate::rows` for how their rows are read).

use emporium_domain::catalog::{ImportCounts, ProductDetail, ProductDraft, StorePage, StoreSearch};
use emporium_domain::ports::{CatalogStore, CategoryRow};
use emporium_domain::StoreError;
use sqlx::{PgConnection, PgPool, Postgres};
use uuid::Uuid;

use super::PATH_JSON;
use super::{import, PgStore, Prefer};
use crate::error::db;
use crate::rows::hit;
use crate::sql::{self, Dialect};

/// Catalog reads (search, product pages, categories, spelling, brands) go
/// to a replica within the lag bound, else to the primary, moving to the
/// other server when the first is unavailable; the rest to the primary.
impl CatalogStore for PgStore {
    async fn search(&self, q: &StoreSearch) -> Result<StorePage, StoreError> {
        let ms = self.search_timeout.as_millis().max(1);
        self.cluster
            .read(Prefer::Replica, |pool| search_on(pool, q, ms))
            .await
    }

    async fn product(&self, id: Uuid) -> Result<Option<ProductDetail>, StoreError> {
        self.cluster
            .read(Prefer::Replica, |pool| product_on(pool, id))
            .await
    }

    async fn categories(&self) -> Result<Vec<CategoryRow>, StoreError> {
        self.cluster.read(Prefer::Replica, categories_on).await
    }

    /// From the primary while it answers (so that a change is seen at
    /// once), else from a replica.
    async fn catalog_version(&self) -> Result<i64, StoreError> {
        self.cluster
            .read(Prefer::Primary, |pool| async move {
                sqlx::query_scalar("SELECT version FROM catalog_meta WHERE id = 1")
                    .fetch_one(&pool)
                    .await
                    .map_err(crate::error::db)
            })
            .await
    }

    async fn product_count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM products")
            .fetch_one(&self.primary()?)
            .await
            .map_err(crate::error::db)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Archives (or restores) a product and bumps the catalog version in
    /// the same transaction. Only a change of state counts:
    /// re-archiving keeps the first date and the version.
    async fn set_archived(&self, id: Uuid, archived: bool, now: i64) -> Result<bool, StoreError> {
        let mut tx = self.primary()?.begin().await.map_err(crate::error::db)?;
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
            .fetch_optional(&self.primary()?)
            .await
            .map_err(crate::error::db)
    }

    /// Whether any server answers (reads can be served).
    async fn ping(&self) -> Result<(), StoreError> {
        self.cluster
            .read(Prefer::Primary, |pool| async move {
                sqlx::query("SELECT 1")
                    .execute(&pool)
                    .await
                    .map_err(crate::error::db)
                    .map(drop)
            })
            .await
    }

    async fn similar_terms(&self, word: &str) -> Result<Vec<(String, u64)>, StoreError> {
        self.cluster
            .read(Prefer::Replica, |pool| similar_terms_on(pool, word))
            .await
    }

    async fn brands_with_prefix(
        &self,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        self.cluster
            .read(Prefer::Replica, |pool| brands_on(pool, prefix, limit))
            .await
    }

    async fn import(
        &self,
        drafts: &[ProductDraft],
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<ImportCounts, StoreError> {
        import::run(&self.primary()?, drafts, progress).await
    }
}

/// The one search statement, then the page's details by key (or only a
/// page query when no facets are wanted).
/// One search in a read-only transaction whose statements stop at
/// `ms` milliseconds (one round trip opens it and sets the limit). A
/// timed-out statement aborts the transaction; it is rolled back here
/// (or, if the search is dropped half-way, by sqlx when the connection
/// is next used), so the connection goes back to the pool clean.
async fn search_on(pool: PgPool, q: &StoreSearch, ms: u128) -> Result<StorePage, StoreError> {
    let mut tx = pool
        .begin_with(format!(
            "BEGIN READ ONLY; SET LOCAL statement_timeout = {ms}"
        ))
        .await
        .map_err(db)?;
    let page = run_search(&mut tx, q).await;
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

async fn product_on(pool: PgPool, id: Uuid) -> Result<Option<ProductDetail>, StoreError> {
    use sqlx::Row;
    let mut qb = sqlx::QueryBuilder::<Postgres>::new(
        "SELECT p.key, p.id, p.sku, p.name, p.name_key, p.brand, p.price, p.currency, \
         p.image, p.popularity, CAST(0 AS BIGINT), c.key, c.id, c.slug, c.name, ",
    );
    qb.push(PATH_JSON)
        .push(", p.description, ")
        .push("p.attributes::text");
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
        .fetch_optional(&pool)
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

async fn categories_on(pool: PgPool) -> Result<Vec<CategoryRow>, StoreError> {
    use sqlx::Row;
    let rows = sqlx::QueryBuilder::<Postgres>::new("SELECT c.key, c.id, c.slug, c.name, ")
        .push(PATH_JSON)
        .push(format!(
            ", c.parent_key, coalesce(n.count, 0) FROM categories c LEFT JOIN \
             (SELECT cl.ancestor, count(*) AS count FROM products p \
             JOIN category_closure cl ON cl.descendant = p.category_key \
             WHERE p.archived_at IS NULL AND p.price <= {} GROUP BY cl.ancestor) n \
             ON n.ancestor = c.key ORDER BY c.depth, c.key",
            emporium_domain::MAX_AMOUNT
        ))
        .build()
        .fetch_all(&pool)
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

async fn similar_terms_on(pool: PgPool, word: &str) -> Result<Vec<(String, u64)>, StoreError> {
    // A word the index knows (once stemmed, as the index stores it) is
    // not a typo: answer it alone, so the domain leaves it be.
    let known: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM products WHERE search @@ to_tsquery('english', $1))",
    )
    .bind(format!("'{}'", word.replace('\'', "''")))
    .fetch_one(&pool)
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
    .fetch_all(&pool)
    .await
    .map_err(db)?;
    Ok(rows
        .into_iter()
        .map(|(t, d)| (t, u64::try_from(d).unwrap_or(0)))
        .collect())
}

async fn brands_on(pool: PgPool, prefix: &str, limit: u32) -> Result<Vec<String>, StoreError> {
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
    .fetch_all(&pool)
    .await
    .map_err(db)
}

async fn run_search(conn: &mut PgConnection, q: &StoreSearch) -> Result<StorePage, StoreError> {
    if !q.facets {
        let mut page = sql::page_query::<Postgres>(q, Dialect::Postgres, PATH_JSON);
        let rows = page.build().fetch_all(&mut *conn).await.map_err(db)?;
        let hits = rows.iter().map(hit).collect::<Result<Vec<_>, _>>()?;
        return Ok(StorePage {
            hits,
            ..Default::default()
        });
    }
    let row: sql::SearchRow = sql::search_query::<Postgres>(q, Dialect::Postgres)
        .build_query_as()
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
    let (total, facets, page) = sql::read_search_row(row)?;
    let mut hits = Vec::new();
    if !page.is_empty() {
        let keys: Vec<i64> = page.iter().map(|(k, _)| *k).collect();
        let rows = sql::details_query::<Postgres>(&keys, PATH_JSON)
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
