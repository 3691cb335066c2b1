//! Cart operations: find or create the caller's cart, add, change and
//! remove lines within the limits and the stock, merge a guest's cart into
//! the user's on sign-in, and show the cart with server-computed totals.

use std::sync::Arc;

use uuid::Uuid;

use super::{AddOutcome, CartLineRecord, CartOwner};
use crate::orders::{line_total, Totals};
use crate::ports::CartStore;
use crate::shop::ShopConfig;
use crate::{StoreError, ValidationError};

/// Whose cart a request is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CartRef {
    /// A guest presenting their cart token (`X-Cart-Token`).
    Guest(String),
    /// A signed-in user; a guest token sent along is merged into their cart.
    User {
        user_id: Uuid,
        guest_token: Option<String>,
    },
}

/// A line as the customer sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CartLineView {
    pub product_id: Uuid,
    pub sku: String,
    pub name: String,
    pub image: Option<String>,
    pub quantity: u32,
    /// The price when added, minor units: what checkout charges.
    pub unit_price: i64,
    pub line_total: i64,
    /// Units available now.
    pub available: u32,
    /// The product's price now differs from `unit_price`; checkout will
    /// answer 409 and update the line.
    pub price_changed: bool,
    /// The product is no longer sold; remove it to check out.
    pub unavailable: bool,
}

/// A cart with totals computed by the server. Shipping is the cheapest
/// method's and tax the default rate until checkout knows the address.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CartView {
    pub id: Uuid,
    pub currency: String,
    pub lines: Vec<CartLineView>,
    pub item_count: u32,
    pub totals: Totals,
}

/// What can go wrong with a cart, each with its HTTP meaning.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CartError {
    #[error("validation failed")]
    Validation(Vec<ValidationError>),
    /// 404: also for things that exist but are not the caller's, so ids
    /// cannot be probed.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("this product is no longer sold")]
    ProductUnavailable { product_id: Uuid },
    #[error("not enough stock")]
    OutOfStock {
        product_id: Uuid,
        requested: u32,
        available: u32,
    },
    #[error("the cart already holds the most products it may")]
    TooManyLines { max_lines: u32 },
    /// The order's total (or a part of it) is above what one payment may
    /// take ([`crate::MAX_AMOUNT`]); `total` is none when it does not even
    /// fit in an `i64`.
    #[error("the order's total is above the maximum of {max} minor units that one payment may take; order fewer units")]
    TotalTooLarge { total: Option<i64>, max: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ValidationError> for CartError {
    fn from(e: ValidationError) -> Self {
        CartError::Validation(vec![e])
    }
}

/// Carts: finding or creating the caller's, changing lines within the
/// limits and the stock, merging a guest's into the user's on sign-in.
pub struct CartService<S> {
    pub(crate) store: S,
    pub(crate) config: Arc<ShopConfig>,
}

impl<S: Clone> Clone for CartService<S> {
    fn clone(&self) -> Self {
        CartService {
            store: self.store.clone(),
            config: self.config.clone(),
        }
    }
}

impl<S> CartService<S> {
    pub(crate) fn new(store: S, config: Arc<ShopConfig>) -> CartService<S> {
        CartService { store, config }
    }

    fn now(&self) -> i64 {
        self.config.clock.now_ms()
    }
}

impl<S: CartStore> CartService<S> {
    /// Creates a guest cart for the holder of `token` (made by the caller
    /// from a secure random source).
    /// A new guest cart and the token that opens it (only its hash is
    /// stored).
    pub async fn create_guest_cart(&self) -> Result<(String, CartView), CartError> {
        let token = (self.config.tokens.new)().map_err(|e| {
            CartError::Store(crate::StoreError::Internal(format!("random token: {e}")))
        })?;
        let owner = CartOwner::Guest {
            token_hash: (self.config.tokens.hash)(&token),
        };
        let id = self
            .store
            .create_cart(Uuid::now_v7(), &owner, self.now())
            .await?;
        Ok((token, self.view(id).await?))
    }

    /// The id of the caller's cart: a guest's must exist (404 otherwise); a
    /// user's is created on first use, and a guest cart sent along is
    /// merged into it (quantities added, capped by the line limit and the
    /// stock) and deleted.
    pub async fn cart_id(&self, who: &CartRef) -> Result<Uuid, CartError> {
        match who {
            CartRef::Guest(token) => self
                .guest_cart(token)
                .await?
                .ok_or(CartError::NotFound("cart")),
            CartRef::User {
                user_id,
                guest_token,
            } => {
                let owner = CartOwner::User(*user_id);
                let id = match self.store.find_cart(&owner).await? {
                    Some(id) => id,
                    None => {
                        self.store
                            .create_cart(Uuid::now_v7(), &owner, self.now())
                            .await?
                    }
                };
                if let Some(token) = guest_token {
                    if let Some(guest) = self.guest_cart(token).await? {
                        self.store
                            .merge_carts(guest, id, self.config.limits, self.now())
                            .await?;
                        self.cap_to_stock(id).await?;
                    }
                }
                Ok(id)
            }
        }
    }

    async fn guest_cart(&self, token: &str) -> Result<Option<Uuid>, CartError> {
        if token.is_empty() || token.len() > 128 {
            return Ok(None);
        }
        let owner = CartOwner::Guest {
            token_hash: (self.config.tokens.hash)(token),
        };
        Ok(self.store.find_cart(&owner).await?)
    }

    /// Lowers lines to the stock available (removing sold-out ones).
    async fn cap_to_stock(&self, cart_id: Uuid) -> Result<(), CartError> {
        for line in self.store.cart_lines(cart_id).await? {
            if line.quantity > line.available {
                self.store
                    .set_cart_line(cart_id, line.product_id, line.available, self.now())
                    .await?;
            }
        }
        Ok(())
    }

    pub async fn cart(&self, who: &CartRef) -> Result<CartView, CartError> {
        let id = self.cart_id(who).await?;
        self.view(id).await
    }

    /// Adds `quantity` (1 to the per-line limit) of a product.
    pub async fn add_to_cart(
        &self,
        who: &CartRef,
        product_id: Uuid,
        quantity: i64,
    ) -> Result<CartView, CartError> {
        let quantity = self.config.limits.quantity(quantity, 1)?;
        let product = self
            .store
            .sellable(product_id)
            .await?
            .ok_or(CartError::NotFound("product"))?;
        // A price above what one payment may take can only be one stored
        // before prices were capped: such a product is not for sale.
        if product.archived || !(0..=crate::MAX_AMOUNT).contains(&product.price) {
            return Err(CartError::ProductUnavailable { product_id });
        }
        let id = self.cart_id(who).await?;
        let in_cart = self
            .store
            .cart_lines(id)
            .await?
            .iter()
            .find(|l| l.product_id == product_id)
            .map_or(0, |l| l.quantity);
        let wanted = in_cart.saturating_add(quantity);
        if wanted > self.config.limits.max_per_line {
            return Err(CartError::Validation(vec![crate::ValidationError::new(
                "quantity",
                format!(
                    "the cart already holds {in_cart}; at most {} per line",
                    self.config.limits.max_per_line
                ),
            )]));
        }
        if wanted > product.stock.available() {
            return Err(CartError::OutOfStock {
                product_id,
                requested: wanted,
                available: product.stock.available(),
            });
        }
        let outcome = self
            .store
            .add_to_cart(
                id,
                product_id,
                quantity,
                product.price,
                self.config.limits,
                self.now(),
            )
            .await?;
        if outcome == AddOutcome::TooManyLines {
            return Err(CartError::TooManyLines {
                max_lines: self.config.limits.max_lines,
            });
        }
        self.view(id).await
    }

    /// Sets a line's quantity (0 removes it).
    pub async fn set_quantity(
        &self,
        who: &CartRef,
        product_id: Uuid,
        quantity: i64,
    ) -> Result<CartView, CartError> {
        let quantity = self.config.limits.quantity(quantity, 0)?;
        let id = self.cart_id(who).await?;
        let line = self
            .store
            .cart_lines(id)
            .await?
            .into_iter()
            .find(|l| l.product_id == product_id)
            .ok_or(CartError::NotFound("cart line"))?;
        if quantity > line.quantity {
            let available = line.available;
            if quantity > available {
                return Err(CartError::OutOfStock {
                    product_id,
                    requested: quantity,
                    available,
                });
            }
        }
        if !self
            .store
            .set_cart_line(id, product_id, quantity, self.now())
            .await?
        {
            return Err(CartError::NotFound("cart line"));
        }
        self.view(id).await
    }

    pub async fn remove_from_cart(
        &self,
        who: &CartRef,
        product_id: Uuid,
    ) -> Result<CartView, CartError> {
        let id = self.cart_id(who).await?;
        if !self
            .store
            .set_cart_line(id, product_id, 0, self.now())
            .await?
        {
            return Err(CartError::NotFound("cart line"));
        }
        self.view(id).await
    }

    /// Deletes guest carts untouched for `idle` and Idempotency-Keys older
    /// than `key_lifetime` (their orders stay); returns how many of each.
    pub async fn purge_stale(
        &self,
        idle: std::time::Duration,
        key_lifetime: std::time::Duration,
    ) -> Result<(u64, u64), CartError> {
        let now = self.now();
        let ago = |d| now.saturating_sub(crate::clock::millis(d));
        Ok(self.store.purge_stale(ago(idle), ago(key_lifetime)).await?)
    }

    pub async fn clear_cart(&self, who: &CartRef) -> Result<CartView, CartError> {
        let id = self.cart_id(who).await?;
        self.store.clear_cart(id).await?;
        self.view(id).await
    }

    pub(crate) async fn view(&self, id: Uuid) -> Result<CartView, CartError> {
        let lines = self.store.cart_lines(id).await?;
        self.view_of(id, &lines)
    }

    /// The cart with exact totals. They may exceed what one payment takes
    /// (checkout refuses that); they cannot overflow unless a line was
    /// priced before prices were capped, which is refused here too.
    pub(crate) fn view_of(
        &self,
        id: Uuid,
        lines: &[CartLineRecord],
    ) -> Result<CartView, CartError> {
        let pricing = &self.config.pricing;
        let too_large = |_| CartError::TotalTooLarge {
            total: None,
            max: crate::MAX_AMOUNT,
        };
        let totals = pricing
            .totals(
                lines.iter().map(|l| (l.unit_price, l.quantity)),
                pricing.default_method(),
                pricing.tax_bp(None, None),
            )
            .map_err(too_large)?;
        let views = lines
            .iter()
            .map(|l| {
                Ok(CartLineView {
                    product_id: l.product_id,
                    sku: l.sku.clone(),
                    name: l.name.clone(),
                    image: l.image.clone(),
                    quantity: l.quantity,
                    unit_price: l.unit_price,
                    line_total: line_total(l.unit_price, l.quantity).map_err(too_large)?,
                    available: l.available,
                    price_changed: l.current_price != l.unit_price,
                    unavailable: l.archived,
                })
            })
            .collect::<Result<Vec<_>, CartError>>()?;
        Ok(CartView {
            id,
            currency: self.config.currency.to_string(),
            item_count: lines.iter().fold(0, |n, l| n.saturating_add(l.quantity)),
            lines: views,
            totals,
        })
    }
}
