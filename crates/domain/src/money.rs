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

/// An amount of money: minor units (cents) of one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// Amount in minor units (cents for USD).
    amount: i64,
    /// ISO-4217 code.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "USD"))]
    currency: Currency,
}

impl Money {
    /// Money must not be negative in a catalog: prices are zero or more.
    pub fn new(amount: i64, currency: Currency) -> Result<Self, ValidationError> {
        if amount < 0 {
            return Err(ValidationError::new("price", "amount must not be negative"));
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
    fn money_json_shape_is_amount_and_currency() {
        let m = Money::new(1299, Currency::USD).unwrap();
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"amount":1299,"currency":"USD"}"#
        );
    }
}
