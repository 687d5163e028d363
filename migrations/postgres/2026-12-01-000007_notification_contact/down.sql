ALTER TABLE notifications DROP COLUMN contact_id;
ALTER TABLE notifications DROP COLUMN actor_id;
