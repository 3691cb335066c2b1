//! paysim: a payment-provider simulator speaking a faithful subset of
//! Stripe's API (PaymentMethods, tokens, PaymentIntents, refunds, events),
//! so that a client written against it can point at the real Stripe by
//! configuration. Requests are form-encoded with Bearer keys and
//! `Idempotency-Key`s; responses and errors are Stripe's objects; events
//! are POSTed as signed webhooks; faults (outage, latency, errors,
//! "succeeds but times out") can be injected at runtime through
//! `/_control`. Everything is kept in a SQLite ledger that survives
//! restarts. Card numbers and CVCs are never stored nor logged.
//!
//! Embed it with [`run`]:
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:12111").await?;
//! let config = emporium_paysim::Config::default();
//! emporium_paysim::run(config, listener, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

mod api;
mod auth;
mod cards;
pub mod config;
mod faults;
mod form;
pub mod harness;
mod idempotency;
mod ledger;
mod model;
mod stripe_error;
pub mod webhooks;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

use crate::ledger::Ledger;

pub use api::router;
pub use config::{Config, Faults, WebhookRetry};
pub use webhooks::{sign, verify, VerifyError, SIGNATURE_HEADER};

/// The secret key of [`Config::default`].
pub const SECRET_KEY_DEFAULT: &str = "sk_test_paysim";

/// Everything handlers share, built once by [`AppState::open`].
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

struct Shared {
    ledger: Ledger,
    secret_key: String,
    publishable_key: String,
    faults: watch::Sender<Faults>,
    /// Notified whenever events may have been recorded.
    events: Arc<Notify>,
    /// Cancelled at shutdown (ends injected delays early).
    shutdown: CancellationToken,
}

impl AppState {
    /// Opens the ledger and starts with the configured faults.
    pub async fn open(config: &Config) -> anyhow::Result<AppState> {
        config.validate().map_err(anyhow::Error::msg)?;
        let ledger = Ledger::open(&config.ledger_path)
            .await
            .with_context(|| format!("opening the ledger {}", config.ledger_path.display()))?;
        Ok(AppState {
            inner: Arc::new(Shared {
                ledger,
                secret_key: config.secret_key.clone(),
                publishable_key: config.publishable_key.clone(),
                faults: watch::Sender::new(config.faults.clone()),
                events: Arc::new(Notify::new()),
                shutdown: CancellationToken::new(),
            }),
        })
    }

    pub(crate) fn ledger(&self) -> &Ledger {
        &self.inner.ledger
    }

    /// The faults in force.
    pub fn faults(&self) -> Faults {
        self.inner.faults.borrow().clone()
    }

    /// Replaces the faults in force.
    pub fn set_faults(&self, faults: Faults) -> Result<(), String> {
        faults.validate()?;
        self.inner.faults.send_replace(faults);
        Ok(())
    }

    /// Wakes the webhook dispatcher after events were recorded.
    fn events_recorded(&self) {
        self.inner.events.notify_one();
    }

    fn shutdown_token(&self) -> &CancellationToken {
        &self.inner.shutdown
    }
}

/// Serves the simulator on `listener` until `shutdown` completes, with the
/// webhook dispatcher running beside it when `webhook_url` is set; then
/// finishes in-flight requests and closes the ledger.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = AppState::open(&config).await?;
    let token = state.shutdown_token().clone();
    let dispatcher = config.webhook_url.clone().map(|url| {
        let endpoint = webhooks::Endpoint {
            url,
            secret: config.webhook_secret.clone(),
            retry: config.webhook_retry.clone(),
        };
        tokio::spawn(webhooks::dispatch(
            state.ledger().clone(),
            endpoint,
            state.inner.events.clone(),
            token.clone(),
        ))
    });
    tracing::info!(addr = %listener.local_addr()?, "paysim listening");
    let stop = token.clone();
    let served = axum::serve(listener, router(state.clone()))
        .with_graceful_shutdown(async move {
            tokio::select! {
                () = shutdown => {}
                () = stop.cancelled() => {}
            }
            stop.cancel();
        })
        .await;
    token.cancel();
    if let Some(dispatcher) = dispatcher {
        if let Err(e) = dispatcher.await {
            tracing::warn!(error = %e, "the webhook dispatcher ended abnormally");
        }
    }
    state.ledger().close().await;
    served.context("serving paysim")
}
