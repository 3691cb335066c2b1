//! The objects of the API (PaymentMethod, PaymentIntent, Charge, Refund),
//! their statuses, Stripe-style ids, and their JSON shapes: the subset of
//! Stripe's fields a client needs, named and typed as Stripe names them.

use serde_json::{json, Value};

use crate::cards::{Behavior, CardFacts};
use crate::form::Metadata;

/// A new Stripe-style id: `prefix_` and 24 alphanumerics.
pub fn new_id(prefix: &str) -> String {
    let mut id = String::with_capacity(prefix.len() + 25);
    id.push_str(prefix);
    id.push('_');
    id.extend(std::iter::repeat_with(fastrand::alphanumeric).take(24));
    id
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]])
        .map(char::from)
        .collect()
}

/// The (year, month) of a Unix time, in UTC.
pub fn year_month(unix_secs: i64) -> (i64, i64) {
    // Howard Hinnant's days-to-civil algorithm.
    let z = unix_secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month)
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    now_ms() / 1000
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntentStatus {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    RequiresCapture,
    Succeeded,
    Canceled,
}

impl IntentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IntentStatus::RequiresPaymentMethod => "requires_payment_method",
            IntentStatus::RequiresConfirmation => "requires_confirmation",
            IntentStatus::RequiresAction => "requires_action",
            IntentStatus::RequiresCapture => "requires_capture",
            IntentStatus::Succeeded => "succeeded",
            IntentStatus::Canceled => "canceled",
        }
    }

    pub fn parse(s: &str) -> Option<IntentStatus> {
        [
            IntentStatus::RequiresPaymentMethod,
            IntentStatus::RequiresConfirmation,
            IntentStatus::RequiresAction,
            IntentStatus::RequiresCapture,
            IntentStatus::Succeeded,
            IntentStatus::Canceled,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureMethod {
    Automatic,
    Manual,
}

impl CaptureMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            CaptureMethod::Automatic => "automatic",
            CaptureMethod::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<CaptureMethod> {
        match s {
            // Stripe's `automatic_async` captures like `automatic` here.
            "automatic" | "automatic_async" => Some(CaptureMethod::Automatic),
            "manual" => Some(CaptureMethod::Manual),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct PaymentMethod {
    pub id: String,
    pub card: CardFacts,
    pub metadata: Metadata,
    pub created: i64,
}

impl PaymentMethod {
    pub fn behavior(&self) -> Behavior {
        self.card.behavior
    }

    fn card_json(&self) -> Value {
        json!({
            "brand": self.card.brand,
            "last4": self.card.last4,
            "exp_month": self.card.exp_month,
            "exp_year": self.card.exp_year,
            "funding": self.card.funding,
            "country": "US",
            "checks": {
                "cvc_check": self.card.cvc_check,
                "address_line1_check": null,
                "address_postal_code_check": null,
            },
        })
    }

    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "payment_method",
            "type": "card",
            "card": self.card_json(),
            "billing_details": {"address": null, "email": null, "name": null, "phone": null},
            "customer": null,
            "created": self.created,
            "livemode": false,
            "metadata": self.metadata,
        })
    }

    /// The `token` object of `POST /v1/tokens` for this card.
    pub fn token_json(&self, token_id: &str, card_id: &str, used: bool) -> Value {
        let mut card = self.card_json();
        if let Some(card) = card.as_object_mut() {
            card.insert("id".into(), json!(card_id));
            card.insert("object".into(), json!("card"));
            card.remove("checks");
            card.insert("cvc_check".into(), json!(self.card.cvc_check));
        }
        json!({
            "id": token_id,
            "object": "token",
            "type": "card",
            "card": card,
            "client_ip": null,
            "created": self.created,
            "livemode": false,
            "used": used,
        })
    }
}

#[derive(Debug, Clone)]
pub struct PaymentIntent {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub status: IntentStatus,
    pub capture_method: CaptureMethod,
    pub payment_method: Option<String>,
    pub amount_capturable: i64,
    pub amount_received: i64,
    pub latest_charge: Option<String>,
    pub last_payment_error: Option<Value>,
    pub metadata: Metadata,
    pub description: Option<String>,
    pub client_secret: String,
    pub cancellation_reason: Option<String>,
    pub canceled_at: Option<i64>,
    pub created: i64,
}

impl PaymentIntent {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "payment_intent",
            "amount": self.amount,
            "amount_capturable": self.amount_capturable,
            "amount_received": self.amount_received,
            "canceled_at": self.canceled_at,
            "cancellation_reason": self.cancellation_reason,
            "capture_method": self.capture_method.as_str(),
            "client_secret": self.client_secret,
            "confirmation_method": "automatic",
            "created": self.created,
            "currency": self.currency,
            "customer": null,
            "description": self.description,
            "last_payment_error": self.last_payment_error,
            "latest_charge": self.latest_charge,
            "livemode": false,
            "metadata": self.metadata,
            "next_action": null,
            "payment_method": self.payment_method,
            "payment_method_types": ["card"],
            "status": self.status.as_str(),
        })
    }
}

#[derive(Debug, Clone)]
pub struct Charge {
    pub id: String,
    pub payment_intent: String,
    pub payment_method: String,
    pub amount: i64,
    pub amount_captured: i64,
    pub amount_refunded: i64,
    pub currency: String,
    /// `succeeded` or `failed`.
    pub status: String,
    pub captured: bool,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub created: i64,
}

impl Charge {
    pub fn to_json(&self) -> Value {
        let paid = self.status == "succeeded";
        json!({
            "id": self.id,
            "object": "charge",
            "amount": self.amount,
            "amount_captured": self.amount_captured,
            "amount_refunded": self.amount_refunded,
            "captured": self.captured,
            "created": self.created,
            "currency": self.currency,
            "failure_code": self.failure_code,
            "failure_message": self.failure_message,
            "livemode": false,
            "outcome": {
                "type": if paid { "authorized" } else { "issuer_declined" },
                "network_status": if paid { "approved_by_network" } else { "declined_by_network" },
            },
            "paid": paid,
            "payment_intent": self.payment_intent,
            "payment_method": self.payment_method,
            "refunded": self.captured && self.amount_refunded >= self.amount_captured,
            "status": self.status,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Refund {
    pub id: String,
    pub charge: String,
    pub payment_intent: String,
    pub amount: i64,
    pub currency: String,
    pub reason: Option<String>,
    pub status: String,
    pub metadata: Metadata,
    pub created: i64,
}

impl Refund {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "refund",
            "amount": self.amount,
            "charge": self.charge,
            "created": self.created,
            "currency": self.currency,
            "metadata": self.metadata,
            "payment_intent": self.payment_intent,
            "reason": self.reason,
            "status": self.status,
        })
    }
}

/// A Stripe list object.
pub fn list(url: &str, data: Vec<Value>, has_more: bool) -> Value {
    json!({ "object": "list", "url": url, "has_more": has_more, "data": data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_prefix_and_stripe_length() {
        let id = new_id("pi");
        assert!(id.starts_with("pi_"));
        assert_eq!(id.len(), 27);
        assert!(id[3..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(new_id("pi"), id);
    }

    #[test]
    fn year_month_of_known_dates() {
        assert_eq!(year_month(0), (1970, 1));
        assert_eq!(year_month(951_782_400), (2000, 2)); // 2000-02-29
        assert_eq!(year_month(1_704_067_199), (2023, 12)); // 2023-12-31T23:59:59
        assert_eq!(year_month(1_704_067_200), (2024, 1));
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }

    #[test]
    fn statuses_round_trip() {
        for s in [
            "requires_payment_method",
            "requires_capture",
            "succeeded",
            "canceled",
        ] {
            assert_eq!(IntentStatus::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(CaptureMethod::parse("manual"), Some(CaptureMethod::Manual));
        assert_eq!(CaptureMethod::parse("later"), None);
    }
}
