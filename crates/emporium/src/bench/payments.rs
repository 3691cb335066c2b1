//! `emporium bench --payments N --paysim URL`: the cost of paying, and how
//! fast the payment queue drains. The shop must use the paysim at `URL` as
//! its provider (`payments.mode = "provider"`), so that the bench can stop
//! and restart it through paysim's fault control.
//!
//! 1. Healthy provider: N orders are placed and N cards tokenized first
//!    (not measured), then `POST /api/orders/{id}/pay` is sent open loop at
//!    `rate` per second, each timed from when it was due.
//! 2. Recovery: the provider goes down, N more orders are paid (each 202,
//!    queued), the provider comes back, and the time until the queue is
//!    empty (every order paid) is measured by polling the store.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use emporium_bench::Report;
use emporium_domain::inventory::StockChange;
use emporium_domain::ports::{PaymentStore, StockStore};
use emporium_paysim::harness::Client;
use emporium_store::Store;
use futures::StreamExt;
use serde_json::{json, Value};
use uuid::Uuid;

const VISA: &str = "4242424242424242";

/// An order ready to pay: (id, guest order token, provider card token).
type Payable = (String, String, String);

pub async fn run(
    addr: SocketAddr,
    paysim: &str,
    store: &Store,
    n: usize,
    rate: u32,
) -> anyhow::Result<(Report, Duration)> {
    let http = reqwest::Client::new();
    let page: Value = http
        .get(format!(
            "http://{addr}/api/products?sort=popularity&limit=1"
        ))
        .send()
        .await?
        .json()
        .await?;
    let product: Uuid = page["items"][0]["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .context("the catalog is empty")?;
    store
        .change_stock(
            product,
            StockChange::Set(10_000_000),
            "benchmark",
            "bench",
            emporium_auth::now_ms(),
        )
        .await?;
    let paysim = Client::new(paysim);
    paysim
        .try_faults(json!({}))
        .await
        .map_err(anyhow::Error::msg)?;

    let orders = prepare(&http, addr, &paysim, product, n).await?;
    let healthy = open_loop(&http, addr, orders, rate).await;

    let orders = prepare(&http, addr, &paysim, product, n).await?;
    paysim
        .try_faults(json!({"down": true}))
        .await
        .map_err(anyhow::Error::msg)?;
    let queued: Vec<u16> = futures::stream::iter(orders)
        .map(|o| {
            let http = http.clone();
            async move { pay(&http, addr, &o).await.unwrap_or(0) }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let accepted = queued.iter().filter(|s| **s == 202).count();
    if accepted != n {
        bail!("expected {n} payments queued (202), got {accepted}");
    }
    paysim
        .try_faults(json!({}))
        .await
        .map_err(anyhow::Error::msg)?;
    let recovered = Instant::now();
    loop {
        let q = store.queue_stats().await?;
        if q.queued == 0 && q.processing == 0 {
            break;
        }
        if recovered.elapsed() > Duration::from_secs(600) {
            bail!("the queue did not drain in 10 minutes: {q:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok((healthy, recovered.elapsed()))
}

/// Places `n` guest orders and tokenizes a card for each, 32 at a time.
async fn prepare(
    http: &reqwest::Client,
    addr: SocketAddr,
    paysim: &Client,
    product: Uuid,
    n: usize,
) -> anyhow::Result<Vec<Payable>> {
    let made: Vec<anyhow::Result<Payable>> = futures::stream::iter(0..n)
        .map(|_| async move {
            let cart: Value = http
                .post(format!("http://{addr}/api/carts"))
                .send()
                .await?
                .json()
                .await?;
            let cart = cart["cart_token"].as_str().context("no cart")?.to_owned();
            http.post(format!("http://{addr}/api/cart/items"))
                .header("x-cart-token", &cart)
                .json(&json!({"product_id": product, "quantity": 1}))
                .send()
                .await?
                .error_for_status()?;
            let placed: Value = http
                .post(format!("http://{addr}/api/checkout"))
                .header("x-cart-token", &cart)
                .header("idempotency-key", Uuid::now_v7().to_string())
                .json(&json!({
                    "address": {"name": "Bench", "line1": "1 Load Street", "city": "Testville",
                                "region": "CA", "postal_code": "94000", "country": "US"},
                    "shipping_method": "standard", "email": "bench@example.com"
                }))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let pm = paysim.try_card(VISA).await.map_err(anyhow::Error::msg)?;
            Ok((
                placed["order"]["id"]
                    .as_str()
                    .context("no order")?
                    .to_owned(),
                placed["order_token"]
                    .as_str()
                    .context("no token")?
                    .to_owned(),
                pm,
            ))
        })
        .buffer_unordered(32)
        .collect()
        .await;
    made.into_iter().collect()
}

async fn pay(
    http: &reqwest::Client,
    addr: SocketAddr,
    (id, token, pm): &Payable,
) -> anyhow::Result<u16> {
    let res = http
        .post(format!("http://{addr}/api/orders/{id}/pay"))
        .header("x-order-token", token)
        .json(&json!({ "payment_token": pm }))
        .send()
        .await?;
    let status = res.status().as_u16();
    res.bytes().await?;
    Ok(status)
}

/// Pays each order at its due time (`rate` per second), timing each from
/// when it was due; a payment that is not 200 counts as an error.
async fn open_loop(
    http: &reqwest::Client,
    addr: SocketAddr,
    orders: Vec<Payable>,
    rate: u32,
) -> Report {
    let mut report = Report::empty(&format!("pay open loop {rate}/s (healthy provider)"));
    let histogram = Arc::new(Mutex::new(emporium_bench::new_histogram()));
    let first_error: Arc<Mutex<Option<String>>> = Arc::default();
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(orders.len());
    for (i, order) in orders.into_iter().enumerate() {
        let due = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let (http, histogram, first_error) = (http.clone(), histogram.clone(), first_error.clone());
        tasks.push(tokio::spawn(async move {
            match pay(&http, addr, &order).await {
                Ok(200) => {
                    let micros = u64::try_from(due.elapsed().as_micros()).unwrap_or(u64::MAX);
                    if let Ok(mut h) = histogram.lock() {
                        h.saturating_record(micros);
                    }
                    true
                }
                other => {
                    if let Ok(mut e) = first_error.lock() {
                        e.get_or_insert_with(|| format!("{other:?}"));
                    }
                    false
                }
            }
        }));
    }
    for t in tasks {
        report.sent += 1;
        if matches!(t.await, Ok(true)) {
            report.ok += 1;
        }
    }
    report.errors = report.sent - report.ok;
    report.elapsed = start.elapsed();
    report.target_rate = Some(rate);
    if let Ok(h) = histogram.lock() {
        report.histogram = h.clone();
    }
    report.first_error = first_error.lock().ok().and_then(|e| e.clone());
    report
}
