-- The contact's tags as a JSON array, written in the same transaction as contact_tags, so
-- that reading a contact (or a page of them) needs no second query. contact_tags stays the
-- index behind the `tag` filter.
ALTER TABLE contacts ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
UPDATE contacts SET tags = t.list
FROM (SELECT contact_id, json_agg(tag ORDER BY tag COLLATE "C")::text AS list FROM contact_tags GROUP BY contact_id) t
WHERE t.contact_id = contacts.id;
