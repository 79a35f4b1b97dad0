-- Refresh tokens (stored as SHA-256 of a 256-bit value) and session lifetimes (PostgreSQL).
ALTER TABLE sessions ADD COLUMN expires_at BIGINT;
ALTER TABLE sessions ADD COLUMN scope TEXT;

CREATE TABLE refresh_tokens (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    -- The successor's value sealed under the master key, kept only to answer an identical
    -- retry inside the grace window with the same successor.
    successor_sealed TEXT
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);
