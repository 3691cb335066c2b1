//! Search requests and results: parsing what a client typed into a
//! validated query, and the shapes a store returns.
//!
//! Query text is reduced to plain lower-case words before any store sees it,
//! so SQL or full-text syntax in `q` (`' OR 1=1 --`, `"`, `*`, `NEAR(`) can
//! only ever be searched for as text.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::cursor::After;
use super::model::{CategoryRef, ProductSummary};
use crate::{DomainError, ValidationError};

pub use super::cursor::Cursor;

/// Longest accepted `q`, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// At most this many words of `q` are searched for.
pub const MAX_TERMS: usize = 10;
const MAX_TERM_CHARS: usize = 40;
pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// English stop words (PostgreSQL's `english` list), removed by both stores
/// alike so that they rank the same words.
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "did",
    "do",
    "does",
    "doing",
    "don",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "me",
    "more",
    "most",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "s",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "t",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

/// The words of a search, lower-cased, without punctuation or stop words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText {
    terms: Vec<String>,
    /// The last word is still being typed: match it as a prefix.
    prefix_last: bool,
}

impl SearchText {
    /// Parses `q`. Returns `Ok(None)` when nothing searchable remains (empty,
    /// only punctuation or only stop words), which means "no text filter".
    pub fn parse(q: &str) -> Result<Option<SearchText>, ValidationError> {
        if q.chars().count() > MAX_QUERY_CHARS {
            return Err(ValidationError::new(
                "q",
                format!("must be at most {MAX_QUERY_CHARS} characters"),
            ));
        }
        let mut words: Vec<String> = Vec::new();
        for word in q.split(|c: char| !c.is_alphanumeric()) {
            if word.is_empty() {
                continue;
            }
            let w: String = word.to_lowercase().chars().take(MAX_TERM_CHARS).collect();
            if !words.contains(&w) {
                words.push(w);
            }
        }
        let content: Vec<String> = words
            .iter()
            .filter(|w| !STOP_WORDS.contains(&w.as_str()))
            .cloned()
            .collect();
        let mut terms = if content.is_empty() { words } else { content };
        terms.truncate(MAX_TERMS);
        if terms.is_empty() {
            return Ok(None);
        }
        // Only the word being typed (the input ends inside it) is a prefix,
        // and only once it has two letters.
        let ends_in_word = q.chars().last().is_some_and(char::is_alphanumeric);
        let typed_last = q
            .rsplit(|c: char| !c.is_alphanumeric())
            .next()
            .map(str::to_lowercase)
            .unwrap_or_default();
        let prefix_last = ends_in_word
            && typed_last.chars().count() >= 2
            && terms
                .last()
                .is_some_and(|t| typed_last.starts_with(t.as_str()));
        Ok(Some(SearchText { prefix_last, terms }))
    }

    pub fn terms(&self) -> &[String] {
        &self.terms
    }

    pub fn prefix_last(&self) -> bool {
        self.prefix_last
    }

    /// The words as one string, for display and cache keys.
    pub fn joined(&self) -> String {
        self.terms.join(" ")
    }
}

/// Result order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    Relevance,
    Popularity,
    PriceAsc,
    PriceDesc,
    Name,
}

impl Sort {
    pub fn parse(s: &str) -> Result<Sort, ValidationError> {
        Ok(match s {
            "relevance" => Sort::Relevance,
            "popularity" => Sort::Popularity,
            "price_asc" => Sort::PriceAsc,
            "price_desc" => Sort::PriceDesc,
            "name" => Sort::Name,
            _ => {
                return Err(ValidationError::new(
                    "sort",
                    "must be one of relevance, popularity, price_asc, price_desc, name",
                ))
            }
        })
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Sort::Relevance => "relevance",
            Sort::Popularity => "popularity",
            Sort::PriceAsc => "price_asc",
            Sort::PriceDesc => "price_desc",
            Sort::Name => "name",
        }
    }
}

/// The raw query parameters of a search, as the client sent them.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct SearchQuery {
    /// Words to search for (at most 200 characters).
    #[cfg_attr(feature = "openapi", param(max_length = 200))]
    pub q: Option<String>,
    /// A category id or slug; includes its descendants.
    pub category: Option<String>,
    /// Exact brand name (case-insensitive), at most 100 characters.
    #[cfg_attr(feature = "openapi", param(max_length = 100))]
    pub brand: Option<String>,
    /// Lowest price, in minor units (cents); not above `max_price`.
    #[cfg_attr(feature = "openapi", param(value_type = Option<i64>, minimum = 0))]
    pub min_price: Option<String>,
    /// Highest price, in minor units (cents).
    #[cfg_attr(feature = "openapi", param(value_type = Option<i64>, minimum = 0))]
    pub max_price: Option<String>,
    /// relevance (default with q), popularity (default without), price_asc, price_desc, name.
    #[cfg_attr(feature = "openapi", param(value_type = Option<Sort>))]
    pub sort: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[cfg_attr(feature = "openapi", param(value_type = Option<u32>, minimum = 1, maximum = 100))]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A validated search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchParams {
    pub text: Option<SearchText>,
    pub category: Option<CategoryRef>,
    pub brand: Option<String>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub sort: Sort,
    pub limit: u32,
    pub cursor: Option<Cursor>,
}

fn price(field: &str, v: &Option<String>, errors: &mut Vec<ValidationError>) -> Option<i64> {
    let v = v.as_deref()?;
    match v.trim().parse::<i64>() {
        Ok(n) if n >= 0 => Some(n),
        Ok(_) => {
            errors.push(ValidationError::new(field, "must not be negative"));
            None
        }
        Err(_) => {
            errors.push(ValidationError::new(
                field,
                "must be a whole number of minor units (cents)",
            ));
            None
        }
    }
}

impl SearchParams {
    /// Validates every parameter and reports all problems at once.
    pub fn parse(raw: &SearchQuery) -> Result<SearchParams, DomainError> {
        let mut errors = Vec::new();
        let text = match raw.q.as_deref().map(SearchText::parse) {
            Some(Ok(t)) => t,
            Some(Err(e)) => {
                errors.push(e);
                None
            }
            None => None,
        };
        let category = match raw
            .category
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(c) => CategoryRef::parse(c).map_err(|e| errors.push(e)).ok(),
            None => None,
        };
        let brand = match raw
            .brand
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(b) if b.chars().count() > 100 => {
                errors.push(ValidationError::new(
                    "brand",
                    "must be at most 100 characters",
                ));
                None
            }
            Some(b) => Some(b.to_owned()),
            None => None,
        };
        let min_price = price("min_price", &raw.min_price, &mut errors);
        let max_price = price("max_price", &raw.max_price, &mut errors);
        if let (Some(lo), Some(hi)) = (min_price, max_price) {
            if lo > hi {
                errors.push(ValidationError::new(
                    "min_price",
                    "must not exceed max_price",
                ));
            }
        }
        let sort = match raw.sort.as_deref() {
            Some(s) => Sort::parse(s).map_err(|e| errors.push(e)).ok(),
            None if text.is_some() => Some(Sort::Relevance),
            None => Some(Sort::Popularity),
        };
        let limit = match raw.limit.as_deref() {
            None => Some(DEFAULT_LIMIT),
            Some(l) => match l.trim().parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => Some(n),
                _ => {
                    errors.push(ValidationError::new(
                        "limit",
                        "must be a whole number from 1 to 100",
                    ));
                    None
                }
            },
        };
        let cursor = match raw.cursor.as_deref().filter(|c| !c.is_empty()) {
            Some(c) => Cursor::decode(c).map_err(|e| errors.push(e)).ok(),
            None => None,
        };
        let (Some(sort), Some(limit), true) = (sort, limit, errors.is_empty()) else {
            return Err(DomainError::Validation(errors));
        };
        let mut params = SearchParams {
            text,
            category,
            brand,
            min_price,
            max_price,
            sort,
            limit,
            cursor: None,
        };
        if let Some(c) = cursor {
            c.check(&params)?;
            params.cursor = Some(c);
        }
        Ok(params)
    }

    /// A stable text form of everything that decides the result set and its
    /// order (not the page): cursors are bound to it, caches keyed by it.
    pub fn canonical(&self) -> String {
        let category = match &self.category {
            Some(CategoryRef::Id(id)) => id.to_string(),
            Some(CategoryRef::Slug(s)) => s.as_str().to_owned(),
            None => String::new(),
        };
        format!(
            "q={}{}|c={}|b={}|p={:?}-{:?}|s={}",
            self.text
                .as_ref()
                .map(SearchText::joined)
                .unwrap_or_default(),
            if self.text.as_ref().is_some_and(SearchText::prefix_last) {
                "*"
            } else {
                ""
            },
            category,
            self.brand.as_deref().unwrap_or("").to_lowercase(),
            self.min_price,
            self.max_price,
            self.sort.as_str(),
        )
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Option<SearchText> {
        SearchText::parse(s).unwrap()
    }

    #[test]
    fn query_text_keeps_only_words() {
        let t = q("' OR 1=1 --").unwrap();
        assert_eq!(t.terms(), ["1"]);
        assert!(!t.prefix_last());
        assert!(q("\" * : - NEAR(").unwrap().terms() == ["near"]);
        assert_eq!(q("***"), None);
        assert_eq!(q(""), None);
    }

    #[test]
    fn last_word_is_a_prefix_while_typing() {
        let t = q("Samsung Galax").unwrap();
        assert_eq!(t.terms(), ["samsung", "galax"]);
        assert!(t.prefix_last());
        assert!(!q("samsung galaxy ").unwrap().prefix_last());
        assert!(
            !q("tv s").unwrap().prefix_last(),
            "one letter is too short for a prefix"
        );
    }

    #[test]
    fn stop_words_are_dropped_unless_nothing_else_remains() {
        assert_eq!(
            q("case for the iphone").unwrap().terms(),
            ["case", "iphone"]
        );
        assert_eq!(q("the who").unwrap().terms(), ["the", "who"]);
    }

    #[test]
    fn overlong_query_is_rejected() {
        assert!(SearchText::parse(&"a".repeat(201)).is_err());
        assert!(SearchText::parse(&"é".repeat(200)).is_ok());
    }

    fn raw(pairs: &[(&str, &str)]) -> SearchQuery {
        let mut r = SearchQuery::default();
        for (k, v) in pairs {
            let v = Some(v.to_string());
            match *k {
                "q" => r.q = v,
                "category" => r.category = v,
                "min_price" => r.min_price = v,
                "max_price" => r.max_price = v,
                "sort" => r.sort = v,
                "limit" => r.limit = v,
                "cursor" => r.cursor = v,
                _ => r.brand = v,
            }
        }
        r
    }

    fn fields(pairs: &[(&str, &str)]) -> Vec<String> {
        match SearchParams::parse(&raw(pairs)) {
            Err(DomainError::Validation(es)) => es.into_iter().map(|e| e.field).collect(),
            other => panic!("expected validation error, got {other:?}"),
        }
    }

    #[test]
    fn bad_parameters_are_named() {
        assert_eq!(fields(&[("limit", "0")]), ["limit"]);
        assert_eq!(fields(&[("limit", "101")]), ["limit"]);
        assert_eq!(fields(&[("limit", "ten")]), ["limit"]);
        assert_eq!(fields(&[("min_price", "-5")]), ["min_price"]);
        assert_eq!(fields(&[("max_price", "1.5e3")]), ["max_price"]);
        assert_eq!(
            fields(&[("min_price", "500"), ("max_price", "100")]),
            ["min_price"]
        );
        assert_eq!(fields(&[("sort", "cheapest")]), ["sort"]);
        assert_eq!(fields(&[("cursor", "!!!")]), ["cursor"]);
        assert_eq!(fields(&[("sort", "x"), ("limit", "0")]), ["sort", "limit"]);
    }

    #[test]
    fn default_sort_depends_on_text() {
        let p = SearchParams::parse(&raw(&[("q", "tv")])).unwrap();
        assert_eq!(p.sort, Sort::Relevance);
        let p = SearchParams::parse(&raw(&[])).unwrap();
        assert_eq!(p.sort, Sort::Popularity);
        assert_eq!(p.limit, DEFAULT_LIMIT);
    }

    #[test]
    fn price_bands_cover_every_price() {
        assert_eq!(price_band(0), 0);
        assert_eq!(price_band(2_499), 0);
        assert_eq!(price_band(2_500), 1);
        assert_eq!(price_band(10_000_000), PRICE_BANDS.len() - 1);
    }
}
