//! Driving a paysim from tests in the same process: start it on a port of
//! its own, tokenize test cards as a browser would, inject faults, and read
//! the ledger ("was this order charged exactly once?").

use std::path::Path;

use serde_json::Value;
use tokio::net::TcpListener;

use crate::{Config, SECRET_KEY_DEFAULT};

/// A running simulator, stopped when dropped.
pub struct Sim {
    pub base: String,
    http: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
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
            base,
            http: reqwest::Client::new(),
            _stop: tx,
        }
    }

    /// A payment method (`pm_…`) for a card number, made with the
    /// publishable key as a browser would; panics if refused.
    pub async fn card(&self, number: &str) -> String {
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
            .unwrap_or_else(|e| panic!("tokenizing: {e}"));
        let status = res.status();
        let body: Value = res.json().await.unwrap_or_default();
        assert_eq!(status, 200, "tokenizing a test card: {body}");
        body["id"].as_str().unwrap_or_default().to_owned()
    }

    /// Replaces the faults in force (`{"down":true}`, `{"error_rate":0.3}`…);
    /// panics if refused.
    pub async fn faults(&self, faults: Value) {
        let res = self
            .http
            .post(format!("{}/_control/faults", self.base))
            .bearer_auth(SECRET_KEY_DEFAULT)
            .json(&faults)
            .send()
            .await
            .unwrap_or_else(|e| panic!("setting faults: {e}"));
        assert!(
            res.status().is_success(),
            "setting faults: {}",
            res.status()
        );
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
