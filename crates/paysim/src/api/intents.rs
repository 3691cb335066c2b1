//! PaymentIntents: create (optionally confirming), retrieve, list (with a
//! `metadata[key]=value` filter — an extension; Stripe itself filters only
//! through `/search`, also offered), search, confirm, capture, cancel. A
//! declined card answers 402 with the intent inside the error, as Stripe.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{limit, one_of, opt_string, search};
use crate::form::{Form, Query};
use crate::ledger::{ConfirmOutcome, IntentFilter, NewIntent};
use crate::model::{list, CaptureMethod, IntentStatus};
use crate::stripe_error::StripeError;
use crate::AppState;

/// Stripe's largest amount (eight digits).
const MAX_AMOUNT: i64 = 99_999_999;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/payment_intents", post(create).get(list_intents))
        .route("/v1/payment_intents/search", get(search_intents))
        .route("/v1/payment_intents/{id}", get(retrieve))
        .route("/v1/payment_intents/{id}/confirm", post(confirm))
        .route("/v1/payment_intents/{id}/capture", post(capture))
        .route("/v1/payment_intents/{id}/cancel", post(cancel))
}

async fn create(
    State(state): State<AppState>,
    Form(params): Form,
) -> Result<Json<Value>, StripeError> {
    params.only(&[
        "amount",
        "currency",
        "payment_method",
        "confirm",
        "capture_method",
        "metadata",
        "description",
        "payment_method_types",
        "expand",
    ])?;
    let amount = params
        .int("amount")?
        .ok_or_else(|| StripeError::missing("amount"))?;
    if amount < 1 {
        return Err(StripeError::param_invalid(
            "amount",
            "amount_too_small",
            "Amount must be at least 1 (in the currency's smallest unit).",
        ));
    }
    if amount > MAX_AMOUNT {
        return Err(StripeError::param_invalid(
            "amount",
            "amount_too_large",
            format!("Amount must be no more than {MAX_AMOUNT}."),
        ));
    }
    let currency = params.required_str("currency")?.to_ascii_lowercase();
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(StripeError::param_invalid(
            "currency",
            "parameter_invalid",
            format!("Invalid currency: {currency}. Stripe currently supports these currencies: usd, eur, gbp, …"),
        ));
    }
    if let Some(other) = params
        .values("payment_method_types")
        .into_iter()
        .find(|t| *t != "card")
    {
        return Err(StripeError::param_invalid(
            "payment_method_types",
            "payment_method_type_invalid",
            format!("The payment method type provided: {other} is invalid. Only card is supported here."),
        ));
    }
    let capture_method = match one_of(
        &params,
        "capture_method",
        &["automatic", "automatic_async", "manual"],
    )? {
        Some(c) => CaptureMethod::parse(&c).unwrap_or(CaptureMethod::Automatic),
        None => CaptureMethod::Automatic,
    };
    let payment_method = opt_string(&params, "payment_method")?;
    let confirm = params.bool("confirm")?.unwrap_or(false);
    if confirm && payment_method.is_none() {
        return Err(StripeError::missing("payment_method"));
    }
    let new = NewIntent {
        amount,
        currency,
        capture_method,
        payment_method,
        confirm,
        metadata: params.metadata()?,
        description: opt_string(&params, "description")?,
    };
    let outcome = state.ledger().create_intent(new).await;
    answer(&state, outcome)
}

async fn confirm(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(params): Form,
) -> Result<Json<Value>, StripeError> {
    params.only(&["payment_method", "expand", "return_url"])?;
    let payment_method = opt_string(&params, "payment_method")?;
    let outcome = state
        .ledger()
        .confirm_intent(&id, payment_method.as_deref())
        .await;
    answer(&state, outcome)
}

/// The response to a create or confirm: the intent, or the decline.
fn answer(
    state: &AppState,
    outcome: Result<ConfirmOutcome, crate::ledger::LedgerError>,
) -> Result<Json<Value>, StripeError> {
    match outcome? {
        ConfirmOutcome::Done(intent) => {
            state.events_recorded();
            tracing::info!(intent = %intent.id, status = intent.status.as_str(), "payment intent");
            Ok(Json(intent.to_json()))
        }
        ConfirmOutcome::Declined {
            intent,
            charge,
            payment_method,
        } => {
            state.events_recorded();
            tracing::info!(intent = %intent.id, charge = %charge.id, "card declined");
            Err(
                StripeError::decline(payment_method.behavior(), &charge.id, &payment_method)
                    .with("payment_intent", intent.to_json()),
            )
        }
    }
}

async fn capture(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(params): Form,
) -> Result<Json<Value>, StripeError> {
    params.only(&["amount_to_capture", "expand"])?;
    let amount = params.int("amount_to_capture")?;
    let intent = state.ledger().capture_intent(&id, amount).await?;
    state.events_recorded();
    Ok(Json(intent.to_json()))
}

async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(params): Form,
) -> Result<Json<Value>, StripeError> {
    params.only(&["cancellation_reason", "expand"])?;
    let reason = one_of(
        &params,
        "cancellation_reason",
        &[
            "duplicate",
            "fraudulent",
            "requested_by_customer",
            "abandoned",
        ],
    )?;
    let intent = state.ledger().cancel_intent(&id, reason).await?;
    state.events_recorded();
    Ok(Json(intent.to_json()))
}

async fn retrieve(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, StripeError> {
    Ok(Json(state.ledger().intent(&id).await?.to_json()))
}

async fn list_intents(
    State(state): State<AppState>,
    Query(params): Query,
) -> Result<Json<Value>, StripeError> {
    params.only(&["metadata", "status", "limit", "expand"])?;
    let status = match opt_string(&params, "status")? {
        Some(s) => Some(IntentStatus::parse(&s).ok_or_else(|| {
            StripeError::param_invalid(
                "status",
                "parameter_invalid",
                format!("Invalid status: {s}"),
            )
        })?),
        None => None,
    };
    let filter = IntentFilter {
        metadata: params.metadata()?,
        status,
        limit: limit(&params)?,
    };
    let (intents, has_more) = state.ledger().list_intents(&filter).await?;
    let data = intents.iter().map(|i| i.to_json()).collect();
    Ok(Json(list("/v1/payment_intents", data, has_more)))
}

async fn search_intents(
    State(state): State<AppState>,
    Query(params): Query,
) -> Result<Json<Value>, StripeError> {
    params.only(&["query", "limit", "page", "expand"])?;
    let query = params.required_str("query")?;
    let (metadata, status) = search::parse(query)
        .map_err(|message| StripeError::param_invalid("query", "parameter_invalid", message))?;
    let filter = IntentFilter {
        metadata,
        status,
        limit: limit(&params)?,
    };
    let (intents, has_more) = state.ledger().list_intents(&filter).await?;
    let data: Vec<Value> = intents.iter().map(|i| i.to_json()).collect();
    Ok(Json(json!({
        "object": "search_result",
        "url": "/v1/payment_intents/search",
        "has_more": has_more,
        "next_page": null,
        "data": data,
    })))
}
