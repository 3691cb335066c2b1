//! The catalog import format (JSON Lines, see docs/catalog-format.md):
//! parsing and validating records before any store sees them.
//!
//! A line that is JSON but not a valid record is rejected with its line
//! number and reason; a line that is not a JSON object at all means the
//! file is not JSON Lines, and the whole import fails.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;

use serde::Deserialize;

use super::model::Sku;
use crate::{Currency, Money};

/// One line of an import file, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRecord {
    pub sku: String,
    pub name: String,
    #[serde(default)]
    pub brand: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub category: Vec<String>,
    pub price: ImportPrice,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub popularity: Option<i64>,
    #[serde(default)]
    pub attributes: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportPrice {
    pub amount: i64,
    pub currency: String,
}

/// A validated product, ready to be upserted by SKU.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductDraft {
    pub sku: Sku,
    pub name: String,
    pub brand: Option<String>,
    pub description: Option<String>,
    /// Category names from the root, 1 to 8 levels.
    pub category: Vec<String>,
    pub price: Money,
    pub image: Option<String>,
    pub popularity: i64,
    pub attributes: BTreeMap<String, String>,
}

/// A record that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub line: usize,
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCounts {
    /// New products.
    pub imported: u64,
    /// Existing products (same SKU) whose data changed.
    pub updated: u64,
    /// Existing products whose data was already the same.
    pub unchanged: u64,
    /// Records rejected before reaching the store.
    pub rejected: u64,
}

/// The file as a whole could not be read as JSON Lines.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("line {line}: not JSON Lines ({reason}); nothing was imported")]
    NotJsonLines { line: usize, reason: String },
    #[error("reading the file failed: {0}")]
    Read(#[from] std::io::Error),
}

fn clean(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn optional(field: &str, v: Option<String>, max: usize) -> Result<Option<String>, String> {
    match v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()) {
        Some(s) if s.chars().count() > max => {
            Err(format!("{field} is longer than {max} characters"))
        }
        other => Ok(other),
    }
}

impl ProductDraft {
    /// Validates one record against the shop's currency.
    pub fn from_record(r: ImportRecord, currency: Currency) -> Result<ProductDraft, String> {
        let sku = Sku::parse(r.sku.trim()).map_err(|e| format!("sku {}", e.message))?;
        let name = clean(&r.name);
        if name.is_empty() || name.chars().count() > 300 {
            return Err("name must be 1 to 300 characters".into());
        }
        let brand = optional("brand", r.brand.map(|b| clean(&b)), 100)?;
        let description = optional("description", r.description, 4000)?;
        let category: Vec<String> = r.category.iter().map(|c| clean(c)).collect();
        if category.is_empty() || category.len() > 8 {
            return Err("category must have 1 to 8 levels".into());
        }
        if category
            .iter()
            .any(|c| c.is_empty() || c.chars().count() > 100)
        {
            return Err("category levels must be 1 to 100 characters".into());
        }
        let cur: Currency = r.price.currency.parse().map_err(|_| {
            format!(
                "price.currency {:?} is not an ISO-4217 code",
                r.price.currency
            )
        })?;
        if cur != currency {
            return Err(format!(
                "price.currency is {cur}, but this shop sells in {currency}"
            ));
        }
        let price = Money::new(r.price.amount, cur).map_err(|e| format!("price {}", e.message))?;
        let image = optional("image", r.image, 2000)?;
        if let Some(url) = &image {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err("image must be an http(s) URL".into());
            }
        }
        let popularity = r.popularity.unwrap_or(0);
        if popularity < 0 {
            return Err("popularity must not be negative".into());
        }
        Ok(ProductDraft {
            sku,
            name,
            brand,
            description,
            category,
            price,
            image,
            popularity,
            attributes: r.attributes.unwrap_or_default(),
        })
    }
}

/// Reads a whole import file: valid records, rejected records.
pub fn read_catalog(
    reader: impl BufRead,
    currency: Currency,
) -> Result<(Vec<ProductDraft>, Vec<Rejection>), FileError> {
    let mut drafts = Vec::new();
    let mut rejections = Vec::new();
    let mut seen: HashMap<Sku, usize> = HashMap::new();
    for (i, line) in reader.lines().enumerate() {
        let line_no = i + 1;
        let line = line.map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => FileError::NotJsonLines {
                line: line_no,
                reason: "not UTF-8 text".into(),
            },
            _ => FileError::Read(e),
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| FileError::NotJsonLines {
                line: line_no,
                reason: e.to_string(),
            })?;
        if !value.is_object() {
            return Err(FileError::NotJsonLines {
                line: line_no,
                reason: "each line must be one JSON object".into(),
            });
        }
        let parsed = serde_json::from_value::<ImportRecord>(value)
            .map_err(|e| e.to_string())
            .and_then(|r| ProductDraft::from_record(r, currency));
        match parsed {
            Ok(d) => {
                if let Some(first) = seen.get(&d.sku) {
                    rejections.push(Rejection {
                        line: line_no,
                        reason: format!("sku {} already appears on line {first}", d.sku),
                    });
                } else {
                    seen.insert(d.sku.clone(), line_no);
                    drafts.push(d);
                }
            }
            Err(reason) => rejections.push(Rejection {
                line: line_no,
                reason,
            }),
        }
    }
    Ok((drafts, rejections))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"sku":"A-1","name":"  Galaxy   S7 ","brand":"Samsung","category":["Mobiles & Accessories","Cell Phones"],"price":{"amount":49999,"currency":"USD"},"popularity":10}"#;

    fn read(text: &str) -> Result<(Vec<ProductDraft>, Vec<Rejection>), FileError> {
        read_catalog(text.as_bytes(), Currency::USD)
    }

    #[test]
    fn good_record_is_cleaned() {
        let (d, r) = read(GOOD).unwrap();
        assert!(r.is_empty());
        assert_eq!(d[0].name, "Galaxy S7");
        assert_eq!(d[0].price.amount(), 49999);
    }

    #[test]
    fn bad_records_are_rejected_with_line_numbers() {
        let text = [
            GOOD,
            "",
            r#"{"sku":"B 2","name":"x","category":["A"],"price":{"amount":1,"currency":"USD"}}"#,
            r#"{"sku":"C","name":"x","category":[],"price":{"amount":1,"currency":"USD"}}"#,
            r#"{"sku":"D","name":"x","category":["A"],"price":{"amount":-1,"currency":"USD"}}"#,
            r#"{"sku":"E","name":"x","category":["A"],"price":{"amount":1,"currency":"INR"}}"#,
            r#"{"sku":"F","name":"x","category":["A"],"price":{"amount":1,"currency":"USD"},"colour":"red"}"#,
            GOOD,
        ]
        .join("\n");
        let (d, r) = read(&text).unwrap();
        assert_eq!(d.len(), 1);
        let lines: Vec<usize> = r.iter().map(|r| r.line).collect();
        assert_eq!(lines, [3, 4, 5, 6, 7, 8]);
        assert!(r[3].reason.contains("sells in USD"), "{}", r[3].reason);
        assert!(r[4].reason.contains("colour"), "{}", r[4].reason);
        assert!(r[5].reason.contains("line 1"), "{}", r[5].reason);
    }

    #[test]
    fn a_file_that_is_not_json_lines_fails_whole() {
        let err = read(&format!("{GOOD}\nsku,name,price\n")).unwrap_err();
        assert!(
            matches!(err, FileError::NotJsonLines { line: 2, .. }),
            "{err}"
        );
        assert!(matches!(
            read("[1,2]"),
            Err(FileError::NotJsonLines { line: 1, .. })
        ));
        let binary: &[u8] = &[0x1f, 0x8b, 0xff, 0xfe, b'\n'];
        assert!(matches!(
            read_catalog(binary, Currency::USD),
            Err(FileError::NotJsonLines { .. })
        ));
    }
}
