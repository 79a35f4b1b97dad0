-- The id another system knows a user by (SCIM `externalId`), unique when set.
ALTER TABLE users ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX users_by_external_id ON users (external_id);
