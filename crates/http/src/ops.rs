//! Operational routes: liveness, readiness, Prometheus metrics, and the
//! public client configuration (`GET /api/config`). The storefront itself
//! is served by [`crate::web`]. `/metrics` is served on the shop's port or
//! on an operator address of its own, and with a token configured it
//! answers only `Authorization: Bearer <token>` (401 otherwise).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use emporium_domain::ports::Cache;
use serde_json::json;

use crate::error::{ApiError, ErrorCode};
use crate::AppState;

/// The public configuration a browser or app needs; nothing secret.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ClientConfig {
    /// ISO-4217; every amount is in its minor units.
    pub currency: String,
    pub payments: PublicPayments,
    /// Payments go to a simulator (test cards, no money moves): clients
    /// must say so on every page.
    pub test_mode: bool,
}

/// Where and with which public key clients tokenize cards themselves, so
/// that card data never reaches the shop.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct PublicPayments {
    /// POST card fields here (form-encoded, `Authorization: Bearer <publishable_key>`).
    pub tokenization_url: String,
    pub publishable_key: String,
}

pub fn config_router() -> utoipa_axum::router::OpenApiRouter<AppState> {
    utoipa_axum::router::OpenApiRouter::new().routes(utoipa_axum::routes!(client_config))
}

/// What clients need to know: the currency and how to tokenize a card.
#[utoipa::path(
    get,
    path = "/api/config",
    tag = "orders",
    responses((status = 200, description = "The public configuration", body = ClientConfig))
)]
async fn client_config(State(s): State<AppState>) -> Response {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(s.client_config.as_ref().clone()),
    )
        .into_response()
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
}

/// The bearer token `/metrics` asks for; `Debug` does not show it.
#[derive(Clone)]
pub struct MetricsToken(Arc<str>);

impl MetricsToken {
    /// None for an empty token (no token asked for).
    pub fn new(token: &str) -> Option<MetricsToken> {
        (!token.is_empty()).then(|| MetricsToken(token.into()))
    }

    /// Compares in time that does not depend on where the bytes differ.
    fn matches(&self, given: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), given.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(…)")
    }
}

#[derive(Clone)]
struct MetricsState {
    handle: metrics_exporter_prometheus::PrometheusHandle,
    token: Option<MetricsToken>,
}

/// `GET /metrics` in the Prometheus text format.
pub fn metrics_router(
    handle: metrics_exporter_prometheus::PrometheusHandle,
    token: Option<MetricsToken>,
) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(MetricsState { handle, token })
}

async fn live() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: whether this instance can serve. It stays ready while the
/// database is degraded (reads from a replica or stale from the cache,
/// writes answered 503 `degraded`), so that an outage of the shared
/// database does not take every instance out of the gateway's rotation;
/// the body says what is degraded.
async fn ready(State(s): State<AppState>) -> Response {
    let store = s.catalog.ping_store().await;
    let cache = s.catalog.cache().ping().await;
    let writes = s.catalog.store().writable();
    let status = if store.is_ok() && cache.is_ok() && writes {
        "ok"
    } else {
        "degraded"
    };
    let servers: Vec<_> = s
        .catalog
        .store()
        .servers()
        .iter()
        .map(|server| {
            json!({
                "role": format!("{:?}", server.role).to_lowercase(),
                "breaker": format!("{:?}", server.breaker).to_lowercase(),
                "lag_ms": server.lag.as_millis(),
            })
        })
        .collect();
    let body = json!({
        "status": status,
        "checks": {
            "store": { "kind": s.store_kind, "ok": store.is_ok(), "writes": writes, "servers": servers },
            "cache": { "kind": s.catalog.cache().kind(), "ok": cache.is_ok() },
        }
    });
    if let Err(e) = &store {
        tracing::warn!(error = %e, "readiness: no database server answers");
    }
    if let Err(e) = &cache {
        tracing::warn!(error = %e, "readiness: cache check failed");
    }
    (StatusCode::OK, Json(body)).into_response()
}

async fn metrics(State(s): State<MetricsState>, headers: HeaderMap) -> Response {
    if let Some(token) = &s.token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim());
        if !given.is_some_and(|t| token.matches(t)) {
            return ApiError::unauthenticated(
                ErrorCode::Unauthenticated,
                "/metrics needs Authorization: Bearer <server.metrics_token>",
            )
            .into_response();
        }
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.handle.render(),
    )
        .into_response()
}
