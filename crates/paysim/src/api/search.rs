//! The subset of Stripe's search query language the simulator
//! understands for PaymentIntents: clauses `metadata['key']:'value'` and
//! `status:'succeeded'` (single or double quotes) joined by `AND`.
//! Anything else is refused with a message saying what is supported.

use crate::form::Metadata;
use crate::model::IntentStatus;

const SUPPORTED: &str =
    "supported here: metadata['key']:'value' and status:'value' clauses joined by AND";

pub(super) fn parse(query: &str) -> Result<(Metadata, Option<IntentStatus>), String> {
    let mut metadata = Metadata::new();
    let mut status = None;
    for clause in query.split(" AND ") {
        let clause = clause.trim();
        if let Some(rest) = clause.strip_prefix("metadata[") {
            let (key, rest) = quoted(rest).ok_or_else(|| invalid(clause))?;
            let rest = rest.strip_prefix("]:").ok_or_else(|| invalid(clause))?;
            let (value, rest) = quoted(rest).ok_or_else(|| invalid(clause))?;
            if !rest.is_empty() {
                return Err(invalid(clause));
            }
            metadata.insert(key.to_owned(), value.to_owned());
        } else if let Some(rest) = clause.strip_prefix("status:") {
            let (value, rest) = quoted(rest).ok_or_else(|| invalid(clause))?;
            if !rest.is_empty() {
                return Err(invalid(clause));
            }
            status = Some(IntentStatus::parse(value).ok_or_else(|| invalid(clause))?);
        } else {
            return Err(invalid(clause));
        }
    }
    Ok((metadata, status))
}

/// `'text'rest` or `"text"rest` → (text, rest).
fn quoted(s: &str) -> Option<(&str, &str)> {
    let quote = s.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let body = &s[1..];
    let end = body.find(quote)?;
    Some((&body[..end], &body[end + 1..]))
}

fn invalid(clause: &str) -> String {
    format!("Unsupported search clause `{clause}`; {SUPPORTED}.")
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "a test fails loudly on what it did not expect"
    )]

    use super::*;

    #[test]
    fn metadata_and_status_clauses() {
        let (metadata, status) =
            parse("metadata['order_id']:'o-1' AND status:\"succeeded\"").unwrap();
        assert_eq!(metadata["order_id"], "o-1");
        assert_eq!(status, Some(IntentStatus::Succeeded));
    }

    #[test]
    fn anything_else_is_refused() {
        for query in [
            "",
            "amount>100",
            "metadata['a':'b'",
            "metadata['a']:'b' OR status:'succeeded'",
            "status:'nope'",
            "metadata['a']:'b'x",
            "status:'",
        ] {
            assert!(parse(query).is_err(), "{query}");
        }
    }
}
