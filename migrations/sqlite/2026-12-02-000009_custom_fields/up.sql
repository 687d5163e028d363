-- SPEC §9: custom fields. Definitions per account and entity; values live in each
-- entity's `custom_fields` JSON object (the copy every read returns, in the row, so a page
-- of contacts needs no extra query), and `custom_values` holds the same values once more,
-- one row per value (per selected option for multi_select), for the `cf.` filters: plain
-- b-tree indexes that serve equality, option membership and ranges on both databases,
-- the way `contact_tags` serves `tag=`. Both copies are written in the same transaction.
CREATE TABLE custom_fields (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    entity TEXT NOT NULL CHECK (entity IN ('contact', 'deal', 'organization')),
    key TEXT NOT NULL,
    label TEXT NOT NULL,
    type TEXT NOT NULL CHECK (type IN ('text', 'number', 'date', 'boolean', 'select', 'multi_select', 'url', 'email')),
    options TEXT NOT NULL DEFAULT '[]',
    required BOOLEAN NOT NULL DEFAULT FALSE,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (account_id, entity, key)
);

CREATE TABLE custom_values (
    field_id TEXT NOT NULL REFERENCES custom_fields(id),
    entity_id TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    -- The value as the filter compares it: lower-cased text, an ISO date, `true`/`false`,
    -- one option, or a number's canonical text.
    value_text TEXT NOT NULL,
    -- Numbers only: what `.gte`/`.lte` compare.
    value_number REAL,
    PRIMARY KEY (field_id, entity_id, value_text)
);
CREATE INDEX custom_values_text_idx ON custom_values (field_id, value_text, entity_id);
CREATE INDEX custom_values_number_idx ON custom_values (field_id, value_number, entity_id);
CREATE INDEX custom_values_entity_idx ON custom_values (entity_id);

ALTER TABLE contacts ADD COLUMN custom_fields TEXT NOT NULL DEFAULT '{}';
ALTER TABLE deals ADD COLUMN custom_fields TEXT NOT NULL DEFAULT '{}';
ALTER TABLE organizations ADD COLUMN custom_fields TEXT NOT NULL DEFAULT '{}';
