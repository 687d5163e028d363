-- SPEC §7: a notification names who caused it. And the contact it is about (for a contact
-- itself, or later a note or call on it): its visibility follows that contact, the same
-- rule as the audit log's.
ALTER TABLE notifications ADD COLUMN actor_id TEXT COLLATE "C";
ALTER TABLE notifications ADD COLUMN contact_id TEXT COLLATE "C";
UPDATE notifications SET contact_id = entity_id WHERE entity_type = 'contact';
