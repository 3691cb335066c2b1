//! Staff routes (administrators only): products (create or update by SKU,
//! archive, restore), stock with a reason for every change, and orders
//! (list and filter, fulfil, record an offline payment, refund).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use emporium_domain::catalog::{ImportRecord, ProductDraft};
use emporium_domain::inventory::{StockChange, StockLevel, StockMovement};
use emporium_domain::orders::{OrderFilter, OrderStatus};
use emporium_domain::payments::{Refund, RefundStatus};

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::AdminUser;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::orders::{limit, order_body, page, staff_order_body, Audience, OrderBody, OrderPage};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_product))
        .routes(routes!(archive_product))
        .routes(routes!(restore_product))
        .routes(routes!(get_stock, set_stock))
        .routes(routes!(adjust_stock))
        .routes(routes!(list_orders))
        .routes(routes!(get_order))
        .routes(routes!(fulfil_order))
        .routes(routes!(mark_paid))
        .routes(routes!(refund_order))
}

fn actor(p: &emporium_domain::identity::Principal) -> String {
    format!("admin:{}", p.user_id)
}

/// What an upsert did.
#[derive(Serialize, ToSchema)]
pub struct ProductSaved {
    id: Uuid,
    sku: String,
    /// True when the SKU was new.
    created: bool,
}

/// The body of `PUT /api/admin/products/sku/{sku}`, as documented: one
/// record of the catalog import format (docs/catalog-format.md). The
/// handler reads it as the domain's `ImportRecord`, and
/// `ProductDraft::from_record` enforces the constraints stated here.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[expect(
    dead_code,
    reason = "describes the request body in the OpenAPI document only"
)]
pub struct ProductRecord {
    /// Optional; when given it must equal the SKU in the path.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    sku: Option<String>,
    /// 1 to 300 characters.
    #[schema(min_length = 1, max_length = 300)]
    name: String,
    #[schema(max_length = 100)]
    brand: Option<String>,
    #[schema(max_length = 4000)]
    description: Option<String>,
    /// The category path from the root, 1 to 8 names of 1 to 100 characters.
    #[schema(min_items = 1, max_items = 8)]
    category: Vec<String>,
    price: ProductRecordPrice,
    /// An http(s) URL, at most 2,000 characters.
    #[schema(max_length = 2000, pattern = "^https?://")]
    image: Option<String>,
    #[schema(minimum = 0)]
    popularity: Option<i64>,
    attributes: Option<std::collections::BTreeMap<String, String>>,
}

/// A price in the shop's currency.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[expect(
    dead_code,
    reason = "describes the request body in the OpenAPI document only"
)]
pub struct ProductRecordPrice {
    /// Minor units (cents), at most 99,999,999 (the most one payment may take).
    #[schema(minimum = 0, maximum = 99_999_999)]
    amount: i64,
    /// The shop's currency (ISO 4217), e.g. `USD`.
    #[schema(example = "USD", pattern = "^[A-Z]{3}$")]
    currency: String,
}

/// Create or update a product by SKU (the catalog import format, see
/// docs/catalog-format.md). Searches show the change at once.
#[utoipa::path(
    put,
    path = "/api/admin/products/sku/{sku}",
    tag = "admin",
    security(("bearer" = [])),
    params(("sku" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$", description = "The product's SKU")),
    request_body(content = ProductRecord, description = "An import record: name, brand, description, category (names from the root), price {amount, currency}, image, popularity, attributes"),
    responses(
        (status = 201, description = "Created", body = ProductSaved),
        (status = 200, description = "Updated", body = ProductSaved),
        (status = 400, description = "Invalid product (a price above 99,999,999 included)", body = ErrorBody),
        (status = 403, description = "Not an administrator", body = ErrorBody),
    )
)]
async fn put_product(
    State(s): State<AppState>,
    AdminUser(_admin): AdminUser,
    ApiPath(sku): ApiPath<String>,
    ApiJson(mut record): ApiJson<serde_json::Value>,
) -> Result<(StatusCode, Json<ProductSaved>), ApiError> {
    let obj = record
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("body", "must be a JSON object"))?;
    match obj.get("sku") {
        Some(v) if v.as_str() != Some(sku.as_str()) => {
            return Err(ApiError::bad_request(
                "sku",
                "must match the SKU in the path",
            ))
        }
        _ => {
            obj.insert("sku".into(), serde_json::Value::String(sku.clone()));
        }
    }
    let record: ImportRecord =
        serde_json::from_value(record).map_err(|e| ApiError::bad_request("body", e.to_string()))?;
    let draft = ProductDraft::from_record(record, s.shop.config().currency)
        .map_err(|reason| ApiError::bad_request("body", reason))?;
    let (id, created) = s.catalog.upsert(&draft).await?;
    s.shop.inventory().stock_new_products().await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(ProductSaved {
            id,
            sku: draft.sku.as_str().to_owned(),
            created,
        }),
    ))
}

async fn set_archived(s: &AppState, id: Uuid, archived: bool) -> Result<StatusCode, ApiError> {
    let changed = s.catalog.set_archived(id, archived).await?;
    // Unchanged is fine (already archived or on sale); unknown is a 404.
    if !changed && !s.shop.inventory().product_exists(id).await? {
        return Err(ApiError::not_found("product"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Archive a product: it leaves search and can no longer be added to carts
/// or ordered; orders and carts keep their lines.
#[utoipa::path(
    delete,
    path = "/api/admin/products/{id}",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Product id")),
    responses(
        (status = 204, description = "Archived"),
        (status = 404, description = "No such product", body = ErrorBody),
    )
)]
async fn archive_product(
    State(s): State<AppState>,
    AdminUser(_admin): AdminUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    set_archived(&s, id, true).await
}

/// Put an archived product back on sale.
#[utoipa::path(
    post,
    path = "/api/admin/products/{id}/restore",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Product id")),
    responses(
        (status = 204, description = "On sale again"),
        (status = 404, description = "No such product", body = ErrorBody),
    )
)]
async fn restore_product(
    State(s): State<AppState>,
    AdminUser(_admin): AdminUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    set_archived(&s, id, false).await
}

/// Stock and its recent changes.
#[derive(Serialize, ToSchema)]
pub struct StockBody {
    #[serde(flatten)]
    level: StockLevel,
    available: u32,
    /// Newest first.
    movements: Vec<StockMovement>,
}

async fn stock_body(s: &AppState, id: Uuid) -> Result<Json<StockBody>, ApiError> {
    let (level, movements) = s.shop.inventory().stock(id).await?;
    Ok(Json(StockBody {
        available: level.available(),
        level,
        movements,
    }))
}

/// A product's stock: on hand, reserved by unpaid orders, available, and
/// its audit trail.
#[utoipa::path(
    get,
    path = "/api/admin/products/{id}/stock",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Product id")),
    responses(
        (status = 200, description = "The stock", body = StockBody),
        (status = 404, description = "No such product", body = ErrorBody),
    )
)]
async fn get_stock(
    State(s): State<AppState>,
    AdminUser(_admin): AdminUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<StockBody>, ApiError> {
    stock_body(&s, id).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetStock {
    /// The count on hand after a stock-take: 0 to 10,000,000.
    #[schema(minimum = 0, maximum = 10_000_000)]
    on_hand: u32,
    /// Why, for the audit trail (1 to 500 characters, not only spaces).
    #[schema(min_length = 1, max_length = 500, pattern = "\\S")]
    reason: String,
}

/// Set the count on hand after a stock-take.
///
/// Never below what unpaid orders reserve, never above 10,000,000.
#[utoipa::path(
    put,
    path = "/api/admin/products/{id}/stock",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Product id")),
    request_body = SetStock,
    responses(
        (status = 200, description = "The stock", body = StockBody),
        (status = 400, description = "No reason, or on_hand above 10,000,000", body = ErrorBody),
        (status = 404, description = "No such product", body = ErrorBody),
        (status = 409, description = "Below what unpaid orders reserve (`stock_below_reserved`, with `context.reserved` and `context.requested_on_hand`)", body = ErrorBody),
    )
)]
async fn set_stock(
    State(s): State<AppState>,
    AdminUser(p): AdminUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(r): ApiJson<SetStock>,
) -> Result<Json<StockBody>, ApiError> {
    s.shop
        .inventory()
        .change_stock(id, StockChange::Set(r.on_hand), &r.reason, &actor(&p))
        .await?;
    stock_body(&s, id).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustStock {
    /// Units to add (a delivery) or, negative, to remove (damage, loss):
    /// -10,000,000 to 10,000,000.
    #[schema(minimum = -10_000_000, maximum = 10_000_000)]
    delta: i64,
    /// Why, for the audit trail (1 to 500 characters, not only spaces).
    #[schema(min_length = 1, max_length = 500, pattern = "\\S")]
    reason: String,
}

/// Add or remove stock on hand.
///
/// The result must stay between what unpaid orders reserve (at least 0)
/// and 10,000,000, checked and written in one conditional update.
#[utoipa::path(
    post,
    path = "/api/admin/products/{id}/stock/adjustments",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Product id")),
    request_body = AdjustStock,
    responses(
        (status = 200, description = "The stock", body = StockBody),
        (status = 400, description = "No reason, or a delta outside ±10,000,000", body = ErrorBody),
        (status = 404, description = "No such product", body = ErrorBody),
        (status = 409, description = "The result would be above 10,000,000 (`stock_above_maximum`) or below what unpaid orders reserve (`stock_below_reserved`); `context` has `on_hand`, `requested_on_hand` and the bound", body = ErrorBody),
    )
)]
async fn adjust_stock(
    State(s): State<AppState>,
    AdminUser(p): AdminUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(r): ApiJson<AdjustStock>,
) -> Result<Json<StockBody>, ApiError> {
    s.shop
        .inventory()
        .change_stock(id, StockChange::Adjust(r.delta), &r.reason, &actor(&p))
        .await?;
    stock_body(&s, id).await
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
