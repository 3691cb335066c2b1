//! Catalog entities: products, categories and their identifiers.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use uuid::Uuid;

use crate::{Money, ValidationError};

/// A stock-keeping unit: the stable, human-meaningful product key
/// (`[A-Za-z0-9._-]{1,64}`). Re-importing a SKU updates that product.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Sku(String);

impl Sku {
    pub fn parse(s: &str) -> Result<Sku, ValidationError> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(Sku(s.to_owned()))
        } else {
            Err(ValidationError::new(
                "sku",
                "must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A category's URL-safe path key, e.g. `mobiles-accessories/cell-phones`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct CategorySlug(String);

impl CategorySlug {
    /// Builds the slug of a category path from its level names.
    pub fn from_path<S: AsRef<str>>(path: &[S]) -> CategorySlug {
        let parts: Vec<String> = path.iter().map(|p| slugify(p.as_ref())).collect();
        CategorySlug(parts.join("/"))
    }

    /// Accepts a slug typed by a client: lower-case words joined by `-` and `/`.
    pub fn parse(s: &str) -> Option<CategorySlug> {
        let ok = !s.is_empty()
            && s.len() <= 600
            && s.split('/').all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            });
        ok.then(|| CategorySlug(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Lower-case ASCII words joined by `-`; anything else is a separator.
/// A name with no ASCII letters or digits becomes `x` plus its hex bytes so
/// that it still has a stable, unique slug.
pub fn slugify(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for ch in name.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if ch == '\'' {
            // "Men's" reads better as "mens" than "men-s".
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        out.push('x');
        for b in name.bytes().take(16) {
            out.push_str(&format!("{b:02x}"));
        }
    }
    out
}

/// How a client names a category in a filter: by id or by slug.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CategoryRef {
    Id(Uuid),
    Slug(CategorySlug),
}

impl CategoryRef {
    pub fn parse(s: &str) -> Result<CategoryRef, ValidationError> {
        if let Ok(id) = Uuid::parse_str(s) {
            return Ok(CategoryRef::Id(id));
        }
        CategorySlug::parse(s)
            .map(CategoryRef::Slug)
            .ok_or_else(|| {
                ValidationError::new(
                    "category",
                    "must be a category id or slug (see /api/categories)",
                )
            })
    }
}

/// A category as shown on a product: id, slug, name and the names from the root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Category {
    pub id: Uuid,
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "mobiles-accessories/cell-phones"))]
    pub slug: CategorySlug,
    pub name: String,
    /// Names from the root down to and including this category.
    pub path: Vec<String>,
    /// Internal key used by stores to filter by subtree; never serialised.
    #[serde(skip)]
    pub key: i64,
}

/// A node of the category tree with the number of products in its subtree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CategoryNode {
    pub id: Uuid,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub slug: CategorySlug,
    pub name: String,
    pub path: Vec<String>,
    /// Products in this category and all its descendants.
    pub product_count: u64,
    #[cfg_attr(feature = "openapi", schema(no_recursion))]
    pub children: Vec<CategoryNode>,
}

/// A product as listed in search results.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProductSummary {
    pub id: Uuid,
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "BB-00042"))]
    pub sku: Sku,
    pub name: String,
    pub brand: Option<String>,
    pub price: Money,
    pub category: Category,
    pub image: Option<String>,
    pub popularity: i64,
}

/// A product with everything the catalog knows about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProductDetail {
    #[serde(flatten)]
    pub summary: ProductSummary,
    pub description: Option<String>,
    pub attributes: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lower_case_words() {
        let slug = CategorySlug::from_path(&["Mobiles & Accessories", "Cell Phones"]);
        assert_eq!(slug.as_str(), "mobiles-accessories/cell-phones");
        assert_eq!(slugify("Men's Clothing"), "mens-clothing");
        assert_eq!(slugify("  --  "), "x20202d2d2020");
        assert!(CategorySlug::parse(slug.as_str()).is_some());
        assert!(CategorySlug::parse("Bad Slug").is_none());
        assert!(CategorySlug::parse("a//b").is_none());
    }

    #[test]
    fn sku_rules() {
        assert!(Sku::parse("FK-ABC.1_2").is_ok());
        for bad in ["", "has space", "é", &"x".repeat(65)] {
            assert!(Sku::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn category_ref_accepts_uuid_or_slug() {
        let id = Uuid::now_v7();
        assert_eq!(CategoryRef::parse(&id.to_string()), Ok(CategoryRef::Id(id)));
        assert!(matches!(
            CategoryRef::parse("clothing"),
            Ok(CategoryRef::Slug(_))
        ));
        assert!(CategoryRef::parse("' OR 1=1 --").is_err());
    }
}
