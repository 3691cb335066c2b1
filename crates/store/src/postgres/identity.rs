//! The identity store (see `crate::identity` for what it guarantees): every
//! statement is the same SQL on both backends but for how a write
//! transaction starts.

use emporium_domain::identity::{
    DisplayName, Email, FeedPosition, NewSession, RefreshOutcome, RevokeReason, Revoked, StoredKey,
    UnixMillis, User, UserRecord,
};
use emporium_domain::ports::IdentityStore;
use emporium_domain::StoreError;
use sqlx::PgConnection;
use uuid::Uuid;

use super::PgStore;
use crate::error::db;
use crate::identity::{KeyRow, UserRecordRow, UserRow};

impl IdentityStore for PgStore {
    async fn create_user(&self, user: &User, password_hash: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO users \
             (id, email, name, password_hash, role, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(user.id)
        .bind(user.email.as_str())
        .bind(user.name.as_str())
        .bind(password_hash)
        .bind(user.role.as_str())
        .bind(user.created_at)
        .execute(&self.primary()?)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError> {
        sqlx::query_as::<_, UserRecordRow>(
            "SELECT id, email, name, role, created_at, password_hash FROM users \
             WHERE email = $1",
        )
        .bind(email.as_str())
        .fetch_optional(&self.primary()?)
        .await
        .map_err(db)?
        .map(crate::identity::user_record)
        .transpose()
    }

    async fn user_by_id(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        sqlx::query_as::<_, UserRecordRow>(
            "SELECT id, email, name, role, created_at, password_hash FROM users \
             WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.primary()?)
        .await
        .map_err(db)?
        .map(crate::identity::user_record)
        .transpose()
    }

    async fn update_user(
        &self,
        id: Uuid,
        name: Option<&DisplayName>,
        password_hash: Option<&str>,
        now: UnixMillis,
    ) -> Result<Option<User>, StoreError> {
        sqlx::query_as::<_, UserRow>(
            "UPDATE users SET name = COALESCE($1, name), \
             password_hash = COALESCE($2, password_hash), updated_at = $3 \
             WHERE id = $4 RETURNING id, email, name, role, created_at",
        )
        .bind(name.map(DisplayName::as_str))
        .bind(password_hash)
        .bind(now)
        .bind(id)
        .fetch_optional(&self.primary()?)
        .await
        .map_err(db)?
        .map(crate::identity::user)
        .transpose()
    }

    async fn create_session(&self, session: &NewSession) -> Result<(), StoreError> {
        let mut tx = self.primary()?.begin_with("BEGIN").await.map_err(db)?;
        sqlx::query(
            "INSERT INTO sessions (id, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(session.id)
        .bind(session.user_id)
        .bind(session.created_at)
        .bind(session.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        insert_token(
            &mut tx,
            &session.refresh_hash,
            session.id,
            session.created_at,
        )
        .await?;
        tx.commit().await.map_err(db)
    }

    async fn rotate_refresh_token(
        &self,
        presented_hash: &str,
        new_hash: &str,
        now: UnixMillis,
    ) -> Result<RefreshOutcome, StoreError> {
        let mut tx = self.primary()?.begin_with("BEGIN").await.map_err(db)?;
        let outcome = rotate(&mut tx, presented_hash, new_hash, now).await?;
        if matches!(outcome, RefreshOutcome::Ended { .. }) {
            // Leave the token as it was: presenting it again says
            // the session ended, not that the token was replayed.
            tx.rollback().await.map_err(db)?;
        } else {
            tx.commit().await.map_err(db)?;
        }
        Ok(outcome)
    }

    async fn revoke_session(
        &self,
        session_id: Uuid,
        reason: RevokeReason,
        now: UnixMillis,
    ) -> Result<bool, StoreError> {
        let mut conn = self.primary()?.acquire().await.map_err(db)?;
        revoke(&mut conn, session_id, reason, now).await
    }

    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        keep: Option<Uuid>,
        reason: RevokeReason,
        now: UnixMillis,
    ) -> Result<Vec<Uuid>, StoreError> {
        sqlx::query_scalar(
            "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 \
             WHERE user_id = $3 AND revoked_at IS NULL AND ($4 IS NULL OR id <> $4) \
             RETURNING id",
        )
        .bind(now)
        .bind(reason.as_str())
        .bind(user_id)
        .bind(keep)
        .fetch_all(&self.primary()?)
        .await
        .map_err(db)
    }

    async fn revoked_after(
        &self,
        after: FeedPosition,
        limit: u32,
    ) -> Result<Vec<Revoked>, StoreError> {
        // A keyset page on (revoked_at, id), which the index
        // sessions_revoked_feed serves in order (migration 0005).
        let rows: Vec<(Uuid, UnixMillis)> = sqlx::query_as(
            "SELECT id, revoked_at FROM sessions WHERE (revoked_at, id) > ($1, $2) \
             ORDER BY revoked_at, id LIMIT $3",
        )
        .bind(after.revoked_at)
        .bind(after.session_id)
        .bind(i64::from(limit))
        .fetch_all(&self.primary()?)
        .await
        .map_err(db)?;
        Ok(rows.into_iter().map(crate::identity::revoked).collect())
    }

    async fn purge_sessions(&self, before: UnixMillis) -> Result<u64, StoreError> {
        // Refresh tokens go with their session (ON DELETE CASCADE).
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1")
            .bind(before)
            .execute(&self.primary()?)
            .await
            .map(|r| r.rows_affected())
            .map_err(db)
    }

    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let rows: Vec<KeyRow> = sqlx::query_as(
            "SELECT kid, algorithm, private_der, public_key, created_at \
             FROM signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(&self.primary()?)
        .await
        .map_err(db)?;
        Ok(rows.into_iter().map(crate::identity::key).collect())
    }

    async fn add_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO signing_keys \
             (kid, algorithm, private_der, public_key, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&key.kid)
        .bind(&key.algorithm)
        .bind(key.private_der.as_slice())
        .bind(key.public_key.as_slice())
        .bind(key.created_at)
        .execute(&self.primary()?)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn remove_signing_key(&self, kid: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM signing_keys WHERE kid = $1")
            .bind(kid)
            .execute(&self.primary()?)
            .await
            .map_err(db)?;
        Ok(done.rows_affected() > 0)
    }
}

async fn insert_token(
    conn: &mut PgConnection,
    hash: &str,
    session_id: Uuid,
    now: UnixMillis,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, created_at) \
         VALUES ($1, $2, $3)",
    )
    .bind(hash)
    .bind(session_id)
    .bind(now)
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// Revokes a session that is not yet revoked; `true` if it did.
async fn revoke(
    conn: &mut PgConnection,
    session_id: Uuid,
    reason: RevokeReason,
    now: UnixMillis,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 \
         WHERE id = $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(reason.as_str())
    .bind(session_id)
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(done.rows_affected() > 0)
}

/// The body of `rotate_refresh_token`, inside its transaction. The
/// first statement claims the token if it is unused: on PostgreSQL
/// concurrent claimants wait for the row lock and then re-check
/// `used_at IS NULL`; on SQLite the transaction holds the write lock
/// from its start. Either way one claimant wins.
async fn rotate(
    conn: &mut PgConnection,
    presented_hash: &str,
    new_hash: &str,
    now: UnixMillis,
) -> Result<RefreshOutcome, StoreError> {
    let claimed: Option<Uuid> = sqlx::query_scalar(
        "UPDATE refresh_tokens SET used_at = $1 \
         WHERE token_hash = $2 AND used_at IS NULL RETURNING session_id",
    )
    .bind(now)
    .bind(presented_hash)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    let Some(session_id) = claimed else {
        return reused_or_unknown(conn, presented_hash, now).await;
    };
    let (user_id, expires_at, revoked_at): (Uuid, UnixMillis, Option<UnixMillis>) =
        sqlx::query_as("SELECT user_id, expires_at, revoked_at FROM sessions WHERE id = $1")
            .bind(session_id)
            .fetch_one(&mut *conn)
            .await
            .map_err(db)?;
    if revoked_at.is_some() || expires_at <= now {
        return Ok(RefreshOutcome::Ended { session_id });
    }
    insert_token(conn, new_hash, session_id, now).await?;
    Ok(RefreshOutcome::Rotated {
        session_id,
        user_id,
    })
}

/// A token that could not be claimed: replayed (its session is
/// revoked) or never issued.
async fn reused_or_unknown(
    conn: &mut PgConnection,
    presented_hash: &str,
    now: UnixMillis,
) -> Result<RefreshOutcome, StoreError> {
    let used: Option<Uuid> =
        sqlx::query_scalar("SELECT session_id FROM refresh_tokens WHERE token_hash = $1")
            .bind(presented_hash)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?;
    let Some(session_id) = used else {
        return Ok(RefreshOutcome::Unknown);
    };
    revoke(conn, session_id, RevokeReason::RefreshReuse, now).await?;
    Ok(RefreshOutcome::Reused { session_id })
}
