-- API keys join the change log, keyed by their hash, so every node answers a key from its
-- authorization snapshot without reading the database. Using a key (`last_used_at`) is not a
-- change. An account's allow-list now changes the snapshot too: keys are held to it there.
CREATE TRIGGER api_keys_added AFTER INSERT ON api_keys BEGIN INSERT INTO changes (kind, ref, at) VALUES ('api_key', NEW.key_hash, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)); END;
CREATE TRIGGER api_keys_changed AFTER UPDATE OF revoked_at, expires_at, roles, allowed_ips ON api_keys BEGIN INSERT INTO changes (kind, ref, at) VALUES ('api_key', NEW.key_hash, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)); END;
CREATE TRIGGER api_keys_removed AFTER DELETE ON api_keys BEGIN INSERT INTO changes (kind, ref, at) VALUES ('api_key', OLD.key_hash, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)); END;
DROP TRIGGER accounts_changed;
CREATE TRIGGER accounts_changed AFTER UPDATE OF status, allowed_ips, tokens_valid_after ON accounts BEGIN INSERT INTO changes (kind, ref, at) VALUES ('account', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)); END;
