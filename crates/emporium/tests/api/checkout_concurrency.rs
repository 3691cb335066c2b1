//! Stock, carts and orders under many clients at once, on SQLite and on
//! PostgreSQL: stock is never oversold, one Idempotency-Key makes one
//! order, and two devices editing one cart lose nothing.

use std::sync::Arc;

use futures::StreamExt;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::sync::Barrier;

use crate::on_every_backend;
use crate::shop::{add, address, guest_cart, set_stock};
use crate::support::TestApp;

on_every_backend!(
    a_thousand_checkouts_for_a_hundred_in_stock_make_exactly_a_hundred_orders,
    fifty_identical_checkouts_with_one_key_make_one_order,
    two_devices_editing_one_cart_lose_and_duplicate_nothing,
);

async fn a_thousand_checkouts_for_a_hundred_in_stock_make_exactly_a_hundred_orders(app: TestApp) {
    let admin = app.admin_token().await;
    let (p, _) = app.products("samsung", 1).await.remove(0);
    set_stock(&app, &admin, &p, 100, "contention test").await;
    // 1,000 guests, each with one unit in their cart.
    let carts: Vec<String> = futures::stream::iter(0..1000)
        .map(|_| async {
            let cart = guest_cart(&app).await;
            assert_eq!(
                add(&app, None, Some(&cart), &p, json!(1)).await.status(),
                200
            );
            cart
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let barrier = Arc::new(Barrier::new(carts.len()));
    let body =
        json!({"address": address(), "shipping_method": "standard", "email": "rush@example.com"});
    let tasks: Vec<_> = carts
        .into_iter()
        .enumerate()
        .map(|(i, cart)| {
            let (client, url, body, barrier) = (
                app.client.clone(),
                app.url("/api/checkout"),
                body.clone(),
                barrier.clone(),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                let res = client
                    .post(url)
                    .header("x-cart-token", cart)
                    .header("idempotency-key", format!("rush-{i}"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let status = res.status().as_u16();
                let code = res.json::<Value>().await.unwrap()["error"]["code"]
                    .as_str()
                    .map(str::to_owned);
                (status, code)
            })
        })
        .collect();
    let mut created = 0;
    let mut sold_out = 0;
    for t in tasks {
        match t.await.unwrap() {
            (201, _) => created += 1,
            (409, Some(code)) if code == "out_of_stock" => sold_out += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!((created, sold_out), (100, 900));
    let s: Value = app
        .get_as(&format!("/api/admin/products/{p}/stock"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            s["on_hand"].as_i64(),
            s["reserved"].as_i64(),
            s["available"].as_i64()
        ),
        (Some(100), Some(100), Some(0))
    );
    let orders: Value = app
        .get_as("/api/admin/orders?status=pending_payment&limit=100", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(orders["items"].as_array().unwrap().len(), 100);
    assert!(orders["next_before"].is_string());
    let next = format!(
        "/api/admin/orders?status=pending_payment&limit=100&before={}",
        orders["next_before"].as_str().unwrap()
    );
    let rest: Value = app.get_as(&next, &admin).await.json().await.unwrap();
    assert_eq!(rest["items"], json!([]), "exactly 100 orders");
}

async fn fifty_identical_checkouts_with_one_key_make_one_order(app: TestApp) {
    let admin = app.admin_token().await;
    let (p, _) = app.products("samsung", 1).await.remove(0);
    let user = app
        .register("twice@example.com", "correct horse battery")
        .await;
    let token = user["token"].as_str().unwrap().to_owned();
    add(&app, Some(&token), None, &p, json!(2)).await;
    let barrier = Arc::new(Barrier::new(50));
    let body = json!({"address": address(), "shipping_method": "express"});
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (client, url, body, barrier, token) = (
                app.client.clone(),
                app.url("/api/checkout"),
                body.clone(),
                barrier.clone(),
                token.clone(),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                let res = client
                    .post(url)
                    .bearer_auth(token)
                    .header("idempotency-key", "double-click")
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 201);
                res.json::<Value>().await.unwrap()["order"]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap());
    }
    assert_eq!(ids.len(), 1, "one order for one key");
    let mine: Value = app
        .get_as("/api/orders", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let s: Value = app
        .get_as(&format!("/api/admin/products/{p}/stock"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["reserved"], 2, "stock reserved once");
}

async fn two_devices_editing_one_cart_lose_and_duplicate_nothing(app: TestApp) {
    let products: Vec<String> = app
        .products("samsung", 15)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let user = app
        .register("twodevices@example.com", "correct horse battery")
        .await;
    let token = user["token"].as_str().unwrap().to_owned();
    // Device A adds products 0-9 once each; device B adds 0-9 twice each and
    // 10-14 twice each; all at once.
    let mut adds = Vec::new();
    for p in &products[..10] {
        adds.push((p.clone(), 1));
    }
    for p in &products {
        adds.push((p.clone(), 2));
    }
    let barrier = Arc::new(Barrier::new(adds.len()));
    let tasks: Vec<_> = adds
        .into_iter()
        .map(|(p, qty)| {
            let (client, url, token, barrier) = (
                app.client.clone(),
                app.url("/api/cart/items"),
                token.clone(),
                barrier.clone(),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                let res = client
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"product_id": p, "quantity": qty}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200);
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let view: Value = app
        .request(Method::GET, "/api/cart", Some(&token), None)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let lines = view["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 15, "no lost and no duplicate line");
    for (i, p) in products.iter().enumerate() {
        let line = lines
            .iter()
            .find(|l| l["product_id"] == p.as_str())
            .unwrap();
        assert_eq!(line["quantity"], if i < 10 { 3 } else { 2 }, "product {i}");
    }
    assert_eq!(view["item_count"], 40);
}
