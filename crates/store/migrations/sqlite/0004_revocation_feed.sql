-- Index for the revocation feed: ended sessions in order of ending.
CREATE INDEX sessions_by_end ON sessions (ended_at, id);
