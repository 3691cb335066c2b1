//! Rate limits: where their counters live, and the rules of `[limits]`
//! for the API and the shop.

use std::time::Duration;

use anyhow::Context;
use emporium_cache::{Limiter, RedisLimiter, Revocations};
use emporium_domain::identity::Rule;
use emporium_http::limits::{ApiLimits, ShopLimits};

use crate::config::Config;

/// Rate limits and session revocations: in Redis (shared by every
/// instance) when `REDIS_URL` is set — one server, or several
/// comma-separated seed nodes of a Redis Cluster — in-process otherwise.
/// Both fall back to in-process when Redis (or a cluster node) fails.
pub async fn open_limits(config: &Config) -> anyhow::Result<(Limiter, Revocations)> {
    Ok(match config.redis_url() {
        Some(url) => {
            let conn = emporium_cache::connect_redis(url)
                .await
                .map_err(anyhow::Error::msg)
                .context("connecting to Redis for rate limits and revocations")?;
            tracing::info!(redis = conn.kind(), "rate limits and revocations in Redis");
            let prefix = &config.cache.key_prefix;
            (
                Limiter::redis(RedisLimiter::new(conn.clone(), prefix)),
                Revocations::redis(conn, prefix),
            )
        }
        None => (Limiter::memory(), Revocations::memory()),
    })
}

/// Requests to the API per client address and per account, and to the
/// pages per address.
pub(super) fn api_limits(config: &Config) -> ApiLimits {
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

/// Carts, checkouts and payment attempts per client address and per
/// account.
pub(super) fn shop_limits(config: &Config) -> ShopLimits {
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
