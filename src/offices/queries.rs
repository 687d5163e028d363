//! Office and membership queries; the membership writes are shared by the membership
//! endpoints, the users bulk op and the deletion of users and offices.

use diesel::prelude::*;

use super::model::{Membership, OfficeRow};
use crate::access::Actor;
use crate::access::OfficePermission;
use crate::audit::{self, AuditCtx};
use crate::db::schema::{office_memberships as om, offices};
use crate::db::DbConnection;
use crate::error::AppError;
use crate::http::{PageKeys, PageRows};
use crate::webhooks::outbox;

/// Audit entity id of a membership: it has no id of its own.
fn entity_id(user_id: &str, office_id: &str) -> String {
    format!("{user_id}/{office_id}")
}

fn find_membership(conn: &mut DbConnection, user_id: &str, office_id: &str) -> Result<Option<Membership>, AppError> {
    let row: Option<(String, String, i32)> = om::table
        .filter(om::user_id.eq(user_id))
        .filter(om::office_id.eq(office_id))
        .select((om::user_id, om::office_id, om::level))
        .first(conn)
        .optional()?;
    Ok(row.map(|(user_id, office_id, level)| Membership {
        user_id,
        office_id,
        permission: OfficePermission::from_level(level),
    }))
}

/// Sets a user's permission in an office (both already checked to be in `ctx`'s account).
/// Returns the membership and whether it was created.
pub fn upsert(
    conn: &mut DbConnection,
    ctx: &AuditCtx,
    user_id: &str,
    office_id: &str,
    permission: OfficePermission,
) -> Result<(Membership, bool), AppError> {
    let before = find_membership(conn, user_id, office_id)?;
    let after = Membership { user_id: user_id.into(), office_id: office_id.into(), permission };
    if before.is_some() {
        diesel::update(om::table.filter(om::user_id.eq(user_id)).filter(om::office_id.eq(office_id)))
            .set(om::level.eq(permission.level()))
            .execute(conn)?;
    } else {
        diesel::insert_into(om::table)
            .values((
                om::user_id.eq(user_id),
                om::office_id.eq(office_id),
                om::account_id.eq(&ctx.account_id),
                om::level.eq(permission.level()),
            ))
            .execute(conn)?;
    }
    audit::record(conn, ctx, "office_membership", &entity_id(user_id, office_id), before.as_ref(), Some(&after))?;
    if before.as_ref().map(|b| b.permission) != Some(permission) {
        outbox::access_changed(conn, &ctx.account_id, Some(&[user_id.to_owned()]), &[outbox::OFFICES])?;
    }
    Ok((after, before.is_none()))
}

/// Removes a membership; `NotFound` when there was none.
pub fn remove(conn: &mut DbConnection, ctx: &AuditCtx, user_id: &str, office_id: &str) -> Result<(), AppError> {
    let before = find_membership(conn, user_id, office_id)?.ok_or(AppError::NotFound)?;
    diesel::delete(om::table.filter(om::user_id.eq(user_id)).filter(om::office_id.eq(office_id))).execute(conn)?;
    audit::record::<Membership>(conn, ctx, "office_membership", &entity_id(user_id, office_id), Some(&before), None)?;
    outbox::access_changed(conn, &ctx.account_id, Some(&[user_id.to_owned()]), &[outbox::OFFICES])
}

pub fn list_for_user(conn: &mut DbConnection, account_id: &str, user_id: &str) -> Result<Vec<Membership>, AppError> {
    let rows: Vec<(String, String, i32)> = om::table
        .filter(om::account_id.eq(account_id))
        .filter(om::user_id.eq(user_id))
        .select((om::user_id, om::office_id, om::level))
        .order(om::office_id.asc())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(user_id, office_id, level)| Membership {
            user_id,
            office_id,
            permission: OfficePermission::from_level(level),
        })
        .collect())
}

/// Whose memberships a deletion removes.
#[derive(Debug, Clone, Copy)]
pub enum MembersOf<'a> {
    User(&'a str),
    Office(&'a str),
}

/// Removes every membership of a user or an office that is being deleted, in one
/// `DELETE … RETURNING`, with an audit entry each (written in multi-row statements).
pub fn remove_all(conn: &mut DbConnection, ctx: &AuditCtx, of: MembersOf<'_>) -> Result<(), AppError> {
    let account = om::account_id.eq(ctx.account_id.clone());
    let columns = (om::user_id, om::office_id, om::level);
    let rows: Vec<(String, String, i32)> = match of {
        MembersOf::User(u) => {
            diesel::delete(om::table.filter(account).filter(om::user_id.eq(u))).returning(columns).get_results(conn)?
        }
        MembersOf::Office(o) => diesel::delete(om::table.filter(account).filter(om::office_id.eq(o)))
            .returning(columns)
            .get_results(conn)?,
    };
    let mut entries = Vec::with_capacity(rows.len());
    let users: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    outbox::access_changed(conn, &ctx.account_id, Some(&users), &[outbox::OFFICES])?;
    for (user_id, office_id, level) in rows {
        let id = entity_id(&user_id, &office_id);
        let before = Membership { user_id, office_id, permission: OfficePermission::from_level(level) };
        entries.extend(audit::entry::<Membership>(ctx, "office_membership", &id, Some(&before), None)?);
    }
    audit::queries::insert_all(conn, &entries)
}

/// An office of the actor's account; another account's is `NotFound` like a missing one.
pub fn find(conn: &mut DbConnection, actor: &Actor, id: &str) -> Result<OfficeRow, AppError> {
    offices::table
        .filter(offices::account_id.eq(actor.account_id()))
        .filter(offices::id.eq(id))
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound)
}

/// One page of the account's offices, oldest first, with the bounded total.
pub fn list_offices(conn: &mut DbConnection, actor: &Actor, keys: &PageKeys) -> Result<PageRows<OfficeRow>, AppError> {
    let scoped = || offices::table.filter(offices::account_id.eq(actor.account_id().to_owned())).into_boxed();
    Ok(crate::db::id_page!(conn, keys, scoped, offices::id, asc, since = offices::updated_at))
}
