//! The catalog API over real HTTP: search, bad input, detail, tree, suggest.

use serde_json::Value;

use crate::support::{Backend, TestApp};

crate::on_every_backend!(
    search_returns_products_with_the_documented_shape,
    typos_are_corrected_and_reported,
    every_bad_input_is_a_json_400,
    query_syntax_is_plain_text_never_an_error,
    product_detail_and_not_found,
    categories_and_suggestions,
    cursor_pagination_over_http,
);

async fn search_returns_products_with_the_documented_shape(app: TestApp) {
    let body = app.json("/api/products?q=laptop&limit=5", 200).await;
    assert!(body["total"].as_u64().unwrap() >= 5);
    let item = &body["items"][0];
    for key in [
        "id",
        "sku",
        "name",
        "brand",
        "price",
        "category",
        "image",
        "popularity",
    ] {
        assert!(item.get(key).is_some(), "item lacks {key}: {item}");
    }
    assert_eq!(item["price"]["currency"], "USD");
    assert!(item["price"]["amount"].is_i64());
    assert!(item["category"]["path"].is_array());
    assert!(
        item["name"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("laptop")
            || item["category"]["path"]
                .to_string()
                .to_lowercase()
                .contains("laptop")
    );
    for facet in ["categories", "brands", "price"] {
        assert!(body["facets"][facet].is_array(), "facet {facet}");
    }
    assert!(body["next_cursor"].is_string());
}

async fn typos_are_corrected_and_reported(app: TestApp) {
    let body = app.json("/api/products?q=samsnug", 200).await;
    assert_eq!(body["corrected_query"], "samsung");
    assert!(
        body["items"][0]["name"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("samsung")
            || body["items"][0]["brand"] == "Samsung"
    );
    let body = app.json("/api/products?q=samsnug%20phone", 200).await;
    assert!(body["total"].as_u64().unwrap() > 0);
}

async fn every_bad_input_is_a_json_400(app: TestApp) {
    let cases = [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=abc", "limit"),
        ("min_price=500&max_price=100", "min_price"),
        ("min_price=-1", "min_price"),
        ("max_price=ten", "max_price"),
        ("min_price=1e3", "min_price"),
        ("sort=cheapest", "sort"),
        ("category=no-such-category", "category"),
        ("category=%27%20OR%201%3D1", "category"),
        ("cursor=not-a-cursor", "cursor"),
        (
            "cursor=eyJmIjoxLCJhIjp7InMiOiJuYW1lIiwibmFtZSI6IngiLCJrZXkiOjF9fQ",
            "cursor",
        ),
        ("q=%zz", "query"),
        ("q=%FF%FE", "query"),
        ("q=a&q=b", "query"),
    ];
    for (query, field) in cases {
        let res = app.get(&format!("/api/products?{query}")).await;
        assert_eq!(res.status().as_u16(), 400, "{query}");
        assert_eq!(res.headers()["content-type"], "application/json", "{query}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(
            body["error"]["code"], "validation_failed",
            "{query}: {body}"
        );
        assert!(
            body["error"]["details"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["field"] == field),
            "{query}: expected a detail for {field}: {body}"
        );
        assert!(body["error"]["request_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty()));
    }
    let long = "a".repeat(201);
    let body = app.json(&format!("/api/products?q={long}"), 400).await;
    assert_eq!(body["error"]["details"][0]["field"], "q");
    let body = app
        .json(&format!("/api/search/suggest?q={long}"), 400)
        .await;
    assert_eq!(body["error"]["code"], "validation_failed");
}

async fn query_syntax_is_plain_text_never_an_error(app: TestApp) {
    for q in [
        "%27%20OR%201%3D1%20--",
        "%22",
        "*",
        "NEAR(",
        "-",
        ":",
        "samsung%22%20OR%20%22x",
        "%5C",
        "a%20AND%20(b",
        "%00",
    ] {
        let res = app.get(&format!("/api/products?q={q}")).await;
        assert_eq!(res.status().as_u16(), 200, "q={q}");
        let body: Value = res.json().await.unwrap();
        assert!(body["items"].is_array(), "q={q}");
        let res = app.get(&format!("/api/search/suggest?q={q}")).await;
        assert_eq!(res.status().as_u16(), 200, "suggest q={q}");
    }
}

async fn product_detail_and_not_found(app: TestApp) {
    let body = app.json("/api/products?q=samsung&limit=1", 200).await;
    let id = body["items"][0]["id"].as_str().unwrap().to_owned();
    let p = app.json(&format!("/api/products/{id}"), 200).await;
    assert_eq!(p["id"], id.as_str());
    assert!(p.get("description").is_some() && p["attributes"].is_object());
    let missing = app
        .json(&format!("/api/products/{}", uuid::Uuid::now_v7()), 404)
        .await;
    assert_eq!(missing["error"]["code"], "not_found");
    let bad = app.json("/api/products/not-a-uuid", 400).await;
    assert_eq!(bad["error"]["code"], "validation_failed");
}

async fn categories_and_suggestions(app: TestApp) {
    let tree = app.json("/api/categories", 200).await;
    let roots = tree["categories"].as_array().unwrap();
    assert!(roots.len() >= 8);
    let total: u64 = roots
        .iter()
        .map(|c| c["product_count"].as_u64().unwrap())
        .sum();
    let all = app.json("/api/products", 200).await;
    assert_eq!(total, all["total"].as_u64().unwrap());
    let slug = roots[0]["slug"].as_str().unwrap();
    let filtered = app
        .json(&format!("/api/products?category={slug}"), 200)
        .await;
    assert_eq!(filtered["total"], roots[0]["product_count"]);

    let s = app.json("/api/search/suggest?q=sams", 200).await;
    let list = s["suggestions"].as_array().unwrap();
    assert!(!list.is_empty() && list.len() <= 10);
    assert!(
        list.iter()
            .all(|x| x["text"].as_str().unwrap().to_lowercase().contains("sams")),
        "{s}"
    );
    assert_eq!(
        app.json("/api/search/suggest?q=", 200).await["suggestions"],
        serde_json::json!([])
    );
}

async fn cursor_pagination_over_http(app: TestApp) {
    let total = app
        .json("/api/products?q=samsung&sort=price_asc", 200)
        .await["total"]
        .as_u64()
        .unwrap();
    let mut seen = std::collections::HashSet::new();
    let mut path = "/api/products?q=samsung&sort=price_asc&limit=9".to_string();
    loop {
        let page = app.json(&path, 200).await;
        for item in page["items"].as_array().unwrap() {
            assert!(
                seen.insert(item["id"].as_str().unwrap().to_owned()),
                "duplicate across pages"
            );
        }
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/products?q=samsung&sort=price_asc&limit=9&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len() as u64, total);
    // A cursor does not continue a different query.
    let first = app
        .json("/api/products?q=samsung&sort=price_asc&limit=2", 200)
        .await;
    let c = first["next_cursor"].as_str().unwrap();
    app.json(
        &format!("/api/products?q=laptop&sort=price_asc&cursor={c}"),
        400,
    )
    .await;
}

/// A search past `store.search_timeout_ms` is stopped: 503 `search_timeout`
/// with Retry-After, and the store's one connection keeps serving.
async fn a_costly_search_times_out_and_the_shop_keeps_answering(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.store.search_timeout_ms = 1;
        // One connection: whatever runs next uses the one the search used.
        c.store.pool_size = 1;
    })
    .await;
    // The demo catalog (23k products): a search over all of it with facets
    // takes tens of milliseconds at least, far past 1 ms on any machine.
    let demo = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../catalog/demo-catalog.jsonl.gz"
    );
    crate::support::seed_file(&app.config, demo.into()).await;
    let id = app.json("/api/categories", 200).await["categories"][0]["id"].clone();
    assert!(id.is_string());
    for round in 0..3 {
        let started = std::time::Instant::now();
        let res = app
            .get(&format!("/api/products?sort=name&limit={}", 90 + round))
            .await;
        assert_eq!(res.status(), 503, "round {round}");
        assert_eq!(res.headers()["retry-after"], "2");
        let e: Value = res.json().await.unwrap();
        assert_eq!(e["error"]["code"], "search_timeout");
        assert!(e["error"]["request_id"].is_string());
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "stopped, not left to run"
        );
        // The connection went back healthy: reads on it still work.
        let p = app
            .get(&format!("/api/products/{}", product_id(&app).await))
            .await;
        assert_eq!(p.status(), 200, "round {round}");
    }
}

/// A product id straight from the store (searches cannot run here).
async fn product_id(app: &TestApp) -> String {
    use emporium_domain::ports::CatalogStore;
    let store = emporium::startup::open_store(&app.config).await.unwrap();
    let id = store
        .product_id_by_sku("FK-SRTEH2FF9KEDEFGF")
        .await
        .unwrap()
        .unwrap();
    store.close().await;
    id.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_costly_search_times_out_on_sqlite() {
    a_costly_search_times_out_and_the_shop_keeps_answering(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_costly_search_times_out_on_postgres() {
    a_costly_search_times_out_and_the_shop_keeps_answering(Backend::Postgres).await;
}
