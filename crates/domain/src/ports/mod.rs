//! Ports: the traits the domain needs from the outside world, by feature.
//! Each has one contract test suite that every adapter passes.

mod catalog;
mod commerce;
mod identity;
mod payments;
mod shared_state;

pub use catalog::{CatalogStore, CategoryRow};
pub use commerce::{CartStore, CheckoutStore, OrderStore, StockStore};
pub use identity::IdentityStore;
pub use payments::{PaymentStore, RefundStore};
pub use shared_state::{Cache, RateLimiter, RevocationStore};
