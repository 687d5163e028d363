DROP TABLE notifications;
DROP TABLE contact_tags;
DROP TABLE contacts;
DROP TABLE organizations;
