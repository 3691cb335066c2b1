//! A circuit breaker: after `threshold` consecutive failures it opens and
//! refuses calls for `cooldown`; then it lets one trial call through
//! (half-open): a success closes it, a failure opens it again. Its state is
//! exported as the gauge `payment_provider_circuit_state` (0 closed,
//! 1 half-open, 2 open).

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { trial_running: bool },
}

#[derive(Debug)]
pub struct Breaker {
    state: Mutex<State>,
    threshold: u32,
    cooldown: Duration,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Breaker {
        let b = Breaker {
            state: Mutex::new(State::Closed { failures: 0 }),
            threshold: threshold.max(1),
            cooldown,
        };
        b.export(State::Closed { failures: 0 });
        b
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn export(&self, s: State) {
        let v = match s {
            State::Closed { .. } => 0.0,
            State::HalfOpen { .. } => 1.0,
            State::Open { .. } => 2.0,
        };
        metrics::gauge!("payment_provider_circuit_state").set(v);
    }

    /// The current state.
    pub fn state(&self) -> State {
        *self.lock()
    }

    /// Whether a call may go out now (in half-open, only one trial at a time).
    pub fn allow(&self) -> bool {
        let mut s = self.lock();
        let next = match *s {
            State::Closed { .. } => return true,
            State::Open { until } if Instant::now() < until => return false,
            State::Open { .. }
            | State::HalfOpen {
                trial_running: false,
            } => State::HalfOpen {
                trial_running: true,
            },
            State::HalfOpen {
                trial_running: true,
            } => return false,
        };
        *s = next;
        self.export(next);
        true
    }

    pub fn success(&self) {
        let mut s = self.lock();
        let next = State::Closed { failures: 0 };
        if *s != next {
            *s = next;
            self.export(next);
        }
    }

    pub fn failure(&self) {
        let mut s = self.lock();
        let next = match *s {
            State::Closed { failures } if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            _ => State::Open {
                until: Instant::now() + self.cooldown,
            },
        };
        if matches!(next, State::Open { .. }) && !matches!(*s, State::Open { .. }) {
            tracing::warn!(
                cooldown_ms = self.cooldown.as_millis() as u64,
                "payment provider circuit opened"
            );
        }
        *s = next;
        self.export(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_after_three_failures_and_half_opens_after_the_cooldown() {
        let b = Breaker::new(3, Duration::from_secs(10));
        for _ in 0..2 {
            assert!(b.allow());
            b.failure();
        }
        assert!(b.allow(), "two failures keep it closed");
        b.failure();
        assert!(matches!(b.state(), State::Open { .. }));
        assert!(!b.allow());
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(b.allow(), "one trial after the cooldown");
        assert!(!b.allow(), "only one trial at a time");
        b.failure();
        assert!(!b.allow(), "a failed trial opens it again");
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(b.allow());
        b.success();
        assert_eq!(b.state(), State::Closed { failures: 0 });
        assert!(b.allow());
    }

    #[test]
    fn a_success_resets_the_count() {
        let b = Breaker::new(3, Duration::from_secs(10));
        b.failure();
        b.failure();
        b.success();
        b.failure();
        b.failure();
        assert_eq!(b.state(), State::Closed { failures: 2 });
    }
}
