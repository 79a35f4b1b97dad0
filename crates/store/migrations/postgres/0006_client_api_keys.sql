-- API keys may be owned by a service client instead of a user (exactly one owner).
ALTER TABLE api_keys ALTER COLUMN user_id DROP NOT NULL;
ALTER TABLE api_keys ADD COLUMN client_key TEXT REFERENCES clients (id) ON DELETE CASCADE;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_one_owner CHECK ((user_id IS NULL) <> (client_key IS NULL));
CREATE INDEX api_keys_by_client ON api_keys (client_key);
