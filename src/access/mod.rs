//! SPEC §1–§2 in one place: roles, privileges, levels and the authenticated actor.

pub mod model;
mod roles;
pub mod scope;

pub use roles::{DefaultContactAccess, Level, OfficePermission, Privilege, Privileges, Role};
pub use scope::ContactScope;

/// The authenticated caller. Only the auth extractor builds one, after loading the user
/// from the database on this very request.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: String,
    pub account_id: String,
    pub role: Role,
    pub privileges: Privileges,
    /// The account's `default_contact_access`, read with the user on this request.
    pub default_access: DefaultContactAccess,
    pub via_api_token: bool,
    /// The caller's office memberships as `(office_id, level rank)`, read with the user on
    /// this request; the contact scope binds them into its SQL.
    pub grants: Vec<(String, i32)>,
}

impl Actor {
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
