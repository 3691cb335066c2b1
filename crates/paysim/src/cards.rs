//! Card rules with no IO: reading `card[…]` parameters, the Luhn and
//! expiry checks done at tokenization, the brand, and how Stripe's test
//! card numbers behave when charged. The number and CVC live only in a
//! [`CardInput`] (whose `Debug` hides them); what is kept is a [`CardFacts`].

use std::collections::BTreeMap;

use crate::form::parse_int;
use crate::stripe_error::StripeError;

/// What charging a card does, decided by its (test) number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    Succeed,
    GenericDecline,
    InsufficientFunds,
    LostCard,
    ExpiredCard,
    IncorrectCvc,
    ProcessingError,
    /// Needs 3-D Secure: the intent stops at `requires_action`.
    RequiresAction,
}

impl Behavior {
    pub fn as_str(self) -> &'static str {
        match self {
            Behavior::Succeed => "succeed",
            Behavior::GenericDecline => "generic_decline",
            Behavior::InsufficientFunds => "insufficient_funds",
            Behavior::LostCard => "lost_card",
            Behavior::ExpiredCard => "expired_card",
            Behavior::IncorrectCvc => "incorrect_cvc",
            Behavior::ProcessingError => "processing_error",
            Behavior::RequiresAction => "requires_action",
        }
    }

    pub fn parse(s: &str) -> Option<Behavior> {
        [
            Behavior::Succeed,
            Behavior::GenericDecline,
            Behavior::InsufficientFunds,
            Behavior::LostCard,
            Behavior::ExpiredCard,
            Behavior::IncorrectCvc,
            Behavior::ProcessingError,
            Behavior::RequiresAction,
        ]
        .into_iter()
        .find(|b| b.as_str() == s)
    }

    /// The behaviour of a (Luhn-valid) number: Stripe's documented test
    /// cards decline as documented; any other number succeeds.
    pub fn of_number(number: &str) -> Behavior {
        match number {
            "4000000000000002" => Behavior::GenericDecline,
            "4000000000009995" => Behavior::InsufficientFunds,
            "4000000000009987" => Behavior::LostCard,
            "4000000000000069" => Behavior::ExpiredCard,
            "4000000000000127" => Behavior::IncorrectCvc,
            "4000000000000119" => Behavior::ProcessingError,
            "4000002500003155" => Behavior::RequiresAction,
            _ => Behavior::Succeed,
        }
    }

    /// The card error a charge fails with: `(code, decline_code, message)`.
    pub fn decline(self) -> Option<(&'static str, Option<&'static str>, &'static str)> {
        Some(match self {
            Behavior::Succeed | Behavior::RequiresAction => return None,
            Behavior::GenericDecline => (
                "card_declined",
                Some("generic_decline"),
                "Your card was declined.",
            ),
            Behavior::InsufficientFunds => (
                "card_declined",
                Some("insufficient_funds"),
                "Your card has insufficient funds.",
            ),
            Behavior::LostCard => (
                "card_declined",
                Some("lost_card"),
                "Your card was declined.",
            ),
            Behavior::ExpiredCard => ("expired_card", None, "Your card has expired."),
            Behavior::IncorrectCvc => (
                "incorrect_cvc",
                None,
                "Your card's security code is incorrect.",
            ),
            Behavior::ProcessingError => (
                "processing_error",
                None,
                "An error occurred while processing your card. Try again in a little bit.",
            ),
        })
    }
}

/// What is kept of a card: never the number or the CVC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardFacts {
    pub brand: &'static str,
    pub last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
    pub funding: &'static str,
    /// `pass` when a CVC was given (`fail` for the incorrect-CVC test card), else none.
    pub cvc_check: Option<&'static str>,
    pub behavior: Behavior,
}

/// The raw `card[…]` parameters.
pub struct CardInput {
    number: String,
    exp_month: String,
    exp_year: String,
    cvc: Option<String>,
}

impl std::fmt::Debug for CardInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardInput").finish_non_exhaustive()
    }
}

impl CardInput {
    /// Reads `card[number|exp_month|exp_year|cvc]`.
    pub fn from_params(card: &BTreeMap<String, String>) -> Result<CardInput, StripeError> {
        if let Some(unknown) = card
            .keys()
            .find(|k| !["number", "exp_month", "exp_year", "cvc"].contains(&k.as_str()))
        {
            return Err(StripeError::unknown_param(&format!("card[{unknown}]")));
        }
        let field = |name: &str| match card.get(name) {
            Some(v) if !v.is_empty() => Ok(v.clone()),
            _ => Err(StripeError::missing(&format!("card[{name}]"))),
        };
        Ok(CardInput {
            number: field("number")?,
            exp_month: field("exp_month")?,
            exp_year: field("exp_year")?,
            cvc: card.get("cvc").filter(|c| !c.is_empty()).cloned(),
        })
    }

    /// Checks the card as Stripe does at tokenization (402 `card_error`s:
    /// `incorrect_number`, `invalid_expiry_month`, `invalid_expiry_year`,
    /// `invalid_cvc`) and keeps only the facts. `today` is (year, month).
    pub fn check(self, today: (i64, i64)) -> Result<CardFacts, StripeError> {
        let number: String = self.number.chars().filter(|c| *c != ' ').collect();
        if !(12..=19).contains(&number.len())
            || !number.bytes().all(|b| b.is_ascii_digit())
            || !luhn(&number)
        {
            return Err(
                StripeError::card("incorrect_number", "Your card number is incorrect.")
                    .with_param("card[number]"),
            );
        }
        let month = parse_int("card[exp_month]", &self.exp_month)?;
        if !(1..=12).contains(&month) {
            return Err(StripeError::card(
                "invalid_expiry_month",
                "Your card's expiration month is invalid.",
            )
            .with_param("card[exp_month]"));
        }
        let mut year = parse_int("card[exp_year]", &self.exp_year)?;
        if (0..100).contains(&year) {
            year += 2000;
        }
        if year < today.0 || year > today.0 + 50 {
            return Err(StripeError::card(
                "invalid_expiry_year",
                "Your card's expiration year is invalid.",
            )
            .with_param("card[exp_year]"));
        }
        if year == today.0 && month < today.1 {
            return Err(StripeError::card(
                "invalid_expiry_month",
                "Your card's expiration month is invalid.",
            )
            .with_param("card[exp_month]"));
        }
        let brand = brand(&number);
        let cvc_len = if brand == "amex" { 4 } else { 3 };
        if let Some(cvc) = &self.cvc {
            if cvc.len() != cvc_len || !cvc.bytes().all(|b| b.is_ascii_digit()) {
                return Err(StripeError::card(
                    "invalid_cvc",
                    "Your card's security code is invalid.",
                )
                .with_param("card[cvc]"));
            }
        }
        let behavior = Behavior::of_number(&number);
        Ok(CardFacts {
            brand,
            last4: number[number.len() - 4..].to_owned(),
            exp_month: month,
            exp_year: year,
            funding: if number == "4000056655665556" {
                "debit"
            } else {
                "credit"
            },
            cvc_check: match (&self.cvc, behavior) {
                (None, _) => None,
                (Some(_), Behavior::IncorrectCvc) => Some("fail"),
                (Some(_), _) => Some("pass"),
            },
            behavior,
        })
    }
}

/// The facts behind Stripe's ready-made test payment methods and tokens
/// (`pm_card_visa`, `tok_chargeDeclined`…), or `None` for any other id.
pub fn magic(id: &str) -> Option<CardFacts> {
    let name = id
        .strip_prefix("pm_card_")
        .or_else(|| id.strip_prefix("tok_"))?;
    let (number, brand) = match name {
        "visa" => ("4242424242424242", "visa"),
        "visa_debit" => ("4000056655665556", "visa"),
        "mastercard" => ("5555555555554444", "mastercard"),
        "amex" => ("378282246310005", "amex"),
        "chargeDeclined" => ("4000000000000002", "visa"),
        "chargeDeclinedInsufficientFunds" => ("4000000000009995", "visa"),
        "chargeDeclinedLostCard" => ("4000000000009987", "visa"),
        "chargeDeclinedExpiredCard" => ("4000000000000069", "visa"),
        "chargeDeclinedIncorrectCvc" => ("4000000000000127", "visa"),
        "chargeDeclinedProcessingError" => ("4000000000000119", "visa"),
        _ => return None,
    };
    Some(CardFacts {
        brand,
        last4: number[number.len() - 4..].to_owned(),
        exp_month: 12,
        exp_year: 2034,
        funding: if name == "visa_debit" {
            "debit"
        } else {
            "credit"
        },
        cvc_check: Some("pass"),
        behavior: Behavior::of_number(number),
    })
}

pub fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b.wrapping_sub(b'0'));
            if i % 2 == 1 {
                let twice = d * 2;
                if twice > 9 {
                    twice - 9
                } else {
                    twice
                }
            } else {
                d
            }
        })
        .sum();
    matches!(sum % 10, 0)
}

pub fn brand(number: &str) -> &'static str {
    let prefix = |n: usize| {
        number
            .get(..n)
            .and_then(|p| p.parse::<u32>().ok())
            .unwrap_or(0)
    };
    match (prefix(1), prefix(2), prefix(4)) {
        (4, _, _) => "visa",
        (_, 34 | 37, _) => "amex",
        (_, 51..=55, _) | (_, _, 2221..=2720) => "mastercard",
        (_, 65, _) | (_, _, 6011 | 6440..=6499) => "discover",
        (_, 35, _) => "jcb",
        (_, 36 | 38, _) | (_, _, 3000..=3059) => "diners",
        (_, 62, _) => "unionpay",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(number: &str, month: &str, year: &str, cvc: Option<&str>) -> CardInput {
        CardInput {
            number: number.into(),
            exp_month: month.into(),
            exp_year: year.into(),
            cvc: cvc.map(Into::into),
        }
    }

    #[test]
    fn test_cards_pass_luhn_and_get_their_brand() {
        for (number, brand_name) in [
            ("4242424242424242", "visa"),
            ("5555555555554444", "mastercard"),
            ("2223003122003222", "mastercard"),
            ("378282246310005", "amex"),
            ("6011111111111117", "discover"),
            ("3566002020360505", "jcb"),
            ("4000000000000002", "visa"),
        ] {
            assert!(luhn(number), "{number}");
            assert_eq!(brand(number), brand_name, "{number}");
        }
        assert!(!luhn("4242424242424241"));
    }

    #[test]
    fn check_keeps_only_the_facts() {
        let facts = card("4242 4242 4242 4242", "12", "2030", Some("123"))
            .check((2026, 5))
            .unwrap();
        assert_eq!(facts.last4, "4242");
        assert_eq!(facts.brand, "visa");
        assert_eq!(facts.behavior, Behavior::Succeed);
        assert_eq!(facts.cvc_check, Some("pass"));
        let declined = card("4000000000009995", "1", "27", None)
            .check((2026, 5))
            .unwrap();
        assert_eq!(declined.exp_year, 2027);
        assert_eq!(declined.behavior, Behavior::InsufficientFunds);
    }

    #[test]
    fn check_refuses_bad_numbers_and_past_expiry() {
        let code = |c: CardInput| c.check((2026, 5)).unwrap_err().code;
        assert_eq!(
            code(card("4242424242424241", "12", "2030", None)),
            Some("incorrect_number")
        );
        assert_eq!(
            code(card("4242x", "12", "2030", None)),
            Some("incorrect_number")
        );
        assert_eq!(
            code(card("4242424242424242", "12", "2020", None)),
            Some("invalid_expiry_year")
        );
        assert_eq!(
            code(card("4242424242424242", "4", "2026", None)),
            Some("invalid_expiry_month")
        );
        assert_eq!(
            code(card("4242424242424242", "13", "2030", None)),
            Some("invalid_expiry_month")
        );
        assert_eq!(
            code(card("4242424242424242", "12", "2030", Some("12"))),
            Some("invalid_cvc")
        );
        let err = card("4242424242424242", "12", "20x", None)
            .check((2026, 5))
            .unwrap_err();
        assert_eq!(err.status, 400);
    }

    #[test]
    fn magic_ids_map_to_test_cards() {
        assert_eq!(magic("pm_card_visa").unwrap().behavior, Behavior::Succeed);
        assert_eq!(
            magic("tok_chargeDeclined").unwrap().behavior,
            Behavior::GenericDecline
        );
        assert!(magic("pm_123").is_none());
        for b in ["succeed", "generic_decline", "processing_error"] {
            assert_eq!(Behavior::parse(b).unwrap().as_str(), b);
        }
    }

    #[test]
    fn debug_hides_the_card() {
        let shown = format!("{:?}", card("4242424242424242", "12", "2030", Some("123")));
        assert!(!shown.contains("4242") && !shown.contains("123"));
    }
}
