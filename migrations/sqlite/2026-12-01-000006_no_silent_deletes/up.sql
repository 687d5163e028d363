-- Deleting never changes or removes a row behind the audit log's back (SPEC §3, §4): the
-- application moves, unlinks or deletes every dependent contact, deal, action and
-- membership itself, each with its audit entry and a new version, before it deletes the
-- office, user, organization or contact. These keys only refuse what would be left behind.
-- (Deleting the whole account still cascades: it removes the account's audit log too.)
-- SQLite's way to change a foreign key: rebuild the table (foreign keys off meanwhile).
PRAGMA foreign_keys = OFF;
BEGIN;

CREATE TABLE contacts_new (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    job_title TEXT,
    organization_id TEXT REFERENCES organizations(id),
    status TEXT,
    lead_source TEXT,
    owner_id TEXT REFERENCES users(id),
    office_id TEXT REFERENCES offices(id),
    private BOOLEAN NOT NULL DEFAULT 0,
    search_text TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]'
);
INSERT INTO contacts_new SELECT id, account_id, first_name, last_name, email, phone, job_title, organization_id,
    status, lead_source, owner_id, office_id, private, search_text, version, created_at, updated_at, tags FROM contacts;
DROP TABLE contacts;
ALTER TABLE contacts_new RENAME TO contacts;
CREATE INDEX contacts_account_updated_idx ON contacts (account_id, updated_at, id);
CREATE INDEX contacts_account_created_idx ON contacts (account_id, created_at, id);
CREATE INDEX contacts_account_last_name_idx ON contacts (account_id, last_name, id);
CREATE INDEX contacts_owner_idx ON contacts (account_id, owner_id, updated_at, id);
CREATE INDEX contacts_office_idx ON contacts (account_id, office_id, updated_at, id);
CREATE INDEX contacts_org_idx ON contacts (organization_id);
CREATE INDEX contacts_email_idx ON contacts (account_id, lower(email));

CREATE TABLE deals_new (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    contact_id TEXT NOT NULL REFERENCES contacts(id),
    organization_id TEXT REFERENCES organizations(id),
    name TEXT NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    stage TEXT NOT NULL,
    status TEXT NOT NULL,
    -- ISO date (YYYY-MM-DD): sorts like the date on both backends.
    expected_close_date TEXT,
    owner_id TEXT REFERENCES users(id),
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
INSERT INTO deals_new SELECT id, account_id, contact_id, organization_id, name, amount, currency, stage, status,
    expected_close_date, owner_id, version, created_at, updated_at FROM deals;
DROP TABLE deals;
ALTER TABLE deals_new RENAME TO deals;
CREATE INDEX deals_account_idx ON deals (account_id, id);
CREATE INDEX deals_contact_idx ON deals (contact_id, id);
CREATE INDEX deals_org_idx ON deals (organization_id);
CREATE INDEX deals_owner_idx ON deals (account_id, owner_id);

CREATE TABLE actions_new (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    contact_id TEXT NOT NULL REFERENCES contacts(id),
    assignee_id TEXT REFERENCES users(id),
    text TEXT NOT NULL,
    due_date TEXT,
    status TEXT NOT NULL,
    completed_at TIMESTAMP,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
INSERT INTO actions_new SELECT id, account_id, contact_id, assignee_id, text, due_date, status, completed_at, version,
    created_at, updated_at FROM actions;
DROP TABLE actions;
ALTER TABLE actions_new RENAME TO actions;
CREATE INDEX actions_account_idx ON actions (account_id, id);
CREATE INDEX actions_contact_idx ON actions (contact_id, id);
CREATE INDEX actions_assignee_idx ON actions (account_id, assignee_id, id);

CREATE TABLE office_memberships_new (
    user_id TEXT NOT NULL REFERENCES users(id),
    office_id TEXT NOT NULL REFERENCES offices(id),
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    -- none=0, view=2, edit=3, manage=4: the contact access level the grant gives.
    level INTEGER NOT NULL,
    PRIMARY KEY (user_id, office_id)
);
INSERT INTO office_memberships_new SELECT user_id, office_id, account_id, level FROM office_memberships;
DROP TABLE office_memberships;
ALTER TABLE office_memberships_new RENAME TO office_memberships;
CREATE INDEX office_memberships_office_idx ON office_memberships (office_id);
CREATE TRIGGER office_memberships_level_insert BEFORE INSERT ON office_memberships
WHEN NEW.level NOT IN (0, 2, 3, 4)
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: office_memberships.level'); END;
CREATE TRIGGER office_memberships_level_update BEFORE UPDATE OF level ON office_memberships
WHEN NEW.level NOT IN (0, 2, 3, 4)
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: office_memberships.level'); END;

PRAGMA foreign_key_check;
COMMIT;
PRAGMA foreign_keys = ON;
