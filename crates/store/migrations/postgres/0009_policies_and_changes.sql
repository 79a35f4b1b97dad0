-- ABAC policies (Cedar text), global (scope '') or per account.
CREATE TABLE policies (
    id TEXT PRIMARY KEY,
    account_id TEXT REFERENCES accounts (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    cedar TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX policies_by_scope ON policies (scope, id);

-- The change log every node tails to keep its authorization snapshot current. Triggers
-- append to it in the writing transaction, so no write path can forget to. `seq` is handed out
-- at insert, so commits may land out of `seq` order: readers keep their position below any
-- hole until it fills or times out (a rolled-back transaction), and re-read past it. Each append
-- also sends NOTIFY warden_changes (delivered at commit, coalesced per transaction) so nodes
-- wake at once rather than at their next poll.
CREATE TABLE changes (
    seq BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    ref TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX changes_by_time ON changes (at);

CREATE FUNCTION warden_log_change() RETURNS trigger LANGUAGE plpgsql AS $$ DECLARE changed RECORD; BEGIN IF TG_OP = 'DELETE' THEN changed := OLD; ELSE changed := NEW; END IF; INSERT INTO changes (kind, ref, at) VALUES (TG_ARGV[0], to_jsonb(changed) ->> TG_ARGV[1], (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT); PERFORM pg_notify('warden_changes', ''); RETURN NULL; END $$;
CREATE TRIGGER users_change AFTER INSERT OR DELETE OR UPDATE OF email, status, attributes ON users FOR EACH ROW EXECUTE FUNCTION warden_log_change('user', 'id');
CREATE TRIGGER assignments_change AFTER INSERT OR DELETE ON role_assignments FOR EACH ROW EXECUTE FUNCTION warden_log_change('user', 'user_id');
CREATE TRIGGER accounts_change AFTER INSERT OR DELETE OR UPDATE OF status ON accounts FOR EACH ROW EXECUTE FUNCTION warden_log_change('account', 'id');
CREATE TRIGGER roles_change AFTER INSERT OR UPDATE OR DELETE ON roles FOR EACH ROW EXECUTE FUNCTION warden_log_change('role', 'id');
CREATE TRIGGER inherits_change AFTER INSERT OR DELETE ON role_inherits FOR EACH ROW EXECUTE FUNCTION warden_log_change('role', 'role_id');
CREATE TRIGGER clients_change AFTER INSERT OR UPDATE OR DELETE ON clients FOR EACH ROW EXECUTE FUNCTION warden_log_change('client', 'id');
CREATE TRIGGER sessions_change AFTER UPDATE OF ended_at ON sessions FOR EACH ROW WHEN (NEW.ended_at IS NOT NULL) EXECUTE FUNCTION warden_log_change('session', 'id');
CREATE TRIGGER policies_change AFTER INSERT OR UPDATE OR DELETE ON policies FOR EACH ROW EXECUTE FUNCTION warden_log_change('policy', 'id');
