//! One search request and its rendering as a percent-encoded URL path.

use std::fmt::Write as _;

/// One search the harness sends (`GET /api/products?...`).
///
/// Prices are integer minor units (cents); `category` is a category slug.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct SearchRequest {
    /// Free-text query (`q`).
    pub q: Option<String>,
    /// Category slug (`category`).
    pub category: Option<String>,
    /// Lower price bound in cents (`min_price`).
    pub min_price: Option<i64>,
    /// Upper price bound in cents (`max_price`).
    pub max_price: Option<i64>,
}

impl SearchRequest {
    /// Renders the request as an origin-form path, e.g.
    /// `/api/products?q=red%20shoes&category=footwear&max_price=2500`.
    ///
    /// Only the fields that are set appear, in the order q, category,
    /// min_price, max_price; values are encoded with [`percent_encode`].
    /// With no field set the result is `/api/products`.
    pub fn to_path(&self) -> String {
        let mut path = String::from("/api/products");
        let mut sep = '?';
        let mut push = |key: &str, value: &str| {
            path.push(sep);
            sep = '&';
            path.push_str(key);
            path.push('=');
            path.push_str(&percent_encode(value));
        };
        if let Some(q) = &self.q {
            push("q", q);
        }
        if let Some(category) = &self.category {
            push("category", category);
        }
        if let Some(min) = self.min_price {
            push("min_price", &min.to_string());
        }
        if let Some(max) = self.max_price {
            push("max_price", &max.to_string());
        }
        path
    }
}

/// Percent-encodes `s` for use as a query-string value: the RFC 3986
/// unreserved characters (`A-Z a-z 0-9 - . _ ~`) are kept, every other UTF-8
/// byte becomes `%XX` (upper-case hex). Spaces become `%20`, not `+`.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            // Writing into a String never fails.
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_reserved_and_non_ascii() {
        assert_eq!(percent_encode("AZaz09-._~"), "AZaz09-._~");
        assert_eq!(percent_encode("red shoes"), "red%20shoes");
        assert_eq!(percent_encode("a&b=c"), "a%26b%3Dc");
        assert_eq!(percent_encode("\"quoted\""), "%22quoted%22");
        assert_eq!(percent_encode("50%+off/#?"), "50%25%2Boff%2F%23%3F");
        assert_eq!(percent_encode("café"), "caf%C3%A9");
        assert_eq!(percent_encode("₹"), "%E2%82%B9");
        assert_eq!(percent_encode(""), "");
    }

    #[test]
    fn path_has_only_set_fields_in_order() {
        let empty = SearchRequest::default();
        assert_eq!(empty.to_path(), "/api/products");

        let full = SearchRequest {
            q: Some("tom & jerry \"dvd\"".into()),
            category: Some("movies-tv".into()),
            min_price: Some(2500),
            max_price: Some(10000),
        };
        assert_eq!(
            full.to_path(),
            "/api/products?q=tom%20%26%20jerry%20%22dvd%22&category=movies-tv\
             &min_price=2500&max_price=10000"
        );

        let category_only = SearchRequest {
            category: Some("mobiles-accessories".into()),
            ..Default::default()
        };
        assert_eq!(
            category_only.to_path(),
            "/api/products?category=mobiles-accessories"
        );

        let price_only = SearchRequest {
            max_price: Some(-1),
            ..Default::default()
        };
        assert_eq!(price_only.to_path(), "/api/products?max_price=-1");
    }

    #[test]
    fn path_parses_as_uri() {
        let req = SearchRequest {
            q: Some("naïve <script> {x} | y\n".into()),
            ..Default::default()
        };
        let uri: http::Uri = req.to_path().parse().unwrap();
        assert_eq!(uri.path(), "/api/products");
    }
}
