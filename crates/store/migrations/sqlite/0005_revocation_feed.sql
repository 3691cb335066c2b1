-- The revocation feed pages through revoked sessions by (revoked_at, id),
-- a keyset, because one password change can revoke thousands of sessions
-- in the same millisecond. This index serves those pages in order (and
-- the purge's `revoked_at < …`), so it replaces the one on revoked_at.

CREATE INDEX sessions_revoked_feed ON sessions (revoked_at, id);
DROP INDEX sessions_revoked;
