//! Paying for orders over real HTTP against paysim (the provider's
//! simulator) on a port of the test's own, its webhooks coming back to the
//! shop: cards that succeed and decline, bad requests, many clients paying
//! one order, refunds, webhooks that must be refused, and the faults —
//! provider down, slow to answer after charging, flaky, the shop killed
//! with payments queued. Every "charged once" is read from paysim's ledger.

use std::time::{Duration, Instant};

use emporium::config::{Config, PaymentMode};
use emporium_paysim::harness::Sim;
use reqwest::Method;
use serde_json::{json, Value};

use crate::shop::{add, address, checkout, guest_cart};
use crate::support::{Backend, ServerProcess, TestApp};

pub const VISA: &str = "4242424242424242";
const DECLINED: &str = "4000000000000002";
const NO_FUNDS: &str = "4000000000009995";

/// A shop whose payments go to a paysim of the test's own.
pub struct PayingShop {
    pub app: TestApp,
    pub sim: Sim,
    _ledger: tempfile::TempDir,
}

/// Payment settings for tests: a provider at `url`, short timeouts and a
/// brisk worker.
pub fn provider_at(c: &mut Config, url: &str) {
    let p = &mut c.payments;
    p.mode = PaymentMode::Provider;
    p.provider_url = url.to_owned();
    p.tokenization_url = format!("{url}/v1/payment_methods");
    p.timeout_ms = 1_000;
    p.connect_timeout_ms = 500;
    p.backoff_ms = 20;
    p.breaker_cooldown_ms = 300;
    p.worker_interval_ms = 100;
    p.queue_retry_base_ms = 100;
    p.queue_retry_max_ms = 1_000;
}

impl PayingShop {
    pub async fn start(backend: Backend, tweak: impl FnOnce(&mut Config)) -> PayingShop {
        let listener = Sim::bind().await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = TestApp::spawn_with(backend, |c| {
            provider_at(c, &url);
            tweak(c);
        })
        .await;
        let ledger = tempfile::tempdir().unwrap();
        let sim = Sim::serve(
            listener,
            &ledger.path().join("ledger.db"),
            Some(app.url("/api/webhooks/payments")),
        );
        PayingShop {
            app,
            sim,
            _ledger: ledger,
        }
    }

    /// A guest order of one product (`quantity` units): (id, order token).
    pub async fn order(&self, product: &str, quantity: u32) -> (String, String) {
        let cart = guest_cart(&self.app).await;
        let res = add(&self.app, None, Some(&cart), product, json!(quantity)).await;
        assert_eq!(res.status(), 200);
        let body = json!({"address": address(), "shipping_method": "standard", "email": "payer@example.com"});
        let res = checkout(
            &self.app,
            None,
            Some(&cart),
            &uuid::Uuid::now_v7().to_string(),
            &body,
        )
        .await;
        assert_eq!(res.status(), 201);
        let placed: Value = res.json().await.unwrap();
        (
            placed["order"]["id"].as_str().unwrap().to_owned(),
            placed["order_token"].as_str().unwrap().to_owned(),
        )
    }

    /// Pays a guest order with a test card: (status, body).
    pub async fn pay(&self, order: &(String, String), card: &str) -> (u16, Value) {
        let token = self.sim.card(card).await;
        self.pay_token(order, &token).await
    }

    pub async fn pay_token(&self, order: &(String, String), payment_token: &str) -> (u16, Value) {
        let res = self
            .pay_body(order, &json!({ "payment_token": payment_token }))
            .await;
        (res.status().as_u16(), res.json().await.unwrap())
    }

    /// POSTs `body` to the order's pay route as its guest.
    pub async fn pay_body(
        &self,
        (id, token): &(String, String),
        body: &Value,
    ) -> reqwest::Response {
        self.app
            .request(Method::POST, &format!("/api/orders/{id}/pay"), None, None)
            .header("x-order-token", token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn view(&self, (id, token): &(String, String)) -> Value {
        let res = self
            .app
            .request(Method::GET, &format!("/api/orders/{id}"), None, None)
            .header("x-order-token", token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    /// Waits (up to `within`) until the order is in `status` with no
    /// payment in flight; returns it.
    pub async fn settles_to(
        &self,
        order: &(String, String),
        status: &str,
        within: Duration,
    ) -> Value {
        let start = Instant::now();
        loop {
            let o = self.view(order).await;
            let in_flight = matches!(o["payment_status"].as_str(), Some("processing" | "queued"));
            if o["status"] == status && !in_flight {
                return o;
            }
            assert!(
                start.elapsed() < within,
                "order still {} / {}",
                o["status"],
                o["payment_status"]
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn charged(&self, (id, _): &(String, String)) -> usize {
        self.sim.charged("order_id", id).await
    }

    pub async fn product(&self) -> String {
        self.app.products("lamp", 1).await[0].0.clone()
    }
}

/// One test per backend (SQLite; PostgreSQL with Redis).
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::support::Backend::Sqlite).await } )*
        }
        mod postgres_redis {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::support::Backend::PostgresRedis).await } )*
        }
    };
}

both_backends!(
    cards_decline_then_succeed_and_the_order_is_charged_once,
    many_clients_paying_one_order_charge_it_once,
    provider_down_queues_the_payment_and_the_worker_pays_it_on_recovery,
    a_charge_answered_too_late_is_taken_once_and_the_order_paid,
    a_flaky_provider_never_charges_twice_and_leaves_nothing_stuck,
    refunds_are_full_or_partial_and_never_exceed_what_was_paid,
);

async fn cards_decline_then_succeed_and_the_order_is_charged_once(backend: Backend) {
    let shop = PayingShop::start(backend, |_| {}).await;
    let product = shop.product().await;
    let order = shop.order(&product, 2).await;
    let (status, body) = shop.pay(&order, DECLINED).await;
    assert_eq!(status, 402, "{body}");
    assert_eq!(body["error"]["code"], "payment_declined");
    // Clients are told a generic decline; the provider's code is for staff.
    assert_eq!(body["error"]["context"]["decline_code"], "card_declined");
    let (status, body) = shop.pay(&order, NO_FUNDS).await;
    assert_eq!(status, 402);
    assert_eq!(body["error"]["context"]["decline_code"], "card_declined");
    assert!(!body.to_string().contains("insufficient"), "{body}");
    let o = shop.view(&order).await;
    assert_eq!(
        o["status"], "pending_payment",
        "a decline leaves the order payable"
    );
    assert_eq!(o["payment_status"], "declined");

    let (status, paid) = shop.pay(&order, VISA).await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["payment_status"], "succeeded");
    assert_eq!(paid["paid_amount"], paid["totals"]["total"]);
    let payments = paid["payments"].as_array().unwrap();
    assert_eq!(payments.len(), 3);
    assert!(payments[2]["provider_reference"]
        .as_str()
        .unwrap()
        .starts_with("pi_"));
    let history: Vec<&str> = paid["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["pending_payment", "paid"]);

    let (status, again) = shop.pay(&order, VISA).await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["error"]["code"], "order_not_payable");
    assert_eq!(shop.charged(&order).await, 1, "charged exactly once");

    // The sale left stock: on hand down by 2, nothing reserved for it.
    let admin = shop.app.admin_token().await;
    let stock: Value = shop
        .app
        .get_as(&format!("/api/admin/products/{product}/stock"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stock["on_hand"], 98, "{stock}");
    assert_eq!(stock["reserved"], 0);
}

async fn many_clients_paying_one_order_charge_it_once(backend: Backend) {
    let shop = PayingShop::start(backend, |_| {}).await;
    let order = shop.order(&shop.product().await, 1).await;
    let mut tokens = Vec::new();
    for _ in 0..12 {
        tokens.push(shop.sim.card(VISA).await);
    }
    let answers = futures::future::join_all(tokens.iter().map(|t| shop.pay_token(&order, t))).await;
    let ok = answers.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(ok, 1, "{answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != 200) {
        assert_eq!(*status, 409, "{body}");
        let code = body["error"]["code"].as_str().unwrap();
        assert!(
            code == "payment_in_progress" || code == "order_not_payable",
            "{code}"
        );
    }
    assert_eq!(shop.charged(&order).await, 1);
    assert_eq!(shop.view(&order).await["status"], "paid");
}

async fn provider_down_queues_the_payment_and_the_worker_pays_it_on_recovery(backend: Backend) {
    let shop = PayingShop::start(backend, |_| {}).await;
    let order = shop.order(&shop.product().await, 1).await;
    let token = shop.sim.card(VISA).await;
    let another = shop.sim.card(VISA).await;
    shop.sim.faults(json!({"down": true})).await;
    let (status, body) = shop.pay_token(&order, &token).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "pending_payment");
    assert!(
        matches!(
            body["payment_status"].as_str(),
            Some("queued" | "processing")
        ),
        "{body}"
    );
    // While the payment waits, the order can be neither paid again nor cancelled.
    let (status, again) = shop.pay_token(&order, &another).await;
    assert_eq!(status, 409);
    assert_eq!(again["error"]["code"], "payment_in_progress");
    let res = shop
        .app
        .request(
            Method::POST,
            &format!("/api/orders/{}/cancel", order.0),
            None,
            None,
        )
        .header("x-order-token", &order.1)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    // Still down a while later: still in flight (queued, or being retried
    // by the worker at this moment), nothing charged.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let waiting = shop.view(&order).await;
    assert!(
        matches!(
            waiting["payment_status"].as_str(),
            Some("queued" | "processing")
        ),
        "{waiting}"
    );
    assert_eq!(shop.charged(&order).await, 0);

    shop.sim.faults(json!({})).await;
    let paid = shop
        .settles_to(&order, "paid", Duration::from_secs(15))
        .await;
    assert_eq!(paid["payment_status"], "succeeded");
    assert_eq!(shop.charged(&order).await, 1, "charged exactly once");
}

async fn a_charge_answered_too_late_is_taken_once_and_the_order_paid(backend: Backend) {
    let shop = PayingShop::start(backend, |_| {}).await;
    let order = shop.order(&shop.product().await, 1).await;
    let token = shop.sim.card(VISA).await;
    // Every answer comes after the shop's 1 s timeout, retries included:
    // the charge happens once, the shop never hears of it in time.
    shop.sim
        .faults(json!({"timeout_after_success": true, "timeout_ms": 3000}))
        .await;
    let (status, body) = shop.pay_token(&order, &token).await;
    assert!(status == 202 || status == 200, "{status} {body}");
    // The provider's webhook (or a retry with the same key) settles it.
    let paid = shop
        .settles_to(&order, "paid", Duration::from_secs(20))
        .await;
    assert_eq!(paid["payment_status"], "succeeded");
    assert_eq!(
        shop.sim.intents("order_id", &order.0).await.len(),
        1,
        "one intent for one payment"
    );
    assert_eq!(shop.charged(&order).await, 1);
}

async fn a_flaky_provider_never_charges_twice_and_leaves_nothing_stuck(backend: Backend) {
    const ORDERS: usize = 300;
    let shop = PayingShop::start(backend, |_| {}).await;
    let admin = shop.app.admin_token().await;
    let product = shop.product().await;
    crate::shop::set_stock(&shop.app, &admin, &product, 1_000, "flaky provider test").await;
    let orders: Vec<(String, String)> = futures::stream::iter(0..ORDERS)
        .map(|_| shop.order(&product, 1))
        .buffer_unordered(16)
        .collect()
        .await;
    // Every tenth order pays with a card that is declined.
    let mut tokens = Vec::new();
    for i in 0..ORDERS {
        tokens.push(
            shop.sim
                .card(if i % 10 == 0 { DECLINED } else { VISA })
                .await,
        );
    }
    shop.sim.faults(json!({"error_rate": 0.3})).await;
    let answers: Vec<u16> = futures::stream::iter(orders.iter().zip(&tokens))
        .map(|(o, t)| {
            let shop = &shop;
            async move { shop.pay_token(o, t).await.0 }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(
        answers.iter().all(|s| [200, 202, 402].contains(s)),
        "{answers:?}"
    );
    // The worker finishes what the requests could not, despite the errors.
    for (i, order) in orders.iter().enumerate() {
        let (status, payment) = if i % 10 == 0 {
            ("pending_payment", "declined")
        } else {
            ("paid", "succeeded")
        };
        let o = shop
            .settles_to(order, status, Duration::from_secs(60))
            .await;
        assert_eq!(o["payment_status"], payment, "order {i}");
    }
    // The ledger, read without faults: each paid order charged once, each
    // declined one never.
    shop.sim.faults(json!({})).await;
    for (i, order) in orders.iter().enumerate() {
        let charged = shop.charged(order).await;
        assert_eq!(charged, usize::from(i % 10 != 0), "order {i}");
    }
    let queue = shop.app.get("/metrics").await.text().await.unwrap();
    assert!(queue.contains("payments_total"), "payments are counted");
}

async fn refunds_are_full_or_partial_and_never_exceed_what_was_paid(backend: Backend) {
    let shop = PayingShop::start(backend, |_| {}).await;
    let admin = shop.app.admin_token().await;
    let product = shop.product().await;
    let refund = |id: String, body: Value| {
        let app = &shop.app;
        let admin = admin.clone();
        async move {
            let res = app
                .post(
                    &format!("/api/admin/orders/{id}/refund"),
                    &body,
                    Some(&admin),
                )
                .await;
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }
    };
    let unpaid = shop.order(&product, 1).await;
    let (status, body) = refund(unpaid.0.clone(), json!({})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "order_not_refundable");

    let order = shop.order(&product, 1).await;
    let (_, paid) = shop.pay(&order, VISA).await;
    let total = paid["totals"]["total"].as_i64().unwrap();
    let customer = shop
        .app
        .register("refund-me@example.com", "correct horse battery")
        .await;
    let res = shop
        .app
        .post(
            &format!("/api/admin/orders/{}/refund", order.0),
            &json!({}),
            customer["token"].as_str(),
        )
        .await;
    assert_eq!(res.status(), 403, "customers cannot refund");
    for bad in [
        json!({"amount": 0}),
        json!({"amount": -5}),
        json!({"amount": "all"}),
        json!({"amount": 1, "card": "x"}),
    ] {
        let (status, body) = refund(order.0.clone(), bad.clone()).await;
        assert!(status == 400 || status == 422, "{bad}: {status} {body}");
    }
    let (status, body) = refund(order.0.clone(), json!({"amount": total + 1})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "refund_exceeds_paid");
    assert_eq!(body["error"]["context"]["remaining"], total);

    let part = total * 3 / 10;
    let (status, body) = refund(
        order.0.clone(),
        json!({"amount": part, "reason": "one item returned"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["refund"]["status"], "succeeded");
    assert_eq!(
        body["order"]["status"], "paid",
        "a partial refund keeps the order paid"
    );
    assert_eq!(body["order"]["refunded_amount"], part);
    let (status, body) = refund(order.0.clone(), json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["refund"]["amount"], total - part, "the rest");
    assert_eq!(body["order"]["status"], "refunded");
    assert_eq!(body["order"]["refunded_amount"], total);
    let (status, _) = refund(order.0.clone(), json!({"amount": 1})).await;
    assert_eq!(status, 409);
    let intents = shop.sim.intents("order_id", &order.0).await;
    assert_eq!(intents.len(), 1);

    // Ten staff refunding the whole of another order at once: one refund.
    let order = shop.order(&product, 1).await;
    shop.pay(&order, VISA).await;
    let answers =
        futures::future::join_all((0..10).map(|_| refund(order.0.clone(), json!({})))).await;
    assert_eq!(
        answers.iter().filter(|(s, _)| *s == 200).count(),
        1,
        "{answers:?}"
    );
    let o = shop.view(&order).await;
    assert_eq!(o["status"], "refunded");
    assert_eq!(
        o["refunds"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] == "succeeded")
            .count(),
        1
    );
}

use futures::StreamExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_payment_requests_are_refused_without_echoing_card_data() {
    let shop = PayingShop::start(Backend::Sqlite, |c| c.payments.max_attempts_per_order = 3).await;
    let order = shop.order(&shop.product().await, 1).await;
    for (body, field) in [
        (json!({"payment_token": VISA}), "payment_token"),
        (
            json!({"payment_token": "4242 4242 4242 4242"}),
            "payment_token",
        ),
        (json!({"payment_token": ""}), "payment_token"),
        (
            json!({"payment_token": "pm_x'; DROP TABLE orders;--"}),
            "payment_token",
        ),
    ] {
        let res = shop.pay_body(&order, &body).await;
        assert_eq!(res.status(), 400, "{body}");
        let text = res.text().await.unwrap();
        assert!(text.contains(field), "{text}");
        assert!(!text.contains("4242"), "card data is never echoed: {text}");
    }
    for body in [
        json!({"card_number": VISA}),
        json!({"payment_token": "pm_1", "cvc": "123"}),
        json!([]),
    ] {
        let res = shop.pay_body(&order, &body).await;
        assert_eq!(res.status(), 400, "{body}");
    }
    // Someone else's order, or a made-up one: not found.
    let wrong_token = (order.0.clone(), "not-the-token".to_owned());
    assert_eq!(shop.pay(&wrong_token, VISA).await.0, 404);
    let made_up = (uuid::Uuid::now_v7().to_string(), order.1.clone());
    assert_eq!(shop.pay(&made_up, VISA).await.0, 404);
    // A token the provider never issued: refused, the order stays payable.
    let (status, body) = shop.pay_token(&order, "pm_doesnotexist").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "payment_refused");
    assert!(
        !body.to_string().contains("pm_doesnotexist"),
        "the provider's words stay in the log: {body}"
    );
    assert_eq!(shop.view(&order).await["status"], "pending_payment");
    // A card-testing guard: three attempts per order.
    assert_eq!(shop.pay(&order, DECLINED).await.0, 402);
    assert_eq!(shop.pay(&order, DECLINED).await.0, 402);
    let (status, body) = shop.pay(&order, VISA).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "too_many_payment_attempts");
    assert_eq!(shop.charged(&order).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_provider_gets_the_payment_queued_within_the_request_time() {
    let shop = PayingShop::start(Backend::Sqlite, |_| {}).await;
    let order = shop.order(&shop.product().await, 1).await;
    let token = shop.sim.card(VISA).await;
    // Slower than the shop's 1 s timeout on every attempt.
    shop.sim.faults(json!({"latency_ms": 1500})).await;
    let started = Instant::now();
    let (status, body) = shop.pay_token(&order, &token).await;
    assert_eq!(status, 202, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered before the server's own timeout"
    );
    shop.sim.faults(json!({})).await;
    shop.settles_to(&order, "paid", Duration::from_secs(20))
        .await;
    assert_eq!(shop.charged(&order).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_asked_while_the_provider_is_down_is_made_once_it_is_back() {
    let shop = PayingShop::start(Backend::Sqlite, |_| {}).await;
    let admin = shop.app.admin_token().await;
    let order = shop.order(&shop.product().await, 1).await;
    assert_eq!(shop.pay(&order, VISA).await.0, 200);
    shop.sim.faults(json!({"down": true})).await;
    let res = shop
        .app
        .post(
            &format!("/api/admin/orders/{}/refund", order.0),
            &json!({}),
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["refund"]["status"], "pending");
    assert_eq!(body["order"]["status"], "paid");
    // Pending refunds count against what is left: nothing more to refund.
    let res = shop
        .app
        .post(
            &format!("/api/admin/orders/{}/refund", order.0),
            &json!({"amount": 1}),
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), 422);
    shop.sim.faults(json!({})).await;
    let refunded = shop
        .settles_to(&order, "refunded", Duration::from_secs(20))
        .await;
    assert_eq!(refunded["refunds"][0]["status"], "succeeded");
    let intents = shop.sim.intents("order_id", &order.0).await;
    assert_eq!(intents.len(), 1);
    let charge = intents[0]["latest_charge"].as_str().unwrap().to_owned();
    let charge = shop.sim.object(&format!("/v1/charges/{charge}")).await;
    assert_eq!(
        charge["amount_refunded"], refunded["totals"]["total"],
        "refunded once: {charge}"
    );
}

/// POSTs a webhook body, with a `Stripe-Signature` if given: (status, body).
pub async fn send_webhook(app: &TestApp, text: String, signature: Option<&str>) -> (u16, Value) {
    let mut req = app
        .client
        .post(app.url("/api/webhooks/payments"))
        .header("content-type", "application/json")
        .body(text);
    if let Some(signature) = signature {
        req = req.header("stripe-signature", signature);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

/// A signed webhook body as the provider would send it.
pub fn signed(body: &Value, at: i64) -> (String, String) {
    let text = body.to_string();
    let header = emporium_payments::webhook::sign("whsec_paysim", at, text.as_bytes());
    (text, header)
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_with_bad_signatures_old_timestamps_or_replays_change_nothing() {
    let shop = PayingShop::start(Backend::Sqlite, |_| {}).await;
    let order = shop.order(&shop.product().await, 1).await;
    let token = shop.sim.card(VISA).await;
    shop.sim.faults(json!({"down": true})).await;
    let (status, body) = shop.pay_token(&order, &token).await;
    assert_eq!(status, 202);
    let payment = body["payments"][0]["id"].as_str().unwrap().to_owned();
    let success = json!({
        "id": "evt_test_success", "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi_test_1", "status": "succeeded",
            "amount": body["totals"]["total"], "amount_received": body["totals"]["total"],
            "currency": "usd",
            "metadata": {"order_id": order.0, "payment_id": payment}}}
    });
    let (text, good) = signed(&success, now_secs());
    let (_, wrong_secret) = {
        let t = success.to_string();
        (
            t.clone(),
            emporium_payments::webhook::sign("whsec_other", now_secs(), t.as_bytes()),
        )
    };
    let (_, old) = signed(&success, now_secs() - 600);
    for (header, why) in [
        (None, "no signature"),
        (Some(wrong_secret), "wrong secret"),
        (Some(old), "ten minutes old"),
        (Some(good.replace("v1=", "v1=00")), "tampered"),
    ] {
        let (status, body) = send_webhook(&shop.app, text.clone(), header.as_deref()).await;
        assert_eq!(status, 400, "{why}: {body}");
        assert_eq!(
            shop.view(&order).await["status"],
            "pending_payment",
            "{why}"
        );
    }
    // A correctly signed body whose text was changed: refused.
    let (status, _) = send_webhook(
        &shop.app,
        text.replace("pi_test_1", "pi_test_2"),
        Some(&good),
    )
    .await;
    assert_eq!(status, 400);
    // Signed but not an event.
    let (junk, junk_sig) = signed(&json!({"hello": "world"}), now_secs());
    assert_eq!(send_webhook(&shop.app, junk, Some(&junk_sig)).await.0, 400);

    // The genuine event pays the order; replaying it changes nothing.
    let (status, body) = send_webhook(&shop.app, text.clone(), Some(&good)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["duplicate"], false);
    let paid = shop.view(&order).await;
    assert_eq!(paid["status"], "paid");
    let (status, body) = send_webhook(&shop.app, text, Some(&good)).await;
    assert_eq!(status, 200);
    assert_eq!(body["duplicate"], true);
    // A late failure for the same payment (a new event) is recorded but
    // cannot undo the payment.
    let late = json!({
        "id": "evt_test_late_failure", "type": "payment_intent.payment_failed",
        "data": {"object": {"id": "pi_test_1", "metadata": {"payment_id": payment},
            "last_payment_error": {"code": "card_declined", "message": "late"}}}
    });
    let (late_text, late_sig) = signed(&late, now_secs());
    assert_eq!(
        send_webhook(&shop.app, late_text, Some(&late_sig)).await.0,
        200
    );
    let after = shop.view(&order).await;
    assert_eq!(after["status"], "paid");
    assert_eq!(after["history"], paid["history"]);
    assert_eq!(after["payments"], paid["payments"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_payment_queue_raises_an_alert_and_clears_it() {
    // The ops webhook: a tiny server that records what it is sent.
    let (tx, mut alerts) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let ops = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ops_url = format!("http://{}/alerts", ops.local_addr().unwrap());
    let router = axum::Router::new().route(
        "/alerts",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(v);
                "ok"
            }
        }),
    );
    tokio::spawn(async move { axum::serve(ops, router).await });
    let shop = PayingShop::start(Backend::Sqlite, |c| {
        c.payments.queue_alert_secs = 1;
        c.payments.alert_webhook_url = ops_url.clone();
    })
    .await;
    let order = shop.order(&shop.product().await, 1).await;
    let token = shop.sim.card(VISA).await;
    shop.sim.faults(json!({"down": true})).await;
    assert_eq!(shop.pay_token(&order, &token).await.0, 202);
    let firing = tokio::time::timeout(Duration::from_secs(10), alerts.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(firing["alert"], "payment_queue");
    assert_eq!(firing["state"], "firing");
    assert_eq!(firing["queued"], 1);
    // The gauge is exported; its value is the process's, which other
    // tests' shops in this process set too, so the webhook above (this
    // shop's own) is what shows the alert firing.
    let metrics = shop.app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("payment_queue_alert ")),
        "{metrics}"
    );

    shop.sim.faults(json!({})).await;
    shop.settles_to(&order, "paid", Duration::from_secs(15))
        .await;
    let resolved = tokio::time::timeout(Duration::from_secs(10), alerts.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resolved["state"], "resolved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shop_killed_with_payments_queued_drains_them_in_the_worker_role_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let seeded = std::process::Command::new(env!("CARGO_BIN_EXE_emporium"))
        .args(["seed", "--file", crate::support::FIXTURE, "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        seeded.status.success(),
        "{}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    // No webhooks here: only the queue can pay these orders.
    let listener = Sim::bind().await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let ledger = tempfile::tempdir().unwrap();
    let sim = Sim::serve(listener, &ledger.path().join("ledger.db"), None);
    let env = [
        ("EMPORIUM_PAYMENTS__MODE", "provider"),
        ("EMPORIUM_PAYMENTS__PROVIDER_URL", url.as_str()),
        ("EMPORIUM_PAYMENTS__TIMEOUT_MS", "1000"),
        ("EMPORIUM_PAYMENTS__BACKOFF_MS", "20"),
        ("EMPORIUM_PAYMENTS__WORKER_INTERVAL_MS", "100"),
        ("EMPORIUM_PAYMENTS__QUEUE_RETRY_BASE_MS", "100"),
        ("EMPORIUM_PAYMENTS__QUEUE_RETRY_MAX_MS", "500"),
    ];
    let server = ServerProcess::start("all", dir.path(), &env);
    let http = reqwest::Client::new();
    let mut tokens = Vec::new();
    for _ in 0..5 {
        tokens.push(sim.card(VISA).await);
    }
    sim.faults(json!({"down": true})).await;
    let mut orders = Vec::new();
    for token in tokens {
        let order = server.guest_order(&http, "lamp").await;
        let res = http
            .post(server.url(&format!("/api/orders/{}/pay", order.0)))
            .header("x-order-token", &order.1)
            .json(&json!({"payment_token": token}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
        orders.push(order);
    }
    drop(server); // SIGKILL: nothing gets to finish.
    sim.faults(json!({})).await;
    // The API role alone does not drain the queue…
    let api = ServerProcess::start("api", dir.path(), &env);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for order in &orders {
        let o: Value = http
            .get(api.url(&format!("/api/orders/{}", order.0)))
            .header("x-order-token", &order.1)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        // Still in flight: queued, or `processing` if the killed shop's
        // worker had claimed it for a retry when it died (its lease then
        // runs out and the worker role takes it).
        assert_eq!(o["status"], "pending_payment", "{o}");
        assert!(
            matches!(o["payment_status"].as_str(), Some("queued" | "processing")),
            "{o}"
        );
    }
    // …the worker role does.
    let _worker = ServerProcess::start("worker", dir.path(), &env);
    let start = Instant::now();
    for order in &orders {
        loop {
            let o: Value = http
                .get(api.url(&format!("/api/orders/{}", order.0)))
                .header("x-order-token", &order.1)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if o["status"] == "paid" {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "{o}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            sim.charged("order_id", &order.0).await,
            1,
            "charged exactly once"
        );
    }
}
