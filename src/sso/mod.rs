//! Single sign-on and provisioning (SPEC §11): the account's OpenID Connect configuration
//! (`/v1/account/sso`), SCIM tokens (`/v1/account/scim-tokens`), SCIM 2.0 (`/scim/v2`) and
//! the role mapping both share.

pub mod config;
pub mod login;
pub mod mapping;
pub mod scim;
pub mod scim_tokens;
