//! Action queries: every one reaches the action's contact through the contact scope.

use diesel::prelude::*;

use super::model::*;
use crate::access::{Actor, ContactScope, Level, Member, Role};
use crate::audit::{self, AuditCtx};
use crate::db::schema::{actions, contacts};
use crate::db::DbConnection;
use crate::error::AppError;
use crate::http::{new_id, now, PageKeys, PageRows};
use crate::webhooks::outbox::{self, Derived, Op};

/// Actions whose contact the scope sees at `view` or above.
fn scoped(scope: &ContactScope) -> actions::BoxedQuery<'static, crate::db::MultiBackend> {
    actions::table
        .filter(actions::account_id.eq(scope.account_id().to_owned()))
        .filter(scope.contact_in(actions::contact_id, Level::View))
        .into_boxed()
}

/// Actions whose contact the scope sees at `view` or above, with the level on it.
pub fn find(conn: &mut DbConnection, scope: &ContactScope, id: &str) -> Result<(ActionRow, Level), AppError> {
    let (row, rank): (ActionRow, i32) = actions::table
        .inner_join(contacts::table.on(contacts::id.eq(actions::contact_id)))
        .filter(actions::account_id.eq(scope.account_id().to_owned()))
        .filter(scope.at_least(Level::View))
        .filter(actions::id.eq(id))
        .select((actions::all_columns, scope.level()))
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound)?;
    Ok((row, Level::from_rank(rank)))
}

/// SPEC §3: the assignee is an active user of the account, and a focused assignee must
/// own the contact (asked of the assignee's own scope: a focused user sees exactly the
/// contacts they own).
fn check_assignee(conn: &mut DbConnection, actor: &Actor, assignee: &str, contact_id: &str) -> Result<(), AppError> {
    let Some(member) = Member::load(conn, actor, assignee)?.filter(|m| m.active) else {
        return Err(AppError::field("assignee_id", "must be an active user of this account"));
    };
    if member.role == Role::Focused && member.level_on(conn, contact_id)? < Level::View {
        return Err(AppError::field("assignee_id", "a focused user can only be assigned actions on contacts they own"));
    }
    Ok(())
}

/// One page of the actions the scope sees, oldest first, with the bounded total.
pub fn list(
    conn: &mut DbConnection,
    scope: &ContactScope,
    f: &ActionFilter,
    keys: &PageKeys,
) -> Result<PageRows<ActionRow>, AppError> {
    let filtered = || {
        let mut q = scoped(scope);
        if let Some(v) = f.contact_id {
            q = q.filter(actions::contact_id.eq(v.to_string()));
        }
        if let Some(v) = f.assignee_id {
            q = q.filter(actions::assignee_id.eq(v.to_string()));
        }
        if let Some(v) = f.status {
            q = q.filter(actions::status.eq(status_text(v)));
        }
        if let Some(v) = f.due_before {
            q = q.filter(actions::due_date.lt(v.to_string()));
        }
        q
    };
    Ok(crate::db::id_page!(conn, keys, filtered, actions::id, asc, since = actions::updated_at))
}

/// Creates an action on a contact the actor sees at `view` or above.
pub fn create(conn: &mut DbConnection, actor: &Actor, input: NewAction) -> Result<ActionView, AppError> {
    let scope = ContactScope::of(actor);
    let contact_id = input.contact_id.to_string();
    if scope.level_or_422(conn, &contact_id, "contact_id")? < Level::View {
        return Err(AppError::forbidden("Creating an action needs view access to the contact."));
    }
    let assignee = input.assignee_id.map(|u| u.to_string()).unwrap_or_else(|| actor.user_id().to_owned());
    check_assignee(conn, actor, &assignee, &contact_id)?;
    let at = now();
    let row = ActionRow {
        id: new_id(),
        account_id: actor.account_id().to_owned(),
        contact_id,
        assignee_id: Some(assignee),
        text: input.text,
        due_date: input.due_date.map(|d| d.to_string()),
        status: "open".into(),
        completed_at: None,
        version: 1,
        created_at: at,
        updated_at: at,
    };
    diesel::insert_into(actions::table).values(&row).execute(conn)?;
    let view = ActionView::from(&row);
    audit::record(conn, &AuditCtx::from(actor), "action", &row.id, None, Some(&view))?;
    outbox::derived_changed(conn, actor.account_id(), Derived::Action, std::slice::from_ref(&row.id), Op::Created)?;
    Ok(view)
}

/// Changes an action: the assignee, or edit on its contact. The rule is in the `UPDATE`
/// itself (`WHERE id AND version AND <assignee or edit on the contact>`), so a grant lost
/// between the read and the write changes nothing.
pub fn change(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    expected: Option<i64>,
    apply: impl Fn(&mut ActionRow),
) -> Result<ActionView, AppError> {
    let scope = ContactScope::of(actor);
    crate::http::optimistic(expected, || {
        let (before, level) = find(conn, &scope, id)?;
        crate::http::check_version(expected, before.version)?;
        let is_assignee = before.assignee_id.as_deref() == Some(actor.user_id());
        if !is_assignee && level < Level::Edit {
            return Err(AppError::forbidden(
                "Only the assignee or a user with edit access to the contact may change it.",
            ));
        }
        let mut next = before.clone();
        apply(&mut next);
        if next.assignee_id != before.assignee_id {
            if let Some(a) = &next.assignee_id {
                check_assignee(conn, actor, a, &next.contact_id)?;
            }
        }
        let unchanged = (&next.assignee_id, &next.text, &next.due_date, &next.status)
            == (&before.assignee_id, &before.text, &before.due_date, &before.status);
        if unchanged {
            return Ok(Some(ActionView::from(&before)));
        }
        next.version += 1;
        next.updated_at = now();
        let may_change =
            actions::assignee_id.eq(actor.user_id().to_owned()).or(scope.contact_in(actions::contact_id, Level::Edit));
        let n = diesel::update(
            actions::table
                .filter(actions::id.eq(&before.id))
                .filter(actions::account_id.eq(scope.account_id().to_owned()))
                .filter(actions::version.eq(before.version))
                .filter(scope.contact_in(actions::contact_id, Level::View))
                .filter(may_change),
        )
        .set((
            actions::assignee_id.eq(&next.assignee_id),
            actions::text.eq(&next.text),
            actions::due_date.eq(&next.due_date),
            actions::status.eq(&next.status),
            actions::completed_at.eq(next.completed_at),
            actions::version.eq(next.version),
            actions::updated_at.eq(next.updated_at),
        ))
        .execute(conn)?;
        if n == 0 {
            return Ok(None);
        }
        let (old, new) = (ActionView::from(&before), ActionView::from(&next));
        audit::record(conn, &AuditCtx::from(actor), "action", &next.id, Some(&old), Some(&new))?;
        outbox::derived_changed(
            conn,
            actor.account_id(),
            Derived::Action,
            std::slice::from_ref(&next.id),
            Op::Updated,
        )?;
        Ok(Some(new))
    })
}

/// Deletes an action (edit on its contact): `DELETE … WHERE id AND <edit on the contact>`.
pub fn delete(conn: &mut DbConnection, actor: &Actor, id: &str) -> Result<(), AppError> {
    let scope = ContactScope::of(actor);
    let (row, level) = find(conn, &scope, id)?;
    if level < Level::Edit {
        return Err(AppError::forbidden("Deleting an action needs edit access to its contact."));
    }
    let n = diesel::delete(
        actions::table
            .filter(actions::id.eq(&row.id))
            .filter(actions::account_id.eq(scope.account_id().to_owned()))
            .filter(scope.contact_in(actions::contact_id, Level::Edit)),
    )
    .execute(conn)?;
    if n == 0 {
        // Gone, or out of reach, since it was read: nothing changed, nothing to audit.
        return Err(AppError::NotFound);
    }
    audit::record::<ActionView>(conn, &AuditCtx::from(actor), "action", &row.id, Some(&ActionView::from(&row)), None)?;
    outbox::derived_deleted(conn, actor.account_id(), Derived::Action, &[(row.id.clone(), row.contact_id.clone())])
}

/// How many open actions of the scope (the whole account, for owner/admin) are assigned
/// to `user_id`.
pub fn count_open_assigned(conn: &mut DbConnection, scope: &ContactScope, user_id: &str) -> Result<i64, AppError> {
    Ok(actions::table
        .filter(actions::account_id.eq(scope.account_id().to_owned()))
        .filter(scope.contact_in(actions::contact_id, Level::View))
        .filter(actions::assignee_id.eq(user_id))
        .filter(actions::status.eq("open"))
        .count()
        .get_result(conn)?)
}

/// Assigns every action of `from` (open or done) to `to`, each with a new version and its
/// own audit entry (SPEC §3: a deleted user's actions never change silently).
pub fn move_assigned(conn: &mut DbConnection, actor: &Actor, from: &str, to: Option<&str>) -> Result<usize, AppError> {
    let scope = ContactScope::of(actor);
    let moved: Vec<(String, String)> = diesel::update(actions::table)
        .filter(actions::account_id.eq(scope.account_id().to_owned()))
        .filter(scope.contact_in(actions::contact_id, Level::Edit))
        .filter(actions::assignee_id.eq(from))
        .set((actions::assignee_id.eq(to), actions::version.eq(actions::version + 1), actions::updated_at.eq(now())))
        .returning((actions::id, actions::contact_id))
        .get_results(conn)?;
    let ids: Vec<String> = moved.iter().map(|(id, _)| id.clone()).collect();
    let rows: Vec<(String, Option<String>)> = moved.into_iter().map(|(id, c)| (id, Some(c))).collect();
    audit::record_moves(conn, &AuditCtx::from(actor), "action", &rows, "assignee_id", Some(from), to)?;
    outbox::derived_changed(conn, actor.account_id(), Derived::Action, &ids, Op::Updated)?;
    Ok(rows.len())
}

/// Deletes the actions of a contact that is being deleted (the caller may delete the
/// contact), each with its own audit entry.
pub fn delete_for_contact(conn: &mut DbConnection, actor: &Actor, contact_id: &str) -> Result<(), AppError> {
    let scope = ContactScope::of(actor);
    let rows: Vec<ActionRow> = diesel::delete(
        actions::table
            .filter(actions::account_id.eq(scope.account_id().to_owned()))
            .filter(actions::contact_id.eq(contact_id))
            .filter(scope.contact_in(actions::contact_id, Level::Edit)),
    )
    .returning(actions::all_columns)
    .get_results(conn)?;
    let ctx = AuditCtx::from(actor);
    let mut entries = Vec::with_capacity(rows.len());
    for row in &rows {
        entries.extend(audit::entry::<ActionView>(&ctx, "action", &row.id, Some(&ActionView::from(row)), None)?);
    }
    crate::db::insert_batch!(conn, crate::db::schema::audit_log::table, &entries)?;
    let gone: Vec<(String, String)> = rows.iter().map(|r| (r.id.clone(), r.contact_id.clone())).collect();
    outbox::derived_deleted(conn, actor.account_id(), Derived::Action, &gone)
}

/// The actions of `ids` as each of `scopes` sees them (view on their contact), in one
/// statement: `(index of the scope, action, level on its contact)` (the outbox, SPEC §10).
pub fn seen_by(
    conn: &mut DbConnection,
    scopes: &[ContactScope],
    ids: &[String],
) -> Result<Vec<(usize, ActionView, Level)>, AppError> {
    use diesel::sql_types::Integer;
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        for (g, group) in scopes.chunks(16).enumerate() {
            let parts = group
                .iter()
                .enumerate()
                .map(|(i, scope)| {
                    actions::table
                        .inner_join(contacts::table.on(contacts::id.eq(actions::contact_id)))
                        .filter(actions::account_id.eq(scope.account_id().to_owned()))
                        .filter(scope.at_least(Level::View))
                        .filter(actions::id.eq_any(chunk.to_vec()))
                        .select((((g * 16 + i) as i32).into_sql::<Integer>(), actions::all_columns, scope.level()))
                        .into_boxed()
                })
                .collect();
            let rows: Vec<(i32, ActionRow, i32)> = crate::db::UnionAll(parts).load(conn)?;
            out.extend(rows.iter().map(|(i, row, rank)| (*i as usize, ActionView::from(row), Level::from_rank(*rank))));
        }
    }
    Ok(out)
}
