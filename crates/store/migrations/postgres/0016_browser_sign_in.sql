-- Browser sign-in (OpenID Connect). A browser session is a session of the pseudo-client
-- `warden:browser`; the sessions an authorization code opens name it as their parent and end
-- with it. `amr` records how the person authenticated (space-separated RFC 8176 values);
-- `oidc_scope` the OpenID Connect scopes (`openid profile email`) the session was granted.
ALTER TABLE sessions ADD COLUMN parent_id TEXT;
ALTER TABLE sessions ADD COLUMN amr TEXT;
ALTER TABLE sessions ADD COLUMN oidc_scope TEXT;
CREATE INDEX sessions_by_parent ON sessions (parent_id);

-- Authorization codes: only the SHA-256 of the value is kept. `details` is the request the
-- code answers (client, redirect URI, PKCE challenge, nonce, scope), as JSON. A code is used
-- once (`used_at`); a second presentation sets `replayed_at` and ends the session it opened.
CREATE TABLE authorization_codes (
    code_hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    details TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    replayed_at BIGINT
);
CREATE INDEX authorization_codes_by_expiry ON authorization_codes (expires_at);

CREATE FUNCTION warden_end_children() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE sessions SET ended_at = NEW.ended_at WHERE parent_id = NEW.id AND ended_at IS NULL; RETURN NULL; END $$;
CREATE TRIGGER sessions_end_children AFTER UPDATE OF ended_at ON sessions FOR EACH ROW WHEN (NEW.ended_at IS NOT NULL AND OLD.ended_at IS NULL) EXECUTE FUNCTION warden_end_children();
