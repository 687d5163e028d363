-- SPEC §10: `Idempotency-Key` on every creating POST. One row per (user, key) for 24 h:
-- the request's digest (method, path, query and body), and once the first request has
-- answered, its status, headers and body. `status` is NULL while the first request runs;
-- `locked_until` bounds how long a request that never finished (its process killed)
-- keeps the key busy (409) before a retry may take it over.
CREATE TABLE idempotency_keys (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    request_digest TEXT NOT NULL,
    status INTEGER,
    response_headers TEXT,
    response_body TEXT,
    locked_until TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
