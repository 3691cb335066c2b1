//! Where accounts, sessions and signing keys live.

use std::future::Future;

use uuid::Uuid;

use crate::identity::{
    DisplayName, Email, FeedPosition, NewSession, RefreshOutcome, RevokeReason, Revoked, StoredKey,
    UnixMillis, User, UserRecord,
};
use crate::StoreError;

/// Where accounts, sessions and token-signing keys live (SQLite or
/// PostgreSQL). Emails are stored as [`Email`] normalised them, so
/// uniqueness is case- and width-insensitive.
pub trait IdentityStore: Send + Sync + 'static {
    /// Creates an account. A taken email is `StoreError::Conflict`.
    fn create_user(
        &self,
        user: &User,
        password_hash: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn user_by_email(
        &self,
        email: &Email,
    ) -> impl Future<Output = Result<Option<UserRecord>, StoreError>> + Send;

    fn user_by_id(
        &self,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<UserRecord>, StoreError>> + Send;

    /// Changes the name and/or the password hash (`None` leaves a field
    /// alone). Returns the updated account, or `None` if there is none.
    fn update_user(
        &self,
        id: Uuid,
        name: Option<&DisplayName>,
        password_hash: Option<&str>,
        now: UnixMillis,
    ) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;

    /// Starts a session with its first refresh token (stored hashed).
    fn create_session(
        &self,
        session: &NewSession,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Rotates a refresh token in one transaction, atomically: if
    /// `presented_hash` is the current token of a live session it is marked
    /// used and `new_hash` becomes current ([`RefreshOutcome::Rotated`]);
    /// if it was already used, the session is revoked
    /// ([`RefreshOutcome::Reused`]). Of concurrent callers presenting one
    /// token, exactly one gets `Rotated`.
    fn rotate_refresh_token(
        &self,
        presented_hash: &str,
        new_hash: &str,
        now: UnixMillis,
    ) -> impl Future<Output = Result<RefreshOutcome, StoreError>> + Send;

    /// Revokes one session. `false` if it does not exist or already ended.
    fn revoke_session(
        &self,
        session_id: Uuid,
        reason: RevokeReason,
        now: UnixMillis,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Revokes every live session of a user except `keep`; returns the ids
    /// it revoked.
    fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        keep: Option<Uuid>,
        reason: RevokeReason,
        now: UnixMillis,
    ) -> impl Future<Output = Result<Vec<Uuid>, StoreError>> + Send;

    /// A page of the revocation feed: sessions revoked strictly after
    /// `after` in `(revoked_at, session_id)` order, at most `limit`. Paging
    /// from the last row of each page reads every revocation once, however
    /// many share one `revoked_at`.
    fn revoked_after(
        &self,
        after: FeedPosition,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Revoked>, StoreError>> + Send;

    /// Deletes sessions (with their refresh tokens) that expired or were
    /// revoked before `before`; returns how many.
    fn purge_sessions(
        &self,
        before: UnixMillis,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Every signing key, oldest first.
    fn signing_keys(&self) -> impl Future<Output = Result<Vec<StoredKey>, StoreError>> + Send;

    /// Adds a signing key. A duplicate `kid` is `StoreError::Conflict`.
    fn add_signing_key(
        &self,
        key: &StoredKey,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes a signing key; `false` if there was none.
    fn remove_signing_key(
        &self,
        kid: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}
