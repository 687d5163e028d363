-- Deleting never changes or removes a row behind the audit log's back (SPEC §3, §4): the
-- application moves, unlinks or deletes every dependent contact, deal, action and
-- membership itself, each with its audit entry and a new version, before it deletes the
-- office, user, organization or contact. These keys only refuse what would be left behind.
-- (Deleting the whole account still cascades: it removes the account's audit log too.)
ALTER TABLE contacts DROP CONSTRAINT contacts_organization_id_fkey,
    ADD CONSTRAINT contacts_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES organizations(id);
ALTER TABLE contacts DROP CONSTRAINT contacts_owner_id_fkey,
    ADD CONSTRAINT contacts_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES users(id);
ALTER TABLE contacts DROP CONSTRAINT contacts_office_id_fkey,
    ADD CONSTRAINT contacts_office_id_fkey FOREIGN KEY (office_id) REFERENCES offices(id);
ALTER TABLE deals DROP CONSTRAINT deals_contact_id_fkey,
    ADD CONSTRAINT deals_contact_id_fkey FOREIGN KEY (contact_id) REFERENCES contacts(id);
ALTER TABLE deals DROP CONSTRAINT deals_organization_id_fkey,
    ADD CONSTRAINT deals_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES organizations(id);
ALTER TABLE deals DROP CONSTRAINT deals_owner_id_fkey,
    ADD CONSTRAINT deals_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES users(id);
ALTER TABLE actions DROP CONSTRAINT actions_contact_id_fkey,
    ADD CONSTRAINT actions_contact_id_fkey FOREIGN KEY (contact_id) REFERENCES contacts(id);
ALTER TABLE actions DROP CONSTRAINT actions_assignee_id_fkey,
    ADD CONSTRAINT actions_assignee_id_fkey FOREIGN KEY (assignee_id) REFERENCES users(id);
ALTER TABLE office_memberships DROP CONSTRAINT office_memberships_user_id_fkey,
    ADD CONSTRAINT office_memberships_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id);
ALTER TABLE office_memberships DROP CONSTRAINT office_memberships_office_id_fkey,
    ADD CONSTRAINT office_memberships_office_id_fkey FOREIGN KEY (office_id) REFERENCES offices(id);
-- The lookups the deletions make.
CREATE INDEX deals_owner_idx ON deals (account_id, owner_id);
