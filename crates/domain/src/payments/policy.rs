//! How patient the shop is with payments, and the provider it pays through.

use std::sync::Arc;
use std::time::Duration;

use super::PaymentProvider;

/// How patient the shop is with payments.
#[derive(Debug, Clone)]
pub struct PaymentPolicy {
    /// How long one request to the provider (with its retries) may own a
    /// payment before the worker may ask again: longer than the client's
    /// total time with every retry.
    pub lease: Duration,
    /// The queue's first backoff; doubled per attempt up to `retry_max`,
    /// with jitter.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// A queued payment older than this fails (the provider keeps
    /// idempotency keys for 24 hours).
    pub give_up_after: Duration,
    /// Payments one order may have (declines included): a card-testing guard.
    pub max_per_order: u32,
    /// After a decline, the order stays payable at least this long.
    pub decline_grace: Duration,
    /// A payment the provider still reports `processing` after this long
    /// fails (the order is released): an order does not hold its stock
    /// for the whole of `give_up_after` on the provider's say-so. Should
    /// the provider succeed later, the webhook is recorded as an anomaly
    /// for staff to refund.
    pub processing_timeout: Duration,
    /// Payments (or refunds) the worker claims at once, and how many of
    /// them it asks the provider about concurrently.
    pub batch: u32,
    pub concurrency: usize,
}

impl Default for PaymentPolicy {
    fn default() -> Self {
        PaymentPolicy {
            lease: Duration::from_secs(60),
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(30),
            give_up_after: Duration::from_secs(23 * 3600),
            max_per_order: 10,
            decline_grace: Duration::from_secs(300),
            processing_timeout: Duration::from_secs(900),
            batch: 64,
            concurrency: 16,
        }
    }
}

/// The provider and the policy, when payments are on.
#[derive(Clone)]
pub struct Payments {
    pub provider: Arc<dyn PaymentProvider>,
    pub policy: PaymentPolicy,
}

impl std::fmt::Debug for Payments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payments")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

pub(super) use crate::clock::millis as ms;

/// The queue's backoff before attempt `attempts + 1`: base × 2^(attempts−1),
/// capped, with jitter in [½, 1] so that a recovered provider is not hit by
/// every queued payment at once.
pub(super) fn backoff(policy: &PaymentPolicy, attempts: u32) -> i64 {
    let exp = attempts.saturating_sub(1).min(20);
    let raw = policy
        .retry_base
        .saturating_mul(1u32 << exp)
        .min(policy.retry_max);
    ms(raw.mul_f64(0.5 + fastrand::f64() / 2.0))
}
