//! The domain services' errors as API errors: one `From` per service
//! (cart, checkout, orders, stock, payments), so every status and code a
//! service error can become is in this file. Variants that several
//! services share are mapped by the functions at the end.

use axum::http::StatusCode;
use emporium_domain::cart::CartError;
use emporium_domain::inventory::StockError;
use emporium_domain::orders::{CheckoutError, OrderError};
use emporium_domain::payments::PaymentError;
use emporium_domain::ValidationError;
use serde_json::json;
use uuid::Uuid;

use super::{ApiError, ErrorCode};

impl From<CartError> for ApiError {
    fn from(e: CartError) -> ApiError {
        let message = e.to_string();
        match e {
            CartError::Validation(details) => ApiError::validation(details),
            CartError::NotFound(what) => ApiError::not_found(what),
            CartError::ProductUnavailable { product_id } => {
                product_unavailable(product_id, message)
            }
            CartError::OutOfStock {
                product_id,
                requested,
                available,
            } => out_of_stock(product_id, requested, available),
            CartError::TooManyLines { max_lines } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::CartFull,
                message,
            )
            .with_context(json!({ "max_lines": max_lines })),
            CartError::TotalTooLarge { total, max } => total_too_large(total, max, message),
            CartError::Store(e) => e.into(),
        }
    }
}

impl From<CheckoutError> for ApiError {
    fn from(e: CheckoutError) -> ApiError {
        let message = e.to_string();
        match e {
            CheckoutError::Validation(details) => ApiError::validation(details),
            CheckoutError::NotFound(what) => ApiError::not_found(what),
            CheckoutError::ProductUnavailable { product_id } => {
                product_unavailable(product_id, message)
            }
            CheckoutError::OutOfStock {
                product_id,
                requested,
                available,
            } => out_of_stock(product_id, requested, available),
            CheckoutError::PriceChanged(changes) => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::PriceChanged, message)
                    .with_context(json!({ "changes": changes }))
            }
            CheckoutError::EmptyCart => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::CartEmpty,
                message,
            ),
            CheckoutError::TotalTooLarge { total, max } => total_too_large(total, max, message),
            CheckoutError::TooManyUnpaidOrders { max } => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::TooManyUnpaidOrders,
                message,
            )
            .with_context(json!({ "max": max })),
            CheckoutError::CartChanged => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::CartChanged, message)
            }
            CheckoutError::KeyReused => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::IdempotencyKeyReused,
                message,
            ),
            CheckoutError::Store(e) => e.into(),
        }
    }
}

impl From<OrderError> for ApiError {
    fn from(e: OrderError) -> ApiError {
        let message = e.to_string();
        match e {
            OrderError::NotFound(what) => ApiError::not_found(what),
            OrderError::IllegalTransition { from, to } => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::IllegalTransition, message)
                    .with_context(json!({ "status": from, "requested": to }))
            }
            OrderError::PaymentInProgress => payment_in_progress(message),
            OrderError::Store(e) => e.into(),
        }
    }
}

impl From<StockError> for ApiError {
    fn from(e: StockError) -> ApiError {
        let message = e.to_string();
        match e {
            StockError::Validation(details) => ApiError::validation(details),
            StockError::NotFound(what) => ApiError::not_found(what),
            StockError::StockBelowReserved {
                field,
                on_hand,
                reserved,
                requested_on_hand,
            } => ApiError {
                details: vec![ValidationError::new(field, message.clone())],
                ..ApiError::new(StatusCode::CONFLICT, ErrorCode::StockBelowReserved, message)
            }
            .with_context(json!({
                "on_hand": on_hand,
                "reserved": reserved,
                "requested_on_hand": requested_on_hand,
            })),
            StockError::StockAboveMaximum {
                field,
                on_hand,
                requested_on_hand,
                max,
            } => ApiError {
                details: vec![ValidationError::new(field, message.clone())],
                ..ApiError::new(StatusCode::CONFLICT, ErrorCode::StockAboveMaximum, message)
            }
            .with_context(json!({
                "on_hand": on_hand,
                "requested_on_hand": requested_on_hand,
                "max_on_hand": max,
            })),
            StockError::Store(e) => e.into(),
        }
    }
}

impl From<PaymentError> for ApiError {
    fn from(e: PaymentError) -> ApiError {
        let message = e.to_string();
        match e {
            PaymentError::Validation(details) => ApiError::validation(details),
            PaymentError::NotFound(what) => ApiError::not_found(what),
            PaymentError::PaymentInProgress => payment_in_progress(message),
            PaymentError::PaymentsDisabled => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::PaymentsDisabled,
                message,
            ),
            PaymentError::NotPayable { status } => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::OrderNotPayable, message)
                    .with_context(json!({ "status": status }))
            }
            // A cap per order, not a rate: 409, as retrying later won't help.
            PaymentError::TooManyPaymentAttempts { max } => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::TooManyPaymentAttempts,
                message,
            )
            .with_context(json!({ "max": max })),
            PaymentError::PaymentDeclined { code, message } => declined(&code, &message),
            PaymentError::PaymentRefused(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::PaymentRefused,
                message,
            ),
            PaymentError::NotRefundable { status } => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::OrderNotRefundable, message)
                    .with_context(json!({ "status": status }))
            }
            PaymentError::RefundTooLarge { remaining } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::RefundExceedsPaid,
                message,
            )
            .with_context(json!({ "remaining": remaining })),
            PaymentError::Store(e) => e.into(),
        }
    }
}

fn product_unavailable(product_id: Uuid, message: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, ErrorCode::ProductUnavailable, message)
        .with_context(json!({ "product_id": product_id }))
}

fn out_of_stock(product_id: Uuid, requested: u32, available: u32) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        ErrorCode::OutOfStock,
        format!("only {available} available; {requested} asked for"),
    )
    .with_context(
        json!({ "product_id": product_id, "requested": requested, "available": available }),
    )
}

fn total_too_large(total: Option<i64>, max: i64, message: String) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::OrderTotalTooLarge,
        message,
    )
    .with_context(json!({ "total": total, "max": max }))
}

fn payment_in_progress(message: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, ErrorCode::PaymentInProgress, message)
}

/// The provider's reason goes to the logs and to staff, not to the client:
/// detailed codes help card testers sort cards.
fn declined(code: &str, provider_message: &str) -> ApiError {
    tracing::info!(decline_code = %code, provider_message = %provider_message, "card declined");
    let code = crate::orders::public_decline_code(code);
    let message = if code == "authentication_required" {
        "the card needs 3-D Secure authentication, which this shop does not support; try another card"
    } else {
        "the card was declined; try another card"
    };
    ApiError::new(
        StatusCode::PAYMENT_REQUIRED,
        ErrorCode::PaymentDeclined,
        message,
    )
    .with_context(json!({ "decline_code": code }))
}
