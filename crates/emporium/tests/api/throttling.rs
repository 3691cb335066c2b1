//! Throttling over real HTTP: sign-in attempts per account and address,
//! per account and per address (also under a concurrent burst, and from
//! other addresses than the owner's), registrations per address, the
//! general API limit per user and per address with its headers, guest
//! carts per address, checkouts per address and per account, unpaid
//! orders per account, IPv4 clients of a dual-stack listener counted one
//! by one, and all of it when Redis goes down.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use emporium::config::PaymentMode;
use serde_json::{json, Value};

use crate::support::{Backend, TestApp};

const PASSWORD: &str = "correct horse battery";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_wrong_passwords_are_throttled_with_retry_after() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.register("target@example.com", PASSWORD).await;
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let res = app
            .try_login("target@example.com", "guess guess guess")
            .await;
        let status = res.status().as_u16();
        if status == 429 {
            let retry: u64 = res.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=900).contains(&retry), "Retry-After {retry}");
            assert_eq!(
                res.json::<Value>().await.unwrap()["error"]["code"],
                "rate_limited"
            );
        }
        statuses.push(status);
    }
    assert_eq!(&statuses[..5], &[401; 5]);
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    // Locked for the window, even with the right password…
    let res = app.try_login("target@example.com", PASSWORD).await;
    assert_eq!(res.status(), 429);
    // …while other accounts from the same address are not (per-address failures: 20).
    app.register("bystander@example.com", PASSWORD).await;
    app.login("bystander@example.com", PASSWORD).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_per_address_and_registrations_are_limited() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.limits.login_failures_per_ip = 3;
        c.limits.registrations_per_ip = 2;
    })
    .await;
    for i in 0..3 {
        let res = app
            .try_login(&format!("u{i}@example.com"), "guess guess guess")
            .await;
        assert_eq!(res.status(), 401);
    }
    let res = app.try_login("u9@example.com", "guess guess guess").await;
    assert_eq!(res.status(), 429, "the address has used up its failures");
    assert!(res.headers().contains_key("retry-after"));
    app.register("r1@example.com", PASSWORD).await;
    app.register("r2@example.com", PASSWORD).await;
    let res = app
        .post(
            "/api/auth/register",
            &json!({"email": "r3@example.com", "password": PASSWORD, "name": "R"}),
            None,
        )
        .await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_is_rate_limited_per_address_and_per_user() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.limits.api_requests_per_ip = 5;
        c.limits.api_requests_per_user = 3;
    })
    .await;
    // One request from the address: the registration.
    let token = app.register("rl@example.com", PASSWORD).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    // A signed-in user counts against their own budget…
    for i in 0..3 {
        let res = app.get_as("/api/categories", &token).await;
        assert_eq!(res.status(), 200, "user request {i}");
        assert_eq!(res.headers()["ratelimit-limit"], "3");
        assert_eq!(
            res.headers()["ratelimit-remaining"],
            (2 - i).to_string().as_str()
        );
    }
    let res = app.get_as("/api/categories", &token).await;
    assert_eq!(res.status(), 429);
    // …not the address's, which has 4 of its 5 left.
    for i in 0..4 {
        let res = app.get("/api/categories").await;
        assert_eq!(res.status(), 200, "anonymous request {i}");
        assert_eq!(res.headers()["ratelimit-limit"], "5");
        assert_eq!(
            res.headers()["ratelimit-remaining"],
            (3 - i).to_string().as_str()
        );
    }
    let res = app.get("/api/categories").await;
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(res.headers()["ratelimit-remaining"], "0");
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "rate_limited"
    );
    // Health checks are never limited.
    assert_eq!(app.get("/health/live").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_limits_and_logout_survive_redis_going_down() {
    let mut redis = crate::support::PrivateRedis::start().await;
    let url = redis.url.clone();
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.cache.backend = "redis".into();
        c.cache.redis_url = Some(secrecy::SecretString::from(url));
    })
    .await;
    let before = app.register("resilient@example.com", PASSWORD).await;
    redis.kill();
    // Sign-in, tokens and logout keep working on the in-process fallbacks.
    let s = app.login("resilient@example.com", PASSWORD).await;
    let token = s["token"].as_str().unwrap();
    assert_eq!(app.get_as("/api/auth/me", token).await.status(), 200);
    assert_eq!(
        app.post("/api/auth/logout", &json!({}), Some(token))
            .await
            .status(),
        204
    );
    assert_eq!(app.get_as("/api/auth/me", token).await.status(), 401);
    assert_eq!(
        app.get_as("/api/auth/me", before["token"].as_str().unwrap())
            .await
            .status(),
        200
    );
    // Throttling still holds, counted in-process.
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let res = app
            .try_login("resilient@example.com", "guess guess guess")
            .await;
        statuses.push(res.status().as_u16());
    }
    assert!(
        statuses.iter().all(|s| [401, 429].contains(s)),
        "{statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
}

/// A request from `ip` (the shop trusts `X-Forwarded-For` in these tests).
fn from(
    app: &TestApp,
    ip: &str,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    cart: Option<&str>,
) -> reqwest::RequestBuilder {
    app.request(method, path, token, cart)
        .header("x-forwarded-for", ip)
}

/// Creates a guest cart from `ip`.
async fn cart_from(app: &TestApp, ip: &str) -> reqwest::Response {
    from(app, ip, reqwest::Method::POST, "/api/carts", None, None)
        .send()
        .await
        .unwrap()
}

/// Puts one unit of `product` in a cart (a guest's, or the user's) and
/// checks out from `ip` with a fresh key.
async fn checkout_from(
    app: &TestApp,
    ip: &str,
    token: Option<&str>,
    product: &str,
    key: &str,
) -> reqwest::Response {
    let cart = match token {
        Some(_) => None,
        None => {
            // Each cart from an address of its own: carts are limited too.
            let n = key.bytes().map(u32::from).sum::<u32>() % 250;
            let res = cart_from(app, &format!("198.51.100.{n}")).await;
            assert_eq!(res.status(), 201);
            let body: Value = res.json().await.unwrap();
            Some(body["cart_token"].as_str().unwrap().to_owned())
        }
    };
    let cart = cart.as_deref();
    let res = app
        .request(reqwest::Method::POST, "/api/cart/items", token, cart)
        .json(&json!({"product_id": product, "quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    from(app, ip, reqwest::Method::POST, "/api/checkout", token, cart)
        .header("idempotency-key", key)
        .json(&json!({
            "address": crate::shop::address(), "shipping_method": "standard",
            "email": "hoarder@example.com"
        }))
        .send()
        .await
        .unwrap()
}

/// Asserts a 429 from the shop's own limits, with `Retry-After` within
/// the window and the one error shape.
async fn assert_limited(res: reqwest::Response, window_secs: u64) {
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=window_secs).contains(&retry), "Retry-After {retry}");
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["error"]["code"], "rate_limited");
    assert!(e["error"]["request_id"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_carts_and_checkouts_are_limited_per_address_and_per_account() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.server.trust_forwarded_for = true;
        c.limits.carts_per_ip = 3;
        c.limits.checkouts_per_ip = 3;
        c.limits.checkouts_per_user = 2;
    })
    .await;
    let (product, _) = app.products("samsung", 1).await.remove(0);

    // Guest carts: three from one address, then 429; another address is unaffected.
    for i in 0..3 {
        assert_eq!(
            cart_from(&app, "203.0.113.1").await.status(),
            201,
            "cart {i}"
        );
    }
    assert_limited(cart_from(&app, "203.0.113.1").await, 3600).await;
    assert_eq!(cart_from(&app, "203.0.113.2").await.status(), 201);

    // Guest checkouts: three orders from one address, then 429 and no order.
    for i in 0..3 {
        let res = checkout_from(&app, "203.0.113.10", None, &product, &format!("g{i}")).await;
        assert_eq!(res.status(), 201, "checkout {i}");
    }
    let before = stock_reserved(&app, &product).await;
    let res = checkout_from(&app, "203.0.113.10", None, &product, "g3").await;
    assert_limited(res, 900).await;
    assert_eq!(
        stock_reserved(&app, &product).await,
        before,
        "a refused checkout reserves nothing"
    );
    let res = checkout_from(&app, "203.0.113.11", None, &product, "g4").await;
    assert_eq!(res.status(), 201, "another address is unaffected");

    // An account: two checkouts wherever they come from, then 429 from a
    // fresh address too.
    let token = app.register("hoarder@example.com", PASSWORD).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    for (i, ip) in ["203.0.113.20", "203.0.113.21"].iter().enumerate() {
        let res = checkout_from(&app, ip, Some(&token), &product, &format!("u{i}")).await;
        assert_eq!(res.status(), 201, "user checkout {i}");
    }
    let res = checkout_from(&app, "203.0.113.22", Some(&token), &product, "u2").await;
    assert_limited(res, 900).await;
    // Another account at that address is unaffected.
    let other = app.register("shopper@example.com", PASSWORD).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = checkout_from(&app, "203.0.113.22", Some(&other), &product, "o1").await;
    assert_eq!(res.status(), 201);
}

/// Units of `product` reserved by unpaid orders.
async fn stock_reserved(app: &TestApp, product: &str) -> i64 {
    let admin = app.admin_token().await;
    let s: Value = app
        .get_as(&format!("/api/admin/products/{product}/stock"), &admin)
        .await
        .json()
        .await
        .unwrap();
    s["reserved"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_holds_at_most_three_unpaid_orders() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    assert_eq!(app.config.shop.max_unpaid_orders_per_user, 3, "the default");
    let (product, _) = app.products("samsung", 1).await.remove(0);
    let token = app.register("unpaid@example.com", PASSWORD).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut orders = Vec::new();
    for i in 0..3 {
        let res = checkout_from(&app, "127.0.0.1", Some(&token), &product, &format!("k{i}")).await;
        assert_eq!(res.status(), 201);
        orders.push(res.json::<Value>().await.unwrap()["order"]["id"].clone());
    }
    let res = checkout_from(&app, "127.0.0.1", Some(&token), &product, "k3").await;
    assert_eq!(res.status(), 409);
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["error"]["code"], "too_many_unpaid_orders");
    assert_eq!(e["error"]["context"]["max"], 3);
    // A retry of an order already placed is still answered.
    let res = from(&app, "127.0.0.1", reqwest::Method::POST, "/api/checkout", Some(&token), None)
        .header("idempotency-key", "k0")
        .json(&json!({"address": crate::shop::address(), "shipping_method": "standard", "email": "hoarder@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    // Cancelling one makes room.
    let cancel = format!("/api/orders/{}/cancel", orders[0].as_str().unwrap());
    assert_eq!(
        app.post(&cancel, &json!({}), Some(&token)).await.status(),
        200
    );
    let res = checkout_from(&app, "127.0.0.1", Some(&token), &product, "k4").await;
    assert_eq!(res.status(), 201);
}

/// A wrong-password sign-in as `email`, from the address `from` (sent as
/// `X-Forwarded-For`, which the app trusts in these tests); the status.
async fn wrong_login_from(app: &TestApp, email: &str, from: &str) -> u16 {
    login_from(app, email, "guess guess guess", from).await
}

async fn login_from(app: &TestApp, email: &str, password: &str, from: &str) -> u16 {
    app.client
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", from)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_burst_gets_no_more_guesses_evaluated_than_the_limit() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.limits.login_failures_per_ip = 5;
    })
    .await;
    // 40 wrong passwords at once from one address, each at another account
    // (so only the per-address limit applies).
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let (client, url) = (app.client.clone(), app.url("/api/auth/login"));
            tokio::spawn(async move {
                client
                    .post(url)
                    .json(&json!({"email": format!("burst{i}@example.com"), "password": "guess guess guess"}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let evaluated = statuses.iter().filter(|s| **s == 401).count();
    assert!(
        statuses.iter().all(|s| [401, 429].contains(s)),
        "{statuses:?}"
    );
    assert!(
        (1..=5).contains(&evaluated),
        "{evaluated} passwords checked with a limit of 5: {statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_from_other_addresses_do_not_lock_the_owner_out() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.server.trust_forwarded_for = true;
        c.limits.login_attempts_per_account_and_ip = 5;
        c.limits.login_attempts_per_account = 10;
    })
    .await;
    app.register("owner@example.com", PASSWORD).await;
    let (owner, attacker, second, third) = (
        "198.51.100.7",
        "203.0.113.9",
        "203.0.113.10",
        "203.0.113.11",
    );
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(wrong_login_from(&app, "owner@example.com", attacker).await);
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);
    assert_eq!(
        login_from(&app, "owner@example.com", PASSWORD, attacker).await,
        429,
        "the attacker's address is locked out of this account"
    );
    assert_eq!(
        login_from(&app, "owner@example.com", PASSWORD, owner).await,
        200,
        "the owner signs in from their own address"
    );
    // Guessing spread over addresses meets the per-account ceiling (10).
    for _ in 0..5 {
        assert_eq!(
            wrong_login_from(&app, "owner@example.com", second).await,
            401
        );
    }
    assert_eq!(
        wrong_login_from(&app, "owner@example.com", third).await,
        429
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_in_password_change_works_while_sign_in_is_locked() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let session = app.register("locked@example.com", PASSWORD).await;
    let token = session["token"].as_str().unwrap();
    // Someone behind the same address guesses until sign-in is locked.
    for _ in 0..5 {
        let res = app
            .try_login("locked@example.com", "guess guess guess")
            .await;
        assert_eq!(res.status(), 401);
    }
    let res = app.try_login("locked@example.com", PASSWORD).await;
    assert_eq!(res.status(), 429, "sign-in is locked here");
    // The owner, already signed in, proves the current password and changes it.
    let res = app
        .change_password(token, PASSWORD, "a brand new long secret")
        .await;
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    // A wrong current password is still counted, on its own key.
    for _ in 0..5 {
        let res = app
            .change_password(token, "not the password", "another long secret")
            .await;
        assert_eq!(res.status(), 400);
    }
    let res = app
        .change_password(token, "a brand new long secret", "another long secret")
        .await;
    assert_eq!(
        res.status(),
        429,
        "guessing the current password is limited"
    );
}

/// A listener on `[::]` that takes IPv4 connections too (`IPV6_V6ONLY`
/// off, whatever the system's default), as `--addr [::]:8080` gives on
/// most systems.
fn dual_stack_listener() -> tokio::net::TcpListener {
    let socket = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::STREAM, None).unwrap();
    socket.set_only_v6(false).unwrap();
    socket
        .bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)).into())
        .unwrap();
    socket.listen(128).unwrap();
    socket.set_nonblocking(true).unwrap();
    tokio::net::TcpListener::from_std(socket.into()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv4_clients_of_a_dual_stack_listener_are_limited_one_by_one() {
    let app = TestApp::spawn_on(Backend::Sqlite, dual_stack_listener(), |c| {
        c.limits.login_failures_per_ip = 3;
        c.payments.mode = PaymentMode::Off;
    })
    .await;
    app.register("four@example.com", PASSWORD).await;
    // IPv4 clients arrive as ::ffff:127.0.0.x on this socket.
    let from = |ip: [u8; 4]| {
        reqwest::Client::builder()
            .local_address(IpAddr::from(ip))
            .build()
            .unwrap()
    };
    let url = format!("http://127.0.0.1:{}/api/auth/login", app.addr.port());
    let login = |client: reqwest::Client, email: &'static str, password: &'static str| {
        let url = url.clone();
        async move {
            client
                .post(url)
                .json(&json!({"email": email, "password": password}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let guesser = from([127, 0, 0, 2]);
    for email in ["a@example.com", "b@example.com", "c@example.com"] {
        assert_eq!(
            login(guesser.clone(), email, "guess guess guess").await,
            401
        );
    }
    assert_eq!(
        login(guesser, "d@example.com", "guess guess guess").await,
        429,
        "127.0.0.2 has used up its failures"
    );
    assert_eq!(
        login(from([127, 0, 0, 1]), "four@example.com", PASSWORD).await,
        200,
        "another IPv4 client is not in the same bucket"
    );
}
