//! Emporium's HTTP layer: routers by feature merged into one API, the
//! tower-http stack (request id, tracing, timeout, body limit,
//! compression, CORS, security headers), OpenAPI at `/api/openapi.json`
//! with an offline docs page at `/api/docs`, and the accept loop that
//! serves it ([`server`]).

mod admin;
pub mod auth;
pub mod cart;
pub mod catalog;
pub mod degraded;
pub mod error;
pub mod extract;
pub mod identity;
pub mod limits;
mod middleware;
pub mod openapi;
pub mod ops;
pub mod orders;
pub mod server;
pub mod web;
pub mod webhooks;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::Router;
use emporium_auth::{AuthService, Authenticator};
use emporium_cache::{AnyCache, Limiter, Revocations};
use emporium_domain::catalog::CatalogService;
use emporium_domain::shop::Shop;
use emporium_store::Store;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
pub use crate::middleware::RequestLimits;
pub use crate::server::{serve, ConnectionLimits};

pub type Catalog = CatalogService<Store, AnyCache>;
pub type Auth = AuthService<Store, Revocations, Limiter>;
pub type Authn = Authenticator<Store, Revocations>;
pub type ShopService = Shop<Store>;

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub request_timeout: Duration,
    pub body_limit_bytes: usize,
    /// Origins allowed by CORS; empty means same-origin only, `*` any.
    pub cors_origins: Vec<String>,
    /// The URI and headers of one request (answered 414 and 431 in JSON).
    pub request_limits: RequestLimits,
    /// `Strict-Transport-Security: max-age=N; includeSubDomains` on every
    /// response; 0 sends none.
    pub hsts_max_age_secs: u64,
    /// Serve `/metrics` in [`app`]; false when it has an operator address
    /// of its own ([`metrics_app`]).
    pub metrics_in_app: bool,
    /// The bearer token `/metrics` asks for, if any.
    pub metrics_token: Option<ops::MetricsToken>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            request_timeout: Duration::from_secs(10),
            body_limit_bytes: 64 * 1024,
            cors_origins: Vec::new(),
            request_limits: RequestLimits {
                max_uri_bytes: 8 * 1024,
                max_header_bytes: 64 * 1024,
            },
            hsts_max_age_secs: 0,
            metrics_in_app: true,
            metrics_token: None,
        }
    }
}

/// The API docs page's policy: Swagger UI's scripts, styles and images
/// come from the binary (`/api/docs/*`), and it fetches only the OpenAPI
/// document and, for "Try it out", this origin. Styles allow
/// `'unsafe-inline'` because Swagger UI injects style elements; scripts
/// stay `'self'` only, since the page shares its origin with stored tokens.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
    connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; \
    object-src 'none'";

/// Everything handlers need, built once at start-up.
#[derive(Clone)]
pub struct AppState {
    pub catalog: Arc<Catalog>,
    /// Carts, checkout, orders and stock.
    pub shop: Arc<ShopService>,
    pub metrics: PrometheusHandle,
    pub store_kind: &'static str,
    /// Verifies access tokens (every role).
    pub authn: Arc<Authn>,
    pub limiter: Limiter,
    pub limits: limits::ApiLimits,
    /// Guest carts and checkouts per address and per account.
    pub shop_limits: limits::ShopLimits,
    /// Take the client address from `X-Forwarded-For` (behind a proxy).
    pub trust_forwarded_for: bool,
    /// Mark cookies `Secure` (the shop is served over HTTPS).
    pub secure_cookies: bool,
    /// What clients may know about the shop (`GET /api/config`).
    pub client_config: Arc<ops::ClientConfig>,
    /// How the payment provider's webhooks are verified (none: payments off).
    pub webhooks: Option<Arc<webhooks::WebhookSettings>>,
}

/// Which parts of the API this process serves (its role).
#[derive(Clone)]
pub struct Features {
    /// Catalog and the rest of the shop's API (`api` and `all` roles).
    pub shop: bool,
    /// Accounts, sessions and JWKS (`auth` and `all` roles).
    pub identity: Option<Arc<Auth>>,
}

/// The process-wide Prometheus recorder. The `metrics` facade has one global
/// recorder by design; it is installed once and shared by every server in
/// the process (tests start several).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            const BUCKETS: &[f64] = &[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(handle) => handle,
                // Another recorder is already installed: render our own (empty) one.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

/// The whole application: API, docs, operational routes and middleware.
pub fn app(state: AppState, features: Features, config: &HttpConfig) -> Router {
    let mut api = utoipa_axum::router::OpenApiRouter::<()>::with_openapi(openapi::base());
    if features.shop {
        api = api.merge(
            catalog::router()
                .merge(identity::session_router())
                .merge(cart::router())
                .merge(orders::router())
                .merge(admin::router())
                .merge(ops::config_router())
                .merge(webhooks::router())
                .merge(degraded::router())
                .with_state(state.clone()),
        );
    }
    if let Some(auth) = features.identity {
        let shop = features.shop.then(|| state.shop.clone());
        api = api.merge(identity::router().with_state(identity::IdentityState { auth, shop }));
    }
    let (api, spec) = api.split_for_parts();
    let spec = openapi::complete(spec);
    let docs = utoipa_swagger_ui::SwaggerUi::new("/api/docs").url("/api/openapi.json", spec);
    let docs = Router::from(docs).layer(SetResponseHeaderLayer::overriding(
        axum::http::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOCS_CSP),
    ));
    let cors = cors(config);
    let mut router = Router::new()
        .merge(api)
        .merge(docs)
        .merge(ops::router().with_state(state.clone()))
        .merge(web::router(&state.client_config));
    if config.metrics_in_app {
        router = router.merge(ops::metrics_router(
            state.metrics.clone(),
            config.metrics_token.clone(),
        ));
    }
    let router = router
        .fallback(|| async { ApiError::for_status(StatusCode::NOT_FOUND) })
        // Innermost first: these run after routing (so `MatchedPath` is known),
        // and json_errors sees the timeout's and body limit's bare statuses.
        // The rate limit runs after authentication, which it counts by.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::rate_limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(state, degraded::mark))
        .layer(RequestBodyLimitLayer::new(config.body_limit_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            config.request_timeout,
        ))
        .layer(axum::middleware::from_fn(middleware::json_errors))
        .layer(axum::middleware::from_fn(middleware::record_metrics))
        // Unknown methods and oversized requests stop here: no metric, no limit counted.
        .layer(axum::middleware::from_fn_with_state(
            config.request_limits,
            middleware::check_request,
        ))
        .layer(axum::middleware::from_fn(middleware::scope_request_id))
        .layer(CompressionLayer::new())
        .layer(cors);
    with_common_layers(router, config)
}

/// Cross-origin access for browser clients on the configured origins.
fn cors(config: &HttpConfig) -> CorsLayer {
    if config.cors_origins.iter().any(|o| o == "*") {
        CorsLayer::new().allow_origin(AllowOrigin::any())
    } else {
        let origins: Vec<HeaderValue> = config
            .cors_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        CorsLayer::new().allow_origin(origins)
    }
    .allow_methods([
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ])
    .allow_headers([
        axum::http::header::CONTENT_TYPE,
        axum::http::header::AUTHORIZATION,
        HeaderName::from_static("x-cart-token"),
        HeaderName::from_static("x-order-token"),
        HeaderName::from_static("idempotency-key"),
    ])
    // Let browser clients read when to retry and how much budget is left.
    .expose_headers([
        axum::http::header::RETRY_AFTER,
        HeaderName::from_static("ratelimit-limit"),
        HeaderName::from_static("ratelimit-remaining"),
        HeaderName::from_static("ratelimit-reset"),
        HeaderName::from_static("x-request-id"),
        HeaderName::from_static("idempotent-replayed"),
    ])
}

/// `/metrics` alone, for an operator address of its own.
pub fn metrics_app(metrics: PrometheusHandle, config: &HttpConfig) -> Router {
    let router = ops::metrics_router(metrics, config.metrics_token.clone())
        .fallback(|| async { ApiError::for_status(StatusCode::NOT_FOUND) })
        .layer(axum::middleware::from_fn_with_state(
            config.request_limits,
            middleware::check_request,
        ))
        .layer(axum::middleware::from_fn(middleware::scope_request_id));
    with_common_layers(router, config)
}

/// Security headers, tracing and the request id, outermost.
fn with_common_layers(router: Router, config: &HttpConfig) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let mut router = router
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("x-content-type-options"),
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("no-referrer"),
        ));
    if config.hsts_max_age_secs > 0 {
        let value = format!("max-age={}; includeSubDomains", config.hsts_max_age_secs);
        if let Ok(value) = HeaderValue::from_str(&value) {
            router = router.layer(SetResponseHeaderLayer::overriding(
                axum::http::header::STRICT_TRANSPORT_SECURITY,
                value,
            ));
        }
    }
    router
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}
