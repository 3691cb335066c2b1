//! The simulator's configuration: API keys, the webhook endpoint and its
//! retry policy, where the ledger lives, and the faults to inject. The
//! defaults run a usable simulator with nothing set; `Debug` never shows a
//! key or secret.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Everything [`crate::run`] needs.
#[derive(Clone)]
pub struct Config {
    /// The key servers send as `Authorization: Bearer …` (`sk_test_paysim`).
    pub secret_key: String,
    /// The key browsers send to tokenize cards (`pk_test_paysim`).
    pub publishable_key: String,
    /// Where events are POSTed; `None` records them without delivering.
    pub webhook_url: Option<String>,
    /// The key of the `Stripe-Signature` HMAC (`whsec_paysim`).
    pub webhook_secret: String,
    /// How webhook deliveries are retried.
    pub webhook_retry: WebhookRetry,
    /// The SQLite ledger file, created when missing.
    pub ledger_path: PathBuf,
    /// Faults injected from the start (changeable at runtime).
    pub faults: Faults,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            secret_key: "sk_test_paysim".into(),
            publishable_key: "pk_test_paysim".into(),
            webhook_url: None,
            webhook_secret: "whsec_paysim".into(),
            webhook_retry: WebhookRetry::default(),
            ledger_path: PathBuf::from("data/paysim.db"),
            faults: Faults::default(),
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("secret_key", &"[redacted]")
            .field("publishable_key", &self.publishable_key)
            .field("webhook_url", &self.webhook_url)
            .field("webhook_secret", &"[redacted]")
            .field("webhook_retry", &self.webhook_retry)
            .field("ledger_path", &self.ledger_path)
            .field("faults", &self.faults)
            .finish()
    }
}

impl Config {
    /// Checks what the types cannot: non-empty keys, a plain `http://`
    /// webhook URL, sane faults.
    pub fn validate(&self) -> Result<(), String> {
        if self.secret_key.is_empty() || self.publishable_key.is_empty() {
            return Err("the secret and publishable keys must not be empty".into());
        }
        if self.secret_key == self.publishable_key {
            return Err("the secret and publishable keys must differ".into());
        }
        if self.webhook_secret.is_empty() {
            return Err("the webhook secret must not be empty".into());
        }
        if let Some(url) = &self.webhook_url {
            if !url.starts_with("http://") {
                return Err(format!(
                    "webhook_url must be an http:// URL (no TLS here), got {url}"
                ));
            }
        }
        if self.webhook_retry.max_attempts == 0 {
            return Err("webhook_retry.max_attempts must be at least 1".into());
        }
        self.faults.validate()
    }
}

/// Webhook retries: attempt `n` (from 1) that fails is retried after
/// `initial_backoff × 2^(n-1)`, capped at `max_backoff`, until
/// `max_attempts` attempts were made.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookRetry {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// How long one delivery may take before it counts as failed.
    pub timeout: Duration,
}

impl Default for WebhookRetry {
    fn default() -> Self {
        WebhookRetry {
            max_attempts: 6,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
        }
    }
}

impl WebhookRetry {
    /// The wait after `attempts` failed attempts, or `None` once they are
    /// all spent.
    pub fn backoff_after(&self, attempts: u32) -> Option<Duration> {
        if attempts >= self.max_attempts {
            return None;
        }
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1));
        Some(
            self.initial_backoff
                .saturating_mul(factor)
                .min(self.max_backoff),
        )
    }
}

/// Faults the simulator injects into `/v1` requests (never into
/// `/_control`). The JSON form, used by `/_control/faults`, has the same
/// fields; a missing field takes its default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Answer every `/v1` request with 503 `api_error`.
    pub down: bool,
    /// Wait this long before handling each `/v1` request.
    pub latency_ms: u64,
    /// The share (0 to 1) of `/v1` requests answered with 500 `api_error`
    /// without doing anything.
    pub error_rate: f64,
    /// "Succeeds but times out": a POST that succeeded is answered only
    /// after `timeout_ms`, so the client gives up although the money moved.
    pub timeout_after_success: bool,
    /// The delay of `timeout_after_success`.
    pub timeout_ms: u64,
    /// Creating a payment intent answers `status: processing` and does
    /// nothing (a bank still deciding, as with some payment methods).
    pub processing: bool,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            down: false,
            latency_ms: 0,
            error_rate: 0.0,
            timeout_after_success: false,
            timeout_ms: 30_000,
            processing: false,
        }
    }
}

impl Faults {
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.error_rate) {
            return Err(format!(
                "error_rate must be between 0 and 1, got {}",
                self.error_rate
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_then_stops() {
        let retry = WebhookRetry {
            max_attempts: 6,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            timeout: Duration::from_secs(1),
        };
        let waits: Vec<_> = (1..=6).map(|n| retry.backoff_after(n)).collect();
        assert_eq!(
            waits,
            vec![
                Some(Duration::from_secs(1)),
                Some(Duration::from_secs(2)),
                Some(Duration::from_secs(4)),
                Some(Duration::from_secs(8)),
                Some(Duration::from_secs(10)),
                None
            ]
        );
    }

    #[test]
    fn debug_hides_the_secrets() {
        let shown = format!("{:?}", Config::default());
        assert!(!shown.contains("sk_test_paysim"));
        assert!(!shown.contains("whsec_paysim"));
    }

    #[test]
    fn faults_reject_an_error_rate_outside_zero_to_one() {
        let faults = Faults {
            error_rate: 1.5,
            ..Faults::default()
        };
        assert!(faults.validate().is_err());
        assert!(Config::default().validate().is_ok());
    }
}
