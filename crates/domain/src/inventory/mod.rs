//! Stock per product: on hand, and reserved by unpaid orders. Available
//! is on hand minus reserved and never negative (the stores enforce
//! `0 <= reserved <= on_hand <= MAX_ON_HAND` with conditional updates and
//! checks).

mod service;

pub use service::{InventoryService, StockError};

use uuid::Uuid;

use crate::identity::UnixMillis;

/// The most units of one product on hand: 10,000,000. Counts are `int32`
/// in the API and the stores; a stock-take or delivery above this is a
/// typo, and the cap keeps every sum of counts far from overflowing.
pub const MAX_ON_HAND: u32 = 10_000_000;

/// A product's stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StockLevel {
    pub product_id: Uuid,
    pub on_hand: u32,
    pub reserved: u32,
}

impl StockLevel {
    pub fn available(&self) -> u32 {
        self.on_hand.saturating_sub(self.reserved)
    }
}

/// A change to stock on hand by staff, kept for audit.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StockMovement {
    pub product_id: Uuid,
    pub on_hand_before: u32,
    pub on_hand_after: u32,
    pub reason: String,
    /// Who made it: `admin:<id>` for staff through the API, `bench` for the
    /// load harness.
    pub actor: String,
    pub created_at: UnixMillis,
}

/// What staff asked to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockChange {
    /// Set stock on hand to this count.
    Set(u32),
    /// Add (or, negative, remove) this many.
    Adjust(i64),
}

/// Why a stock change was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StockChangeOutcome {
    Changed(StockLevel),
    /// No such product.
    UnknownProduct,
    /// On hand would drop below what unpaid orders have reserved (or below
    /// 0); nothing changed. `on_hand` is the count before.
    BelowReserved {
        on_hand: i64,
        reserved: u32,
        requested_on_hand: i64,
    },
    /// On hand would rise above [`MAX_ON_HAND`]; nothing changed.
    AboveMaximum {
        on_hand: i64,
        requested_on_hand: i64,
    },
}

/// A product as the cart and checkout see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sellable {
    pub product_id: Uuid,
    pub sku: String,
    pub name: String,
    /// Current price, minor units of the shop's currency.
    pub price: i64,
    pub image: Option<String>,
    pub archived: bool,
    pub stock: StockLevel,
}
