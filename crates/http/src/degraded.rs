//! Degraded mode: while no primary database can be reached the shop keeps
//! serving what it can read (from a replica, or stale from the cache) and
//! pauses writes (503 `degraded` with `Retry-After`). Every response served
//! in that state carries `X-Emporium-Degraded`, and `GET /api/status` tells
//! the storefront to show its banner and disable checkout.

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

/// The response header naming why a response is degraded.
pub const HEADER: &str = "x-emporium-degraded";
/// A catalog answer served from the cache past its TTL.
pub const STALE: &str = "stale";
/// Served while writes are paused (no primary database reachable).
pub const READ_ONLY: &str = "read-only";

/// What the storefront tells customers while the shop is degraded.
pub const MESSAGE: &str = "You can browse the shop; checkout is paused for a moment.";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(status))
}

/// Marks every response served while writes are paused (unless a handler
/// already said why it is degraded).
pub async fn mark(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    if !s.catalog.store().writable() {
        response
            .headers_mut()
            .entry(HeaderName::from_static(HEADER))
            .or_insert(HeaderValue::from_static(READ_ONLY));
    }
    response
}

#[derive(Serialize, ToSchema)]
struct ShopStatus {
    /// `ok`, or `degraded` while writes are paused.
    #[schema(example = "ok")]
    status: &'static str,
    /// Whether carts, checkout, payments and accounts can be changed now.
    writes: bool,
    /// What to tell customers while degraded.
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'static str>,
}

/// Whether the shop is taking orders right now, or degraded (browsing
/// only; the storefront shows a banner and disables checkout).
#[utoipa::path(
    get,
    path = "/api/status",
    tag = "catalog",
    responses((status = 200, description = "The shop's state", body = ShopStatus))
)]
async fn status(State(s): State<AppState>) -> Response {
    let writes = s.catalog.store().writable();
    Json(ShopStatus {
        status: if writes { "ok" } else { "degraded" },
        writes,
        message: (!writes).then_some(MESSAGE),
    })
    .into_response()
}
