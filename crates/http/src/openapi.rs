//! The OpenAPI 3.1 document: routes add themselves (utoipa-axum); this is
//! the frame around them. A test compares it with `docs/openapi.json`.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Emporium",
        description = "Search the product catalog by text, category, brand and price. Errors share one shape: \
            `{\"error\":{\"code\",\"message\",\"details\",\"request_id\"}}`. Prices are integer minor units.",
        license(name = "MIT OR Apache-2.0")
    ),
    tags((name = "catalog", description = "Products, categories and search"))
)]
struct ApiDoc;

pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
