//! Card payments: the in-process simulator, the configured provider or
//! none, and the queue's policy.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use emporium_domain::payments::{PaymentPolicy, Payments};
use emporium_http::ops::PublicPayments;
use emporium_http::webhooks::WebhookSettings;
use emporium_payments::{ProviderConfig, StripeClient};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, PaymentMode, PaymentSettings};

/// How card payments are made in this process.
pub struct PaymentSetup {
    pub payments: Option<Payments>,
    /// What `GET /api/config` tells clients.
    pub public: PublicPayments,
    pub webhooks: Option<Arc<WebhookSettings>>,
}

impl PaymentSetup {
    /// No card payments: nothing to tell clients, no webhooks.
    pub(super) fn disabled() -> PaymentSetup {
        PaymentSetup {
            payments: None,
            public: PublicPayments {
                tokenization_url: String::new(),
                publishable_key: String::new(),
            },
            webhooks: None,
        }
    }
}

/// The in-process simulator's keys: made at random the first time a data
/// directory runs the simulator and kept there (`paysim-keys.json`, mode
/// 0600), so no two shops share them and nobody can sign this shop's
/// webhooks from the published defaults.
#[derive(serde::Serialize, serde::Deserialize)]
struct SimulatorKeys {
    publishable_key: String,
    secret_key: String,
    webhook_secret: String,
}

impl SimulatorKeys {
    fn of_data_dir(dir: &std::path::Path) -> anyhow::Result<SimulatorKeys> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = dir.join("paysim-keys.json");
        if path.exists() {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            return serde_json::from_str(&text)
                .with_context(|| format!("{} is not the simulator's keys", path.display()));
        }
        let token = || emporium_auth::random_token().map_err(|e| anyhow::anyhow!("{e}"));
        let keys = SimulatorKeys {
            publishable_key: format!("pk_test_{}", token()?),
            secret_key: format!("sk_test_{}", token()?),
            webhook_secret: format!("whsec_{}", token()?),
        };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        file.write_all(serde_json::to_string_pretty(&keys)?.as_bytes())?;
        Ok(keys)
    }
}

/// The payment provider: the in-process simulator (test mode), the
/// configured provider, or none. `shop_addr` is where this process
/// listens, so that the simulator's webhooks come back to it.
pub async fn payments(
    config: &Config,
    shop_addr: SocketAddr,
    stop: &CancellationToken,
) -> anyhow::Result<PaymentSetup> {
    let p = &config.payments;
    p.check_exposure(shop_addr)?;
    let mut keys = SimulatorKeys {
        publishable_key: p.publishable_key.clone(),
        secret_key: p.secret_key.expose_secret().to_owned(),
        webhook_secret: p.webhook_secret.expose_secret().to_owned(),
    };
    let (provider_url, tokenization_url) = match p.mode {
        PaymentMode::Off => return Ok(PaymentSetup::disabled()),
        PaymentMode::Provider => (p.provider_url.clone(), p.tokenization_url.clone()),
        PaymentMode::Simulator => {
            let (sim_keys, url) = start_simulator(config, shop_addr, stop).await?;
            keys = sim_keys;
            (url.clone(), format!("{url}/v1/payment_methods"))
        }
    };
    let client = provider_client(p, provider_url, keys.secret_key.clone())?;
    Ok(PaymentSetup {
        payments: Some(Payments {
            provider: Arc::new(client),
            policy: payment_policy(p),
        }),
        public: PublicPayments {
            tokenization_url,
            publishable_key: keys.publishable_key,
        },
        webhooks: Some(Arc::new(WebhookSettings {
            secret: keys.webhook_secret,
            tolerance: Duration::from_secs(p.webhook_tolerance_secs),
        })),
    })
}

/// Starts the payment simulator on `payments.simulator_addr` with this
/// data directory's keys, sending its webhooks to the shop at `shop_addr`;
/// it stops with `stop`. Returns the keys and the simulator's URL.
async fn start_simulator(
    config: &Config,
    shop_addr: SocketAddr,
    stop: &CancellationToken,
) -> anyhow::Result<(SimulatorKeys, String)> {
    let p = &config.payments;
    let listener = TcpListener::bind(&p.simulator_addr)
        .await
        .with_context(|| format!("payments.simulator_addr {}", p.simulator_addr))?;
    let sim = listener.local_addr()?;
    let keys = SimulatorKeys::of_data_dir(&config.server.data_dir)?;
    let host = if shop_addr.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        shop_addr.ip()
    };
    let sim_config = emporium_paysim::Config {
        secret_key: keys.secret_key.clone(),
        publishable_key: keys.publishable_key.clone(),
        webhook_url: Some(format!(
            "http://{}/api/webhooks/payments",
            SocketAddr::new(host, shop_addr.port())
        )),
        webhook_secret: keys.webhook_secret.clone(),
        ledger_path: config.server.data_dir.join("paysim.db"),
        ..emporium_paysim::Config::default()
    };
    let stop = stop.clone();
    tokio::spawn(async move {
        if let Err(e) = emporium_paysim::run(sim_config, listener, stop.cancelled_owned()).await {
            tracing::error!(error = %e, "the payment simulator stopped");
        }
    });
    let url = format!("http://{sim}");
    tracing::warn!(simulator = %url, "payments in TEST MODE: the built-in simulator takes the payments; only test cards work (4242 4242 4242 4242) and no money moves");
    println!("Payments in TEST MODE: built-in simulator at {url} (test cards only)");
    Ok((keys, url))
}

/// The client of the provider at `base_url`, with the configured timeouts,
/// retries and circuit breaker.
fn provider_client(
    p: &PaymentSettings,
    base_url: String,
    secret_key: String,
) -> anyhow::Result<StripeClient> {
    StripeClient::new(ProviderConfig {
        base_url,
        secret_key,
        connect_timeout: Duration::from_millis(p.connect_timeout_ms),
        timeout: Duration::from_millis(p.timeout_ms),
        retries: p.retries,
        backoff: Duration::from_millis(p.backoff_ms),
        breaker_threshold: p.breaker_threshold,
        breaker_cooldown: Duration::from_millis(p.breaker_cooldown_ms),
    })
    .map_err(|e| anyhow::anyhow!("payment provider client: {e}"))
}

/// How long a payment stays the request's, and how the queue retries it.
fn payment_policy(p: &PaymentSettings) -> PaymentPolicy {
    // A request with every retry and backoff, and some slack: until then
    // the payment is the request's; afterwards the worker may take it.
    let attempts = u64::from(p.retries) + 1;
    let lease = Duration::from_millis(
        (p.timeout_ms + p.connect_timeout_ms).saturating_mul(attempts)
            + p.backoff_ms.saturating_mul(1 << p.retries.min(10))
            + 5_000,
    );
    PaymentPolicy {
        lease,
        retry_base: Duration::from_millis(p.queue_retry_base_ms),
        retry_max: Duration::from_millis(p.queue_retry_max_ms),
        max_per_order: p.max_attempts_per_order,
        processing_timeout: Duration::from_secs(p.processing_timeout_secs),
        ..PaymentPolicy::default()
    }
}
