//! Opaque refresh tokens: 256 random bits, base64url. Only their SHA-256
//! is stored, so a leaked database cannot be replayed as sessions.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SecureRandom;

use crate::AuthError;

/// The longest string that could be a refresh token; longer input is not
/// even hashed.
pub(crate) const MAX_TOKEN_LEN: usize = 64;

pub(crate) fn new_token() -> Result<String, AuthError> {
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| AuthError::Internal("the system random generator failed".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

pub(crate) fn hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        token.as_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn tokens_are_random_and_hashes_stable() {
        let a = new_token().unwrap();
        assert_eq!(a.len(), 43);
        assert!(a.len() <= MAX_TOKEN_LEN);
        assert_ne!(a, new_token().unwrap());
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), a);
    }
}
