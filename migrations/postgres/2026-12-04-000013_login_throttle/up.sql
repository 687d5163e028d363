-- SPEC §12: login throttling in the database, so that replicas share one budget. One token
-- bucket per key (`email:<lower-cased email>` or `ip:<client address>`), updated with one
-- `INSERT … ON CONFLICT DO UPDATE` per attempt; a row whose bucket has refilled carries no
-- information and is deleted now and then.
CREATE TABLE login_throttle (
    key TEXT COLLATE "C" PRIMARY KEY,
    tokens DOUBLE PRECISION NOT NULL,
    updated_ms BIGINT NOT NULL,
    allowed BOOLEAN NOT NULL
);
CREATE INDEX login_throttle_updated_idx ON login_throttle (updated_ms);
