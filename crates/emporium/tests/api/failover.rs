//! The shop on a PostgreSQL primary and a real streaming replica
//! (`pg_cluster`), with the database failing under it: catalog reads move to
//! whichever server answers, writes pause with 503 `degraded` (fast, once
//! the breaker is open) and resume by themselves, a promoted replica takes
//! the writes without a restart, a lagging replica is skipped, and cached
//! answers are served stale while no server answers.

use std::time::{Duration, Instant};

use reqwest::Method;
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::pg_cluster::PgCluster;
use crate::shop::{add, guest_cart};
use crate::support::{Backend, TestApp};

/// A shop on `cluster`'s two servers, probing often so the tests are quick.
async fn shop_on(
    cluster: &PgCluster,
    cache: &str,
    tweak: impl FnOnce(&mut emporium::config::Config),
) -> TestApp {
    let urls = cluster.urls();
    let cache = cache.to_owned();
    let app = TestApp::spawn_with(Backend::Postgres, move |c| {
        c.store.database_url = Some(SecretString::from(urls));
        c.store.probe_interval_ms = 100;
        c.store.breaker_cooldown_ms = 300;
        c.store.acquire_timeout_ms = 4000;
        c.cache.backend = cache;
        tweak(c);
    })
    .await;
    cluster.wait_replica_caught_up().await;
    app
}

async fn status(app: &TestApp, path: &str) -> u16 {
    app.get(path).await.status().as_u16()
}

/// Waits (up to `limit`) until `ok` holds, returning how long it took.
async fn until<F, Fut>(limit: Duration, mut ok: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if ok().await {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not within {limit:?}");
}

async fn ready(app: &TestApp) -> Value {
    app.json("/health/ready", 200).await
}

#[tokio::test]
async fn with_the_primary_down_reads_go_on_writes_pause_fast_and_resume_when_it_returns() {
    let cluster = PgCluster::start();
    let app = shop_on(&cluster, "none", |_| {}).await;
    let products = app.products("usb", 2).await;
    let cart = guest_cart(&app).await;
    assert_eq!(
        add(&app, None, Some(&cart), &products[0].0, json!(1))
            .await
            .status(),
        200
    );

    cluster.stop_node(&cluster.primary);
    // Reads: every search and product page answers, from the replica.
    for q in [
        "usb", "laptop", "cable", "mouse", "tv", "phone", "camera", "audio",
    ] {
        assert_eq!(
            status(&app, &format!("/api/products?q={q}")).await,
            200,
            "search {q}"
        );
        assert_eq!(
            status(&app, &format!("/api/products/{}", products[1].0)).await,
            200
        );
    }
    // Writes: 503 degraded, with Retry-After and the header, in words a
    // customer can read.
    let res = add(&app, None, Some(&cart), &products[1].0, json!(1)).await;
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(res.headers()["x-emporium-degraded"], "read-only");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "degraded");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("keep browsing"));
    // The breaker is open: a write fails at once, not after the pool's
    // 4 s acquire timeout.
    until(Duration::from_secs(10), || async {
        !ready(&app).await["checks"]["store"]["writes"]
            .as_bool()
            .unwrap()
    })
    .await;
    let started = Instant::now();
    let res = app
        .request(Method::POST, "/api/carts", None, None)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    // Still in rotation, and saying why.
    let r = ready(&app).await;
    assert_eq!(r["status"], "degraded");
    assert_eq!(app.json("/api/status", 200).await["status"], "degraded");
    let search = app.get("/api/products?q=usb").await;
    assert_eq!(search.headers()["x-emporium-degraded"], "read-only");

    cluster.start_node(&cluster.primary);
    let took = until(Duration::from_secs(30), || async {
        add(&app, None, Some(&cart), &products[1].0, json!(1))
            .await
            .status()
            == 200
    })
    .await;
    assert!(took < Duration::from_secs(30));
    assert_eq!(app.json("/api/status", 200).await["status"], "ok");
    let lines = app
        .request(Method::GET, "/api/cart", None, Some(&cart))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        lines["lines"].as_array().unwrap().len(),
        2,
        "both acknowledged adds are there"
    );
}

#[tokio::test]
async fn a_promoted_replica_takes_the_writes_without_a_restart() {
    let cluster = PgCluster::start();
    let app = shop_on(&cluster, "memory", |_| {}).await;
    let products = app.products("usb", 1).await;
    cluster.crash_node(&cluster.primary);
    assert_eq!(
        status(&app, "/api/products?q=laptop").await,
        200,
        "reads from the replica"
    );
    cluster.promote_replica();
    let started = Instant::now();
    let cart = loop {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "writes did not resume within 30 s of the promotion"
        );
        let res = app
            .request(Method::POST, "/api/carts", None, None)
            .send()
            .await
            .unwrap();
        if res.status() == 201 {
            break res.json::<Value>().await.unwrap()["cart_token"]
                .as_str()
                .unwrap()
                .to_owned();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        add(&app, None, Some(&cart), &products[0].0, json!(2))
            .await
            .status(),
        200
    );
    let on_new_primary = cluster.psql(&cluster.replica, "SELECT sum(quantity) FROM cart_lines");
    assert_eq!(on_new_primary, "2", "the write is on the promoted server");
    let servers = &ready(&app).await["checks"]["store"]["servers"];
    assert!(servers
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["role"] == "primary"));
}

#[tokio::test]
async fn a_replica_lagging_past_the_bound_serves_no_reads() {
    let cluster = PgCluster::start();
    let app = shop_on(&cluster, "none", |c| c.store.max_replica_lag_ms = 200).await;
    let id = app.products("usb", 1).await[0].0.clone();
    cluster.psql(&cluster.replica, "SELECT pg_wal_replay_pause()");
    cluster.psql(
        &cluster.primary,
        &format!("UPDATE products SET name = 'Renamed while the replica lags' WHERE id = '{id}'"),
    );
    until(Duration::from_secs(10), || async {
        let servers = ready(&app).await["checks"]["store"]["servers"].clone();
        servers
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["role"] == "replica" && s["lag_ms"].as_u64().unwrap() > 200)
    })
    .await;
    // The replica has not replayed the rename; the answer comes from the primary.
    assert_ne!(
        cluster.psql(
            &cluster.replica,
            &format!("SELECT name FROM products WHERE id = '{id}'")
        ),
        "Renamed while the replica lags"
    );
    for _ in 0..5 {
        let p = app.json(&format!("/api/products/{id}"), 200).await;
        assert_eq!(p["name"], "Renamed while the replica lags");
    }
    cluster.psql(&cluster.replica, "SELECT pg_wal_replay_resume()");
}

#[tokio::test]
async fn with_no_server_answering_cached_answers_are_served_stale_and_marked() {
    let cluster = PgCluster::start();
    let app = shop_on(&cluster, "memory", |c| {
        c.cache.ttl_secs = 1;
        c.cache.stale_secs = 300;
    })
    .await;
    let id = app.products("usb", 1).await[0].0.clone();
    assert_eq!(status(&app, "/api/products?q=laptop").await, 200);
    assert_eq!(status(&app, &format!("/api/products/{id}")).await, 200);
    cluster.stop_node(&cluster.primary);
    cluster.stop_node(&cluster.replica);
    tokio::time::sleep(Duration::from_millis(1500)).await; // past the TTL
    for path in [
        "/api/products?q=laptop".to_owned(),
        format!("/api/products/{id}"),
    ] {
        let res = app.get(&path).await;
        assert_eq!(res.status(), 200, "{path} is served stale");
        assert_eq!(res.headers()["x-emporium-degraded"], "stale");
    }
    // Nothing cached: 503 degraded, never a 500.
    let res = app.get("/api/products?q=never+asked+before").await;
    assert_eq!(res.status(), 503);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "degraded"
    );
    assert_eq!(app.json("/health/ready", 200).await["status"], "degraded");
}
