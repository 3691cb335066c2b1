//! Orders after checkout over real HTTP: the state machine and its
//! history, expiry of unpaid orders, who may see what, and staff stock
//! changes with their audit trail and guards.

use serde_json::{json, Value};

use crate::shop::{add, address, checkout, guest_cart, stock, PASSWORD};
use crate::support::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_follow_the_state_machine_and_record_every_step() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let admin = app.admin_token().await;
    let (p, _) = app.products("samsung", 1).await.remove(0);
    let user = app.register("states@example.com", PASSWORD).await;
    let token = user["token"].as_str().unwrap();
    let place = |key: &'static str| {
        let app = &app;
        let p = p.clone();
        async move {
            add(app, Some(token), None, &p, json!(1)).await;
            let res = checkout(
                app,
                Some(token),
                None,
                key,
                &json!({"address": address(), "shipping_method": "standard"}),
            )
            .await;
            assert_eq!(res.status(), 201);
            res.json::<Value>().await.unwrap()["order"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let post = |path: String, who: String, body: Value| {
        let app = &app;
        async move {
            app.client
                .post(app.url(&path))
                .bearer_auth(who)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let first = place("sm-1").await;
    let res = post(
        format!("/api/orders/{first}/cancel"),
        token.into(),
        json!({}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let res = post(
        format!("/api/orders/{first}/cancel"),
        token.into(),
        json!({}),
    )
    .await;
    assert_eq!(res.status(), 409);
    let err: Value = res.json().await.unwrap();
    assert_eq!(
        (
            err["error"]["code"].as_str(),
            err["error"]["context"]["status"].as_str()
        ),
        (Some("illegal_transition"), Some("cancelled"))
    );
    let res = post(
        format!("/api/admin/orders/{first}/fulfil"),
        admin.clone(),
        json!({}),
    )
    .await;
    assert_eq!(res.status(), 409, "a cancelled order cannot be fulfilled");

    let second = place("sm-2").await;
    let res = post(
        format!("/api/admin/orders/{second}/fulfil"),
        admin.clone(),
        json!({}),
    )
    .await;
    assert_eq!(res.status(), 409, "not paid yet");
    let res = post(
        format!("/api/admin/orders/{second}/mark-paid"),
        token.into(),
        json!({"reason": "cash"}),
    )
    .await;
    assert_eq!(res.status(), 403, "customers cannot mark orders paid");
    let res = post(
        format!("/api/admin/orders/{second}/mark-paid"),
        admin.clone(),
        json!({"reason": ""}),
    )
    .await;
    assert_eq!(res.status(), 400);
    let res = post(
        format!("/api/admin/orders/{second}/mark-paid"),
        admin.clone(),
        json!({"reason": "bank transfer 42"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let res = post(
        format!("/api/orders/{second}/cancel"),
        token.into(),
        json!({}),
    )
    .await;
    assert_eq!(res.status(), 409, "paid orders are refunded, not cancelled");
    let res = post(
        format!("/api/admin/orders/{second}/fulfil"),
        admin.clone(),
        json!({}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let order: Value = res.json().await.unwrap();
    let steps: Vec<(Value, Value)> = order["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["from"].clone(), e["to"].clone()))
        .collect();
    assert_eq!(
        steps,
        [
            (json!(null), json!("pending_payment")),
            (json!("pending_payment"), json!("paid")),
            (json!("paid"), json!("fulfilled"))
        ]
    );
    assert!(order["history"][1]["actor"]
        .as_str()
        .unwrap()
        .starts_with("admin:"));
    assert_eq!(order["history"][1]["reason"], "bank transfer 42");
    // Paying consumed the stock: 100 on hand, 1 sold, nothing reserved.
    let s = stock(&app, &admin, &p).await;
    assert_eq!(
        (s["on_hand"].as_i64(), s["reserved"].as_i64()),
        (Some(99), Some(0))
    );

    // Staff list and filter.
    let res = app
        .get_as("/api/admin/orders?status=fulfilled", &admin)
        .await;
    let list: Value = res.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["id"], second.as_str());
    assert_eq!(
        app.get_as("/api/admin/orders?status=shipped", &admin)
            .await
            .status(),
        400
    );
    assert_eq!(
        app.get_as("/api/admin/orders?limit=0", &admin)
            .await
            .status(),
        400
    );
    assert_eq!(app.get_as("/api/admin/orders", token).await.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpaid_orders_expire_and_release_their_stock() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.shop.payment_window_secs = 1;
        c.shop.expiry_check_secs = 1;
    })
    .await;
    let admin = app.admin_token().await;
    let (p, _) = app.products("samsung", 1).await.remove(0);
    let cart = guest_cart(&app).await;
    add(&app, None, Some(&cart), &p, json!(3)).await;
    let res = checkout(
        &app,
        None,
        Some(&cart),
        "exp-1",
        &json!({"address": address(), "shipping_method": "standard", "email": "g@example.com"}),
    )
    .await;
    let placed: Value = res.json().await.unwrap();
    assert_eq!(stock(&app, &admin, &p).await["reserved"], 3);
    let path = format!("/api/orders/{}", placed["order"]["id"].as_str().unwrap());
    let mut status = Value::Null;
    for _ in 0..50 {
        let o: Value = app.get_as(&path, &admin).await.json().await.unwrap();
        status = o["status"].clone();
        if status == "cancelled" {
            assert_eq!(o["history"][1]["actor"], "system");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, "cancelled");
    assert_eq!(stock(&app, &admin, &p).await["reserved"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_stock_changes_are_audited_and_guarded() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let admin = app.admin_token().await;
    let (p, _) = app.products("samsung", 1).await.remove(0);
    let customer = app.register("nosy@example.com", PASSWORD).await;
    let url = app.url(&format!("/api/admin/products/{p}/stock"));
    let res = app
        .client
        .put(&url)
        .bearer_auth(customer["token"].as_str().unwrap())
        .json(&json!({"on_hand": 1, "reason": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(
        app.client
            .put(&url)
            .json(&json!({"on_hand": 1, "reason": "x"}))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    for bad in [
        json!({"on_hand": 5}),
        json!({"on_hand": 5, "reason": "  "}),
        json!({"on_hand": -1, "reason": "x"}),
        json!({"on_hand": "many", "reason": "x"}),
    ] {
        let res = app
            .client
            .put(&url)
            .bearer_auth(&admin)
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{bad}");
    }
    // Reserve 4 with a checkout, then try to set stock below that.
    let cart = guest_cart(&app).await;
    add(&app, None, Some(&cart), &p, json!(4)).await;
    checkout(
        &app,
        None,
        Some(&cart),
        "stock-1",
        &json!({"address": address(), "shipping_method": "standard", "email": "g@example.com"}),
    )
    .await;
    let res = app
        .client
        .put(&url)
        .bearer_auth(&admin)
        .json(&json!({"on_hand": 3, "reason": "stock-take"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["error"]["code"], "stock_below_reserved");
    assert_eq!(e["error"]["details"][0]["field"], "on_hand");
    let res = app
        .client
        .put(&url)
        .bearer_auth(&admin)
        .json(&json!({"on_hand": 10, "reason": "stock-take"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .client
        .post(app.url(&format!("/api/admin/products/{p}/stock/adjustments")))
        .bearer_auth(&admin)
        .json(&json!({"delta": -2, "reason": "damaged in the warehouse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let s: Value = res.json().await.unwrap();
    assert_eq!(
        (
            s["on_hand"].as_i64(),
            s["reserved"].as_i64(),
            s["available"].as_i64()
        ),
        (Some(8), Some(4), Some(4))
    );
    let moves = s["movements"].as_array().unwrap();
    assert_eq!(moves[0]["reason"], "damaged in the warehouse");
    assert_eq!(
        (
            moves[0]["on_hand_before"].as_i64(),
            moves[0]["on_hand_after"].as_i64()
        ),
        (Some(10), Some(8))
    );
    assert!(moves[0]["actor"].as_str().unwrap().starts_with("admin:"));
    assert_eq!(moves[1]["reason"], "stock-take");
    let res = app
        .client
        .post(app.url(&format!("/api/admin/products/{p}/stock/adjustments")))
        .bearer_auth(&admin)
        .json(&json!({"delta": -5, "reason": "loss"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409, "never below what is reserved");
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["error"]["code"], "stock_below_reserved");
    assert_eq!(e["error"]["details"][0]["field"], "delta");
    assert_eq!(
        (
            e["error"]["context"]["reserved"].as_i64(),
            e["error"]["context"]["requested_on_hand"].as_i64()
        ),
        (Some(4), Some(3))
    );
    let missing = app.url(&format!(
        "/api/admin/products/{}/stock",
        uuid::Uuid::now_v7()
    ));
    assert_eq!(
        app.client
            .get(&missing)
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpaid_orders_expire_once_their_window_has_passed_on_the_clock() {
    use std::sync::Arc;

    use emporium::startup;
    use emporium_domain::cart::CartRef;
    use emporium_domain::clock::{Clock, ManualClock, SystemClock};
    use emporium_domain::orders::CheckoutRequest;
    use emporium_domain::shop::Shop;

    let app = TestApp::spawn(Backend::Sqlite).await;
    let admin = app.admin_token().await;
    let p = app.products("lamp", 1).await[0].0.clone();
    // A shop on the same store whose clock the test moves: no sleeping
    // through the payment window.
    let clock = Arc::new(ManualClock::at(SystemClock.now_ms()));
    let mut config = startup::shop_config(&app.config).unwrap();
    config.clock = clock.clone();
    let window = config.payment_window;
    let shop = Shop::new(startup::open_store(&app.config).await.unwrap(), config);
    let (token, _) = shop.carts().create_guest_cart().await.unwrap();
    let who = CartRef::Guest(token);
    shop.carts()
        .add_to_cart(&who, p.parse().unwrap(), 2)
        .await
        .unwrap();
    let placed = shop
        .checkout()
        .checkout(
            &who,
            CheckoutRequest {
                address: serde_json::from_value(address()).unwrap(),
                shipping_method: "standard".into(),
                email: Some("clock@example.com".into()),
                idempotency_key: "clock-1".into(),
                request_hash: shop.fingerprint("clock-1"),
            },
        )
        .await
        .unwrap();
    assert_eq!(stock(&app, &admin, &p).await["reserved"], 2);

    clock.advance(window - std::time::Duration::from_secs(1));
    assert_eq!(
        shop.orders().expire_unpaid().await.unwrap(),
        0,
        "still inside the window"
    );
    clock.advance(std::time::Duration::from_secs(2));
    assert_eq!(shop.orders().expire_unpaid().await.unwrap(), 1);
    let order = app
        .json_as(&format!("/api/orders/{}", placed.order.id), &admin)
        .await;
    assert_eq!(order["status"], "cancelled");
    assert_eq!(order["history"][1]["actor"], "system");
    assert_eq!(stock(&app, &admin, &p).await["reserved"], 0, "released");
}
