-- SPEC §11: single sign-on (OpenID Connect) per account and SCIM provisioning.
-- One configuration per account; the OIDC client secret is stored sealed
-- (XChaCha20-Poly1305, key derived from the JWT signing secret), never in clear.
CREATE TABLE sso_configs (
    account_id TEXT COLLATE "C" PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    issuer TEXT NOT NULL,
    client_id TEXT NOT NULL,
    client_secret_sealed TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,
    role_claim TEXT NOT NULL,
    role_map TEXT NOT NULL,
    default_role TEXT CHECK (default_role IN ('admin', 'user', 'focused')),
    enforce BOOLEAN NOT NULL DEFAULT FALSE,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- A domain belongs to one account's configuration at most (409 on a second claim).
CREATE TABLE sso_domains (
    domain TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES sso_configs(account_id) ON DELETE CASCADE
);
CREATE INDEX sso_domains_account_idx ON sso_domains (account_id);

-- SCIM bearer tokens: stored as SHA-256 digests, shown once. A token acts as its creator,
-- who must still be an active owner/admin at each request.
CREATE TABLE scim_tokens (
    id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_by TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX scim_tokens_account_idx ON scim_tokens (account_id, id);

-- SCIM's externalId of a user (the identity provider's own id for it), kept for SCIM.
CREATE TABLE scim_external_ids (
    user_id TEXT COLLATE "C" PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    external_id TEXT NOT NULL
);
CREATE INDEX scim_external_ids_account_idx ON scim_external_ids (account_id, external_id);

-- OIDC logins in flight: state (by digest), nonce and PKCE verifier, single use, expiring;
-- in the database so that any replica can take the callback.
CREATE TABLE sso_logins (
    state_hash TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX sso_logins_expiry_idx ON sso_logins (expires_at);

-- One-time exchange codes handed to the frontend (60 s, single use), by digest.
CREATE TABLE sso_codes (
    code_hash TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    user_id TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX sso_codes_expiry_idx ON sso_codes (expires_at);
