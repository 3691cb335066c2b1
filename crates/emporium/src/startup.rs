//! Wiring: builds the store, cache and services from the configuration
//! (once, in one place) and runs the server until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use emporium_auth::{
    AuthConfig, AuthService, Authenticator, HashCost, JwksSource, KeyRing, KeySource,
    PasswordHasher, Tokens,
};
use emporium_cache::{AnyCache, Limiter, MemoryCache, RedisCache, RedisLimiter, Revocations};
use emporium_domain::catalog::CatalogService;
use emporium_domain::identity::Rule;
use emporium_domain::payments::{PaymentPolicy, Payments};
use emporium_domain::ports::{CatalogStore, StockStore};
use emporium_domain::shop::{Shop, ShopConfig, TokenCrypto};
use emporium_http::limits::{ApiLimits, ShopLimits};
use emporium_http::ops::{ClientConfig, PublicPayments};
use emporium_http::webhooks::WebhookSettings;
use emporium_http::{AppState, Auth, Authn, Catalog, Features, HttpConfig};
use emporium_payments::{ProviderConfig, StripeClient};
use emporium_store::Store;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, PaymentMode, ServerRole};
use crate::jobs;
use crate::seed;

/// Opens the configured store and applies migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let store = match config.database_url() {
        Some(url) => Store::connect_postgres(url, config.store.pool_size)
            .await
            .context("connecting to PostgreSQL")?,
        None => Store::open_sqlite(&config.server.data_dir, config.store.pool_size)
            .await
            .with_context(|| {
                format!(
                    "opening the SQLite store in {}",
                    config.server.data_dir.display()
                )
            })?,
    };
    store.migrate().await.context("applying migrations")?;
    Ok(store.with_search_timeout(Duration::from_millis(config.store.search_timeout_ms)))
}

/// Connects the configured cache. An unreachable Redis at start-up is an
/// error: the operator asked for it.
pub async fn open_cache(config: &Config) -> anyhow::Result<AnyCache> {
    let backend = match (config.cache.backend.as_str(), config.redis_url()) {
        ("auto", Some(_)) => "redis",
        ("auto", None) => "memory",
        (b, _) => b,
    };
    Ok(match backend {
        "redis" => {
            let url = config.redis_url().context("REDIS_URL is not set")?;
            AnyCache::Redis(
                RedisCache::connect(url, &config.cache.key_prefix)
                    .await
                    .map_err(anyhow::Error::msg)?,
            )
        }
        "none" => AnyCache::None,
        _ => AnyCache::Memory(MemoryCache::new(config.cache.memory_max_bytes)),
    })
}

/// Builds the catalog service; seeds the demo catalog into an empty
/// embedded store when configured to.
pub async fn catalog(
    config: &Config,
    store: Store,
    cache: AnyCache,
) -> anyhow::Result<Arc<Catalog>> {
    let embedded = matches!(store, Store::Sqlite(_));
    let catalog = Arc::new(CatalogService::new(store, cache, config.cache_ttl()));
    if embedded && config.store.seed_demo_when_empty && catalog.store().product_count().await? == 0
    {
        tracing::info!("the catalog is empty: importing the demo catalog");
        let report = seed::import(
            &catalog,
            seed::Source::Demo,
            0,
            config.currency()?,
            config.shop.initial_stock,
            false,
        )
        .await?;
        tracing::info!(
            imported = report.counts.imported,
            rejected = report.counts.rejected,
            "demo catalog imported"
        );
    } else if embedded && config.store.seed_demo_when_empty {
        // A demo store created before stock was tracked: give its products
        // the initial stock so that they can be bought.
        let stocked = catalog
            .store()
            .stock_unstocked(config.shop.initial_stock, emporium_auth::now_ms())
            .await?;
        if stocked > 0 {
            tracing::info!(
                products = stocked,
                "stocked products that had no stock record"
            );
        }
    }
    catalog.refresh_version().await?;
    catalog.warm_up().await?;
    Ok(catalog)
}

/// Rate limits and session revocations: in Redis (shared by every
/// instance) when `REDIS_URL` is set, in-process otherwise. Both fall back
/// to in-process when Redis fails.
pub async fn open_limits(config: &Config) -> anyhow::Result<(Limiter, Revocations)> {
    Ok(match config.redis_url() {
        Some(url) => {
            let conn = emporium_cache::connect_redis(url)
                .await
                .map_err(anyhow::Error::msg)?;
            let prefix = &config.cache.key_prefix;
            (
                Limiter::redis(RedisLimiter::new(conn.clone(), prefix)),
                Revocations::redis(conn, prefix),
            )
        }
        None => (Limiter::memory(), Revocations::memory()),
    })
}

/// The Argon2id hasher with the configured concurrency.
pub fn password_hasher(config: &Config) -> anyhow::Result<PasswordHasher> {
    Ok(PasswordHasher::new(
        HashCost::default(),
        config.hash_concurrency(),
        Duration::from_millis(config.auth.hash_queue_timeout_ms),
    )?)
}

/// Token verification for every role, and the identity service for the
/// roles that sign tokens (`auth`, `all`).
pub struct Identity {
    pub authn: Arc<Authn>,
    pub auth: Option<Arc<Auth>>,
    pub keys: Arc<KeyRing<Store>>,
}

pub async fn identity(
    config: &Config,
    store: &Store,
    limiter: Limiter,
    revocations: Revocations,
) -> anyhow::Result<Identity> {
    let sign = matches!(config.server.role, ServerRole::All | ServerRole::Auth);
    let source = if !sign && !config.auth.jwks_url.is_empty() {
        KeySource::Jwks(JwksSource::new(&config.auth.jwks_url).context("auth.jwks_url")?)
    } else {
        KeySource::Store(store.clone())
    };
    let keys = Arc::new(
        KeyRing::load(source, sign, config.access_ttl())
            .await
            .context("loading token keys")?,
    );
    let tokens = Arc::new(Tokens::new(
        keys.clone(),
        &config.auth.issuer,
        &config.auth.audience,
        config.access_ttl(),
    ));
    let authn = Arc::new(Authenticator::new(tokens.clone(), revocations.clone()));
    let auth = if sign {
        let l = &config.limits;
        let rule = |limit, secs| Rule {
            limit,
            window: Duration::from_secs(secs),
        };
        let auth_config = AuthConfig {
            session_ttl: Duration::from_secs(config.auth.session_ttl_secs),
            login_attempts_per_account_ip: rule(
                l.login_attempts_per_account_and_ip,
                l.login_window_secs,
            ),
            login_attempts_per_account: rule(l.login_attempts_per_account, l.login_window_secs),
            login_failures_per_ip: rule(l.login_failures_per_ip, l.login_window_secs),
            password_checks_per_user: rule(
                l.login_attempts_per_account_and_ip,
                l.login_window_secs,
            ),
            registrations_per_ip: rule(l.registrations_per_ip, l.registration_window_secs),
        };
        Some(Arc::new(AuthService::new(
            store.clone(),
            password_hasher(config)?,
            tokens,
            revocations,
            limiter,
            auth_config,
        )))
    } else {
        None
    };
    Ok(Identity { authn, auth, keys })
}

/// The commerce service's settings.
pub fn shop_config(config: &Config) -> anyhow::Result<ShopConfig> {
    Ok(ShopConfig {
        currency: config.currency()?,
        limits: config.cart_limits(),
        pricing: config.pricing(),
        payment_window: Duration::from_secs(config.shop.payment_window_secs),
        max_unpaid_orders: config.shop.max_unpaid_orders_per_user,
        tokens: TokenCrypto {
            hash: emporium_auth::hash_token,
            new: || emporium_auth::random_token().map_err(|e| e.to_string()),
        },
        clock: Arc::new(emporium_domain::clock::SystemClock),
    })
}

/// How card payments are made in this process.
pub struct PaymentSetup {
    pub payments: Option<Payments>,
    /// What `GET /api/config` tells clients.
    pub public: PublicPayments,
    pub webhooks: Option<Arc<WebhookSettings>>,
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
        PaymentMode::Off => {
            return Ok(PaymentSetup {
                payments: None,
                public: PublicPayments {
                    tokenization_url: String::new(),
                    publishable_key: String::new(),
                },
                webhooks: None,
            })
        }
        PaymentMode::Provider => (p.provider_url.clone(), p.tokenization_url.clone()),
        PaymentMode::Simulator => {
            let listener = TcpListener::bind(&p.simulator_addr)
                .await
                .with_context(|| format!("payments.simulator_addr {}", p.simulator_addr))?;
            let sim = listener.local_addr()?;
            keys = SimulatorKeys::of_data_dir(&config.server.data_dir)?;
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
                if let Err(e) =
                    emporium_paysim::run(sim_config, listener, stop.cancelled_owned()).await
                {
                    tracing::error!(error = %e, "the payment simulator stopped");
                }
            });
            let url = format!("http://{sim}");
            tracing::warn!(simulator = %url, "payments in TEST MODE: the built-in simulator takes the payments; only test cards work (4242 4242 4242 4242) and no money moves");
            println!("Payments in TEST MODE: built-in simulator at {url} (test cards only)");
            (url.clone(), format!("{url}/v1/payment_methods"))
        }
    };
    let client = StripeClient::new(ProviderConfig {
        base_url: provider_url,
        secret_key: keys.secret_key.clone(),
        connect_timeout: Duration::from_millis(p.connect_timeout_ms),
        timeout: Duration::from_millis(p.timeout_ms),
        retries: p.retries,
        backoff: Duration::from_millis(p.backoff_ms),
        breaker_threshold: p.breaker_threshold,
        breaker_cooldown: Duration::from_millis(p.breaker_cooldown_ms),
    })
    .map_err(|e| anyhow::anyhow!("payment provider client: {e}"))?;
    // A request with every retry and backoff, and some slack: until then
    // the payment is the request's; afterwards the worker may take it.
    let attempts = u64::from(p.retries) + 1;
    let lease = Duration::from_millis(
        (p.timeout_ms + p.connect_timeout_ms).saturating_mul(attempts)
            + p.backoff_ms.saturating_mul(1 << p.retries.min(10))
            + 5_000,
    );
    let policy = PaymentPolicy {
        lease,
        retry_base: Duration::from_millis(p.queue_retry_base_ms),
        retry_max: Duration::from_millis(p.queue_retry_max_ms),
        max_per_order: p.max_attempts_per_order,
        processing_timeout: Duration::from_secs(p.processing_timeout_secs),
        ..PaymentPolicy::default()
    };
    Ok(PaymentSetup {
        payments: Some(Payments {
            provider: Arc::new(client),
            policy,
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

fn api_limits(config: &Config) -> ApiLimits {
    let l = &config.limits;
    let window = Duration::from_secs(l.api_window_secs);
    ApiLimits {
        enabled: l.api_enabled,
        per_ip: Rule {
            limit: l.api_requests_per_ip,
            window,
        },
        per_user: Rule {
            limit: l.api_requests_per_user,
            window,
        },
        web_per_ip: Rule {
            limit: l.web_requests_per_ip,
            window: Duration::from_secs(60),
        },
    }
}

fn shop_limits(config: &Config) -> ShopLimits {
    let l = &config.limits;
    let checkout_window = Duration::from_secs(l.checkout_window_secs);
    let payment_window = Duration::from_secs(l.payment_window_secs);
    ShopLimits {
        carts_per_ip: Rule {
            limit: l.carts_per_ip,
            window: Duration::from_secs(l.cart_window_secs),
        },
        checkouts_per_ip: Rule {
            limit: l.checkouts_per_ip,
            window: checkout_window,
        },
        checkouts_per_user: Rule {
            limit: l.checkouts_per_user,
            window: checkout_window,
        },
        payments_per_ip: Rule {
            limit: l.payment_attempts_per_ip,
            window: payment_window,
        },
        payments_per_user: Rule {
            limit: l.payment_attempts_per_user,
            window: payment_window,
        },
    }
}

/// Serves the shop on `listener` until `shutdown` resolves; in-flight
/// requests finish before it returns.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let role = config.server.role;
    let shop = matches!(role, ServerRole::All | ServerRole::Api);
    let worker = matches!(role, ServerRole::All | ServerRole::Worker);
    let store = open_store(&config).await?;
    let store_kind = store.kind();
    let cache = open_cache(&config).await?;
    let cache_kind = emporium_domain::ports::Cache::kind(&cache);
    let (limiter, revocations) = open_limits(&config).await?;
    let identity = identity(&config, &store, limiter.clone(), revocations.clone()).await?;
    let catalog = if shop {
        catalog(&config, store.clone(), cache).await?
    } else {
        Arc::new(CatalogService::new(
            store.clone(),
            cache,
            config.cache_ttl(),
        ))
    };
    let stop = CancellationToken::new();
    let addr = listener.local_addr()?;
    let payment_setup = if shop || worker {
        payments(&config, addr, &stop).await?
    } else {
        PaymentSetup {
            payments: None,
            public: PublicPayments {
                tokenization_url: String::new(),
                publishable_key: String::new(),
            },
            webhooks: None,
        }
    };
    let mut shop_service = Shop::new(store.clone(), shop_config(&config)?);
    if let Some(p) = payment_setup.payments {
        shop_service = shop_service.with_payments(p);
    }
    let shop_service = Arc::new(shop_service);
    if shop {
        tokio::spawn(jobs::watch_catalog_version(catalog.clone(), stop.clone()));
    }
    if worker && shop_service.payments_enabled() {
        let p = &config.payments;
        tokio::spawn(jobs::drain_payment_queue(
            shop_service.clone(),
            Duration::from_millis(p.worker_interval_ms),
            stop.clone(),
        ));
        tokio::spawn(jobs::watch_payment_queue(
            shop_service.clone(),
            jobs::QueueAlert {
                after: Duration::from_secs(p.queue_alert_secs),
                webhook_url: (!p.alert_webhook_url.is_empty()).then(|| p.alert_webhook_url.clone()),
                every: Duration::from_millis(p.worker_interval_ms.clamp(100, 5_000)),
            },
            stop.clone(),
        ));
    }
    if shop || worker {
        tokio::spawn(jobs::purge_stale_commerce(
            shop_service.clone(),
            stop.clone(),
        ));
        tokio::spawn(jobs::expire_unpaid_orders(
            shop_service.clone(),
            Duration::from_secs(config.shop.expiry_check_secs.max(1)),
            stop.clone(),
        ));
    }
    tokio::spawn(jobs::reload_keys(
        identity.keys.clone(),
        Duration::from_secs(config.auth.key_reload_secs.max(1)),
        stop.clone(),
    ));
    if identity.auth.is_some() {
        tokio::spawn(jobs::purge_sessions(store.clone(), stop.clone()));
    }
    tokio::spawn(jobs::follow_revocations(
        store.clone(),
        revocations,
        config.access_ttl(),
        Duration::from_millis(config.auth.revocation_poll_ms),
        stop.clone(),
    ));

    let state = AppState {
        catalog,
        shop: shop_service,
        metrics: emporium_http::metrics_handle(),
        store_kind,
        authn: identity.authn,
        limiter,
        limits: api_limits(&config),
        shop_limits: shop_limits(&config),
        trust_forwarded_for: config.server.trust_forwarded_for,
        secure_cookies: config.server.secure_cookies,
        client_config: Arc::new(ClientConfig {
            currency: config.currency()?.to_string(),
            payments: payment_setup.public,
            test_mode: config.payments.mode != PaymentMode::Off && config.payments.test_mode(),
        }),
        webhooks: payment_setup.webhooks,
    };
    let features = Features {
        shop,
        identity: identity.auth,
    };
    let http = HttpConfig {
        request_timeout: Duration::from_millis(config.server.request_timeout_ms),
        body_limit_bytes: config.server.body_limit_bytes,
        cors_origins: config.server.cors_origins.clone(),
        request_limits: emporium_http::RequestLimits {
            max_uri_bytes: config.server.max_uri_bytes,
            max_header_bytes: config.server.max_header_bytes,
        },
        hsts_max_age_secs: config.server.hsts_max_age_secs,
        metrics_in_app: config.server.metrics_addr.is_empty(),
        metrics_token: emporium_http::ops::MetricsToken::new(
            config.server.metrics_token.expose_secret(),
        ),
    };
    let metrics_listener = match config.server.metrics_addr.as_str() {
        "" => None,
        a => Some(
            TcpListener::bind(a)
                .await
                .with_context(|| format!("server.metrics_addr {a}"))?,
        ),
    };
    let where_ = match config.database_url() {
        Some(_) => "PostgreSQL (DATABASE_URL)".to_owned(),
        None => format!(
            "SQLite at {}",
            config.server.data_dir.join("catalog.db").display()
        ),
    };
    let role_name = format!("{role:?}").to_lowercase();
    let limits = config.connection_limits();
    // One shutdown for the shop's port and the operator port.
    let stopping = CancellationToken::new();
    tokio::spawn({
        let stopping = stopping.clone();
        async move {
            shutdown.await;
            stopping.cancel();
        }
    });
    let metrics_server = match metrics_listener {
        Some(l) => {
            let maddr = l.local_addr()?;
            println!("Metrics on http://{maddr}/metrics");
            tracing::info!(%maddr, "serving /metrics on the operator address");
            let app = emporium_http::metrics_app(state.metrics.clone(), &http);
            Some(tokio::spawn(emporium_http::serve(
                l,
                app,
                limits,
                stopping.clone().cancelled_owned(),
            )))
        }
        None => {
            if !addr.ip().is_loopback() && http.metrics_token.is_none() {
                tracing::warn!(%addr, "/metrics is public on the shop's port: set server.metrics_addr or server.metrics_token");
            }
            None
        }
    };
    println!("Emporium ({role_name} role) listening on http://{addr}  (store: {where_}; cache: {cache_kind})");
    tracing::info!(%addr, role = %role_name, store = store_kind, cache = cache_kind, "listening");
    let served = emporium_http::serve(
        listener,
        emporium_http::app(state, features, &http),
        limits,
        stopping.clone().cancelled_owned(),
    )
    .await;
    stopping.cancel();
    if let Some(m) = metrics_server {
        m.await.context("the metrics server")??;
    }
    served?;
    stop.cancel();
    store.close().await;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
