//! Wiring: builds the store, cache and services from the configuration
//! (once, in one place) and runs the server until shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use emporium_cache::{AnyCache, MemoryCache, RedisCache};
use emporium_domain::catalog::CatalogService;
use emporium_domain::ports::CatalogStore;
use emporium_http::{AppState, Catalog, HttpConfig};
use emporium_store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
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
    Ok(store)
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
        let report =
            seed::import(&catalog, seed::Source::Demo, 0, config.currency()?, false).await?;
        tracing::info!(
            imported = report.counts.imported,
            rejected = report.counts.rejected,
            "demo catalog imported"
        );
    }
    catalog.refresh_version().await?;
    catalog.warm_up().await?;
    Ok(catalog)
}

/// Serves the shop on `listener` until `shutdown` resolves; in-flight
/// requests finish before it returns.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    let store_kind = store.kind();
    let cache = open_cache(&config).await?;
    let cache_kind = emporium_domain::ports::Cache::kind(&cache);
    let catalog = catalog(&config, store.clone(), cache).await?;
    let stop = CancellationToken::new();
    tokio::spawn(watch_catalog_version(catalog.clone(), stop.clone()));

    let state = AppState {
        catalog,
        metrics: emporium_http::metrics_handle(),
        store_kind,
    };
    let http = HttpConfig {
        request_timeout: Duration::from_millis(config.server.request_timeout_ms),
        body_limit_bytes: config.server.body_limit_bytes,
        cors_origins: config.server.cors_origins.clone(),
    };
    let addr = listener.local_addr()?;
    let where_ = match config.database_url() {
        Some(_) => "PostgreSQL (DATABASE_URL)".to_owned(),
        None => format!(
            "SQLite at {}",
            config.server.data_dir.join("catalog.db").display()
        ),
    };
    println!("Emporium listening on http://{addr}  (store: {where_}; cache: {cache_kind})");
    tracing::info!(%addr, store = store_kind, cache = cache_kind, "listening");
    emporium_http::serve(listener, emporium_http::app(state, &http), shutdown).await?;
    stop.cancel();
    store.close().await;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Polls the catalog version so that imports by other processes (a seed,
/// another instance) invalidate this instance's cache within a second.
async fn watch_catalog_version(catalog: Arc<Catalog>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {
                if let Err(e) = catalog.refresh_version().await {
                    tracing::warn!(error = %e, "could not read the catalog version");
                }
            }
        }
    }
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
