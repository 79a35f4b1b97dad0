-- When an account was last disabled (milliseconds): every token issued in it before then stays
-- dead, re-enabled or not. Sessions are ended at the same moment; service clients' own tokens,
-- which have no session, are refused by this time.
ALTER TABLE accounts ADD COLUMN tokens_valid_after BIGINT;
