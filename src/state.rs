//! Shared application state handed to every handler.

use crate::auth::jwt::JwtKeys;
use crate::config::Settings;
use crate::db::Pool;

pub struct AppState {
    pub pool: Pool,
    pub settings: Settings,
    pub jwt: JwtKeys,
    /// `TRUSTED_PROXIES`, parsed: whose `X-Forwarded-For` names the client.
    pub trusted_proxies: crate::http::TrustedProxies,
    /// Seals the contact list's keyset cursors (key derived from the signing secret).
    pub sealer: crate::http::Sealer,
    /// This process's request, pool and delivery figures (`GET /metrics`).
    pub metrics: crate::metrics::Metrics,
    /// Seals stored OIDC client secrets, one per JWT secret (the first seals, every one
    /// opens), so a rotation of `JWT_SECRETS` keeps them readable while the old key is listed.
    pub secret_sealers: Vec<crate::http::Sealer>,
    /// OpenID providers' discovery documents and JWKS (a cache; SSO login).
    pub oidc_metadata: crate::sso::login::MetadataCache,
}
