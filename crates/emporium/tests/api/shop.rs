//! Carts and checkout over real HTTP, as a guest and signed in: totals,
//! merging a guest cart on sign-in, idempotent checkout, price changes,
//! and every bad cart or checkout input the API must refuse; with the
//! helpers the other suites build orders with. Orders after checkout are
//! in `orders.rs`.

use reqwest::Method;
use serde_json::{json, Value};

use crate::on_every_backend;
use crate::support::{Backend, TestApp};

pub const PASSWORD: &str = "correct horse battery";

pub fn address() -> Value {
    json!({
        "name": "Ada Lovelace", "line1": "1 Analytical Way", "city": "San Francisco",
        "region": "CA", "postal_code": "94103", "country": "US"
    })
}

/// Creates a guest cart; returns its token.
pub async fn guest_cart(app: &TestApp) -> String {
    let res = app
        .request(Method::POST, "/api/carts", None, None)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert!(res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("HttpOnly"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["cart"]["lines"], json!([]));
    body["cart_token"].as_str().unwrap().to_owned()
}

pub async fn add(
    app: &TestApp,
    token: Option<&str>,
    cart: Option<&str>,
    product: &str,
    qty: Value,
) -> reqwest::Response {
    app.request(Method::POST, "/api/cart/items", token, cart)
        .json(&json!({"product_id": product, "quantity": qty}))
        .send()
        .await
        .unwrap()
}

/// Sets a guest cart line's quantity.
pub async fn set_quantity(app: &TestApp, cart: &str, product: &str, qty: u32) -> reqwest::Response {
    app.request(
        Method::PATCH,
        &format!("/api/cart/items/{product}"),
        None,
        Some(cart),
    )
    .json(&json!({"quantity": qty}))
    .send()
    .await
    .unwrap()
}

pub async fn checkout(
    app: &TestApp,
    token: Option<&str>,
    cart: Option<&str>,
    key: &str,
    body: &Value,
) -> reqwest::Response {
    app.request(Method::POST, "/api/checkout", token, cart)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Sets a product's stock on hand as staff, asserting success.
pub async fn set_stock(app: &TestApp, admin: &str, product: &str, on_hand: u32, reason: &str) {
    let res = app
        .client
        .put(app.url(&format!("/api/admin/products/{product}/stock")))
        .bearer_auth(admin)
        .json(&json!({"on_hand": on_hand, "reason": reason}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// A product's stock as staff see it, asserting success.
pub async fn stock(app: &TestApp, admin: &str, product: &str) -> Value {
    let res = app
        .get_as(&format!("/api/admin/products/{product}/stock"), admin)
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

on_every_backend!(
    guest_checkout_reserves_stock_and_empties_the_cart,
    signed_in_users_merge_their_guest_cart_and_see_only_their_orders
);

async fn guest_checkout_reserves_stock_and_empties_the_cart(app: TestApp) {
    let admin = app.admin_token().await;
    let products = app.products("samsung", 2).await;
    let (a, pa) = &products[0];
    let (b, pb) = &products[1];
    let cart = guest_cart(&app).await;
    assert_eq!(
        add(&app, None, Some(&cart), a, json!(2)).await.status(),
        200
    );
    let res = add(&app, None, Some(&cart), b, json!(1)).await;
    let view: Value = res.json().await.unwrap();
    assert_eq!(view["item_count"], 3);
    let subtotal = 2 * pa + pb;
    assert_eq!(view["totals"]["subtotal"], subtotal);
    let shipping = if subtotal >= 5000 { 0 } else { 499 };
    assert_eq!(
        view["totals"]["shipping"], shipping,
        "the cheapest method, estimated"
    );
    assert_eq!(view["totals"]["total"], subtotal + shipping);

    let body =
        json!({"address": address(), "shipping_method": "express", "email": "Guest@Example.com"});
    let res = checkout(&app, None, Some(&cart), "key-guest-1", &body).await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["idempotent-replayed"], "false");
    let placed: Value = res.json().await.unwrap();
    let order = &placed["order"];
    assert_eq!(order["status"], "pending_payment");
    assert_eq!(order["email"], "guest@example.com");
    assert_eq!(order["lines"].as_array().unwrap().len(), 2);
    let tax = ((subtotal + 1499) * 725 + 5000) / 10000; // California, 7.25 % on goods and shipping
    assert_eq!(
        order["totals"],
        json!({"subtotal": subtotal, "shipping": 1499, "tax": tax, "total": subtotal + 1499 + tax})
    );
    assert_eq!(order["history"][0]["to"], "pending_payment");
    assert_eq!(order["history"][0]["actor"], "guest");
    let id = order["id"].as_str().unwrap();
    let order_token = placed["order_token"].as_str().unwrap();

    // The cart is empty; the stock is reserved.
    let view: Value = app
        .request(Method::GET, "/api/cart", None, Some(&cart))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["lines"], json!([]));
    let s = stock(&app, &admin, a).await;
    assert_eq!(
        (
            s["on_hand"].as_i64(),
            s["reserved"].as_i64(),
            s["available"].as_i64()
        ),
        (Some(100), Some(2), Some(98))
    );

    // The same key and body: the same order, even with the cart now empty.
    let res = checkout(&app, None, Some(&cart), "key-guest-1", &body).await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    let again: Value = res.json().await.unwrap();
    assert_eq!(again["order"]["id"], id);
    assert_eq!(again["order_token"], order_token);
    // The same key with another body: refused.
    let other =
        json!({"address": address(), "shipping_method": "standard", "email": "guest@example.com"});
    let res = checkout(&app, None, Some(&cart), "key-guest-1", &other).await;
    assert_eq!(res.status(), 422);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "idempotency_key_reused"
    );
    // A new key on the empty cart.
    let res = checkout(&app, None, Some(&cart), "key-guest-2", &body).await;
    assert_eq!(res.status(), 422);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "cart_empty"
    );

    // Only the order token opens a guest order.
    let path = format!("/api/orders/{id}");
    let res = app
        .client
        .get(app.url(&path))
        .header("x-order-token", order_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .client
        .get(app.url(&path))
        .header("x-order-token", "guess")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(app.get(&path).await.status(), 400);
    let stranger = app.register("stranger@example.com", PASSWORD).await;
    assert_eq!(
        app.get_as(&path, stranger["token"].as_str().unwrap())
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get_as(&path, &admin).await.status(),
        200,
        "staff see every order"
    );
    // A guest who signs in later still opens the order with its token.
    let res = app
        .client
        .get(app.url(&path))
        .bearer_auth(stranger["token"].as_str().unwrap())
        .header("x-order-token", order_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // The guest cancels: stock comes back.
    let res = app
        .client
        .post(app.url(&format!("{path}/cancel")))
        .header("x-order-token", order_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cancelled: Value = res.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    for outcome in [
        "created",
        "replayed",
        "idempotency_key_reused",
        "cart_empty",
    ] {
        assert!(
            metrics.contains(&format!("checkouts_total{{outcome=\"{outcome}\"}}")),
            "checkouts_total counts {outcome}"
        );
    }
    assert_eq!(stock(&app, &admin, a).await["reserved"], 0);
}

async fn signed_in_users_merge_their_guest_cart_and_see_only_their_orders(app: TestApp) {
    let products = app.products("samsung", 2).await;
    let (a, b) = (&products[0].0, &products[1].0);
    let cart = guest_cart(&app).await;
    add(&app, None, Some(&cart), a, json!(2)).await;
    let user = app.register("shopper@example.com", PASSWORD).await;
    let token = user["token"].as_str().unwrap();
    add(&app, Some(token), None, a, json!(1)).await;
    add(&app, Some(token), None, b, json!(4)).await;
    // The first cart request after signing in carries the guest token: merged.
    let res = app
        .request(Method::GET, "/api/cart", Some(token), Some(&cart))
        .send()
        .await
        .unwrap();
    let view: Value = res.json().await.unwrap();
    let qty = |v: &Value, p: &str| {
        v["lines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["product_id"] == p)
            .map(|l| l["quantity"].clone())
    };
    assert_eq!(qty(&view, a), Some(json!(3)));
    assert_eq!(qty(&view, b), Some(json!(4)));
    let res = app
        .request(Method::GET, "/api/cart", None, Some(&cart))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "the guest cart is gone");
    // Signing in with a guest cart token merges it at once.
    let second = guest_cart(&app).await;
    add(&app, None, Some(&second), b, json!(1)).await;
    let res = app
        .client
        .post(app.url("/api/auth/login"))
        .header("x-cart-token", &second)
        .json(&json!({"email": "shopper@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let view: Value = app
        .request(Method::GET, "/api/cart", Some(token), None)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(qty(&view, b), Some(json!(5)), "merged on sign-in");

    let res = checkout(
        &app,
        Some(token),
        None,
        "user-key-1",
        &json!({"address": address(), "shipping_method": "standard"}),
    )
    .await;
    assert_eq!(res.status(), 201);
    let placed: Value = res.json().await.unwrap();
    assert!(placed["order_token"].is_null());
    let id = placed["order"]["id"].as_str().unwrap();
    let list: Value = app.get_as("/api/orders", token).await.json().await.unwrap();
    assert_eq!(list["items"][0]["id"], id);
    assert_eq!(list["items"][0]["item_count"], 8);
    assert_eq!(
        app.get_as(&format!("/api/orders/{id}"), token)
            .await
            .status(),
        200
    );
    let other = app.register("other@example.com", PASSWORD).await;
    let other = other["token"].as_str().unwrap();
    assert_eq!(
        app.get_as(&format!("/api/orders/{id}"), other)
            .await
            .status(),
        404
    );
    let none: Value = app.get_as("/api/orders", other).await.json().await.unwrap();
    assert_eq!(none["items"], json!([]));
    let res = app
        .client
        .post(app.url(&format!("/api/orders/{id}/cancel")))
        .bearer_auth(other)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        404,
        "another customer's order cannot be probed"
    );
    assert_eq!(app.get("/api/orders").await.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_cart_input_gets_clear_errors() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.shop.max_lines_per_cart = 2).await;
    let admin = app.admin_token().await;
    let products = app.products("samsung", 3).await;
    let p = &products[0].0;
    let cart = guest_cart(&app).await;
    for (qty, field) in [
        (json!(0), "quantity"),
        (json!(-1), "quantity"),
        (json!(1_000_000), "quantity"),
        (json!(100), "quantity"),
        (json!("two"), "body"),
        (json!(1.5), "body"),
        (json!(null), "body"),
    ] {
        let res = add(&app, None, Some(&cart), p, qty.clone()).await;
        assert_eq!(res.status(), 400, "{qty}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["details"][0]["field"], field, "{qty}: {body}");
    }
    let res = app
        .request(Method::POST, "/api/cart/items", None, Some(&cart))
        .json(&json!({"quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "missing product_id");
    let res = add(&app, None, Some(&cart), "not-a-uuid", json!(1)).await;
    assert_eq!(res.status(), 400);
    let res = add(
        &app,
        None,
        Some(&cart),
        &uuid::Uuid::now_v7().to_string(),
        json!(1),
    )
    .await;
    assert_eq!(res.status(), 404, "unknown product");
    // Line limits: 99 per line, then the cart's 2 lines.
    assert_eq!(
        add(&app, None, Some(&cart), p, json!(60)).await.status(),
        200
    );
    let res = add(&app, None, Some(&cart), p, json!(60)).await;
    assert_eq!(res.status(), 400, "60 + 60 is more than 99 per line");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["details"][0]["field"], "quantity");
    let res = add(&app, None, Some(&cart), p, json!(39)).await;
    let view: Value = res.json().await.unwrap();
    assert_eq!(view["lines"][0]["quantity"], 99, "up to the limit is fine");
    assert_eq!(
        add(&app, None, Some(&cart), &products[1].0, json!(1))
            .await
            .status(),
        200
    );
    let res = add(&app, None, Some(&cart), &products[2].0, json!(1)).await;
    assert_eq!(res.status(), 422);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "cart_full"
    );
    // More than the stock.
    let res = set_quantity(&app, &cart, &products[1].0, 99).await;
    assert_eq!(res.status(), 200);
    set_stock(&app, &admin, &products[2].0, 3, "stock-take").await;
    let other = guest_cart(&app).await;
    let res = add(&app, None, Some(&other), &products[2].0, json!(4)).await;
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (
            body["error"]["code"].as_str(),
            body["error"]["context"]["available"].as_i64()
        ),
        (Some("out_of_stock"), Some(3))
    );
    // An archived product cannot be added.
    let res = app
        .client
        .delete(app.url(&format!("/api/admin/products/{}", products[2].0)))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = add(&app, None, Some(&other), &products[2].0, json!(1)).await;
    assert_eq!(res.status(), 409);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "product_unavailable"
    );
    // Someone else's (or a made-up) cart token, and none at all.
    let res = app
        .request(Method::GET, "/api/cart", None, Some("made-up-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(app.get("/api/cart").await.status(), 400);
    let res = set_quantity(&app, &cart, &products[2].0, 1).await;
    assert_eq!(res.status(), 404, "no such line");
    let res = app
        .request(
            Method::DELETE,
            &format!("/api/cart/items/{p}"),
            None,
            Some(&cart),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .request(Method::DELETE, "/api/cart", None, Some(&cart))
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["lines"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_checkouts_are_refused_and_write_nothing() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let admin = app.admin_token().await;
    let (p, _) = app.products("samsung", 1).await.remove(0);
    let cart = guest_cart(&app).await;
    add(&app, None, Some(&cart), &p, json!(1)).await;
    let good =
        json!({"address": address(), "shipping_method": "standard", "email": "g@example.com"});
    let res = app
        .request(Method::POST, "/api/checkout", None, Some(&cart))
        .json(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "no Idempotency-Key");
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["details"][0]["field"],
        "Idempotency-Key"
    );
    let res = checkout(&app, None, Some(&cart), &"k".repeat(300), &good).await;
    assert_eq!(res.status(), 400, "overlong Idempotency-Key");
    let mut missing = address();
    missing.as_object_mut().unwrap().remove("city");
    missing["line1"] = json!("x".repeat(10_000));
    let cases = [
        (
            json!({"address": missing, "shipping_method": "standard", "email": "g@example.com"}),
            vec!["address.line1", "address.city"],
        ),
        (
            json!({"address": address(), "shipping_method": "teleport", "email": "g@example.com"}),
            vec!["shipping_method"],
        ),
        (
            json!({"address": address(), "shipping_method": "standard"}),
            vec!["email"],
        ),
        (
            json!({"address": address(), "shipping_method": "standard", "email": "nope"}),
            vec!["email"],
        ),
        (
            json!({"address": {"country": "USA"}, "shipping_method": "standard", "email": "g@example.com"}),
            vec![
                "address.name",
                "address.line1",
                "address.city",
                "address.postal_code",
                "address.country",
            ],
        ),
    ];
    for (i, (body, fields)) in cases.into_iter().enumerate() {
        let res = checkout(&app, None, Some(&cart), &format!("bad-{i}"), &body).await;
        assert_eq!(res.status(), 400, "{body}");
        let v: Value = res.json().await.unwrap();
        let got: Vec<&str> = v["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["field"].as_str().unwrap())
            .collect();
        assert_eq!(got, fields, "{body}");
    }
    let res = checkout(
        &app,
        None,
        Some(&cart),
        "bad-type",
        &json!({"address": "street", "shipping_method": "standard"}),
    )
    .await;
    assert_eq!(res.status(), 400);
    // Nothing was written: the cart is intact, nothing reserved, and the
    // good request still goes through.
    assert_eq!(stock(&app, &admin, &p).await["reserved"], 0);
    let res = checkout(&app, None, Some(&cart), "good", &good).await;
    assert_eq!(res.status(), 201);
    let empty = guest_cart(&app).await;
    let res = checkout(&app, None, Some(&empty), "empty", &good).await;
    assert_eq!(res.status(), 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_price_change_is_reported_and_the_cart_updated() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let admin = app.admin_token().await;
    let sku = "TEST-PRICE-1";
    let product = json!({"name": "Price Test Lamp", "category": ["Home", "Lighting"], "price": {"amount": 1000, "currency": "USD"}});
    let res = app
        .client
        .put(app.url(&format!("/api/admin/products/sku/{sku}")))
        .bearer_auth(&admin)
        .json(&product)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    set_stock(&app, &admin, &id, 5, "first delivery").await;
    // Search shows the new product at once.
    let found = app.json("/api/products?q=price+test+lamp", 200).await;
    assert_eq!(found["items"][0]["id"], id.as_str());
    let cart = guest_cart(&app).await;
    add(&app, None, Some(&cart), &id, json!(2)).await;
    let mut dearer = product.clone();
    dearer["price"]["amount"] = json!(1250);
    let res = app
        .client
        .put(app.url(&format!("/api/admin/products/sku/{sku}")))
        .bearer_auth(&admin)
        .json(&dearer)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        app.json(&format!("/api/products/{id}"), 200).await["price"]["amount"],
        1250
    );
    let view: Value = app
        .request(Method::GET, "/api/cart", None, Some(&cart))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["lines"][0]["price_changed"], true);

    let body =
        json!({"address": address(), "shipping_method": "standard", "email": "g@example.com"});
    let res = checkout(&app, None, Some(&cart), "price-1", &body).await;
    assert_eq!(res.status(), 409);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["code"], "price_changed");
    assert_eq!(
        err["error"]["context"]["changes"],
        json!([{"product_id": id, "old_price": 1000, "new_price": 1250}])
    );
    let view: Value = app
        .request(Method::GET, "/api/cart", None, Some(&cart))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            view["lines"][0]["unit_price"].as_i64(),
            view["lines"][0]["price_changed"].as_bool()
        ),
        (Some(1250), Some(false))
    );
    assert_eq!(
        stock(&app, &admin, &id).await["reserved"],
        0,
        "nothing reserved"
    );
    let res = checkout(&app, None, Some(&cart), "price-1", &body).await;
    assert_eq!(
        res.status(),
        201,
        "the customer saw the new price and checks out"
    );
    assert_eq!(
        res.json::<Value>().await.unwrap()["order"]["totals"]["subtotal"],
        2500
    );

    // Archived: gone from search and detail.
    let res = app
        .client
        .delete(app.url(&format!("/api/admin/products/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let found = app.json("/api/products?q=price+test+lamp", 200).await;
    assert!(
        !found["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == id.as_str()),
        "archived products leave search"
    );
    assert_eq!(app.get(&format!("/api/products/{id}")).await.status(), 404);
    let res = app
        .client
        .post(app.url(&format!("/api/admin/products/{id}/restore")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let found = app.json("/api/products?q=price+test+lamp", 200).await;
    assert_eq!(
        found["items"][0]["id"],
        id.as_str(),
        "restored products come back"
    );
}
