-- Identity: accounts, sign-in sessions, their refresh tokens (hashed) and
-- the token-signing keys. Times are Unix milliseconds.

CREATE TABLE users (
    id            UUID   PRIMARY KEY,
    email         TEXT   NOT NULL UNIQUE, -- normalised by the domain
    name          TEXT   NOT NULL,
    password_hash TEXT   NOT NULL,
    role          TEXT   NOT NULL CHECK (role IN ('customer', 'admin')),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE sessions (
    id             UUID   PRIMARY KEY,
    user_id        UUID   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    revoked_at     BIGINT,
    revoked_reason TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_revoked ON sessions (revoked_at);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- SHA-256 (base64url) of each refresh token; used_at is set when it is rotated.
CREATE TABLE refresh_tokens (
    token_hash TEXT   PRIMARY KEY,
    session_id UUID   NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE signing_keys (
    kid         TEXT   PRIMARY KEY,
    algorithm   TEXT   NOT NULL,
    private_der BYTEA  NOT NULL,
    public_key  BYTEA  NOT NULL,
    created_at  BIGINT NOT NULL
);
