//! The [`IdentityStore`](emporium_domain::ports::IdentityStore) port
//! (accounts, sessions, refresh tokens, signing keys): the row shapes and
//! decoders both adapters share. Their SQL (`sqlite::identity`,
//! `postgres::identity`) is the same statements on both backends (`$n`
//! placeholders work on both) but for how a write transaction starts.
//!
//! Guarantees, on both backends:
//! * a taken email, session refresh hash or key id is `StoreError::Conflict`,
//!   and a failed write leaves nothing behind (one statement, or one
//!   transaction);
//! * `rotate_refresh_token` runs in one transaction whose first statement is
//!   a conditional update (`used_at IS NULL`) of the presented token, so of
//!   concurrent callers presenting one token exactly one claims it; the
//!   others see it used and revoke the session. An `Ended` outcome writes
//!   nothing;
//! * a row the domain cannot read (an unknown role) is `StoreError::Internal`.

use emporium_domain::identity::{
    DisplayName, Email, Revoked, Role, StoredKey, UnixMillis, User, UserRecord,
};
use emporium_domain::StoreError;
use uuid::Uuid;

/// `id, email, name, role, created_at` of `users`.
pub(crate) type UserRow = (Uuid, String, String, String, UnixMillis);
/// A [`UserRow`] followed by `password_hash`.
pub(crate) type UserRecordRow = (Uuid, String, String, String, UnixMillis, String);
/// `kid, algorithm, private_der, public_key, created_at` of `signing_keys`.
pub(crate) type KeyRow = (String, String, Vec<u8>, Vec<u8>, UnixMillis);

pub(crate) fn user((id, email, name, role, created_at): UserRow) -> Result<User, StoreError> {
    let role: Role = role
        .parse()
        .map_err(|_| StoreError::Internal(format!("user {id} has an unknown role {role:?}")))?;
    Ok(User {
        id,
        email: Email::from_trusted(email),
        name: DisplayName::from_trusted(name),
        role,
        created_at,
    })
}

pub(crate) fn user_record(row: UserRecordRow) -> Result<UserRecord, StoreError> {
    let (id, email, name, role, created_at, password_hash) = row;
    Ok(UserRecord {
        user: user((id, email, name, role, created_at))?,
        password_hash,
    })
}

pub(crate) fn revoked((session_id, revoked_at): (Uuid, UnixMillis)) -> Revoked {
    Revoked {
        session_id,
        revoked_at,
    }
}

pub(crate) fn key((kid, algorithm, private_der, public_key, created_at): KeyRow) -> StoredKey {
    StoredKey {
        kid,
        algorithm,
        private_der,
        public_key,
        created_at,
    }
}
