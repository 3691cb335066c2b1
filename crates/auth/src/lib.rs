//! Identity for Emporium: the account and session service ([`AuthService`]),
//! Argon2id password hashing ([`PasswordHasher`]), Ed25519-signed access
//! tokens ([`Tokens`], [`Authenticator`]) and the key ring that signs and
//! verifies them ([`KeyRing`]), and the feed of revoked sessions that
//! instances without Redis poll ([`RevocationFeed`]).
//!
//! The rules (what an email, a password, a session is) are the domain's;
//! this crate holds the cryptography and the orchestration, and talks to
//! storage, revocations and rate limits only through the domain's ports.

pub mod feed;
pub mod keys;
mod password;
mod secret;
mod service;
pub mod token;

use std::time::Duration;

use emporium_domain::{StoreError, ValidationError};

pub use feed::RevocationFeed;
pub use keys::{Jwk, Jwks, JwksSource, KeyRing, KeySource};
pub use password::{HashCost, PasswordHasher};
pub use service::{create_account, AuthConfig, AuthService, PasswordChange, Profile, SignedIn};
pub use token::{Authenticator, Claims, TokenError, Tokens};

/// What can go wrong in the identity service.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("validation failed")]
    Validation(Vec<ValidationError>),
    #[error("an account with this email already exists")]
    EmailTaken,
    /// Wrong email or wrong password: deliberately the same error.
    #[error("the email or password is incorrect")]
    InvalidCredentials,
    #[error("the current password is incorrect")]
    WrongCurrentPassword,
    #[error("too many attempts; try again later")]
    Throttled { retry_after: Duration },
    #[error("the refresh token is invalid or its session has ended")]
    InvalidRefreshToken,
    /// A refresh token was presented twice: its session is now revoked.
    #[error("the refresh token was already used; the session has been ended for safety")]
    RefreshTokenReused,
    #[error("the account no longer exists")]
    AccountGone,
    /// Too many password hashes are queued.
    #[error("the sign-in service is busy")]
    Busy,
    #[error("token keys are unavailable: {0}")]
    KeysUnavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl From<ValidationError> for AuthError {
    fn from(e: ValidationError) -> Self {
        AuthError::Validation(vec![e])
    }
}

/// A new opaque token: 256 random bits, base64url (cart tokens, refresh tokens).
pub fn random_token() -> Result<String, AuthError> {
    secret::new_token()
}

/// SHA-256 of a token, base64url: what stores keep instead of the token.
pub fn hash_token(token: &str) -> String {
    secret::hash(token)
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
