//! The Emporium binary's library: configuration, wiring and commands, kept
//! out of `main` so that tests can start the real server.

pub mod accounts;
pub mod bench;
pub mod cli;
pub mod config;
pub mod drill;
mod jobs;
pub mod seed;
pub mod startup;
pub mod telemetry;
