//! The revocation feed: how an instance learns of sessions revoked by
//! other instances without Redis, by polling `sessions.revoked_at` in the
//! store ([`IdentityStore::revoked_after`]).
//!
//! Guarantees:
//! * a poll reads every revocation written since the previous one, however
//!   many share one millisecond: it pages on the keyset `(revoked_at,
//!   session_id)` until a short page, so a burst (one password change
//!   ending thousands of sessions) cannot hold the feed in place;
//! * revocations are stamped by the writer's clock and committed a moment
//!   later, so a poll also reads again what was revoked within [`OVERLAP`]
//!   before the previous poll began: a writer whose clock lags by less than
//!   that, or whose commit lands late, is still seen. Older rows are never
//!   read twice, so a burst costs a bounded number of reads.

use std::time::Duration;

use emporium_domain::identity::{FeedPosition, Revoked, UnixMillis};
use emporium_domain::ports::IdentityStore;
use emporium_domain::StoreError;

/// Rows read per query.
pub const PAGE: u32 = 1000;

/// How far behind the poller's clock a revocation may be stamped, or how
/// late it may be committed, and still be seen (clock skew between
/// instances plus the time between stamping and committing).
pub const OVERLAP: Duration = Duration::from_secs(2);

/// Where an instance is in the feed.
#[derive(Debug, Clone)]
pub struct RevocationFeed {
    /// The last revocation read.
    read: FeedPosition,
    /// Revocations stamped before this were all committed when the
    /// previous poll began (the poller's clock minus [`OVERLAP`]).
    settled: UnixMillis,
}

impl RevocationFeed {
    /// A feed that starts with the revocations stamped at `since` or later
    /// (now minus the access-token lifetime: older ones no longer matter).
    pub fn starting_at(since: UnixMillis) -> RevocationFeed {
        RevocationFeed {
            read: FeedPosition::start_of(since),
            settled: since,
        }
    }

    /// Reads the revocations that are new since the last poll (and those
    /// of the overlap again). `now` is the poller's clock when it starts.
    pub async fn poll<S: IdentityStore>(
        &mut self,
        store: &S,
        now: UnixMillis,
    ) -> Result<Vec<Revoked>, StoreError> {
        let mut from = self.read.min(FeedPosition::start_of(self.settled));
        let mut out = Vec::new();
        loop {
            let page = store.revoked_after(from, PAGE).await?;
            let full = page.len() >= PAGE as usize;
            if let Some(last) = page.last() {
                from = last.position();
            }
            out.extend(page);
            if !full {
                break;
            }
        }
        self.read = self.read.max(from);
        let overlap = i64::try_from(OVERLAP.as_millis()).unwrap_or(i64::MAX);
        self.settled = self.settled.max(now.saturating_sub(overlap));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use std::collections::HashSet;

    use emporium_domain::identity::{DisplayName, Email, NewSession, RevokeReason, Role, User};
    use emporium_store::Store;
    use uuid::Uuid;

    use super::*;

    const T0: UnixMillis = 1_767_225_600_000;

    async fn store_with_user() -> (tempfile::TempDir, Store, Uuid) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(dir.path(), 2).await.unwrap();
        let user = User {
            id: Uuid::now_v7(),
            email: Email::parse("feed@example.com").unwrap(),
            name: DisplayName::parse("Feed").unwrap(),
            role: Role::Customer,
            created_at: T0,
        };
        store.create_user(&user, "$argon2id$x").await.unwrap();
        (dir, store, user.id)
    }

    async fn sessions(store: &Store, user_id: Uuid, n: usize) -> Vec<Uuid> {
        let mut ids = Vec::new();
        for _ in 0..n {
            let id = Uuid::now_v7();
            store
                .create_session(&NewSession {
                    id,
                    user_id,
                    refresh_hash: id.to_string(),
                    created_at: T0,
                    expires_at: T0 + 86_400_000,
                })
                .await
                .unwrap();
            ids.push(id);
        }
        ids
    }

    fn ids(rows: &[Revoked]) -> HashSet<Uuid> {
        rows.iter().map(|r| r.session_id).collect()
    }

    #[tokio::test]
    async fn a_burst_in_one_millisecond_does_not_hold_the_feed() {
        let (_dir, store, user) = store_with_user().await;
        let burst = sessions(&store, user, 2_500).await;
        let later = sessions(&store, user, 1).await[0];
        let ended = store
            .revoke_user_sessions(user, Some(later), RevokeReason::PasswordChange, T0 + 10)
            .await
            .unwrap();
        assert_eq!(ended.len(), burst.len());
        let mut feed = RevocationFeed::starting_at(T0);
        let first = feed.poll(&store, T0 + 100).await.unwrap();
        assert_eq!(ids(&first), burst.iter().copied().collect());

        // A logout after the burst is read by the next poll.
        store
            .revoke_session(later, RevokeReason::Logout, T0 + 200)
            .await
            .unwrap();
        let next = feed.poll(&store, T0 + 300).await.unwrap();
        assert!(ids(&next).contains(&later), "the logout is seen");

        // Once the burst is older than the overlap, it is not read again.
        let settled = T0 + 200 + 3 * 2_000;
        feed.poll(&store, settled).await.unwrap();
        assert!(feed.poll(&store, settled + 500).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_revocation_stamped_a_little_in_the_past_is_still_seen() {
        let (_dir, store, user) = store_with_user().await;
        let [early, late] = sessions(&store, user, 2).await[..] else {
            panic!("two sessions")
        };
        store
            .revoke_session(early, RevokeReason::Logout, T0 + 5_000)
            .await
            .unwrap();
        let mut feed = RevocationFeed::starting_at(T0);
        assert_eq!(feed.poll(&store, T0 + 5_000).await.unwrap().len(), 1);
        // Another instance's clock is a second behind, or its commit landed
        // after this poll: its revocation is stamped before the last one read.
        store
            .revoke_session(late, RevokeReason::Logout, T0 + 4_000)
            .await
            .unwrap();
        let next = feed.poll(&store, T0 + 5_500).await.unwrap();
        assert!(ids(&next).contains(&late));
    }
}
