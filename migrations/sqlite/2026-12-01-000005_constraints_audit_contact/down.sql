DROP INDEX audit_log_contact_idx;
ALTER TABLE audit_log DROP COLUMN contact_id;
DROP TRIGGER office_memberships_level_update;
DROP TRIGGER office_memberships_level_insert;
DROP TRIGGER users_role_update;
DROP TRIGGER users_role_insert;
DROP TRIGGER accounts_default_contact_access_update;
DROP TRIGGER accounts_default_contact_access_insert;
