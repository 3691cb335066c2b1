//! `/_control`: the simulator's own knobs, behind the secret key and never
//! subject to faults. `GET /_control/faults` shows the faults in force,
//! `POST /_control/faults` replaces them (JSON with `Faults`' fields, a
//! missing field taking its default), `POST /_control/reset` clears them.

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::config::Faults;
use crate::stripe_error::StripeError;
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/_control/faults", get(show).post(replace))
        .route("/_control/reset", post(reset))
}

async fn show(State(state): State<AppState>) -> Json<Faults> {
    Json(state.faults())
}

async fn replace(State(state): State<AppState>, body: Bytes) -> Result<Json<Faults>, StripeError> {
    let faults: Faults = serde_json::from_slice(&body)
        .map_err(|e| StripeError::invalid(format!("Invalid faults: {e}")))?;
    state.set_faults(faults).map_err(StripeError::invalid)?;
    tracing::info!(faults = ?state.faults(), "faults replaced");
    Ok(Json(state.faults()))
}

async fn reset(State(state): State<AppState>) -> Json<Faults> {
    state.inner.faults.send_replace(Faults::default());
    tracing::info!("faults cleared");
    Json(state.faults())
}
