//! Background jobs of a running server, each stopped by the shared
//! cancellation token: catalog-version polling, token-key reloads, the
//! revocation feed, the purge of ended sessions, the expiry of unpaid
//! orders, and the purge of idle guest carts and old idempotency keys.

use std::sync::Arc;
use std::time::Duration;

use emporium_auth::{KeyRing, RevocationFeed};
use emporium_cache::Revocations;
use emporium_domain::ports::IdentityStore;
use emporium_http::{Catalog, ShopService};
use emporium_store::Store;
use tokio_util::sync::CancellationToken;

/// Re-reads token keys, so that a rotation by `emporium keys rotate` (or
/// on another instance) is picked up.
pub async fn reload_keys(keys: Arc<KeyRing<Store>>, every: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {
                if let Err(e) = keys.reload().await {
                    tracing::warn!(error = %e, "could not reload token keys");
                }
            }
        }
    }
}

/// How long ended sessions (and their used refresh tokens) are kept, for
/// investigating reuse, before the hourly purge deletes them.
const ENDED_SESSION_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Deletes long-ended sessions every hour (every auth instance may run it;
/// the delete is idempotent).
pub async fn purge_sessions(store: Store, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {
                let keep_ms = i64::try_from(ENDED_SESSION_RETENTION.as_millis()).unwrap_or(i64::MAX);
                let before = emporium_auth::now_ms().saturating_sub(keep_ms);
                match store.purge_sessions(before).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(sessions = n, "purged ended sessions"),
                    Err(e) => tracing::warn!(error = %e, "could not purge ended sessions"),
                }
            }
        }
    }
}

/// Copies sessions revoked anywhere (a logout on another instance or
/// role) from the store into this instance's revocation set every `every`
/// (`auth.revocation_poll_ms`), so that access tokens of ended sessions
/// are refused here within about that long even without Redis.
pub async fn follow_revocations(
    store: Store,
    revocations: Revocations,
    access_ttl: Duration,
    every: Duration,
    stop: CancellationToken,
) {
    let ttl_ms = i64::try_from(access_ttl.as_millis()).unwrap_or(i64::MAX);
    let mut feed = RevocationFeed::starting_at(emporium_auth::now_ms().saturating_sub(ttl_ms));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {
                match feed.poll(&store, emporium_auth::now_ms()).await {
                    Ok(revoked) => {
                        for r in &revoked {
                            revocations.remember(r.session_id, access_ttl).await;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "could not read session revocations"),
                }
            }
        }
    }
}

/// Polls the catalog version so that imports by other processes (a seed,
/// another instance) invalidate this instance's cache within a second.
pub async fn watch_catalog_version(catalog: Arc<Catalog>, stop: CancellationToken) {
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

/// Cancels unpaid orders whose payment window has ended, releasing their
/// stock, every `every` (`shop.expiry_check_secs`). Every instance may run
/// it: each cancellation is a conditional update.
pub async fn expire_unpaid_orders(
    shop: Arc<ShopService>,
    every: Duration,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {
                match shop.orders().expire_unpaid().await {
                    Ok(0) => {}
                    Ok(n) => {
                        metrics::counter!("orders_expired_total").increment(u64::try_from(n).unwrap_or(u64::MAX));
                        tracing::info!(orders = n, "cancelled unpaid orders past their payment window");
                    }
                    Err(e) => tracing::warn!(error = %e, "could not expire unpaid orders"),
                }
            }
        }
    }
}

/// Guest carts untouched this long are deleted.
const IDLE_GUEST_CART: Duration = Duration::from_secs(30 * 24 * 3600);
/// Idempotency-Keys are honoured this long (clients retry within minutes).
const IDEMPOTENCY_KEY_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// Deletes idle guest carts and expired Idempotency-Keys every hour.
pub async fn purge_stale_commerce(shop: Arc<ShopService>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {
                let purged = shop
                    .carts()
                    .purge_stale(IDLE_GUEST_CART, IDEMPOTENCY_KEY_LIFETIME)
                    .await;
                match purged {
                    Ok((0, 0)) => {}
                    Ok((carts, keys)) => tracing::info!(carts, keys, "purged idle guest carts and old idempotency keys"),
                    Err(e) => tracing::warn!(error = %e, "could not purge idle carts and old keys"),
                }
            }
        }
    }
}

/// The payment worker: drains the payment queue (payments whose provider
/// call did not answer, and payments whose instance died mid-call) and
/// pending refunds, every `every`, and at once again after a pass that
/// settled anything (the provider is answering: keep going). Any number of instances may run it: a claim hands each
/// payment to one of them.
pub async fn drain_payment_queue(shop: Arc<ShopService>, every: Duration, stop: CancellationToken) {
    loop {
        let mut busy = false;
        match shop.payments().drain_payments().await {
            Ok(r) if r.claimed > 0 => {
                busy = r.requeued < r.claimed;
                metrics::counter!("payment_queue_attempts_total").increment(r.claimed as u64);
                tracing::info!(
                    claimed = r.claimed,
                    succeeded = r.succeeded,
                    declined = r.declined,
                    failed = r.failed,
                    requeued = r.requeued,
                    "payment queue pass"
                );
                for (payment, order) in r.orphaned {
                    metrics::counter!("payments_orphaned_total").increment(1);
                    tracing::error!(%payment, %order, "a payment succeeded for an order that can no longer take it: refund it");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "payment queue pass failed"),
        }
        match shop.payments().drain_refunds().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(refunds = n, "retried pending refunds"),
            Err(e) => tracing::warn!(error = %e, "refund queue pass failed"),
        }
        let pause = if busy { Duration::ZERO } else { every };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// When the payment queue is worth waking someone for.
#[derive(Debug, Clone)]
pub struct QueueAlert {
    /// A payment queued longer than this raises the alert.
    pub after: Duration,
    /// Optional ops webhook: POSTed `{"alert":"payment_queue","state":"firing"|"resolved",…}`.
    pub webhook_url: Option<String>,
    /// How often the queue is looked at.
    pub every: Duration,
}

/// Exports the payment queue as metrics (`payment_queue_depth{state}`,
/// `payment_queue_oldest_seconds`, `refunds_pending`) and raises an alert
/// while its oldest payment has waited longer than `alert.after`: the
/// `payment_queue_alert` gauge at 1, an error-level log line (repeated
/// every five minutes while it lasts) and, once per episode, a POST to the
/// ops webhook; its end is logged and posted too.
pub async fn watch_payment_queue(
    shop: Arc<ShopService>,
    alert: QueueAlert,
    stop: CancellationToken,
) {
    const REPEAT: Duration = Duration::from_secs(300);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_default();
    let mut firing_since: Option<std::time::Instant> = None;
    let mut last_log = std::time::Instant::now();
    let mut tick = tokio::time::interval(alert.every);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let stats = match shop.payments().payment_queue().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the payment queue");
                continue;
            }
        };
        let now = emporium_auth::now_ms();
        let oldest_secs = stats
            .oldest_queued_at
            .map_or(0.0, |t| (now.saturating_sub(t)).max(0) as f64 / 1000.0);
        metrics::gauge!("payment_queue_depth", "state" => "queued").set(stats.queued as f64);
        metrics::gauge!("payment_queue_depth", "state" => "processing")
            .set(stats.processing as f64);
        metrics::gauge!("payment_queue_oldest_seconds").set(oldest_secs);
        metrics::gauge!("refunds_pending").set(stats.refunds_pending as f64);
        let over = stats.queued > 0 && oldest_secs > alert.after.as_secs_f64();
        metrics::gauge!("payment_queue_alert").set(if over { 1.0 } else { 0.0 });
        match (over, firing_since) {
            (true, None) => {
                firing_since = Some(std::time::Instant::now());
                last_log = std::time::Instant::now();
                tracing::error!(queued = stats.queued, oldest_secs, "ALERT payment queue: payments have waited longer than {} s for the provider; see docs/runbooks/payment-provider-down.md", alert.after.as_secs());
                notify(&client, &alert, "firing", stats.queued, oldest_secs).await;
            }
            (true, Some(_)) if last_log.elapsed() >= REPEAT => {
                last_log = std::time::Instant::now();
                tracing::error!(
                    queued = stats.queued,
                    oldest_secs,
                    "ALERT payment queue still waiting for the provider"
                );
            }
            (false, Some(since)) => {
                firing_since = None;
                tracing::warn!(
                    after_secs = since.elapsed().as_secs(),
                    "payment queue alert resolved"
                );
                notify(&client, &alert, "resolved", stats.queued, oldest_secs).await;
            }
            _ => {}
        }
    }
}

async fn notify(
    client: &reqwest::Client,
    alert: &QueueAlert,
    state: &str,
    queued: u64,
    oldest_secs: f64,
) {
    let Some(url) = &alert.webhook_url else {
        return;
    };
    let body = serde_json::json!({
        "alert": "payment_queue",
        "state": state,
        "queued": queued,
        "oldest_seconds": oldest_secs,
        "threshold_seconds": alert.after.as_secs(),
        "runbook": "docs/runbooks/payment-provider-down.md",
    });
    match client.post(url).json(&body).send().await {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => tracing::warn!(status = %r.status(), "the ops webhook refused the alert"),
        Err(e) => tracing::warn!(
            error = %delivery_error(e),
            "could not deliver the alert to the ops webhook"
        ),
    }
}

/// A delivery error without its URL: an ops webhook's address is often a
/// credential (a chat service's token in the path), so it stays out of
/// the logs.
fn delivery_error(e: reqwest::Error) -> String {
    e.without_url().to_string()
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "a test fails loudly on what it did not expect"
    )]

    #[tokio::test]
    async fn an_undeliverable_alert_does_not_log_its_url() {
        // Nothing listens on a port just released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/services/T000/B000/s3cr3t-token");
        let e = reqwest::Client::new().post(&url).send().await.unwrap_err();
        assert!(
            e.to_string().contains("s3cr3t-token"),
            "reqwest shows it: {e}"
        );
        let logged = super::delivery_error(e);
        assert!(!logged.contains("s3cr3t-token"), "{logged}");
        assert!(!logged.contains("/services/"), "{logged}");
    }
}
