//! Carts: who owns one, how many of what it may hold, and the lines as
//! the store keeps them (with the price seen when each was added).

mod service;

use uuid::Uuid;

use crate::identity::UnixMillis;
use crate::ValidationError;

pub use service::{CartError, CartLineView, CartRef, CartService, CartView};

/// Limits on one cart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CartLimits {
    /// Most units of one product per line (default 99).
    pub max_per_line: u32,
    /// Most distinct products per cart (default 100).
    pub max_lines: u32,
}

impl Default for CartLimits {
    fn default() -> Self {
        CartLimits {
            max_per_line: 99,
            max_lines: 100,
        }
    }
}

impl CartLimits {
    /// A quantity to add or set: a whole number from `min` (1 to add, 0 to
    /// set, where 0 removes the line) to `max_per_line`.
    pub fn quantity(&self, raw: i64, min: u32) -> Result<u32, ValidationError> {
        let max = i64::from(self.max_per_line);
        if raw < i64::from(min) {
            return Err(ValidationError::new(
                "quantity",
                format!("must be at least {min}"),
            ));
        }
        if raw > max {
            return Err(ValidationError::new(
                "quantity",
                format!("must be at most {max} per line"),
            ));
        }
        u32::try_from(raw).map_err(|_| ValidationError::new("quantity", "is out of range"))
    }
}

/// Who a cart belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CartOwner {
    /// A guest holding the cart token whose SHA-256 this is.
    Guest {
        token_hash: String,
    },
    User(Uuid),
}

/// A cart line joined with the product's current state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartLineRecord {
    pub product_id: Uuid,
    pub sku: String,
    pub name: String,
    pub image: Option<String>,
    pub quantity: u32,
    /// The price when the line was added (or last re-priced).
    pub unit_price: i64,
    /// The product's price now.
    pub current_price: i64,
    pub archived: bool,
    /// Units available now (on hand minus reserved).
    pub available: u32,
    pub added_at: UnixMillis,
}

/// What adding to a cart did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    /// The line now holds this many (capped at the per-line limit).
    Added { quantity: u32 },
    /// The cart already has `max_lines` other products.
    TooManyLines,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_bounded() {
        let l = CartLimits::default();
        assert_eq!(l.quantity(1, 1).unwrap(), 1);
        assert_eq!(l.quantity(99, 1).unwrap(), 99);
        assert_eq!(l.quantity(0, 0).unwrap(), 0);
        for bad in [0, -1, 100, 1_000_000, i64::MIN, i64::MAX] {
            assert!(l.quantity(bad, 1).is_err(), "{bad}");
        }
    }
}
