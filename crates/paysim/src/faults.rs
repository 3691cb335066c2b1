//! Fault injection around `/v1`: a simulated outage (503), latency,
//! random 500s that do nothing, and "succeeds but times out" — the
//! request's work is done (and its idempotent response saved), but the
//! answer only leaves after `timeout_ms`, so the client gives up although
//! the money moved; and "processing", an intent that never decides.
//! Injected delays end early at shutdown.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::stripe_error::StripeError;
use crate::AppState;

pub(crate) async fn inject(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let faults = state.faults();
    if faults.down {
        return StripeError::api(
            StatusCode::SERVICE_UNAVAILABLE,
            "The API is temporarily unavailable (simulated outage). Please try again later.",
        )
        .into_response();
    }
    if faults.latency_ms > 0 {
        pause(&state, faults.latency_ms).await;
    }
    if faults.error_rate > 0.0 && fastrand::f64() < faults.error_rate {
        return StripeError::api(
            StatusCode::INTERNAL_SERVER_ERROR,
            "An unknown error occurred while processing your request (simulated).",
        )
        .into_response();
    }
    let post = req.method() == Method::POST;
    if faults.processing && post && req.uri().path() == "/v1/payment_intents" {
        let id = crate::model::new_id("pi");
        return axum::Json(serde_json::json!({
            "id": id, "object": "payment_intent", "status": "processing",
        }))
        .into_response();
    }
    let res = next.run(req).await;
    if faults.timeout_after_success && post && res.status().is_success() {
        pause(&state, faults.timeout_ms).await;
    }
    res
}

async fn pause(state: &AppState, ms: u64) {
    tokio::select! {
        () = tokio::time::sleep(Duration::from_millis(ms)) => {}
        () = state.shutdown_token().cancelled() => {}
    }
}
