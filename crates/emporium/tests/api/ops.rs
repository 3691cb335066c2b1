//! Operational surface: health, metrics, OpenAPI, docs, headers, shutdown.

use crate::support::{Backend, PrivateRedis, TestApp};
use secrecy::SecretString;

#[tokio::test]
async fn health_metrics_and_headers() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    assert_eq!(app.json("/health/live", 200).await["status"], "ok");
    let ready = app.json("/health/ready", 200).await;
    assert_eq!(ready["status"], "ok");
    assert_eq!(ready["checks"]["store"]["kind"], "sqlite");
    app.json("/api/products?q=laptop", 200).await;
    app.json("/api/products?q=laptop", 200).await;
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    for metric in [
        "http_request_duration_seconds",
        "search_duration_seconds",
        "cache_requests_total",
    ] {
        assert!(text.contains(metric), "/metrics lacks {metric}");
    }
    assert!(text.contains("route=\"/api/products\""));
    assert!(
        text.contains("outcome=\"hit\""),
        "the second identical search is a cache hit"
    );

    let res = app.get("/api/products?q=tv").await;
    let h = res.headers();
    assert!(h.contains_key("x-request-id"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    let res = app
        .client
        .get(app.url("/api/products?q=tv"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["x-request-id"],
        "abc-123",
        "a caller's request id is kept"
    );

    let res = app.get("/no/such/route").await;
    assert_eq!(res.status(), 404);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    let res = app
        .client
        .post(app.url("/api/products"))
        .body("x".repeat(200_000))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error());
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body["error"]["code"].is_string());
}

#[tokio::test]
async fn storefront_and_offline_docs_are_served() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let page = app.get("/").await.text().await.unwrap();
    assert!(page.contains("id=\"search\""));
    let docs = app.get("/api/docs/").await;
    assert_eq!(docs.status(), 200);
    let html = docs.text().await.unwrap();
    assert!(
        !html.contains("cdn") && !html.contains("unpkg"),
        "docs assets come from the binary"
    );
    let js = app.get("/api/docs/swagger-ui-bundle.js").await;
    assert_eq!(js.status(), 200);
}

/// The served OpenAPI document matches the committed snapshot
/// (docs/openapi.json); regenerate with `UPDATE_SNAPSHOTS=1`.
#[tokio::test]
async fn openapi_document_matches_snapshot() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = app.json("/api/openapi.json", 200).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/api/products",
        "/api/products/{id}",
        "/api/categories",
        "/api/search/suggest",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} undocumented");
    }
    let snapshot = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let pretty = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    if std::env::var("UPDATE_SNAPSHOTS").is_ok() {
        std::fs::write(snapshot, &pretty).unwrap();
    }
    let committed = std::fs::read_to_string(snapshot)
        .expect("docs/openapi.json is missing; run with UPDATE_SNAPSHOTS=1");
    assert_eq!(
        committed, pretty,
        "the API changed: review and run with UPDATE_SNAPSHOTS=1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_in_flight_requests_finish() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let mut in_flight = Vec::new();
    for i in 0..40 {
        let client = app.client.clone();
        let url = app.url(&format!("/api/products?q=samsung&limit=100&min_price={i}"));
        in_flight.push(tokio::spawn(async move {
            client.get(url).send().await.map(|r| r.status().as_u16())
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    app.trigger_shutdown();
    let mut finished = 0;
    for h in in_flight {
        if let Ok(status) = h.await.unwrap() {
            assert_eq!(status, 200, "a request that reached the server completes");
            finished += 1;
        }
    }
    assert!(finished > 0);
    app.stop().await;
    assert!(
        app.client
            .get(app.url("/health/live"))
            .send()
            .await
            .is_err(),
        "the server has stopped"
    );
}

#[tokio::test]
async fn with_the_store_gone_readiness_says_degraded_and_requests_get_degraded_503s() {
    let app = TestApp::spawn(Backend::Postgres).await;
    assert_eq!(
        app.json("/health/ready", 200).await["checks"]["store"]["kind"],
        "postgres"
    );
    // Drop the database under the running server.
    let name = app
        .config
        .database_url()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let admin = std::env::var("EMPORIUM_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .unwrap();
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .unwrap();
    // Still in the gateway's rotation (stale answers, the storefront), and
    // saying what is wrong.
    let ready = app.json("/health/ready", 200).await;
    assert_eq!(ready["status"], "degraded");
    assert_eq!(ready["checks"]["store"]["ok"], false);
    let res = app.get("/api/products?q=uncached-query").await;
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    let body: serde_json::Value = res.json().await.unwrap();
    let text = body.to_string();
    assert_eq!(body["error"]["code"], "degraded");
    assert!(
        !text.contains("database") && !text.contains("SQL"),
        "no internals leak: {text}"
    );
}

/// Redis failing under a running server degrades to uncached searches:
/// every search still answers, readiness says "degraded", errors are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searches_survive_redis_going_down() {
    let mut redis = PrivateRedis::start().await;
    let url = redis.url.clone();
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.cache.backend = "redis".into();
        c.cache.redis_url = Some(SecretString::from(url));
    })
    .await;
    let warm = app.json("/api/products?q=laptop", 200).await;
    let ready = app.json("/health/ready", 200).await;
    assert_eq!(ready["status"], "ok");
    assert_eq!(ready["checks"]["cache"]["kind"], "redis");

    redis.kill();
    let again = app.json("/api/products?q=laptop", 200).await;
    assert_eq!(
        again["total"], warm["total"],
        "the store answers what the cache no longer can"
    );
    for q in ["samsung", "watch", "samsnug"] {
        app.json(&format!("/api/products?q={q}"), 200).await;
    }
    let ready = app.json("/health/ready", 200).await;
    assert_eq!(ready["status"], "degraded");
    assert_eq!(ready["checks"]["cache"]["ok"], false);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("cache_errors_total"),
        "cache failures are counted"
    );
}

/// CORS answers only the configured origins.
#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.server.cors_origins = vec!["https://shop.example".into()];
    })
    .await;
    let allowed = app
        .client
        .get(app.url("/api/products?q=tv"))
        .header("origin", "https://shop.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let other = app
        .client
        .get(app.url("/api/products?q=tv"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
    assert!(!other.headers().contains_key("access-control-allow-origin"));
}

/// Clients learn the currency and where to tokenize cards, and nothing secret.
#[tokio::test]
async fn client_config_is_public_and_holds_no_secret() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let res = app.get("/api/config").await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["currency"], "USD");
    // The built-in simulator's keys are this data directory's own.
    let key = body["payments"]["publishable_key"].as_str().unwrap();
    assert!(
        key.starts_with("pk_test_") && key != "pk_test_paysim",
        "{key}"
    );
    assert!(body["payments"]["tokenization_url"]
        .as_str()
        .unwrap()
        .ends_with("/v1/payment_methods"));
    for secret in ["sk_test", "whsec"] {
        assert!(!text.contains(secret), "{secret} must never be served");
    }
}
