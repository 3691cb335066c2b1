//! Throttling over real HTTP: failed sign-ins per account and per
//! address, registrations per address, the general API limit per user and
//! per address with its headers, and all of it when Redis goes down.

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
            .post(
                "/api/auth/login",
                &json!({"email": "target@example.com", "password": "guess guess guess"}),
                None,
            )
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
    let res = app
        .post(
            "/api/auth/login",
            &json!({"email": "target@example.com", "password": PASSWORD}),
            None,
        )
        .await;
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
            .post(
                "/api/auth/login",
                &json!({"email": format!("u{i}@example.com"), "password": "guess guess guess"}),
                None,
            )
            .await;
        assert_eq!(res.status(), 401);
    }
    let res = app
        .post(
            "/api/auth/login",
            &json!({"email": "u9@example.com", "password": "guess guess guess"}),
            None,
        )
        .await;
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
            .post(
                "/api/auth/login",
                &json!({"email": "resilient@example.com", "password": "guess guess guess"}),
                None,
            )
            .await;
        statuses.push(res.status().as_u16());
    }
    assert!(
        statuses.iter().all(|s| [401, 429].contains(s)),
        "{statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
}
