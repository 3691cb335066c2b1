//! Money as integer minor units plus an ISO-4217 currency; never floats.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// An ISO-4217 currency code: three ASCII upper-case letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    pub const USD: Currency = Currency(*b"USD");

    pub fn as_str(&self) -> &str {
        // The bytes are checked to be ASCII upper-case letters on construction.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl FromStr for Currency {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        if b.len() == 3 && b.iter().all(u8::is_ascii_uppercase) {
            Ok(Currency([b[0], b[1], b[2]]))
        } else {
            Err(ValidationError::new(
                "currency",
                format!("{s:?} is not an ISO-4217 code (three upper-case letters)"),
            ))
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The largest amount the shop handles, in minor units: 99,999,999
/// (999,999.99 in a currency with cents). It is the most the payment
/// provider takes in one payment (Stripe's limit, which paysim copies), so
/// a price above it could never be paid, and every total of an order must
/// stay at or below it too.
pub const MAX_AMOUNT: i64 = 99_999_999;

/// An amount did not fit: above [`MAX_AMOUNT`], or past what `i64` holds.
/// Totals are computed with checked arithmetic and refuse rather than saturate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the amount is above the maximum of {MAX_AMOUNT} minor units")]
pub struct AmountTooLarge;

/// An amount of money: minor units (cents) of one currency, from 0 to
/// 99,999,999 (`MAX_AMOUNT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, try_from = "RawMoney")]
pub struct Money {
    /// Amount in minor units (cents for USD), 0 to 99,999,999.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 99_999_999))]
    amount: i64,
    /// ISO-4217 code.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "USD"))]
    currency: Currency,
}

/// What JSON holds before [`Money::new`] checks it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMoney {
    amount: i64,
    currency: Currency,
}

impl TryFrom<RawMoney> for Money {
    type Error = ValidationError;

    fn try_from(raw: RawMoney) -> Result<Self, Self::Error> {
        Money::new(raw.amount, raw.currency)
    }
}

impl Money {
    /// Prices are zero or more, and at most [`MAX_AMOUNT`].
    pub fn new(amount: i64, currency: Currency) -> Result<Self, ValidationError> {
        if amount < 0 {
            return Err(ValidationError::new("price", "amount must not be negative"));
        }
        if amount > MAX_AMOUNT {
            return Err(ValidationError::new(
                "price",
                format!(
                    "amount must be at most {MAX_AMOUNT} minor units (the most one payment may take)"
                ),
            ));
        }
        Ok(Money { amount, currency })
    }

    pub fn amount(&self) -> i64 {
        self.amount
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_accepts_only_three_upper_case_letters() {
        assert_eq!(
            "USD".parse::<Currency>().map(|c| c.to_string()),
            Ok("USD".into())
        );
        for bad in ["usd", "US", "USDX", "U$D", "", "ÜSD"] {
            assert!(bad.parse::<Currency>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn money_rejects_negative_amounts() {
        assert!(Money::new(-1, Currency::USD).is_err());
        assert_eq!(Money::new(0, Currency::USD).map(|m| m.amount()), Ok(0));
    }

    #[test]
    fn money_rejects_amounts_above_the_payment_limit() {
        assert_eq!(
            Money::new(MAX_AMOUNT, Currency::USD).map(|m| m.amount()),
            Ok(99_999_999)
        );
        for bad in [MAX_AMOUNT + 1, i64::MAX] {
            let e = Money::new(bad, Currency::USD).unwrap_err();
            assert!(e.message.contains("99999999"), "{e}");
        }
        let json = r#"{"amount":9223372036854775807,"currency":"USD"}"#;
        assert!(
            serde_json::from_str::<Money>(json).is_err(),
            "deserialising checks too"
        );
        let ok: Money = serde_json::from_str(r#"{"amount":1299,"currency":"USD"}"#).unwrap();
        assert_eq!(ok.amount(), 1299);
    }

    #[test]
    fn money_json_shape_is_amount_and_currency() {
        let m = Money::new(1299, Currency::USD).unwrap();
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"amount":1299,"currency":"USD"}"#
        );
    }
}
