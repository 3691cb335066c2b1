//! Redaction of log lines before they leave the process: card numbers,
//! credentials and payment secrets are replaced so that no log holds
//! cardholder data or a usable secret (PCI DSS requirements 3.3, 3.4, 10).
//!
//! One left-to-right pass over the bytes, no regex: every match starts and
//! ends on an ASCII byte, so multibyte text around it is kept whole. A clean
//! line is returned borrowed, without allocating.

use std::borrow::Cow;

use super::pan;

const PAN: &str = "[REDACTED-PAN]";
const JWT: &str = "[REDACTED-JWT]";
const SECRET: &str = "[REDACTED]";

/// Field names whose values are hidden (compared without case, as a whole
/// word, so `token_count` or `order_number` stay).
const SENSITIVE_FIELDS: &[&str] = &[
    "password",
    "payment_token",
    "refresh_token",
    "access_token",
    "token",
    "secret_key",
    "client_secret",
    "card",
    "card_number",
    "cvc",
    "cvv",
    "number",
];

/// Shapes of provider secrets and tokens: the prefix is kept, the rest of
/// the word hidden. Publishable keys (`pk_…`) and object ids (`pi_…`) stay.
const SECRET_PREFIXES: &[&str] = &[
    "sk_live_", "sk_test_", "rk_live_", "rk_test_", "rk_", "whsec_", "pm_", "tok_",
];

/// The line with card numbers, `Authorization` values, provider secrets,
/// JWTs and sensitive fields replaced; borrowed when nothing matched.
///
/// * A run of digits (single spaces or dashes allowed between them) holding
///   a Luhn-valid 13–19 digit window → `[REDACTED-PAN]` (see
///   [`find_pans`](super::find_pans) for the exact rule).
/// * `Authorization: Bearer …` / `Basic …`, also as `authorization=` or a
///   JSON or `Debug` field → `Bearer [REDACTED]` (the scheme is kept).
/// * `sk_live_…`, `sk_test_…`, `rk_…`, `whsec_…`, `pm_…`, `tok_…` →
///   `<prefix>[REDACTED]`; `eyJ….….…` → `[REDACTED-JWT]`.
/// * `password`, `payment_token`, `refresh_token`, `token`, `secret_key`,
///   `card`, `cvc`, `number` (and a few like them) as `name=value`,
///   `"name":"value"`, `\"name\":\"value\"` or `name: "value"` → the value
///   becomes `[REDACTED]`; a bare JSON value becomes `"[REDACTED]"` so that a
///   JSON log line stays valid JSON.
pub fn redact(line: &str) -> Cow<'_, str> {
    let b = line.as_bytes();
    let mut out = Output::new(line);
    let mut i = 0;
    // Text glued after a redacted card number starts a word once redacted:
    // treat it so now, and a second pass finds nothing more.
    let mut after_pan = usize::MAX;
    while i < b.len() {
        if let Some(end) = pan::uuid_at(b, i) {
            i = end;
            continue;
        }
        let c = b[i];
        if c.is_ascii_digit() {
            let run = pan::digit_run(b, i);
            if run.is_pan {
                let with = if is_json_value_position(b, i) {
                    "\"[REDACTED-PAN]\""
                } else {
                    PAN
                };
                out.replace(i, run.end, with);
                after_pan = run.end;
            }
            i = run.end;
            continue;
        }
        if c.is_ascii_alphabetic() && (i == after_pan || word_starts_at(b, i)) {
            if let Some(end) = redact_word(b, i, &mut out) {
                i = end;
                continue;
            }
        }
        i += 1;
    }
    out.finish()
}

/// The line being rebuilt, allocated on the first replacement only.
struct Output<'a> {
    src: &'a str,
    out: Option<String>,
    copied: usize,
}

impl<'a> Output<'a> {
    fn new(src: &'a str) -> Self {
        Output {
            src,
            out: None,
            copied: 0,
        }
    }

    /// Replaces `src[start..end]`; calls come in order, never overlapping.
    fn replace(&mut self, start: usize, end: usize, with: &str) {
        let out = self
            .out
            .get_or_insert_with(|| String::with_capacity(self.src.len() + 16));
        out.push_str(&self.src[self.copied..start]);
        out.push_str(with);
        self.copied = end;
    }

    fn finish(self) -> Cow<'a, str> {
        match self.out {
            None => Cow::Borrowed(self.src),
            Some(mut out) => {
                out.push_str(&self.src[self.copied..]);
                Cow::Owned(out)
            }
        }
    }
}

/// Applies the word rules to the word starting at `i`; the end of what was
/// matched, or `None` to go on scanning inside the word.
fn redact_word(b: &[u8], i: usize, out: &mut Output<'_>) -> Option<usize> {
    let word_end = i + b[i..].iter().take_while(|c| is_word_byte(**c)).count();
    let word = &b[i..word_end];
    if word.starts_with(b"eyJ") {
        if let Some(end) = jwt_end(b, i) {
            out.replace(i, end, JWT);
            return Some(end);
        }
    }
    if word.eq_ignore_ascii_case(b"authorization") {
        let sep = separator(b, i, word_end, true)?;
        return redact_authorization(b, sep, out);
    }
    if SENSITIVE_FIELDS
        .iter()
        .any(|f| word.eq_ignore_ascii_case(f.as_bytes()))
    {
        let sep = separator(b, i, word_end, false)?;
        return redact_field(b, sep, out);
    }
    let prefix = SECRET_PREFIXES
        .iter()
        .find(|p| word.len() > p.len() && word.starts_with(p.as_bytes()))?;
    out.replace(i + prefix.len(), word_end, SECRET);
    Some(word_end)
}

/// How a field's value follows its name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    /// `"name": value`: a bare value must be quoted to stay JSON.
    Json,
    /// `name=value`, `\"name\":value`, `name: "value"`.
    Other,
}

struct Separator {
    value: usize,
    style: Style,
}

/// Where the value of the field named `b[start..end]` begins, if a
/// separator follows the name. `loose` accepts `name: value` with any
/// value (header dumps); otherwise `name: ` must be followed by a quoted
/// string or a number, so that prose such as `token: expired` stays.
fn separator(b: &[u8], start: usize, end: usize, loose: bool) -> Option<Separator> {
    let escaped_quote = start >= 2 && &b[start - 2..start] == b"\\\"";
    let quote = !escaped_quote && start >= 1 && b[start - 1] == b'"';
    let j = skip_ansi(b, end);
    let colon_after = |k: usize| {
        let k = skip_spaces(b, k);
        (b.get(k) == Some(&b':')).then(|| skip_spaces(b, k + 1))
    };
    if escaped_quote && b[j..].starts_with(b"\\\"") {
        if let Some(value) = colon_after(j + 2) {
            return Some(Separator {
                value,
                style: Style::Other,
            });
        }
    }
    if quote && b.get(j) == Some(&b'"') {
        if let Some(value) = colon_after(j + 1) {
            return Some(Separator {
                value,
                style: Style::Json,
            });
        }
    }
    match b.get(j) {
        Some(b'=') => Some(Separator {
            value: skip_ansi(b, j + 1),
            style: Style::Other,
        }),
        Some(b':') => {
            let value = skip_spaces(b, j + 1);
            let quoted_or_number = value == j + 2
                && matches!(b.get(value), Some(c) if *c == b'"' || *c == b'\\' || c.is_ascii_digit());
            (loose || quoted_or_number).then_some(Separator {
                value,
                style: Style::Other,
            })
        }
        _ => None,
    }
}

/// A value's text, `[start, end)`, and the end of the whole value with its
/// closing quote.
struct Value {
    start: usize,
    end: usize,
    after: usize,
    quoted: bool,
}

/// The value at `v`: a `"…"` string (escapes honoured), a `\"…\"` string
/// inside a JSON string, or a bare word. Nested objects and arrays give
/// `None`: their own fields are redacted one by one.
fn value_at(b: &[u8], mut v: usize) -> Option<Value> {
    if b[v..].starts_with(b"Some(") {
        v += 5;
    }
    if b[v..].starts_with(b"\\\"") {
        let start = v + 2;
        let mut k = start;
        while k < b.len() && b[k] != b'\n' && !b[k..].starts_with(b"\\\"") {
            k += 1;
        }
        let after = if k < b.len() && b[k] == b'\\' {
            k + 2
        } else {
            k
        };
        return Some(Value {
            start,
            end: k,
            after,
            quoted: true,
        });
    }
    match b.get(v) {
        Some(b'"') => {
            let start = v + 1;
            let mut k = start;
            while k < b.len() && b[k] != b'"' && b[k] != b'\n' {
                k += if b[k] == b'\\' { 2 } else { 1 };
            }
            let end = k.min(b.len());
            let after = if b.get(end) == Some(&b'"') {
                end + 1
            } else {
                end
            };
            Some(Value {
                start,
                end,
                after,
                quoted: true,
            })
        }
        Some(b'{' | b'[') | None => None,
        Some(_) => {
            let len = b[v..].iter().take_while(|c| !ends_bare_value(**c)).count();
            Some(Value {
                start: v,
                end: v + len,
                after: v + len,
                quoted: false,
            })
        }
    }
}

fn redact_field(b: &[u8], sep: Separator, out: &mut Output<'_>) -> Option<usize> {
    let value = value_at(b, sep.value)?;
    let text = &b[value.start..value.end];
    if text.is_empty() {
        return None;
    }
    if !value.quoted && matches!(text, b"null" | b"true" | b"false" | b"None") {
        return Some(value.after);
    }
    let with = if !value.quoted && sep.style == Style::Json {
        "\"[REDACTED]\""
    } else {
        SECRET
    };
    out.replace(value.start, value.end, with);
    Some(value.after)
}

/// `Bearer abc` → `Bearer [REDACTED]`; a value without a scheme is hidden
/// whole.
fn redact_authorization(b: &[u8], sep: Separator, out: &mut Output<'_>) -> Option<usize> {
    let v = sep.value;
    let quoted = value_at(b, v).filter(|value| value.quoted);
    let (start, limit) = match &quoted {
        Some(value) => (value.start, value.end),
        None => (v, b.len()),
    };
    let scheme = b[start..limit]
        .iter()
        .take_while(|c| c.is_ascii_alphabetic())
        .count();
    let credentials = if scheme > 0 && b.get(start + scheme) == Some(&b' ') {
        start + scheme + 1
    } else {
        start
    };
    let end = match &quoted {
        Some(value) => value.end,
        None => {
            credentials
                + b[credentials..]
                    .iter()
                    .take_while(|c| is_token68_byte(**c))
                    .count()
        }
    };
    if end <= credentials {
        return None;
    }
    out.replace(credentials, end, SECRET);
    Some(quoted.map_or(end, |value| value.after))
}

/// The end of a JWT starting at `i` (`eyJ…`): three or more base64url
/// segments joined by dots, the last one possibly empty (`alg: none`).
fn jwt_end(b: &[u8], i: usize) -> Option<usize> {
    let segment_end = |k: usize| {
        k + b
            .get(k..)
            .map_or(0, |s| s.iter().take_while(|c| is_base64url(**c)).count())
    };
    let header = segment_end(i);
    if b.get(header) != Some(&b'.') {
        return None;
    }
    let payload = segment_end(header + 1);
    if payload == header + 1 || b.get(payload) != Some(&b'.') {
        return None;
    }
    let mut end = segment_end(payload + 1);
    while b.get(end) == Some(&b'.') {
        let next = segment_end(end + 1);
        if next == end + 1 {
            break;
        }
        end = next;
    }
    Some(end)
}

/// Whether the run at `i` is a bare JSON value (`"amount": 4242…`), which
/// must be replaced by a string to keep the line JSON.
fn is_json_value_position(b: &[u8], i: usize) -> bool {
    let mut k = i;
    while k > 0 && b[k - 1] == b' ' {
        k -= 1;
    }
    k >= 2 && b[k - 1] == b':' && b[k - 2] == b'"' && !(k >= 3 && b[k - 3] == b'\\')
}

/// A word starts at `i` when the byte before is no part of a word, or ends
/// an ANSI colour sequence (the text format styles field names).
fn word_starts_at(b: &[u8], i: usize) -> bool {
    i == 0 || !is_word_byte(b[i - 1]) || ends_ansi(b, i)
}

fn ends_ansi(b: &[u8], i: usize) -> bool {
    if b[i - 1] != b'm' {
        return false;
    }
    let params = b[..i - 1]
        .iter()
        .rev()
        .take(MAX_ANSI_PARAMS + 1)
        .take_while(|c| is_ansi_param(**c))
        .count();
    let open = i - 1 - params;
    params <= MAX_ANSI_PARAMS && open >= 2 && b[open - 1] == b'[' && b[open - 2] == 0x1b
}

/// Past any ANSI colour sequences (`ESC [ … m`) at `j`.
fn skip_ansi(b: &[u8], mut j: usize) -> usize {
    while b.get(j) == Some(&0x1b) && b.get(j + 1) == Some(&b'[') {
        let params = b[j + 2..]
            .iter()
            .take(MAX_ANSI_PARAMS + 1)
            .take_while(|c| is_ansi_param(**c))
            .count();
        if params > MAX_ANSI_PARAMS || b.get(j + 2 + params) != Some(&b'm') {
            break;
        }
        j += params + 3;
    }
    j
}

/// Colour parameters are short (`0`, `1;31`, `38;5;208`); a longer run is
/// not skipped, so that no card number can hide in one.
const MAX_ANSI_PARAMS: usize = 12;

fn is_ansi_param(c: u8) -> bool {
    c.is_ascii_digit() || c == b';'
}

fn skip_spaces(b: &[u8], j: usize) -> usize {
    j + b
        .get(j..)
        .map_or(0, |s| s.iter().take_while(|c| **c == b' ').count())
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn is_base64url(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

/// Characters of an HTTP credential (RFC 7235 `token68`).
fn is_token68_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
}

fn ends_bare_value(c: u8) -> bool {
    c.is_ascii_whitespace()
        || matches!(
            c,
            b',' | b';' | b'&' | b')' | b'}' | b']' | b'"' | b'\'' | b'\\' | 0x1b
        )
}

#[cfg(test)]
mod tests;
