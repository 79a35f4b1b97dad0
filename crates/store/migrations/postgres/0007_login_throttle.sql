-- Failed password logins per identifier (stored as SHA-256 of its canonical form, so a
-- password typed into the username field is never kept), shared by every node.
CREATE TABLE login_throttle (
    key_hash TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    locked_until BIGINT NOT NULL
);
