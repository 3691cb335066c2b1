//! Checkout and orders: shipping addresses, pricing (shipping and tax),
//! the order state machine, and what the store does in one checkout
//! transaction.

mod address;
mod checkout;
mod model;
mod pricing;
mod service;

pub use address::{Address, AddressInput};
pub use checkout::{CheckoutError, CheckoutRequest, CheckoutService, Placed};
pub use model::{
    Idempotency, NewOrder, Order, OrderEvent, OrderFilter, OrderLine, OrderOwner, OrderStatus,
    OrderSummary, PlaceOutcome, PriceChange, TransitionOutcome,
};
pub use pricing::{line_total, Pricing, ShippingMethod, TaxRate, Totals, MAX_TAX_BP};
pub use service::{OrderError, OrderService, OrderViewer};
