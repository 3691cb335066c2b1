//! Staff stock: setting or adjusting what is on hand, with a reason for the
//! audit trail, and reading a product's stock and movements.

use std::sync::Arc;

use uuid::Uuid;

use super::{StockChange, StockChangeOutcome, StockLevel, StockMovement, MAX_ON_HAND};
use crate::ports::{CartStore, StockStore};
use crate::shop::ShopConfig;
use crate::{StoreError, ValidationError};

/// Why a stock change or read was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StockError {
    #[error("validation failed")]
    Validation(Vec<ValidationError>),
    /// 404: also for things that exist but are not the caller's, so ids
    /// cannot be probed.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A stock change would leave on hand below what unpaid orders have
    /// reserved (or below 0). `field` is the request's (`on_hand`, `delta`).
    #[error("stock on hand would become {requested_on_hand}, below {}", floor(*.reserved))]
    StockBelowReserved {
        field: &'static str,
        on_hand: i64,
        reserved: u32,
        requested_on_hand: i64,
    },
    /// A stock change would take on hand above [`crate::inventory::MAX_ON_HAND`].
    #[error("stock on hand would become {requested_on_hand}, above the maximum of {max} units")]
    StockAboveMaximum {
        field: &'static str,
        on_hand: i64,
        requested_on_hand: i64,
        max: u32,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ValidationError> for StockError {
    fn from(e: ValidationError) -> Self {
        StockError::Validation(vec![e])
    }
}

/// What stock on hand may not go below, in words.
fn floor(reserved: u32) -> String {
    match reserved {
        0 => "zero".to_owned(),
        n => format!("the {n} units reserved by unpaid orders"),
    }
}

/// Stock on hand and its movements.
pub struct InventoryService<S> {
    pub(crate) store: S,
    pub(crate) config: Arc<ShopConfig>,
}

impl<S: Clone> Clone for InventoryService<S> {
    fn clone(&self) -> Self {
        InventoryService {
            store: self.store.clone(),
            config: self.config.clone(),
        }
    }
}

impl<S> InventoryService<S> {
    pub(crate) fn new(store: S, config: Arc<ShopConfig>) -> InventoryService<S> {
        InventoryService { store, config }
    }

    fn now(&self) -> i64 {
        self.config.clock.now_ms()
    }
}

impl<S: StockStore + CartStore> InventoryService<S> {
    /// Sets or adjusts a product's stock on hand, with a reason for the
    /// audit trail: never below what unpaid orders reserve (nor 0), never
    /// above [`MAX_ON_HAND`].
    pub async fn change_stock(
        &self,
        product_id: Uuid,
        change: StockChange,
        reason: &str,
        actor: &str,
    ) -> Result<StockLevel, StockError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(ValidationError::new("reason", "is required (1 to 500 characters)").into());
        }
        // The request alone: a count or delta no product may have, named
        // by its own field. What the change would make of the stock is the
        // store's to check, atomically.
        let max = i64::from(MAX_ON_HAND);
        let (field, in_range) = match change {
            StockChange::Set(n) => ("on_hand", n <= MAX_ON_HAND),
            StockChange::Adjust(d) => ("delta", (-max..=max).contains(&d)),
        };
        if !in_range {
            let message = match change {
                StockChange::Set(_) => format!("must be at most {MAX_ON_HAND}"),
                StockChange::Adjust(_) => format!("must be from -{max} to {max}"),
            };
            return Err(ValidationError::new(field, message).into());
        }
        match self
            .store
            .change_stock(product_id, change, reason, actor, self.now())
            .await?
        {
            StockChangeOutcome::Changed(level) => Ok(level),
            StockChangeOutcome::UnknownProduct => Err(StockError::NotFound("product")),
            StockChangeOutcome::BelowReserved {
                on_hand,
                reserved,
                requested_on_hand,
            } => Err(StockError::StockBelowReserved {
                field,
                on_hand,
                reserved,
                requested_on_hand,
            }),
            StockChangeOutcome::AboveMaximum {
                on_hand,
                requested_on_hand,
            } => Err(StockError::StockAboveMaximum {
                field,
                on_hand,
                requested_on_hand,
                max: MAX_ON_HAND,
            }),
        }
    }

    /// Whether a product exists, archived or not.
    pub async fn product_exists(&self, product_id: Uuid) -> Result<bool, StockError> {
        Ok(self.store.sellable(product_id).await?.is_some())
    }

    /// Gives products that have no stock record yet one with nothing on
    /// hand (products just created by staff); returns how many.
    pub async fn stock_new_products(&self) -> Result<u64, StockError> {
        Ok(self.store.stock_unstocked(0, self.now()).await?)
    }

    pub async fn stock(
        &self,
        product_id: Uuid,
    ) -> Result<(StockLevel, Vec<StockMovement>), StockError> {
        let level = self.store.stock(product_id).await?;
        let level = match level {
            Some(l) => l,
            None => {
                self.store
                    .sellable(product_id)
                    .await?
                    .ok_or(StockError::NotFound("product"))?
                    .stock
            }
        };
        Ok((level, self.store.stock_movements(product_id, 50).await?))
    }
}
