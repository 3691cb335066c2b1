//! Staff routes for orders: list and filter, one order with its payment
//! anomalies, fulfil, record an offline payment, refund.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use emporium_domain::orders::{OrderFilter, OrderStatus};
use emporium_domain::payments::{Refund, RefundStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::actor;
use crate::auth::AdminUser;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::orders::{limit, order_body, page, staff_order_body, Audience, OrderBody, OrderPage};
use crate::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_orders))
        .routes(routes!(get_order))
        .routes(routes!(fulfil_order))
        .routes(routes!(mark_paid))
        .routes(routes!(refund_order))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderQuery {
    /// pending_payment, paid, fulfilled, cancelled or refunded.
    #[param(value_type = Option<emporium_domain::orders::OrderStatus>)]
    status: Option<String>,
    user_id: Option<Uuid>,
    /// The `next_before` of the previous page.
    before: Option<Uuid>,
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

/// Every order, newest first, filtered by state or customer.
#[utoipa::path(
    get,
    path = "/api/admin/orders",
    tag = "admin",
    security(("bearer" = [])),
    params(OrderQuery),
    responses(
        (status = 200, description = "A page of orders", body = OrderPage),
        (status = 400, description = "A bad filter", body = ErrorBody),
    )
)]
async fn list_orders(
    State(s): State<AppState>,
    AdminUser(_admin): AdminUser,
    ApiQuery(q): ApiQuery<OrderQuery>,
) -> Result<Json<OrderPage>, ApiError> {
    let limit = limit(q.limit)?;
    let status = q
        .status
        .as_deref()
        .map(str::parse::<OrderStatus>)
        .transpose()
        .map_err(|e| ApiError::bad_request("status", e.message))?;
    let filter = OrderFilter {
        status,
        user_id: q.user_id,
        before: q.before,
        limit,
    };
    Ok(Json(page(
        s.shop.orders().list_orders(filter).await?,
        limit,
    )))
}

/// One order as staff see it: every recorded detail of its history,
/// payments (the provider's decline codes and messages) and refunds, and
/// its payment anomalies — provider events refused because they were not
/// what a payment asked for.
#[utoipa::path(
    get,
    path = "/api/admin/orders/{id}",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Order id")),
    responses(
        (status = 200, description = "The order, with `anomalies`", body = OrderBody),
        (status = 404, description = "No such order", body = ErrorBody),
    )
)]
async fn get_order(
    State(s): State<AppState>,
    AdminUser(p): AdminUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<OrderBody>, ApiError> {
    let viewer = emporium_domain::orders::OrderViewer::User {
        user_id: p.user_id,
        admin: true,
    };
    let order = s.shop.orders().order_for(&viewer, id).await?;
    let anomalies = s.shop.payments().payment_anomalies(id).await?;
    Ok(Json(staff_order_body(order, anomalies)?))
}

/// Mark a paid order fulfilled (shipped).
#[utoipa::path(
    post,
    path = "/api/admin/orders/{id}/fulfil",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Order id")),
    responses(
        (status = 200, description = "The order", body = OrderBody),
        (status = 404, description = "No such order", body = ErrorBody),
        (status = 409, description = "The order is not paid", body = ErrorBody),
    )
)]
async fn fulfil_order(
    State(s): State<AppState>,
    AdminUser(p): AdminUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<OrderBody>, ApiError> {
    let order = s
        .shop
        .orders()
        .advance(id, OrderStatus::Fulfilled, &actor(&p), None)
        .await?;
    Ok(Json(order_body(order, Audience::Staff)?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkPaid {
    /// How it was paid (bank transfer reference, cash on delivery…), 1 to 500 characters.
    #[schema(min_length = 1, max_length = 500, pattern = "\\S")]
    reason: String,
}

/// Record a payment made outside the payment provider.
#[utoipa::path(
    post,
    path = "/api/admin/orders/{id}/mark-paid",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Order id")),
    request_body = MarkPaid,
    responses(
        (status = 200, description = "The order", body = OrderBody),
        (status = 404, description = "No such order", body = ErrorBody),
        (status = 409, description = "The order is not awaiting payment", body = ErrorBody),
    )
)]
async fn mark_paid(
    State(s): State<AppState>,
    AdminUser(p): AdminUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(r): ApiJson<MarkPaid>,
) -> Result<Json<OrderBody>, ApiError> {
    let reason = r.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::bad_request(
            "reason",
            "is required (1 to 500 characters)",
        ));
    }
    let order = s
        .shop
        .orders()
        .advance(id, OrderStatus::Paid, &actor(&p), Some(reason))
        .await?;
    Ok(Json(order_body(order, Audience::Staff)?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    /// Minor units; leave out to refund everything not refunded yet.
    #[schema(minimum = 1)]
    amount: Option<i64>,
    /// Why (a return, a goodwill gesture…), kept with the refund; at most 500 characters.
    #[schema(max_length = 500)]
    reason: Option<String>,
}

/// A refund and its order.
#[derive(Serialize, ToSchema)]
pub struct RefundAnswer {
    refund: Refund,
    order: OrderBody,
}

/// Refund all or part of a card-paid order through the payment provider,
/// never more than was paid. When refunds reach what was paid the order
/// becomes `refunded`. 202 when the provider could not be reached: the
/// refund stays `pending` and is retried with the same idempotency key.
#[utoipa::path(
    post,
    path = "/api/admin/orders/{id}/refund",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Order id")),
    request_body = RefundBody,
    responses(
        (status = 200, description = "Refunded", body = RefundAnswer),
        (status = 202, description = "Pending: the provider will be asked again", body = RefundAnswer),
        (status = 404, description = "No such order", body = ErrorBody),
        (status = 409, description = "The order is not paid by card", body = ErrorBody),
        (status = 422, description = "More than is left to refund (`context.remaining`), or the provider refused", body = ErrorBody),
    )
)]
async fn refund_order(
    State(s): State<AppState>,
    AdminUser(p): AdminUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(r): ApiJson<RefundBody>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let done = s
        .shop
        .payments()
        .refund(id, r.amount, r.reason, &actor(&p))
        .await?;
    let status = match done.refund.status {
        RefundStatus::Pending => StatusCode::ACCEPTED,
        _ => StatusCode::OK,
    };
    metrics::counter!("refunds_total", "status" => done.refund.status.as_str()).increment(1);
    Ok((
        status,
        Json(RefundAnswer {
            refund: done.refund,
            order: order_body(done.order, Audience::Staff)?,
        }),
    )
        .into_response())
}
