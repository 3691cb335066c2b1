//! The storefront: a single-page app (plain HTML, CSS and JavaScript modules
//! from `web/`) compiled into the binary. `index.html` answers `/` and every
//! page the app routes itself (`/product/{id}`, `/cart`, …), so a reload or a
//! pasted link opens the same page; the rest is served from `/assets/…`.
//! Only the files listed in [`ASSETS`] are served, and unknown paths keep
//! the API's JSON 404 (the router's fallback).
//!
//! Every response carries a Content-Security-Policy that allows scripts,
//! styles and requests to this origin only, plus the payment provider's
//! origin for `connect-src`: the card form posts card fields straight to the
//! provider's tokenization URL (`GET /api/config`), so card data never
//! reaches Emporium. The other security headers are set for every route in
//! [`crate::app`].
//!
//! Development: with `EMPORIUM_WEB_DIR` set (e.g. `EMPORIUM_WEB_DIR=web`),
//! the same files are read from that directory on every request instead of
//! the embedded copies, so the page can be edited without rebuilding.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::error::ApiError;
use crate::ops::ClientConfig;

/// One embedded file: its path under `web/`, content type and bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $type:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/", $path)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file the storefront serves; a new file under `web/` goes here too.
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("assets/app.css", "text/css; charset=utf-8"),
    asset!("assets/favicon.svg", "image/svg+xml"),
    asset!("assets/js/app.js", JS),
    asset!("assets/js/api.js", JS),
    asset!("assets/js/session.js", JS),
    asset!("assets/js/ui.js", JS),
    asset!("assets/js/typeahead.js", JS),
    asset!("assets/js/payment.js", JS),
    asset!("assets/js/status.js", JS),
    asset!("assets/js/views/home.js", JS),
    asset!("assets/js/views/search.js", JS),
    asset!("assets/js/views/product.js", JS),
    asset!("assets/js/views/cart.js", JS),
    asset!("assets/js/views/auth.js", JS),
    asset!("assets/js/views/checkout.js", JS),
    asset!("assets/js/views/order.js", JS),
    asset!("assets/js/views/orders.js", JS),
];

/// The pages the app routes itself; each answers with `index.html`.
const PAGES: &[&str] = &[
    "/",
    "/product/{id}",
    "/cart",
    "/checkout",
    "/signin",
    "/register",
    "/orders",
    "/orders/{id}",
];

struct Web {
    csp: HeaderValue,
    /// `EMPORIUM_WEB_DIR`: serve the files from disk (development).
    dir: Option<PathBuf>,
}

/// The storefront's routes. Reads `EMPORIUM_WEB_DIR` once, here.
pub fn router(config: &ClientConfig) -> Router {
    let web = Arc::new(Web {
        csp: content_security_policy(&config.payments.tokenization_url),
        dir: std::env::var_os("EMPORIUM_WEB_DIR").map(PathBuf::from),
    });
    if let Some(dir) = &web.dir {
        tracing::info!(dir = %dir.display(), "storefront served from disk (EMPORIUM_WEB_DIR)");
    }
    let mut router = Router::new();
    for page in PAGES {
        router = router.route(page, get(index));
    }
    router.route("/assets/{*path}", get(asset)).with_state(web)
}

/// `connect-src` adds the tokenization URL's origin (scheme, host, port);
/// a URL that has none (relative, unparsable) adds nothing.
fn content_security_policy(tokenization_url: &str) -> HeaderValue {
    let provider = tokenization_url
        .parse::<Uri>()
        .ok()
        .and_then(|u| Some(format!(" {}://{}", u.scheme_str()?, u.authority()?)))
        .unwrap_or_default();
    let csp = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'{provider}; frame-ancestors 'none'; base-uri 'none'; \
         form-action 'self'; object-src 'none'"
    );
    HeaderValue::from_str(&csp).unwrap_or_else(|_| {
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; \
             base-uri 'none'; form-action 'self'",
        )
    })
}

async fn index(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    serve(&web, "index.html", &headers).await
}

async fn asset(
    State(web): State<Arc<Web>>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    serve(&web, &format!("assets/{path}"), &headers).await
}

/// Answers with the listed file `path` (never any other: the list is the
/// allowlist, also for the directory override), revalidated by its ETag.
async fn serve(web: &Web, path: &str, headers: &HeaderMap) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.path == path) else {
        return ApiError::for_status(StatusCode::NOT_FOUND).into_response();
    };
    let bytes: std::borrow::Cow<'static, [u8]> = match &web.dir {
        None => asset.bytes.into(),
        Some(dir) => match tokio::fs::read(dir.join(asset.path)).await {
            Ok(b) => b.into(),
            Err(e) => {
                tracing::warn!(error = %e, path, "EMPORIUM_WEB_DIR: cannot read the file");
                return ApiError::for_status(StatusCode::NOT_FOUND).into_response();
            }
        },
    };
    // Weak: the compression layer may send the same file gzipped.
    let etag = format!("W/\"{:016x}\"", fnv1a(&bytes));
    // File names carry no version, so browsers revalidate every time; an
    // unchanged file costs a 304 without a body.
    let common = [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::CONTENT_SECURITY_POLICY, web.csp.clone()),
        (
            header::ETAG,
            HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("W/\"0\"")),
        ),
    ];
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    if unchanged {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        )],
        bytes,
    )
        .into_response()
}

/// FNV-1a: a cheap, stable fingerprint for the ETag.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp_allows_the_tokenization_origin_only_for_requests() {
        let csp = content_security_policy("http://127.0.0.1:8090/v1/payment_methods");
        let csp = csp.to_str().unwrap();
        assert!(
            csp.contains("connect-src 'self' http://127.0.0.1:8090;"),
            "{csp}"
        );
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        let relative = content_security_policy("/v1/payment_methods");
        assert!(relative.to_str().unwrap().contains("connect-src 'self';"));
    }

    async fn get(path: &str, if_none_match: Option<&str>) -> axum::response::Response {
        use tower::ServiceExt;
        let config = ClientConfig {
            currency: "USD".into(),
            payments: crate::ops::PublicPayments {
                tokenization_url: "http://127.0.0.1:8090/v1/payment_methods".into(),
                publishable_key: "pk_test".into(),
            },
            test_mode: true,
        };
        let mut req = axum::http::Request::get(path);
        if let Some(tag) = if_none_match {
            req = req.header(header::IF_NONE_MATCH, tag);
        }
        router(&config)
            .oneshot(req.body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn app_pages_serve_the_shell_and_assets_revalidate() {
        for page in ["/", "/product/0193a5b2", "/cart", "/orders/x"] {
            let res = get(page, None).await;
            assert_eq!(res.status(), StatusCode::OK, "{page}");
            assert!(res.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html"));
            assert!(res.headers().contains_key(header::CONTENT_SECURITY_POLICY));
        }
        let js = get("/assets/js/app.js", None).await;
        assert_eq!(js.headers()[header::CONTENT_TYPE], JS);
        let etag = js.headers()[header::ETAG].to_str().unwrap().to_owned();
        let again = get("/assets/js/app.js", Some(&etag)).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        // Only listed files: no other path under web/, no traversal.
        for path in [
            "/assets/nope.js",
            "/assets/../index.html",
            "/product/a/b",
            "/api/x",
        ] {
            assert_eq!(
                get(path, None).await.status(),
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
    }

    #[test]
    fn every_listed_file_is_embedded_and_small() {
        let total: usize = ASSETS.iter().map(|a| a.bytes.len()).sum();
        assert!(ASSETS.iter().all(|a| !a.bytes.is_empty()));
        // The whole app is one page load: keep it well under 200 kB.
        assert!(total < 200 * 1024, "storefront is {total} bytes");
    }
}
