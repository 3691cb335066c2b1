//! Totals: subtotal of the lines, shipping by a flat-rate table per
//! method (free above a threshold where configured), and tax by a rate per
//! country or region, all in integer minor units. Tax is charged on goods
//! and shipping and rounded half up.

use crate::ValidationError;

/// A way to ship, with its flat rate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShippingMethod {
    /// `standard`, `express`…
    pub code: String,
    pub name: String,
    /// Minor units.
    pub price: i64,
    /// Subtotal (minor units) from which this method is free.
    pub free_over: Option<i64>,
}

/// A tax rate for a country (ISO 3166-1 alpha-2), or one of its regions.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TaxRate {
    pub country: String,
    /// A region code within the country (`CA`, `NY`…); none for the whole country.
    pub region: Option<String>,
    /// Basis points: 825 is 8.25 %.
    pub rate_bp: u32,
}

/// The amounts of a cart or an order, minor units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Totals {
    pub subtotal: i64,
    pub shipping: i64,
    pub tax: i64,
    pub total: i64,
}

/// Shipping methods and tax rates, from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pricing {
    pub methods: Vec<ShippingMethod>,
    pub taxes: Vec<TaxRate>,
    /// Basis points where no rate matches.
    pub default_tax_bp: u32,
}

impl Pricing {
    /// Checks the configuration: at least one method, unique codes,
    /// non-negative prices.
    pub fn validate(&self) -> Result<(), String> {
        if self.methods.is_empty() {
            return Err("at least one shipping method is needed".into());
        }
        for (i, m) in self.methods.iter().enumerate() {
            if m.price < 0 || m.free_over.is_some_and(|f| f < 0) {
                return Err(format!("shipping method {}: negative amount", m.code));
            }
            if self.methods[..i].iter().any(|o| o.code == m.code) {
                return Err(format!("shipping method {} appears twice", m.code));
            }
        }
        if self.taxes.iter().any(|t| t.rate_bp > 10_000) {
            return Err("a tax rate is above 100 %".into());
        }
        Ok(())
    }

    pub fn method(&self, code: &str) -> Result<&ShippingMethod, ValidationError> {
        self.methods.iter().find(|m| m.code == code).ok_or_else(|| {
            let codes: Vec<&str> = self.methods.iter().map(|m| m.code.as_str()).collect();
            ValidationError::new(
                "shipping_method",
                format!("must be one of: {}", codes.join(", ")),
            )
        })
    }

    /// The cheapest method, for estimates before one is chosen.
    pub fn default_method(&self) -> Option<&ShippingMethod> {
        self.methods.iter().min_by_key(|m| m.price)
    }

    /// The rate for an address: its region's, else its country's, else the default.
    pub fn tax_bp(&self, country: Option<&str>, region: Option<&str>) -> u32 {
        let Some(country) = country else {
            return self.default_tax_bp;
        };
        let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        let regional = region.and_then(|r| {
            self.taxes.iter().find(|t| {
                same(&t.country, country) && t.region.as_deref().is_some_and(|tr| same(tr, r))
            })
        });
        regional
            .or_else(|| {
                self.taxes
                    .iter()
                    .find(|t| same(&t.country, country) && t.region.is_none())
            })
            .map_or(self.default_tax_bp, |t| t.rate_bp)
    }

    /// Totals for `lines` of (unit price, quantity).
    pub fn totals(
        &self,
        lines: impl IntoIterator<Item = (i64, u32)>,
        method: Option<&ShippingMethod>,
        tax_bp: u32,
    ) -> Totals {
        let subtotal: i64 = lines
            .into_iter()
            .map(|(price, qty)| price.saturating_mul(i64::from(qty)))
            .fold(0, i64::saturating_add);
        let shipping = match method {
            _ if subtotal == 0 => 0,
            Some(m) if m.free_over.is_some_and(|f| subtotal >= f) => 0,
            Some(m) => m.price,
            None => 0,
        };
        let taxable = i128::from(subtotal) + i128::from(shipping);
        // Half up: add half the divisor before dividing (amounts are non-negative).
        let tax = (taxable * i128::from(tax_bp) + 5_000) / 10_000;
        let tax = i64::try_from(tax).unwrap_or(i64::MAX);
        Totals {
            subtotal,
            shipping,
            tax,
            total: subtotal.saturating_add(shipping).saturating_add(tax),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pricing() -> Pricing {
        Pricing {
            methods: vec![
                ShippingMethod {
                    code: "standard".into(),
                    name: "Standard".into(),
                    price: 499,
                    free_over: Some(5000),
                },
                ShippingMethod {
                    code: "express".into(),
                    name: "Express".into(),
                    price: 1499,
                    free_over: None,
                },
            ],
            taxes: vec![
                TaxRate {
                    country: "US".into(),
                    region: None,
                    rate_bp: 0,
                },
                TaxRate {
                    country: "US".into(),
                    region: Some("CA".into()),
                    rate_bp: 725,
                },
                TaxRate {
                    country: "DE".into(),
                    region: None,
                    rate_bp: 1900,
                },
            ],
            default_tax_bp: 0,
        }
    }

    #[test]
    fn totals_add_shipping_and_tax() {
        let p = pricing();
        let std = p.method("standard").unwrap();
        let t = p.totals(
            [(1000, 2), (250, 1)],
            Some(std),
            p.tax_bp(Some("US"), Some("ca")),
        );
        assert_eq!(
            t,
            Totals {
                subtotal: 2250,
                shipping: 499,
                tax: 199,
                total: 2948
            }
        );
        // 2749 × 7.25 % = 199.30 → 199
        let t = p.totals([(6000, 1)], Some(std), p.tax_bp(Some("DE"), None));
        assert_eq!(
            t,
            Totals {
                subtotal: 6000,
                shipping: 0,
                tax: 1140,
                total: 7140
            }
        );
        let t = p.totals(
            [(100, 1)],
            Some(p.method("express").unwrap()),
            p.tax_bp(Some("FR"), None),
        );
        assert_eq!(t.total, 1599, "unknown country: the default rate (0)");
        assert_eq!(p.totals([], Some(std), 1900), Totals::default());
    }

    #[test]
    fn tax_rounds_half_up() {
        let p = pricing();
        // 10 × 5 % = 0.5 → 1
        assert_eq!(p.totals([(10, 1)], None, 500).tax, 1);
        assert_eq!(p.totals([(9, 1)], None, 500).tax, 0);
    }

    #[test]
    fn unknown_methods_and_bad_tables_are_refused() {
        let p = pricing();
        assert!(p.method("teleport").is_err());
        assert!(p.validate().is_ok());
        let mut twice = p.clone();
        twice.methods.push(twice.methods[0].clone());
        assert!(twice.validate().is_err());
        assert_eq!(p.default_method().unwrap().code, "standard");
    }
}
