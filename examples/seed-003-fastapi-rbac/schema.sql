-- The service's own data, and nothing else: no users, passwords, roles or memberships (those
-- are Warden's). An account is named by its Warden id.
CREATE TABLE IF NOT EXISTS subscriptions (
    account_id text PRIMARY KEY,
    plan       text NOT NULL CHECK (plan IN ('free', 'team', 'enterprise')),
    ends_on    date,
    updated_by text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
