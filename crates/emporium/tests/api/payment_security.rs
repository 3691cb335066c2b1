//! What an attacker tried against payments, over real HTTP: a webhook
//! signature header built to burn CPU, webhooks forged with the
//! simulator's published secret, successes that are not what was asked,
//! card testing across many orders, 3-D Secure cards, and what customers
//! may read of their own orders.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::payments::{now_secs, send_webhook, signed, PayingShop, VISA};
use crate::shop::{add, address, checkout};
use crate::support::{Backend, TestApp};

const DECLINED: &str = "4000000000000002";
/// Stripe's test card that needs 3-D Secure.
const THREE_D_SECURE: &str = "4000002500003155";

/// A `payment_intent.succeeded` event for `payment`.
fn success(event: &str, intent: &str, payment: &Value, amount: &Value, currency: &str) -> Value {
    json!({
        "id": event, "type": "payment_intent.succeeded",
        "data": {"object": {"id": intent, "status": "succeeded",
            "amount": amount, "amount_received": amount, "currency": currency,
            "metadata": {"payment_id": payment}}}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_webhook_signatures_is_refused_at_once_while_search_keeps_answering() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    // Thousands of empty `v1=` entries and a 60 kB body: before, each
    // entry cost an HMAC of the body on a worker thread that never
    // yielded (seconds of CPU per request).
    let header = format!("t={}{}", now_secs(), ",v1=".repeat(12_000));
    let body = "x".repeat(60_000);
    let attackers: Vec<_> = (0..20)
        .map(|_| {
            let (client, url) = (app.client.clone(), app.url("/api/webhooks/payments"));
            let (header, body) = (header.clone(), body.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                for _ in 0..5 {
                    let started = Instant::now();
                    let res = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("stripe-signature", &header)
                        .body(body.clone())
                        .send()
                        .await
                        .unwrap();
                    answers.push((res.status().as_u16(), started.elapsed()));
                }
                answers
            })
        })
        .collect();
    // Meanwhile, distinct searches (past the cache) keep their pace.
    let mut slowest = Duration::ZERO;
    for (i, q) in ["lamp", "chair", "desk", "sofa", "table"]
        .iter()
        .cycle()
        .take(30)
        .enumerate()
    {
        let started = Instant::now();
        let res = app.get(&format!("/api/products?q={q}&min_price={i}")).await;
        assert_eq!(res.status(), 200);
        slowest = slowest.max(started.elapsed());
    }
    for attacker in attackers {
        for (status, took) in attacker.await.unwrap() {
            assert_eq!(status, 400);
            assert!(took < Duration::from_secs(2), "a refusal took {took:?}");
        }
    }
    assert!(
        slowest < Duration::from_secs(2),
        "a search took {slowest:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_in_simulator_has_secrets_of_its_own_and_says_test_mode() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let config = app.json("/api/config", 200).await;
    assert_eq!(config["test_mode"], true, "{config}");
    let key = config["payments"]["publishable_key"].as_str().unwrap();
    assert!(
        key.starts_with("pk_test_") && key != "pk_test_paysim",
        "{key}"
    );

    let path = app.config.server.data_dir.join("paysim-keys.json");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "only the shop's user reads the keys");
    let keys: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let secret = keys["webhook_secret"].as_str().unwrap();
    assert_ne!(secret, "whsec_paysim");

    // An event signed with the simulator's published secret is refused;
    // signed with this shop's own, it is accepted (and names no payment).
    let event = success(
        "evt_forged",
        "pi_forged",
        &json!(uuid::Uuid::now_v7()),
        &json!(1),
        "usd",
    );
    let (text, forged) = signed(&event, now_secs());
    let (status, body) = send_webhook(&app, text.clone(), Some(&forged)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_signature");
    let own = emporium_payments::webhook::sign(secret, now_secs(), text.as_bytes());
    assert_eq!(send_webhook(&app, text, Some(&own)).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn successes_that_are_not_what_was_asked_are_anomalies_for_staff_never_payments() {
    let shop = PayingShop::start(Backend::Sqlite, |_| {}).await;
    let admin = shop.app.admin_token().await;
    let order = shop.order(&shop.product().await, 1).await;
    let staff_path = format!("/api/admin/orders/{}", order.0);
    let staff_view = || shop.app.json_as(&staff_path, &admin);
    // A declined attempt, then one queued while the provider is down.
    assert_eq!(shop.pay(&order, DECLINED).await.0, 402);
    let token = shop.sim.card(VISA).await;
    shop.sim.faults(json!({"down": true})).await;
    let (status, queued) = shop.pay_token(&order, &token).await;
    assert_eq!(status, 202, "{queued}");
    // The customer reads the shop's words, not the provider's error.
    assert!(queued["payments"][1]["message"].is_null(), "{queued}");
    let staff = staff_view().await;
    let declined = &staff["payments"][0];
    let pending = staff["payments"][1]["id"].clone();
    let total = staff["totals"]["total"].clone();
    assert!(staff["payments"][1]["message"].is_string(), "{staff}");

    let forged = [
        // The declined payment's own intent, claimed to have succeeded.
        success(
            "evt_1",
            declined["provider_reference"].as_str().unwrap(),
            &declined["id"],
            &total,
            "usd",
        ),
        // One cent for the whole order (as tried in the review).
        success("evt_2", "pi_cheap", &pending, &json!(1), "usd"),
        success("evt_3", "pi_other_money", &pending, &total, "eur"),
        success("evt_4", "pi_vague", &pending, &Value::Null, "usd"),
    ];
    for event in &forged {
        let (text, signature) = signed(event, now_secs());
        let (status, body) = send_webhook(&shop.app, text, Some(&signature)).await;
        assert_eq!(status, 200, "{body}");
        let o = shop.view(&order).await;
        assert_eq!(o["status"], "pending_payment", "{event}");
        assert_eq!(o["paid_amount"], 0);
    }
    let staff = staff_view().await;
    let reasons: Vec<&str> = staff["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "already_settled",
            "amount_mismatch",
            "currency_mismatch",
            "amount_mismatch"
        ]
    );
    assert_eq!(staff["anomalies"][1]["event_id"], "evt_2");
    assert!(shop.view(&order).await.get("anomalies").is_none());

    // The genuine success pays; another intent for the same payment later
    // is an anomaly and does not replace the reference refunds go to.
    let genuine = success("evt_5", "pi_genuine", &pending, &total, "usd");
    let (text, signature) = signed(&genuine, now_secs());
    assert_eq!(send_webhook(&shop.app, text, Some(&signature)).await.0, 200);
    let paid = shop.view(&order).await;
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["paid_amount"], total);
    let other = success("evt_6", "pi_elsewhere", &pending, &total, "usd");
    let (text, signature) = signed(&other, now_secs());
    assert_eq!(send_webhook(&shop.app, text, Some(&signature)).await.0, 200);
    let staff = staff_view().await;
    assert_eq!(staff["payments"][1]["provider_reference"], "pi_genuine");
    assert_eq!(staff["anomalies"][4]["reason"], "reference_mismatch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_attempts_are_limited_per_address_across_orders() {
    let shop = PayingShop::start(Backend::Sqlite, |c| {
        c.limits.payment_attempts_per_ip = 3;
    })
    .await;
    let product = shop.product().await;
    // Card testing: a fresh order for every few cards.
    for _ in 0..3 {
        let order = shop.order(&product, 1).await;
        let (status, body) = shop.pay(&order, DECLINED).await;
        assert_eq!(status, 402, "{body}");
    }
    let order = shop.order(&product, 1).await;
    let (status, body) = shop.pay(&order, VISA).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["context"]["limit"], "payments");
    assert_eq!(shop.view(&order).await["status"], "pending_payment");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_attempts_are_limited_per_account_wherever_they_come_from() {
    let shop = PayingShop::start(Backend::Sqlite, |c| {
        c.limits.payment_attempts_per_user = 2;
    })
    .await;
    let product = shop.product().await;
    let session = shop
        .app
        .register("card-tester@example.com", "a long enough secret")
        .await;
    let token = session["token"].as_str().unwrap();
    let body = json!({"address": address(), "shipping_method": "standard"});
    let mut orders = Vec::new();
    for key in ["one", "two", "three"] {
        assert_eq!(
            add(&shop.app, Some(token), None, &product, json!(1))
                .await
                .status(),
            200
        );
        let res = checkout(&shop.app, Some(token), None, key, &body).await;
        assert_eq!(res.status(), 201);
        let placed: Value = res.json().await.unwrap();
        orders.push(placed["order"]["id"].as_str().unwrap().to_owned());
    }
    let pay = |order: String, card: &'static str| {
        let shop = &shop;
        async move {
            let payment_token = shop.sim.card(card).await;
            shop.app
                .request(
                    Method::POST,
                    &format!("/api/orders/{order}/pay"),
                    Some(token),
                    None,
                )
                .json(&json!({ "payment_token": payment_token }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(pay(orders[0].clone(), DECLINED).await, 402);
    assert_eq!(pay(orders[1].clone(), DECLINED).await, 402);
    assert_eq!(
        pay(orders[2].clone(), VISA).await,
        429,
        "the account's budget is spent"
    );
    // A guest on the same address still pays: the limit is the account's.
    let guest = shop.order(&product, 1).await;
    assert_eq!(shop.pay(&guest, VISA).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_that_needs_3d_secure_is_declined_as_such_and_its_intent_cancelled() {
    let shop = PayingShop::start(Backend::Sqlite, |_| {}).await;
    let admin = shop.app.admin_token().await;
    let order = shop.order(&shop.product().await, 1).await;
    let (status, body) = shop.pay(&order, THREE_D_SECURE).await;
    assert_eq!(status, 402, "{body}");
    assert_eq!(
        body["error"]["context"]["decline_code"],
        "authentication_required"
    );
    let o = shop.view(&order).await;
    assert_eq!(o["status"], "pending_payment");
    assert_eq!(o["payment_status"], "declined");
    let staff = shop
        .app
        .json_as(&format!("/api/admin/orders/{}", order.0), &admin)
        .await;
    let intent = staff["payments"][0]["provider_reference"].as_str().unwrap();
    let at_provider = shop
        .sim
        .object(&format!("/v1/payment_intents/{intent}"))
        .await;
    assert_eq!(at_provider["status"], "canceled", "{at_provider}");
    assert_eq!(shop.charged(&order).await, 0);
    // Another card pays.
    assert_eq!(shop.pay(&order, VISA).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_see_roles_not_staff_ids_or_notes() {
    let shop = PayingShop::start(Backend::Sqlite, |_| {}).await;
    let app = &shop.app;
    let admin = app.admin_token().await;
    let (id, token) = shop.order(&shop.product().await, 1).await;
    let res = app
        .request(
            Method::POST,
            &format!("/api/admin/orders/{id}/mark-paid"),
            Some(&admin),
            None,
        )
        .json(&json!({"reason": "bank transfer 42, see ticket 7"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let staff: Value = res.json().await.unwrap();
    assert!(staff["history"][1]["actor"]
        .as_str()
        .unwrap()
        .starts_with("admin:"));
    let own: Value = app
        .request(Method::GET, &format!("/api/orders/{id}"), None, None)
        .header("x-order-token", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(own["history"][0]["actor"], "guest");
    assert_eq!(own["history"][1]["actor"], "staff");
    assert!(own["history"][1]["reason"].is_null(), "{own}");
    assert!(!own.to_string().contains("ticket 7"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_the_provider_keeps_processing_fails_in_bounded_time_and_frees_the_order() {
    let shop = PayingShop::start(Backend::Sqlite, |c| {
        c.payments.processing_timeout_secs = 1;
    })
    .await;
    let order = shop.order(&shop.product().await, 1).await;
    let token = shop.sim.card(VISA).await;
    shop.sim.faults(json!({"processing": true})).await;
    let (status, body) = shop.pay_token(&order, &token).await;
    assert_eq!(status, 202, "{body}");
    // Not 23 hours of retries: after the timeout the payment fails and
    // the order can be paid another way (or expire and free its stock).
    let o = shop
        .settles_to(&order, "pending_payment", Duration::from_secs(30))
        .await;
    assert_eq!(o["payment_status"], "failed", "{o}");
    shop.sim.faults(json!({})).await;
    assert_eq!(shop.pay(&order, VISA).await.0, 200);
}
