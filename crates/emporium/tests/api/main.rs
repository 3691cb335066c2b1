//! HTTP tests: the real server on port 0 with a fresh store each (SQLite
//! in a temp dir, or a PostgreSQL database created and dropped), seeded
//! with the small fixture catalog. `TEST_LOG=1` shows the server's logs.

#![allow(clippy::too_many_lines, reason = "a test reads as one story")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

mod bounds;
mod catalog;
mod checkout_concurrency;
mod cli;
mod concurrency;
mod connections;
mod edges;
mod failover;
mod identity;
mod ops;
mod orders;
mod payment_security;
mod payments;
mod pci;
mod pg_cluster;
mod roles;
mod shop;
mod support;
mod throttling;
