//! Opaque keyset cursors: a page ends at a row's sort key, and the next
//! page starts strictly after it, so pages never repeat or skip rows when
//! products are added elsewhere in the order (unlike offsets).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::search::{SearchHit, SearchParams, Sort};
use crate::{DomainError, ValidationError};

/// The sort key of the last row of a page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "s", rename_all = "snake_case")]
pub enum After {
    Relevance {
        score: i64,
        popularity: i64,
        key: i64,
    },
    Popularity {
        popularity: i64,
        key: i64,
    },
    Price {
        price: i64,
        key: i64,
    },
    Name {
        name: String,
        key: i64,
    },
}

impl After {
    /// The key a page ending at `hit` continues after, for `sort`.
    pub fn of(sort: Sort, hit: &SearchHit) -> After {
        let key = hit.key;
        match sort {
            Sort::Relevance => After::Relevance {
                score: hit.score,
                popularity: hit.product.popularity,
                key,
            },
            Sort::Popularity => After::Popularity {
                popularity: hit.product.popularity,
                key,
            },
            Sort::PriceAsc | Sort::PriceDesc => After::Price {
                price: hit.product.price.amount(),
                key,
            },
            Sort::Name => After::Name {
                name: hit.name_key.clone(),
                key,
            },
        }
    }

    fn fits(&self, sort: Sort) -> bool {
        matches!(
            (self, sort),
            (After::Relevance { .. }, Sort::Relevance)
                | (After::Popularity { .. }, Sort::Popularity)
                | (After::Price { .. }, Sort::PriceAsc | Sort::PriceDesc)
                | (After::Name { .. }, Sort::Name)
        )
    }
}

/// A decoded `cursor` parameter: where the next page starts, and a
/// fingerprint of the query it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "f")]
    fingerprint: u64,
    #[serde(rename = "a")]
    pub after: After,
}

/// FNV-1a: stable across builds and instances, unlike `DefaultHasher`.
fn fingerprint(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Cursor {
    pub fn new(params: &SearchParams, after: After) -> Cursor {
        Cursor {
            fingerprint: fingerprint(&params.canonical()),
            after,
        }
    }

    pub fn encode(&self) -> String {
        // Serialising a plain struct of integers and strings cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    pub fn decode(s: &str) -> Result<Cursor, ValidationError> {
        let bad = || ValidationError::new("cursor", "is not a cursor this API returned");
        if s.len() > 1024 {
            return Err(bad());
        }
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
        serde_json::from_slice(&bytes).map_err(|_| bad())
    }

    /// A cursor only continues the query it came from.
    pub fn check(&self, params: &SearchParams) -> Result<(), DomainError> {
        if self.fingerprint != fingerprint(&params.canonical()) || !self.after.fits(params.sort) {
            return Err(ValidationError::new(
                "cursor",
                "belongs to a different query or sort; start again without a cursor",
            )
            .into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::search::SearchQuery;

    fn params(q: &str, sort: &str) -> SearchParams {
        SearchParams::parse(&SearchQuery {
            q: Some(q.into()),
            sort: Some(sort.into()),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn cursor_round_trips_and_binds_to_its_query() {
        let p = params("phone", "price_asc");
        let c = Cursor::new(&p, After::Price { price: 999, key: 7 });
        let decoded = Cursor::decode(&c.encode()).unwrap();
        assert_eq!(decoded, c);
        assert!(decoded.check(&p).is_ok());
        assert!(decoded.check(&params("tv", "price_asc")).is_err());
        assert!(decoded.check(&params("phone", "name")).is_err());
    }

    #[test]
    fn garbage_cursors_are_rejected() {
        for bad in ["", "%%%", "eyJ9", &"A".repeat(2000), "bnVsbA"] {
            assert!(Cursor::decode(bad).is_err(), "{bad:?} accepted");
        }
    }
}
