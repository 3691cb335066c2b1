//! API keys as Stripe checks them: `Authorization: Bearer <key>` (or
//! Basic with the key as user name, as in Stripe's curl examples). The
//! secret key opens everything; the publishable key only tokenization.
//! Keys are compared in constant time and never echoed whole.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use ring::hmac;

use crate::stripe_error::StripeError;
use crate::AppState;

/// Lets requests with the secret key through.
pub(crate) async fn secret_key(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    match check(&state, req.headers(), false) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// Lets requests with the publishable or the secret key through.
pub(crate) async fn publishable_key(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    match check(&state, req.headers(), true) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

fn check(state: &AppState, headers: &HeaderMap, publishable_ok: bool) -> Result<(), StripeError> {
    let Some(key) = presented_key(headers) else {
        return Err(StripeError::unauthorized(
            "You did not provide an API key. You need to provide your API key in the \
             Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        ));
    };
    if same(&key, &state.inner.secret_key) {
        return Ok(());
    }
    if same(&key, &state.inner.publishable_key) {
        return if publishable_ok {
            Ok(())
        } else {
            Err(StripeError::unauthorized(
                "This API call cannot be made with a publishable API key. Please use a secret API key.",
            ))
        };
    }
    Err(StripeError::unauthorized(format!(
        "Invalid API Key provided: {}",
        redact(&key)
    )))
}

fn presented_key(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, credentials) = value.split_once(' ')?;
    let credentials = credentials.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(credentials.to_owned()).filter(|k| !k.is_empty());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credentials)
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let user = decoded.split(':').next().unwrap_or_default();
        return Some(user.to_owned()).filter(|k| !k.is_empty());
    }
    None
}

/// Compares two keys in constant time (through their HMACs, so lengths
/// leak nothing either).
fn same(presented: &str, expected: &str) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, b"paysim api key comparison");
    let tag = hmac::sign(&key, expected.as_bytes());
    hmac::verify(&key, presented.as_bytes(), tag.as_ref()).is_ok()
}

/// `sk_test_****abcd`, as Stripe shows a wrong key.
fn redact(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() < 12 {
        return "****".into();
    }
    let head: String = chars[..8].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "a test fails loudly on what it did not expect"
    )]

    use super::*;
    use axum::http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn bearer_and_basic_both_carry_the_key() {
        assert_eq!(
            presented_key(&headers("Bearer sk_1")).as_deref(),
            Some("sk_1")
        );
        assert_eq!(
            presented_key(&headers("bearer  sk_1 ")).as_deref(),
            Some("sk_1")
        );
        // base64("sk_1:")
        assert_eq!(
            presented_key(&headers("Basic c2tfMTo=")).as_deref(),
            Some("sk_1")
        );
        assert_eq!(presented_key(&headers("Basic !!")), None);
        assert_eq!(presented_key(&headers("Token sk_1")), None);
        assert_eq!(presented_key(&HeaderMap::new()), None);
    }

    #[test]
    fn keys_compare_exactly_and_are_redacted() {
        assert!(same("sk_test_paysim", "sk_test_paysim"));
        assert!(!same("sk_test_paysi", "sk_test_paysim"));
        assert_eq!(redact("sk_test_0123456789abcd"), "sk_test_****abcd");
        assert_eq!(redact("short"), "****");
    }
}
