//! Reads whose SQL is the same on both backends but for the category-path
//! and attributes expressions, written once — and the one catalog write
//! that is also the same everywhere, archiving. A macro that expands to the
//! adapters' methods, for the same reason as `sql::run_search`: a generic
//! version over sqlx's traits would need more bounds than it has lines.

/// Expands, inside an adapter's `impl`, to `product`, `categories`,
/// `catalog_version`, `product_count`, `set_archived`, `product_id_by_sku`
/// and `ping`. `$path` and `$attributes`
/// are SQL expressions giving the category path and the attributes as JSON
/// text. `product` and `categories` leave archived products out;
/// `product_count` counts them.
macro_rules! shared_reads {
    ($db:ty, $path:expr, $attributes:expr) => {
        pub async fn product(
            &self,
            id: uuid::Uuid,
        ) -> Result<Option<emporium_domain::catalog::ProductDetail>, StoreError> {
            use sqlx::Row;
            let mut qb = sqlx::QueryBuilder::<$db>::new(
                "SELECT p.key, p.id, p.sku, p.name, p.name_key, p.brand, p.price, p.currency, \
                 p.image, p.popularity, CAST(0 AS BIGINT), c.key, c.id, c.slug, c.name, ",
            );
            qb.push($path).push(", p.description, ").push($attributes);
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
                .map_err($crate::error::db)?;
            let Some(row) = row else { return Ok(None) };
            let attributes: String = row.try_get(17).map_err($crate::error::db)?;
            Ok(Some(emporium_domain::catalog::ProductDetail {
                summary: $crate::rows::hit(&row)?.product,
                description: row.try_get(16).map_err($crate::error::db)?,
                attributes: serde_json::from_str(&attributes).unwrap_or_default(),
            }))
        }

        pub async fn categories(
            &self,
        ) -> Result<Vec<emporium_domain::ports::CategoryRow>, StoreError> {
            use sqlx::Row;
            let rows = sqlx::QueryBuilder::<$db>::new("SELECT c.key, c.id, c.slug, c.name, ")
                .push($path)
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
                .map_err($crate::error::db)?;
            rows.iter()
                .map(|r| {
                    Ok(emporium_domain::ports::CategoryRow {
                        category: $crate::rows::category(r, 0)?,
                        parent_key: r.try_get(5).map_err($crate::error::db)?,
                        product_count: u64::try_from(
                            r.try_get::<i64, _>(6).map_err($crate::error::db)?,
                        )
                        .unwrap_or(0),
                    })
                })
                .collect()
        }

        pub async fn catalog_version(&self) -> Result<i64, StoreError> {
            sqlx::query_scalar("SELECT version FROM catalog_meta WHERE id = 1")
                .fetch_one(&self.pool)
                .await
                .map_err($crate::error::db)
        }

        pub async fn product_count(&self) -> Result<u64, StoreError> {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM products")
                .fetch_one(&self.pool)
                .await
                .map_err($crate::error::db)?;
            Ok(u64::try_from(n).unwrap_or(0))
        }

        /// Archives (or restores) a product and bumps the catalog version in
        /// the same transaction. Only a change of state counts:
        /// re-archiving keeps the first date and the version.
        pub async fn set_archived(
            &self,
            id: uuid::Uuid,
            archived: bool,
            now: i64,
        ) -> Result<bool, StoreError> {
            let mut tx = self.pool.begin().await.map_err($crate::error::db)?;
            let changed = sqlx::query(
                "UPDATE products SET archived_at = $1 WHERE id = $2 AND (archived_at IS NULL) = $3",
            )
            .bind(archived.then_some(now))
            .bind(id)
            .bind(archived)
            .execute(&mut *tx)
            .await
            .map_err($crate::error::db)?
            .rows_affected()
                > 0;
            if changed {
                sqlx::query("UPDATE catalog_meta SET version = version + 1 WHERE id = 1")
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::error::db)?;
            }
            tx.commit().await.map_err($crate::error::db)?;
            Ok(changed)
        }

        /// The id of the product with this SKU, archived or not.
        pub async fn product_id_by_sku(&self, sku: &str) -> Result<Option<uuid::Uuid>, StoreError> {
            sqlx::query_scalar("SELECT id FROM products WHERE sku = $1")
                .bind(sku)
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::error::db)
        }

        pub async fn ping(&self) -> Result<(), StoreError> {
            sqlx::query("SELECT 1")
                .execute(&self.pool)
                .await
                .map_err($crate::error::db)?;
            Ok(())
        }
    };
}
pub(crate) use shared_reads;
