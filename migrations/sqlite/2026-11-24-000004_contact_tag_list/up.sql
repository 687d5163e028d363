-- The contact's tags as a JSON array, written in the same transaction as contact_tags, so
-- that reading a contact (or a page of them) needs no second query. contact_tags stays the
-- index behind the `tag` filter.
ALTER TABLE contacts ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
UPDATE contacts SET tags = (
    SELECT json_group_array(tag) FROM (SELECT tag FROM contact_tags t WHERE t.contact_id = contacts.id ORDER BY tag)
) WHERE id IN (SELECT contact_id FROM contact_tags);
