//! Stripe's error object, `{"error":{"type","code","decline_code","message",
//! "param","doc_url",…}}`, with the status Stripe gives each kind: 400
//! invalid request, 401 bad key, 402 card error, 404 missing resource, 409
//! idempotency key in use, 5xx API errors. Internal causes are logged,
//! never shown.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::cards::Behavior;
use crate::ledger::LedgerError;
use crate::model::PaymentMethod;

/// Marks a response the idempotency layer must not save: the request was
/// refused before it did anything (bad parameters), so a retry with the
/// same key may run it afresh — as Stripe does.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NotExecuted;

#[derive(Debug)]
pub struct StripeError {
    pub status: StatusCode,
    /// `invalid_request_error`, `card_error`, `idempotency_error`, `api_error`.
    pub kind: &'static str,
    pub code: Option<&'static str>,
    pub decline_code: Option<&'static str>,
    pub message: String,
    pub param: Option<String>,
    /// More members of the error object (`payment_intent`, `charge`…).
    pub extra: Option<Box<Map<String, Value>>>,
    /// Whether the request did anything (see [`NotExecuted`]).
    pub executed: bool,
}

impl StripeError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        StripeError {
            status,
            kind,
            code: None,
            decline_code: None,
            message: message.into(),
            param: None,
            extra: None,
            executed: true,
        }
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.extra
            .get_or_insert_with(Default::default)
            .insert(key.to_owned(), value);
        self
    }

    /// A 400 `invalid_request_error` that changed nothing.
    pub fn invalid(message: impl Into<String>) -> Self {
        let mut e = StripeError::new(StatusCode::BAD_REQUEST, "invalid_request_error", message);
        e.executed = false;
        e
    }

    /// A parameter with a value of the wrong shape or range.
    pub fn param_invalid(param: &str, code: &'static str, message: impl Into<String>) -> Self {
        StripeError::invalid(message)
            .with_code(code)
            .with_param(param)
    }

    pub fn missing(param: &str) -> Self {
        StripeError::invalid(format!("Missing required param: {param}."))
            .with_code("parameter_missing")
            .with_param(param)
    }

    pub fn unknown_param(param: &str) -> Self {
        StripeError::invalid(format!("Received unknown parameter: {param}"))
            .with_code("parameter_unknown")
            .with_param(param)
    }

    /// `No such payment_intent: 'pi_…'` for a resource named in the URL (404).
    pub fn no_such(object: &str, id: &str) -> Self {
        let mut e = StripeError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("No such {object}: '{id}'"),
        )
        .with_code("resource_missing");
        e.executed = false;
        e
    }

    /// A 401 for a missing or wrong API key.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        let mut e = StripeError::new(StatusCode::UNAUTHORIZED, "invalid_request_error", message);
        e.executed = false;
        e
    }

    /// A 402 `card_error` (a bad number at tokenization, a decline at confirmation).
    pub fn card(code: &'static str, message: impl Into<String>) -> Self {
        StripeError::new(StatusCode::PAYMENT_REQUIRED, "card_error", message).with_code(code)
    }

    pub fn idempotency(status: StatusCode, message: impl Into<String>) -> Self {
        let mut e = StripeError::new(status, "idempotency_error", message);
        e.executed = false;
        e
    }

    /// An `api_error` with the given 5xx status; it changed nothing.
    pub fn api(status: StatusCode, message: impl Into<String>) -> Self {
        let mut e = StripeError::new(status, "api_error", message);
        e.executed = false;
        e
    }

    /// The 402 a declined charge answers, as stored in `last_payment_error`.
    pub fn decline(behavior: Behavior, charge_id: &str, pm: &PaymentMethod) -> Self {
        let (code, decline_code, message) = behavior.decline().unwrap_or((
            "card_declined",
            Some("generic_decline"),
            "Your card was declined.",
        ));
        let mut e = StripeError::card(code, message)
            .with("charge", json!(charge_id))
            .with("payment_method", pm.to_json());
        e.decline_code = decline_code;
        e
    }

    /// The body for a route or method that does not exist.
    pub fn unrecognized_url(method: &str, path: &str) -> Self {
        let mut e = StripeError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("Unrecognized request URL ({method}: {path})."),
        );
        e.executed = false;
        e
    }

    /// The `error` object itself (also stored as an intent's `last_payment_error`).
    pub fn to_object(&self) -> Value {
        let mut object = Map::new();
        object.insert("type".into(), json!(self.kind));
        object.insert("message".into(), json!(self.message));
        if let Some(code) = self.code {
            object.insert("code".into(), json!(code));
            object.insert(
                "doc_url".into(),
                json!(format!(
                    "https://stripe.com/docs/error-codes/{}",
                    code.replace('_', "-")
                )),
            );
        }
        if let Some(decline_code) = self.decline_code {
            object.insert("decline_code".into(), json!(decline_code));
        }
        if let Some(param) = &self.param {
            object.insert("param".into(), json!(param));
        }
        if let Some(extra) = &self.extra {
            object.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Value::Object(object)
    }
}

impl std::fmt::Display for StripeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.kind,
            self.message
        )
    }
}

impl IntoResponse for StripeError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.to_object() });
        let mut res = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"Stripe\""),
            );
        }
        if !self.executed {
            res.extensions_mut().insert(NotExecuted);
        }
        res
    }
}

impl From<LedgerError> for StripeError {
    fn from(e: LedgerError) -> StripeError {
        match e {
            LedgerError::NotFound { object, id } => StripeError::no_such(object, &id),
            LedgerError::MissingReference { object, id, param } => {
                StripeError::invalid(format!("No such {object}: '{id}'"))
                    .with_code("resource_missing")
                    .with_param(param)
            }
            LedgerError::UnexpectedState { message, intent } => {
                let mut e = StripeError::invalid(message)
                    .with_code("payment_intent_unexpected_state")
                    .with("payment_intent", intent.to_json());
                e.executed = true;
                e
            }
            LedgerError::Invalid {
                code,
                param,
                message,
            } => {
                let mut e = StripeError::invalid(message);
                e.code = code;
                e.param = param.map(str::to_owned);
                e.executed = true;
                e
            }
            LedgerError::Db(cause) => {
                tracing::error!(%cause, "ledger error");
                StripeError::api(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "An unknown error occurred while processing your request.",
                )
            }
        }
    }
}
