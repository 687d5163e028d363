ALTER TABLE organizations DROP COLUMN custom_fields;
ALTER TABLE deals DROP COLUMN custom_fields;
ALTER TABLE contacts DROP COLUMN custom_fields;
DROP TABLE custom_values;
DROP TABLE custom_fields;
