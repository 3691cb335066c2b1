//! The provider's webhooks: `Stripe-Signature` headers (`t=<unix
//! seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, keyed with the whole
//! webhook secret `whsec_…` as Stripe does) and the events the shop acts
//! on. Verification is bounded whatever the header holds (its length, at
//! most three signatures, the timestamp before any hashing, one HMAC by
//! `ring` compared in constant time with each signature) and rejects
//! timestamps outside the tolerance, which bounds replays; `paysim` signs
//! with the same code.

use std::time::Duration;

use emporium_domain::payments::ProviderEvent;
use ring::hmac;
use serde_json::Value;
use uuid::Uuid;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Stripe-Signature";

/// At most this many `v1=` signatures are looked at: a provider rotating
/// its secret sends two; more is an attack on the verifier's CPU.
pub const MAX_SIGNATURES: usize = 3;
/// A `Stripe-Signature` header longer than this is refused unread (a
/// timestamp and three signatures take about 220 bytes).
pub const MAX_HEADER_BYTES: usize = 512;
/// Hex digits of one HMAC-SHA256 signature.
const SIGNATURE_HEX_LEN: usize = 64;

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the signature header is longer than {MAX_HEADER_BYTES} bytes")]
    HeaderTooLong,
    #[error("the signature header has no t= timestamp")]
    MissingTimestamp,
    #[error("the signature header has no v1= signature of 64 hex digits")]
    MissingSignature,
    #[error("the signature header has more than {MAX_SIGNATURES} v1= signatures")]
    TooManySignatures,
    #[error("no v1 signature matches the payload")]
    Mismatch,
    #[error("the signature timestamp is {age_secs} s away from now, beyond the tolerance")]
    OutsideTolerance { age_secs: i64 },
}

/// The `Stripe-Signature` header value for `body` sent at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = hmac::sign(&key(secret), &signed_payload(timestamp, body));
    format!("t={timestamp},v1={}", hex(tag.as_ref()))
}

/// Checks a `Stripe-Signature` header against `body`: its timestamp must
/// lie within `tolerance` of `now` (Unix seconds) either way, and one of
/// its `v1` signatures must match. The cheap checks come first and the
/// work is bounded whatever the header holds: the header's length, the
/// timestamp, then at most [`MAX_SIGNATURES`] well-formed signatures
/// compared (in constant time) with one HMAC of the body.
pub fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    tolerance: Duration,
    now: i64,
) -> Result<(), VerifyError> {
    if header.len() > MAX_HEADER_BYTES {
        return Err(VerifyError::HeaderTooLong);
    }
    let mut timestamp = None;
    let mut signatures = Vec::with_capacity(MAX_SIGNATURES);
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", sig)) if sig.len() == SIGNATURE_HEX_LEN => {
                if signatures.len() == MAX_SIGNATURES {
                    return Err(VerifyError::TooManySignatures);
                }
                signatures.extend(unhex(sig));
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(VerifyError::MissingTimestamp)?;
    let age_secs = now.saturating_sub(timestamp);
    let tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    if age_secs.saturating_abs() > tolerance {
        return Err(VerifyError::OutsideTolerance { age_secs });
    }
    if signatures.is_empty() {
        return Err(VerifyError::MissingSignature);
    }
    let expected = hmac::sign(&key(secret), &signed_payload(timestamp, body));
    // Every candidate is compared, so the time does not tell which matched.
    let matched = signatures.iter().fold(false, |any, sig| {
        any | equal_in_constant_time(expected.as_ref(), sig)
    });
    if !matched {
        return Err(VerifyError::Mismatch);
    }
    Ok(())
}

/// Whether two byte strings are equal, in a time that depends on their
/// lengths only.
fn equal_in_constant_time(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A webhook event: its id, its type, and what it means to the shop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    pub kind: String,
    pub event: ProviderEvent,
}

/// Reads a Stripe event (`{"id":"evt_…","type":…,"data":{"object":…}}`);
/// None if the body is not one.
pub fn parse_event(body: &[u8]) -> Option<Event> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let id = v["id"]
        .as_str()
        .filter(|id| !id.is_empty() && id.len() <= 255)?;
    let kind = v["type"].as_str()?;
    let object = &v["data"]["object"];
    let text = |field: &Value| field.as_str().map(str::to_owned);
    let payment_id = || {
        object["metadata"]["payment_id"]
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
    };
    let event = match kind {
        "payment_intent.succeeded" => ProviderEvent::PaymentSucceeded {
            reference: text(&object["id"])?,
            payment_id: payment_id(),
            amount: object["amount_received"]
                .as_i64()
                .or_else(|| object["amount"].as_i64()),
            currency: text(&object["currency"]),
        },
        "payment_intent.payment_failed" => {
            let error = &object["last_payment_error"];
            ProviderEvent::PaymentFailed {
                reference: text(&object["id"])?,
                payment_id: payment_id(),
                code: text(&error["decline_code"])
                    .or_else(|| text(&error["code"]))
                    .unwrap_or_else(|| "card_declined".into()),
                message: text(&error["message"]).unwrap_or_else(|| "the card was declined".into()),
            }
        }
        "charge.refunded" => ProviderEvent::Refunded {
            reference: text(&object["payment_intent"]).or_else(|| text(&object["id"]))?,
            amount: object["amount_refunded"].as_i64().unwrap_or(0),
        },
        other => ProviderEvent::Other(other.to_owned()),
    };
    Some(Event {
        id: id.to_owned(),
        kind: kind.to_owned(),
        event,
    })
}

/// Lower-case hex.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]])
        .map(char::from)
        .collect()
}

fn key(secret: &str) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes())
}

fn signed_payload(timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut payload = format!("{timestamp}.").into_bytes();
    payload.extend_from_slice(body);
    payload
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    s.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [hi, lo] => Some(nibble(*hi)? << 4 | nibble(*lo)?),
            _ => None,
        })
        .collect()
}

fn nibble(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "a test fails loudly on what it did not expect"
    )]

    use super::*;

    const TOLERANCE: Duration = Duration::from_secs(300);

    #[test]
    fn a_signed_body_verifies() {
        let header = sign("whsec_x", 1_700_000_000, b"{\"id\":1}");
        assert!(header.starts_with("t=1700000000,v1="));
        assert_eq!(header.len(), "t=1700000000,v1=".len() + 64);
        assert_eq!(
            verify("whsec_x", &header, b"{\"id\":1}", TOLERANCE, 1_700_000_010),
            Ok(())
        );
    }

    #[test]
    fn matches_stripe_reference_vector() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), RFC 4231-style check.
        let tag = hmac::sign(&key("key"), b"The quick brown fox jumps over the lazy dog");
        assert_eq!(
            hex(tag.as_ref()),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }

    #[test]
    fn tampering_the_wrong_secret_and_old_timestamps_are_refused() {
        let header = sign("whsec_x", 1_000, b"body");
        assert_eq!(
            verify("whsec_x", &header, b"bodx", TOLERANCE, 1_000),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify("whsec_y", &header, b"body", TOLERANCE, 1_000),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify("whsec_x", &header, b"body", TOLERANCE, 2_000),
            Err(VerifyError::OutsideTolerance { age_secs: 1_000 })
        );
        let forged = header.replace("t=1000", "t=1999");
        // Within the tolerance of the forged time, the signature is wrong.
        assert_eq!(
            verify("whsec_x", &forged, b"body", TOLERANCE, 2_000),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn events_are_read_from_stripe_payloads() {
        let pid = Uuid::now_v7();
        let body = serde_json::json!({
            "id": "evt_1", "type": "payment_intent.succeeded",
            "data": {"object": {"id": "pi_1", "amount": 1236, "amount_received": 1236,
                "currency": "usd", "metadata": {"payment_id": pid.to_string()}}}
        });
        let e = parse_event(body.to_string().as_bytes()).unwrap();
        assert_eq!(e.id, "evt_1");
        assert_eq!(
            e.event,
            ProviderEvent::PaymentSucceeded {
                reference: "pi_1".into(),
                payment_id: Some(pid),
                amount: Some(1236),
                currency: Some("usd".into()),
            }
        );
        let failed = serde_json::json!({
            "id": "evt_2", "type": "payment_intent.payment_failed",
            "data": {"object": {"id": "pi_2", "metadata": {},
                "last_payment_error": {"code": "card_declined", "decline_code": "insufficient_funds", "message": "no"}}}
        });
        let e = parse_event(failed.to_string().as_bytes()).unwrap();
        assert!(
            matches!(e.event, ProviderEvent::PaymentFailed { ref code, payment_id: None, .. } if code == "insufficient_funds")
        );
        let other =
            serde_json::json!({"id": "evt_3", "type": "customer.created", "data": {"object": {}}});
        assert_eq!(
            parse_event(other.to_string().as_bytes()).unwrap().event,
            ProviderEvent::Other("customer.created".into())
        );
        for bad in [&b"not json"[..], b"{}", b"{\"id\":\"evt\"}", b"[]"] {
            assert!(parse_event(bad).is_none());
        }
    }

    #[test]
    fn malformed_headers_are_refused_without_panicking() {
        for header in [
            "",
            "t=",
            "v1=abc",
            "t=1,v1=zz",
            "t=1,v1=abc",
            "garbage,,=",
            "t=x,v1=00",
        ] {
            assert!(verify("s", header, b"", TOLERANCE, 1).is_err(), "{header}");
        }
        let good = sign("s", 5, b"");
        let rotated = format!("{},v1={}", sign("old", 5, b""), &good[good.len() - 64..]);
        assert_eq!(verify("s", &rotated, b"", TOLERANCE, 5), Ok(()));
    }

    #[test]
    fn a_flood_of_signatures_is_refused_without_hashing_the_body() {
        let body = vec![b'x'; 60_000];
        let good = sign("s", 5, &body);
        let flood = format!("t=5{}", ",v1=".repeat(60_000));
        let started = std::time::Instant::now();
        assert_eq!(
            verify("s", &flood, &body, TOLERANCE, 5),
            Err(VerifyError::HeaderTooLong)
        );
        assert!(started.elapsed() < Duration::from_millis(10));
        let sig = &good[good.len() - 64..];
        let four = format!("t=5{}", format!(",v1={sig}").repeat(4));
        assert_eq!(
            verify("s", &four, &body, TOLERANCE, 5),
            Err(VerifyError::TooManySignatures)
        );
        let three = format!("t=5{}", format!(",v1={sig}").repeat(3));
        assert_eq!(verify("s", &three, &body, TOLERANCE, 5), Ok(()));
        // Empty and short signatures are not signatures.
        assert_eq!(
            verify("s", "t=5,v1=,v1=00", &body, TOLERANCE, 5),
            Err(VerifyError::MissingSignature)
        );
        // An old timestamp is refused before any signature is looked at.
        assert_eq!(
            verify("s", &good, &body, TOLERANCE, 5_000),
            Err(VerifyError::OutsideTolerance { age_secs: 4_995 })
        );
    }
}
