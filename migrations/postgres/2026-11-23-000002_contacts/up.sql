CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Minimal here; the organization endpoints come with deals and actions.
CREATE TABLE organizations (
    id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    website TEXT,
    phone TEXT,
    address TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX organizations_account_idx ON organizations (account_id, id);

CREATE TABLE contacts (
    id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    first_name TEXT NOT NULL,
    last_name TEXT COLLATE "C" NOT NULL,
    email TEXT,
    phone TEXT,
    job_title TEXT,
    organization_id TEXT COLLATE "C" REFERENCES organizations(id) ON DELETE SET NULL,
    status TEXT,
    lead_source TEXT,
    owner_id TEXT COLLATE "C" REFERENCES users(id) ON DELETE SET NULL,
    office_id TEXT COLLATE "C" REFERENCES offices(id) ON DELETE SET NULL,
    private BOOLEAN NOT NULL DEFAULT FALSE,
    -- lower(first last email phone), computed by the app: what `q` searches.
    search_text TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- Every scoped list leads with account_id; the sort keys end with id for keyset pages.
CREATE INDEX contacts_account_updated_idx ON contacts (account_id, updated_at, id);
CREATE INDEX contacts_account_created_idx ON contacts (account_id, created_at, id);
CREATE INDEX contacts_account_last_name_idx ON contacts (account_id, last_name, id);
CREATE INDEX contacts_owner_idx ON contacts (account_id, owner_id, updated_at, id);
CREATE INDEX contacts_office_idx ON contacts (account_id, office_id, updated_at, id);
CREATE INDEX contacts_org_idx ON contacts (organization_id);
CREATE INDEX contacts_email_idx ON contacts (account_id, lower(email));
CREATE INDEX contacts_search_trgm_idx ON contacts USING gin (search_text gin_trgm_ops);

CREATE TABLE contact_tags (
    contact_id TEXT COLLATE "C" NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    tag TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (contact_id, tag)
);
CREATE INDEX contact_tags_tag_idx ON contact_tags (account_id, tag, contact_id);

CREATE TABLE notifications (
    id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    user_id TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT COLLATE "C" NOT NULL,
    read_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX notifications_user_idx ON notifications (user_id, id);
