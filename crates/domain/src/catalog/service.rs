//! The catalog service: search, suggestions, categories and import, with
//! hot results cached behind the [`Cache`] port.
//!
//! Cache keys carry the catalog version, so a catalog change (an import in
//! this process, or in another one, seen by [`CatalogService::refresh_version`])
//! makes every older entry unreachable at once; the TTL then reclaims them.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use uuid::Uuid;

use super::cursor::{After, Cursor};
use super::import::{ImportCounts, ProductDraft};
use super::model::CategoryNode;
use super::search::{
    BrandCount, CategoryCount, Facets, PriceBand, SearchParams, SearchQuery, SearchResult,
    SearchText, Sort, StoreFacets, StorePage, StoreSearch, Suggestion, PRICE_BANDS,
};
use super::spelling::best_correction;
use super::tree::CategoryIndex;
use crate::clock::{Clock, SystemClock};
use crate::ports::{Cache, CatalogStore};
use crate::{DomainError, StoreError, ValidationError};

/// Most suggestions returned for one prefix.
pub const MAX_SUGGESTIONS: usize = 10;

/// A cached answer (a JSON body), and whether it is a stale copy served
/// because the store could not answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub body: Bytes,
    pub stale: bool,
}

pub struct CatalogService<S, C> {
    store: S,
    cache: C,
    ttl: Duration,
    /// How long past `ttl` an answer may be served while the store is
    /// unavailable (zero: never).
    stale: Duration,
    version: AtomicI64,
    categories: RwLock<Arc<CategoryIndex>>,
    clock: Arc<dyn Clock>,
}

fn internal(e: serde_json::Error) -> DomainError {
    DomainError::Store(crate::StoreError::Internal(format!(
        "serialising a response: {e}"
    )))
}

impl<S: CatalogStore, C: Cache> CatalogService<S, C> {
    pub fn new(store: S, cache: C, ttl: Duration) -> Self {
        CatalogService {
            store,
            cache,
            ttl,
            stale: Duration::ZERO,
            version: AtomicI64::new(-1),
            categories: RwLock::new(Arc::new(CategoryIndex::default())),
            clock: Arc::new(SystemClock),
        }
    }

    /// Keeps a copy of each answer for `ttl + window`, served when the
    /// store is unavailable after the answer has expired.
    pub fn with_stale_window(mut self, window: Duration) -> Self {
        self.stale = window;
        self
    }

    /// The cached answer for `key`, or `compute`'s (cached for `ttl`, with
    /// a stale copy kept for `ttl + stale`). When the store is unavailable
    /// and the answer has expired, the stale copy is served if there is
    /// one.
    async fn cached<F>(&self, key: &str, compute: F) -> Result<Answer, DomainError>
    where
        F: std::future::Future<Output = Result<Bytes, DomainError>> + Send,
    {
        let stale_key = format!("stale:{key}");
        let keep = self.stale;
        let fresh = self
            .cache
            .get_or_compute(key, self.ttl, async {
                let body = compute.await?;
                if !keep.is_zero() {
                    self.cache
                        .put(&stale_key, body.clone(), self.ttl + keep)
                        .await;
                }
                Ok(body)
            })
            .await;
        match fresh {
            Ok(body) => Ok(Answer { body, stale: false }),
            Err(e @ DomainError::Store(StoreError::Unavailable(_))) if !keep.is_zero() => {
                match self.cache.get(&stale_key).await {
                    Some(body) => Ok(Answer { body, stale: true }),
                    None => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The same service on another clock (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn cache(&self) -> &C {
        &self.cache
    }

    /// Reads the catalog version from the store; call periodically so that
    /// changes made by other processes invalidate this one's cache.
    pub async fn refresh_version(&self) -> Result<i64, DomainError> {
        let v = self.store.catalog_version().await?;
        self.version.store(v, Ordering::Release);
        Ok(v)
    }

    async fn current_version(&self) -> Result<i64, DomainError> {
        match self.version.load(Ordering::Acquire) {
            -1 => self.refresh_version().await,
            v => Ok(v),
        }
    }

    async fn category_index(&self) -> Result<Arc<CategoryIndex>, DomainError> {
        let version = self.current_version().await?;
        {
            // A poisoned lock only means another thread panicked while
            // swapping an Arc; the Arc inside is still whole.
            let idx = self.categories.read().unwrap_or_else(|e| e.into_inner());
            if idx.version == version {
                return Ok(idx.clone());
            }
        }
        let rows = self.store.categories().await?;
        let idx = Arc::new(CategoryIndex::new(version, rows));
        *self.categories.write().unwrap_or_else(|e| e.into_inner()) = idx.clone();
        Ok(idx)
    }

    /// `GET /api/products`: the JSON body, from the cache when it is hot.
    pub async fn search(&self, raw: &SearchQuery) -> Result<Answer, DomainError> {
        let params = SearchParams::parse(raw)?;
        let version = self.current_version().await?;
        let key = format!(
            "search:{version}:{}|l={}|c={}",
            params.canonical(),
            params.limit,
            params
                .cursor
                .as_ref()
                .map(Cursor::encode)
                .unwrap_or_default()
        );
        self.cached(&key, async {
            let result = self.search_params(&params).await?;
            Ok(Bytes::from(serde_json::to_vec(&result).map_err(internal)?))
        })
        .await
    }

    /// Runs a validated search against the store, bypassing the cache.
    pub async fn search_params(&self, params: &SearchParams) -> Result<SearchResult, DomainError> {
        let idx = self.category_index().await?;
        let category = match &params.category {
            Some(r) => Some(idx.resolve(r).ok_or_else(|| {
                ValidationError::new("category", "no such category (see /api/categories)")
            })?),
            None => None,
        };
        let mut q = StoreSearch {
            term_groups: params
                .text
                .as_ref()
                .map(|t| t.terms().iter().map(|w| vec![w.clone()]).collect())
                .unwrap_or_default(),
            prefix_last: params.text.as_ref().is_some_and(SearchText::prefix_last),
            match_any: false,
            category_key: category.map(|c| c.key),
            brand: params.brand.as_ref().map(|b| b.to_lowercase()),
            min_price: params.min_price,
            max_price: params.max_price,
            sort: params.sort,
            limit: params.limit,
            after: params.cursor.as_ref().map(|c| c.after.clone()),
            facets: true,
            facet_parent_key: category.map(|c| c.key),
        };
        let mut page = self.store_search(&q).await?;
        let mut corrected_query = None;
        if page.total == 0 && !q.term_groups.is_empty() && self.correct(&mut q.term_groups).await? {
            page = self.store_search(&q).await?;
            corrected_query = Some(
                q.term_groups
                    .iter()
                    .filter_map(|g| g.last().cloned())
                    .collect::<Vec<_>>()
                    .join(" "),
            );
        }
        if page.total == 0 && q.term_groups.len() > 1 {
            q.match_any = true;
            page = self.store_search(&q).await?;
        }
        let limit = params.limit as usize;
        let next_cursor = if page.hits.len() > limit {
            page.hits.truncate(limit);
            page.hits
                .last()
                .map(|h| Cursor::new(params, After::of(params.sort, h)).encode())
        } else {
            None
        };
        let facets = facets_of(page.facets, &idx);
        Ok(SearchResult {
            items: page.hits.into_iter().map(|h| h.product).collect(),
            total: page.total,
            facets,
            next_cursor,
            corrected_query,
            relaxed: q.match_any,
        })
    }

    /// One store search; one stopped at the store's time limit is
    /// [`DomainError::SearchTimedOut`].
    async fn store_search(&self, q: &StoreSearch) -> Result<StorePage, DomainError> {
        self.store.search(q).await.map_err(|e| match e {
            StoreError::TimedOut(_) => DomainError::SearchTimedOut,
            e => e.into(),
        })
    }

    /// Adds the likely intended word to each group whose word the catalog
    /// does not know. Returns whether anything was added.
    async fn correct(&self, groups: &mut [Vec<String>]) -> Result<bool, DomainError> {
        let mut changed = false;
        for group in groups.iter_mut() {
            let Some(word) = group.first().cloned() else {
                continue;
            };
            let candidates = self.store.similar_terms(&word).await?;
            if candidates.iter().any(|(c, _)| *c == word) {
                continue;
            }
            if let Some(fix) = best_correction(&word, &candidates) {
                group.push(fix.to_owned());
                changed = true;
            }
        }
        Ok(changed)
    }

    /// `GET /api/search/suggest`: up to ten completions of what is typed.
    pub async fn suggest(&self, q: &str) -> Result<Answer, DomainError> {
        let Some(text) = SearchText::parse(q)? else {
            return Ok(Answer {
                body: Bytes::from_static(br#"{"suggestions":[]}"#),
                stale: false,
            });
        };
        let version = self.current_version().await?;
        let key = format!("suggest:{version}:{}{}", text.joined(), text.prefix_last());
        self.cached(&key, self.compute_suggestions(&text)).await
    }

    async fn compute_suggestions(&self, text: &SearchText) -> Result<Bytes, DomainError> {
        let typed = text.joined();
        let mut out: Vec<Suggestion> = Vec::new();
        let push = |text: String, kind: &'static str, out: &mut Vec<Suggestion>| {
            if out.len() < MAX_SUGGESTIONS
                && !out.iter().any(|s| s.text.eq_ignore_ascii_case(&text))
            {
                out.push(Suggestion { text, kind });
            }
        };
        for b in self.store.brands_with_prefix(&typed, 3).await? {
            push(b, "brand", &mut out);
        }
        let idx = self.category_index().await?;
        let mut cats: Vec<_> = idx
            .rows()
            .iter()
            .filter(|r| r.category.name.to_lowercase().starts_with(&typed))
            .collect();
        cats.sort_by_key(|r| std::cmp::Reverse(r.product_count));
        for r in cats.into_iter().take(3) {
            push(r.category.name.clone(), "category", &mut out);
        }
        let q = StoreSearch {
            term_groups: text.terms().iter().map(|w| vec![w.clone()]).collect(),
            prefix_last: text.prefix_last(),
            match_any: false,
            category_key: None,
            brand: None,
            min_price: None,
            max_price: None,
            sort: Sort::Relevance,
            limit: MAX_SUGGESTIONS as u32,
            after: None,
            facets: false,
            facet_parent_key: None,
        };
        for hit in self.store_search(&q).await?.hits {
            push(hit.product.name, "product", &mut out);
        }
        let body =
            serde_json::to_vec(&serde_json::json!({ "suggestions": out })).map_err(internal)?;
        Ok(Bytes::from(body))
    }

    /// Loads what the first searches would otherwise wait for: the category
    /// index and the store's spelling index.
    pub async fn warm_up(&self) -> Result<(), DomainError> {
        self.category_index().await?;
        self.store.similar_terms("warmup").await?;
        Ok(())
    }

    /// `GET /api/categories`: the tree with subtree product counts.
    pub async fn categories(&self) -> Result<Vec<CategoryNode>, DomainError> {
        Ok(self.category_index().await?.tree().to_vec())
    }

    /// `GET /api/products/{id}`: the product as JSON, cached like searches
    /// (the key carries the catalog version, so a change shows at once).
    pub async fn product(&self, id: Uuid) -> Result<Answer, DomainError> {
        let version = self.current_version().await?;
        self.cached(&format!("product:{version}:{id}"), async {
            let detail = self
                .store
                .product(id)
                .await?
                .ok_or(DomainError::NotFound { what: "product" })?;
            Ok(Bytes::from(serde_json::to_vec(&detail).map_err(internal)?))
        })
        .await
    }

    /// Creates or replaces one product, found by its SKU, and makes the
    /// change visible to searches at once: its id, and whether it is new.
    pub async fn upsert(&self, draft: &ProductDraft) -> Result<(Uuid, bool), DomainError> {
        let counts = self.import(std::slice::from_ref(draft), &|_| {}).await?;
        let id = self
            .store
            .product_id_by_sku(draft.sku.as_str())
            .await?
            .ok_or(DomainError::NotFound { what: "product" })?;
        Ok((id, counts.imported > 0))
    }

    /// Archives a product (out of search, carts and checkout) or puts it
    /// back on sale, visible to searches at once; false if nothing changed
    /// (already so, or no such product).
    pub async fn set_archived(&self, id: Uuid, archived: bool) -> Result<bool, DomainError> {
        let changed = self
            .store
            .set_archived(id, archived, self.clock.now_ms())
            .await?;
        if changed {
            self.refresh_version().await?;
        }
        Ok(changed)
    }

    /// Whether the store answers (readiness).
    pub async fn ping_store(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }

    /// Imports products and makes the change visible to searches at once.
    pub async fn import(
        &self,
        drafts: &[ProductDraft],
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<ImportCounts, DomainError> {
        let counts = self.store.import(drafts, progress).await?;
        self.refresh_version().await?;
        Ok(counts)
    }
}

/// A store's facet counts as the shop shows them: categories by id, slug
/// and name, price bands by their bounds.
fn facets_of(f: StoreFacets, idx: &CategoryIndex) -> Facets {
    Facets {
        categories: f
            .categories
            .into_iter()
            .filter_map(|(key, count)| {
                idx.by_key(key).map(|c| CategoryCount {
                    id: c.id,
                    slug: c.slug.as_str().to_owned(),
                    name: c.name.clone(),
                    count,
                })
            })
            .collect(),
        brands: f
            .brands
            .into_iter()
            .map(|(value, count)| BrandCount { value, count })
            .collect(),
        price: f
            .price_bands
            .into_iter()
            .filter_map(|(band, count)| {
                Some(PriceBand {
                    min: *PRICE_BANDS.get(band)?,
                    max: PRICE_BANDS.get(band + 1).copied(),
                    count,
                })
            })
            .collect(),
    }
}
