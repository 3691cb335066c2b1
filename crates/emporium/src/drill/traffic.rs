//! The drill's shopper: what one operation sends, how each response is
//! recorded, and how acknowledged writes are looked up afterwards.

use std::io::BufRead;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::{Client, RequestBuilder};
use serde_json::{json, Value};

/// One operation of the mix.
#[derive(Debug, Clone, Copy)]
pub enum Op {
    /// `GET /api/products?q=…` over a real query (60 %).
    Search,
    /// `GET /api/products/{id}` (20 %).
    Product,
    /// A new guest cart and one line in it (10 %).
    CartAdd,
    /// A cart, a line, checkout and payment with a test card (10 %).
    Checkout,
}

impl Op {
    /// The `i`-th operation: drawn from the mix, the same for every run.
    pub fn draw(i: u64) -> Op {
        match fastrand::Rng::with_seed(i).u32(0..100) {
            0..60 => Op::Search,
            60..80 => Op::Product,
            80..90 => Op::CartAdd,
            _ => Op::Checkout,
        }
    }
}

/// One response (or transport failure: status 0).
#[derive(Debug, Clone)]
pub struct Outcome {
    /// When the request was due, seconds after the start.
    pub due: f64,
    pub read: bool,
    pub step: &'static str,
    pub status: u16,
    /// The error code of a JSON error body.
    pub code: Option<String>,
    /// From when it was due to its answer.
    pub latency_ms: f64,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A write the shop acknowledged, to be found afterwards.
#[derive(Debug, Clone)]
pub enum Acked {
    CartLine {
        cart: String,
        product: String,
    },
    Order {
        id: String,
        token: String,
        paid: bool,
    },
}

pub struct Shopper {
    client: Client,
    base: String,
    queries: Vec<String>,
    products: Vec<String>,
}

fn load_queries(path: &Path) -> anyhow::Result<Vec<String>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let lines = std::io::BufReader::new(flate2::read::GzDecoder::new(file)).lines();
    let mut out = Vec::new();
    for line in lines {
        let v: Value = serde_json::from_str(&line?)?;
        if let Some(q) = v["query"].as_str() {
            out.push(q.to_owned());
        }
    }
    anyhow::ensure!(!out.is_empty(), "{} holds no queries", path.display());
    Ok(out)
}

impl Shopper {
    /// A client for `base` (trusting `ca`), the queries, and product ids
    /// found by searching the first queries.
    pub async fn connect(base: &str, ca: Option<&Path>, queries: &Path) -> anyhow::Result<Shopper> {
        let mut builder = Client::builder()
            .timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(256);
        if let Some(ca) = ca {
            let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
            builder = builder.add_root_certificate(reqwest::Certificate::from_pem(&pem)?);
        }
        let mut shopper = Shopper {
            client: builder.build()?,
            base: base.trim_end_matches('/').to_owned(),
            queries: load_queries(queries)?,
            products: Vec::new(),
        };
        for q in shopper.queries.iter().take(60) {
            let page: Value = shopper
                .client
                .get(format!("{}/api/products", shopper.base))
                .query(&[("q", q.as_str()), ("limit", "10")])
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let ids = page["items"].as_array().into_iter().flatten();
            shopper
                .products
                .extend(ids.filter_map(|p| p["id"].as_str().map(str::to_owned)));
        }
        anyhow::ensure!(!shopper.products.is_empty(), "the shop found no products");
        Ok(shopper)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends `req` and records its outcome; the body when it succeeded.
    async fn call(
        &self,
        step: &'static str,
        read: bool,
        req: RequestBuilder,
        due: Instant,
        start: Instant,
        out: &mut Vec<Outcome>,
    ) -> Option<(u16, Value)> {
        let result = req.send().await;
        let mut outcome = Outcome {
            due: due.duration_since(start).as_secs_f64(),
            read,
            step,
            status: 0,
            code: None,
            latency_ms: 0.0,
        };
        let body = match result {
            Ok(res) => {
                outcome.status = res.status().as_u16();
                let body: Value = res.json().await.unwrap_or(Value::Null);
                outcome.code = body["error"]["code"].as_str().map(str::to_owned);
                Some(body)
            }
            Err(_) => None,
        };
        outcome.latency_ms = due.elapsed().as_secs_f64() * 1000.0;
        let ok = outcome.ok();
        let status = outcome.status;
        out.push(outcome);
        body.filter(|_| ok).map(|b| (status, b))
    }

    /// Performs `op`, due at `due`: what was recorded, and the write it
    /// acknowledged, if any.
    pub async fn perform(
        &self,
        op: Op,
        due: Instant,
        start: Instant,
    ) -> (Vec<Outcome>, Option<Acked>) {
        let mut out = Vec::new();
        let pick = |n: usize| fastrand::usize(0..n);
        let ack = match op {
            Op::Search => {
                let q = &self.queries[pick(self.queries.len())];
                let req = self
                    .client
                    .get(self.url("/api/products"))
                    .query(&[("q", q)]);
                self.call("search", true, req, due, start, &mut out).await;
                None
            }
            Op::Product => {
                let id = &self.products[pick(self.products.len())];
                let req = self.client.get(self.url(&format!("/api/products/{id}")));
                self.call("product", true, req, due, start, &mut out).await;
                None
            }
            Op::CartAdd => self
                .cart_with_line(due, start, &mut out)
                .await
                .map(|(cart, product)| Acked::CartLine { cart, product }),
            Op::Checkout => self.checkout(due, start, &mut out).await,
        };
        (out, ack)
    }

    /// A new guest cart with one product: (cart token, product id).
    async fn cart_with_line(
        &self,
        due: Instant,
        start: Instant,
        out: &mut Vec<Outcome>,
    ) -> Option<(String, String)> {
        let req = self.client.post(self.url("/api/carts"));
        let (_, body) = self.call("cart", false, req, due, start, out).await?;
        let cart = body["cart_token"].as_str()?.to_owned();
        let product = self.products[fastrand::usize(0..self.products.len())].clone();
        let req = self
            .client
            .post(self.url("/api/cart/items"))
            .header("x-cart-token", &cart)
            .json(&json!({ "product_id": product, "quantity": 1 }));
        self.call("cart_add", false, req, due, start, out).await?;
        Some((cart, product))
    }

    /// A guest checkout and a payment with a test card, each with an
    /// `Idempotency-Key` (so the gateway may retry them on another
    /// instance).
    async fn checkout(
        &self,
        due: Instant,
        start: Instant,
        out: &mut Vec<Outcome>,
    ) -> Option<Acked> {
        let (cart, _) = self.cart_with_line(due, start, out).await?;
        let address = json!({
            "name": "Drill Shopper", "line1": "1 Test Street", "city": "San Francisco",
            "region": "CA", "postal_code": "94103", "country": "US"
        });
        let req = self
            .client
            .post(self.url("/api/checkout"))
            .header("x-cart-token", &cart)
            .header("idempotency-key", uuid::Uuid::now_v7().to_string())
            .json(&json!({ "address": address, "shipping_method": "standard", "email": "drill@example.com" }));
        let (_, placed) = self.call("checkout", false, req, due, start, out).await?;
        let id = placed["order"]["id"].as_str()?.to_owned();
        let token = placed["order_token"].as_str()?.to_owned();
        let req = self
            .client
            .post(self.url(&format!("/api/orders/{id}/pay")))
            .header("x-order-token", &token)
            .header("idempotency-key", uuid::Uuid::now_v7().to_string())
            .json(&json!({ "payment_token": "pm_card_visa" }));
        let paid = match self.call("pay", false, req, due, start, out).await {
            Some((status, _)) => status == 200,
            None => false,
        };
        Some(Acked::Order { id, token, paid })
    }

    /// Whether each acknowledged write is there: a cart line in its cart,
    /// an order (paid, if its payment was acknowledged as paid). Waits up
    /// to `settle` for the shop to answer.
    pub async fn verify(&self, acked: &[Acked], settle: Duration) -> Vec<bool> {
        let deadline = Instant::now() + settle;
        let mut found = Vec::with_capacity(acked.len());
        for a in acked {
            // Paced well under the gateway's per-address rate limit.
            tokio::time::sleep(Duration::from_millis(20)).await;
            loop {
                match self.lookup(a).await {
                    Some(there) => {
                        found.push(there);
                        break;
                    }
                    None if Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                    None => {
                        eprintln!("drill: no answer about {a:?}");
                        found.push(false);
                        break;
                    }
                }
            }
            if found.last() == Some(&false) {
                eprintln!("drill: acknowledged but not found: {a:?}");
            }
        }
        found
    }

    /// Some(whether it is there), or None when the shop did not answer.
    async fn lookup(&self, a: &Acked) -> Option<bool> {
        let req = match a {
            Acked::CartLine { cart, .. } => self
                .client
                .get(self.url("/api/cart"))
                .header("x-cart-token", cart),
            Acked::Order { id, token, .. } => self
                .client
                .get(self.url(&format!("/api/orders/{id}")))
                .header("x-order-token", token),
        };
        let res = req.send().await.ok()?;
        // Not an answer about the record: ask again.
        if res.status().is_server_error() || res.status() == reqwest::StatusCode::TOO_MANY_REQUESTS
        {
            return None;
        }
        if !res.status().is_success() {
            return Some(false);
        }
        let body: Value = res.json().await.ok()?;
        Some(match a {
            Acked::CartLine { product, .. } => {
                body["lines"].as_array().into_iter().flatten().any(|l| {
                    l["product_id"].as_str() == Some(product)
                        || l["product"]["id"].as_str() == Some(product)
                })
            }
            Acked::Order { paid, .. } => {
                let status = body["order"]["status"]
                    .as_str()
                    .or(body["status"].as_str())
                    .unwrap_or("");
                !*paid
                    || matches!(
                        status,
                        "paid" | "fulfilled" | "refunded" | "partially_refunded"
                    )
            }
        })
    }
}
