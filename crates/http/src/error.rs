//! One error type for the whole API, rendered as
//! `{"error":{"code","message","details","request_id"}}` with the right
//! status. 5xx bodies say nothing internal; the cause is logged inside the
//! request's span.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use emporium_domain::{DomainError, StoreError, ValidationError};
use serde::Serialize;
use utoipa::ToSchema;

tokio::task_local! {
    /// The current request's id, set by the request-id middleware.
    pub static REQUEST_ID: String;
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Vec<ValidationError>,
}

/// The JSON body of every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `validation_failed`, `not_found`, `unavailable`…
    #[schema(example = "validation_failed")]
    pub code: &'static str,
    pub message: String,
    pub details: Vec<ValidationError>,
    /// Matches the `x-request-id` response header.
    pub request_id: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn bad_request(field: &str, message: impl Into<String>) -> ApiError {
        let message = message.into();
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "validation_failed",
            message: format!("{field}: {message}"),
            details: vec![ValidationError::new(field, message)],
        }
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// The JSON body for a status produced outside the handlers (timeouts,
    /// body limits, unknown routes).
    pub fn for_status(status: StatusCode) -> ApiError {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => ("not_found", "no such route"),
            StatusCode::METHOD_NOT_ALLOWED => {
                ("method_not_allowed", "method not allowed on this route")
            }
            StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "request body is too large"),
            StatusCode::REQUEST_TIMEOUT
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT => (
                "unavailable",
                "the shop is busy or degraded right now; please try again shortly",
            ),
            s if s.is_server_error() => ("internal", "something went wrong on our side"),
            _ => ("bad_request", "the request could not be processed"),
        };
        ApiError::new(status, code, message)
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> ApiError {
        match e {
            DomainError::Validation(details) => ApiError {
                status: StatusCode::BAD_REQUEST,
                code: "validation_failed",
                message: details
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
                details,
            },
            DomainError::NotFound { what } => ApiError::not_found(what),
            DomainError::Store(StoreError::Unavailable(cause)) => {
                tracing::error!(%cause, "store unavailable");
                ApiError::for_status(StatusCode::SERVICE_UNAVAILABLE)
            }
            DomainError::Store(StoreError::Conflict(cause)) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", cause)
            }
            DomainError::Store(StoreError::Internal(cause)) => {
                tracing::error!(%cause, "internal error");
                ApiError::for_status(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                details: self.details,
                request_id: REQUEST_ID.try_with(Clone::clone).ok(),
            },
        };
        (self.status, axum::Json(body)).into_response()
    }
}
