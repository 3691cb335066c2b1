//! Accounts, sessions and signing keys as the identity ports exchange them.
//! Times are Unix milliseconds (`i64`), the same in every store.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use super::{DisplayName, Email};
use crate::ValidationError;

/// Milliseconds since the Unix epoch.
pub type UnixMillis = i64;

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Customer,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Admin => "admin",
        }
    }
}

impl FromStr for Role {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Role, ValidationError> {
        match s {
            "customer" => Ok(Role::Customer),
            "admin" => Ok(Role::Admin),
            _ => Err(ValidationError::new("role", "must be customer or admin")),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An account, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    pub email: Email,
    pub name: DisplayName,
    pub role: Role,
    pub created_at: UnixMillis,
}

/// An account with its password hash (PHC string), as the store keeps it.
#[derive(Clone)]
pub struct UserRecord {
    pub user: User,
    pub password_hash: String,
}

impl fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRecord")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// A new sign-in session and the hash of its first refresh token.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: Uuid,
    pub user_id: Uuid,
    /// SHA-256 (base64url) of the refresh token; the token itself is never stored.
    pub refresh_hash: String,
    pub created_at: UnixMillis,
    /// Absolute end of the session: refreshing fails after it.
    pub expires_at: UnixMillis,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was current: it is now used and `new_hash` replaces it.
    Rotated { session_id: Uuid, user_id: Uuid },
    /// The token had already been used: someone replayed it, so the whole
    /// session (every token descended from the same login) is now revoked.
    Reused { session_id: Uuid },
    /// The session was revoked (logout, reuse, password change) or expired.
    Ended { session_id: Uuid },
    /// No such token.
    Unknown,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeReason {
    Logout,
    RefreshReuse,
    PasswordChange,
}

impl RevokeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RevokeReason::Logout => "logout",
            RevokeReason::RefreshReuse => "refresh_reuse",
            RevokeReason::PasswordChange => "password_change",
        }
    }
}

/// A revoked session, for instances that learn of revocations by polling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revoked {
    pub session_id: Uuid,
    pub revoked_at: UnixMillis,
}

impl Revoked {
    /// Where this revocation sits in the feed.
    pub fn position(&self) -> FeedPosition {
        FeedPosition {
            revoked_at: self.revoked_at,
            session_id: self.session_id,
        }
    }
}

/// A place in the revocation feed, which is ordered by `(revoked_at,
/// session_id)`: a page of the feed starts strictly after a position. The
/// time alone is no position, because many sessions can end in the same
/// millisecond (a password change ends all of an account's sessions at
/// once), and a page boundary may fall among them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FeedPosition {
    pub revoked_at: UnixMillis,
    pub session_id: Uuid,
}

impl FeedPosition {
    /// Just before every revocation at `time` or later (session ids are
    /// never nil).
    pub fn start_of(time: UnixMillis) -> FeedPosition {
        FeedPosition {
            revoked_at: time,
            session_id: Uuid::nil(),
        }
    }
}

/// A token-signing key pair as stored. The private half never leaves the
/// auth role's memory and is never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// Key id, the JWT `kid`.
    pub kid: String,
    /// JOSE algorithm name, e.g. `EdDSA`.
    pub algorithm: String,
    /// PKCS#8 DER of the private key.
    pub private_der: Vec<u8>,
    /// Raw public key bytes (for Ed25519, the 32-byte point).
    pub public_key: Vec<u8>,
    pub created_at: UnixMillis,
}

impl fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// Who is making a request, from a verified access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub user_id: Uuid,
    pub role: Role,
    pub session_id: Uuid,
}

/// A rate limit: at most `limit` events per `window`, counted from the
/// first event of the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub limit: u32,
    pub window: std::time::Duration,
}

/// A limiter's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    /// Events left in the current window.
    pub remaining: u32,
    /// Time until the window ends (and the count starts again).
    pub reset_after: std::time::Duration,
}
