-- TOTP second factors (RFC 6238). The secret is sealed under the master key; `confirmed_at`
-- is set once the person proved a first code; `last_step` is the newest time step accepted,
-- so no code is accepted twice.
CREATE TABLE totp_factors (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    confirmed_at BIGINT,
    last_step BIGINT NOT NULL DEFAULT 0
);
-- One-time recovery codes, stored as SHA-256 hashes.
CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, code_hash)
);
-- An account can require every member signing in to it to use a second factor.
ALTER TABLE accounts ADD COLUMN require_second_factor BIGINT NOT NULL DEFAULT 0;
