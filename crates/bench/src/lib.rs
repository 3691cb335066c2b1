//! Emporium search load harness.
//!
//! Builds a realistic mix of product searches ([`QueryMix`]) and replays it
//! against a running server over HTTP/1.1 ([`run_http`], open or closed loop)
//! or straight against an in-process target such as the store
//! ([`run_direct`], [`run_direct_open`]). Results come back as [`Report`]s
//! with coordinated-omission-free latency histograms, which
//! [`markdown_table`] renders side by side.
//!
//! Open loop ([`Mode::Open`]) measures latency from the moment each request
//! was *due*, like wrk2, so queueing delay inside the harness counts.
//!
//! Many connections need many file descriptors: see [`open_files_limit`].

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod categories;
mod client;
mod engine;
mod mix;
mod report;
mod request;
mod run;

#[cfg(test)]
mod mix_tests;
#[cfg(test)]
mod run_tests;
#[cfg(test)]
mod test_server;

pub use categories::fetch_category_slugs;
pub use client::open_files_limit;
pub use engine::DRAIN_GRACE;
pub use mix::{QueryMix, PRICE_BANDS};
pub use report::{markdown_table, new_histogram, Report};
pub use request::{percent_encode, SearchRequest};
pub use run::{run_direct, run_direct_open, run_http, Mode};
