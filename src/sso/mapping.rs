//! From an identity provider's role values to an account role (SPEC §11), one rule for OIDC
//! logins and SCIM: each value goes through `role_map`; when several match, the widest role
//! wins; no match gives `default_role`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::access::Role;

/// A role SSO may give: never `owner` (ownership moves by transfer-ownership only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SsoRole {
    Admin,
    User,
    Focused,
}

impl SsoRole {
    pub fn role(self) -> Role {
        match self {
            SsoRole::Admin => Role::Admin,
            SsoRole::User => Role::User,
            SsoRole::Focused => Role::Focused,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.role().as_str()
    }

    pub fn parse(text: &str) -> Option<SsoRole> {
        match text {
            "admin" => Some(SsoRole::Admin),
            "user" => Some(SsoRole::User),
            "focused" => Some(SsoRole::Focused),
            _ => None,
        }
    }
}

/// How wide a role is: owner > admin > user > focused.
pub fn width(role: Role) -> u8 {
    match role {
        Role::Owner => 3,
        Role::Admin => 2,
        Role::User => 1,
        Role::Focused => 0,
    }
}

/// The mapping of one account: `role_map` and `default_role` of its SSO configuration, or
/// the mapping used when the account has none (SCIM without SSO): role values are the
/// account's own role names and the default is `user`.
#[derive(Debug, Clone)]
pub struct RoleMapping {
    pub role_map: BTreeMap<String, SsoRole>,
    pub default_role: Option<SsoRole>,
}

impl RoleMapping {
    pub fn without_sso() -> RoleMapping {
        RoleMapping { role_map: BTreeMap::new(), default_role: Some(SsoRole::User) }
    }

    /// The widest role any of `values` maps to, else `default_role` (`None`: no role at all).
    /// A value `role_map` does not name but that is a role's own name (`admin`, `user`,
    /// `focused`, and `owner`, so the owner's own representation reads back unchanged) stands
    /// for that role, so that what SCIM shows (`roles[].value` is the account role) can be
    /// sent back as it is.
    pub fn resolve<'a>(&self, values: impl IntoIterator<Item = &'a str>) -> Option<Role> {
        let mapped = values
            .into_iter()
            .filter_map(|v| self.role_map.get(v).map(|r| r.role()).or_else(|| Role::parse(v)))
            .max_by_key(|r| width(*r));
        mapped.or(self.default_role.map(SsoRole::role))
    }

    /// Like `resolve`, for an OIDC login: only `role_map` counts (a claim value that happens
    /// to be a role name means nothing unless the configuration says so).
    pub fn resolve_claim<'a>(&self, values: impl IntoIterator<Item = &'a str>) -> Option<Role> {
        let mapped =
            values.into_iter().filter_map(|v| self.role_map.get(v).map(|r| r.role())).max_by_key(|r| width(*r));
        mapped.or(self.default_role.map(SsoRole::role))
    }
}
