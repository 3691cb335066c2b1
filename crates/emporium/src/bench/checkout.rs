//! `emporium bench --checkout`: checkout under contention. Stocks a set of
//! popular products through the store (reason "benchmark"), then runs
//! `concurrency` clients that each, back to back, create a guest cart, add
//! one of those products and check out with a fresh Idempotency-Key. The
//! report times the checkout request alone; the cart requests around it
//! are load, not measurement.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use emporium_bench::Report;
use emporium_domain::inventory::StockChange;
use emporium_domain::ports::StockStore;
use emporium_store::Store;
use serde_json::{json, Value};
use uuid::Uuid;

/// Products the checkouts spread over (so they contend as real traffic does).
const PRODUCTS: usize = 20;

pub async fn run(
    addr: SocketAddr,
    store: &Store,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<Report> {
    let http = reqwest::Client::new();
    let page: Value = http
        .get(format!(
            "http://{addr}/api/products?sort=popularity&limit={PRODUCTS}"
        ))
        .send()
        .await?
        .json()
        .await?;
    let products: Vec<Uuid> = page["items"]
        .as_array()
        .context("the catalog is empty")?
        .iter()
        .filter_map(|p| p["id"].as_str().and_then(|s| s.parse().ok()))
        .collect();
    if products.is_empty() {
        bail!("no products to check out");
    }
    for p in &products {
        store
            .change_stock(
                *p,
                StockChange::Set(10_000_000),
                "benchmark",
                "bench",
                emporium_auth::now_ms(),
            )
            .await?;
    }
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|c| {
            let (http, products) = (http.clone(), products.clone());
            tokio::spawn(async move { client(addr, http, products, c, started + duration).await })
        })
        .collect();
    let mut report = Report::empty(&format!("checkout closed loop c={concurrency}"));
    for t in tasks {
        let (h, sent, ok, err) = t.await?;
        report.histogram.add(&h).ok();
        report.sent += sent;
        report.ok += ok;
        report.first_error = report.first_error.take().or(err);
    }
    report.errors = report.sent - report.ok;
    report.elapsed = started.elapsed();
    Ok(report)
}

type ClientResult = (hdrhistogram::Histogram<u64>, u64, u64, Option<String>);

async fn client(
    addr: SocketAddr,
    http: reqwest::Client,
    products: Vec<Uuid>,
    c: usize,
    until: Instant,
) -> ClientResult {
    let mut h = emporium_bench::new_histogram();
    let (mut sent, mut ok, mut first_error) = (0u64, 0u64, None);
    let body = json!({
        "address": {"name": "Bench", "line1": "1 Load Street", "city": "Testville",
                    "region": "CA", "postal_code": "94000", "country": "US"},
        "shipping_method": "standard", "email": "bench@example.com"
    });
    let mut i = c;
    while Instant::now() < until {
        i += 1;
        let product = products[i % products.len()];
        let outcome = async {
            let cart: Value = http
                .post(format!("http://{addr}/api/carts"))
                .send()
                .await?
                .json()
                .await?;
            let token = cart["cart_token"]
                .as_str()
                .context("no cart token")?
                .to_owned();
            let res = http
                .post(format!("http://{addr}/api/cart/items"))
                .header("x-cart-token", &token)
                .json(&json!({"product_id": product, "quantity": 1}))
                .send()
                .await?;
            if !res.status().is_success() {
                bail!("adding to the cart: {}", res.status());
            }
            let t = Instant::now();
            let res = http
                .post(format!("http://{addr}/api/checkout"))
                .header("x-cart-token", &token)
                .header("idempotency-key", Uuid::now_v7().to_string())
                .json(&body)
                .send()
                .await?;
            let status = res.status();
            res.bytes().await?;
            if status != 201 {
                bail!("checkout: {status}");
            }
            Ok::<Duration, anyhow::Error>(t.elapsed())
        }
        .await;
        sent += 1;
        match outcome {
            Ok(latency) => {
                ok += 1;
                h.saturating_record(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
            }
            Err(e) => first_error = first_error.or(Some(e.to_string())),
        }
    }
    (h, sent, ok, first_error)
}
