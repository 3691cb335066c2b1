//! One error type for the whole API, rendered as
//! `{"error":{"code","message","details","request_id"}}` with the right
//! status. 5xx bodies say nothing internal; the cause is logged inside the
//! request's span.

use std::time::Duration;

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use emporium_auth::{AuthError, TokenError};
use emporium_domain::{DomainError, StoreError, ValidationError};
use serde::Serialize;
use utoipa::ToSchema;

tokio::task_local! {
    /// The current request's id, set by the request-id middleware.
    pub static REQUEST_ID: String;
}

/// Every error code the API answers with: stable and machine-readable,
/// the `error.code` of each error body. One closed list, so that a handler
/// cannot invent a code and a client can rely on the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    BadRequest,
    CartChanged,
    CartEmpty,
    CartFull,
    Conflict,
    Degraded,
    EmailTaken,
    Forbidden,
    HeadersTooLarge,
    IdempotencyKeyReused,
    IllegalTransition,
    Internal,
    InvalidCredentials,
    InvalidEvent,
    InvalidRefreshToken,
    InvalidSignature,
    InvalidToken,
    MethodNotAllowed,
    NotFound,
    OrderNotPayable,
    OrderNotRefundable,
    OrderTotalTooLarge,
    OutOfStock,
    PayloadTooLarge,
    PaymentDeclined,
    PaymentInProgress,
    PaymentRefused,
    PaymentsDisabled,
    PriceChanged,
    ProductUnavailable,
    RateLimited,
    RefreshTokenReused,
    RefundExceedsPaid,
    SearchTimeout,
    StockAboveMaximum,
    StockBelowReserved,
    TooManyPaymentAttempts,
    TooManyUnpaidOrders,
    Unauthenticated,
    Unavailable,
    UnsupportedMediaType,
    UriTooLong,
    ValidationFailed,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 43] = [
        ErrorCode::BadRequest,
        ErrorCode::CartChanged,
        ErrorCode::CartEmpty,
        ErrorCode::CartFull,
        ErrorCode::Conflict,
        ErrorCode::Degraded,
        ErrorCode::EmailTaken,
        ErrorCode::Forbidden,
        ErrorCode::HeadersTooLarge,
        ErrorCode::IdempotencyKeyReused,
        ErrorCode::IllegalTransition,
        ErrorCode::Internal,
        ErrorCode::InvalidCredentials,
        ErrorCode::InvalidEvent,
        ErrorCode::InvalidRefreshToken,
        ErrorCode::InvalidSignature,
        ErrorCode::InvalidToken,
        ErrorCode::MethodNotAllowed,
        ErrorCode::NotFound,
        ErrorCode::OrderNotPayable,
        ErrorCode::OrderNotRefundable,
        ErrorCode::OrderTotalTooLarge,
        ErrorCode::OutOfStock,
        ErrorCode::PayloadTooLarge,
        ErrorCode::PaymentDeclined,
        ErrorCode::PaymentInProgress,
        ErrorCode::PaymentRefused,
        ErrorCode::PaymentsDisabled,
        ErrorCode::PriceChanged,
        ErrorCode::ProductUnavailable,
        ErrorCode::RateLimited,
        ErrorCode::RefreshTokenReused,
        ErrorCode::RefundExceedsPaid,
        ErrorCode::SearchTimeout,
        ErrorCode::StockAboveMaximum,
        ErrorCode::StockBelowReserved,
        ErrorCode::TooManyPaymentAttempts,
        ErrorCode::TooManyUnpaidOrders,
        ErrorCode::Unauthenticated,
        ErrorCode::Unavailable,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::UriTooLong,
        ErrorCode::ValidationFailed,
    ];

    /// The code as clients see it (`snake_case`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::CartChanged => "cart_changed",
            ErrorCode::CartEmpty => "cart_empty",
            ErrorCode::CartFull => "cart_full",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Degraded => "degraded",
            ErrorCode::EmailTaken => "email_taken",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::HeadersTooLarge => "headers_too_large",
            ErrorCode::IdempotencyKeyReused => "idempotency_key_reused",
            ErrorCode::IllegalTransition => "illegal_transition",
            ErrorCode::Internal => "internal",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::InvalidEvent => "invalid_event",
            ErrorCode::InvalidRefreshToken => "invalid_refresh_token",
            ErrorCode::InvalidSignature => "invalid_signature",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::NotFound => "not_found",
            ErrorCode::OrderNotPayable => "order_not_payable",
            ErrorCode::OrderNotRefundable => "order_not_refundable",
            ErrorCode::OrderTotalTooLarge => "order_total_too_large",
            ErrorCode::OutOfStock => "out_of_stock",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::PaymentDeclined => "payment_declined",
            ErrorCode::PaymentInProgress => "payment_in_progress",
            ErrorCode::PaymentRefused => "payment_refused",
            ErrorCode::PaymentsDisabled => "payments_disabled",
            ErrorCode::PriceChanged => "price_changed",
            ErrorCode::ProductUnavailable => "product_unavailable",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::RefreshTokenReused => "refresh_token_reused",
            ErrorCode::RefundExceedsPaid => "refund_exceeds_paid",
            ErrorCode::SearchTimeout => "search_timeout",
            ErrorCode::StockAboveMaximum => "stock_above_maximum",
            ErrorCode::StockBelowReserved => "stock_below_reserved",
            ErrorCode::TooManyPaymentAttempts => "too_many_payment_attempts",
            ErrorCode::TooManyUnpaidOrders => "too_many_unpaid_orders",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::UriTooLong => "uri_too_long",
            ErrorCode::ValidationFailed => "validation_failed",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub details: Vec<ValidationError>,
    /// Extra response headers (`Retry-After`, `WWW-Authenticate`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Machine-readable specifics (the prices that changed, the stock left…);
    /// boxed to keep `Result<_, ApiError>` small.
    pub context: Option<Box<serde_json::Value>>,
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
    /// Specifics of some errors: `changes` for `price_changed`,
    /// `product_id`/`available` for `out_of_stock`…
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub context: Option<serde_json::Value>,
    /// Matches the `x-request-id` response header.
    pub request_id: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            headers: Vec::new(),
            context: None,
        }
    }

    pub fn with_context(mut self, context: serde_json::Value) -> ApiError {
        self.context = Some(Box::new(context));
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> ApiError {
        self.headers.push((name, value));
        self
    }

    /// A 429 telling the client when to try again (whole seconds, at least 1).
    pub fn too_many_requests(retry_after: Duration) -> ApiError {
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            format!("too many requests; try again in {} s", secs.max(1)),
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from(secs.max(1)))
    }

    /// A 401 for a missing or refused access token.
    pub fn unauthenticated(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, code, message).with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"emporium\""),
        )
    }

    fn validation(details: Vec<ValidationError>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: ErrorCode::ValidationFailed,
            message: details
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
            details,
            headers: Vec::new(),
            context: None,
        }
    }

    pub fn bad_request(field: &str, message: impl Into<String>) -> ApiError {
        let message = message.into();
        ApiError::validation(vec![ValidationError::new(field, message)])
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("{what} not found"),
        )
    }

    /// The JSON body for a status produced outside the handlers (timeouts,
    /// body limits, unknown routes).
    pub fn for_status(status: StatusCode) -> ApiError {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => (ErrorCode::NotFound, "no such route"),
            StatusCode::METHOD_NOT_ALLOWED => (
                ErrorCode::MethodNotAllowed,
                "method not allowed on this route",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => {
                (ErrorCode::PayloadTooLarge, "request body is too large")
            }
            StatusCode::REQUEST_TIMEOUT
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT => (
                ErrorCode::Unavailable,
                "the shop is busy or degraded right now; please try again shortly",
            ),
            s if s.is_server_error() => (ErrorCode::Internal, "something went wrong on our side"),
            _ => (ErrorCode::BadRequest, "the request could not be processed"),
        };
        ApiError::new(status, code, message)
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> ApiError {
        match e {
            DomainError::Validation(details) => ApiError::validation(details),
            DomainError::NotFound { what } => ApiError::not_found(what),
            DomainError::SearchTimedOut => {
                metrics::counter!("search_timeouts_total").increment(1);
                tracing::warn!("a search was stopped at its time limit (store.search_timeout_ms)");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::SearchTimeout,
                    "this search took too long and was stopped; try again shortly, or narrow it (more words, a category, a price range)",
                )
                .with_header(header::RETRY_AFTER, HeaderValue::from_static("2"))
            }
            DomainError::Store(e) => e.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Unavailable(cause) => {
                tracing::error!(%cause, "store unavailable");
                metrics::counter!("degraded_responses_total").increment(1);
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::Degraded,
                    "The shop is running in a reduced mode for a moment: you can keep browsing, but this action (checkout, payment, your cart or account) is paused. Please try again in a minute.",
                )
                .with_header(header::RETRY_AFTER, HeaderValue::from_static("5"))
                .with_header(
                    HeaderName::from_static(crate::degraded::HEADER),
                    HeaderValue::from_static(crate::degraded::READ_ONLY),
                )
            }
            StoreError::Conflict(cause) => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::Conflict, cause)
            }
            StoreError::TimedOut(cause) => {
                tracing::warn!(%cause, "a statement was stopped at its time limit");
                ApiError::for_status(StatusCode::SERVICE_UNAVAILABLE)
                    .with_header(header::RETRY_AFTER, HeaderValue::from_static("2"))
            }
            StoreError::Internal(cause) => {
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
                code: self.code.as_str(),
                message: self.message,
                details: self.details,
                context: self.context.map(|c| *c),
                request_id: REQUEST_ID.try_with(Clone::clone).ok(),
            },
        };
        let mut res = (self.status, axum::Json(body)).into_response();
        for (name, value) in self.headers {
            res.headers_mut().insert(name, value);
        }
        res
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> ApiError {
        match e {
            TokenError::Missing => ApiError::unauthenticated(
                ErrorCode::Unauthenticated,
                "sign in first: send Authorization: Bearer <access token>",
            ),
            e => ApiError::unauthenticated(ErrorCode::InvalidToken, e.to_string()),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        let message = e.to_string();
        match e {
            AuthError::Validation(details) => ApiError::validation(details),
            AuthError::EmailTaken => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::EmailTaken, message)
            }
            AuthError::InvalidCredentials => {
                ApiError::unauthenticated(ErrorCode::InvalidCredentials, message)
            }
            AuthError::WrongCurrentPassword => ApiError::validation(vec![ValidationError::new(
                "current_password",
                "is incorrect",
            )]),
            AuthError::Throttled { retry_after } => ApiError::too_many_requests(retry_after),
            AuthError::InvalidRefreshToken => {
                ApiError::unauthenticated(ErrorCode::InvalidRefreshToken, message)
            }
            AuthError::RefreshTokenReused => {
                ApiError::unauthenticated(ErrorCode::RefreshTokenReused, message)
            }
            AuthError::AccountGone => ApiError::unauthenticated(ErrorCode::InvalidToken, message),
            AuthError::Busy => ApiError::for_status(StatusCode::SERVICE_UNAVAILABLE)
                .with_header(header::RETRY_AFTER, HeaderValue::from_static("1")),
            AuthError::KeysUnavailable(cause) => {
                tracing::error!(%cause, "token keys unavailable");
                ApiError::for_status(StatusCode::SERVICE_UNAVAILABLE)
            }
            AuthError::Store(e) => e.into(),
            AuthError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                ApiError::for_status(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }
}

mod services;

#[cfg(test)]
mod tests;
