//! Synthetic products derived from real ones, so that search can be
//! measured on catalogs of 100k and 1M products. Deterministic for a seed:
//! the same call always derives the same products (and SKUs), so seeding
//! twice updates rather than duplicates.

use super::import::ProductDraft;
use super::model::Sku;
use crate::Money;

const EDITIONS: &[&str] = &[
    "Pro", "Plus", "Lite", "Max", "Mini", "Ultra", "Classic", "Sport", "Neo", "Prime", "Edge",
    "Air", "Studio", "Go", "Select",
];
const COLOURS: &[&str] = &[
    "Black", "White", "Silver", "Blue", "Red", "Green", "Gold", "Grey", "Rose", "Navy", "Teal",
    "Olive",
];
const BRAND_SUFFIXES: &[&str] = &["Labs", "Works", "Co", "Home", "Tech", "Studio", "Living"];

/// Derives `n` products from `base` (which must not be empty), varying name,
/// brand, price and popularity; category and description are kept.
pub fn derive(base: &[ProductDraft], n: usize, seed: u64) -> Vec<ProductDraft> {
    if base.is_empty() {
        return Vec::new();
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n)
        .map(|i| {
            let src = &base[rng.usize(..base.len())];
            let edition = EDITIONS[rng.usize(..EDITIONS.len())];
            let colour = COLOURS[rng.usize(..COLOURS.len())];
            let generation = rng.u32(2..12);
            let name: String = format!("{} {edition} {generation} ({colour})", src.name)
                .chars()
                .take(300)
                .collect();
            let brand = match (&src.brand, rng.u8(..4)) {
                (Some(b), 0) => Some(format!(
                    "{b} {}",
                    BRAND_SUFFIXES[rng.usize(..BRAND_SUFFIXES.len())]
                )),
                (b, _) => b.clone(),
            };
            // Price varies by -40% .. +60%, in whole minor units.
            let factor = 60 + i64::from(rng.u8(..=100));
            let amount = (src.price.amount() * factor / 100).max(1);
            // `amount` is positive, so this cannot fail; fall back to the source price anyway.
            let price = Money::new(amount, src.price.currency()).unwrap_or(src.price);
            let sku = Sku::parse(&format!("SYN-{seed}-{i}")).unwrap_or_else(|_| src.sku.clone());
            let mut attributes = src.attributes.clone();
            attributes.insert("derived_from".into(), src.sku.to_string());
            ProductDraft {
                sku,
                name,
                brand,
                description: src.description.clone(),
                category: src.category.clone(),
                price,
                image: src.image.clone(),
                popularity: rng.i64(0..=src.popularity.max(1000)),
                attributes,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Currency;

    fn base() -> Vec<ProductDraft> {
        vec![ProductDraft {
            sku: Sku::parse("A").unwrap(),
            name: "Galaxy S7".into(),
            brand: Some("Samsung".into()),
            description: None,
            category: vec!["Phones".into()],
            price: Money::new(10_000, Currency::USD).unwrap(),
            image: None,
            popularity: 50,
            attributes: Default::default(),
        }]
    }

    #[test]
    fn derivation_is_deterministic_with_unique_skus() {
        let a = derive(&base(), 500, 7);
        assert_eq!(a, derive(&base(), 500, 7));
        let mut skus: Vec<_> = a.iter().map(|d| d.sku.clone()).collect();
        skus.sort();
        skus.dedup();
        assert_eq!(skus.len(), 500);
        assert!(a.iter().all(|d| d.name.starts_with("Galaxy S7 ")));
        assert!(a
            .iter()
            .all(|d| (6_000..=16_000).contains(&d.price.amount())));
        let names: std::collections::HashSet<_> = a.iter().map(|d| &d.name).collect();
        assert!(names.len() > 400, "names should vary, got {}", names.len());
    }
}
