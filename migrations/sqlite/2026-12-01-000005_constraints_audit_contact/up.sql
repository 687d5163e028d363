-- Settings and roles the code reads fail closed, and the database refuses unknown values.
-- SQLite cannot add a CHECK to an existing table: triggers say the same.
CREATE TRIGGER accounts_default_contact_access_insert BEFORE INSERT ON accounts
WHEN NEW.default_contact_access NOT IN ('hidden', 'limited', 'view', 'edit')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: accounts.default_contact_access'); END;
CREATE TRIGGER accounts_default_contact_access_update BEFORE UPDATE OF default_contact_access ON accounts
WHEN NEW.default_contact_access NOT IN ('hidden', 'limited', 'view', 'edit')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: accounts.default_contact_access'); END;
CREATE TRIGGER users_role_insert BEFORE INSERT ON users
WHEN NEW.role NOT IN ('owner', 'admin', 'user', 'focused')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: users.role'); END;
CREATE TRIGGER users_role_update BEFORE UPDATE OF role ON users
WHEN NEW.role NOT IN ('owner', 'admin', 'user', 'focused')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: users.role'); END;
-- none=0, view=2, edit=3, manage=4.
CREATE TRIGGER office_memberships_level_insert BEFORE INSERT ON office_memberships
WHEN NEW.level NOT IN (0, 2, 3, 4)
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: office_memberships.level'); END;
CREATE TRIGGER office_memberships_level_update BEFORE UPDATE OF level ON office_memberships
WHEN NEW.level NOT IN (0, 2, 3, 4)
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: office_memberships.level'); END;

-- The contact an audit entry is about (a contact's own entries, and those of its deals and
-- actions): one visibility rule for all of them (`access::scope`).
ALTER TABLE audit_log ADD COLUMN contact_id TEXT;
UPDATE audit_log SET contact_id = entity_id WHERE entity_type = 'contact';
UPDATE audit_log SET contact_id = (SELECT d.contact_id FROM deals d WHERE d.id = audit_log.entity_id)
WHERE entity_type = 'deal';
UPDATE audit_log SET contact_id = (SELECT x.contact_id FROM actions x WHERE x.id = audit_log.entity_id)
WHERE entity_type = 'action';
UPDATE audit_log
SET contact_id = COALESCE(json_extract(changes, '$.contact_id.new'), json_extract(changes, '$.contact_id.old'))
WHERE entity_type IN ('deal', 'action') AND contact_id IS NULL;
CREATE INDEX audit_log_contact_idx ON audit_log (account_id, contact_id, id);
