//! A circuit breaker per connection pool: after `threshold` consecutive
//! failures it opens, and requests to that server fail at once instead of
//! waiting out the pool's acquire timeout; after `cooldown` one trial call
//! (a request or the monitor's probe) goes through, and its outcome closes
//! the breaker or opens it for another cool-down.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What a breaker lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Every call goes through.
    Closed,
    /// Calls fail at once until the cool-down ends.
    Open,
    /// The cool-down has ended: the next call is the trial.
    HalfOpen,
}

impl BreakerState {
    /// 0 closed, 1 half-open, 2 open: the `store_breaker_state` gauge.
    pub fn gauge(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Breaker {
    threshold: u32,
    cooldown: Duration,
    epoch: Instant,
    failures: AtomicU32,
    /// Milliseconds since `epoch` when the trial may go through.
    retry_at_ms: AtomicU64,
    /// A trial call is in flight.
    trial: AtomicBool,
}

impl Breaker {
    pub(crate) fn new(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            epoch: Instant::now(),
            failures: AtomicU32::new(0),
            retry_at_ms: AtomicU64::new(0),
            trial: AtomicBool::new(false),
        }
    }

    fn now_ms(&self) -> u64 {
        crate::postgres::cluster::millis(self.epoch.elapsed())
    }

    pub(crate) fn state(&self) -> BreakerState {
        if self.failures.load(Ordering::Acquire) < self.threshold {
            BreakerState::Closed
        } else if self.now_ms() >= self.retry_at_ms.load(Ordering::Acquire) {
            BreakerState::HalfOpen
        } else {
            BreakerState::Open
        }
    }

    /// Whether the breaker is closed (no trial is taken: for callers that
    /// do not report their outcome).
    pub(crate) fn is_closed(&self) -> bool {
        self.state() == BreakerState::Closed
    }

    /// Whether a call may go through now. When the breaker is half-open,
    /// only the first caller gets `true`; it must report its outcome with
    /// [`Breaker::success`] or [`Breaker::failure`].
    pub(crate) fn allow(&self) -> bool {
        match self.state() {
            BreakerState::Closed => true,
            BreakerState::Open => false,
            BreakerState::HalfOpen => self
                .trial
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok(),
        }
    }

    pub(crate) fn success(&self) {
        self.failures.store(0, Ordering::Release);
        self.trial.store(false, Ordering::Release);
    }

    /// Counts a failure; the `threshold`-th in a row (or a failed trial)
    /// opens the breaker for `cooldown`. Returns whether it is open now.
    pub(crate) fn failure(&self) -> bool {
        let n = self
            .failures
            .fetch_add(1, Ordering::AcqRel)
            .saturating_add(1);
        let open = n >= self.threshold;
        if open {
            let retry_at = self.now_ms() + crate::postgres::cluster::millis(self.cooldown);
            self.retry_at_ms.store(retry_at, Ordering::Release);
        }
        self.trial.store(false, Ordering::Release);
        open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_and_lets_one_trial_through_after_the_cooldown() {
        let b = Breaker::new(3, Duration::ZERO);
        assert!(b.allow());
        assert!(!b.failure());
        assert!(!b.failure());
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.failure());
        // Zero cool-down: half-open at once, and only one trial at a time.
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.allow());
        assert!(!b.allow());
        assert!(!b.is_closed());
        b.failure();
        assert!(
            b.allow(),
            "a failed trial is followed by another after the cool-down"
        );
        b.success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.allow() && b.allow());
    }

    #[test]
    fn an_open_breaker_refuses_calls_until_the_cooldown_ends() {
        let b = Breaker::new(1, Duration::from_secs(3600));
        b.failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.allow());
        assert!(!b.is_closed());
    }

    #[test]
    fn a_success_resets_the_count_of_failures_in_a_row() {
        let b = Breaker::new(3, Duration::from_secs(3600));
        b.failure();
        b.failure();
        b.success();
        b.failure();
        b.failure();
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
