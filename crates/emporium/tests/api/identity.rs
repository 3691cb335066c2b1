//! Accounts, sign-in, tokens and sessions over real HTTP: the login
//! contract, bad input, forged and stale tokens, refresh rotation with
//! reuse detection, logout, password change, roles.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use emporium::startup;
use emporium_domain::ports::IdentityStore;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::on_every_backend;
use crate::support::{Backend, TestApp};

const PASSWORD: &str = "correct horse battery";

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

on_every_backend!(
    register_and_login_follow_the_contract,
    refresh_rotates_and_reuse_ends_the_session,
    logout_stops_the_access_token_at_once,
    concurrent_refreshes_have_exactly_one_winner,
    password_change_ends_other_sessions,
);

async fn register_and_login_follow_the_contract(app: TestApp) {
    let reg = app.register("Ann.Example@Example.com ", PASSWORD).await;
    let login = app.login("ann.example@example.com", PASSWORD).await;
    for body in [&reg, &login] {
        assert_eq!(
            keys(body),
            ["expires_in", "refresh_token", "token", "token_type", "user"]
        );
        assert_eq!(keys(&body["user"]), ["email", "id", "name"]);
        assert_eq!(body["user"]["email"], "ann.example@example.com");
        assert_eq!(body["user"]["name"], "Test User");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 900);
        assert!(body["token"].as_str().unwrap().starts_with("eyJ"));
    }
    assert_eq!(reg["user"]["id"], login["user"]["id"]);
    // The access token says what the issue promises.
    let token = login["token"].as_str().unwrap();
    let (header, payload) = decode_unverified(token);
    assert_eq!(header["alg"], "EdDSA");
    assert!(header["kid"].is_string());
    for claim in ["iss", "aud", "sub", "role", "sid", "iat", "exp"] {
        assert!(!payload[claim].is_null(), "claim {claim} missing");
    }
    assert_eq!(
        payload["exp"].as_i64().unwrap() - payload["iat"].as_i64().unwrap(),
        900
    );
    assert_eq!(payload["role"], "customer");
    let me = app.get_as("/api/auth/me", token).await;
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["email"], "ann.example@example.com");
    assert_eq!(me["role"], "customer");
    // The JWKS publishes the key the token names.
    let jwks = app.json("/.well-known/jwks.json", 200).await;
    assert!(jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["kid"] == header["kid"]));
    assert!(
        jwks.to_string().find("\"d\"").is_none(),
        "no private key material"
    );
}

async fn refresh_rotates_and_reuse_ends_the_session(app: TestApp) {
    let first = app.register("rot@example.com", PASSWORD).await;
    let r1 = first["refresh_token"].as_str().unwrap();
    let res = app
        .post("/api/auth/refresh", &json!({"refresh_token": r1}), None)
        .await;
    assert_eq!(res.status(), 200);
    let second: Value = res.json().await.unwrap();
    let r2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(r1, r2);
    let access2 = second["token"].as_str().unwrap();
    assert_eq!(app.get_as("/api/auth/me", access2).await.status(), 200);

    // The old token again: reuse. The whole session ends, including the
    // tokens that descended from it.
    let res = app
        .post("/api/auth/refresh", &json!({"refresh_token": r1}), None)
        .await;
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "refresh_token_reused");
    let res = app
        .post("/api/auth/refresh", &json!({"refresh_token": r2}), None)
        .await;
    assert_eq!(res.status(), 401);
    let res = app.get_as("/api/auth/me", access2).await;
    assert_eq!(res.status(), 401);
    // Another session of the same account is untouched.
    let other = app.login("rot@example.com", PASSWORD).await;
    assert_eq!(
        app.get_as("/api/auth/me", other["token"].as_str().unwrap())
            .await
            .status(),
        200
    );

    for bad in [
        json!({"refresh_token": "nope"}),
        json!({"refresh_token": "x".repeat(5000)}),
        json!({"refresh_token": 5}),
        json!({}),
    ] {
        let res = app.post("/api/auth/refresh", &bad, None).await;
        assert!(
            [400, 401].contains(&res.status().as_u16()),
            "{bad}: {}",
            res.status()
        );
    }
}

async fn logout_stops_the_access_token_at_once(app: TestApp) {
    let s = app.register("bye@example.com", PASSWORD).await;
    let token = s["token"].as_str().unwrap();
    assert_eq!(app.get_as("/api/session", token).await.status(), 200);
    let res = app.post("/api/auth/logout", &json!({}), Some(token)).await;
    assert_eq!(res.status(), 204);
    for path in ["/api/session", "/api/auth/me"] {
        let res = app.get_as(path, token).await;
        assert_eq!(res.status(), 401, "{path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_token");
        assert_eq!(body["error"]["message"], "the token's session has ended");
    }
    let res = app
        .post(
            "/api/auth/refresh",
            &json!({"refresh_token": s["refresh_token"]}),
            None,
        )
        .await;
    assert_eq!(
        res.status(),
        401,
        "the session's refresh token ends with it"
    );
    let res = app.post("/api/auth/logout", &json!({}), None).await;
    assert_eq!(res.status(), 401);
}

async fn concurrent_refreshes_have_exactly_one_winner(app: TestApp) {
    let s = app.register("race@example.com", PASSWORD).await;
    let token = s["refresh_token"].as_str().unwrap().to_owned();
    let url = app.url("/api/auth/refresh");
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(20));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (client, url, token, barrier) = (
                app.client.clone(),
                url.clone(),
                token.clone(),
                barrier.clone(),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                let res = client
                    .post(url)
                    .json(&json!({"refresh_token": token}))
                    .send()
                    .await
                    .unwrap();
                res.status().as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        19,
        "{statuses:?}"
    );
}

async fn password_change_ends_other_sessions(app: TestApp) {
    let a = app.register("pw@example.com", PASSWORD).await;
    let b = app.login("pw@example.com", PASSWORD).await;
    let (ta, tb) = (a["token"].as_str().unwrap(), b["token"].as_str().unwrap());
    let patch = |body: Value, token: &str| {
        app.client
            .patch(app.url("/api/auth/me"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let res = patch(json!({"name": "  Renamed  "}), ta).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["name"], "Renamed");
    let res = patch(
        json!({"current_password": "wrong password!", "new_password": "a brand new secret"}),
        ta,
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["details"][0]["field"], "current_password");
    let res = patch(json!({"new_password": "a brand new secret"}), ta)
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = patch(
        json!({"current_password": PASSWORD, "new_password": "1234567890"}),
        ta,
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 400, "the policy applies to new passwords");
    let res = patch(
        json!({"current_password": PASSWORD, "new_password": "a brand new secret"}),
        ta,
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        app.get_as("/api/auth/me", ta).await.status(),
        200,
        "this session stays"
    );
    assert_eq!(
        app.get_as("/api/auth/me", tb).await.status(),
        401,
        "others end"
    );
    let res = app
        .post(
            "/api/auth/refresh",
            &json!({"refresh_token": b["refresh_token"]}),
            None,
        )
        .await;
    assert_eq!(res.status(), 401);
    let res = app.try_login("pw@example.com", PASSWORD).await;
    assert_eq!(res.status(), 401);
    app.login("pw@example.com", "a brand new secret").await;
}

fn decode_unverified(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let mut part =
        || serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap();
    (part(), part())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_registrations_and_logins_get_clear_400s() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let cases = [
        ("/api/auth/register", "{\"email\":", "body"),
        ("/api/auth/register", "{\"email\":\"a@example.com\",\"name\":\"A\"}", "body"),
        ("/api/auth/register", "{\"email\":\"a@example.com\",\"password\":12345678901,\"name\":\"A\"}", "body"),
        ("/api/auth/register", "{\"email\":\"no-at-sign.example.com\",\"password\":\"correct horse battery\",\"name\":\"A\"}", "email"),
        ("/api/auth/register", "{\"email\":\"a@example.com\",\"password\":\"short\",\"name\":\"A\"}", "password"),
        ("/api/auth/register", "{\"email\":\"a@example.com\",\"password\":\"password1234\",\"name\":\"A\"}", "password"),
        ("/api/auth/register", "{\"email\":\"a@example.com\",\"password\":\"correct horse battery\",\"name\":\"\"}", "name"),
        ("/api/auth/register", "{\"email\":\"a@example.com\",\"password\":\"correct horse battery\",\"name\":\"A\",\"role\":\"admin\"}", "body"),
        ("/api/auth/register", "[]", "body"),
        ("/api/auth/login", "{\"email\":\"a@example.com\"}", "body"),
        ("/api/auth/login", "{\"email\":[],\"password\":\"x\"}", "body"),
        ("/api/auth/login", "{\"email\":\"a@example.com\",\"password\":\"\"}", "password"),
        ("/api/auth/login", "not json", "body"),
    ];
    for (path, body, field) in cases {
        let res = app
            .client
            .post(app.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{path} {body}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["error"]["code"], "validation_failed", "{body}");
        assert_eq!(v["error"]["details"][0]["field"], field, "{body}: {v}");
    }
    // A 10 kB password is refused before it is hashed, at both doors.
    let huge = "p".repeat(10_000);
    for path in ["/api/auth/register", "/api/auth/login"] {
        let started = Instant::now();
        let res = app
            .post(
                path,
                &json!({"email": "big@example.com", "password": huge, "name": "B"}),
                None,
            )
            .await;
        assert_eq!(res.status(), 400, "{path}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    let res = app
        .client
        .post(app.url("/api/auth/login"))
        .body("{\"email\":\"a@example.com\",\"password\":\"x\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415, "JSON needs its content type");
    let res = app.try_login("a@example.com", &"x".repeat(70_000)).await;
    assert_eq!(res.status(), 413);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "payload_too_large"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookalike_emails_are_one_account() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.register("alice@example.com", PASSWORD).await;
    for twin in [
        "ALICE@example.com",
        "\u{FF41}lice@example.com",
        " alice@EXAMPLE.com\t",
        "alice@example\u{FF0E}com",
    ] {
        let res = app
            .post(
                "/api/auth/register",
                &json!({"email": twin, "password": PASSWORD, "name": "Eve"}),
                None,
            )
            .await;
        assert_eq!(res.status(), 409, "{twin:?}");
        assert_eq!(
            res.json::<Value>().await.unwrap()["error"]["code"],
            "email_taken"
        );
        let login = app.login(twin, PASSWORD).await;
        assert_eq!(login["user"]["email"], "alice@example.com");
    }
    // Homoglyphs from other scripts are not silently folded into the account: refused.
    for spoof in ["\u{0430}lice@example.com", "alice\u{200B}@example.com"] {
        let res = app
            .post(
                "/api/auth/register",
                &json!({"email": spoof, "password": PASSWORD, "name": "Eve"}),
                None,
            )
            .await;
        assert_eq!(res.status(), 400, "{spoof:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_email_and_wrong_password_look_the_same() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.register("known@example.com", PASSWORD).await;
    let app = &app;
    let attempt = |email: &'static str| async move {
        let started = Instant::now();
        let res = app.try_login(email, "not the password").await;
        let status = res.status();
        let mut body: Value = res.json().await.unwrap();
        body["error"]["request_id"] = Value::Null;
        (status, body, started.elapsed())
    };
    let mut known_time = Duration::ZERO;
    let mut unknown_time = Duration::ZERO;
    for _ in 0..3 {
        let (s1, b1, t1) = attempt("known@example.com").await;
        let (s2, b2, t2) = attempt("nobody@example.com").await;
        assert_eq!((s1.as_u16(), s2.as_u16()), (401, 401));
        assert_eq!(b1, b2, "one answer for both");
        known_time += t1;
        unknown_time += t2;
    }
    // An unknown email still costs a full password hash.
    let ratio = unknown_time.as_secs_f64() / known_time.as_secs_f64();
    assert!(
        (0.5..2.0).contains(&ratio),
        "unknown/known time ratio {ratio:.2}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_stale_tokens_are_refused() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let s = app.register("victim@example.com", PASSWORD).await;
    let good = s["token"].as_str().unwrap();
    let (header, payload) = decode_unverified(good);
    let store = startup::open_store(&app.config).await.unwrap();
    let key = store.signing_keys().await.unwrap().pop().unwrap();
    store.close().await;
    let sign = |claims: &Value, kid: &str| {
        let mut h = Header::new(Algorithm::EdDSA);
        h.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&h, claims, &EncodingKey::from_ed_der(&key.private_der)).unwrap()
    };
    let kid = header["kid"].as_str().unwrap();
    let now = payload["iat"].as_i64().unwrap();
    let with = |field: &str, value: Value| {
        let mut p = payload.clone();
        p[field] = value;
        p
    };
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let parts: Vec<&str> = good.split('.').collect();
    let admin_payload = with("role", json!("admin"));
    let hs256 = {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(kid.to_owned());
        jsonwebtoken::encode(
            &h,
            &admin_payload,
            &EncodingKey::from_secret(&key.public_key),
        )
        .unwrap()
    };
    let forged = [
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "typ": "JWT", "kid": kid})),
                b64(&admin_payload)
            ),
        ),
        ("HS256 with the public key", hs256),
        (
            "tampered payload",
            format!("{}.{}.{}", parts[0], b64(&admin_payload), parts[2]),
        ),
        (
            "wrong audience",
            sign(&with("aud", json!("someone-else")), kid),
        ),
        ("wrong issuer", sign(&with("iss", json!("evil")), kid)),
        ("expired", sign(&with("exp", json!(now - 120)), kid)),
        ("unknown kid", sign(&payload, "no-such-key")),
        ("not a JWT", "garbage".to_owned()),
        ("empty signature", format!("{}.{}.", parts[0], parts[1])),
    ];
    for (what, token) in forged {
        for path in ["/api/auth/me", "/api/session"] {
            let res = app.get_as(path, &token).await;
            assert_eq!(res.status(), 401, "{what} on {path}");
            assert!(res.headers().contains_key("www-authenticate"));
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["error"]["code"], "invalid_token", "{what}");
        }
    }
    // The genuine token, re-signed with the genuine key, still works: the
    // refusals above are about what was forged.
    assert_eq!(
        app.get_as("/api/session", &sign(&payload, kid))
            .await
            .status(),
        200
    );
    let res = app
        .client
        .get(app.url("/api/session"))
        .header("authorization", "Basic dTpw")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = app.get("/api/session").await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "unauthenticated"
    );
}
