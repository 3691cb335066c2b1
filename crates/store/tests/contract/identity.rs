//! Identity behaviours every store must show: accounts, sessions and the
//! rotation of their refresh tokens (including under concurrency),
//! revocation, and signing keys.

use std::collections::HashSet;
use std::sync::Arc;

use emporium_domain::identity::{
    DisplayName, Email, FeedPosition, NewSession, RefreshOutcome, RevokeReason, Revoked, Role,
    StoredKey, UnixMillis, User,
};
use emporium_domain::ports::IdentityStore;
use emporium_domain::StoreError;
use emporium_store::Store;
use uuid::Uuid;

use crate::support::TestDb;

crate::contract!(
    users_round_trip_by_email_and_id,
    duplicate_email_is_a_conflict_and_writes_nothing,
    update_user_changes_only_what_is_given,
    refresh_token_rotates_once_and_reuse_revokes_the_session,
    unknown_refresh_token_is_unknown,
    expired_session_has_ended,
    concurrent_rotation_has_exactly_one_winner,
    taken_refresh_hash_is_a_conflict_and_writes_no_session,
    revoke_session_is_true_once,
    revoke_user_sessions_keeps_one_and_returns_the_others,
    revoked_after_is_ordered_and_bounded,
    the_revocation_feed_pages_through_many_revocations_of_one_millisecond,
    purge_removes_only_long_ended_sessions,
    signing_keys_add_list_and_remove,
);

const T0: UnixMillis = 1_767_225_600_000;
const HOUR: UnixMillis = 3_600_000;
const DAY: UnixMillis = 24 * HOUR;

fn user(email: &str, name: &str, role: Role) -> User {
    User {
        id: Uuid::now_v7(),
        email: Email::parse(email).unwrap(),
        name: DisplayName::parse(name).unwrap(),
        role,
        created_at: T0,
    }
}

async fn customer(store: &Store, email: &str) -> User {
    let u = user(email, "Customer", Role::Customer);
    store.create_user(&u, "$argon2id$hash").await.unwrap();
    u
}

/// Starts a session for `user_id` whose first refresh token hashes to `hash`.
async fn session(store: &Store, user_id: Uuid, hash: &str, expires_at: UnixMillis) -> Uuid {
    let id = Uuid::now_v7();
    let s = NewSession {
        id,
        user_id,
        refresh_hash: hash.into(),
        created_at: T0,
        expires_at,
    };
    store.create_session(&s).await.unwrap();
    id
}

async fn rotate(store: &Store, presented: &str, new: &str, now: UnixMillis) -> RefreshOutcome {
    store
        .rotate_refresh_token(presented, new, now)
        .await
        .unwrap()
}

async fn users_round_trip_by_email_and_id(db: TestDb) {
    let alice = user("alice@example.com", "Alice Liddell", Role::Customer);
    let admin = user("root@example.com", "Root", Role::Admin);
    db.store.create_user(&alice, "hash-a").await.unwrap();
    db.store.create_user(&admin, "hash-r").await.unwrap();

    let typed = Email::parse("  ALICE@Example.com ").unwrap();
    let by_email = db.store.user_by_email(&typed).await.unwrap().unwrap();
    assert_eq!(by_email.user, alice);
    assert_eq!(by_email.password_hash, "hash-a");
    let by_id = db.store.user_by_id(admin.id).await.unwrap().unwrap();
    assert_eq!(by_id.user, admin);
    assert_eq!(by_id.user.role, Role::Admin);
    assert_eq!(by_id.password_hash, "hash-r");

    let nobody = Email::parse("bob@example.com").unwrap();
    assert!(db.store.user_by_email(&nobody).await.unwrap().is_none());
    assert!(db.store.user_by_id(Uuid::now_v7()).await.unwrap().is_none());
}

async fn duplicate_email_is_a_conflict_and_writes_nothing(db: TestDb) {
    let first = customer(&db.store, "alice@example.com").await;
    let second = user("Ａlice@EXAMPLE.com", "Impostor", Role::Admin);
    assert_eq!(
        second.email, first.email,
        "the same account once normalised"
    );
    let err = db.store.create_user(&second, "other").await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

    assert!(db.store.user_by_id(second.id).await.unwrap().is_none());
    let kept = db.store.user_by_email(&first.email).await.unwrap().unwrap();
    assert_eq!(kept.user, first);
    assert_eq!(kept.password_hash, "$argon2id$hash");
}

async fn update_user_changes_only_what_is_given(db: TestDb) {
    let u = customer(&db.store, "carol@example.com").await;
    let name = DisplayName::parse("Carol Ann").unwrap();
    let renamed = db.store.update_user(u.id, Some(&name), None, T0 + 1).await;
    let renamed = renamed.unwrap().unwrap();
    assert_eq!(renamed.name, name);
    assert_eq!((&renamed.email, renamed.role), (&u.email, u.role));
    assert_eq!(renamed.created_at, u.created_at);
    let stored = db.store.user_by_id(u.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, "$argon2id$hash", "hash untouched");

    let rehashed = db
        .store
        .update_user(u.id, None, Some("new-hash"), T0 + 2)
        .await;
    assert_eq!(rehashed.unwrap().unwrap().name, name, "name untouched");
    let stored = db.store.user_by_id(u.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, "new-hash");

    let same = db.store.update_user(u.id, None, None, T0 + 3).await;
    assert_eq!(same.unwrap().unwrap(), renamed);
    let missing = db
        .store
        .update_user(Uuid::now_v7(), Some(&name), None, T0)
        .await;
    assert!(missing.unwrap().is_none());
}

async fn refresh_token_rotates_once_and_reuse_revokes_the_session(db: TestDb) {
    let u = customer(&db.store, "dave@example.com").await;
    let sid = session(&db.store, u.id, "h0", T0 + DAY).await;
    let rotated = RefreshOutcome::Rotated {
        session_id: sid,
        user_id: u.id,
    };
    assert_eq!(rotate(&db.store, "h0", "h1", T0 + 1).await, rotated);
    assert_eq!(rotate(&db.store, "h1", "h2", T0 + 2).await, rotated);

    // h1 was used: presenting it again is a replay.
    let reused = rotate(&db.store, "h1", "h-thief", T0 + 3).await;
    assert_eq!(reused, RefreshOutcome::Reused { session_id: sid });
    let revoked = feed(&db.store, T0, 10).await;
    assert_eq!(
        revoked,
        [Revoked {
            session_id: sid,
            revoked_at: T0 + 3
        }]
    );
    // So the current token no longer works either, and the thief's was never stored.
    let ended = RefreshOutcome::Ended { session_id: sid };
    assert_eq!(rotate(&db.store, "h2", "h3", T0 + 4).await, ended);
    assert_eq!(rotate(&db.store, "h2", "h3", T0 + 5).await, ended);
    let thief = rotate(&db.store, "h-thief", "h4", T0 + 6).await;
    assert_eq!(thief, RefreshOutcome::Unknown);
}

async fn unknown_refresh_token_is_unknown(db: TestDb) {
    assert_eq!(
        rotate(&db.store, "never-issued", "h1", T0).await,
        RefreshOutcome::Unknown
    );
    let u = customer(&db.store, "erin@example.com").await;
    session(&db.store, u.id, "h0", T0 + DAY).await;
    assert_eq!(
        rotate(&db.store, "H0", "h1", T0).await,
        RefreshOutcome::Unknown
    );
}

async fn expired_session_has_ended(db: TestDb) {
    let u = customer(&db.store, "frank@example.com").await;
    let sid = session(&db.store, u.id, "h0", T0 + HOUR).await;
    let ended = RefreshOutcome::Ended { session_id: sid };
    // The end is exclusive: at `expires_at` the session is over.
    assert_eq!(rotate(&db.store, "h0", "h1", T0 + HOUR).await, ended);
    assert_eq!(
        rotate(&db.store, "h1", "h2", T0 + HOUR).await,
        RefreshOutcome::Unknown
    );
    // Nothing was written: the token still says the session ended.
    assert_eq!(rotate(&db.store, "h0", "h1", T0 + 2 * HOUR).await, ended);
    assert!(feed(&db.store, 0, 10).await.is_empty());
}

async fn concurrent_rotation_has_exactly_one_winner(db: TestDb) {
    let u = customer(&db.store, "grace@example.com").await;
    let sid = session(&db.store, u.id, "h0", T0 + DAY).await;
    let start = Arc::new(tokio::sync::Barrier::new(20));
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (store, start) = (db.store.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                let new = format!("h1-{i}");
                let outcome = store.rotate_refresh_token("h0", &new, T0 + 1).await;
                (new, outcome.unwrap())
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (
                new,
                RefreshOutcome::Rotated {
                    session_id,
                    user_id,
                },
            ) => {
                assert_eq!((session_id, user_id), (sid, u.id));
                winners.push(new);
            }
            (_, RefreshOutcome::Reused { session_id }) => assert_eq!(session_id, sid),
            (_, other) => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one caller rotates: {winners:?}");
    assert!(
        !db.store
            .revoke_session(sid, RevokeReason::Logout, T0 + 2)
            .await
            .unwrap(),
        "the replays revoked the session"
    );
    let ended = RefreshOutcome::Ended { session_id: sid };
    assert_eq!(rotate(&db.store, &winners[0], "h2", T0 + 3).await, ended);
}

async fn taken_refresh_hash_is_a_conflict_and_writes_no_session(db: TestDb) {
    let u = customer(&db.store, "heidi@example.com").await;
    session(&db.store, u.id, "h0", T0 + DAY).await;
    let second = NewSession {
        id: Uuid::now_v7(),
        user_id: u.id,
        refresh_hash: "h0".into(),
        created_at: T0,
        expires_at: T0 + DAY,
    };
    let err = db.store.create_session(&second).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let revoked = db
        .store
        .revoke_session(second.id, RevokeReason::Logout, T0)
        .await;
    assert!(!revoked.unwrap(), "the session row was rolled back");
}

async fn revoke_session_is_true_once(db: TestDb) {
    let u = customer(&db.store, "ivan@example.com").await;
    let sid = session(&db.store, u.id, "h0", T0 + DAY).await;
    let revoke = |at| db.store.revoke_session(sid, RevokeReason::Logout, at);
    assert!(revoke(T0 + 1).await.unwrap());
    assert!(!revoke(T0 + 2).await.unwrap());
    let unknown = db
        .store
        .revoke_session(Uuid::now_v7(), RevokeReason::Logout, T0);
    assert!(!unknown.await.unwrap());
    let revoked = feed(&db.store, 0, 10).await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].revoked_at, T0 + 1, "the first revocation stands");
    let ended = RefreshOutcome::Ended { session_id: sid };
    assert_eq!(rotate(&db.store, "h0", "h1", T0 + 3).await, ended);
}

async fn revoke_user_sessions_keeps_one_and_returns_the_others(db: TestDb) {
    let u = customer(&db.store, "judy@example.com").await;
    let other = customer(&db.store, "mallory@example.com").await;
    let keep = session(&db.store, u.id, "keep", T0 + DAY).await;
    let a = session(&db.store, u.id, "a", T0 + DAY).await;
    let b = session(&db.store, u.id, "b", T0 + DAY).await;
    let theirs = session(&db.store, other.id, "theirs", T0 + DAY).await;
    let why = RevokeReason::PasswordChange;

    let revoked = db.store.revoke_user_sessions(u.id, Some(keep), why, T0 + 1);
    let revoked: HashSet<Uuid> = revoked.await.unwrap().into_iter().collect();
    assert_eq!(revoked, HashSet::from([a, b]));
    let again = db.store.revoke_user_sessions(u.id, Some(keep), why, T0 + 2);
    assert!(again.await.unwrap().is_empty(), "already revoked");

    assert!(matches!(
        rotate(&db.store, "keep", "keep-2", T0 + 3).await,
        RefreshOutcome::Rotated { .. }
    ));
    assert!(matches!(
        rotate(&db.store, "theirs", "theirs-2", T0 + 3).await,
        RefreshOutcome::Rotated { .. }
    ));
    assert_eq!(
        rotate(&db.store, "a", "a-2", T0 + 3).await,
        RefreshOutcome::Ended { session_id: a }
    );
    let all = db.store.revoke_user_sessions(u.id, None, why, T0 + 4).await;
    assert_eq!(all.unwrap(), [keep]);
    let theirs_live = db.store.revoke_session(theirs, why, T0 + 5).await;
    assert!(theirs_live.unwrap(), "another user's session is untouched");
}

async fn purge_removes_only_long_ended_sessions(db: TestDb) {
    let u = customer(&db.store, "old@example.com").await;
    session(&db.store, u.id, "expired", T0 + HOUR).await;
    let revoked = session(&db.store, u.id, "revoked", T0 + DAY).await;
    let recently = session(&db.store, u.id, "recently", T0 + DAY).await;
    let live = session(&db.store, u.id, "live", T0 + 30 * DAY).await;
    let why = RevokeReason::Logout;
    assert!(db
        .store
        .revoke_session(revoked, why, T0 + 10)
        .await
        .unwrap());
    assert!(db
        .store
        .revoke_session(recently, why, T0 + 3 * HOUR)
        .await
        .unwrap());
    assert!(matches!(
        rotate(&db.store, "live", "live-2", T0 + 20).await,
        RefreshOutcome::Rotated { .. }
    ));

    let purged = db.store.purge_sessions(T0 + 2 * HOUR).await.unwrap();
    assert_eq!(purged, 2, "the expired and the long-revoked session");
    // Their refresh tokens are gone with them; the others' remain.
    for gone in ["expired", "revoked"] {
        assert_eq!(
            rotate(&db.store, gone, "x", T0 + 2 * HOUR).await,
            RefreshOutcome::Unknown
        );
    }
    assert_eq!(
        rotate(&db.store, "recently", "r-2", T0 + 2 * HOUR).await,
        RefreshOutcome::Ended {
            session_id: recently
        }
    );
    assert!(matches!(
        rotate(&db.store, "live-2", "live-3", T0 + 2 * HOUR).await,
        RefreshOutcome::Rotated { session_id, .. } if session_id == live
    ));
    assert_eq!(
        rotate(&db.store, "live", "y", T0 + 2 * HOUR).await,
        RefreshOutcome::Reused { session_id: live },
        "used tokens of a live session are kept to detect reuse"
    );
    assert_eq!(db.store.purge_sessions(T0 + 2 * HOUR).await.unwrap(), 0);
}

/// The first page of the revocation feed from `since` on.
async fn feed(store: &Store, since: UnixMillis, limit: u32) -> Vec<Revoked> {
    store
        .revoked_after(FeedPosition::start_of(since), limit)
        .await
        .unwrap()
}

async fn revoked_after_is_ordered_and_bounded(db: TestDb) {
    let u = customer(&db.store, "ken@example.com").await;
    let mut ids = Vec::new();
    for (hash, at) in [("a", 30), ("b", 10), ("c", 20)] {
        let sid = session(&db.store, u.id, hash, T0 + DAY).await;
        let done = db.store.revoke_session(sid, RevokeReason::Logout, T0 + at);
        assert!(done.await.unwrap());
        ids.push((sid, T0 + at));
    }
    session(&db.store, u.id, "live", T0 + DAY).await;
    let r = |(session_id, revoked_at)| Revoked {
        session_id,
        revoked_at,
    };
    let (a, b, c) = (r(ids[0]), r(ids[1]), r(ids[2]));

    assert_eq!(feed(&db.store, 0, 100).await, [b, c, a]);
    assert_eq!(feed(&db.store, T0 + 20, 100).await, [c, a]);
    assert_eq!(feed(&db.store, T0 + 11, 100).await, [c, a]);
    assert_eq!(feed(&db.store, 0, 2).await, [b, c]);
    assert_eq!(feed(&db.store, T0 + 20, 1).await, [c]);
    assert!(feed(&db.store, T0 + 31, 100).await.is_empty());
    // Strictly after a position: the row at it is not read again.
    let after_c = db.store.revoked_after(c.position(), 100).await.unwrap();
    assert_eq!(after_c, [a]);
    assert!(db
        .store
        .revoked_after(a.position(), 100)
        .await
        .unwrap()
        .is_empty());
}

/// A password change on an account with many sessions revokes them all in
/// one millisecond: paging from the last row of each page still reads
/// every one exactly once, in order, and then what came after.
async fn the_revocation_feed_pages_through_many_revocations_of_one_millisecond(db: TestDb) {
    let many = customer(&db.store, "many@example.com").await;
    let other = customer(&db.store, "other@example.com").await;
    let before = session(&db.store, other.id, "before", T0 + DAY).await;
    let same_ms = session(&db.store, other.id, "same-ms", T0 + DAY).await;
    let after = session(&db.store, other.id, "after", T0 + DAY).await;
    for i in 0..250 {
        session(&db.store, many.id, &format!("s{i}"), T0 + DAY).await;
    }
    let logout = |sid, at| db.store.revoke_session(sid, RevokeReason::Logout, at);
    assert!(logout(before, T0 + 4).await.unwrap());
    let ended = db
        .store
        .revoke_user_sessions(many.id, None, RevokeReason::PasswordChange, T0 + 5)
        .await
        .unwrap();
    assert_eq!(ended.len(), 250);
    assert!(logout(same_ms, T0 + 5).await.unwrap());
    assert!(logout(after, T0 + 6).await.unwrap());

    let mut seen = Vec::new();
    let mut from = FeedPosition::start_of(T0);
    let mut pages = 0;
    loop {
        let page = db.store.revoked_after(from, 100).await.unwrap();
        assert!(page.len() <= 100);
        pages += 1;
        let Some(last) = page.last() else { break };
        from = last.position();
        seen.extend(page);
        assert!(pages < 10, "the feed does not advance");
    }
    assert_eq!(seen.len(), 253, "every revocation once");
    let positions: Vec<FeedPosition> = seen.iter().map(Revoked::position).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "strictly in (revoked_at, session_id) order"
    );
    assert_eq!(seen[0].session_id, before);
    assert_eq!(seen[252].session_id, after);
    let at_five: HashSet<Uuid> = seen
        .iter()
        .filter(|r| r.revoked_at == T0 + 5)
        .map(|r| r.session_id)
        .collect();
    let mut expected: HashSet<Uuid> = ended.into_iter().collect();
    expected.insert(same_ms);
    assert_eq!(at_five, expected);
}

fn key(kid: &str, created_at: UnixMillis) -> StoredKey {
    StoredKey {
        kid: kid.into(),
        algorithm: "EdDSA".into(),
        private_der: [0x30, 0x2e, 0x02, 0x01, 0x00, 0xff].repeat(8),
        public_key: (0..32).collect(),
        created_at,
    }
}

async fn signing_keys_add_list_and_remove(db: TestDb) {
    assert!(db.store.signing_keys().await.unwrap().is_empty());
    let (newer, older, tie) = (key("k-new", T0 + 2), key("k-old", T0), key("k-a", T0 + 2));
    for k in [&newer, &older, &tie] {
        db.store.add_signing_key(k).await.unwrap();
    }
    let listed = db.store.signing_keys().await.unwrap();
    assert!(
        listed == [older.clone(), tie.clone(), newer.clone()],
        "{listed:?}"
    );

    let dup = key("k-old", T0 + 5);
    let err = db.store.add_signing_key(&dup).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(
        db.store.signing_keys().await.unwrap()[0] == older,
        "unchanged"
    );

    assert!(db.store.remove_signing_key("k-old").await.unwrap());
    assert!(!db.store.remove_signing_key("k-old").await.unwrap());
    assert!(!db.store.remove_signing_key("k-none").await.unwrap());
    let left = db.store.signing_keys().await.unwrap();
    assert!(left == [tie, newer], "{left:?}");
}
