//! Another user of the caller's account as the access rule sees them: for explaining that
//! user's level (`GET /v1/contacts/{id}/access?user_id=`) and for the checks about who may
//! be assigned an action on a contact (and, later, mentioned on it).

use diesel::prelude::*;

use super::model::UserFacts;
use super::{Actor, ContactScope, Level, OfficePermission, Role};
use crate::db::schema::{office_memberships as om, users};
use crate::db::DbConnection;
use crate::error::AppError;

/// A user of the actor's account, loaded on this request.
pub struct Member {
    pub id: String,
    pub role: Role,
    pub active: bool,
    /// What the reference model needs (the explain endpoint's reasons).
    pub facts: UserFacts,
    /// That user's view of the contacts: the same SQL every endpoint applies to them.
    pub scope: ContactScope,
}

impl Member {
    /// The user `user_id` of `actor`'s account; `None` when there is no such user there.
    pub fn load(conn: &mut DbConnection, actor: &Actor, user_id: &str) -> Result<Option<Member>, AppError> {
        let user: Option<(String, String, bool)> = users::table
            .filter(users::account_id.eq(actor.account_id()))
            .filter(users::id.eq(user_id))
            .select((users::id, users::role, users::active))
            .first(conn)
            .optional()?;
        let Some((id, role, active)) = user else { return Ok(None) };
        let role = Role::parse(&role).ok_or_else(|| AppError::Internal(format!("bad role {role}")))?;
        let grants: Vec<(String, i32)> = om::table
            .filter(om::account_id.eq(actor.account_id()))
            .filter(om::user_id.eq(&id))
            .select((om::office_id, om::level))
            .load(conn)?;
        let default_access = actor.default_access();
        let scope = ContactScope::new(actor.account_id(), &id, role, default_access, &grants);
        let facts = UserFacts {
            id: id.clone(),
            role,
            default_access,
            offices: grants.into_iter().map(|(o, l)| (o, OfficePermission::from_level(l))).collect(),
        };
        Ok(Some(Member { id, role, active, facts, scope }))
    }

    /// This user's level on a contact of the account (`hidden` when missing).
    pub fn level_on(&self, conn: &mut DbConnection, contact_id: &str) -> Result<Level, AppError> {
        Ok(self.scope.level_on(conn, contact_id)?)
    }
}
