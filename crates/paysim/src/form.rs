//! Stripe-style parameters: `application/x-www-form-urlencoded` bodies and
//! query strings with one level of nesting (`metadata[order_id]=…`,
//! `card[number]=…`, `expand[]=…`), read into typed values with Stripe's
//! errors (`parameter_unknown`, `parameter_missing`, `Invalid integer`…).
//! Any malformed input is a 400, never a panic. `Debug` shows parameter
//! names only: values may hold a card number.

use std::collections::BTreeMap;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts};

use crate::stripe_error::StripeError;

/// The most metadata Stripe takes: 50 keys of up to 40 characters, values
/// of up to 500.
const METADATA_KEYS: usize = 50;
const METADATA_KEY_LEN: usize = 40;
const METADATA_VALUE_LEN: usize = 500;

pub type Metadata = BTreeMap<String, String>;

enum Value {
    Scalar(String),
    Map(BTreeMap<String, String>),
    List(Vec<String>),
}

/// Decoded parameters by top-level name.
#[derive(Default)]
pub struct Params {
    fields: BTreeMap<String, Value>,
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.fields.keys()).finish()
    }
}

impl Params {
    pub fn parse(input: &[u8]) -> Result<Params, StripeError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(input).map_err(|_| {
            StripeError::invalid("Invalid request: the body is not valid form data.")
        })?;
        let mut params = Params::default();
        for (key, value) in pairs {
            params.insert(&key, value)?;
        }
        Ok(params)
    }

    fn insert(&mut self, key: &str, value: String) -> Result<(), StripeError> {
        let (name, sub) = split_key(key)?;
        match (sub, self.fields.get_mut(name)) {
            (None, _) => {
                self.fields.insert(name.to_owned(), Value::Scalar(value));
            }
            (Some(""), Some(Value::List(list))) => list.push(value),
            (Some(""), None) => {
                self.fields
                    .insert(name.to_owned(), Value::List(vec![value]));
            }
            (Some(sub), Some(Value::Map(map))) if !sub.is_empty() => {
                map.insert(sub.to_owned(), value);
            }
            (Some(sub), None) => {
                let map = BTreeMap::from([(sub.to_owned(), value)]);
                self.fields.insert(name.to_owned(), Value::Map(map));
            }
            (Some(_), Some(_)) => {
                return Err(StripeError::param_invalid(
                    name,
                    "parameter_invalid",
                    format!("Invalid {name}: mixed forms of the same parameter"),
                ))
            }
        }
        Ok(())
    }

    /// Refuses any parameter not in `allowed`, as Stripe does.
    pub fn only(&self, allowed: &[&str]) -> Result<(), StripeError> {
        match self.fields.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(unknown) => Err(StripeError::unknown_param(unknown)),
            None => Ok(()),
        }
    }

    pub fn str(&self, name: &str) -> Result<Option<&str>, StripeError> {
        match self.fields.get(name) {
            None => Ok(None),
            Some(Value::Scalar(s)) => Ok(Some(s)),
            Some(_) => Err(StripeError::param_invalid(
                name,
                "parameter_invalid_string",
                format!("Invalid string: {name} must be a single value"),
            )),
        }
    }

    /// A present, non-empty string.
    pub fn required_str(&self, name: &str) -> Result<&str, StripeError> {
        match self.str(name)? {
            Some(s) if !s.is_empty() => Ok(s),
            Some(_) => Err(StripeError::param_invalid(
                name,
                "parameter_invalid_empty",
                format!("You passed an empty string for '{name}'. We assume empty values are an attempt to unset a parameter; however '{name}' cannot be unset. You should remove '{name}' from your request or supply a non-empty value."),
            )),
            None => Err(StripeError::missing(name)),
        }
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, StripeError> {
        self.str(name)?.map(|s| parse_int(name, s)).transpose()
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, StripeError> {
        match self.str(name)? {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(StripeError::param_invalid(
                name,
                "parameter_invalid_boolean",
                format!("Invalid boolean: {other}"),
            )),
        }
    }

    /// A hash parameter (`card[…]`); absent or `name=` (Stripe's way to
    /// unset) is empty.
    pub fn map(&self, name: &str) -> Result<BTreeMap<String, String>, StripeError> {
        match self.fields.get(name) {
            None => Ok(BTreeMap::new()),
            Some(Value::Scalar(s)) if s.is_empty() => Ok(BTreeMap::new()),
            Some(Value::Map(map)) => Ok(map.clone()),
            Some(_) => Err(StripeError::param_invalid(
                name,
                "parameter_invalid",
                format!("Invalid hash: {name} must be given as {name}[key]=value"),
            )),
        }
    }

    /// `metadata[…]` within Stripe's limits.
    pub fn metadata(&self) -> Result<Metadata, StripeError> {
        let metadata = self.map("metadata")?;
        if metadata.len() > METADATA_KEYS {
            return Err(StripeError::param_invalid(
                "metadata",
                "parameter_invalid",
                format!("Invalid metadata: at most {METADATA_KEYS} keys"),
            ));
        }
        for (key, value) in &metadata {
            if key.chars().count() > METADATA_KEY_LEN || value.chars().count() > METADATA_VALUE_LEN
            {
                return Err(StripeError::param_invalid(
                    &format!("metadata[{key}]"),
                    "parameter_invalid",
                    format!("Metadata keys are at most {METADATA_KEY_LEN} characters and values at most {METADATA_VALUE_LEN}."),
                ));
            }
        }
        Ok(metadata)
    }

    /// Every value given for a list parameter (`name[]=…`, `name[0]=…` or `name=…`).
    pub fn values(&self, name: &str) -> Vec<&str> {
        match self.fields.get(name) {
            None => Vec::new(),
            Some(Value::Scalar(s)) => vec![s.as_str()],
            Some(Value::List(list)) => list.iter().map(String::as_str).collect(),
            Some(Value::Map(map)) => map.values().map(String::as_str).collect(),
        }
    }
}

/// `name`, `name[sub]` or `name[]` → (name, sub); deeper nesting is not
/// part of this subset.
fn split_key(key: &str) -> Result<(&str, Option<&str>), StripeError> {
    let Some(open) = key.find('[') else {
        return if key.is_empty() || key.contains(']') {
            Err(StripeError::invalid(format!(
                "Invalid parameter name: '{key}'"
            )))
        } else {
            Ok((key, None))
        };
    };
    let name = &key[..open];
    let rest = &key[open + 1..];
    match rest.strip_suffix(']') {
        Some(sub) if !name.is_empty() && !sub.contains(['[', ']']) => Ok((name, Some(sub))),
        _ if name.is_empty() => Err(StripeError::invalid(format!(
            "Invalid parameter name: '{key}'"
        ))),
        _ => Err(StripeError::unknown_param(key)),
    }
}

pub fn parse_int(name: &str, s: &str) -> Result<i64, StripeError> {
    s.parse::<i64>().map_err(|_| {
        StripeError::param_invalid(
            name,
            "parameter_invalid_integer",
            format!("Invalid integer: {s}"),
        )
    })
}

/// A form-encoded request body. Other content types are refused unless
/// the body is empty.
pub struct Form(pub Params);

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = StripeError;

    async fn from_request(req: Request, state: &S) -> Result<Form, StripeError> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            });
        let body = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| StripeError::invalid(format!("Invalid request: {}", e.body_text())))?;
        match content_type.as_deref() {
            Some("application/x-www-form-urlencoded") | None => {}
            Some(_) if body.is_empty() => {}
            Some(other) => {
                return Err(StripeError::invalid(format!(
                "Invalid request: the body must be application/x-www-form-urlencoded, not {other}."
            )))
            }
        }
        Params::parse(&body).map(Form)
    }
}

/// The query string's parameters.
pub struct Query(pub Params);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = StripeError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Query, StripeError> {
        Params::parse(parts.uri.query().unwrap_or("").as_bytes()).map(Query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_keys_become_hashes_and_lists() {
        let p = Params::parse(
            b"amount=2000&metadata%5Border_id%5D=o-1&metadata[cart]=c&expand[]=a&expand[]=b",
        )
        .unwrap();
        assert_eq!(p.int("amount").unwrap(), Some(2000));
        let metadata = p.metadata().unwrap();
        assert_eq!(metadata["order_id"], "o-1");
        assert_eq!(metadata["cart"], "c");
        assert_eq!(p.values("expand"), vec!["a", "b"]);
        assert!(p.only(&["amount", "metadata", "expand"]).is_ok());
        assert_eq!(
            p.only(&["amount"]).unwrap_err().code,
            Some("parameter_unknown")
        );
    }

    #[test]
    fn malformed_input_is_a_client_error() {
        for body in [&b"a[b][c]=1"[..], b"[x]=1", b"a[b=1", b"=1", b"a]=1"] {
            let err = Params::parse(body).unwrap_err();
            assert_eq!(err.status, 400, "{body:?}");
        }
        // Invalid UTF-8 is decoded lossily, then refused as an unknown name.
        let p = Params::parse(b"\xff\xfe=1").unwrap();
        assert_eq!(p.only(&["amount"]).unwrap_err().status, 400);
        let p = Params::parse(b"amount=12.5&confirm=yes&metadata=x").unwrap();
        assert_eq!(
            p.int("amount").unwrap_err().code,
            Some("parameter_invalid_integer")
        );
        assert_eq!(
            p.bool("confirm").unwrap_err().code,
            Some("parameter_invalid_boolean")
        );
        assert!(p.metadata().is_err());
        assert_eq!(
            p.required_str("missing").unwrap_err().code,
            Some("parameter_missing")
        );
    }

    #[test]
    fn an_empty_hash_unsets_and_mixed_forms_are_refused() {
        let p = Params::parse(b"metadata=").unwrap();
        assert!(p.metadata().unwrap().is_empty());
        assert!(Params::parse(b"metadata[a]=1&metadata[]=2").is_err());
        assert!(Params::parse(b"metadata[]=2&metadata[a]=1").is_err());
    }

    #[test]
    fn debug_never_shows_values() {
        let p = Params::parse(b"card[number]=4242424242424242").unwrap();
        assert!(!format!("{p:?}").contains("4242"));
    }
}
