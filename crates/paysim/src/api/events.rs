//! `GET /v1/events` (optionally `type=…`) and `GET /v1/events/{id}`: the
//! events the ledger recorded, for reconciling without webhooks.
//! `pending_webhooks` is 1 until the event was delivered.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::{limit, opt_string};
use crate::form::Query;
use crate::model::list;
use crate::stripe_error::StripeError;
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/events", get(list_events))
        .route("/v1/events/{id}", get(retrieve))
}

async fn list_events(
    State(state): State<AppState>,
    Query(params): Query,
) -> Result<Json<Value>, StripeError> {
    params.only(&["type", "limit", "expand"])?;
    let kind = opt_string(&params, "type")?;
    let (events, has_more) = state
        .ledger()
        .list_events(kind.as_deref(), limit(&params)?)
        .await?;
    Ok(Json(list("/v1/events", events, has_more)))
}

async fn retrieve(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, StripeError> {
    Ok(Json(state.ledger().event(&id).await?))
}
