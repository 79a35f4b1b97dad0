-- The resource registry: resources Warden knows by type and id, with the attributes and
-- parents a decision on them uses. `key` is scope, type and id joined by line feeds (none of
-- them may hold one); scope is '' for a global resource. Writes join the change log, keyed by
-- `key`, so every node's snapshot holds them.
CREATE TABLE resources (
    key TEXT PRIMARY KEY,
    account_id TEXT REFERENCES accounts (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    kind TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    attributes TEXT NOT NULL,
    parents TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX resources_by_scope ON resources (scope, kind, key);
CREATE TRIGGER resources_added AFTER INSERT ON resources BEGIN INSERT INTO changes (kind, ref, at) VALUES ('resource', NEW.key, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)); END;
CREATE TRIGGER resources_changed AFTER UPDATE ON resources BEGIN INSERT INTO changes (kind, ref, at) VALUES ('resource', NEW.key, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)); END;
CREATE TRIGGER resources_removed AFTER DELETE ON resources BEGIN INSERT INTO changes (kind, ref, at) VALUES ('resource', OLD.key, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)); END;
