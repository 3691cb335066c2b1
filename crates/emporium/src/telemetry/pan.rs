//! Card numbers (PANs) in free text: runs of digits, possibly grouped by
//! single spaces or dashes, that hold a Luhn-valid window of 13–19 digits.
//! The log redactor and the tests that scan databases and logs for leaked
//! card data share this one definition.
//!
//! The rule errs on the safe side: a whole run is reported when *any*
//! 13–19 digit window of it could be a card number, so a PAN glued to other
//! digits (`ref 12 4242 4242 4242 4242`) is still caught. Two things are
//! never read as PANs, to keep logs and scans free of noise: windows that
//! start with `0` (no card scheme issues such numbers) and UUIDs, in either
//! hyphenated or 32-hex form, which are everywhere in our logs and tables.

/// The largest PAN (ISO/IEC 7812): windows are at most this long.
const MAX_PAN: usize = 19;
/// The smallest PAN we look for.
const MIN_PAN: usize = 13;

/// Whether `digits` passes the Luhn (mod 10) check.
///
/// Spaces and dashes are ignored (`4242 4242 4242 4242`); any other
/// character, or no digit at all, gives `false`. The length is not checked:
/// this is the bare checksum, [`find_pans`] adds the 13–19 digit rule.
pub fn is_luhn_valid(digits: &str) -> bool {
    // The Luhn sum kept modulo 10.
    let mut sum = 0u32;
    let mut count = 0usize;
    for c in digits.bytes().rev() {
        match c {
            b'0'..=b'9' => {
                sum = (sum + luhn_term(c - b'0', count % 2 == 1)) % 10;
                count += 1;
            }
            b' ' | b'-' => {}
            _ => return false,
        }
    }
    count > 0 && sum == 0
}

/// Every run of `text` that holds a PAN, as written (separators kept), in
/// order. Meant for tests and audits: scan a log or a database file (see
/// [`find_pans_in_bytes`]) and expect nothing.
pub fn find_pans(text: &str) -> Vec<String> {
    find_pans_in_bytes(text.as_bytes())
}

/// [`find_pans`] over raw bytes, such as a SQLite database or WAL file,
/// where text columns sit between binary record headers.
pub fn find_pans_in_bytes(bytes: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if let Some(end) = uuid_at(bytes, i) {
            i = end;
        } else if bytes[i].is_ascii_digit() {
            let run = digit_run(bytes, i);
            if run.is_pan {
                // A run is only digits, spaces and dashes: always UTF-8.
                found.push(String::from_utf8_lossy(&bytes[i..run.end]).into_owned());
            }
            i = run.end;
        } else {
            i += 1;
        }
    }
    found
}

/// A maximal run of digits found by [`digit_run`].
pub(super) struct Run {
    /// Just past the run's last digit.
    pub end: usize,
    /// Whether a 13–19 digit window of the run passes Luhn.
    pub is_pan: bool,
}

/// The run of digits starting at `start` (a digit), continued across single
/// spaces or dashes, stopping before a UUID that begins a new group.
///
/// Windows are checked as the run is read, with the last 19 digits kept in a
/// ring, so that a long run costs no allocation.
pub(super) fn digit_run(b: &[u8], start: usize) -> Run {
    let mut ring = [0u8; MAX_PAN];
    let mut count = 0usize;
    let mut is_pan = false;
    let mut j = start;
    loop {
        ring[count % MAX_PAN] = b[j] - b'0';
        count += 1;
        if !is_pan && count >= MIN_PAN {
            is_pan = window_ends_here(&ring, count);
        }
        j += 1;
        match b.get(j) {
            Some(c) if c.is_ascii_digit() => {}
            Some(b' ' | b'-')
                if b.get(j + 1).is_some_and(u8::is_ascii_digit) && uuid_at(b, j + 1).is_none() =>
            {
                j += 1;
            }
            _ => break,
        }
    }
    Run { end: j, is_pan }
}

/// Whether a Luhn-valid window of 13–19 digits ends at the last digit pushed
/// (`count` digits so far, the last ones in `ring`).
fn window_ends_here(ring: &[u8; MAX_PAN], count: usize) -> bool {
    let mut sum = 0u32;
    for k in 0..count.min(MAX_PAN) {
        let digit = ring[(count - 1 - k) % MAX_PAN];
        sum = (sum + luhn_term(digit, k % 2 == 1)) % 10;
        // `digit` is the window's first one: card numbers never start with 0.
        if k + 1 >= MIN_PAN && sum == 0 && digit != 0 {
            return true;
        }
    }
    false
}

/// A digit's share of the Luhn sum: every second digit from the right is
/// doubled, and a two-digit product counts as the sum of its digits.
fn luhn_term(digit: u8, doubled: bool) -> u32 {
    let d = u32::from(digit);
    match (doubled, d * 2) {
        (false, _) => d,
        (true, twice) if twice > 9 => twice - 9,
        (true, twice) => twice,
    }
}

/// The end of a UUID starting at `i`: hyphenated (8-4-4-4-12 hex digits), or
/// 32 hex digits with at least one letter standing alone as a word. Either
/// must not run on into more letters or digits.
pub(super) fn uuid_at(b: &[u8], i: usize) -> Option<usize> {
    if !b[i].is_ascii_hexdigit() {
        return None;
    }
    let alone_after = |end: usize| b.get(end).is_none_or(|c| !c.is_ascii_alphanumeric());
    // The dash at 8 rules out almost every other position cheaply.
    let hyphenated = b.get(i + 8) == Some(&b'-')
        && b.get(i..i + 36).is_some_and(|s| {
            s.iter().enumerate().all(|(k, c)| match k {
                8 | 13 | 18 | 23 => *c == b'-',
                _ => c.is_ascii_hexdigit(),
            })
        });
    if hyphenated && alone_after(i + 36) {
        return Some(i + 36);
    }
    let alone_before = i == 0 || !b[i - 1].is_ascii_alphanumeric();
    let simple = alone_before
        && b.get(i..i + 32).is_some_and(|s| {
            s.iter().all(u8::is_ascii_hexdigit) && s.iter().any(u8::is_ascii_alphabetic)
        });
    (simple && alone_after(i + 32)).then_some(i + 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_test_cards_and_rejects_a_changed_digit() {
        for pan in [
            "4242424242424242",
            "4000 0566 5566 5556",
            "5555-5555-5555-4444",
            "378282246310005",
            "4222222222222",
            "6011111111111117",
        ] {
            assert!(is_luhn_valid(pan), "{pan}");
        }
        for not in ["4242424242424241", "", " - ", "4242x4242", "1764012345678"] {
            assert!(!is_luhn_valid(not), "{not}");
        }
    }

    #[test]
    fn finds_pans_as_written_and_ignores_other_numbers() {
        let text = "a 4242 4242 4242 4242, b 378282246310005; at 1764012345678, \
                    total 19.99, phone +1 555 123 4567";
        assert_eq!(
            find_pans(text),
            vec!["4242 4242 4242 4242", "378282246310005"]
        );
    }

    #[test]
    fn a_pan_inside_a_longer_run_is_found() {
        assert_eq!(
            find_pans("x124242424242424242y"),
            vec!["124242424242424242"]
        );
        assert_eq!(
            find_pans("ref 12 4242-4242-4242-4242"),
            vec!["12 4242-4242-4242-4242"]
        );
    }

    #[test]
    fn windows_starting_with_zero_are_not_pans() {
        assert!(is_luhn_valid("0000000000000000"));
        assert!(find_pans("0000000000000000").is_empty());
    }

    #[test]
    fn uuids_are_not_pans_even_when_their_digits_pass_luhn() {
        let digits = "42424242-4242-4242-4242-424242424242";
        assert!(is_luhn_valid("4242424242424242"));
        assert!(find_pans(digits).is_empty());
        assert!(find_pans(&format!("id 12 {digits}")).is_empty());
        let simple = format!("f{}4", "42".repeat(15));
        assert_eq!(simple.len(), 32);
        assert!(find_pans(&format!("pay_{simple}")).is_empty());
        // A PAN glued to a UUID is still found.
        assert_eq!(
            find_pans("4242424242424242 0190abcd-1234-7abc-8def-123456789012"),
            vec!["4242424242424242"]
        );
    }

    #[test]
    fn scans_binary_data() {
        let mut bytes = vec![0u8, 0xff, 0x13];
        bytes.extend_from_slice(b"4242424242424242");
        bytes.extend_from_slice(&[0x80, 0x00]);
        assert_eq!(find_pans_in_bytes(&bytes), vec!["4242424242424242"]);
    }
}
