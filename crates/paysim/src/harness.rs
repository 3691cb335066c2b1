//! Driving a paysim from tests and benchmarks: start one in this process on
//! a port of its own ([`Sim`]), or talk to any running one ([`Client`]):
//! tokenize test cards as a browser would, inject faults, and read the
//! ledger ("was this order charged exactly once?").

use std::ops::Deref;
use std::path::Path;

use serde_json::Value;
use tokio::net::TcpListener;

use crate::{Config, SECRET_KEY_DEFAULT};

/// A paysim at `base` with the default keys. The `try_` methods report
/// failures; the others panic on them, as a test wants.
#[derive(Debug, Clone)]
pub struct Client {
    pub base: String,
    http: reqwest::Client,
}

impl Client {
    pub fn new(base: &str) -> Client {
        Client {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// A payment method (`pm_…`) for a card number, made with the
    /// publishable key as a browser would.
    pub async fn try_card(&self, number: &str) -> Result<String, String> {
        let res = self
            .http
            .post(format!("{}/v1/payment_methods", self.base))
            .bearer_auth("pk_test_paysim")
            .form(&[
                ("type", "card"),
                ("card[number]", number),
                ("card[exp_month]", "12"),
                ("card[exp_year]", "2040"),
                ("card[cvc]", "123"),
            ])
            .send()
            .await
            .map_err(|e| format!("tokenizing: {e}"))?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or_default();
        match body["id"].as_str() {
            Some(id) if status.is_success() => Ok(id.to_owned()),
            _ => Err(format!("tokenizing a test card: {status} {body}")),
        }
    }

    /// Replaces the faults in force (`{"down":true}`, `{"error_rate":0.3}`…).
    pub async fn try_faults(&self, faults: Value) -> Result<(), String> {
        let res = self
            .http
            .post(format!("{}/_control/faults", self.base))
            .bearer_auth(SECRET_KEY_DEFAULT)
            .json(&faults)
            .send()
            .await
            .map_err(|e| format!("setting faults: {e}"))?;
        if !res.status().is_success() {
            return Err(format!("setting faults: {}", res.status()));
        }
        Ok(())
    }

    /// [`Client::try_card`], panicking on failure.
    pub async fn card(&self, number: &str) -> String {
        self.try_card(number)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Client::try_faults`], panicking on failure.
    pub async fn faults(&self, faults: Value) {
        self.try_faults(faults)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// `GET {base}{path}` with the secret key: an object paysim holds
    /// (`/v1/payment_intents/pi_…`, `/v1/charges/ch_…`).
    pub async fn object(&self, path: &str) -> Value {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(SECRET_KEY_DEFAULT)
            .send()
            .await
            .unwrap_or_else(|e| panic!("reading {path}: {e}"));
        res.json().await.unwrap_or_default()
    }

    /// The payment intents paysim holds whose `metadata[key]` is `value`.
    pub async fn intents(&self, key: &str, value: &str) -> Vec<Value> {
        let res = self
            .http
            .get(format!(
                "{}/v1/payment_intents?metadata[{key}]={value}&limit=100",
                self.base
            ))
            .bearer_auth(SECRET_KEY_DEFAULT)
            .send()
            .await
            .unwrap_or_else(|e| panic!("listing intents: {e}"));
        let body: Value = res.json().await.unwrap_or_default();
        body["data"].as_array().cloned().unwrap_or_default()
    }

    /// How many of those intents succeeded (money taken).
    pub async fn charged(&self, key: &str, value: &str) -> usize {
        self.intents(key, value)
            .await
            .iter()
            .filter(|i| i["status"] == "succeeded")
            .count()
    }
}

/// A simulator running in this process, stopped when dropped; derefs to
/// its [`Client`].
pub struct Sim {
    client: Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Deref for Sim {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Sim {
    /// Binds a free port on 127.0.0.1 without serving yet, so that the
    /// address can be given to whoever receives the webhooks first.
    pub async fn bind() -> std::io::Result<TcpListener> {
        TcpListener::bind("127.0.0.1:0").await
    }

    /// Serves on `listener` with the default keys, the ledger at
    /// `ledger_path`, and webhooks to `webhook_url`.
    pub fn serve(listener: TcpListener, ledger_path: &Path, webhook_url: Option<String>) -> Sim {
        let config = Config {
            ledger_path: ledger_path.to_owned(),
            webhook_url,
            ..Config::default()
        };
        let base = listener
            .local_addr()
            .map(|a| format!("http://{a}"))
            .unwrap_or_default();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            if let Err(e) = crate::run(config, listener, async move {
                let _ = rx.await;
            })
            .await
            {
                tracing::error!(error = %e, "paysim stopped");
            }
        });
        Sim {
            client: Client::new(&base),
            _stop: tx,
        }
    }
}
