//! The HTTP surface: `/v1` routes by resource, each group behind its key
//! check, the idempotency layer and fault injection; `/_control` for
//! faults; Stripe-shaped errors for unknown routes; a `Request-Id` on
//! every response. Tokenization is CORS-open so a browser can call it
//! directly with the publishable key.

mod control;
mod events;
mod intents;
mod payment_methods;
mod refunds;
mod search;

use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::cors::{Any, CorsLayer};

use crate::form::Params;
use crate::model::new_id;
use crate::stripe_error::StripeError;
use crate::{auth, faults, idempotency, AppState};

/// The whole simulator as a router (webhooks are delivered by [`crate::run`]).
pub fn router(state: AppState) -> Router {
    let tokenization = payment_methods::tokenization()
        .layer(from_fn_with_state(state.clone(), idempotency::layer))
        .layer(from_fn_with_state(state.clone(), auth::publishable_key))
        .layer(from_fn_with_state(state.clone(), faults::inject))
        .layer(cors());
    let api = Router::new()
        .merge(payment_methods::router())
        .merge(intents::router())
        .merge(refunds::router())
        .merge(events::router())
        .layer(from_fn_with_state(state.clone(), idempotency::layer))
        .layer(from_fn_with_state(state.clone(), auth::secret_key))
        .layer(from_fn_with_state(state.clone(), faults::inject));
    let control = control::router().layer(from_fn_with_state(state.clone(), auth::secret_key));
    Router::new()
        .merge(tokenization)
        .merge(api)
        .merge(control)
        .fallback(unrecognized)
        .method_not_allowed_fallback(unrecognized)
        .layer(from_fn(request_id))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// What Stripe.js needs to call tokenization from any page.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("stripe-version"),
        ])
        .max_age(std::time::Duration::from_secs(600))
}

async fn unrecognized(method: Method, uri: axum::http::Uri) -> Response {
    StripeError::unrecognized_url(method.as_str(), uri.path()).into_response()
}

async fn request_id(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    if let Ok(id) = HeaderValue::from_str(&new_id("req")) {
        res.headers_mut()
            .insert(HeaderName::from_static("request-id"), id);
    }
    res
}

/// `limit` of a list: 1 to 100, 10 when absent.
fn limit(params: &Params) -> Result<u32, StripeError> {
    match params.int("limit")? {
        None => Ok(10),
        Some(n @ 1..=100) => Ok(u32::try_from(n).unwrap_or(10)),
        Some(_) => Err(StripeError::param_invalid(
            "limit",
            "parameter_invalid_integer",
            "This value must be greater than or equal to 1 and less than or equal to 100.",
        )),
    }
}

/// A non-empty optional string parameter.
fn opt_string(params: &Params, name: &str) -> Result<Option<String>, StripeError> {
    Ok(params
        .str(name)?
        .filter(|s| !s.is_empty())
        .map(str::to_owned))
}

/// An enumerated parameter: one of `allowed`, or absent.
fn one_of(params: &Params, name: &str, allowed: &[&str]) -> Result<Option<String>, StripeError> {
    match opt_string(params, name)? {
        Some(value) if !allowed.contains(&value.as_str()) => Err(StripeError::param_invalid(
            name,
            "parameter_invalid",
            format!("Invalid {name}: must be one of {}", allowed.join(", ")),
        )),
        value => Ok(value),
    }
}
