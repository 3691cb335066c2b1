//! Cart routes. A guest creates a cart with `POST /api/carts` and sends its
//! token back in `X-Cart-Token` (or the `cart_token` cookie set with it); a
//! signed-in user has one cart, and a guest token sent along when signing
//! in (or with any cart request of a signed-in user) merges that cart into
//! theirs.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use emporium_domain::cart::{CartRef, CartView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{Authentication, ClientIp};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_cart))
        .routes(routes!(get_cart, clear_cart))
        .routes(routes!(add_item))
        .routes(routes!(set_item, remove_item))
}

/// The guest cart token a request carries: `X-Cart-Token`, else the
/// `cart_token` cookie.
pub fn guest_token(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers.get("x-cart-token") {
        return v.to_str().ok().map(|s| s.trim().to_owned());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == "cart_token")
        .map(|(_, v)| v.to_owned())
}

/// Whose cart: the signed-in user's (merging a guest cart sent along), or
/// the guest's whose token is sent. A refused bearer token is a 401.
pub struct Cart(pub CartRef);

impl<S: Send + Sync> FromRequestParts<S> for Cart {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let token = guest_token(&parts.headers);
        match parts.extensions.get::<Authentication>() {
            Some(Authentication::User(p)) => Ok(Cart(CartRef::User {
                user_id: p.user_id,
                guest_token: token,
            })),
            Some(Authentication::Invalid(e)) => Err((*e).into()),
            _ => token.map(|t| Cart(CartRef::Guest(t))).ok_or_else(|| {
                ApiError::bad_request(
                    "X-Cart-Token",
                    "is required unless you are signed in (create a cart with POST /api/carts)",
                )
            }),
        }
    }
}

/// A new guest cart and the token that opens it.
#[derive(Serialize, ToSchema)]
pub struct NewCart {
    /// Send as `X-Cart-Token` on cart and checkout requests; keep it secret.
    cart_token: String,
    cart: CartView,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddItem {
    product_id: Uuid,
    /// 1 to the per-line limit (`shop.max_quantity_per_line`, 99 by default).
    #[schema(minimum = 1)]
    quantity: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetQuantity {
    /// 0 removes the line; at most the per-line limit (99 by default).
    #[schema(minimum = 0)]
    quantity: i64,
}

/// Create a guest cart.
///
/// At most `limits.carts_per_ip` per client address per
/// `limits.cart_window_secs` (60 an hour by default).
#[utoipa::path(
    post,
    path = "/api/carts",
    tag = "cart",
    responses(
        (status = 201, description = "The cart and its token (also set as the cart_token cookie)", body = NewCart),
        (status = 429, description = "Too many carts from this address; retry after `Retry-After` seconds", body = ErrorBody),
    )
)]
async fn create_cart(State(s): State<AppState>, ip: ClientIp) -> Result<Response, ApiError> {
    crate::limits::count_guest_cart(&s, ip).await?;
    let (token, cart) = s.shop.carts().create_guest_cart().await?;
    let secure = if s.secure_cookies { "; Secure" } else { "" };
    let cookie =
        format!("cart_token={token}; Path=/api; HttpOnly; SameSite=Lax; Max-Age=2592000{secure}");
    let cookie = HeaderValue::from_str(&cookie)
        .map_err(|_| ApiError::for_status(StatusCode::INTERNAL_SERVER_ERROR))?;
    Ok((
        StatusCode::CREATED,
        [(header::SET_COOKIE, cookie)],
        Json(NewCart {
            cart_token: token,
            cart,
        }),
    )
        .into_response())
}

/// The caller's cart with totals.
#[utoipa::path(
    get,
    path = "/api/cart",
    tag = "cart",
    params(("X-Cart-Token" = Option<String>, Header, description = "A guest's cart token")),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The cart", body = CartView),
        (status = 400, description = "No cart token and not signed in", body = ErrorBody),
        (status = 404, description = "No such cart", body = ErrorBody),
    )
)]
async fn get_cart(State(s): State<AppState>, Cart(who): Cart) -> Result<Json<CartView>, ApiError> {
    Ok(Json(s.shop.carts().cart(&who).await?))
}

/// Empty the cart.
#[utoipa::path(
    delete,
    path = "/api/cart",
    tag = "cart",
    params(("X-Cart-Token" = Option<String>, Header, description = "A guest's cart token")),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The empty cart", body = CartView),
        (status = 400, description = "No cart token and not signed in", body = ErrorBody),
        (status = 404, description = "No such cart", body = ErrorBody),
    )
)]
async fn clear_cart(
    State(s): State<AppState>,
    Cart(who): Cart,
) -> Result<Json<CartView>, ApiError> {
    Ok(Json(s.shop.carts().clear_cart(&who).await?))
}

/// Add a product. Quantities add up to at most `shop.max_quantity_per_line`
/// (99 by default) per line, in at most `shop.max_lines_per_cart` lines (100).
#[utoipa::path(
    post,
    path = "/api/cart/items",
    tag = "cart",
    params(("X-Cart-Token" = Option<String>, Header, description = "A guest's cart token")),
    security((), ("bearer" = [])),
    request_body = AddItem,
    responses(
        (status = 200, description = "The cart", body = CartView),
        (status = 400, description = "Bad quantity or body", body = ErrorBody),
        (status = 404, description = "Unknown product or cart", body = ErrorBody),
        (status = 409, description = "Not enough stock, or the product is no longer sold", body = ErrorBody),
        (status = 422, description = "The cart holds the most lines it may", body = ErrorBody),
    )
)]
async fn add_item(
    State(s): State<AppState>,
    Cart(who): Cart,
    ApiJson(r): ApiJson<AddItem>,
) -> Result<Json<CartView>, ApiError> {
    Ok(Json(
        s.shop
            .carts()
            .add_to_cart(&who, r.product_id, r.quantity)
            .await?,
    ))
}

/// Set a line's quantity (0 removes it).
#[utoipa::path(
    patch,
    path = "/api/cart/items/{product_id}",
    tag = "cart",
    params(
        ("product_id" = Uuid, Path, description = "Product id"),
        ("X-Cart-Token" = Option<String>, Header, description = "A guest's cart token"),
    ),
    security((), ("bearer" = [])),
    request_body = SetQuantity,
    responses(
        (status = 200, description = "The cart", body = CartView),
        (status = 400, description = "Bad quantity", body = ErrorBody),
        (status = 404, description = "No such line", body = ErrorBody),
        (status = 409, description = "Not enough stock", body = ErrorBody),
    )
)]
async fn set_item(
    State(s): State<AppState>,
    Cart(who): Cart,
    ApiPath(product_id): ApiPath<Uuid>,
    ApiJson(r): ApiJson<SetQuantity>,
) -> Result<Json<CartView>, ApiError> {
    Ok(Json(
        s.shop
            .carts()
            .set_quantity(&who, product_id, r.quantity)
            .await?,
    ))
}

/// Remove a line.
#[utoipa::path(
    delete,
    path = "/api/cart/items/{product_id}",
    tag = "cart",
    params(
        ("product_id" = Uuid, Path, description = "Product id"),
        ("X-Cart-Token" = Option<String>, Header, description = "A guest's cart token"),
    ),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The cart", body = CartView),
        (status = 404, description = "No such line", body = ErrorBody),
    )
)]
async fn remove_item(
    State(s): State<AppState>,
    Cart(who): Cart,
    ApiPath(product_id): ApiPath<Uuid>,
) -> Result<Json<CartView>, ApiError> {
    Ok(Json(
        s.shop.carts().remove_from_cart(&who, product_id).await?,
    ))
}
