//! Cross-cutting request handling: the request id in every error body,
//! per-route latency metrics, and JSON bodies for errors that tower layers
//! produce (timeouts, body limits, unknown routes).

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, REQUEST_ID};

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
    let method = req.method().to_string();
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
