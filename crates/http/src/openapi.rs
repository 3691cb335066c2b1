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

/// Adds the answers that the middleware and the extractors give on every
/// route of a kind, so that each operation lists every status it really
/// has without repeating them in each handler's annotation:
///
/// * every `/api/` operation: 429 (the rate limits, with `Retry-After`) and
///   503 (request timeout, overload or an unavailable store);
/// * with a typed JSON body: 400 (malformed or invalid), 413 (over
///   `server.body_limit_bytes`) and 415 (not `application/json`);
/// * with path, query or header parameters: 400 (a value that does not
///   parse or is out of range);
///   with path parameters: 404;
/// * with a security requirement: 401 (a missing, malformed, expired or
///   revoked token; optional-auth routes refuse a bad token too);
/// * under `/api/admin/`: 403 (signed in, not an administrator).
///
/// A status an annotation already lists keeps its own, more precise,
/// description.
pub fn complete(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    for (path, item) in doc.paths.paths.iter_mut() {
        let is_api = path.starts_with("/api/");
        let is_admin = path.starts_with("/api/admin/");
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            complete_operation(op, is_api, is_admin);
        }
    }
    doc
}

/// Adds to one operation the error responses its shape implies (see
/// [`complete`]).
fn complete_operation(op: &mut utoipa::openapi::path::Operation, is_api: bool, is_admin: bool) {
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::RefOr;

    let params = op.parameters.as_deref().unwrap_or_default();
    let has_path = params
        .iter()
        .any(|p| matches!(p.parameter_in, ParameterIn::Path));
    let has_header = params
        .iter()
        .any(|p| matches!(p.parameter_in, ParameterIn::Header));
    let has_query = params
        .iter()
        .any(|p| matches!(p.parameter_in, ParameterIn::Query));
    // A body described by a named schema is read by the typed JSON
    // extractor; a free-form one (the provider's webhook) is read raw.
    let typed_json = op.request_body.as_ref().is_some_and(|body| {
        body.content
            .get("application/json")
            .and_then(|c| c.schema.as_ref())
            .is_some_and(|s| matches!(s, RefOr::Ref(_)))
    });
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let has_body = op.request_body.is_some();
    let mut add = |status: &str, description: &str| {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| error_response(description));
    };
    if typed_json {
        add(
            "400",
            "Malformed JSON, or a field missing, of the wrong type or out of range",
        );
        add(
            "415",
            "The body is not sent as `Content-Type: application/json`",
        );
    }
    if has_body {
        add(
            "413",
            "The body is larger than `server.body_limit_bytes` (64 KiB by default)",
        );
    }
    if has_path || has_header || has_query {
        add("400", "A parameter that does not parse or is out of range");
    }
    if has_path {
        add("404", "No such resource");
    }
    if secured {
        add(
            "401",
            "A missing, malformed, expired or revoked access token",
        );
    }
    if is_admin {
        add("403", "Signed in, but not an administrator");
    }
    if is_api {
        add(
            "429",
            "Too many requests; retry after `Retry-After` seconds",
        );
        add(
            "503",
            "The request timed out or a dependency is unavailable; retry later",
        );
        retry_after(op);
    }
}

/// Documents the `Retry-After` header of an operation's 429.
fn retry_after(op: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::{RefOr, Schema};

    if let Some(RefOr::T(r)) = op.responses.responses.get_mut("429") {
        r.headers
            .entry("Retry-After".to_owned())
            .or_insert_with(|| {
                utoipa::openapi::Header::new(Schema::Object(
                    utoipa::openapi::schema::ObjectBuilder::new()
                        .schema_type(utoipa::openapi::schema::Type::Integer)
                        .build(),
                ))
            });
    }
}

fn error_response(description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::Response> {
    utoipa::openapi::ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
    use utoipa::openapi::PathsBuilder;

    #[test]
    fn every_api_operation_documents_rate_limits_and_overload() {
        let mut doc = super::base();
        doc.paths = PathsBuilder::new()
            .path(
                "/api/x",
                PathItem::new(HttpMethod::Get, OperationBuilder::new().build()),
            )
            .path(
                "/health/live",
                PathItem::new(HttpMethod::Get, OperationBuilder::new().build()),
            )
            .build();
        let doc = super::complete(doc);
        let statuses = |p: &str| -> Vec<String> {
            let op = doc.paths.paths[p].get.as_ref().expect("a GET");
            op.responses.responses.keys().cloned().collect()
        };
        assert_eq!(statuses("/api/x"), ["429", "503"]);
        assert!(statuses("/health/live").is_empty());
    }
}
