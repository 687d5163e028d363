//! User queries, always scoped to the caller's account.

use diesel::prelude::*;

use super::model::{UserFilter, UserRow};
use crate::access::{Actor, Privilege, Privileges, Role};
use crate::audit::{self, AuditCtx};
use crate::auth::sessions;
use crate::db::schema::users;
use crate::db::DbConnection;
use crate::error::AppError;
use crate::http::{now, PageKeys, PageRows};
use crate::users::model::UserView;
use crate::webhooks::outbox;

/// Maps the unique index on `users.email_lower` to a 409 that says what collided.
pub fn email_conflict(e: diesel::result::Error) -> AppError {
    match e {
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
            AppError::Conflict("This email is already registered.".into())
        }
        other => other.into(),
    }
}

/// Inserts a new user with its audit entry (`POST /v1/users`, SCIM, SSO just in time).
pub fn insert(conn: &mut DbConnection, ctx: &AuditCtx, row: &UserRow) -> Result<(), AppError> {
    diesel::insert_into(users::table).values(row).execute(conn).map_err(email_conflict)?;
    audit::record(conn, ctx, "user", &row.id, None, Some(&UserView::full(row)))
}

/// A user of the actor's account; another account's user is `NotFound` like a missing one.
pub fn find(conn: &mut DbConnection, actor: &Actor, id: &str) -> Result<UserRow, AppError> {
    users::table
        .filter(users::account_id.eq(actor.account_id()))
        .filter(users::id.eq(id))
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound)
}

/// SPEC §1: owner and admin manage users, but an admin never the owner and never itself.
pub fn guard_manage(actor: &Actor, target: &UserRow) -> Result<(), AppError> {
    actor.require_manager()?;
    if actor.role() == Role::Admin && target.role() == Role::Owner {
        return Err(AppError::forbidden("An admin cannot change the owner."));
    }
    if actor.role() == Role::Admin && target.id == actor.user_id() {
        return Err(AppError::forbidden("An admin cannot change their own user; use /v1/me."));
    }
    Ok(())
}

/// `view_activity` may be granted to `user` only; the other privileges to anyone.
pub fn check_privileges(role: Role, privileges: Privileges) -> Result<(), AppError> {
    if privileges.contains(Privilege::ViewActivity) && !role.privileges_grantable().contains(&Privilege::ViewActivity) {
        return Err(AppError::field("privileges", "view_activity can be granted to role user only"));
    }
    Ok(())
}

#[derive(AsChangeset)]
#[diesel(table_name = users)]
struct UserUpdate<'a> {
    email: &'a str,
    email_lower: &'a str,
    password_hash: &'a str,
    first_name: &'a str,
    last_name: &'a str,
    role: &'a str,
    privileges: i64,
    active: bool,
    version: i64,
    updated_at: chrono::NaiveDateTime,
}

/// Writes `next` over `before` if nobody changed the row meanwhile (`None` otherwise, for
/// `http::optimistic`), audits the change and ends the user's sessions when they were
/// deactivated or got a new password. A `next` equal to `before` writes nothing.
pub fn save(
    conn: &mut DbConnection,
    ctx: &AuditCtx,
    before: &UserRow,
    mut next: UserRow,
) -> Result<Option<UserRow>, AppError> {
    next.version = before.version;
    next.updated_at = before.updated_at;
    if next == *before {
        return Ok(Some(next));
    }
    next.version = before.version + 1;
    next.updated_at = now();
    let changed = diesel::update(
        users::table
            .filter(users::id.eq(&before.id))
            .filter(users::account_id.eq(&before.account_id))
            .filter(users::version.eq(before.version)),
    )
    .set(UserUpdate {
        email: &next.email,
        email_lower: &next.email_lower,
        password_hash: &next.password_hash,
        first_name: &next.first_name,
        last_name: &next.last_name,
        role: &next.role,
        privileges: next.privileges,
        active: next.active,
        version: next.version,
        updated_at: next.updated_at,
    })
    .execute(conn)
    .map_err(email_conflict)?;
    if changed == 0 {
        return Ok(None);
    }
    let (old_view, new_view) = (UserView::full(before), UserView::full(&next));
    let mut changes =
        audit::diff(serde_json::to_value(&old_view).ok().as_ref(), serde_json::to_value(&new_view).ok().as_ref());
    let password_changed = before.password_hash != next.password_hash;
    if password_changed {
        // Never the hashes themselves.
        changes.insert("password".into(), serde_json::json!({"old": "[redacted]", "new": "[redacted]"}));
    }
    audit::record_changes(conn, ctx, "user", &next.id, audit::AuditAction::Update, changes)?;
    let mut access = Vec::new();
    if before.role != next.role {
        access.push(outbox::ROLE);
    }
    if before.privileges != next.privileges {
        access.push(outbox::PRIVILEGES);
    }
    if !access.is_empty() {
        outbox::access_changed(conn, &next.account_id, Some(std::slice::from_ref(&next.id)), &access)?;
    }
    if (before.active && !next.active) || password_changed {
        sessions::revoke_all_for_user(conn, &next.id)?;
    }
    Ok(Some(next))
}

/// One page of the account's users, oldest first, with the bounded total.
pub fn list(
    conn: &mut DbConnection,
    actor: &Actor,
    filter: &UserFilter,
    keys: &PageKeys,
) -> Result<PageRows<UserRow>, AppError> {
    let scoped = || {
        let mut q = users::table.filter(users::account_id.eq(actor.account_id().to_owned())).into_boxed();
        if let Some(role) = filter.role {
            q = q.filter(users::role.eq(role.as_str()));
        }
        if let Some(active) = filter.active {
            q = q.filter(users::active.eq(active));
        }
        q
    };
    Ok(crate::db::id_page!(conn, keys, scoped, users::id, asc, since = users::updated_at))
}
