//! `POST /v1/payment_methods` and `POST /v1/tokens` (publishable key,
//! CORS-open) turn card details into a `pm_…` or single-use `tok_…`:
//! the number is Luhn- and expiry-checked, then only brand, last four and
//! expiry are kept. `GET /v1/payment_methods/{id}` needs the secret key.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;

use crate::cards::CardInput;
use crate::form::{Form, Params};
use crate::model::{now, year_month};
use crate::stripe_error::StripeError;
use crate::AppState;

/// The routes open to the publishable key. The OPTIONS routes let the
/// CORS layer around them answer preflights (it only sees matched routes).
pub(super) fn tokenization() -> Router<AppState> {
    Router::new()
        .route("/v1/payment_methods", post(create).options(preflight))
        .route("/v1/tokens", post(create_token).options(preflight))
}

async fn preflight() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// The routes that need the secret key.
pub(super) fn router() -> Router<AppState> {
    Router::new().route("/v1/payment_methods/{id}", get(retrieve))
}

fn checked_card(params: &Params) -> Result<crate::cards::CardFacts, StripeError> {
    let card = params.map("card")?;
    if card.is_empty() {
        return Err(StripeError::missing("card"));
    }
    CardInput::from_params(&card)?.check(year_month(now()))
}

async fn create(
    State(state): State<AppState>,
    Form(params): Form,
) -> Result<Json<Value>, StripeError> {
    params.only(&["type", "card", "metadata", "expand"])?;
    match params.required_str("type")? {
        "card" => {}
        other => {
            return Err(StripeError::param_invalid(
                "type",
                "parameter_invalid",
                format!("Invalid type: {other}; only card is supported"),
            ))
        }
    }
    let metadata = params.metadata()?;
    let card = checked_card(&params)?;
    let pm = state.ledger().create_payment_method(card, metadata).await?;
    tracing::info!(payment_method = %pm.id, brand = pm.card.brand, "payment method created");
    Ok(Json(pm.to_json()))
}

async fn create_token(
    State(state): State<AppState>,
    Form(params): Form,
) -> Result<Json<Value>, StripeError> {
    params.only(&["card", "expand"])?;
    let card = checked_card(&params)?;
    let (token, card_id, pm) = state.ledger().create_token(card).await?;
    Ok(Json(pm.token_json(&token, &card_id, false)))
}

async fn retrieve(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, StripeError> {
    Ok(Json(state.ledger().payment_method(&id).await?.to_json()))
}
