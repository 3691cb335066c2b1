//! Split roles as separate processes: `serve --role auth` issues tokens,
//! `serve --role api` accepts them without calling it, and refuses them
//! within a second of a logout (also right after thousands of sessions
//! were revoked in one millisecond). Also the identity chores that run
//! beside live servers: `emporium admin create` and `emporium keys rotate`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{redis_url, RedisPrefix, ServerProcess, TestDatabase};

const PASSWORD: &str = "correct horse battery";

async fn post(
    client: &reqwest::Client,
    url: String,
    body: Value,
    token: Option<&str>,
) -> reqwest::Response {
    let mut req = client.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

async fn status_as(client: &reqwest::Client, url: String, token: &str) -> u16 {
    client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Polls until `url` refuses `token`; returns how long that took.
async fn refused_after(client: &reqwest::Client, url: String, token: &str) -> Duration {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        if status_as(client, url.clone(), token).await == 401 {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the token was still accepted 5 s after logout");
}

fn kid(token: &str) -> String {
    use base64::Engine;
    let header = token.split('.').next().unwrap();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    serde_json::from_slice::<Value>(&raw).unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn emporium(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> std::process::Output {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_emporium"));
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env_remove("EMPORIUM_ADMIN_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_role_accepts_auth_role_tokens_via_jwks_and_refuses_them_after_logout() {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let prefix = RedisPrefix::new();
    let redis = redis_url();
    let shared = [
        ("DATABASE_URL", db.url.as_str()),
        ("REDIS_URL", redis.as_str()),
        ("EMPORIUM_CACHE__KEY_PREFIX", prefix.0.as_str()),
        ("EMPORIUM_AUTH__KEY_RELOAD_SECS", "1"),
    ];
    let auth = ServerProcess::start("auth", dir.path(), &shared);
    let jwks = auth.url("/.well-known/jwks.json");
    let mut api_env = shared.to_vec();
    api_env.push(("EMPORIUM_AUTH__JWKS_URL", jwks.as_str()));
    let api = ServerProcess::start("api", dir.path(), &api_env);
    let client = reqwest::Client::new();

    // Each role serves its own part.
    assert_eq!(
        client
            .get(auth.url("/api/products"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        client
            .get(api.url("/api/products"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let res = post(&client, api.url("/api/auth/login"), json!({}), None).await;
    assert_eq!(res.status(), 404, "the api role has no login");

    let res = post(
        &client,
        auth.url("/api/auth/register"),
        json!({"email": "split@example.com", "password": PASSWORD, "name": "S"}),
        None,
    )
    .await;
    assert_eq!(res.status(), 201);
    let session: Value = res.json().await.unwrap();
    let token = session["token"].as_str().unwrap().to_owned();
    let res = client
        .get(api.url("/api/session"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap()["user_id"],
        session["user"]["id"]
    );

    // A rotated key: the auth role signs with it within its reload interval,
    // the api role fetches it on the first unknown kid, and tokens signed
    // with the old key keep working.
    let out = emporium(
        &["keys", "rotate"],
        &[("DATABASE_URL", db.url.as_str())],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let started = Instant::now();
    let fresh = loop {
        let res = post(
            &client,
            auth.url("/api/auth/login"),
            json!({"email": "split@example.com", "password": PASSWORD}),
            None,
        )
        .await;
        let t = res.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        if kid(&t) != kid(&token) {
            break t;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the auth role never picked up the new key"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        status_as(&client, api.url("/api/session"), &fresh).await,
        200
    );
    assert_eq!(
        status_as(&client, api.url("/api/session"), &token).await,
        200
    );
    let keys: Value = client
        .get(jwks.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        keys["keys"].as_array().unwrap().len(),
        2,
        "old and new key published"
    );

    let res = post(
        &client,
        auth.url("/api/auth/logout"),
        json!({}),
        Some(&token),
    )
    .await;
    assert_eq!(res.status(), 204);
    let took = refused_after(&client, api.url("/api/session"), &token).await;
    assert!(took < Duration::from_secs(1), "refused after {took:?}");
    assert_eq!(
        status_as(&client, api.url("/api/session"), &fresh).await,
        200,
        "other sessions live on"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_the_api_role_learns_of_logouts_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let auth = ServerProcess::start("auth", dir.path(), &[]);
    let api = ServerProcess::start("api", dir.path(), &[]);
    let client = reqwest::Client::new();

    let res = post(
        &client,
        auth.url("/api/auth/register"),
        json!({"email": "cust@example.com", "password": PASSWORD, "name": "C"}),
        None,
    )
    .await;
    let customer: Value = res.json().await.unwrap();
    let token = customer["token"].as_str().unwrap();
    assert_eq!(
        status_as(&client, api.url("/api/session"), token).await,
        200
    );

    // `admin create` beside the running servers: the password never a flag.
    let out = emporium(
        &[
            "admin",
            "create",
            "--email",
            "boss@example.com",
            "--name",
            "Boss",
            "--data-dir",
            data,
        ],
        &[("EMPORIUM_ADMIN_PASSWORD", "a boss's long secret")],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = emporium(
        &[
            "admin",
            "create",
            "--email",
            "deputy@example.com",
            "--name",
            "Deputy",
            "--data-dir",
            data,
        ],
        &[],
        Some("the deputy's secret\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = emporium(
        &[
            "admin",
            "create",
            "--email",
            "weak@example.com",
            "--name",
            "Weak",
            "--data-dir",
            data,
        ],
        &[],
        Some("password1234\n"),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("too common"));
    let out = emporium(
        &[
            "admin",
            "create",
            "--email",
            "boss@example.com",
            "--name",
            "Again",
            "--data-dir",
            data,
        ],
        &[("EMPORIUM_ADMIN_PASSWORD", "another long secret")],
        None,
    );
    assert!(!out.status.success(), "the email is taken");

    let res = post(
        &client,
        auth.url("/api/auth/login"),
        json!({"email": "deputy@example.com", "password": "the deputy's secret"}),
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    let res = post(
        &client,
        auth.url("/api/auth/login"),
        json!({"email": "boss@example.com", "password": "a boss's long secret"}),
        None,
    )
    .await;
    let admin: Value = res.json().await.unwrap();
    let admin_token = admin["token"].as_str().unwrap();
    let user_url = auth.url(&format!(
        "/api/admin/users/{}",
        customer["user"]["id"].as_str().unwrap()
    ));
    let res = client
        .get(user_url.clone())
        .bearer_auth(admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let account: Value = res.json().await.unwrap();
    assert_eq!(
        (account["email"].as_str(), account["role"].as_str()),
        (Some("cust@example.com"), Some("customer"))
    );
    let res = client
        .get(user_url.clone())
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "forbidden"
    );
    assert_eq!(client.get(user_url).send().await.unwrap().status(), 401);
    let missing = auth.url(&format!("/api/admin/users/{}", uuid::Uuid::now_v7()));
    assert_eq!(status_as(&client, missing, admin_token).await, 404);
    assert_eq!(
        status_as(
            &client,
            auth.url("/api/admin/users/not-a-uuid"),
            admin_token
        )
        .await,
        400
    );

    let res = post(
        &client,
        auth.url("/api/auth/logout"),
        json!({}),
        Some(token),
    )
    .await;
    assert_eq!(res.status(), 204);
    let took = refused_after(&client, api.url("/api/session"), token).await;
    assert!(took < Duration::from_secs(1), "refused after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_right_after_thousands_of_revocations_in_one_millisecond_reaches_the_api_role() {
    use emporium_domain::identity::NewSession;
    use emporium_domain::ports::IdentityStore;
    use futures::StreamExt;

    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    // No Redis: the api role learns of logouts only from the store.
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("EMPORIUM_AUTH__REVOCATION_POLL_MS", "100"),
    ];
    let auth = ServerProcess::start("auth", dir.path(), &env);
    let api = ServerProcess::start("api", dir.path(), &env);
    let client = reqwest::Client::new();
    let register = |email: &'static str| {
        let (client, url) = (client.clone(), auth.url("/api/auth/register"));
        async move {
            let res = post(
                &client,
                url,
                json!({"email": email, "password": PASSWORD, "name": "R"}),
                None,
            )
            .await;
            assert_eq!(res.status(), 201);
            res.json::<Value>().await.unwrap()
        }
    };
    let victim = register("victim@example.com").await;
    let victim_token = victim["token"].as_str().unwrap();
    let busy = register("busy@example.com").await;
    assert_eq!(
        status_as(&client, api.url("/api/session"), victim_token).await,
        200
    );

    // 5,000 more sessions of one account (as many sign-ins would leave)…
    let store = emporium_store::Store::connect_postgres(&db.url, 8)
        .await
        .unwrap();
    let user_id: uuid::Uuid = busy["user"]["id"].as_str().unwrap().parse().unwrap();
    let now = emporium_auth::now_ms();
    futures::stream::iter(0..5_000)
        .for_each_concurrent(8, |_| {
            let store = store.clone();
            async move {
                let id = uuid::Uuid::now_v7();
                store
                    .create_session(&NewSession {
                        id,
                        user_id,
                        refresh_hash: id.to_string(),
                        created_at: now,
                        expires_at: now + 86_400_000,
                    })
                    .await
                    .unwrap();
            }
        })
        .await;
    store.close().await;
    // …all revoked in one millisecond by a password change.
    let res = client
        .patch(auth.url("/api/auth/me"))
        .bearer_auth(busy["token"].as_str().unwrap())
        .json(&json!({"current_password": PASSWORD, "new_password": "a brand new long secret"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // Then another account signs out: the api role refuses its token soon.
    let res = post(
        &client,
        auth.url("/api/auth/logout"),
        json!({}),
        Some(victim_token),
    )
    .await;
    assert_eq!(res.status(), 204);
    let took = refused_after(&client, api.url("/api/session"), victim_token).await;
    assert!(took < Duration::from_secs(2), "refused after {took:?}");
}
