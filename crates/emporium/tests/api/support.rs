//! Spawning the app for a test, and a few request helpers.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use emporium::config::Config;
use emporium::{seed, startup};
use emporium_cache::AnyCache;
use emporium_domain::catalog::CatalogService;
use secrecy::SecretString;
use sqlx::Connection;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/small-catalog.jsonl"
);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    /// PostgreSQL with the Redis cache.
    PostgresRedis,
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub config: Config,
    shutdown: Option<oneshot::Sender<()>>,
    pub server: Option<JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
    _db: Option<TestDatabase>,
    _redis_prefix: Option<RedisPrefix>,
}

fn admin_url() -> String {
    std::env::var("EMPORIUM_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A PostgreSQL database of the test's own, dropped with it.
pub struct TestDatabase {
    pub url: String,
    name: String,
}

impl TestDatabase {
    /// Creates a fresh database on the test server.
    pub async fn create() -> TestDatabase {
        let name = format!("emporium_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = sqlx::PgConnection::connect(&admin_url())
            .await
            .expect("PostgreSQL must be running");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        let base = admin_url().rsplit_once('/').unwrap().0.to_owned();
        TestDatabase {
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        block_on_own_runtime(async move {
            if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url()).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await;
            }
        });
    }
}

/// An `emporium serve` child process on a free port, killed on drop.
pub struct ServerProcess {
    child: std::process::Child,
    pub base: String,
    /// The operator address's `/metrics` URL, when `server.metrics_addr` is set.
    pub metrics: Option<String>,
}

impl ServerProcess {
    /// Starts `emporium serve --role <role>` with `env` and waits until it listens.
    pub fn start(role: &str, data_dir: &std::path::Path, env: &[(&str, &str)]) -> ServerProcess {
        ServerProcess::start_logged(role, data_dir, env, None)
    }

    /// As [`ServerProcess::start`], its logs (stderr) written to `log`.
    pub fn start_logged(
        role: &str,
        data_dir: &std::path::Path,
        env: &[(&str, &str)],
        log: Option<&std::path::Path>,
    ) -> ServerProcess {
        use std::io::BufRead;
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_emporium"));
        cmd.args([
            "serve",
            "--role",
            role,
            "--addr",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data_dir)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env("EMPORIUM_STORE__SEED_DEMO_WHEN_EMPTY", "false")
        .env("EMPORIUM_LIMITS__API_REQUESTS_PER_IP", "1000000")
        .env("EMPORIUM_LIMITS__WEB_REQUESTS_PER_IP", "1000000")
        .env("EMPORIUM_LIMITS__REGISTRATIONS_PER_IP", "1000")
        .env("EMPORIUM_LIMITS__CHECKOUTS_PER_IP", "1000000")
        .env("EMPORIUM_LIMITS__CARTS_PER_IP", "1000000")
        // The built-in simulator belongs to a single `all` process.
        .env(
            "EMPORIUM_PAYMENTS__MODE",
            if role == "all" { "simulator" } else { "off" },
        )
        .stdout(std::process::Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        if let Some(log) = log {
            cmd.stderr(std::fs::File::create(log).unwrap());
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = std::io::BufReader::new(stdout).lines();
        let mut metrics = None;
        let base = loop {
            let line = lines
                .next()
                .expect("the server exited before listening")
                .unwrap();
            if let Some(rest) = line.split("Metrics on ").nth(1) {
                metrics = Some(rest.trim().to_owned());
            }
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        ServerProcess {
            child,
            base,
            metrics,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GETs JSON, asserting 200.
    pub async fn json(&self, http: &reqwest::Client, path: &str) -> serde_json::Value {
        let res = http.get(self.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "GET {path}");
        res.json().await.unwrap()
    }

    /// A guest order of one unit of the first product found by `q`:
    /// (order id, order token).
    pub async fn guest_order(&self, http: &reqwest::Client, q: &str) -> (String, String) {
        use serde_json::json;
        let products = self
            .json(http, &format!("/api/products?q={q}&limit=1"))
            .await;
        let product = products["items"][0]["id"].as_str().unwrap().to_owned();
        let cart: serde_json::Value = http
            .post(self.url("/api/carts"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let cart = cart["cart_token"].as_str().unwrap().to_owned();
        let res = http
            .post(self.url("/api/cart/items"))
            .header("x-cart-token", &cart)
            .json(&json!({"product_id": product, "quantity": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let res = http
            .post(self.url("/api/checkout"))
            .header("x-cart-token", &cart)
            .header("idempotency-key", uuid::Uuid::now_v7().to_string())
            .json(&json!({
                "address": crate::shop::address(), "shipping_method": "standard",
                "email": "guest@example.com"
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let placed: serde_json::Value = res.json().await.unwrap();
        (
            placed["order"]["id"].as_str().unwrap().to_owned(),
            placed["order_token"].as_str().unwrap().to_owned(),
        )
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn redis_url() -> String {
    std::env::var("EMPORIUM_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        TestApp::spawn_with(backend, |_| {}).await
    }

    /// Spawns with a configuration adjusted by `tweak` before start.
    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        TestApp::spawn_on(backend, listener, tweak).await
    }

    /// As [`TestApp::spawn_with`], serving on `listener`. A listener on an
    /// unspecified address (`[::]`) is reached through loopback.
    pub async fn spawn_on(
        backend: Backend,
        listener: tokio::net::TcpListener,
        tweak: impl FnOnce(&mut Config),
    ) -> TestApp {
        if std::env::var("TEST_LOG").is_ok() {
            emporium::telemetry::init("text");
        }
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::embedded(dir.path()).unwrap();
        config.store.seed_demo_when_empty = false;
        config.cache.ttl_secs = 60;
        // Every test talks from 127.0.0.1: the general limit and the limits
        // on carts and checkouts are tested on their own.
        config.limits.api_requests_per_ip = 1_000_000;
        config.limits.api_requests_per_user = 1_000_000;
        config.limits.web_requests_per_ip = 1_000_000;
        config.limits.registrations_per_ip = 1_000;
        config.limits.checkouts_per_ip = 1_000_000;
        config.limits.checkouts_per_user = 1_000_000;
        config.limits.carts_per_ip = 1_000_000;
        config.limits.payment_attempts_per_ip = 1_000_000;
        config.limits.payment_attempts_per_user = 1_000_000;
        let mut db = None;
        let mut redis_prefix: Option<RedisPrefix> = None;
        if backend != Backend::Sqlite {
            let created = TestDatabase::create().await;
            config.store.database_url = Some(SecretString::from(created.url.clone()));
            db = Some(created);
        }
        if backend == Backend::PostgresRedis {
            let prefix = RedisPrefix::new();
            config.cache.backend = "redis".into();
            config.cache.redis_url = Some(SecretString::from(redis_url()));
            config.cache.key_prefix = prefix.0.clone();
            redis_prefix = Some(prefix);
        }
        tweak(&mut config);
        seed_file(&config, FIXTURE.into()).await;

        let mut addr = listener.local_addr().unwrap();
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr.ip() {
                std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(startup::run(config.clone(), listener, async move {
            let _ = rx.await;
        }));
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client
                .get(format!("http://{addr}/health/live"))
                .send()
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        TestApp {
            addr,
            client,
            config,
            shutdown: Some(tx),
            server: Some(server),
            _dir: dir,
            _db: db,
            _redis_prefix: redis_prefix,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// GET and parse JSON, asserting the status.
    pub async fn json(&self, path: &str, status: u16) -> serde_json::Value {
        let res = self.get(path).await;
        assert_eq!(res.status().as_u16(), status, "GET {path}");
        res.json().await.unwrap()
    }

    /// POSTs a JSON body, with a bearer token if given.
    pub async fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
        token: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// GETs with a bearer token, asserting 200: the body.
    pub async fn json_as(&self, path: &str, token: &str) -> serde_json::Value {
        let res = self.get_as(path, token).await;
        assert_eq!(res.status().as_u16(), 200, "GET {path}");
        res.json().await.unwrap()
    }

    /// GETs with a bearer token.
    pub async fn get_as(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// Registers an account and returns the login-shaped response body.
    pub async fn register(&self, email: &str, password: &str) -> serde_json::Value {
        let res = self
            .post(
                "/api/auth/register",
                &serde_json::json!({"email": email, "password": password, "name": "Test User"}),
                None,
            )
            .await;
        assert_eq!(res.status().as_u16(), 201, "registering {email}");
        res.json().await.unwrap()
    }

    /// Tries to sign in: the response, whatever it is.
    pub async fn try_login(&self, email: &str, password: &str) -> reqwest::Response {
        self.post(
            "/api/auth/login",
            &serde_json::json!({"email": email, "password": password}),
            None,
        )
        .await
    }

    /// Tries to change the signed-in user's password: the response.
    pub async fn change_password(
        &self,
        token: &str,
        current: &str,
        new: &str,
    ) -> reqwest::Response {
        self.client
            .patch(self.url("/api/auth/me"))
            .bearer_auth(token)
            .json(&serde_json::json!({"current_password": current, "new_password": new}))
            .send()
            .await
            .unwrap()
    }

    /// Signs in and returns the response body, asserting 200.
    pub async fn login(&self, email: &str, password: &str) -> serde_json::Value {
        let res = self.try_login(email, password).await;
        assert_eq!(res.status().as_u16(), 200, "signing in as {email}");
        res.json().await.unwrap()
    }

    /// Creates an administrator directly in the store and signs them in;
    /// returns the access token.
    pub async fn admin_token(&self) -> String {
        let store = startup::open_store(&self.config).await.unwrap();
        let hasher = startup::password_hasher(&self.config).unwrap();
        let email = format!("admin-{}@example.com", uuid::Uuid::now_v7().simple());
        emporium_auth::create_account(
            &store,
            &hasher,
            &email,
            "an admin's long secret",
            "Admin",
            emporium_domain::identity::Role::Admin,
        )
        .await
        .unwrap();
        store.close().await;
        self.login(&email, "an admin's long secret").await["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Products of the fixture catalog: (id, price) of the first `n` found by `q`.
    pub async fn products(&self, q: &str, n: usize) -> Vec<(String, i64)> {
        let page = self
            .json(&format!("/api/products?q={q}&limit={n}"), 200)
            .await;
        let items: Vec<(String, i64)> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["id"].as_str().unwrap().to_owned(),
                    p["price"]["amount"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(items.len(), n, "the fixture has {n} products for {q}");
        items
    }

    /// A request builder with optional bearer token and cart token.
    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        cart: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut r = self.client.request(method, self.url(path));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(c) = cart {
            r = r.header("x-cart-token", c);
        }
        r
    }

    /// Asks the server to stop and waits for it.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            h.await.unwrap().unwrap();
        }
    }

    pub fn trigger_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Imports a catalog file into the app's store, as `emporium seed --file` does.
pub async fn seed_file(config: &Config, file: PathBuf) -> seed::SeedReport {
    let store = startup::open_store(config).await.unwrap();
    let catalog = CatalogService::new(store.clone(), AnyCache::None, Duration::from_secs(1));
    let report = seed::import(
        &catalog,
        seed::Source::File(file),
        0,
        config.currency().unwrap(),
        config.shop.initial_stock,
        false,
    )
    .await
    .unwrap();
    store.close().await;
    report
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The server stops first; the database and Redis keys go with the fields.
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Runs `fut` to completion on a runtime of its own (for `Drop`, which
/// may run inside or outside the test's runtime).
fn block_on_own_runtime(fut: impl std::future::Future<Output = ()> + Send + 'static) {
    let _ = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(fut)
    })
    .join();
}

/// A Redis key prefix of the test's own; its keys are deleted on drop.
pub struct RedisPrefix(pub String);

impl RedisPrefix {
    pub fn new() -> RedisPrefix {
        RedisPrefix(format!("emporium-test:{}:", uuid::Uuid::now_v7()))
    }
}

impl Drop for RedisPrefix {
    fn drop(&mut self) {
        let prefix = self.0.clone();
        block_on_own_runtime(async move {
            if let Ok(c) = emporium_cache::RedisCache::connect(&redis_url(), &prefix).await {
                let _ = c.clear().await;
            }
        });
    }
}

/// Runs a test body against each backend.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::support::TestApp::spawn($crate::support::Backend::Sqlite).await).await } )*
        }
        mod postgres_redis {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::support::TestApp::spawn($crate::support::Backend::PostgresRedis).await).await } )*
        }
    };
}

/// A Redis server of the test's own, on a free port, so that the test can
/// kill it without disturbing other tests.
pub struct PrivateRedis {
    child: std::process::Child,
    pub url: String,
}

impl PrivateRedis {
    pub async fn start() -> PrivateRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be installed (see .ci/run)");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        PrivateRedis {
            child,
            url: format!("redis://127.0.0.1:{port}"),
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}
