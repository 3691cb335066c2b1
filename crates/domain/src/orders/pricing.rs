//! Totals: subtotal of the lines, shipping by a flat-rate table per
//! method (free above a threshold where configured), and tax by a rate per
//! country or region, all in integer minor units. Tax is charged on goods
//! and shipping and rounded half up. Every sum and product is checked: an
//! amount that does not fit is refused ([`AmountTooLarge`]), never
//! saturated, so `total = subtotal + shipping + tax` always holds.

use crate::{AmountTooLarge, ValidationError, MAX_AMOUNT};

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

/// The amounts of a cart or an order, minor units. An order's total is at
/// most 99,999,999 (`MAX_AMOUNT`, the most one payment may take); a
/// cart's may be more, and checkout then refuses it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Totals {
    pub subtotal: i64,
    pub shipping: i64,
    pub tax: i64,
    pub total: i64,
}

impl Totals {
    /// The totals, if one payment can take them: the total (and so every
    /// part of it) at most [`MAX_AMOUNT`].
    pub fn payable(self) -> Result<Totals, AmountTooLarge> {
        if (0..=MAX_AMOUNT).contains(&self.total) {
            Ok(self)
        } else {
            Err(AmountTooLarge)
        }
    }
}

/// 100 % in basis points: the highest tax rate the configuration accepts.
pub const MAX_TAX_BP: u32 = 10_000;

/// `unit_price × quantity`, or [`AmountTooLarge`] if it does not fit.
pub fn line_total(unit_price: i64, quantity: u32) -> Result<i64, AmountTooLarge> {
    unit_price
        .checked_mul(i64::from(quantity))
        .ok_or(AmountTooLarge)
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
    /// prices from 0 to [`MAX_AMOUNT`], tax rates from 0 to 100 % (10,000
    /// basis points; negative rates cannot be written, the type is unsigned).
    pub fn validate(&self) -> Result<(), String> {
        if self.methods.is_empty() {
            return Err("at least one shipping method is needed".into());
        }
        for (i, m) in self.methods.iter().enumerate() {
            if m.price < 0 || m.free_over.is_some_and(|f| f < 0) {
                return Err(format!("shipping method {}: negative amount", m.code));
            }
            if m.price > MAX_AMOUNT {
                return Err(format!(
                    "shipping method {}: price above the maximum of {MAX_AMOUNT}",
                    m.code
                ));
            }
            if self.methods[..i].iter().any(|o| o.code == m.code) {
                return Err(format!("shipping method {} appears twice", m.code));
            }
        }
        if self.default_tax_bp > MAX_TAX_BP {
            return Err(format!(
                "tax.default_rate_bp is {} basis points, above 100 % ({MAX_TAX_BP})",
                self.default_tax_bp
            ));
        }
        if let Some(t) = self.taxes.iter().find(|t| t.rate_bp > MAX_TAX_BP) {
            let region = t
                .region
                .as_deref()
                .map(|r| format!("-{r}"))
                .unwrap_or_default();
            return Err(format!(
                "the tax rate of {}{region} is {} basis points, above 100 % ({MAX_TAX_BP})",
                t.country, t.rate_bp
            ));
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

    /// Totals for `lines` of (unit price, quantity), exact: any line total,
    /// sum or tax that does not fit in `i64` is [`AmountTooLarge`]. Totals
    /// above [`MAX_AMOUNT`] are returned (a cart may show them); checkout
    /// refuses them with [`Totals::payable`].
    pub fn totals(
        &self,
        lines: impl IntoIterator<Item = (i64, u32)>,
        method: Option<&ShippingMethod>,
        tax_bp: u32,
    ) -> Result<Totals, AmountTooLarge> {
        let mut subtotal: i64 = 0;
        for (price, qty) in lines {
            subtotal = subtotal
                .checked_add(line_total(price, qty)?)
                .ok_or(AmountTooLarge)?;
        }
        let shipping = match method {
            _ if subtotal == 0 => 0,
            Some(m) if m.free_over.is_some_and(|f| subtotal >= f) => 0,
            Some(m) => m.price,
            None => 0,
        };
        let taxable = i128::from(subtotal) + i128::from(shipping);
        // Half up: add half the divisor before dividing (amounts are
        // non-negative). i128 holds i64 × u32 with room to spare.
        let tax = (taxable * i128::from(tax_bp) + 5_000) / 10_000;
        let tax = i64::try_from(tax).map_err(|_| AmountTooLarge)?;
        let total = subtotal
            .checked_add(shipping)
            .and_then(|t| t.checked_add(tax))
            .ok_or(AmountTooLarge)?;
        Ok(Totals {
            subtotal,
            shipping,
            tax,
            total,
        })
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
        let t = p
            .totals(
                [(1000, 2), (250, 1)],
                Some(std),
                p.tax_bp(Some("US"), Some("ca")),
            )
            .unwrap();
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
        let t = p
            .totals([(6000, 1)], Some(std), p.tax_bp(Some("DE"), None))
            .unwrap();
        assert_eq!(
            t,
            Totals {
                subtotal: 6000,
                shipping: 0,
                tax: 1140,
                total: 7140
            }
        );
        let t = p
            .totals(
                [(100, 1)],
                Some(p.method("express").unwrap()),
                p.tax_bp(Some("FR"), None),
            )
            .unwrap();
        assert_eq!(t.total, 1599, "unknown country: the default rate (0)");
        assert_eq!(p.totals([], Some(std), 1900), Ok(Totals::default()));
    }

    #[test]
    fn tax_rounds_half_up() {
        let p = pricing();
        // 10 × 5 % = 0.5 → 1
        assert_eq!(p.totals([(10, 1)], None, 500).unwrap().tax, 1);
        assert_eq!(p.totals([(9, 1)], None, 500).unwrap().tax, 0);
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
        let mut dear = p.clone();
        dear.methods[1].price = MAX_AMOUNT + 1;
        assert!(dear.validate().unwrap_err().contains("express"));
    }

    #[test]
    fn tax_rates_above_100_percent_are_refused() {
        let mut p = pricing();
        p.taxes[1].rate_bp = MAX_TAX_BP;
        p.default_tax_bp = MAX_TAX_BP;
        assert!(p.validate().is_ok(), "100 % is the most");
        p.taxes[1].rate_bp = MAX_TAX_BP + 1;
        let e = p.validate().unwrap_err();
        assert!(e.contains("US-CA") && e.contains("10001"), "{e}");
        p.taxes[1].rate_bp = 725;
        p.default_tax_bp = 12_000;
        let e = p.validate().unwrap_err();
        assert!(e.contains("default_rate_bp") && e.contains("100 %"), "{e}");
    }

    #[test]
    fn totals_that_do_not_fit_are_refused_not_saturated() {
        let p = pricing();
        let std = p.method("standard").ok();
        // The fuzzer's order: 2 × (2^63 − 1) with tax.
        assert_eq!(p.totals([(i64::MAX, 2)], std, 725), Err(AmountTooLarge));
        assert_eq!(
            p.totals([(i64::MAX / 2, 1), (i64::MAX / 2 + 2, 1)], None, 0),
            Err(AmountTooLarge),
            "the sum of the lines"
        );
        assert_eq!(
            p.totals([(i64::MAX - 10, 1)], p.method("express").ok(), 0),
            Err(AmountTooLarge),
            "goods plus shipping"
        );
        assert_eq!(
            p.totals([(i64::MAX / 2 + 1, 1)], None, 10_000),
            Err(AmountTooLarge),
            "goods plus 100 % tax"
        );
        // Exact beyond the payment limit: a cart may show it, an order may not.
        let t = p.totals([(MAX_AMOUNT, 99)], None, 0).unwrap();
        assert_eq!(t.total, MAX_AMOUNT * 99);
        assert_eq!(t.payable(), Err(AmountTooLarge));
        let t = p.totals([(MAX_AMOUNT - 10, 1)], None, 0).unwrap();
        assert_eq!(t.payable(), Ok(t));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn pricing(price: i64, free_over: Option<i64>) -> Pricing {
        Pricing {
            methods: vec![ShippingMethod {
                code: "standard".into(),
                name: "Standard".into(),
                price,
                free_over,
            }],
            taxes: Vec::new(),
            default_tax_bp: 0,
        }
    }

    proptest! {
        /// Whatever the lines, totals are exact or refused: when they are
        /// given, each part is what plain (unbounded) arithmetic says and
        /// the total is their sum.
        #[test]
        fn totals_are_exact_or_refused(
            lines in proptest::collection::vec((0..=i64::MAX, 0..=u32::MAX), 0..5),
            small in proptest::collection::vec((0..=MAX_AMOUNT, 0..=99u32), 0..5),
            use_small in any::<bool>(),
            ship in 0..=MAX_AMOUNT,
            free_over in proptest::option::of(0..=i64::MAX),
            tax_bp in 0..=MAX_TAX_BP,
        ) {
            let lines = if use_small { small } else { lines };
            let p = pricing(ship, free_over);
            let exact_sub: i128 = lines.iter().map(|(a, q)| i128::from(*a) * i128::from(*q)).sum();
            match p.totals(lines.iter().copied(), p.methods.first(), tax_bp) {
                Ok(t) => {
                    prop_assert_eq!(i128::from(t.subtotal), exact_sub);
                    let exact_tax = ((i128::from(t.subtotal) + i128::from(t.shipping)) * i128::from(tax_bp) + 5_000) / 10_000;
                    prop_assert_eq!(i128::from(t.tax), exact_tax);
                    prop_assert_eq!(t.total, t.subtotal + t.shipping + t.tax);
                    prop_assert!(t.shipping == 0 || t.shipping == ship);
                    prop_assert_eq!(t.payable().is_ok(), t.total <= MAX_AMOUNT);
                }
                Err(AmountTooLarge) => {
                    let worst = exact_sub + i128::from(ship);
                    let worst = worst + (worst * i128::from(tax_bp) + 5_000) / 10_000;
                    prop_assert!(worst > i128::from(i64::MAX), "refused {lines:?} though {worst} fits");
                }
            }
        }

        /// Within the shop's own bounds (prices at most MAX_AMOUNT, 99 per
        /// line, 100 lines, tax at most 100 %) totals always fit in i64.
        #[test]
        fn carts_within_the_limits_never_overflow(
            lines in proptest::collection::vec((0..=MAX_AMOUNT, 1..=99u32), 0..=100),
            tax_bp in 0..=MAX_TAX_BP,
        ) {
            let p = pricing(MAX_AMOUNT, None);
            prop_assert!(p.totals(lines, p.methods.first(), tax_bp).is_ok());
        }
    }
}
