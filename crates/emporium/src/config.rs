//! Configuration in layers: embedded defaults (so `cargo run` needs
//! nothing), then an optional TOML file, then `EMPORIUM_*` environment
//! variables (`EMPORIUM_SERVER__ADDR`, `__` between levels) and the
//! conventional `DATABASE_URL` / `REDIS_URL`; command-line flags win over
//! all of them. Validated once at start-up.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use emporium_domain::cart::CartLimits;
use emporium_domain::inventory::MAX_ON_HAND;
use emporium_domain::orders::{Pricing, ShippingMethod, TaxRate};
use emporium_domain::Currency;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

pub const DEFAULTS: &str = include_str!("../emporium.default.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub cache: CacheConfig,
    pub auth: AuthSettings,
    pub limits: LimitSettings,
    pub shop: ShopConfig,
    pub payments: PaymentSettings,
    pub log: LogConfig,
}

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

/// What a process serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ServerRole {
    /// Everything in one process.
    All,
    /// Accounts, sessions and JWKS only.
    Auth,
    /// The shop's API; verifies tokens without calling the auth role.
    Api,
    /// The payment queue and the shop's other background jobs; serves no
    /// API (health, metrics and the static pages only).
    Worker,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl_secs: u64,
    pub session_ttl_secs: u64,
    pub hash_concurrency: usize,
    pub hash_queue_timeout_ms: u64,
    pub key_reload_secs: u64,
    pub jwks_url: String,
    pub revocation_poll_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LimitSettings {
    pub login_attempts_per_account_and_ip: u32,
    pub login_attempts_per_account: u32,
    pub login_failures_per_ip: u32,
    pub login_window_secs: u64,
    pub registrations_per_ip: u32,
    pub registration_window_secs: u64,
    pub api_enabled: bool,
    pub api_requests_per_ip: u32,
    pub api_requests_per_user: u32,
    pub api_window_secs: u64,
    pub checkouts_per_ip: u32,
    pub checkouts_per_user: u32,
    pub checkout_window_secs: u64,
    pub carts_per_ip: u32,
    pub cart_window_secs: u64,
    pub payment_attempts_per_ip: u32,
    pub payment_attempts_per_user: u32,
    pub payment_window_secs: u64,
    /// Requests outside `/api/` per client address per minute.
    pub web_requests_per_ip: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerConfig {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub request_timeout_ms: u64,
    pub body_limit_bytes: usize,
    pub cors_origins: Vec<String>,
    pub role: ServerRole,
    pub trust_forwarded_for: bool,
    pub secure_cookies: bool,
    /// `/metrics` on an operator address of its own; empty: on `addr`.
    pub metrics_addr: String,
    /// When set, `/metrics` asks for `Authorization: Bearer <token>`.
    pub metrics_token: SecretString,
    pub max_connections: usize,
    pub header_read_timeout_ms: u64,
    pub idle_timeout_ms: u64,
    pub max_uri_bytes: usize,
    pub max_header_bytes: usize,
    /// `Strict-Transport-Security` max-age; 0 sends none.
    pub hsts_max_age_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StoreConfig {
    /// `postgres://…` selects PostgreSQL; empty selects SQLite in `data_dir`.
    pub database_url: Option<SecretString>,
    pub pool_size: u32,
    /// Seed the demo catalog on start when the catalog is empty (embedded mode).
    pub seed_demo_when_empty: bool,
    /// How long one uncached search may run.
    pub search_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CacheConfig {
    /// `memory`, `redis` or `none`; `auto` is `redis` when `redis_url` is set.
    pub backend: String,
    pub redis_url: Option<SecretString>,
    pub ttl_secs: u64,
    pub memory_max_bytes: u64,
    /// Prefix of every Redis key, so shops can share a Redis.
    pub key_prefix: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ShopConfig {
    pub currency: String,
    pub initial_stock: u32,
    pub payment_window_secs: u64,
    pub expiry_check_secs: u64,
    pub max_quantity_per_line: u32,
    pub max_lines_per_cart: u32,
    pub max_unpaid_orders_per_user: u32,
    pub shipping: Vec<ShippingMethod>,
    pub tax: TaxSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TaxSettings {
    pub default_rate_bp: u32,
    #[serde(default)]
    pub rates: Vec<TaxRate>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: String,
}

/// Command-line values that override the configuration.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<ServerRole>,
}

impl Config {
    /// Loads defaults, then `file` (if given), then the environment, then `flags`.
    pub fn load(file: Option<&Path>, flags: &Overrides) -> anyhow::Result<Config> {
        let mut fig = Figment::from(Toml::string(DEFAULTS));
        if let Some(f) = file {
            if !f.exists() {
                bail!("config file {} does not exist", f.display());
            }
            fig = fig.merge(Toml::file(f));
        }
        fig = fig
            .merge(Env::prefixed("EMPORIUM_").split("__"))
            .merge(
                Env::raw()
                    .only(&["DATABASE_URL"])
                    .map(|_| "store.database_url".into()),
            )
            .merge(
                Env::raw()
                    .only(&["REDIS_URL"])
                    .map(|_| "cache.redis_url".into()),
            )
            .merge(Serialized::default("server", flags));
        let config: Config = fig.extract().context("invalid configuration")?;
        config.validate()?;
        config.payments.check_exposure(config.server.addr)?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.currency()?;
        if let Some(url) = self.database_url() {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                bail!("DATABASE_URL must be a postgres:// URL (leave it unset for the embedded SQLite store)");
            }
        }
        if !matches!(
            self.cache.backend.as_str(),
            "auto" | "memory" | "redis" | "none"
        ) {
            bail!("cache.backend must be auto, memory, redis or none");
        }
        if self.cache.backend == "redis" && self.redis_url().is_none() {
            bail!("cache.backend is redis but REDIS_URL is not set");
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            bail!("log.format must be text or json");
        }
        if self.store.pool_size == 0 {
            bail!("store.pool_size must be at least 1");
        }
        if self.store.search_timeout_ms == 0
            || self.store.search_timeout_ms >= self.server.request_timeout_ms
        {
            bail!(
                "store.search_timeout_ms must be at least 1 and less than server.request_timeout_ms ({} ms)",
                self.server.request_timeout_ms
            );
        }
        if self.auth.access_token_ttl_secs < 30
            || self.auth.session_ttl_secs < self.auth.access_token_ttl_secs
        {
            bail!(
                "auth.access_token_ttl_secs must be at least 30 and at most auth.session_ttl_secs"
            );
        }
        let jwks = &self.auth.jwks_url;
        if !jwks.is_empty() {
            // Whoever answers this URL decides which tokens are accepted.
            if let Err(e) = emporium_auth::keys::check_jwks_url(jwks) {
                bail!("auth.jwks_url: {e}");
            }
        }
        if !(10..=60_000).contains(&self.auth.revocation_poll_ms) {
            bail!("auth.revocation_poll_ms must be between 10 and 60000");
        }
        self.pricing()
            .validate()
            .map_err(|e| anyhow::anyhow!("[shop]: {e}"))?;
        if self.shop.max_quantity_per_line == 0
            || self.shop.max_lines_per_cart == 0
            || self.shop.max_unpaid_orders_per_user == 0
        {
            bail!("shop.max_quantity_per_line, shop.max_lines_per_cart and shop.max_unpaid_orders_per_user must be at least 1");
        }
        if self.shop.initial_stock > MAX_ON_HAND {
            bail!("shop.initial_stock must be at most {MAX_ON_HAND}");
        }
        if self.shop.payment_window_secs < 60 {
            bail!("shop.payment_window_secs must be at least 60");
        }
        let p = &self.payments;
        for (name, url) in [
            ("payments.provider_url", &p.provider_url),
            ("payments.tokenization_url", &p.tokenization_url),
        ] {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!("{name} must be an http(s) URL");
            }
        }
        if p.mode == PaymentMode::Provider {
            // Card payments cross the network only over TLS, with keys of
            // their own; plain http and paysim's keys are for a simulator
            // on this machine.
            let local = |url: &str| {
                reqwest::Url::parse(url).is_ok_and(|u| {
                    matches!(
                        u.host_str(),
                        Some("127.0.0.1" | "localhost" | "[::1]" | "::1")
                    )
                })
            };
            for (name, url) in [
                ("payments.provider_url", &p.provider_url),
                ("payments.tokenization_url", &p.tokenization_url),
            ] {
                if url.starts_with("http://") && !local(url) {
                    bail!("{name} must be https:// (plain http only for a simulator on 127.0.0.1)");
                }
            }
            if !local(&p.provider_url) && local(&p.tokenization_url) {
                bail!("payments.tokenization_url must be the provider's (browsers post cards there), not a local address");
            }
            let paysim_keys = p.secret_key.expose_secret() == emporium_paysim::SECRET_KEY_DEFAULT
                || p.webhook_secret.expose_secret() == PAYSIM_WEBHOOK_SECRET;
            if paysim_keys && !local(&p.provider_url) {
                bail!("payments.secret_key and payments.webhook_secret must be the provider's (set EMPORIUM_PAYMENTS__SECRET_KEY and EMPORIUM_PAYMENTS__WEBHOOK_SECRET), not the simulator's");
            }
        }
        if p.mode == PaymentMode::Simulator
            && matches!(self.server.role, ServerRole::Api | ServerRole::Worker)
        {
            bail!("payments.mode = \"simulator\" runs the simulator inside one process (role all); with split roles use mode = \"provider\" and a provider (or one `emporium paysim`) they share");
        }
        // The provider call with every retry must end before the server's
        // own request timeout, so that a slow provider gets a 202 (queued).
        let attempts = u64::from(p.retries) + 1;
        let worst = p.timeout_ms.saturating_mul(attempts)
            + p.backoff_ms.saturating_mul((1u64 << p.retries.min(16)) - 1);
        if worst >= self.server.request_timeout_ms {
            bail!("[payments]: timeout_ms × (retries + 1) plus the backoffs ({worst} ms) must be less than server.request_timeout_ms ({} ms)", self.server.request_timeout_ms);
        }
        let url = &p.alert_webhook_url;
        let http = url.starts_with("http://") || url.starts_with("https://");
        if !url.is_empty() && !http {
            bail!("payments.alert_webhook_url must be empty or an http(s) URL");
        }
        if p.timeout_ms == 0
            || p.connect_timeout_ms == 0
            || p.worker_interval_ms == 0
            || p.queue_retry_base_ms == 0
            || p.queue_retry_max_ms < p.queue_retry_base_ms
            || p.breaker_threshold == 0
            || p.max_attempts_per_order == 0
            || p.processing_timeout_secs == 0
        {
            bail!("[payments]: timeouts, worker_interval_ms, queue_retry_base_ms, breaker_threshold and max_attempts_per_order must be at least 1, and queue_retry_max_ms at least queue_retry_base_ms");
        }
        self.validate_server()?;
        let l = &self.limits;
        if [
            l.login_attempts_per_account_and_ip,
            l.login_attempts_per_account,
            l.login_failures_per_ip,
            l.registrations_per_ip,
            l.api_requests_per_ip,
            l.api_requests_per_user,
            l.checkouts_per_ip,
            l.checkouts_per_user,
            l.carts_per_ip,
            l.payment_attempts_per_ip,
            l.payment_attempts_per_user,
            l.web_requests_per_ip,
        ]
        .contains(&0)
            || [
                l.login_window_secs,
                l.registration_window_secs,
                l.api_window_secs,
                l.checkout_window_secs,
                l.cart_window_secs,
                l.payment_window_secs,
            ]
            .contains(&0)
        {
            bail!("every limit and window in [limits] must be at least 1");
        }
        if l.login_attempts_per_account < l.login_attempts_per_account_and_ip {
            // Otherwise anyone could lock an account's owner out from
            // another address, which the per-address lock exists to avoid.
            bail!("limits.login_attempts_per_account must be at least limits.login_attempts_per_account_and_ip (10 times it is the default)");
        }
        Ok(())
    }

    /// Connections, request sizes and where `/metrics` is served.
    fn validate_server(&self) -> anyhow::Result<()> {
        let s = &self.server;
        if s.max_connections == 0 {
            bail!("server.max_connections must be at least 1");
        }
        if s.header_read_timeout_ms == 0 || s.idle_timeout_ms == 0 {
            bail!("server.header_read_timeout_ms and server.idle_timeout_ms must be at least 1");
        }
        // Hyper answers URIs past 64 KiB itself (414, empty body).
        if !(256..=65_000).contains(&s.max_uri_bytes) {
            bail!("server.max_uri_bytes must be between 256 and 65000");
        }
        if !(1024..=1024 * 1024).contains(&s.max_header_bytes) {
            bail!("server.max_header_bytes must be between 1024 and 1048576");
        }
        if !s.metrics_addr.is_empty() {
            let addr: SocketAddr = s.metrics_addr.parse().context(
                "server.metrics_addr must be empty or an address such as 127.0.0.1:9090",
            )?;
            if addr == s.addr && addr.port() != 0 {
                bail!("server.metrics_addr must differ from server.addr");
            }
        }
        let token = s.metrics_token.expose_secret();
        if !token.is_empty() && (token.len() < 16 || token.contains(char::is_whitespace)) {
            bail!("server.metrics_token must be empty or at least 16 characters without spaces");
        }
        Ok(())
    }

    /// The connection limits of the accept loop.
    pub fn connection_limits(&self) -> emporium_http::ConnectionLimits {
        let s = &self.server;
        emporium_http::ConnectionLimits {
            max_connections: s.max_connections,
            header_read_timeout: Duration::from_millis(s.header_read_timeout_ms),
            idle_timeout: Duration::from_millis(s.idle_timeout_ms),
            // Room for a head past the limits, so that they answer in JSON
            // (hyper's own 431 has an empty body).
            max_buf_bytes: (s.max_uri_bytes + s.max_header_bytes) * 2 + 16 * 1024,
        }
    }

    pub fn currency(&self) -> anyhow::Result<Currency> {
        self.shop
            .currency
            .parse()
            .map_err(|e: emporium_domain::ValidationError| {
                anyhow::anyhow!("shop.currency: {}", e.message)
            })
    }

    /// The PostgreSQL URL, if one is configured (empty counts as none).
    pub fn database_url(&self) -> Option<&str> {
        self.store
            .database_url
            .as_ref()
            .map(|s| s.expose_secret())
            .filter(|s| !s.is_empty())
    }

    pub fn redis_url(&self) -> Option<&str> {
        self.cache
            .redis_url
            .as_ref()
            .map(|s| s.expose_secret())
            .filter(|s| !s.is_empty())
    }

    pub fn cache_ttl(&self) -> Duration {
        Duration::from_secs(self.cache.ttl_secs.max(1))
    }

    /// Shipping methods and tax rates.
    pub fn pricing(&self) -> Pricing {
        Pricing {
            methods: self.shop.shipping.clone(),
            taxes: self.shop.tax.rates.clone(),
            default_tax_bp: self.shop.tax.default_rate_bp,
        }
    }

    pub fn cart_limits(&self) -> CartLimits {
        CartLimits {
            max_per_line: self.shop.max_quantity_per_line,
            max_lines: self.shop.max_lines_per_cart,
        }
    }

    pub fn access_ttl(&self) -> Duration {
        Duration::from_secs(self.auth.access_token_ttl_secs)
    }

    /// Concurrent password hashes: configured, or half the cores.
    pub fn hash_concurrency(&self) -> usize {
        match self.auth.hash_concurrency {
            0 => std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
            n => n,
        }
    }

    /// A configuration for tests and tools: defaults with the given data dir.
    pub fn embedded(data_dir: &Path) -> anyhow::Result<Config> {
        let mut c: Config = Figment::from(Toml::string(DEFAULTS)).extract()?;
        c.server.data_dir = data_dir.to_owned();
        Ok(c)
    }
}

#[cfg(test)]
#[allow(
    clippy::result_large_err,
    reason = "figment::Jail's closures return figment::Error"
)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_embedded() {
        figment::Jail::expect_with(|_| {
            let c = Config::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(c.server.addr.to_string(), "127.0.0.1:8080");
            assert_eq!(c.server.data_dir, PathBuf::from("./data"));
            assert!(c.database_url().is_none());
            assert_eq!(c.shop.currency, "USD");
            assert!(
                !format!("{c:?}").contains("sk_test_paysim"),
                "the provider's secret key stays hidden"
            );
            Ok(())
        });
    }

    #[test]
    fn file_then_env_then_flags() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("shop.toml", "[server]\naddr = \"127.0.0.1:9000\"\ndata_dir = \"/tmp/file\"\n[shop]\ncurrency = \"EUR\"\n")?;
            jail.set_env("EMPORIUM_SERVER__DATA_DIR", "/tmp/env");
            jail.set_env("DATABASE_URL", "postgres://u@h/db");
            let flags = Overrides {
                addr: Some("127.0.0.1:7000".into()),
                data_dir: None,
                role: None,
            };
            let c =
                Config::load(Some(Path::new("shop.toml")), &flags).map_err(|e| e.to_string())?;
            assert_eq!(c.server.addr.to_string(), "127.0.0.1:7000");
            assert_eq!(c.server.data_dir, PathBuf::from("/tmp/env"));
            assert_eq!(c.shop.currency, "EUR");
            assert_eq!(c.database_url(), Some("postgres://u@h/db"));
            assert!(
                !format!("{c:?}").contains("postgres://u@h/db"),
                "secrets must not show in Debug"
            );
            Ok(())
        });
    }

    #[test]
    fn invalid_values_are_rejected_at_start() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("EMPORIUM_SHOP__CURRENCY", "dollars");
            assert!(Config::load(None, &Overrides::default()).is_err());
            jail.set_env("EMPORIUM_SHOP__CURRENCY", "USD");
            jail.set_env("DATABASE_URL", "mysql://x");
            assert!(Config::load(None, &Overrides::default()).is_err());
            Ok(())
        });
    }

    #[test]
    fn tax_rates_must_be_from_0_to_100_percent() {
        figment::Jail::expect_with(|jail| {
            let load = || Config::load(None, &Overrides::default());
            jail.set_env("EMPORIUM_SHOP__TAX__DEFAULT_RATE_BP", "10000");
            assert!(load().is_ok(), "100 % is the most");
            jail.set_env("EMPORIUM_SHOP__TAX__DEFAULT_RATE_BP", "10001");
            let err = load().unwrap_err().to_string();
            assert!(
                err.contains("default_rate_bp") && err.contains("100 %"),
                "{err}"
            );
            jail.set_env("EMPORIUM_SHOP__TAX__DEFAULT_RATE_BP", "-5");
            let err = format!("{:#}", load().unwrap_err()).to_lowercase();
            assert!(err.contains("default_rate_bp"), "negative: {err}");
            jail.set_env("EMPORIUM_SHOP__TAX__DEFAULT_RATE_BP", "0");
            jail.create_file(
                "tax.toml",
                "[[shop.tax.rates]]\ncountry = \"FR\"\nrate_bp = 25000\n",
            )?;
            let err = Config::load(Some(Path::new("tax.toml")), &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("FR") && err.contains("above 100 %"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn test_mode_payments_stay_on_loopback_unless_a_public_demo_is_declared() {
        figment::Jail::expect_with(|jail| {
            let load = || Config::load(None, &Overrides::default());
            assert!(load().is_ok(), "the default: simulator on 127.0.0.1");
            jail.set_env("EMPORIUM_SERVER__ADDR", "0.0.0.0:8080");
            let e = load().err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains("public_test_mode"), "{e}");
            // A provider holding paysim's keys is test mode too.
            jail.set_env("EMPORIUM_PAYMENTS__MODE", "provider");
            assert!(load().is_err(), "provider with the simulator's keys");
            jail.set_env("EMPORIUM_PAYMENTS__PUBLIC_TEST_MODE", "true");
            assert!(load().is_ok(), "declared public demo");
            jail.set_env("EMPORIUM_PAYMENTS__PUBLIC_TEST_MODE", "false");
            jail.set_env("EMPORIUM_PAYMENTS__MODE", "off");
            assert!(load().is_ok(), "no payments");
            jail.set_env("EMPORIUM_SERVER__ADDR", "[::1]:8080");
            jail.set_env("EMPORIUM_PAYMENTS__MODE", "simulator");
            assert!(load().is_ok(), "IPv6 loopback");
            Ok(())
        });
    }

    #[test]
    fn shop_limits_and_the_search_timeout_are_checked() {
        figment::Jail::expect_with(|jail| {
            let load = || Config::load(None, &Overrides::default());
            let c = load().map_err(|e| e.to_string())?;
            assert_eq!(
                (
                    c.limits.checkouts_per_ip,
                    c.limits.carts_per_ip,
                    c.shop.max_unpaid_orders_per_user
                ),
                (20, 60, 3)
            );
            for var in [
                "EMPORIUM_LIMITS__CHECKOUTS_PER_IP",
                "EMPORIUM_LIMITS__CHECKOUTS_PER_USER",
                "EMPORIUM_LIMITS__CHECKOUT_WINDOW_SECS",
                "EMPORIUM_LIMITS__CARTS_PER_IP",
                "EMPORIUM_LIMITS__CART_WINDOW_SECS",
                "EMPORIUM_LIMITS__PAYMENT_ATTEMPTS_PER_IP",
                "EMPORIUM_LIMITS__PAYMENT_ATTEMPTS_PER_USER",
                "EMPORIUM_LIMITS__PAYMENT_WINDOW_SECS",
                "EMPORIUM_SHOP__MAX_UNPAID_ORDERS_PER_USER",
            ] {
                jail.set_env(var, "0");
                assert!(load().is_err(), "{var} = 0");
                jail.set_env(var, "5");
            }
            jail.set_env("EMPORIUM_SHOP__INITIAL_STOCK", "10000001");
            assert!(load().is_err(), "initial stock above the cap");
            jail.set_env("EMPORIUM_SHOP__INITIAL_STOCK", "100");
            for bad in ["0", "10000"] {
                jail.set_env("EMPORIUM_STORE__SEARCH_TIMEOUT_MS", bad);
                let err = load().unwrap_err().to_string();
                assert!(err.contains("search_timeout_ms"), "{bad}: {err}");
            }
            Ok(())
        });
    }

    #[test]
    fn connection_limits_and_the_metrics_endpoint_are_checked() {
        figment::Jail::expect_with(|jail| {
            let load = || Config::load(None, &Overrides::default());
            let c = load().map_err(|e| e.to_string())?;
            assert_eq!(c.server.max_connections, 10_000);
            assert_eq!(c.server.header_read_timeout_ms, 10_000);
            assert_eq!(c.server.max_uri_bytes, 8192);
            assert_eq!(c.server.max_header_bytes, 65_536);
            assert_eq!(c.server.hsts_max_age_secs, 0);
            assert_eq!(c.limits.web_requests_per_ip, 600);
            assert!(
                c.server.metrics_addr.is_empty(),
                "/metrics on the shop's port"
            );
            for (var, bad) in [
                ("EMPORIUM_SERVER__MAX_CONNECTIONS", "0"),
                ("EMPORIUM_SERVER__HEADER_READ_TIMEOUT_MS", "0"),
                ("EMPORIUM_SERVER__IDLE_TIMEOUT_MS", "0"),
                ("EMPORIUM_SERVER__MAX_URI_BYTES", "70000"),
                ("EMPORIUM_SERVER__MAX_HEADER_BYTES", "10"),
                ("EMPORIUM_SERVER__METRICS_ADDR", "not an address"),
                ("EMPORIUM_SERVER__METRICS_ADDR", "127.0.0.1:8080"),
                ("EMPORIUM_SERVER__METRICS_TOKEN", "short"),
                ("EMPORIUM_LIMITS__WEB_REQUESTS_PER_IP", "0"),
            ] {
                jail.set_env(var, bad);
                let err = format!("{:#}", load().unwrap_err());
                let key = var
                    .trim_start_matches("EMPORIUM_")
                    .to_lowercase()
                    .replace("__", ".");
                let named =
                    err.contains(&key) || (key.starts_with("limits.") && err.contains("[limits]"));
                assert!(named, "{var}={bad}: {err}");
                jail.clear_env();
            }
            jail.set_env("EMPORIUM_SERVER__METRICS_ADDR", "127.0.0.1:9090");
            jail.set_env("EMPORIUM_SERVER__METRICS_TOKEN", "a-long-enough-token");
            let c = load().map_err(|e| e.to_string())?;
            assert!(!format!("{c:?}").contains("a-long-enough-token"));
            Ok(())
        });
    }

    #[test]
    fn the_jwks_url_is_https_except_on_loopback() {
        figment::Jail::expect_with(|jail| {
            let load = || Config::load(None, &Overrides::default());
            for bad in [
                "http://auth.internal:8081/.well-known/jwks.json",
                "http://10.0.0.7/.well-known/jwks.json",
            ] {
                jail.set_env("EMPORIUM_AUTH__JWKS_URL", bad);
                let err = load().unwrap_err().to_string();
                assert!(
                    err.contains("auth.jwks_url") && err.contains("https://"),
                    "{bad}: {err}"
                );
            }
            jail.set_env("EMPORIUM_AUTH__JWKS_URL", "not a url");
            assert!(load().is_err());
            for good in [
                "https://auth.internal/.well-known/jwks.json",
                "http://127.0.0.1:8081/.well-known/jwks.json",
                "http://[::1]:8081/.well-known/jwks.json",
                "",
            ] {
                jail.set_env("EMPORIUM_AUTH__JWKS_URL", good);
                load().map_err(|e| format!("{good}: {e}"))?;
            }
            jail.set_env("EMPORIUM_AUTH__REVOCATION_POLL_MS", "0");
            assert!(load().is_err(), "a poll interval of 0");
            Ok(())
        });
    }

    #[test]
    fn a_real_provider_is_reached_over_tls_with_keys_of_its_own() {
        figment::Jail::expect_with(|jail| {
            let load = || Config::load(None, &Overrides::default());
            let c = load().map_err(|e| e.to_string())?;
            assert_eq!(c.payments.mode, PaymentMode::Simulator);
            jail.set_env("EMPORIUM_PAYMENTS__MODE", "provider");
            for bad in [
                "http://payments.example.com",
                "http://localhost.example.com",
            ] {
                jail.set_env("EMPORIUM_PAYMENTS__PROVIDER_URL", bad);
                let err = load().unwrap_err().to_string();
                assert!(err.contains("https"), "{bad}: {err}");
            }
            jail.set_env("EMPORIUM_PAYMENTS__PROVIDER_URL", "http://127.0.0.1:8090");
            assert!(load().is_ok(), "a local simulator");
            jail.set_env("EMPORIUM_PAYMENTS__PROVIDER_URL", "https://api.stripe.com");
            jail.set_env(
                "EMPORIUM_PAYMENTS__TOKENIZATION_URL",
                "https://api.stripe.com/v1/tokens",
            );
            let err = load().unwrap_err().to_string();
            assert!(err.contains("not the simulator's"), "paysim's keys: {err}");
            jail.set_env("EMPORIUM_PAYMENTS__SECRET_KEY", "sk_live_x");
            jail.set_env("EMPORIUM_PAYMENTS__WEBHOOK_SECRET", "whsec_x");
            assert!(load().is_ok());
            jail.set_env("EMPORIUM_PAYMENTS__TIMEOUT_MS", "10000");
            let err = load().unwrap_err().to_string();
            assert!(err.contains("request_timeout_ms"), "{err}");
            jail.set_env("EMPORIUM_PAYMENTS__TIMEOUT_MS", "2000");
            jail.set_env("EMPORIUM_PAYMENTS__MODE", "simulator");
            jail.set_env("EMPORIUM_SERVER__ROLE", "worker");
            assert!(
                load().is_err(),
                "one simulator per process cannot serve split roles"
            );
            jail.set_env("EMPORIUM_PAYMENTS__MODE", "sometimes");
            assert!(load().is_err());
            jail.set_env("EMPORIUM_PAYMENTS__MODE", "off");
            jail.set_env("EMPORIUM_PAYMENTS__QUEUE_RETRY_MAX_MS", "10");
            assert!(load().is_err(), "retry max below retry base");
            Ok(())
        });
    }
}
