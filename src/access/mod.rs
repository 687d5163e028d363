//! SPEC §1–§2 in one place: roles, privileges, levels and the authenticated actor.

mod member;
pub mod model;
mod roles;
pub mod scope;

pub use member::Member;
pub use roles::{DefaultContactAccess, Level, OfficePermission, Privilege, Privileges, Reach, Role};
pub use scope::ContactScope;

/// The authenticated caller. Only the auth extractor builds one (`Actor::authenticated`,
/// called from `auth` alone: `checks/scope_lint.sh` holds that), after loading the user
/// from the database on this very request. Its fields are private: a query can only be
/// scoped by what was loaded, never by ids a handler put together.
#[derive(Debug, Clone)]
pub struct Actor {
    user_id: String,
    account_id: String,
    role: Role,
    privileges: Privileges,
    /// The account's `default_contact_access`, read with the user on this request.
    default_access: DefaultContactAccess,
    via_api_token: bool,
    /// The caller's office memberships as `(office_id, level rank)`, read with the user on
    /// this request; the contact scope binds them into its SQL.
    grants: Vec<(String, i32)>,
}

impl Actor {
    /// For the auth extractor only (see above).
    pub(crate) fn authenticated(
        user_id: String,
        account_id: String,
        role: Role,
        privileges: Privileges,
        default_access: DefaultContactAccess,
        via_api_token: bool,
        grants: Vec<(String, i32)>,
    ) -> Actor {
        Actor { user_id, account_id, role, privileges, default_access, via_api_token, grants }
    }

    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn privileges(&self) -> Privileges {
        self.privileges
    }

    pub fn default_access(&self) -> DefaultContactAccess {
        self.default_access
    }

    pub fn via_api_token(&self) -> bool {
        self.via_api_token
    }

    pub fn is_manager(&self) -> bool {
        self.role.is_manager()
    }

    /// Owner and admin implicitly hold every privilege.
    pub fn has(&self, p: Privilege) -> bool {
        self.is_manager() || self.privileges.contains(p)
    }

    pub fn require_manager(&self) -> Result<(), crate::error::AppError> {
        if self.is_manager() {
            Ok(())
        } else {
            Err(crate::error::AppError::forbidden("Only the owner or an admin may do this."))
        }
    }
}
