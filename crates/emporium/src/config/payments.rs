//! The `[payments]` section: where card payments go, with which keys,
//! and when a shop may take test payments.

use anyhow::bail;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The payment provider. The secret key and webhook secret are never
/// shown (`Debug`) nor served; `GET /api/config` serves the public part.
#[derive(Debug, Clone, Deserialize)]
pub struct PaymentSettings {
    pub mode: PaymentMode,
    pub simulator_addr: String,
    pub provider_url: String,
    pub tokenization_url: String,
    pub publishable_key: String,
    pub secret_key: SecretString,
    pub webhook_secret: SecretString,
    pub webhook_tolerance_secs: u64,
    pub connect_timeout_ms: u64,
    pub timeout_ms: u64,
    pub retries: u32,
    pub backoff_ms: u64,
    pub breaker_threshold: u32,
    pub breaker_cooldown_ms: u64,
    pub worker_interval_ms: u64,
    pub queue_retry_base_ms: u64,
    pub queue_retry_max_ms: u64,
    pub queue_alert_secs: u64,
    pub alert_webhook_url: String,
    pub max_attempts_per_order: u32,
    pub processing_timeout_secs: u64,
    /// Test-mode payments on an address other than loopback: refused
    /// unless this is set, and then every storefront page says TEST MODE.
    pub public_test_mode: bool,
}

impl PaymentSettings {
    /// Whether payments are in test mode: the in-process simulator, or a
    /// provider holding the simulator's well-known keys. Anyone who knows
    /// those keys can sign webhooks, so such a shop may listen only on
    /// loopback unless `public_test_mode` says otherwise.
    pub fn test_mode(&self) -> bool {
        match self.mode {
            PaymentMode::Simulator => true,
            PaymentMode::Provider => {
                self.secret_key.expose_secret() == emporium_paysim::SECRET_KEY_DEFAULT
                    || self.webhook_secret.expose_secret() == PAYSIM_WEBHOOK_SECRET
            }
            PaymentMode::Off => false,
        }
    }

    /// Refuses test-mode payments on a shop listening on `addr` beyond
    /// loopback, unless `public_test_mode` is set.
    pub fn check_exposure(&self, addr: std::net::SocketAddr) -> anyhow::Result<()> {
        if self.test_mode() && !self.public_test_mode && !addr.ip().to_canonical().is_loopback() {
            bail!(
                "payments are in test mode (the built-in simulator, or the simulator's keys) and the shop listens on {addr}, beyond this machine: anyone could then take test payments, and with the well-known keys forge the provider's webhooks. Listen on 127.0.0.1, configure a real provider (payments.mode = \"provider\" with its keys), or set payments.public_test_mode = true for a public demo (every storefront page then says TEST MODE)"
            );
        }
        Ok(())
    }
}

/// The simulator's well-known webhook secret (its default).
pub const PAYSIM_WEBHOOK_SECRET: &str = "whsec_paysim";

/// Where card payments go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaymentMode {
    /// paysim inside this process: test mode, test cards only.
    Simulator,
    /// The provider at `provider_url`.
    Provider,
    /// No card payments.
    Off,
}
