//! Serving: the HTTP settings, the shop's port and the operator port for
//! `/metrics`, with one shutdown for both.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use emporium_http::{AppState, ConnectionLimits, Features, HttpConfig};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// Serves the app on `listener` (at `addr`), and `/metrics` on the
/// operator address when one is set, until `shutdown` resolves; in-flight
/// requests finish before it returns.
pub(super) async fn serve(
    config: &Config,
    listener: TcpListener,
    addr: SocketAddr,
    state: AppState,
    features: Features,
    shutdown: impl Future<Output = ()> + Send + 'static,
    cache_kind: &str,
) -> anyhow::Result<()> {
    let store_kind = state.store_kind;
    let http = http_config(config);
    let metrics_listener = match config.server.metrics_addr.as_str() {
        "" => None,
        a => Some(
            TcpListener::bind(a)
                .await
                .with_context(|| format!("server.metrics_addr {a}"))?,
        ),
    };
    let where_ = store_description(config);
    let role_name = format!("{:?}", config.server.role).to_lowercase();
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
    let metrics_server = serve_metrics(metrics_listener, addr, &state, &http, limits, &stopping)?;
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
    Ok(())
}

/// Request timeout, body and head limits, CORS, HSTS and where `/metrics`
/// is served.
fn http_config(config: &Config) -> HttpConfig {
    HttpConfig {
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
    }
}

/// Where the data is, as the start-up line says it.
fn store_description(config: &Config) -> String {
    match config.database_url() {
        Some(_) => "PostgreSQL (DATABASE_URL)".to_owned(),
        None => format!(
            "SQLite at {}",
            config.server.data_dir.join("catalog.db").display()
        ),
    }
}

/// Serves `/metrics` of `state` on the operator address's `listener`, if
/// there is one, until `stopping` is cancelled. Without one, `/metrics` is on the
/// shop's port at `addr`: a warning when that is public and unguarded.
fn serve_metrics(
    listener: Option<TcpListener>,
    addr: SocketAddr,
    state: &AppState,
    http: &HttpConfig,
    limits: ConnectionLimits,
    stopping: &CancellationToken,
) -> anyhow::Result<Option<JoinHandle<std::io::Result<()>>>> {
    Ok(match listener {
        Some(l) => {
            let maddr = l.local_addr()?;
            println!("Metrics on http://{maddr}/metrics");
            tracing::info!(%maddr, "serving /metrics on the operator address");
            let app = emporium_http::metrics_app(state.metrics.clone(), http);
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
    })
}
