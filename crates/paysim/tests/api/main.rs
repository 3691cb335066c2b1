//! paysim over HTTP: the real server on port 0 with a fresh temp-dir
//! ledger each, driven with reqwest as a Stripe client would. `TEST_LOG=1`
//! shows the server's logs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

mod auth;
mod concurrency;
mod faults;
mod idempotency;
mod intents;
mod payment_methods;
mod persistence;
mod refunds;
mod requests;
mod support;
mod webhooks;
