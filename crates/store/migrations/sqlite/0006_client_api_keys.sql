-- API keys may be owned by a service client instead of a user (exactly one owner). SQLite
-- cannot relax NOT NULL in place: the table is rebuilt.
CREATE TABLE api_keys_v2 (
    id TEXT PRIMARY KEY,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    client_key TEXT REFERENCES clients (id) ON DELETE CASCADE,
    account_id TEXT REFERENCES accounts (id) ON DELETE CASCADE,
    roles TEXT NOT NULL DEFAULT '[]',
    allowed_ips TEXT NOT NULL DEFAULT '[]',
    expires_at INTEGER,
    last_used_at INTEGER,
    revoked_at INTEGER,
    created_at INTEGER NOT NULL,
    CHECK ((user_id IS NULL) <> (client_key IS NULL))
);
INSERT INTO api_keys_v2 (id, prefix, key_hash, name, user_id, client_key, account_id, roles, allowed_ips, expires_at, last_used_at, revoked_at, created_at)
    SELECT id, prefix, key_hash, name, user_id, NULL, account_id, roles, allowed_ips, expires_at, last_used_at, revoked_at, created_at FROM api_keys;
DROP TABLE api_keys;
ALTER TABLE api_keys_v2 RENAME TO api_keys;
CREATE INDEX api_keys_by_user ON api_keys (user_id);
CREATE INDEX api_keys_by_client ON api_keys (client_key);
