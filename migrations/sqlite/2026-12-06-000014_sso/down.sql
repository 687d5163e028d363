DROP TABLE sso_codes;
DROP TABLE sso_logins;
DROP TABLE scim_external_ids;
DROP TABLE scim_tokens;
DROP TABLE sso_domains;
DROP TABLE sso_configs;
