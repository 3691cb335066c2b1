//! Wiring: builds the store, cache and services from the configuration
//! (once, in one place) and runs the server until shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use emporium_auth::{HashCost, PasswordHasher};
use emporium_cache::{AnyCache, MemoryCache, RedisCache};
use emporium_domain::catalog::CatalogService;
use emporium_domain::payments::Payments;
use emporium_domain::ports::{CatalogStore, StockStore};
use emporium_domain::shop::{Shop, ShopConfig, TokenCrypto};
use emporium_http::ops::ClientConfig;
use emporium_http::{AppState, Catalog, Features, ShopService};
use emporium_store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, PaymentMode, ServerRole};
use crate::jobs;
use crate::seed;

mod identity;
mod limits;
mod payments;
mod serve;

pub use identity::{identity, Identity};
pub use limits::open_limits;
pub use payments::{payments, PaymentSetup};

/// Opens the configured store and applies migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let store = match config.database_url() {
        Some(urls) => Store::connect_postgres_with(urls, config.store.pg_options())
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
/// error: the operator asked for it. `REDIS_URL` names one server, or
/// (several comma-separated URLs) seed nodes of a Redis Cluster.
pub async fn open_cache(config: &Config) -> anyhow::Result<AnyCache> {
    let backend = match (config.cache.backend.as_str(), config.redis_url()) {
        ("auto", Some(_)) => "redis",
        ("auto", None) => "memory",
        (b, _) => b,
    };
    Ok(match backend {
        "redis" => {
            let url = config.redis_url().context("REDIS_URL is not set")?;
            let cache = RedisCache::connect(url, &config.cache.key_prefix)
                .await
                .map_err(anyhow::Error::msg)
                .context("connecting the Redis cache")?;
            tracing::info!(redis = cache.connection().kind(), "caching in Redis");
            AnyCache::Redis(cache)
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
    let catalog = Arc::new(
        CatalogService::new(store, cache, config.cache_ttl())
            .with_stale_window(config.cache_stale()),
    );
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

/// The Argon2id hasher with the configured concurrency.
pub fn password_hasher(config: &Config) -> anyhow::Result<PasswordHasher> {
    Ok(PasswordHasher::new(
        HashCost::default(),
        config.hash_concurrency(),
        Duration::from_millis(config.auth.hash_queue_timeout_ms),
    )?)
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

/// Serves the shop on `listener` until `shutdown` resolves; in-flight
/// requests finish before it returns.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let role = config.server.role;
    let shop = serves_shop(role);
    let worker = runs_jobs(role);
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
        PaymentSetup::disabled()
    };
    let shop_service = shop_service(&config, &store, payment_setup.payments)?;
    spawn_commerce_jobs(&config, &catalog, &shop_service, &stop);
    spawn_identity_jobs(&config, &identity, &store, revocations, &stop);

    let state = AppState {
        catalog,
        shop: shop_service,
        metrics: emporium_http::metrics_handle(),
        store_kind,
        authn: identity.authn,
        limiter,
        limits: limits::api_limits(&config),
        shop_limits: limits::shop_limits(&config),
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
    serve::serve(
        &config, listener, addr, state, features, shutdown, cache_kind,
    )
    .await?;
    stop.cancel();
    store.close().await;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Whether `role` serves the catalog and the rest of the shop's API
/// (`api`, `all`).
fn serves_shop(role: ServerRole) -> bool {
    matches!(role, ServerRole::All | ServerRole::Api)
}

/// Whether `role` runs the payment queue and the shop's other background
/// jobs (`worker`, `all`).
fn runs_jobs(role: ServerRole) -> bool {
    matches!(role, ServerRole::All | ServerRole::Worker)
}

/// The commerce services over `store`, taking card payments when
/// `payments` is set.
fn shop_service(
    config: &Config,
    store: &Store,
    payments: Option<Payments>,
) -> anyhow::Result<Arc<ShopService>> {
    let mut shop_service = Shop::new(store.clone(), shop_config(config)?);
    if let Some(p) = payments {
        shop_service = shop_service.with_payments(p);
    }
    Ok(Arc::new(shop_service))
}

/// Starts this role's commerce jobs, all stopping with `stop`: following
/// the catalog's version (shop), draining and watching the payment queue
/// (worker, when payments are on), and purging stale carts and expiring
/// unpaid orders (either).
fn spawn_commerce_jobs(
    config: &Config,
    catalog: &Arc<Catalog>,
    shop_service: &Arc<ShopService>,
    stop: &CancellationToken,
) {
    let shop = serves_shop(config.server.role);
    let worker = runs_jobs(config.server.role);
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
}

/// Starts the jobs every role runs, all stopping with `stop`: reloading
/// the token keys, following revocations, and purging expired sessions
/// where sessions are made.
fn spawn_identity_jobs(
    config: &Config,
    identity: &Identity,
    store: &Store,
    revocations: emporium_cache::Revocations,
    stop: &CancellationToken,
) {
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
