//! Webhooks: the dispatcher drains the ledger's pending events in the
//! background, POSTing each as JSON to the endpoint with a
//! `Stripe-Signature`, and retries failures with exponential backoff until
//! a 2xx or the attempts run out. Delivery state lives in the ledger, so a
//! restart resumes where it stopped; API responses never wait for it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, USER_AGENT};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use emporium_payments::webhook::{sign, verify, VerifyError, SIGNATURE_HEADER};

use crate::config::WebhookRetry;
use crate::ledger::{EventDelivery, Ledger, StoredEvent};
use crate::model::{now, now_ms};

/// How long the dispatcher sleeps when nothing is due and nothing wakes it.
const IDLE: Duration = Duration::from_secs(1);

/// Where and how to deliver.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub url: String,
    pub secret: String,
    pub retry: WebhookRetry,
}

/// Delivers pending events until `shutdown`; `wake` is notified whenever
/// an event is recorded.
pub(crate) async fn dispatch(
    ledger: Ledger,
    endpoint: Endpoint,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let client = match reqwest::Client::builder()
        .timeout(endpoint.retry.timeout)
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook client; webhooks are off");
            return;
        }
    };
    let endpoint = Arc::new(endpoint);
    let mut in_flight: HashMap<tokio::task::Id, String> = HashMap::new();
    let mut tasks = JoinSet::new();
    loop {
        let mut wait = IDLE;
        match ledger.pending_events(256).await {
            Ok(events) => {
                let now = now_ms();
                for event in events {
                    if in_flight.values().any(|id| *id == event.id) {
                        continue;
                    }
                    if event.next_attempt_ms > now {
                        let until = u64::try_from(event.next_attempt_ms - now).unwrap_or(0);
                        wait = wait.min(Duration::from_millis(until));
                        break;
                    }
                    let id = event.id.clone();
                    let task = tasks.spawn(deliver(
                        client.clone(),
                        ledger.clone(),
                        endpoint.clone(),
                        event,
                    ));
                    in_flight.insert(task.id(), id);
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading pending events"),
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
            Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                let id = match done {
                    Ok((id, ())) => id,
                    Err(e) => e.id(),
                };
                in_flight.remove(&id);
            }
        }
    }
    // An attempt cut short here is made again after a restart: delivery is
    // at least once, as with Stripe.
    tasks.shutdown().await;
}

async fn deliver(
    client: reqwest::Client,
    ledger: Ledger,
    endpoint: Arc<Endpoint>,
    event: StoredEvent,
) {
    let signature = sign(&endpoint.secret, now(), event.payload.as_bytes());
    let sent = client
        .post(&endpoint.url)
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .header(USER_AGENT, "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
        .header(SIGNATURE_HEADER, signature)
        .body(event.payload.clone())
        .send()
        .await;
    let error = match sent {
        Ok(res) if res.status().is_success() => None,
        Ok(res) => Some(format!("the endpoint answered {}", res.status())),
        Err(e) => Some(format!("delivery failed: {e}")),
    };
    let attempts = event.attempts.saturating_add(1);
    let outcome = match error {
        None => EventDelivery::Delivered,
        Some(error) => match endpoint.retry.backoff_after(attempts) {
            Some(wait) => EventDelivery::Retry {
                error,
                next_attempt_ms: now_ms()
                    .saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX)),
            },
            None => EventDelivery::GaveUp { error },
        },
    };
    match &outcome {
        EventDelivery::Delivered => {
            tracing::debug!(event = %event.id, attempts, "webhook delivered")
        }
        EventDelivery::Retry { error, .. } => {
            tracing::info!(event = %event.id, attempts, %error, "webhook failed; will retry");
        }
        EventDelivery::GaveUp { error } => {
            tracing::warn!(event = %event.id, attempts, %error, "webhook failed; giving up");
        }
    }
    if let Err(e) = ledger.record_delivery(&event.id, &outcome).await {
        tracing::warn!(event = %event.id, error = %e, "recording a webhook delivery");
    }
}
