CREATE TABLE deals (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    contact_id TEXT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    organization_id TEXT REFERENCES organizations(id) ON DELETE SET NULL,
    name TEXT NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    stage TEXT NOT NULL,
    status TEXT NOT NULL,
    -- ISO date (YYYY-MM-DD): sorts like the date on both backends.
    expected_close_date TEXT,
    owner_id TEXT REFERENCES users(id) ON DELETE SET NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX deals_account_idx ON deals (account_id, id);
CREATE INDEX deals_contact_idx ON deals (contact_id, id);
CREATE INDEX deals_org_idx ON deals (organization_id);

CREATE TABLE deal_items (
    id TEXT PRIMARY KEY,
    deal_id TEXT NOT NULL REFERENCES deals(id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    unit_price BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX deal_items_deal_idx ON deal_items (deal_id, id);

CREATE TABLE actions (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    contact_id TEXT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    assignee_id TEXT REFERENCES users(id) ON DELETE SET NULL,
    text TEXT NOT NULL,
    due_date TEXT,
    status TEXT NOT NULL,
    completed_at TIMESTAMP,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX actions_account_idx ON actions (account_id, id);
CREATE INDEX actions_contact_idx ON actions (contact_id, id);
CREATE INDEX actions_assignee_idx ON actions (account_id, assignee_id, id);
