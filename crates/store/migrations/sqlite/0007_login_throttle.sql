-- Failed password logins per identifier (stored as SHA-256 of its canonical form, so a
-- password typed into the username field is never kept), shared by every node.
CREATE TABLE login_throttle (
    key_hash TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    locked_until INTEGER NOT NULL
);
