//! Checkout and orders: `POST /api/checkout` (with a required
//! `Idempotency-Key`), the caller's orders, one order (its owner, staff,
//! or a guest with the order's `X-Order-Token`), cancelling an unpaid
//! order, and paying it with a card token from the payment provider.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use emporium_domain::cart::CartRef;
use emporium_domain::identity::Role;
use emporium_domain::orders::{
    AddressInput, CheckoutRequest, OrderStatus, OrderSummary, OrderViewer, ShippingMethod, Totals,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use emporium_domain::payments::{PayOutcome, PaymentError};

use crate::auth::{AuthUser, Authentication, ClientIp};
use crate::cart::Cart;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::AppState;

mod view;

pub(crate) use view::{order_body, public_decline_code, staff_order_body, Audience};
pub use view::{OrderBody, OrderLineBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(checkout_options))
        .routes(routes!(checkout))
        .routes(routes!(my_orders))
        .routes(routes!(get_order))
        .routes(routes!(cancel_order))
        .routes(routes!(pay_order))
}

/// What checkout needs to know.
#[derive(Serialize, ToSchema)]
pub struct CheckoutOptions {
    currency: String,
    shipping_methods: Vec<ShippingMethod>,
}

/// Shipping methods and the currency, for building a checkout form.
#[utoipa::path(
    get,
    path = "/api/checkout/options",
    tag = "orders",
    responses((status = 200, description = "Shipping methods with their flat rates", body = CheckoutOptions))
)]
async fn checkout_options(State(s): State<AppState>) -> Json<CheckoutOptions> {
    let c = s.shop.config();
    Json(CheckoutOptions {
        currency: c.currency.to_string(),
        shipping_methods: c.pricing.methods.clone(),
    })
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutBody {
    #[schema(value_type = AddressInput)]
    address: serde_json::Value,
    #[schema(example = "standard")]
    shipping_method: String,
    /// Required for guests.
    email: Option<String>,
}

/// The answer to a checkout.
#[derive(Serialize, ToSchema)]
pub struct Placed {
    order: OrderBody,
    /// For guests: send as `X-Order-Token` to see or cancel the order.
    order_token: Option<String>,
}

/// The `Idempotency-Key` header: 1 to 255 visible ASCII characters.
pub struct IdempotencyKey(pub String);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let value = parts.headers.get("idempotency-key").ok_or_else(|| {
            ApiError::bad_request(
                "Idempotency-Key",
                "header is required (a unique value per checkout, e.g. a UUID)",
            )
        })?;
        let key = value
            .to_str()
            .ok()
            .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "Idempotency-Key",
                    "must be 1 to 255 visible ASCII characters",
                )
            })?;
        Ok(IdempotencyKey(key.to_owned()))
    }
}

/// Turn the cart into an order awaiting payment: stock is reserved and the
/// cart emptied, atomically. Retrying with the same `Idempotency-Key` and
/// body returns the same order (header `Idempotent-Replayed: true`).
///
/// Checkouts are limited per client address and per account
/// (`limits.checkouts_per_ip`, `limits.checkouts_per_user` per
/// `limits.checkout_window_secs`; every attempt counts), an account may
/// have at most `shop.max_unpaid_orders_per_user` orders awaiting payment,
/// and an order's total may not exceed 99,999,999 minor units (the most
/// one payment may take).
#[utoipa::path(
    post,
    path = "/api/checkout",
    tag = "orders",
    params(
        ("Idempotency-Key" = String, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$",
            description = "Unique per checkout attempt (1 to 255 visible ASCII characters, e.g. a UUID); reuse it to retry safely"),
        ("X-Cart-Token" = Option<String>, Header, description = "A guest's cart token"),
    ),
    security((), ("bearer" = [])),
    request_body = CheckoutBody,
    responses(
        (status = 201, description = "The order, in pending_payment", body = Placed),
        (status = 400, description = "Missing or bad fields, or a missing Idempotency-Key", body = ErrorBody),
        (status = 404, description = "No such cart", body = ErrorBody),
        (status = 409, description = "Prices changed (the cart now shows the new ones), not enough stock, a product is no longer sold, or the account has the most unpaid orders it may (`too_many_unpaid_orders`)", body = ErrorBody),
        (status = 422, description = "The cart is empty, the key was used with another body, or the total is above the most one payment may take (`order_total_too_large`)", body = ErrorBody),
        (status = 429, description = "Too many checkouts from this address or account; retry after `Retry-After` seconds", body = ErrorBody),
    )
)]
async fn checkout(
    State(s): State<AppState>,
    ip: ClientIp,
    IdempotencyKey(key): IdempotencyKey,
    Cart(who): Cart,
    ApiJson(body): ApiJson<CheckoutBody>,
) -> Result<Response, ApiError> {
    let user = match &who {
        CartRef::User { user_id, .. } => Some(*user_id),
        CartRef::Guest(_) => None,
    };
    crate::limits::count_checkout(&s, ip, user)
        .await
        .inspect_err(|e| {
            metrics::counter!("checkouts_total", "outcome" => e.code.as_str()).increment(1);
        })?;
    let canonical = serde_json::to_string(&body)
        .map_err(|_| ApiError::bad_request("body", "cannot be read"))?;
    let address: AddressInput = serde_json::from_value(body.address)
        .map_err(|e| ApiError::bad_request("address", e.to_string()))?;
    let req = CheckoutRequest {
        address,
        shipping_method: body.shipping_method,
        email: body.email,
        idempotency_key: key,
        request_hash: s.shop.fingerprint(&canonical),
    };
    let placed = s.shop.checkout().checkout(&who, req).await.map_err(|e| {
        let e = ApiError::from(e);
        metrics::counter!("checkouts_total", "outcome" => e.code.as_str()).increment(1);
        e
    })?;
    let outcome = if placed.replayed {
        "replayed"
    } else {
        "created"
    };
    metrics::counter!("checkouts_total", "outcome" => outcome).increment(1);
    let replayed = if placed.replayed { "true" } else { "false" };
    Ok((
        StatusCode::CREATED,
        [(
            HeaderName::from_static("idempotent-replayed"),
            HeaderValue::from_static(replayed),
        )],
        Json(Placed {
            order: order_body(placed.order, Audience::Customer)?,
            order_token: placed.order_token,
        }),
    )
        .into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// The `next_before` of the previous page.
    before: Option<Uuid>,
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

/// A page of orders, newest first.
#[derive(Serialize, ToSchema)]
pub struct OrderPage {
    items: Vec<OrderSummaryBody>,
    /// Pass as `before` for the next page; absent on the last page.
    next_before: Option<Uuid>,
}

#[derive(Serialize, ToSchema)]
pub struct OrderSummaryBody {
    id: Uuid,
    status: OrderStatus,
    currency: String,
    totals: Totals,
    item_count: u32,
    user_id: Option<Uuid>,
    email: Option<String>,
    created_at: i64,
}

pub(crate) fn page(items: Vec<OrderSummary>, limit: u32) -> OrderPage {
    let next_before = (items.len() == limit as usize)
        .then(|| items.last().map(|o| o.id))
        .flatten();
    OrderPage {
        next_before,
        items: items
            .into_iter()
            .map(|o| OrderSummaryBody {
                id: o.id,
                status: o.status,
                currency: o.currency,
                totals: o.totals,
                item_count: o.item_count,
                user_id: o.user_id,
                email: o.guest_email,
                created_at: o.created_at,
            })
            .collect(),
    }
}

pub(crate) fn limit(raw: Option<u32>) -> Result<u32, ApiError> {
    match raw.unwrap_or(20) {
        l @ 1..=100 => Ok(l),
        _ => Err(ApiError::bad_request("limit", "must be 1 to 100")),
    }
}

/// The signed-in user's orders, newest first.
#[utoipa::path(
    get,
    path = "/api/orders",
    tag = "orders",
    params(Page),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of orders", body = OrderPage),
        (status = 401, description = "Not signed in", body = ErrorBody),
    )
)]
async fn my_orders(
    State(s): State<AppState>,
    AuthUser(p): AuthUser,
    ApiQuery(q): ApiQuery<Page>,
) -> Result<Json<OrderPage>, ApiError> {
    let limit = limit(q.limit)?;
    Ok(Json(page(
        s.shop
            .orders()
            .orders_of(p.user_id, q.before, limit)
            .await?,
        limit,
    )))
}

/// Who may see an order: the signed-in caller, or a guest with its token.
pub struct Viewer(pub OrderViewer);

impl<S: Send + Sync> FromRequestParts<S> for Viewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        // An order token opens its guest order whoever sends it (a customer
        // may sign in after checking out as a guest).
        if let Some(token) = parts.headers.get("x-order-token") {
            let token = token.to_str().unwrap_or("").trim().to_owned();
            return Ok(Viewer(OrderViewer::Guest(token)));
        }
        match parts.extensions.get::<Authentication>() {
            Some(Authentication::User(p)) => Ok(Viewer(OrderViewer::User {
                user_id: p.user_id,
                admin: p.role == Role::Admin,
            })),
            Some(Authentication::Invalid(e)) => Err((*e).into()),
            _ => Err(ApiError::bad_request(
                "X-Order-Token",
                "is required unless you are signed in",
            )),
        }
    }
}

/// One order: its owner's, a guest's with `X-Order-Token`, or any for staff.
/// Anyone else's is a 404, so order ids cannot be probed.
#[utoipa::path(
    get,
    path = "/api/orders/{id}",
    tag = "orders",
    params(
        ("id" = Uuid, Path, description = "Order id"),
        ("X-Order-Token" = Option<String>, Header, description = "A guest order's token"),
    ),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The order", body = OrderBody),
        (status = 404, description = "No such order of yours", body = ErrorBody),
    )
)]
async fn get_order(
    State(s): State<AppState>,
    Viewer(v): Viewer,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<OrderBody>, ApiError> {
    Ok(Json(order_body(
        s.shop.orders().order_for(&v, id).await?,
        Audience::of(&v),
    )?))
}

/// Cancel an unpaid order; its stock is released.
#[utoipa::path(
    post,
    path = "/api/orders/{id}/cancel",
    tag = "orders",
    params(
        ("id" = Uuid, Path, description = "Order id"),
        ("X-Order-Token" = Option<String>, Header, description = "A guest order's token"),
    ),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The cancelled order", body = OrderBody),
        (status = 404, description = "No such order of yours", body = ErrorBody),
        (status = 409, description = "The order is past pending_payment", body = ErrorBody),
    )
)]
async fn cancel_order(
    State(s): State<AppState>,
    Viewer(v): Viewer,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<OrderBody>, ApiError> {
    Ok(Json(order_body(
        s.shop.orders().cancel(&v, id).await?,
        Audience::of(&v),
    )?))
}

/// A card token from the payment provider. Never card data: the client
/// sends the card to the provider's tokenization URL (`GET /api/config`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayBody {
    /// 3 to 255 letters, digits or `_`.
    #[schema(
        example = "pm_1PcZ6kQ2mA3tVb7Y",
        min_length = 3,
        max_length = 255,
        pattern = "^[A-Za-z0-9_]+$"
    )]
    payment_token: String,
}

/// Pay an order awaiting payment with a card token. 200: paid. 402: the
/// card was declined; the order stays payable with another card. 202: the
/// provider could not be reached; the payment is queued and will be
/// retried (the order shows `payment_status: queued` until it settles).
#[utoipa::path(
    post,
    path = "/api/orders/{id}/pay",
    tag = "orders",
    params(
        ("id" = Uuid, Path, description = "Order id"),
        ("X-Order-Token" = Option<String>, Header, description = "A guest order's token"),
    ),
    security((), ("bearer" = [])),
    request_body = PayBody,
    responses(
        (status = 200, description = "Paid", body = OrderBody),
        (status = 202, description = "Payment pending: queued until the provider answers", body = OrderBody),
        (status = 400, description = "No token, or something that is not a provider token (card numbers are refused)", body = ErrorBody),
        (status = 402, description = "Declined (`context.decline_code`); pay again with another card", body = ErrorBody),
        (status = 404, description = "No such order of yours", body = ErrorBody),
        (status = 422, description = "The provider refused the token (unknown or used)", body = ErrorBody),
        (status = 409, description = "Not awaiting payment, a payment in progress, or the order's payment attempts used up", body = ErrorBody),
        (status = 429, description = "Too many payment attempts from this address or account (`limits.payment_attempts_per_ip`, `limits.payment_attempts_per_user` per `limits.payment_window_secs`)", body = ErrorBody),
    )
)]
async fn pay_order(
    State(s): State<AppState>,
    ip: ClientIp,
    Viewer(v): Viewer,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<PayBody>,
) -> Result<Response, ApiError> {
    let user = match &v {
        OrderViewer::User { user_id, .. } => Some(*user_id),
        OrderViewer::Guest(_) => None,
    };
    crate::limits::count_payment(&s, ip, user).await?;
    let started = std::time::Instant::now();
    let result = s.shop.payments().pay(&v, id, &body.payment_token).await;
    let record = |outcome: &'static str| {
        metrics::counter!("payments_total", "outcome" => outcome).increment(1);
        metrics::histogram!("payment_duration_seconds", "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
    };
    match result {
        Ok(PayOutcome::Paid(order)) => {
            record("paid");
            Ok((StatusCode::OK, Json(order_body(order, Audience::of(&v))?)).into_response())
        }
        Ok(PayOutcome::Pending(order)) => {
            record("queued");
            tracing::warn!(order = %id, "payment queued: the provider could not be reached");
            Ok((
                StatusCode::ACCEPTED,
                Json(order_body(order, Audience::of(&v))?),
            )
                .into_response())
        }
        // A customer is told that the token was refused, not the
        // provider's words (they stay in the log and the staff view).
        Err(PaymentError::PaymentRefused(provider_message)) => {
            record("payment_refused");
            tracing::info!(%provider_message, order = %id, "the payment provider refused the payment");
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::PaymentRefused,
                "the payment provider refused the card token (unknown, expired or used); enter the card again",
            ))
        }
        Err(e) => {
            let e = ApiError::from(e);
            record(e.code.as_str());
            Err(e)
        }
    }
}
