-- Settings and roles the code reads fail closed, and the database refuses unknown values.
ALTER TABLE accounts ADD CONSTRAINT accounts_default_contact_access_check
    CHECK (default_contact_access IN ('hidden', 'limited', 'view', 'edit'));
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('owner', 'admin', 'user', 'focused'));
-- none=0, view=2, edit=3, manage=4.
ALTER TABLE office_memberships ADD CONSTRAINT office_memberships_level_check CHECK (level IN (0, 2, 3, 4));

-- The contact an audit entry is about (a contact's own entries, and those of its deals and
-- actions): one visibility rule for all of them (`access::scope`).
ALTER TABLE audit_log ADD COLUMN contact_id TEXT COLLATE "C";
UPDATE audit_log SET contact_id = entity_id WHERE entity_type = 'contact';
UPDATE audit_log a SET contact_id = d.contact_id FROM deals d WHERE a.entity_type = 'deal' AND d.id = a.entity_id;
UPDATE audit_log a SET contact_id = x.contact_id FROM actions x WHERE a.entity_type = 'action' AND x.id = a.entity_id;
UPDATE audit_log
SET contact_id = COALESCE(changes::json -> 'contact_id' ->> 'new', changes::json -> 'contact_id' ->> 'old')
WHERE entity_type IN ('deal', 'action') AND contact_id IS NULL;
CREATE INDEX audit_log_contact_idx ON audit_log (account_id, contact_id, id);
