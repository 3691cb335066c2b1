//! Refunds (`POST /v1/refunds` with `payment_intent` or `charge`, full
//! or partial, never beyond what was captured; list and retrieve) and
//! charges (`GET /v1/charges?payment_intent=…`, `GET /v1/charges/{id}`).

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;

use super::{limit, one_of, opt_string};
use crate::form::{Form, Query};
use crate::ledger::NewRefund;
use crate::model::list;
use crate::stripe_error::StripeError;
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/refunds", post(create).get(list_refunds))
        .route("/v1/refunds/{id}", get(retrieve))
        .route("/v1/charges", get(list_charges))
        .route("/v1/charges/{id}", get(charge))
}

async fn create(
    State(state): State<AppState>,
    Form(params): Form,
) -> Result<Json<Value>, StripeError> {
    params.only(&[
        "payment_intent",
        "charge",
        "amount",
        "reason",
        "metadata",
        "expand",
    ])?;
    let amount = params.int("amount")?;
    if amount.is_some_and(|a| a < 1) {
        return Err(StripeError::param_invalid(
            "amount",
            "parameter_invalid_integer",
            "Invalid positive integer",
        ));
    }
    let new = NewRefund {
        payment_intent: opt_string(&params, "payment_intent")?,
        charge: opt_string(&params, "charge")?,
        amount,
        reason: one_of(
            &params,
            "reason",
            &["duplicate", "fraudulent", "requested_by_customer"],
        )?,
        metadata: params.metadata()?,
    };
    if new.payment_intent.is_none() && new.charge.is_none() {
        return Err(StripeError::invalid(
            "One of the following params should be provided for this request: payment_intent or charge.",
        )
        .with_code("parameter_missing"));
    }
    let refund = state.ledger().create_refund(new).await?;
    state.events_recorded();
    tracing::info!(refund = %refund.id, intent = %refund.payment_intent, amount = refund.amount, "refunded");
    Ok(Json(refund.to_json()))
}

async fn list_refunds(
    State(state): State<AppState>,
    Query(params): Query,
) -> Result<Json<Value>, StripeError> {
    params.only(&["payment_intent", "charge", "limit", "expand"])?;
    let payment_intent = opt_string(&params, "payment_intent")?;
    let charge = opt_string(&params, "charge")?;
    let (refunds, has_more) = state
        .ledger()
        .list_refunds(
            payment_intent.as_deref(),
            charge.as_deref(),
            limit(&params)?,
        )
        .await?;
    let data = refunds.iter().map(|r| r.to_json()).collect();
    Ok(Json(list("/v1/refunds", data, has_more)))
}

async fn retrieve(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, StripeError> {
    Ok(Json(state.ledger().refund(&id).await?.to_json()))
}

async fn charge(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, StripeError> {
    Ok(Json(state.ledger().charge(&id).await?.to_json()))
}

async fn list_charges(
    State(state): State<AppState>,
    Query(params): Query,
) -> Result<Json<Value>, StripeError> {
    params.only(&["payment_intent", "limit", "expand"])?;
    let payment_intent = opt_string(&params, "payment_intent")?;
    let (charges, has_more) = state
        .ledger()
        .list_charges(payment_intent.as_deref(), limit(&params)?)
        .await?;
    let data = charges.iter().map(|c| c.to_json()).collect();
    Ok(Json(list("/v1/charges", data, has_more)))
}
