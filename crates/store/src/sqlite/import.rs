//! Catalog import for SQLite: one transaction, upsert by SKU, unchanged
//! rows left alone (so the FTS index is not churned by a re-run).

use std::collections::{HashMap, HashSet};

use emporium_domain::catalog::{ImportCounts, ProductDraft};
use emporium_domain::StoreError;
use sqlx::{Sqlite, SqlitePool, Transaction};
use uuid::Uuid;

use crate::error::db;
use crate::import_plan;

const UPSERT: &str = "INSERT INTO products (id, sku, name, name_key, brand, brand_key, description, \
    price, currency, category_key, category_text, image, popularity, attributes) \
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
    ON CONFLICT (sku) DO UPDATE SET name = excluded.name, name_key = excluded.name_key, \
    brand = excluded.brand, brand_key = excluded.brand_key, description = excluded.description, \
    price = excluded.price, currency = excluded.currency, category_key = excluded.category_key, \
    category_text = excluded.category_text, image = excluded.image, popularity = excluded.popularity, \
    attributes = excluded.attributes, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') \
    WHERE products.name IS NOT excluded.name OR products.brand IS NOT excluded.brand \
    OR products.description IS NOT excluded.description OR products.price IS NOT excluded.price \
    OR products.currency IS NOT excluded.currency OR products.category_key IS NOT excluded.category_key \
    OR products.image IS NOT excluded.image OR products.popularity IS NOT excluded.popularity \
    OR products.attributes IS NOT excluded.attributes \
    RETURNING key";

pub(super) async fn run(
    pool: &SqlitePool,
    drafts: &[ProductDraft],
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<ImportCounts, StoreError> {
    let mut tx = pool.begin().await.map_err(db)?;
    let keys = ensure_categories(&mut tx, drafts).await?;
    let existing: HashSet<String> = sqlx::query_scalar("SELECT sku FROM products")
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?
        .into_iter()
        .collect();
    let mut counts = ImportCounts::default();
    for (i, d) in drafts.iter().enumerate() {
        let category_key = keys
            .get(&import_plan::slug_of(d))
            .copied()
            .ok_or_else(|| StoreError::Internal("category missing after insert".into()))?;
        let attributes = serde_json::to_string(&d.attributes)
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let written: Option<i64> = sqlx::query_scalar(UPSERT)
            .bind(Uuid::now_v7())
            .bind(d.sku.as_str())
            .bind(&d.name)
            .bind(d.name.to_lowercase())
            .bind(&d.brand)
            .bind(d.brand.as_ref().map(|b| b.to_lowercase()))
            .bind(&d.description)
            .bind(d.price.amount())
            .bind(d.price.currency().as_str())
            .bind(category_key)
            .bind(import_plan::category_text(d))
            .bind(&d.image)
            .bind(d.popularity)
            .bind(attributes)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        match (written, existing.contains(d.sku.as_str())) {
            (None, _) => counts.unchanged += 1,
            (Some(_), true) => counts.updated += 1,
            (Some(_), false) => counts.imported += 1,
        }
        if i % 500 == 499 {
            progress(i as u64 + 1);
        }
    }
    if counts.imported + counts.updated > 0 {
        sqlx::query("UPDATE catalog_meta SET version = version + 1 WHERE id = 1")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
    }
    tx.commit().await.map_err(db)?;
    // Fresh statistics let the planner pick, say, the popularity index over
    // the price index for a broad price filter.
    if counts.imported + counts.updated > 0 {
        // Merge the FTS index's segments written by the bulk load into one
        // b-tree, so queries read one segment instead of dozens.
        sqlx::query("INSERT INTO products_fts (products_fts) VALUES ('optimize')")
            .execute(pool)
            .await
            .map_err(db)?;
        sqlx::query("ANALYZE").execute(pool).await.map_err(db)?;
    }
    progress(drafts.len() as u64);
    Ok(counts)
}

/// Creates the categories the drafts need; returns every slug's key.
async fn ensure_categories(
    tx: &mut Transaction<'_, Sqlite>,
    drafts: &[ProductDraft],
) -> Result<HashMap<String, i64>, StoreError> {
    let mut keys: HashMap<String, i64> = sqlx::query_as("SELECT slug, key FROM categories")
        .fetch_all(&mut **tx)
        .await
        .map_err(db)?
        .into_iter()
        .collect();
    for c in import_plan::categories(drafts) {
        if keys.contains_key(&c.slug) {
            continue;
        }
        let parent = c.parent_slug.as_ref().and_then(|s| keys.get(s)).copied();
        let path =
            serde_json::to_string(&c.path).map_err(|e| StoreError::Internal(e.to_string()))?;
        let key: i64 = sqlx::query_scalar(
            "INSERT INTO categories (id, parent_key, slug, name, path, depth) VALUES (?, ?, ?, ?, ?, ?) RETURNING key",
        )
        .bind(Uuid::now_v7())
        .bind(parent)
        .bind(&c.slug)
        .bind(&c.name)
        .bind(path)
        .bind(c.path.len() as i64)
        .fetch_one(&mut **tx)
        .await
        .map_err(db)?;
        sqlx::query(
            "INSERT INTO category_closure (ancestor, descendant, depth) \
             SELECT ancestor, ?1, depth + 1 FROM category_closure WHERE descendant = ?2 \
             UNION ALL SELECT ?1, ?1, 0",
        )
        .bind(key)
        .bind(parent)
        .execute(&mut **tx)
        .await
        .map_err(db)?;
        keys.insert(c.slug, key);
    }
    Ok(keys)
}
