-- What a person allowed an application (a client that is not first-party) on the consent page:
-- the scope values, space-separated. A later authorization asking for no more is not asked
-- again; the person sees and withdraws these through the self-service API.
CREATE TABLE consents (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
