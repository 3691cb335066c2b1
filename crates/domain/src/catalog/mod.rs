//! The catalog: products, the category tree, search and import.

pub mod cursor;
pub mod import;
pub mod model;
pub mod search;
pub mod service;
pub mod spelling;
pub mod synthetic;
pub mod tree;

pub use cursor::After;
pub use import::{ImportCounts, ImportRecord, ProductDraft, Rejection};
pub use model::{
    Category, CategoryNode, CategoryRef, CategorySlug, ProductDetail, ProductSummary, Sku,
};
pub use search::{
    Cursor, Facets, PriceBand, SearchHit, SearchParams, SearchQuery, SearchResult, SearchText,
    Sort, StoreFacets, StorePage, StoreSearch, Suggestion, PRICE_BANDS,
};
pub use service::{Answer, CatalogService};
