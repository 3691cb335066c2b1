//! Ports: the traits the domain needs from the outside world. Each has one
//! contract test suite that every adapter passes.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
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

    /// A number that changes whenever the catalog changes.
    fn catalog_version(&self) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// Number of products.
    fn product_count(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Cheap liveness check of the store.
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A shared cache of serialised responses (in-process, Redis or none).
/// Failures never reach callers: a broken cache behaves as an empty one.
pub trait Cache: Send + Sync + 'static {
    fn get(&self, key: &str) -> impl Future<Output = Option<Bytes>> + Send;
    fn put(&self, key: &str, value: Bytes, ttl: Duration) -> impl Future<Output = ()> + Send;
    /// The cached value for `key`, or `compute`'s, stored for `ttl`.
    /// Concurrent callers of one key may share one computation (the
    /// in-process adapter coalesces them), so a hot key that is missing
    /// costs the store one query, not one per waiting request. Errors are
    /// not cached.
    fn get_or_compute<E, F>(
        &self,
        key: &str,
        ttl: Duration,
        compute: F,
    ) -> impl Future<Output = Result<Bytes, E>> + Send
    where
        E: Clone + Send + Sync + 'static,
        F: Future<Output = Result<Bytes, E>> + Send;
    /// Whether the cache answers; for readiness checks.
    fn ping(&self) -> impl Future<Output = Result<(), String>> + Send;
    /// `memory`, `redis` or `none`.
    fn kind(&self) -> &'static str;
}
