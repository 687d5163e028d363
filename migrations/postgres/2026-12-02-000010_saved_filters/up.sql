-- SPEC §9: saved list queries. `query` is the list's parameters as a JSON object of
-- strings, checked with the list's own rules when saved and again when run; results are
-- always computed under the runner's access.
CREATE TABLE saved_filters (
    id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    owner_id TEXT COLLATE "C" NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    entity TEXT NOT NULL CHECK (entity IN ('contacts', 'deals', 'actions')),
    query TEXT NOT NULL,
    shared BOOLEAN NOT NULL DEFAULT FALSE,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX saved_filters_owner_idx ON saved_filters (account_id, owner_id, id);
CREATE INDEX saved_filters_shared_idx ON saved_filters (account_id, shared, id);
