-- API keys join the change log, keyed by their hash, so every node answers a key from its
-- authorization snapshot without reading the database. Using a key (`last_used_at`) is not a
-- change. An account's allow-list now changes the snapshot too: keys are held to it there.
CREATE TRIGGER api_keys_change AFTER INSERT OR DELETE OR UPDATE OF revoked_at, expires_at, roles, allowed_ips ON api_keys FOR EACH ROW EXECUTE FUNCTION warden_log_change('api_key', 'key_hash');
DROP TRIGGER accounts_change ON accounts;
CREATE TRIGGER accounts_change AFTER INSERT OR DELETE OR UPDATE OF status, allowed_ips, tokens_valid_after ON accounts FOR EACH ROW EXECUTE FUNCTION warden_log_change('account', 'id');
