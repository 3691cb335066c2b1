//! Background jobs of a running server, each stopped by the shared
//! cancellation token: catalog-version polling, token-key reloads, the
//! revocation feed, the purge of ended sessions, the expiry of unpaid
//! orders, and the purge of idle guest carts and old idempotency keys.

use std::sync::Arc;
use std::time::Duration;

use emporium_auth::KeyRing;
use emporium_cache::Revocations;
use emporium_domain::ports::{CommerceStore, IdentityStore};
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
/// role) from the store into this instance's revocation set twice a second,
/// so that access tokens of ended sessions are refused here within a
/// second even without Redis.
pub async fn follow_revocations(
    store: Store,
    revocations: Revocations,
    access_ttl: Duration,
    stop: CancellationToken,
) {
    let ttl_ms = i64::try_from(access_ttl.as_millis()).unwrap_or(i64::MAX);
    let mut since = emporium_auth::now_ms().saturating_sub(ttl_ms);
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {
                match store.revoked_since(since, 1000).await {
                    Ok(revoked) => {
                        for r in &revoked {
                            revocations.remember(r.session_id, access_ttl).await;
                            // Revocations are stamped by the writer's clock; the
                            // overlap tolerates a little skew between instances.
                            since = since.max(r.revoked_at.saturating_sub(2000));
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
                match shop.expire_unpaid().await {
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
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {
                let now = emporium_auth::now_ms();
                let purged = shop
                    .store()
                    .purge_stale(now.saturating_sub(ms(IDLE_GUEST_CART)), now.saturating_sub(ms(IDEMPOTENCY_KEY_LIFETIME)))
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
