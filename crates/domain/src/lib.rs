//! Emporium's domain: the types, rules and ports of the shop.
//!
//! This crate does no IO. Adapters (storage, cache, HTTP) depend on it and
//! implement its ports; it never depends on them. `cargo tree -p
//! emporium-domain` shows no database, network or web crate.

pub mod cart;
pub mod catalog;
pub mod clock;
pub mod error;
pub mod identity;
pub mod inventory;
pub mod money;
pub mod orders;
pub mod payments;
pub mod ports;
pub mod shop;

#[cfg(test)]
mod proptests;

pub use error::{CacheError, DomainError, StoreError, ValidationError};
pub use money::{AmountTooLarge, Currency, Money, MAX_AMOUNT};
