//! Search requests and results: parsing what a client typed into a
//! validated query, and the shapes a store returns.
//!
//! Query text is reduced to plain lower-case words before any store sees it,
//! so SQL or full-text syntax in `q` (`' OR 1=1 --`, `"`, `*`, `NEAR(`) can
//! only ever be searched for as text.

use serde::{Deserialize, Serialize};

use super::model::CategoryRef;
use crate::{DomainError, ValidationError};

pub use super::cursor::Cursor;
pub use results::*;

mod results;

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

fn brand(raw: Option<&str>, errors: &mut Vec<ValidationError>) -> Option<String> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        Some(b) if b.chars().count() > 100 => {
            errors.push(ValidationError::new(
                "brand",
                "must be at most 100 characters",
            ));
            None
        }
        Some(b) => Some(b.to_owned()),
        None => None,
    }
}

fn limit(raw: Option<&str>, errors: &mut Vec<ValidationError>) -> Option<u32> {
    match raw {
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
        let brand = brand(raw.brand.as_deref(), &mut errors);
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
        let limit = limit(raw.limit.as_deref(), &mut errors);
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

#[cfg(test)]
mod tests;
