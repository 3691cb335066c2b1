//! Where the catalog lives.

use std::future::Future;

use uuid::Uuid;

use crate::catalog::search::{StorePage, StoreSearch};
use crate::catalog::{Category, ImportCounts, ProductDetail, ProductDraft};
use crate::StoreError;

/// A category as a store lists it: with its parent and subtree size.
#[derive(Debug, Clone)]
pub struct CategoryRow {
    pub category: Category,
    pub parent_key: Option<i64>,
    /// Products in this category and all its descendants.
    pub product_count: u64,
}

/// Where the catalog lives (SQLite or PostgreSQL).
pub trait CatalogStore: Send + Sync + 'static {
    /// Runs one search: a page of hits (one more than `limit` when another
    /// page follows) and, when asked, the total and facets of the whole
    /// result set (ignoring `after`).
    fn search(&self, q: &StoreSearch)
        -> impl Future<Output = Result<StorePage, StoreError>> + Send;

    fn product(
        &self,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<ProductDetail>, StoreError>> + Send;

    /// Every category, parents before children.
    fn categories(&self) -> impl Future<Output = Result<Vec<CategoryRow>, StoreError>> + Send;

    /// Indexed words that may be what a mistyped `word` meant, with the
    /// number of products containing each. The domain picks among them.
    fn similar_terms(
        &self,
        word: &str,
    ) -> impl Future<Output = Result<Vec<(String, u64)>, StoreError>> + Send;

    /// Brands starting with `prefix` (case-insensitive), most products first.
    fn brands_with_prefix(
        &self,
        prefix: &str,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Upserts products by SKU in one transaction (all or nothing) and
    /// bumps the catalog version. `progress` is called with the number of
    /// products written so far.
    fn import(
        &self,
        drafts: &[ProductDraft],
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> impl Future<Output = Result<ImportCounts, StoreError>> + Send;

    /// Archives (`archived_at = now`) or restores (`archived_at = NULL`) a
    /// product. An archived product stays in the store (carts and order
    /// history refer to it) but leaves everything customers browse: search
    /// results, totals and facets, `product`, `categories` counts and
    /// `brands_with_prefix`. Bumps the catalog version in the same
    /// transaction, so cached searches are invalidated. `false` if there is
    /// no such product or nothing changed (already archived / on sale).
    fn set_archived(
        &self,
        id: Uuid,
        archived: bool,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// A number that changes whenever the catalog changes.
    fn catalog_version(&self) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// The id of the product with this SKU (archived ones included).
    fn product_id_by_sku(
        &self,
        sku: &str,
    ) -> impl Future<Output = Result<Option<Uuid>, StoreError>> + Send;

    /// Number of products.
    fn product_count(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Cheap liveness check of the store.
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}
