-- Accounts: a password (argon2 hash) per user; sessions that log-ins open, and the rotating
-- refresh tokens of each session (stored as SHA-256 hashes, never in clear).
ALTER TABLE users ADD COLUMN password_hash text;
CREATE UNIQUE INDEX users_email_lower_idx ON users (lower(email));

CREATE TABLE sessions (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    version     bigint NOT NULL DEFAULT 1
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE TRIGGER sessions_bump_version BEFORE UPDATE ON sessions
    FOR EACH ROW EXECUTE FUNCTION bump_user_version();

CREATE TABLE refresh_tokens (
    token_hash  bytea PRIMARY KEY,
    session_id  uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    -- Set when the token is exchanged; presenting it again means it was stolen.
    used_at     timestamptz
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);
