//! The edges of a request over real HTTP: unknown methods answered 405
//! without a metric series of their own, `/metrics` behind a token or on an
//! operator address, the storefront's limit per address, oversized URIs
//! and headers answered in the API's JSON shape, HSTS when configured, and
//! the API docs page's Content-Security-Policy.

use reqwest::Method;
use serde_json::Value;

use crate::support::{Backend, ServerProcess, TestApp};

/// Asserts the API's error shape and returns its code.
async fn error_code(res: reqwest::Response) -> String {
    assert_eq!(
        res.headers()["content-type"],
        "application/json",
        "an error in the API's shape"
    );
    let body: Value = res.json().await.unwrap();
    assert!(body["error"]["message"].is_string(), "{body}");
    body["error"]["code"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_methods_get_405_json_and_make_no_metric_series() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    // Names no other test sends, so the shared recorder cannot mislead.
    let unique = uuid::Uuid::now_v7().simple().to_string().to_uppercase();
    let methods: Vec<String> = (0..30).map(|i| format!("X{i}{unique}")).collect();
    for (i, m) in methods.iter().enumerate() {
        let path = ["/", "/api/products", "/no/such/route"][i % 3];
        let res = app
            .client
            .request(Method::from_bytes(m.as_bytes()).unwrap(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 405, "{m} {path}");
        assert!(res.headers()["allow"].to_str().unwrap().contains("GET"));
        assert_eq!(error_code(res).await, "method_not_allowed");
    }
    app.json("/api/products?q=laptop", 200).await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("method=\"GET\""));
    assert!(
        !metrics.contains(&unique),
        "a client's method became a metric label"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_token_when_one_is_set() {
    let token = "an-operators-metrics-token";
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.server.metrics_token = token.to_owned().into();
    })
    .await;
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), 401);
    assert_eq!(error_code(res).await, "unauthenticated");
    let res = app.get_as("/metrics", "not-the-metrics-token-at-all").await;
    assert_eq!(res.status(), 401);
    let res = app.get_as("/metrics", token).await;
    assert_eq!(res.status(), 200);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("http_request_duration_seconds"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_move_to_an_operator_address() {
    let dir = tempfile::tempdir().unwrap();
    let shop = ServerProcess::start(
        "api",
        dir.path(),
        &[("EMPORIUM_SERVER__METRICS_ADDR", "127.0.0.1:0")],
    );
    let http = reqwest::Client::new();
    let res = http.get(shop.url("/health/live")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = http.get(shop.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 404, "no /metrics on the shop's port");
    assert_eq!(error_code(res).await, "not_found");
    let url = shop
        .metrics
        .clone()
        .expect("the operator address is printed");
    let res = http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(text.contains("route=\"/health/live\""), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storefront_requests_are_limited_per_address() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.limits.web_requests_per_ip = 5;
    })
    .await;
    // The start-up probe spent one; a window may end in between, so go on
    // until refused rather than counting.
    let mut refused = None;
    for _ in 0..12 {
        let res = app.get("/assets/app.css").await;
        if res.status() == 429 {
            refused = Some(res);
            break;
        }
        assert_eq!(res.status(), 200);
    }
    let res = refused.expect("a 429 within 12 storefront requests (limit 5)");
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(res.headers()["ratelimit-limit"], "5");
    assert_eq!(error_code(res).await, "rate_limited");
    // The API counts apart.
    app.json("/api/products?q=laptop", 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_uris_and_headers_get_json_errors() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let long = format!("/api/products?q={}", "a".repeat(20_000));
    let res = app.get(&long).await;
    assert_eq!(res.status(), 414);
    assert_eq!(error_code(res).await, "uri_too_long");

    let pad = "b".repeat(50_000);
    let res = app
        .client
        .get(app.url("/api/products?q=tv"))
        .header("x-pad-one", &pad)
        .header("x-pad-two", &pad)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 431);
    assert_eq!(error_code(res).await, "headers_too_large");
    // Within the limits all is as before.
    app.json("/api/products?q=tv", 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_is_sent_when_configured() {
    let plain = TestApp::spawn(Backend::Sqlite).await;
    let res = plain.get("/api/products?q=tv").await;
    assert!(!res.headers().contains_key("strict-transport-security"));

    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.server.hsts_max_age_secs = 31_536_000;
    })
    .await;
    for path in ["/api/products?q=tv", "/", "/no/such/route"] {
        let res = app.get(path).await;
        assert_eq!(
            res.headers()["strict-transport-security"],
            "max-age=31536000; includeSubDomains",
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_docs_page_has_a_strict_csp() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let res = app.get("/api/docs/").await;
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    for directive in [
        "default-src 'none'",
        "script-src 'self';",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    // What the page loads is all from here.
    let html = res.text().await.unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );
    assert_eq!(
        app.get("/api/docs/swagger-initializer.js").await.status(),
        200
    );
}
