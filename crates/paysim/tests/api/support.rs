//! Spawning the simulator on port 0 with a temp-dir ledger, a webhook
//! receiver, and request helpers.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use emporium_paysim::{Config, WebhookRetry};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const SK: &str = "sk_test_paysim";
pub const PK: &str = "pk_test_paysim";
pub const WHSEC: &str = "whsec_paysim";

pub struct Sim {
    pub base: String,
    pub client: reqwest::Client,
    pub config: Config,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    dir: Arc<tempfile::TempDir>,
}

impl Sim {
    pub async fn start() -> Sim {
        Sim::start_with(|_| {}).await
    }

    /// Starts with a configuration adjusted by `tweak` (fast webhook retries).
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Sim {
        if std::env::var("TEST_LOG").is_ok() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter("emporium_paysim=debug,info")
                .with_test_writer()
                .try_init();
        }
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let mut config = Config {
            ledger_path: dir.path().join("ledger.db"),
            webhook_retry: WebhookRetry {
                max_attempts: 6,
                initial_backoff: Duration::from_millis(50),
                max_backoff: Duration::from_millis(400),
                timeout: Duration::from_secs(2),
            },
            ..Config::default()
        };
        tweak(&mut config);
        Sim::launch(config, dir).await
    }

    async fn launch(config: Config, dir: Arc<tempfile::TempDir>) -> Sim {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(emporium_paysim::run(config.clone(), listener, async move {
            let _ = rx.await;
        }));
        Sim {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            config,
            shutdown: Some(tx),
            server: Some(server),
            dir,
        }
    }

    /// Stops the server gracefully, checking it ended without error.
    pub async fn stop(mut self) -> (Config, Arc<tempfile::TempDir>) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(10), server)
                .await
                .expect("the server stops promptly")
                .unwrap()
                .unwrap();
        }
        (self.config.clone(), self.dir.clone())
    }

    /// Stops, then starts again on the same ledger (on a new port).
    pub async fn restart(self) -> Sim {
        let (config, dir) = self.stop().await;
        Sim::launch(config, dir).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A form POST with the secret key.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.post_as(path, form, Some(SK), None).await
    }

    /// A form POST with the secret key and an Idempotency-Key.
    pub async fn post_idem(
        &self,
        path: &str,
        form: &[(&str, &str)],
        key: &str,
    ) -> reqwest::Response {
        self.post_as(path, form, Some(SK), Some(key)).await
    }

    pub async fn post_as(
        &self,
        path: &str,
        form: &[(&str, &str)],
        api_key: Option<&str>,
        idempotency_key: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self.client.post(self.url(path)).form(form);
        if let Some(k) = api_key {
            req = req.bearer_auth(k);
        }
        if let Some(k) = idempotency_key {
            req = req.header("Idempotency-Key", k);
        }
        req.send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(SK)
            .send()
            .await
            .unwrap()
    }

    /// GET with the secret key, expecting 200.
    pub async fn get_json(&self, path: &str) -> Value {
        json(self.get(path).await, 200).await
    }

    /// POST with the secret key, expecting 200.
    pub async fn post_json(&self, path: &str, form: &[(&str, &str)]) -> Value {
        json(self.post(path, form).await, 200).await
    }

    /// A payment method for `number`, tokenized with the publishable key.
    pub async fn card(&self, number: &str) -> Value {
        let res = self
            .post_as("/v1/payment_methods", &card_form(number), Some(PK), None)
            .await;
        json(res, 200).await
    }

    /// Creates and confirms an intent for `amount` with `pm`, tagged with `order_id`.
    pub async fn pay(&self, order_id: &str, amount: &str, pm: &str) -> reqwest::Response {
        self.post(
            "/v1/payment_intents",
            &[
                ("amount", amount),
                ("currency", "usd"),
                ("payment_method", pm),
                ("confirm", "true"),
                ("metadata[order_id]", order_id),
            ],
        )
        .await
    }

    /// The intents tagged with `order_id`.
    pub async fn intents_of(&self, order_id: &str) -> Vec<Value> {
        let list = self
            .get_json(&format!(
                "/v1/payment_intents?metadata[order_id]={order_id}"
            ))
            .await;
        assert_eq!(list["object"], "list");
        list["data"].as_array().unwrap().clone()
    }

    /// Sets the faults through `/_control/faults`.
    pub async fn set_faults(&self, faults: Value) -> Value {
        let res = self
            .client
            .post(self.url("/_control/faults"))
            .bearer_auth(SK)
            .json(&faults)
            .send()
            .await
            .unwrap();
        json(res, 200).await
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub fn card_form(number: &str) -> Vec<(&str, &str)> {
    vec![
        ("type", "card"),
        ("card[number]", number),
        ("card[exp_month]", "12"),
        ("card[exp_year]", "2034"),
        ("card[cvc]", "123"),
    ]
}

/// Asserts the status and parses the JSON body.
pub async fn json(res: reqwest::Response, status: u16) -> Value {
    let got = res.status().as_u16();
    let text = res.text().await.unwrap();
    assert_eq!(got, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts a Stripe error object of `kind` (and `code`, when given).
pub async fn stripe_error(
    res: reqwest::Response,
    status: u16,
    kind: &str,
    code: Option<&str>,
) -> Value {
    let body = json(res, status).await;
    let error = &body["error"];
    assert_eq!(error["type"], kind, "{body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    if let Some(code) = code {
        assert_eq!(error["code"], code, "{body}");
    }
    error.clone()
}

/// One webhook delivery as received.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub signature: String,
    pub body: String,
    pub event: Value,
}

/// An HTTP endpoint on port 0 that records every delivery and answers 500
/// to the first `fail_first` ones.
pub struct Receiver {
    pub url: String,
    pub deliveries: Arc<Mutex<Vec<Delivery>>>,
}

impl Receiver {
    pub async fn start(fail_first: usize) -> Receiver {
        let deliveries: Arc<Mutex<Vec<Delivery>>> = Arc::default();
        let seen = deliveries.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let seen = seen.clone();
                async move {
                    let signature = headers
                        .get("stripe-signature")
                        .map(|v| v.to_str().unwrap().to_owned())
                        .unwrap_or_default();
                    let event = serde_json::from_str(&body).unwrap_or(Value::Null);
                    let mut seen = seen.lock().unwrap();
                    seen.push(Delivery {
                        signature,
                        body,
                        event,
                    });
                    if seen.len() <= fail_first {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::OK
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            url: format!("http://{addr}/hook"),
            deliveries,
        }
    }

    /// The deliveries of events of `kind` so far.
    pub fn of_type(&self, kind: &str) -> Vec<Delivery> {
        self.deliveries
            .lock()
            .unwrap()
            .iter()
            .filter(|d| d.event["type"] == kind)
            .cloned()
            .collect()
    }

    /// Waits (up to 10 s) until `count` deliveries of `kind` arrived.
    pub async fn wait_for(&self, kind: &str, count: usize) -> Vec<Delivery> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.of_type(kind);
            if got.len() >= count {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {count} {kind} deliveries arrived",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
