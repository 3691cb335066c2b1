//! Unit tests of the payment service's helpers.

use std::time::Duration;

use super::check_token;
use crate::payments::policy::backoff;
use crate::payments::PaymentPolicy;

#[test]
fn tokens_are_checked_and_card_numbers_refused() {
    for ok in ["pm_1AbC", "tok_visa", "pm_card_visa"] {
        assert!(check_token(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "pm",
        "pm 1",
        "pm_ü",
        &"x".repeat(256),
        "4242424242424242",
        "4242 4242 4242 4242",
        "4242-4242-4242-4242",
    ] {
        assert!(check_token(bad).is_err(), "{bad}");
    }
    let err = check_token("4242424242424242").unwrap_err();
    assert!(!err.message.contains("4242"));
    assert!(err.message.contains("card number"));
}

#[test]
fn backoff_doubles_up_to_the_cap_with_jitter() {
    let policy = PaymentPolicy {
        retry_base: Duration::from_secs(1),
        retry_max: Duration::from_secs(8),
        ..PaymentPolicy::default()
    };
    for (attempts, full) in [(1, 1_000), (2, 2_000), (3, 4_000), (4, 8_000), (9, 8_000)] {
        for _ in 0..50 {
            let b = backoff(&policy, attempts);
            assert!((full / 2..=full).contains(&b), "{attempts}: {b}");
        }
    }
}
