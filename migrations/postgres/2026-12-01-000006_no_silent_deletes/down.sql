DROP INDEX deals_owner_idx;
ALTER TABLE contacts DROP CONSTRAINT contacts_organization_id_fkey,
    ADD CONSTRAINT contacts_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES organizations(id) ON DELETE SET NULL;
ALTER TABLE contacts DROP CONSTRAINT contacts_owner_id_fkey,
    ADD CONSTRAINT contacts_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES users(id) ON DELETE SET NULL;
ALTER TABLE contacts DROP CONSTRAINT contacts_office_id_fkey,
    ADD CONSTRAINT contacts_office_id_fkey FOREIGN KEY (office_id) REFERENCES offices(id) ON DELETE SET NULL;
ALTER TABLE deals DROP CONSTRAINT deals_contact_id_fkey,
    ADD CONSTRAINT deals_contact_id_fkey FOREIGN KEY (contact_id) REFERENCES contacts(id) ON DELETE CASCADE;
ALTER TABLE deals DROP CONSTRAINT deals_organization_id_fkey,
    ADD CONSTRAINT deals_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES organizations(id) ON DELETE SET NULL;
ALTER TABLE deals DROP CONSTRAINT deals_owner_id_fkey,
    ADD CONSTRAINT deals_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES users(id) ON DELETE SET NULL;
ALTER TABLE actions DROP CONSTRAINT actions_contact_id_fkey,
    ADD CONSTRAINT actions_contact_id_fkey FOREIGN KEY (contact_id) REFERENCES contacts(id) ON DELETE CASCADE;
ALTER TABLE actions DROP CONSTRAINT actions_assignee_id_fkey,
    ADD CONSTRAINT actions_assignee_id_fkey FOREIGN KEY (assignee_id) REFERENCES users(id) ON DELETE SET NULL;
ALTER TABLE office_memberships DROP CONSTRAINT office_memberships_user_id_fkey,
    ADD CONSTRAINT office_memberships_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE;
ALTER TABLE office_memberships DROP CONSTRAINT office_memberships_office_id_fkey,
    ADD CONSTRAINT office_memberships_office_id_fkey FOREIGN KEY (office_id) REFERENCES offices(id) ON DELETE CASCADE;
