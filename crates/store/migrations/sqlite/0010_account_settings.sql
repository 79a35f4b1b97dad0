-- Per-account IP allow-lists (JSON list of CIDR blocks; empty means any address), applied to
-- token issuance and API key use in the account.
ALTER TABLE accounts ADD COLUMN allowed_ips TEXT NOT NULL DEFAULT '[]';
-- An optional Cedar schema (Cedar schema syntax) the account's policies are validated against.
ALTER TABLE accounts ADD COLUMN policy_schema TEXT;
