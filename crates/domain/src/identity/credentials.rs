//! What a person types to get an account: an email address, a password and
//! a display name. Each is a type that can only hold a valid value.
//!
//! Emails are trimmed, NFKC-normalised and lower-cased, so that look-alike
//! spellings of one address (`ＡＬＩＣＥ@example.com`, `Alice@Example.com `)
//! are the same account; after normalisation only ASCII addresses are
//! accepted, which also keeps out homoglyph addresses (Cyrillic `а` for
//! Latin `a`). The password policy follows NIST SP 800-63B: length and a
//! list of common passwords, no composition rules.

use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

use unicode_normalization::UnicodeNormalization;

use crate::ValidationError;

/// A normalised email address: the account's unique key.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    /// Parses what a user typed, normalising it (see the module docs).
    pub fn parse(raw: &str) -> Result<Email, ValidationError> {
        let bad = |m: &str| ValidationError::new("email", m);
        if raw.len() > 4 * Email::MAX_LEN {
            return Err(bad("is too long (at most 254 characters)"));
        }
        let normalised: String = raw.trim().nfkc().collect::<String>().to_lowercase();
        if normalised.is_empty() {
            return Err(bad("is required"));
        }
        if normalised.chars().count() > Email::MAX_LEN {
            return Err(bad("is too long (at most 254 characters)"));
        }
        if !normalised.is_ascii() {
            return Err(bad(
                "must be an ASCII address (internationalised addresses are not supported)",
            ));
        }
        if normalised
            .bytes()
            .any(|b| b.is_ascii_control() || b == b' ')
        {
            return Err(bad("must not contain spaces or control characters"));
        }
        let Some((local, domain)) = normalised.split_once('@') else {
            return Err(bad("must contain an @"));
        };
        if local.is_empty() || local.len() > 64 {
            return Err(bad("needs 1 to 64 characters before the @"));
        }
        if domain.contains('@') {
            return Err(bad("must contain exactly one @"));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if labels.len() < 2 || !labels.iter().all(label_ok) {
            return Err(bad("must end in a domain name such as example.com"));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(bad("has misplaced dots before the @"));
        }
        const LOCAL_SPECIALS: &[u8] = b".!#$%&'*+/=?^_`{|}~-";
        if !local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || LOCAL_SPECIALS.contains(&b))
        {
            return Err(bad("contains characters an address cannot have"));
        }
        Ok(Email(normalised))
    }

    /// An address already normalised by [`Email::parse`] (read back from a store).
    pub fn from_trusted(normalised: String) -> Email {
        Email(normalised)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn local_part(&self) -> &str {
        self.0.split_once('@').map_or(&self.0, |(l, _)| l)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

/// A password that meets the policy. Never printed by `Debug`.
#[derive(Clone)]
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Common passwords of ten or more characters (shorter ones fail the length rule).
const COMMON_PASSWORDS: &str = include_str!("common-passwords.txt");

fn common_passwords() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        COMMON_PASSWORDS
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    })
}

impl Password {
    pub const MIN_CHARS: usize = 10;
    pub const MAX_CHARS: usize = 128;

    /// Checks a new password against the policy: 10 to 128 characters
    /// (after NFKC normalisation, so that one password typed on two
    /// keyboards is one password), not a common password, not the
    /// account's own email, not one character repeated.
    pub fn new_for(
        raw: &str,
        email: Option<&Email>,
        field: &str,
    ) -> Result<Password, ValidationError> {
        let bad = |m: &str| ValidationError::new(field, m);
        // Refuse huge inputs before normalising them.
        if raw.len() > 4 * Password::MAX_CHARS {
            return Err(bad("is too long (at most 128 characters)"));
        }
        let normalised: String = raw.nfkc().collect();
        let chars = normalised.chars().count();
        if chars < Password::MIN_CHARS {
            return Err(bad("is too short (at least 10 characters)"));
        }
        if chars > Password::MAX_CHARS {
            return Err(bad("is too long (at most 128 characters)"));
        }
        let lower = normalised.to_lowercase();
        if common_passwords().contains(lower.as_str()) {
            return Err(bad("is too common; choose a less guessable password"));
        }
        if let Some(e) = email {
            if lower == e.as_str() || lower == e.local_part() {
                return Err(bad("must not be your email address"));
            }
        }
        let mut it = normalised.chars();
        if let Some(first) = it.next() {
            if it.all(|c| c == first) {
                return Err(bad("must not be one character repeated"));
            }
        }
        Ok(Password(normalised))
    }

    /// A password as typed at login: normalised the same way, only the
    /// length is checked (the policy may have changed since it was set).
    pub fn for_login(raw: &str) -> Result<Password, ValidationError> {
        if raw.is_empty() {
            return Err(ValidationError::new("password", "is required"));
        }
        if raw.len() > 4 * Password::MAX_CHARS {
            return Err(ValidationError::new(
                "password",
                "is too long (at most 128 characters)",
            ));
        }
        Ok(Password(raw.nfkc().collect()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A display name: 1 to 100 characters, trimmed, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<DisplayName, ValidationError> {
        let bad = |m: &str| ValidationError::new("name", m);
        if raw.len() > 4 * DisplayName::MAX_CHARS {
            return Err(bad("is too long (at most 100 characters)"));
        }
        let name: String = raw.trim().nfc().collect();
        if name.is_empty() {
            return Err(bad("is required"));
        }
        if name.chars().count() > DisplayName::MAX_CHARS {
            return Err(bad("is too long (at most 100 characters)"));
        }
        if name.chars().any(char::is_control) {
            return Err(bad("must not contain control characters"));
        }
        Ok(DisplayName(name))
    }

    pub fn from_trusted(name: String) -> DisplayName {
        DisplayName(name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_to_one_account() {
        let plain = Email::parse("alice@example.com").unwrap();
        for variant in [
            "  Alice@Example.COM ",
            "ＡＬＩＣＥ@ｅｘａｍｐｌｅ.ｃｏｍ",
            "alice@example\u{FF0E}com",
        ] {
            assert_eq!(Email::parse(variant).unwrap(), plain, "{variant}");
        }
    }

    #[test]
    fn bad_emails_are_refused() {
        for bad in [
            "",
            "   ",
            "alice",
            "alice@",
            "@example.com",
            "alice@example",
            "a@b@example.com",
            "al ice@example.com",
            "alice@exa_mple.com",
            "\u{0430}lice@example.com",  // Cyrillic а
            "alice\u{200B}@example.com", // zero-width space
            ".alice@example.com",
            "al..ice@example.com",
            "alice@-example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(65))).is_err());
        assert!(Email::parse(&"a".repeat(10_000)).is_err());
    }

    #[test]
    fn password_policy() {
        let email = Email::parse("robert.smith@example.com").unwrap();
        let ok = |p: &str| Password::new_for(p, Some(&email), "password").is_ok();
        assert!(ok("correct horse battery"));
        assert!(ok("ünïcödé-pässwörd"));
        assert!(!ok("short"));
        assert!(!ok("123456789")); // nine characters
        assert!(!ok("1234567890")); // common
        assert!(!ok("Password123")); // common, any case
        assert!(!ok("ROBERT.SMITH"));
        assert!(!ok("aaaaaaaaaaaa"));
        assert!(!ok(&"x".repeat(129)));
        assert!(!ok(&"ab".repeat(5_000)));
        assert!(ok(&"ab".repeat(64)));
    }

    #[test]
    fn passwords_are_normalised_and_never_printed() {
        let a = Password::for_login("ｐａｓｓｗｏｒｄ-ｏｎｅ").unwrap();
        let b = Password::for_login("password-one").unwrap();
        assert_eq!(a.expose(), b.expose());
        assert!(!format!("{a:?}").contains("password"));
    }

    #[test]
    fn names() {
        assert_eq!(
            DisplayName::parse("  Ada Lovelace ").unwrap().as_str(),
            "Ada Lovelace"
        );
        assert!(DisplayName::parse("").is_err());
        assert!(DisplayName::parse("a\u{7}b").is_err());
        assert!(DisplayName::parse(&"n".repeat(101)).is_err());
    }
}
