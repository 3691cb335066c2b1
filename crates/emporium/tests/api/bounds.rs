//! Bounds on amounts and counts over real HTTP: stock on hand never above
//! 10,000,000 however it is adjusted, prices never above what one payment
//! may take (99,999,999 minor units), order totals computed exactly and
//! refused above that limit, and a product priced past it before the cap
//! existed kept out of the shop.

use serde_json::{json, Value};

use crate::on_every_backend;
use crate::shop::{add, address, checkout, guest_cart, set_quantity, set_stock};
use crate::support::{Backend, TestApp};

const MAX_ON_HAND: i64 = 10_000_000;
const MAX_AMOUNT: i64 = 99_999_999;

on_every_backend!(
    stock_adjustments_stop_at_the_cap_with_a_clear_error,
    prices_above_the_payment_limit_are_refused,
    a_checkout_above_the_payment_limit_is_refused_and_holds_no_stock,
);

async fn adjust(app: &TestApp, admin: &str, product: &str, delta: i64) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/admin/products/{product}/stock/adjustments")))
        .bearer_auth(admin)
        .json(&json!({"delta": delta, "reason": "delivery"}))
        .send()
        .await
        .unwrap()
}

async fn on_hand(app: &TestApp, admin: &str, product: &str) -> i64 {
    let res = app
        .get_as(&format!("/api/admin/products/{product}/stock"), admin)
        .await;
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["on_hand"]
        .as_i64()
        .unwrap()
}

async fn stock_adjustments_stop_at_the_cap_with_a_clear_error(app: TestApp) {
    let admin = app.admin_token().await;
    let (p, _) = app.products("samsung", 1).await.remove(0);
    set_stock(&app, &admin, &p, 0, "stock-take").await;
    // The fuzzer's sequence: +10,000,000 over and over (it reached
    // 2,310,000,000). The first fits; every other one is refused.
    assert_eq!(adjust(&app, &admin, &p, MAX_ON_HAND).await.status(), 200);
    for _ in 0..3 {
        let res = adjust(&app, &admin, &p, MAX_ON_HAND).await;
        assert_eq!(res.status(), 409);
        let e: Value = res.json().await.unwrap();
        let e = &e["error"];
        assert_eq!(e["code"], "stock_above_maximum");
        assert_eq!(e["details"][0]["field"], "delta");
        let message = e["message"].as_str().unwrap();
        assert!(
            message.contains("20000000") && message.contains("above the maximum of 10000000"),
            "{message}"
        );
        assert_eq!(
            e["context"],
            json!({"on_hand": MAX_ON_HAND, "requested_on_hand": 2 * MAX_ON_HAND, "max_on_hand": MAX_ON_HAND})
        );
    }
    assert_eq!(adjust(&app, &admin, &p, 1).await.status(), 409, "one past");
    assert_eq!(on_hand(&app, &admin, &p).await, MAX_ON_HAND);

    // A delta no product could take is the delta's fault, both ways.
    for delta in [-2 * MAX_ON_HAND, 2 * MAX_ON_HAND, i64::MIN, i64::MAX] {
        let res = adjust(&app, &admin, &p, delta).await;
        assert_eq!(res.status(), 400, "{delta}");
        let e: Value = res.json().await.unwrap();
        assert_eq!(e["error"]["details"][0]["field"], "delta", "{delta}");
        assert_eq!(
            e["error"]["details"][0]["message"],
            "must be from -10000000 to 10000000"
        );
    }
    // Down to zero, and not below it.
    assert_eq!(adjust(&app, &admin, &p, -MAX_ON_HAND).await.status(), 200);
    let res = adjust(&app, &admin, &p, -1).await;
    assert_eq!(res.status(), 409);
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["error"]["code"], "stock_below_reserved");
    assert_eq!(
        e["error"]["message"],
        "stock on hand would become -1, below zero"
    );
    assert_eq!(on_hand(&app, &admin, &p).await, 0);
    // A stock-take above the cap names its own field.
    let res = app
        .client
        .put(app.url(&format!("/api/admin/products/{p}/stock")))
        .bearer_auth(&admin)
        .json(&json!({"on_hand": MAX_ON_HAND + 1, "reason": "stock-take"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["error"]["details"][0]["field"], "on_hand");
}

async fn put_product(app: &TestApp, admin: &str, sku: &str, amount: Value) -> reqwest::Response {
    app.client
        .put(app.url(&format!("/api/admin/products/sku/{sku}")))
        .bearer_auth(admin)
        .json(&json!({
            "name": format!("Bounds Test {sku}"), "category": ["Home", "Lighting"],
            "price": {"amount": amount, "currency": "USD"}
        }))
        .send()
        .await
        .unwrap()
}

async fn prices_above_the_payment_limit_are_refused(app: TestApp) {
    let admin = app.admin_token().await;
    let res = put_product(&app, &admin, "BOUNDS-1", json!(MAX_AMOUNT)).await;
    assert_eq!(res.status(), 201, "the limit itself is a price");
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for bad in [json!(MAX_AMOUNT + 1), json!(i64::MAX)] {
        for sku in ["BOUNDS-1", "BOUNDS-2"] {
            let res = put_product(&app, &admin, sku, bad.clone()).await;
            assert_eq!(res.status(), 400, "{sku} at {bad}");
            let e: Value = res.json().await.unwrap();
            assert_eq!(e["error"]["code"], "validation_failed");
            let message = e["error"]["message"].as_str().unwrap();
            assert!(
                message.contains("price") && message.contains("99999999"),
                "{message}"
            );
        }
    }
    assert_eq!(
        app.json(&format!("/api/products/{id}"), 200).await["price"]["amount"],
        MAX_AMOUNT,
        "a refused update changes nothing"
    );
    let found = app.json("/api/products?q=bounds+test", 200).await;
    assert_eq!(found["total"], 1, "the refused product was not created");
}

async fn a_checkout_above_the_payment_limit_is_refused_and_holds_no_stock(app: TestApp) {
    let admin = app.admin_token().await;
    let price: i64 = 60_000_000;
    let res = put_product(&app, &admin, "BOUNDS-DEAR", json!(price)).await;
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    set_stock(&app, &admin, &id, 10, "delivery").await;
    let cart = guest_cart(&app).await;
    let res = add(&app, None, Some(&cart), &id, json!(2)).await;
    assert_eq!(res.status(), 200);
    // The cart shows exact totals, above the limit as they are.
    let view: Value = res.json().await.unwrap();
    assert_eq!(view["lines"][0]["line_total"], 2 * price);
    assert_eq!(
        view["totals"],
        json!({"subtotal": 2 * price, "shipping": 0, "tax": 0, "total": 2 * price})
    );
    let body =
        json!({"address": address(), "shipping_method": "express", "email": "g@example.com"});
    let res = checkout(&app, None, Some(&cart), "dear-1", &body).await;
    assert_eq!(res.status(), 422);
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["error"]["code"], "order_total_too_large");
    // 120,000,000 + 1,499 shipping + 7.25 % tax (California).
    let taxable = 2 * price + 1499;
    let total = taxable + (taxable * 725 + 5000) / 10000;
    assert_eq!(
        e["error"]["context"],
        json!({"total": total, "max": MAX_AMOUNT})
    );
    let stock: Value = app
        .get_as(&format!("/api/admin/products/{id}/stock"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stock["reserved"], 0, "a refused checkout reserves nothing");
    let orders = app
        .get_as("/api/admin/orders?status=pending_payment", &admin)
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(orders["items"], json!([]));

    // One unit fits: the order's totals add up exactly.
    let res = set_quantity(&app, &cart, &id, 1).await;
    assert_eq!(res.status(), 200);
    let res = checkout(&app, None, Some(&cart), "dear-2", &body).await;
    assert_eq!(res.status(), 201);
    let t = &res.json::<Value>().await.unwrap()["order"]["totals"];
    let tax = ((price + 1499) * 725 + 5000) / 10000;
    assert_eq!(
        *t,
        json!({"subtotal": price, "shipping": 1499, "tax": tax, "total": price + 1499 + tax})
    );
    assert!(t["total"].as_i64().unwrap() <= MAX_AMOUNT);
}

/// A product priced past the limit by an older version (the fuzzer's 2^63
/// − 1) leaves search and cannot be bought, instead of breaking the pages
/// that list it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_price_stored_before_the_cap_keeps_its_product_out_of_the_shop() {
    use sqlx::Connection;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (p, _) = app.products("samsung", 1).await.remove(0);
    let total = app.json("/api/products", 200).await["total"]
        .as_i64()
        .unwrap();
    let file = app.config.server.data_dir.join("catalog.db");
    let mut db = sqlx::SqliteConnection::connect(&format!("sqlite:{}", file.display()))
        .await
        .unwrap();
    sqlx::query("UPDATE products SET price = ? WHERE id = ?")
        .bind(i64::MAX)
        .bind(uuid::Uuid::parse_str(&p).unwrap())
        .execute(&mut db)
        .await
        .unwrap();
    sqlx::query("UPDATE catalog_meta SET version = version + 1")
        .execute(&mut db)
        .await
        .unwrap();
    db.close().await.unwrap();
    // A catalog change is seen by the next search within a few seconds.
    let mut after = Value::Null;
    for _ in 0..100 {
        after = app.json("/api/products?sort=popularity", 200).await;
        if after["total"] != total {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(after["total"].as_i64(), Some(total - 1));
    assert_eq!(app.get(&format!("/api/products/{p}")).await.status(), 404);
    let cart = guest_cart(&app).await;
    let res = add(&app, None, Some(&cart), &p, json!(2)).await;
    assert_eq!(res.status(), 409);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "product_unavailable"
    );
}
