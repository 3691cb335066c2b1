//! The `Idempotency-Key` layer for POSTs, after Stripe: the first
//! response to a key (status and body) is saved in the ledger and replayed
//! for 24 hours with `Idempotent-Replayed: true`; the key with another
//! endpoint or other parameters is a 400 `idempotency_error`; while the
//! first request runs, others get a 409. Requests refused before doing
//! anything (bad parameters, 5xx) are not saved, so a retry runs anew.
//! A claimed request runs in its own task: a client that hangs up cannot
//! leave it half done.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ring::digest;

use crate::ledger::{Begun, IdempotencyRequest};
use crate::model::{hex, now};
use crate::stripe_error::{NotExecuted, StripeError};
use crate::AppState;

const KEY_HEADER: HeaderName = HeaderName::from_static("idempotency-key");
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// Request bodies are small forms; anything larger is refused.
const BODY_LIMIT: usize = 256 * 1024;
/// Stripe's limit on key length.
const KEY_LIMIT: usize = 255;

pub(crate) async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST || !req.headers().contains_key(&KEY_HEADER) {
        return next.run(req).await;
    }
    let key = match req.headers().get(&KEY_HEADER).map(HeaderValue::to_str) {
        Some(Ok(key)) if !key.is_empty() && key.len() <= KEY_LIMIT => key.to_owned(),
        _ => {
            return StripeError::invalid(format!(
                "Invalid Idempotency-Key: it must be 1 to {KEY_LIMIT} visible ASCII characters."
            ))
            .into_response()
        }
    };
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, BODY_LIMIT).await else {
        return StripeError::invalid("Invalid request: the body is too large or unreadable.")
            .into_response();
    };
    let path = parts.uri.path().to_owned();
    let fingerprint = fingerprint(&bytes);
    let claim = IdempotencyRequest {
        key: &key,
        method: parts.method.as_str(),
        path: &path,
        fingerprint: &fingerprint,
    };
    let begun = match state.ledger().begin_idempotent(&claim, now()).await {
        Ok(begun) => begun,
        Err(e) => return StripeError::from(e).into_response(),
    };
    match begun {
        Begun::Started => {
            let req = Request::from_parts(parts, Body::from(bytes));
            let run = tokio::spawn(execute(state, key, req, next));
            run.await.unwrap_or_else(|e| {
                tracing::error!(error = %e, "an idempotent request failed");
                StripeError::api(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "An unknown error occurred.",
                )
                .into_response()
            })
        }
        Begun::Replay { status, body } => replay(status, body, &key),
        Begun::InFlight => StripeError::idempotency(
            StatusCode::CONFLICT,
            format!(
                "There is currently another in-progress request using this idempotency key \
                 (that probably means you submitted twice, and the other request is still \
                 going through): {key}. Please try again later."
            ),
        )
        .with_code("idempotency_key_in_use")
        .into_response(),
        Begun::Mismatch {
            method,
            path: first,
        } => mismatch(&key, (&method, &first), (parts.method.as_str(), &path)),
    }
}

/// The first answer given for the key, marked as a replay.
fn replay(status: u16, body: Vec<u8>, key: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = (status, body).into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    with_key(res, key)
}

/// A key reused for another endpoint or other parameters, in Stripe's words.
fn mismatch(
    key: &str,
    (method, first): (&str, &str),
    (now_method, path): (&str, &str),
) -> Response {
    let message = if first != path || method != now_method {
        format!(
            "Keys for idempotent requests can only be used for the same endpoint they \
             were first used for ('{method} {first}' vs '{now_method} {path}'). Try using a key \
             other than '{key}' if you meant to execute a different request."
        )
    } else {
        format!(
            "Keys for idempotent requests can only be used with the same parameters they \
             were first used with. Try using a key other than '{key}' if you meant to \
             execute a different request."
        )
    };
    StripeError::idempotency(StatusCode::BAD_REQUEST, message).into_response()
}

/// Runs the claimed request and saves its response (or releases the key).
async fn execute(state: AppState, key: String, req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let (parts, body) = res.into_parts();
    let bytes = match to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::error!(error = %e, "reading a response to save");
            let _ = state.ledger().abandon_idempotent(&key).await;
            return StripeError::api(
                StatusCode::INTERNAL_SERVER_ERROR,
                "An unknown error occurred.",
            )
            .into_response();
        }
    };
    let saved = if parts.extensions.get::<NotExecuted>().is_some() || parts.status.is_server_error()
    {
        state.ledger().abandon_idempotent(&key).await
    } else {
        state
            .ledger()
            .finish_idempotent(&key, parts.status.as_u16(), &bytes)
            .await
    };
    if let Err(e) = saved {
        tracing::error!(error = %e, "saving an idempotent response");
    }
    with_key(Response::from_parts(parts, Body::from(bytes)), &key)
}

fn with_key(mut res: Response, key: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(key) {
        res.headers_mut().insert(KEY_HEADER, value);
    }
    res
}

/// A digest of the parameters, independent of their order; a body that is
/// not a form is digested as is (the handler will refuse it anyway).
fn fingerprint(body: &[u8]) -> String {
    let canonical = match serde_urlencoded::from_bytes::<Vec<(String, String)>>(body) {
        Ok(mut pairs) => {
            pairs.sort();
            serde_urlencoded::to_string(pairs)
                .map(String::into_bytes)
                .unwrap_or_else(|_| body.to_vec())
        }
        Err(_) => body.to_vec(),
    };
    hex(digest::digest(&digest::SHA256, &canonical).as_ref())
}

#[cfg(test)]
mod tests {
    use super::fingerprint;

    #[test]
    fn the_fingerprint_ignores_parameter_order_only() {
        assert_eq!(fingerprint(b"a=1&b=2"), fingerprint(b"b=2&a=1"));
        assert_ne!(fingerprint(b"a=1&b=2"), fingerprint(b"a=1&b=3"));
        assert_eq!(fingerprint(b"a=%20"), fingerprint(b"a=+"));
    }
}
