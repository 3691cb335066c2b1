//! The OpenAPI 3.1 document: routes add themselves (utoipa-axum); this is
//! the frame around them. A test compares it with `docs/openapi.json`.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Emporium",
        description = "Search the product catalog by text, category, brand and price; register, sign in \
            and manage sessions; fill a cart (guests with `X-Cart-Token`), check out with an `Idempotency-Key`, \
            and follow orders; staff manage products, stock and orders. Signed-in calls send `Authorization: Bearer <token>` (an Ed25519 JWT from \
            `/api/auth/login`, verifiable with `/.well-known/jwks.json`). Errors share one shape: \
            `{\"error\":{\"code\",\"message\",\"details\",\"request_id\"}}`. Prices are integer minor units. \
            `/api/` responses carry `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`; a 429 adds `Retry-After`.",
        license(name = "MIT OR Apache-2.0")
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "catalog", description = "Products, categories and search"),
        (name = "identity", description = "Accounts, sign-in, sessions and token keys"),
        (name = "cart", description = "Guest and signed-in carts with server-computed totals"),
        (name = "orders", description = "Checkout (with Idempotency-Key) and orders"),
        (name = "admin", description = "Staff: products, stock and orders (administrators only)")
    )
)]
struct ApiDoc;

/// Declares the `bearer` scheme: an access token from `/api/auth/login`.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
