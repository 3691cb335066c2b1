//! What a search gives back: the search a store runs, its hits, facets and
//! pages, and the answer the shop sends.

use serde::Serialize;
use uuid::Uuid;

use super::super::cursor::After;
use super::super::model::ProductSummary;
use super::Sort;

/// The search a store runs: words already corrected, category resolved.
#[derive(Debug, Clone)]
pub struct StoreSearch {
    /// All groups must match; a group matches if any of its words does.
    pub term_groups: Vec<Vec<String>>,
    /// Match the last group's words as prefixes.
    pub prefix_last: bool,
    /// Any group may match instead of all (the fallback when all match nothing).
    pub match_any: bool,
    /// Internal key of the category whose subtree to search.
    pub category_key: Option<i64>,
    /// Lower-cased brand.
    pub brand: Option<String>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub sort: Sort,
    /// Rows to return; stores return one more when there is a next page.
    pub limit: u32,
    pub after: Option<After>,
    /// Compute total and facets (not needed for suggestions).
    pub facets: bool,
    /// Key of the category whose children the category facet counts (roots when `None`).
    pub facet_parent_key: Option<i64>,
}

/// One product found, with the keys a cursor needs.
#[derive(Debug, Clone)]
pub struct SearchHit {
    pub product: ProductSummary,
    /// The store's internal row key: the final tie-breaker.
    pub key: i64,
    /// Relevance as an integer; higher is better (0 without text).
    pub score: i64,
    pub name_key: String,
}

/// What a store returns for one search.
#[derive(Debug, Clone, Default)]
pub struct StorePage {
    pub hits: Vec<SearchHit>,
    pub total: u64,
    pub facets: StoreFacets,
}

/// Facet counts as a store computes them; the service adds names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreFacets {
    /// (category key, products in its subtree) for the facet parent's children.
    pub categories: Vec<(i64, u64)>,
    /// (brand as written, products), most first, at most 20.
    pub brands: Vec<(String, u64)>,
    /// (index into [`PRICE_BANDS`], products).
    pub price_bands: Vec<(usize, u64)>,
}

/// A price band of the price facet, in minor units: `min <= price < max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PriceBand {
    pub min: i64,
    /// `None` for the open-ended top band.
    pub max: Option<i64>,
    pub count: u64,
}

/// Lower bounds of the price bands, in minor units.
pub const PRICE_BANDS: &[i64] = &[0, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000];

/// Which band (index into [`PRICE_BANDS`]) a price falls in.
pub fn price_band(price: i64) -> usize {
    PRICE_BANDS.iter().rposition(|lo| price >= *lo).unwrap_or(0)
}

/// Counts of the current result set.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Facets {
    /// Children of the filtered category (roots without a filter), with counts of their subtrees.
    pub categories: Vec<CategoryCount>,
    /// The 20 most frequent brands.
    pub brands: Vec<BrandCount>,
    /// Non-empty price bands.
    pub price: Vec<PriceBand>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CategoryCount {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BrandCount {
    pub value: String,
    pub count: u64,
}

/// The body of `GET /api/products`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchResult {
    pub items: Vec<ProductSummary>,
    /// Products matching the query and filters.
    pub total: u64,
    pub facets: Facets,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// Set when words were corrected for typos: the words actually searched.
    pub corrected_query: Option<String>,
    /// True when no product had every word, so products with any of them are listed.
    pub relaxed: bool,
}

/// One type-ahead completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Suggestion {
    pub text: String,
    /// `brand`, `category` or `product`.
    pub kind: &'static str,
}
