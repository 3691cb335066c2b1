//! Cross-cutting request handling: the request id in every error body,
//! per-route latency metrics with bounded labels, the request's own limits
//! (known methods, URI and header sizes) answered in JSON before anything
//! else looks at it, and JSON bodies for errors that tower layers produce
//! (timeouts, body limits, unknown routes).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, ErrorCode, REQUEST_ID};

/// Makes the request id available to [`ApiError`] for the whole request.
pub async fn scope_request_id(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    REQUEST_ID.scope(id, next.run(req)).await
}

/// Records `http_request_duration_seconds{method, route, status}`.
pub async fn record_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = method_label(req.method());
    let res = next.run(req).await;
    metrics::histogram!(
        "http_request_duration_seconds",
        "method" => method,
        "route" => route,
        "status" => res.status().as_u16().to_string()
    )
    .record(start.elapsed().as_secs_f64());
    res
}

/// The methods the shop answers; anything else is a 405 before routing.
const KNOWN_METHODS: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

/// A metric label from a fixed set: a client's method names no series.
fn method_label(method: &Method) -> &'static str {
    KNOWN_METHODS
        .iter()
        .find(|m| *m == method)
        .map_or("other", Method::as_str)
}

/// Limits on the request itself, checked before routing.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    pub max_uri_bytes: usize,
    /// Names, values and their separators (`: ` and CRLF), summed.
    pub max_header_bytes: usize,
}

/// Answers, in the API's JSON error shape, a method the shop does not know
/// (405), a URI over the limit (414) and headers over the limit (431), so
/// that none of them reaches the routes, the rate limits or the metrics.
pub async fn check_request(
    State(limits): State<RequestLimits>,
    req: Request,
    next: Next,
) -> Response {
    if !KNOWN_METHODS.contains(req.method()) {
        let allow = HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::MethodNotAllowed,
            "unknown method",
        )
        .with_header(header::ALLOW, allow)
        .into_response();
    }
    let uri_bytes = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri_bytes > limits.max_uri_bytes {
        return ApiError::new(
            StatusCode::URI_TOO_LONG,
            ErrorCode::UriTooLong,
            format!("the URI is longer than {} bytes", limits.max_uri_bytes),
        )
        .into_response();
    }
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if header_bytes > limits.max_header_bytes {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorCode::HeadersTooLarge,
            format!(
                "the request's headers are larger than {} bytes",
                limits.max_header_bytes
            ),
        )
        .into_response();
    }
    next.run(req).await
}

/// Gives error responses without a JSON body the API's error shape.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if (status.is_client_error() || status.is_server_error()) && !is_json {
        let (mut parts, _) = res.into_parts();
        let mut fresh = ApiError::for_status(status).into_response();
        std::mem::swap(fresh.headers_mut(), &mut parts.headers);
        fresh.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        fresh.headers_mut().remove(header::CONTENT_LENGTH);
        return fresh;
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_labels_are_a_fixed_set() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::OPTIONS), "OPTIONS");
        for odd in ["FOO123", "TRACE", "CONNECT", "get"] {
            let m = Method::from_bytes(odd.as_bytes()).unwrap_or(Method::TRACE);
            assert_eq!(method_label(&m), "other", "{odd}");
        }
    }
}
