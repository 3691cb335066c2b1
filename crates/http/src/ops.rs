//! Operational routes: liveness, readiness, Prometheus metrics, and the
//! storefront page and its OpenAPI document.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use emporium_domain::ports::{Cache, CatalogStore};
use serde_json::json;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(storefront))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
}

async fn storefront() -> Html<&'static str> {
    Html(include_str!("../../../web/index.html"))
}

async fn live() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready when the store answers. A failing cache only degrades the shop
/// (requests go to the store), so it is reported but does not fail readiness.
async fn ready(State(s): State<AppState>) -> Response {
    let store = s.catalog.store().ping().await;
    let cache = s.catalog.cache().ping().await;
    let status = match (&store, &cache) {
        (Err(_), _) => "unavailable",
        (Ok(()), Err(_)) => "degraded",
        _ => "ok",
    };
    let code = if store.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": status,
        "checks": {
            "store": { "kind": s.store_kind, "ok": store.is_ok() },
            "cache": { "kind": s.catalog.cache().kind(), "ok": cache.is_ok() },
        }
    });
    if let Err(e) = &store {
        tracing::warn!(error = %e, "readiness: store check failed");
    }
    if let Err(e) = &cache {
        tracing::warn!(error = %e, "readiness: cache check failed");
    }
    (code, Json(body)).into_response()
}

async fn metrics(State(s): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
        .into_response()
}
