//! Notification queries: a user's own, and of those about a contact only while the user
//! still sees that contact (through the contact scope).

use diesel::prelude::*;

use super::model::*;
use crate::access::{Actor, ContactScope, Level};
use crate::db::schema::notifications as n;
use crate::db::{insert_batch, DbConnection, MultiBackend};
use crate::error::AppError;
use crate::http::{now, PageKeys, PageRows};

/// The actor's notifications that it may read: its own, and of those about a contact only
/// while it sees that contact at `view` or above, the level at which a mention may be made
/// (SPEC §8) and the note or call it names can be opened.
fn mine(actor: &Actor) -> n::BoxedQuery<'static, MultiBackend> {
    let visible = ContactScope::of(actor).contact_in(n::contact_id, Level::View);
    n::table
        .filter(n::account_id.eq(actor.account_id().to_owned()))
        .filter(n::user_id.eq(actor.user_id().to_owned()))
        .filter(n::contact_id.is_null().or(visible))
        .into_boxed()
}

/// One page of the actor's notifications, newest first, with the bounded total.
pub fn list(
    conn: &mut DbConnection,
    actor: &Actor,
    unread: bool,
    keys: &PageKeys,
) -> Result<PageRows<NotificationRow>, AppError> {
    let scoped = || {
        let q = mine(actor);
        if unread {
            q.filter(n::read_at.is_null())
        } else {
            q
        }
    };
    Ok(crate::db::id_page!(
        conn,
        keys,
        scoped,
        n::id,
        desc,
        since_by = |t: chrono::NaiveDateTime| n::created_at.ge(t).or(n::read_at.ge(t))
    ))
}

/// Marks one of the actor's notifications read; the first `read_at` stays.
pub fn mark_read(conn: &mut DbConnection, actor: &Actor, id: &str) -> Result<Notification, AppError> {
    let row: NotificationRow =
        mine(actor).filter(n::id.eq(id.to_owned())).first(conn).optional()?.ok_or(AppError::NotFound)?;
    if row.read_at.is_some() {
        return Ok(Notification::from(row));
    }
    let at = now();
    diesel::update(n::table.filter(n::id.eq(&row.id)).filter(n::user_id.eq(actor.user_id())))
        .set(n::read_at.eq(Some(at)))
        .execute(conn)?;
    Ok(Notification::from(NotificationRow { read_at: Some(at), ..row }))
}

/// Writes notifications in multi-row statements (in the caller's transaction).
pub fn insert_all(conn: &mut DbConnection, rows: &[NotificationRow]) -> Result<(), AppError> {
    insert_batch!(conn, n::table, rows)?;
    Ok(())
}
