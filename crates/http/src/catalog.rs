//! Catalog routes: search, product detail, category tree, suggestions.

use std::time::Instant;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use emporium_domain::catalog::{
    Answer, CategoryNode, ProductDetail, SearchQuery, SearchResult, Suggestion,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search))
        .routes(routes!(product))
        .routes(routes!(categories))
        .routes(routes!(suggest))
}

/// A JSON body that is already serialised (from the cache or the service).
fn json(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A cached answer; a stale one (the store could not answer) says so in
/// `X-Emporium-Degraded: stale`.
fn answer(a: Answer) -> Response {
    if !a.stale {
        return json(a.body);
    }
    metrics::counter!("cache_stale_answers_total").increment(1);
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (
                header::HeaderName::from_static(crate::degraded::HEADER),
                crate::degraded::STALE,
            ),
        ],
        a.body,
    )
        .into_response()
}

/// Search products by text, category, brand and price, with facets.
#[utoipa::path(
    get,
    path = "/api/products",
    tag = "catalog",
    params(SearchQuery),
    responses(
        (status = 200, description = "A page of products", body = SearchResult),
        (status = 400, description = "A parameter is invalid", body = ErrorBody),
        (status = 503, description = "The store is unavailable, or the search ran past `store.search_timeout_ms` and was stopped (`search_timeout`, with `Retry-After`)", body = ErrorBody),
    )
)]
async fn search(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> Result<Response, ApiError> {
    let start = Instant::now();
    let body = s.catalog.search(&q).await?;
    metrics::histogram!("search_duration_seconds").record(start.elapsed().as_secs_f64());
    Ok(answer(body))
}

/// One product with its description and attributes.
#[utoipa::path(
    get,
    path = "/api/products/{id}",
    tag = "catalog",
    params(("id" = Uuid, Path, description = "Product id")),
    responses(
        (status = 200, description = "The product", body = ProductDetail),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 404, description = "No such product", body = ErrorBody),
        (status = 503, description = "The store is unavailable and no copy of the answer is cached (`degraded`, with `Retry-After`)", body = ErrorBody),
    )
)]
async fn product(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    Ok(answer(s.catalog.product(id).await?))
}

#[derive(Serialize, ToSchema)]
struct CategoryTree {
    categories: Vec<CategoryNode>,
}

/// The category tree, each node with the number of products in its subtree.
#[utoipa::path(
    get,
    path = "/api/categories",
    tag = "catalog",
    responses((status = 200, description = "The tree", body = CategoryTree))
)]
async fn categories(State(s): State<AppState>) -> Result<Json<CategoryTree>, ApiError> {
    Ok(Json(CategoryTree {
        categories: s.catalog.categories().await?,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SuggestQuery {
    /// What has been typed so far (at most 200 characters).
    q: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct Suggestions {
    suggestions: Vec<Suggestion>,
}

/// Up to ten completions for type-ahead: brands, categories, product names.
#[utoipa::path(
    get,
    path = "/api/search/suggest",
    tag = "catalog",
    params(SuggestQuery),
    responses(
        (status = 200, description = "Completions", body = Suggestions),
        (status = 400, description = "q is too long", body = ErrorBody),
        (status = 503, description = "The store is unavailable, or the search ran past its time limit (`search_timeout`)", body = ErrorBody),
    )
)]
async fn suggest(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<SuggestQuery>,
) -> Result<Response, ApiError> {
    Ok(answer(
        s.catalog.suggest(q.q.as_deref().unwrap_or("")).await?,
    ))
}
