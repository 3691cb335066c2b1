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
use emporium_domain::orders::{Pricing, ShippingMethod, TaxRate};
use emporium_domain::Currency;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

mod payments;
mod validate;

pub use payments::{PaymentMode, PaymentSettings, PAYSIM_WEBHOOK_SECRET};

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
    /// PostgreSQL: how long a request waits for a connection.
    pub acquire_timeout_ms: u64,
    /// PostgreSQL: consecutive failures that open a server's breaker.
    pub breaker_failures: u32,
    /// PostgreSQL: how long an open breaker refuses calls before a trial.
    pub breaker_cooldown_ms: u64,
    /// PostgreSQL: how often each server is asked its role and lag.
    pub probe_interval_ms: u64,
    /// PostgreSQL: a replica further behind serves no reads.
    pub max_replica_lag_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CacheConfig {
    /// `memory`, `redis` or `none`; `auto` is `redis` when `redis_url` is set.
    pub backend: String,
    pub redis_url: Option<SecretString>,
    pub ttl_secs: u64,
    /// How long past `ttl_secs` a catalog answer may still be served while
    /// the database cannot answer.
    pub stale_secs: u64,
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

impl StoreConfig {
    /// How the PostgreSQL store uses its servers.
    pub fn pg_options(&self) -> emporium_store::PgOptions {
        emporium_store::PgOptions {
            pool_size: self.pool_size,
            acquire_timeout: Duration::from_millis(self.acquire_timeout_ms),
            breaker_failures: self.breaker_failures,
            breaker_cooldown: Duration::from_millis(self.breaker_cooldown_ms),
            probe_interval: Duration::from_millis(self.probe_interval_ms),
            max_replica_lag: Duration::from_millis(self.max_replica_lag_ms),
        }
    }
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

    /// How long a catalog answer may be served past its TTL while the
    /// database cannot answer.
    pub fn cache_stale(&self) -> Duration {
        Duration::from_secs(self.cache.stale_secs)
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
mod tests;
