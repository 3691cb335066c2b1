//! A shipping address: required fields present, every field bounded, the
//! country an ISO 3166-1 alpha-2 code.

use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// As sent by the client; checked by [`Address::parse`].
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    pub name: Option<String>,
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    /// State, province or county code, where the country has them.
    pub region: Option<String>,
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2, e.g. `US`.
    pub country: Option<String>,
    pub phone: Option<String>,
}

/// A checked shipping address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Address {
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: String,
    pub country: String,
    pub phone: Option<String>,
}

const MAX_FIELD: usize = 200;

fn field(
    errors: &mut Vec<ValidationError>,
    name: &str,
    value: Option<&String>,
    required: bool,
    max: usize,
) -> Option<String> {
    let v = value.map(|s| s.trim()).filter(|s| !s.is_empty());
    match v {
        None if required => {
            errors.push(ValidationError::new(
                format!("address.{name}"),
                "is required",
            ));
            None
        }
        None => None,
        Some(s) if s.chars().count() > max || s.len() > 4 * max => {
            errors.push(ValidationError::new(
                format!("address.{name}"),
                format!("is too long (at most {max} characters)"),
            ));
            None
        }
        Some(s) if s.chars().any(char::is_control) => {
            errors.push(ValidationError::new(
                format!("address.{name}"),
                "must not contain control characters",
            ));
            None
        }
        Some(s) => Some(s.to_owned()),
    }
}

impl Address {
    /// Every problem at once, each naming its field (`address.city`…).
    pub fn parse(input: &AddressInput) -> Result<Address, Vec<ValidationError>> {
        let mut e = Vec::new();
        let name = field(&mut e, "name", input.name.as_ref(), true, MAX_FIELD);
        let line1 = field(&mut e, "line1", input.line1.as_ref(), true, MAX_FIELD);
        let line2 = field(&mut e, "line2", input.line2.as_ref(), false, MAX_FIELD);
        let city = field(&mut e, "city", input.city.as_ref(), true, MAX_FIELD);
        let region = field(&mut e, "region", input.region.as_ref(), false, 50);
        let postal_code = field(&mut e, "postal_code", input.postal_code.as_ref(), true, 20);
        let country = field(&mut e, "country", input.country.as_ref(), true, 2);
        let phone = field(&mut e, "phone", input.phone.as_ref(), false, 40);
        let country = country.and_then(|c| {
            if c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()) {
                Some(c.to_ascii_uppercase())
            } else {
                e.push(ValidationError::new(
                    "address.country",
                    "must be a two-letter ISO 3166-1 code such as US",
                ));
                None
            }
        });
        match (name, line1, city, postal_code, country) {
            (Some(name), Some(line1), Some(city), Some(postal_code), Some(country))
                if e.is_empty() =>
            {
                Ok(Address {
                    name,
                    line1,
                    line2,
                    city,
                    region,
                    postal_code,
                    country,
                    phone,
                })
            }
            _ => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> AddressInput {
        AddressInput {
            name: Some("Ada Lovelace".into()),
            line1: Some("1 Analytical Way".into()),
            city: Some("London".into()),
            postal_code: Some("N1 9GU".into()),
            country: Some("gb".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_complete_address_parses() {
        let a = Address::parse(&input()).unwrap();
        assert_eq!(a.country, "GB");
        assert_eq!(a.line2, None);
    }

    #[test]
    fn every_problem_is_named() {
        let mut bad = input();
        bad.city = None;
        bad.line1 = Some("x".repeat(10_000));
        bad.country = Some("GBR".into());
        let errors = Address::parse(&bad).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["address.line1", "address.city", "address.country"]);
        assert!(Address::parse(&AddressInput::default()).unwrap_err().len() >= 5);
    }
}
