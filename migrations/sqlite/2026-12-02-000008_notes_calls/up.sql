-- SPEC §8: notes and calls share one table (the same access rule, mentions, timeline and
-- lifecycle); `kind` tells them apart and the call-only columns are NULL on a note.
-- `occurred_at` is the item's place on the timeline: a note's creation, a call's
-- `called_at`. Keys refuse what would be left behind, as in migration 000006: the
-- application deletes or unlinks notes and calls, with audit entries, before a contact,
-- deal or user goes.
CREATE TABLE interactions (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('note', 'call')),
    contact_id TEXT NOT NULL REFERENCES contacts(id),
    deal_id TEXT REFERENCES deals(id),
    author_id TEXT REFERENCES users(id),
    body TEXT NOT NULL,
    direction TEXT CHECK (direction IN ('inbound', 'outbound')),
    result TEXT,
    duration_seconds BIGINT CHECK (duration_seconds >= 0),
    occurred_at TIMESTAMP NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK ((kind = 'call') = (direction IS NOT NULL))
);
CREATE INDEX interactions_account_idx ON interactions (account_id, kind, id);
CREATE INDEX interactions_timeline_idx ON interactions (contact_id, occurred_at, id);
CREATE INDEX interactions_deal_idx ON interactions (deal_id);
CREATE INDEX interactions_author_idx ON interactions (account_id, author_id, id);

-- Who is mentioned where: the `mentioned=` filter and the mention rule's bookkeeping.
CREATE TABLE interaction_mentions (
    interaction_id TEXT NOT NULL REFERENCES interactions(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    PRIMARY KEY (interaction_id, user_id)
);
CREATE INDEX interaction_mentions_user_idx ON interaction_mentions (account_id, user_id, interaction_id);

-- SPEC §7: the account's call results.
ALTER TABLE accounts ADD COLUMN call_results TEXT NOT NULL
    DEFAULT '["connected","left_voicemail","no_answer","busy","wrong_number"]';

-- The timeline pages each item type newest first within one contact.
CREATE INDEX actions_timeline_idx ON actions (contact_id, created_at, id);
CREATE INDEX deals_timeline_idx ON deals (contact_id, created_at, id);
CREATE INDEX audit_log_timeline_idx ON audit_log (contact_id, entity_type, created_at, id);
