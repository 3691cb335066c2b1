//! Orders and their state machine:
//! `pending_payment → paid → fulfilled`, `pending_payment → cancelled`,
//! `paid → refunded`, `fulfilled → refunded` (once refunds reach what was
//! paid; a partial refund leaves the state as it is). Every transition is recorded with its time and actor.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use super::{Address, Totals};
use crate::identity::UnixMillis;
use crate::ValidationError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    PendingPayment,
    Paid,
    Fulfilled,
    Cancelled,
    Refunded,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 5] = [
        OrderStatus::PendingPayment,
        OrderStatus::Paid,
        OrderStatus::Fulfilled,
        OrderStatus::Cancelled,
        OrderStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingPayment => "pending_payment",
            OrderStatus::Paid => "paid",
            OrderStatus::Fulfilled => "fulfilled",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Refunded => "refunded",
        }
    }

    /// Whether the state machine allows `self → to`.
    pub fn can_become(self, to: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, to),
            (PendingPayment, Paid)
                | (PendingPayment, Cancelled)
                | (Paid, Fulfilled)
                | (Paid, Refunded)
                | (Fulfilled, Refunded)
        )
    }

    /// Whether the order holds a stock reservation in this state.
    pub fn reserves_stock(self) -> bool {
        self == OrderStatus::PendingPayment
    }
}

impl FromStr for OrderStatus {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<OrderStatus, ValidationError> {
        OrderStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                ValidationError::new(
                    "status",
                    "must be pending_payment, paid, fulfilled, cancelled or refunded",
                )
            })
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A line of an order: copied from the cart, price included.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderLine {
    pub product_id: Uuid,
    pub sku: String,
    pub name: String,
    /// Minor units.
    pub unit_price: i64,
    pub quantity: u32,
}

impl OrderLine {
    /// `unit_price × quantity`, checked (checkout never places a line
    /// whose total does not fit; an order stored before prices were capped
    /// might hold one).
    pub fn total(&self) -> Result<i64, crate::AmountTooLarge> {
        super::line_total(self.unit_price, self.quantity)
    }
}

/// Whose order it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderOwner {
    User(Uuid),
    /// A guest: their email, and the SHA-256 of the order token that
    /// unlocks the order.
    Guest {
        email: String,
        token_hash: String,
    },
}

/// One transition in an order's history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderEvent {
    /// None for the order's creation.
    pub from: Option<OrderStatus>,
    pub to: OrderStatus,
    /// `user:<id>`, `guest`, `admin:<id>`, `system`.
    pub actor: String,
    pub reason: Option<String>,
    pub at: UnixMillis,
}

/// An order as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: Uuid,
    pub owner: OrderOwner,
    pub status: OrderStatus,
    pub currency: String,
    pub lines: Vec<OrderLine>,
    pub totals: Totals,
    pub shipping_method: String,
    pub address: Address,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
    /// When an unpaid order is cancelled and its stock released.
    pub expires_at: UnixMillis,
    /// Oldest first.
    pub events: Vec<OrderEvent>,
    /// Card payments, oldest first.
    pub payments: Vec<crate::payments::Payment>,
    /// Oldest first.
    pub refunds: Vec<crate::payments::Refund>,
}

impl Order {
    /// The payment being made now, if any.
    pub fn payment_in_flight(&self) -> Option<&crate::payments::Payment> {
        self.payments.iter().rev().find(|p| p.status.in_flight())
    }

    /// What card payments took for this order (minor units); an orphaned
    /// payment's money is not the order's.
    pub fn paid_amount(&self) -> i64 {
        self.payments
            .iter()
            .filter(|p| p.status == crate::payments::PaymentStatus::Succeeded && !p.orphaned)
            .map(|p| p.amount)
            .sum()
    }

    /// What refunds gave back (minor units).
    pub fn refunded_amount(&self) -> i64 {
        self.refunds
            .iter()
            .filter(|r| r.status == crate::payments::RefundStatus::Succeeded)
            .map(|r| r.amount)
            .sum()
    }
}

/// An order in a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderSummary {
    pub id: Uuid,
    pub status: OrderStatus,
    pub currency: String,
    pub totals: Totals,
    pub item_count: u32,
    /// The account's id or the guest's email.
    pub user_id: Option<Uuid>,
    pub guest_email: Option<String>,
    pub created_at: UnixMillis,
}

/// The Idempotency-Key of a checkout, scoped to who checks out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    /// `user:<id>` or `cart:<id>`.
    pub scope: String,
    pub key: String,
    /// A hash of the request body, so a reused key with another body is caught.
    pub request_hash: String,
}

/// Everything a checkout writes, in one transaction.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub id: Uuid,
    pub owner: OrderOwner,
    /// The cart the lines come from; its lines are removed.
    pub cart_id: Uuid,
    /// The cart's lines as priced for this order: each must still match
    /// the cart (quantity and price) and the product's current price.
    pub lines: Vec<OrderLine>,
    pub currency: String,
    pub totals: Totals,
    pub shipping_method: String,
    pub address: Address,
    pub idempotency: Idempotency,
    pub actor: String,
    pub created_at: UnixMillis,
    pub expires_at: UnixMillis,
}

/// A product whose price moved between the cart and the checkout.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PriceChange {
    pub product_id: Uuid,
    pub old_price: i64,
    pub new_price: i64,
}

/// What a checkout transaction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaceOutcome {
    /// The order was created, stock reserved and the cart emptied.
    Created(Box<Order>),
    /// This key was used before with the same request: that order.
    Replayed(Box<Order>),
    /// This key was used before with a different request. Nothing written.
    KeyReused,
    /// The cart no longer holds exactly these lines. Nothing written.
    CartChanged,
    /// Prices moved. The cart's lines now carry the new prices; nothing else written.
    PriceChanged(Vec<PriceChange>),
    /// A product is archived. Nothing written.
    Unavailable { product_id: Uuid },
    /// Not enough stock for a line. Nothing written.
    OutOfStock {
        product_id: Uuid,
        requested: u32,
        available: u32,
    },
}

/// What a transition did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransitionOutcome {
    Done(Box<Order>),
    /// The order was not in `from` (any more); it is now in this state.
    Refused {
        current: OrderStatus,
    },
    /// The order is in `from` but a payment of it is in flight.
    PaymentInFlight,
    NotFound,
}

/// A page of orders for staff.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    pub status: Option<OrderStatus>,
    pub user_id: Option<Uuid>,
    /// Orders with an id below this one (ids are time-ordered UUIDv7): the
    /// next page of a newest-first list.
    pub before: Option<Uuid>,
    pub limit: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_machine_allows_only_its_arrows() {
        use OrderStatus::*;
        let allowed = [
            (PendingPayment, Paid),
            (PendingPayment, Cancelled),
            (Paid, Fulfilled),
            (Paid, Refunded),
            (Fulfilled, Refunded),
        ];
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from} → {to}"
                );
            }
            assert_eq!(from.as_str().parse::<OrderStatus>().unwrap(), from);
        }
        assert!("shipped".parse::<OrderStatus>().is_err());
    }
}
