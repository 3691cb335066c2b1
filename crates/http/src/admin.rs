//! Staff routes (administrators only): products (create or update by SKU,
//! archive, restore), stock with a reason for every change, and orders
//! (list and filter, fulfil, record an offline payment, refund).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use emporium_domain::catalog::{ImportRecord, ProductDraft};
use emporium_domain::inventory::{StockChange, StockLevel, StockMovement};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::AdminUser;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::AppState;

mod orders;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_product))
        .routes(routes!(archive_product))
        .routes(routes!(restore_product))
        .routes(routes!(get_stock, set_stock))
        .routes(routes!(adjust_stock))
        .merge(orders::router())
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
