DROP TABLE audit_log;
DROP TABLE api_tokens;
DROP TABLE refresh_tokens;
DROP TABLE office_memberships;
DROP TABLE offices;
DROP TABLE users;
DROP TABLE accounts;
