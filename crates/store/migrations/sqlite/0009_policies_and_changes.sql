-- ABAC policies (Cedar text), global (scope '') or per account.
CREATE TABLE policies (
    id TEXT PRIMARY KEY,
    account_id TEXT REFERENCES accounts (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    cedar TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX policies_by_scope ON policies (scope, id);

-- The change log every node tails to keep its authorization snapshot current. Triggers
-- append to it in the writing transaction, so no write path can forget to. SQLite has one
-- writer at a time, so `seq` order is commit order.
CREATE TABLE changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    ref TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX changes_by_time ON changes (at);

CREATE TRIGGER users_added AFTER INSERT ON users BEGIN INSERT INTO changes (kind, ref, at) VALUES ('user', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)); END;
CREATE TRIGGER users_changed AFTER UPDATE OF email, status, attributes ON users BEGIN INSERT INTO changes (kind, ref, at) VALUES ('user', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)); END;
CREATE TRIGGER users_removed AFTER DELETE ON users BEGIN INSERT INTO changes (kind, ref, at) VALUES ('user', OLD.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)); END;
CREATE TRIGGER assignments_added AFTER INSERT ON role_assignments BEGIN INSERT INTO changes (kind, ref, at) VALUES ('user', NEW.user_id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)); END;
CREATE TRIGGER assignments_removed AFTER DELETE ON role_assignments BEGIN INSERT INTO changes (kind, ref, at) VALUES ('user', OLD.user_id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)); END;
CREATE TRIGGER accounts_added AFTER INSERT ON accounts BEGIN INSERT INTO changes (kind, ref, at) VALUES ('account', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)); END;
CREATE TRIGGER accounts_changed AFTER UPDATE OF status ON accounts BEGIN INSERT INTO changes (kind, ref, at) VALUES ('account', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)); END;
CREATE TRIGGER accounts_removed AFTER DELETE ON accounts BEGIN INSERT INTO changes (kind, ref, at) VALUES ('account', OLD.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)); END;
CREATE TRIGGER roles_added AFTER INSERT ON roles BEGIN INSERT INTO changes (kind, ref, at) VALUES ('role', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)); END;
CREATE TRIGGER roles_changed AFTER UPDATE ON roles BEGIN INSERT INTO changes (kind, ref, at) VALUES ('role', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)); END;
CREATE TRIGGER roles_removed AFTER DELETE ON roles BEGIN INSERT INTO changes (kind, ref, at) VALUES ('role', OLD.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)); END;
CREATE TRIGGER inherits_added AFTER INSERT ON role_inherits BEGIN INSERT INTO changes (kind, ref, at) VALUES ('role', NEW.role_id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)); END;
CREATE TRIGGER inherits_removed AFTER DELETE ON role_inherits BEGIN INSERT INTO changes (kind, ref, at) VALUES ('role', OLD.role_id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)); END;
CREATE TRIGGER clients_added AFTER INSERT ON clients BEGIN INSERT INTO changes (kind, ref, at) VALUES ('client', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)); END;
CREATE TRIGGER clients_changed AFTER UPDATE ON clients BEGIN INSERT INTO changes (kind, ref, at) VALUES ('client', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)); END;
CREATE TRIGGER clients_removed AFTER DELETE ON clients BEGIN INSERT INTO changes (kind, ref, at) VALUES ('client', OLD.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)); END;
CREATE TRIGGER sessions_ended AFTER UPDATE OF ended_at ON sessions WHEN NEW.ended_at IS NOT NULL BEGIN INSERT INTO changes (kind, ref, at) VALUES ('session', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)); END;
CREATE TRIGGER policies_added AFTER INSERT ON policies BEGIN INSERT INTO changes (kind, ref, at) VALUES ('policy', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)); END;
CREATE TRIGGER policies_changed AFTER UPDATE ON policies BEGIN INSERT INTO changes (kind, ref, at) VALUES ('policy', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)); END;
CREATE TRIGGER policies_removed AFTER DELETE ON policies BEGIN INSERT INTO changes (kind, ref, at) VALUES ('policy', OLD.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)); END;
