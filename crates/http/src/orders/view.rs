//! How an order is shown: to its owner (with the shop's words for what
//! happened) or to staff (with the provider's words and payment anomalies).

use emporium_domain::orders::CheckoutError;
use emporium_domain::orders::{
    Address, Order, OrderEvent, OrderLine, OrderOwner, OrderStatus, OrderViewer, Totals,
};
use emporium_domain::payments::{Payment, PaymentAnomaly, PaymentStatus, Refund};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;

/// An order as its owner sees it.
#[derive(Serialize, ToSchema)]
pub struct OrderBody {
    id: Uuid,
    status: OrderStatus,
    currency: String,
    lines: Vec<OrderLineBody>,
    totals: Totals,
    shipping_method: String,
    shipping_address: Address,
    /// A guest order's email.
    email: Option<String>,
    /// Unix milliseconds.
    created_at: i64,
    /// An unpaid order is cancelled at this time (Unix ms).
    expires_at: i64,
    /// Every state the order entered, oldest first.
    history: Vec<OrderEvent>,
    /// The latest card payment's state: `processing` or `queued` while it
    /// is in flight ("payment pending"), then `succeeded`, `declined` or
    /// `failed`; none before the first payment.
    payment_status: Option<PaymentStatus>,
    /// Card payments, oldest first.
    payments: Vec<Payment>,
    /// Refunds, oldest first.
    refunds: Vec<Refund>,
    /// What card payments took and refunds gave back (minor units).
    paid_amount: i64,
    refunded_amount: i64,
    /// Staff only (`GET /api/admin/orders/{id}`): provider events refused
    /// because they were not what a payment asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    anomalies: Option<Vec<PaymentAnomaly>>,
}

/// Who an order body is for. Staff see everything recorded; a customer
/// sees what is theirs: actors as roles (`customer`, `guest`, `staff`,
/// `system`),
/// no staff notes or refund reasons, and payments' outcomes in the shop's
/// words — never the provider's error text (it can hold the provider's
/// address) nor its detailed decline codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience {
    Customer,
    Staff,
}

impl Audience {
    pub(crate) fn of(viewer: &OrderViewer) -> Audience {
        match viewer {
            OrderViewer::User { admin: true, .. } => Audience::Staff,
            _ => Audience::Customer,
        }
    }
}

/// The decline code a client is told: `authentication_required` (the shop
/// cannot do 3-D Secure, so another card is the answer), otherwise
/// `card_declined` whatever the provider said.
pub(crate) fn public_decline_code(code: &str) -> &'static str {
    if code == "authentication_required" {
        "authentication_required"
    } else {
        "card_declined"
    }
}

/// The role behind an actor: `customer` for `user:<id>`, `staff` for
/// `admin:<id>`; `guest` and `system` as they are.
fn actor_role(actor: &str) -> &'static str {
    match actor {
        "guest" => "guest",
        "system" => "system",
        a if a.starts_with("admin:") => "staff",
        _ => "customer",
    }
}

/// What a customer may see of a payment.
fn customer_payment(mut p: Payment) -> Payment {
    p.decline_code = p
        .decline_code
        .as_deref()
        .map(|c| public_decline_code(c).to_owned());
    p.message = match p.status {
        PaymentStatus::Declined => Some("The card was declined.".into()),
        PaymentStatus::Failed => Some("The payment could not be made.".into()),
        PaymentStatus::Processing | PaymentStatus::Queued | PaymentStatus::Succeeded => None,
    };
    p
}

#[derive(Serialize, ToSchema)]
pub struct OrderLineBody {
    #[serde(flatten)]
    line: OrderLine,
    line_total: i64,
}

/// The order as `audience` may see it. A line total that does not fit
/// (only possible in an order placed before prices were capped) is refused
/// as `order_total_too_large` rather than shown wrong.
pub(crate) fn order_body(o: Order, audience: Audience) -> Result<OrderBody, ApiError> {
    let paid_amount = o.paid_amount();
    let refunded_amount = o.refunded_amount();
    let lines = o
        .lines
        .into_iter()
        .map(|l| {
            Ok(OrderLineBody {
                line_total: l.total().map_err(|_| CheckoutError::TotalTooLarge {
                    total: None,
                    max: emporium_domain::MAX_AMOUNT,
                })?,
                line: l,
            })
        })
        .collect::<Result<Vec<_>, CheckoutError>>()?;
    Ok(OrderBody {
        payment_status: o.payments.last().map(|p| p.status),
        paid_amount,
        refunded_amount,
        id: o.id,
        status: o.status,
        currency: o.currency,
        lines,
        totals: o.totals,
        shipping_method: o.shipping_method,
        shipping_address: o.address,
        email: match o.owner {
            OrderOwner::Guest { email, .. } => Some(email),
            OrderOwner::User(_) => None,
        },
        created_at: o.created_at,
        expires_at: o.expires_at,
        history: match audience {
            Audience::Staff => o.events,
            Audience::Customer => o
                .events
                .into_iter()
                .map(|mut e| {
                    let role = actor_role(&e.actor);
                    if role == "staff" {
                        e.reason = None;
                    }
                    e.actor = role.to_owned();
                    e
                })
                .collect(),
        },
        payments: match audience {
            Audience::Staff => o.payments,
            Audience::Customer => o.payments.into_iter().map(customer_payment).collect(),
        },
        refunds: match audience {
            Audience::Staff => o.refunds,
            Audience::Customer => o
                .refunds
                .into_iter()
                .map(|mut r| {
                    r.reason = None;
                    r.actor = actor_role(&r.actor).to_owned();
                    r
                })
                .collect(),
        },
        anomalies: None,
    })
}

/// The staff view of an order, with its payment anomalies.
pub(crate) fn staff_order_body(
    o: Order,
    anomalies: Vec<PaymentAnomaly>,
) -> Result<OrderBody, ApiError> {
    let mut body = order_body(o, Audience::Staff)?;
    body.anomalies = Some(anomalies);
    Ok(body)
}
