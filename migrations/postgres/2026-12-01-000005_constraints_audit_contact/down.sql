DROP INDEX audit_log_contact_idx;
ALTER TABLE audit_log DROP COLUMN contact_id;
ALTER TABLE office_memberships DROP CONSTRAINT office_memberships_level_check;
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE accounts DROP CONSTRAINT accounts_default_contact_access_check;
