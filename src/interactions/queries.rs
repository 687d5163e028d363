//! Note and call queries: every one reaches the item's contact through the contact scope,
//! and every write carries its rule in the `UPDATE`/`DELETE` itself.

use std::collections::HashMap;

use diesel::prelude::*;

use super::model::*;
use crate::access::{Actor, ContactScope, Level, Member};
use crate::audit::{self, AuditCtx};
use crate::db::schema::{contacts, deals, interaction_mentions as im, interactions as ix, users};
use crate::db::{insert_batch, DbConnection, MultiBackend};
use crate::error::{AppError, FieldErrors};
use crate::http::{new_id, now, PageKeys, PageRows};
use crate::notifications::model::NotificationRow;
use crate::webhooks::outbox::{self, Op};

/// Items of `kind` whose contact the scope sees at `view` or above.
fn scoped(scope: &ContactScope, kind: Kind) -> ix::BoxedQuery<'static, MultiBackend> {
    ix::table
        .filter(ix::account_id.eq(scope.account_id().to_owned()))
        .filter(ix::kind.eq(kind.as_str()))
        .filter(scope.contact_in(ix::contact_id, Level::View))
        .into_boxed()
}

/// One item the scope sees (its contact at `view` or above), with the level on the contact.
pub fn find(
    conn: &mut DbConnection,
    scope: &ContactScope,
    kind: Kind,
    id: &str,
) -> Result<(InteractionRow, Level), AppError> {
    let (row, rank): (InteractionRow, i32) = ix::table
        .inner_join(contacts::table.on(contacts::id.eq(ix::contact_id)))
        .filter(ix::account_id.eq(scope.account_id().to_owned()))
        .filter(ix::kind.eq(kind.as_str()))
        .filter(scope.at_least(Level::View))
        .filter(ix::id.eq(id))
        .select((ix::all_columns, scope.level()))
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound)?;
    Ok((row, Level::from_rank(rank)))
}

/// The mentioned users of each item, in one query.
fn mentions_of(conn: &mut DbConnection, ids: &[&str]) -> Result<HashMap<String, Vec<String>>, AppError> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let rows: Vec<(String, String)> = im::table
        .filter(im::interaction_id.eq_any(ids))
        .select((im::interaction_id, im::user_id))
        .order((im::interaction_id, im::user_id))
        .load(conn)?;
    for (item, user) in rows {
        out.entry(item).or_default().push(user);
    }
    Ok(out)
}

/// API views of rows already read through the scope.
pub fn views(conn: &mut DbConnection, rows: &[InteractionRow]) -> Result<Vec<InteractionView>, AppError> {
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let mut mentions = mentions_of(conn, &ids)?;
    Ok(rows.iter().map(|r| InteractionView::of(r, mentions.remove(&r.id).unwrap_or_default())).collect())
}

pub fn view(conn: &mut DbConnection, row: &InteractionRow) -> Result<InteractionView, AppError> {
    let mut all = views(conn, std::slice::from_ref(row))?;
    all.pop().ok_or_else(|| AppError::Internal("no view".into()))
}

/// One page of the scope's items of `kind`, newest first, with the bounded total.
pub fn list(
    conn: &mut DbConnection,
    scope: &ContactScope,
    kind: Kind,
    f: &InteractionFilter,
    keys: &PageKeys,
) -> Result<PageRows<InteractionRow>, AppError> {
    let filtered = || {
        let mut q = scoped(scope, kind);
        if let Some(v) = f.contact_id {
            q = q.filter(ix::contact_id.eq(v.to_string()));
        }
        if let Some(v) = f.deal_id {
            q = q.filter(ix::deal_id.eq(v.to_string()));
        }
        if let Some(v) = f.author_id {
            q = q.filter(ix::author_id.eq(v.to_string()));
        }
        if let Some(v) = f.mentioned {
            let mentioning = im::table
                .filter(im::account_id.eq(scope.account_id().to_owned()))
                .filter(im::user_id.eq(v.to_string()))
                .select(im::interaction_id);
            q = q.filter(ix::id.eq_any(mentioning));
        }
        q
    };
    Ok(crate::db::id_page!(conn, keys, filtered, ix::id, desc, since = ix::updated_at))
}

/// SPEC §8: a mentioned user is an active user of the account who sees the contact at
/// `view` or above, asked of that user's own scope (a focused user: only contacts they
/// own). One 422 names every user that fails.
fn check_mentions(conn: &mut DbConnection, actor: &Actor, contact_id: &str, ids: &[String]) -> Result<(), AppError> {
    let mut problems = Vec::new();
    for id in ids {
        match Member::load(conn, actor, id)? {
            Some(m) if m.active => {
                if m.level_on(conn, contact_id)? < Level::View {
                    problems.push(format!("user {id} cannot open this contact, so may not be mentioned on it"));
                }
            }
            _ => problems.push(format!("user {id} is not an active user of this account")),
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let mut errors = FieldErrors::new();
    errors.insert("mentions".into(), problems);
    Err(AppError::Validation(errors))
}

/// A deal given with a note or call must be one of the same contact (the contact is
/// already known to be visible at `view`, and so are its deals).
fn check_deal(conn: &mut DbConnection, actor: &Actor, contact_id: &str, deal_id: &str) -> Result<(), AppError> {
    let found: Option<String> = deals::table
        .filter(deals::account_id.eq(actor.account_id()))
        .filter(deals::contact_id.eq(contact_id))
        .filter(deals::id.eq(deal_id))
        .select(deals::id)
        .first(conn)
        .optional()?;
    match found {
        Some(_) => Ok(()),
        None => Err(AppError::field("deal_id", "must be a deal of this contact")),
    }
}

fn check_result(conn: &mut DbConnection, actor: &Actor, result: &str) -> Result<(), AppError> {
    let allowed = crate::account::queries::settings(conn, actor.account_id())?.call_results;
    if allowed.iter().any(|r| r == result) {
        return Ok(());
    }
    Err(AppError::field("result", format!("must be one of {allowed:?}")))
}

/// Mention rows and notifications for users newly mentioned on `row` (the actor is not
/// notified of its own mention).
fn add_mentions(
    conn: &mut DbConnection,
    actor: &Actor,
    row: &InteractionRow,
    added: &[String],
) -> Result<(), AppError> {
    if added.is_empty() {
        return Ok(());
    }
    let links: Vec<MentionRow> = added
        .iter()
        .map(|u| MentionRow { interaction_id: row.id.clone(), user_id: u.clone(), account_id: row.account_id.clone() })
        .collect();
    insert_batch!(conn, im::table, &links)?;
    let recipients: Vec<&String> = added.iter().filter(|u| u.as_str() != actor.user_id()).collect();
    if recipients.is_empty() {
        return Ok(());
    }
    let (first, last): (String, String) =
        users::table.find(actor.user_id()).select((users::first_name, users::last_name)).first(conn)?;
    let at = now();
    let kind = if row.kind == "call" { "call" } else { "note" };
    let rows: Vec<NotificationRow> = recipients
        .into_iter()
        .map(|user| NotificationRow {
            id: new_id(),
            account_id: row.account_id.clone(),
            user_id: user.clone(),
            kind: "mention".into(),
            message: format!("{first} {last} mentioned you in a {kind}."),
            entity_type: kind.into(),
            entity_id: row.id.clone(),
            read_at: None,
            created_at: at,
            actor_id: Some(actor.user_id().to_owned()),
            contact_id: Some(row.contact_id.clone()),
        })
        .collect();
    crate::notifications::queries::insert_all(conn, &rows)
}

/// Creates a note or call on a contact the actor sees at `view` or above.
pub fn create(conn: &mut DbConnection, actor: &Actor, d: Draft) -> Result<InteractionView, AppError> {
    let scope = ContactScope::of(actor);
    if scope.level_or_422(conn, &d.contact_id, "contact_id")? < Level::View {
        return Err(AppError::forbidden(format!("Creating a {} needs view access to the contact.", d.kind.as_str())));
    }
    if let Some(deal) = &d.deal_id {
        check_deal(conn, actor, &d.contact_id, deal)?;
    }
    if let Some(result) = &d.result {
        check_result(conn, actor, result)?;
    }
    check_mentions(conn, actor, &d.contact_id, &d.mentions)?;
    let at = now();
    let row = InteractionRow {
        id: new_id(),
        account_id: actor.account_id().to_owned(),
        kind: d.kind.as_str().into(),
        contact_id: d.contact_id,
        deal_id: d.deal_id,
        author_id: Some(actor.user_id().to_owned()),
        body: d.body,
        direction: d.direction.map(|x| x.as_str().to_owned()),
        result: d.result,
        duration_seconds: d.duration_seconds,
        occurred_at: d.occurred_at.unwrap_or(at),
        version: 1,
        created_at: at,
        updated_at: at,
    };
    diesel::insert_into(ix::table).values(&row).execute(conn)?;
    add_mentions(conn, actor, &row, &d.mentions)?;
    let view = InteractionView::of(&row, sorted(d.mentions));
    audit::record(conn, &AuditCtx::from(actor), d.kind.as_str(), &row.id, None, Some(&view))?;
    outbox::derived_changed(conn, actor.account_id(), d.kind.into(), std::slice::from_ref(&row.id), Op::Created)?;
    Ok(view)
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// Changes a note or call: its author while the author sees the contact at `view`, or
/// anyone at `edit`. The rule is in the `UPDATE` (`WHERE id AND version AND <view> AND
/// <author or edit>`), so a grant lost between the read and the write changes nothing.
pub fn change(
    conn: &mut DbConnection,
    actor: &Actor,
    kind: Kind,
    id: &str,
    expected: Option<i64>,
    c: &Change,
) -> Result<InteractionView, AppError> {
    let scope = ContactScope::of(actor);
    crate::http::optimistic(expected, || {
        let (before, level) = find(conn, &scope, kind, id)?;
        crate::http::check_version(expected, before.version)?;
        let is_author = before.author_id.as_deref() == Some(actor.user_id());
        if !is_author && level < Level::Edit {
            return Err(AppError::forbidden(format!(
                "Only the author or a user with edit access to the contact may change this {}.",
                kind.as_str()
            )));
        }
        let old = view(conn, &before)?;
        let mut next = before.clone();
        if let Some(d) = &c.deal_id {
            next.deal_id = d.clone();
        }
        if let Some(b) = &c.body {
            next.body = b.clone();
        }
        if let Some(d) = c.direction {
            next.direction = Some(d.as_str().into());
        }
        if let Some(r) = &c.result {
            next.result = r.clone();
        }
        if let Some(s) = c.duration_seconds {
            // The body's bounds were checked with the rest of it (`CallPatch`).
            next.duration_seconds = s;
        }
        if let Some(t) = c.occurred_at {
            next.occurred_at = t;
        }
        if next.deal_id != before.deal_id {
            if let Some(deal) = &next.deal_id {
                check_deal(conn, actor, &next.contact_id, deal)?;
            }
        }
        if next.result != before.result {
            if let Some(result) = &next.result {
                check_result(conn, actor, result)?;
            }
        }
        let current: Vec<String> = match &old {
            InteractionView::Note(n) => n.mentions.clone(),
            InteractionView::Call(x) => x.mentions.clone(),
        };
        let wanted = c.mentions.clone().unwrap_or_else(|| current.clone());
        let added: Vec<String> = wanted.iter().filter(|u| !current.contains(u)).cloned().collect();
        let removed: Vec<String> = current.iter().filter(|u| !wanted.contains(u)).cloned().collect();
        // Only new mentions are checked: one who lost the contact since stays listed
        // (their notification is hidden by the notification rule) until removed.
        check_mentions(conn, actor, &next.contact_id, &added)?;
        let same_fields = (&next.deal_id, &next.body, &next.direction, &next.result, next.duration_seconds)
            == (&before.deal_id, &before.body, &before.direction, &before.result, before.duration_seconds)
            && next.occurred_at == before.occurred_at;
        if same_fields && added.is_empty() && removed.is_empty() {
            return Ok(Some(old));
        }
        next.version += 1;
        next.updated_at = now();
        let may_change = ix::author_id.eq(actor.user_id().to_owned()).or(scope.contact_in(ix::contact_id, Level::Edit));
        let n = diesel::update(
            ix::table
                .filter(ix::id.eq(&before.id))
                .filter(ix::account_id.eq(scope.account_id().to_owned()))
                .filter(ix::version.eq(before.version))
                .filter(scope.contact_in(ix::contact_id, Level::View))
                .filter(may_change),
        )
        .set((
            ix::deal_id.eq(&next.deal_id),
            ix::body.eq(&next.body),
            ix::direction.eq(&next.direction),
            ix::result.eq(&next.result),
            ix::duration_seconds.eq(next.duration_seconds),
            ix::occurred_at.eq(next.occurred_at),
            ix::version.eq(next.version),
            ix::updated_at.eq(next.updated_at),
        ))
        .execute(conn)?;
        if n == 0 {
            return Ok(None);
        }
        if !removed.is_empty() {
            diesel::delete(im::table.filter(im::interaction_id.eq(&next.id)).filter(im::user_id.eq_any(&removed)))
                .execute(conn)?;
        }
        add_mentions(conn, actor, &next, &added)?;
        let new = InteractionView::of(&next, sorted(wanted.clone()));
        audit::record(conn, &AuditCtx::from(actor), kind.as_str(), &next.id, Some(&old), Some(&new))?;
        outbox::derived_changed(conn, actor.account_id(), kind.into(), std::slice::from_ref(&next.id), Op::Updated)?;
        Ok(Some(new))
    })
}

/// Deletes a note or call: its author (while it sees the contact at `view`) or
/// owner/admin, by `DELETE … WHERE id AND <view> [AND author = caller]`.
pub fn delete(conn: &mut DbConnection, actor: &Actor, kind: Kind, id: &str) -> Result<(), AppError> {
    let scope = ContactScope::of(actor);
    let (row, _) = find(conn, &scope, kind, id)?;
    let is_author = row.author_id.as_deref() == Some(actor.user_id());
    if !is_author && !actor.is_manager() {
        return Err(AppError::forbidden(format!("Only its author or owner/admin may delete this {}.", kind.as_str())));
    }
    let before = view(conn, &row)?;
    diesel::delete(im::table.filter(im::interaction_id.eq(&row.id))).execute(conn)?;
    let mut q = diesel::delete(ix::table)
        .filter(ix::id.eq(&row.id))
        .filter(ix::account_id.eq(scope.account_id().to_owned()))
        .filter(scope.contact_in(ix::contact_id, Level::View))
        .into_boxed();
    if !actor.is_manager() {
        q = q.filter(ix::author_id.eq(actor.user_id().to_owned()));
    }
    if q.execute(conn)? == 0 {
        // Out of reach since it was read: the transaction rolls the mentions back.
        return Err(AppError::NotFound);
    }
    audit::record::<InteractionView>(conn, &AuditCtx::from(actor), kind.as_str(), &row.id, Some(&before), None)?;
    outbox::derived_deleted(conn, actor.account_id(), kind.into(), &[(row.id.clone(), row.contact_id.clone())])
}

/// Deletes the notes and calls of a contact that is being deleted (the caller may delete
/// the contact), each with its own audit entry.
pub fn delete_for_contact(conn: &mut DbConnection, actor: &Actor, contact_id: &str) -> Result<(), AppError> {
    let scope = ContactScope::of(actor);
    let rows: Vec<InteractionRow> = ix::table
        .filter(ix::account_id.eq(scope.account_id().to_owned()))
        .filter(ix::contact_id.eq(contact_id.to_owned()))
        .filter(scope.contact_in(ix::contact_id, Level::Edit))
        .load(conn)?;
    if rows.is_empty() {
        return Ok(());
    }
    let before = views(conn, &rows)?;
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    for chunk in ids.chunks(500) {
        diesel::delete(im::table.filter(im::interaction_id.eq_any(chunk))).execute(conn)?;
        diesel::delete(
            ix::table
                .filter(ix::id.eq_any(chunk))
                .filter(ix::account_id.eq(scope.account_id().to_owned()))
                .filter(scope.contact_in(ix::contact_id, Level::Edit)),
        )
        .execute(conn)?;
    }
    let ctx = AuditCtx::from(actor);
    let mut entries = Vec::with_capacity(rows.len());
    for (row, v) in rows.iter().zip(&before) {
        entries.extend(audit::entry::<InteractionView>(&ctx, &row.kind, &row.id, Some(v), None)?);
    }
    insert_batch!(conn, crate::db::schema::audit_log::table, &entries)?;
    for kind in [Kind::Note, Kind::Call] {
        let gone: Vec<(String, String)> =
            rows.iter().filter(|r| r.kind == kind.as_str()).map(|r| (r.id.clone(), r.contact_id.clone())).collect();
        outbox::derived_deleted(conn, actor.account_id(), kind.into(), &gone)?;
    }
    Ok(())
}

/// Unlinks the notes and calls of a deal that is being deleted (they stay on the
/// contact), each with a new version and an audit entry.
pub fn unlink_deal(conn: &mut DbConnection, actor: &Actor, deal_id: &str) -> Result<(), AppError> {
    let scope = ContactScope::of(actor);
    let moved: Vec<(String, String, String)> = diesel::update(ix::table)
        .filter(ix::account_id.eq(scope.account_id().to_owned()))
        .filter(ix::deal_id.eq(deal_id))
        .filter(scope.contact_in(ix::contact_id, Level::Edit))
        .set((ix::deal_id.eq(None::<String>), ix::version.eq(ix::version + 1), ix::updated_at.eq(now())))
        .returning((ix::id, ix::kind, ix::contact_id))
        .get_results(conn)?;
    record_moves(conn, actor, moved, "deal_id", Some(deal_id))
}

/// A user is being deleted: their notes and calls stay, without an author (SPEC §3's
/// reassignment is about what a user owns; authorship is history), each with a new
/// version and an audit entry; their mentions go.
pub fn forget_user(conn: &mut DbConnection, actor: &Actor, user_id: &str) -> Result<(), AppError> {
    let scope = ContactScope::of(actor);
    diesel::delete(im::table.filter(im::account_id.eq(actor.account_id())).filter(im::user_id.eq(user_id)))
        .execute(conn)?;
    let moved: Vec<(String, String, String)> = diesel::update(ix::table)
        .filter(ix::account_id.eq(actor.account_id()))
        .filter(scope.contact_in(ix::contact_id, Level::Edit))
        .filter(ix::author_id.eq(user_id))
        .set((ix::author_id.eq(None::<String>), ix::version.eq(ix::version + 1), ix::updated_at.eq(now())))
        .returning((ix::id, ix::kind, ix::contact_id))
        .get_results(conn)?;
    record_moves(conn, actor, moved, "author_id", Some(user_id))
}

fn record_moves(
    conn: &mut DbConnection,
    actor: &Actor,
    moved: Vec<(String, String, String)>,
    field: &str,
    old: Option<&str>,
) -> Result<(), AppError> {
    let ctx = AuditCtx::from(actor);
    for kind in [Kind::Note, Kind::Call] {
        let rows: Vec<(String, Option<String>)> = moved
            .iter()
            .filter(|(_, k, _)| k == kind.as_str())
            .map(|(id, _, contact)| (id.clone(), Some(contact.clone())))
            .collect();
        audit::record_moves(conn, &ctx, kind.as_str(), &rows, field, old, None)?;
        let ids: Vec<String> = rows.into_iter().map(|(id, _)| id).collect();
        outbox::derived_changed(conn, actor.account_id(), kind.into(), &ids, Op::Updated)?;
    }
    Ok(())
}

/// The notes or calls of `ids` as each of `scopes` sees them (view on their contact), in
/// one statement: `(index of the scope, item, level on its contact)` (the outbox, SPEC §10).
pub fn seen_by(
    conn: &mut DbConnection,
    scopes: &[ContactScope],
    kind: Kind,
    ids: &[String],
) -> Result<Vec<(usize, InteractionView, Level)>, AppError> {
    use diesel::sql_types::Integer;
    let mut found: Vec<(usize, InteractionRow, Level)> = Vec::new();
    for chunk in ids.chunks(500) {
        for (g, group) in scopes.chunks(16).enumerate() {
            let parts = group
                .iter()
                .enumerate()
                .map(|(i, scope)| {
                    ix::table
                        .inner_join(contacts::table.on(contacts::id.eq(ix::contact_id)))
                        .filter(ix::account_id.eq(scope.account_id().to_owned()))
                        .filter(ix::kind.eq(kind.as_str()))
                        .filter(scope.at_least(Level::View))
                        .filter(ix::id.eq_any(chunk.to_vec()))
                        .select((((g * 16 + i) as i32).into_sql::<Integer>(), ix::all_columns, scope.level()))
                        .into_boxed()
                })
                .collect();
            let rows: Vec<(i32, InteractionRow, i32)> = crate::db::UnionAll(parts).load(conn)?;
            found.extend(rows.into_iter().map(|(i, row, rank)| (i as usize, row, Level::from_rank(rank))));
        }
    }
    let rows: Vec<InteractionRow> = found.iter().map(|(_, r, _)| r.clone()).collect();
    let views = views(conn, &rows)?;
    Ok(found.into_iter().zip(views).map(|((i, _, l), v)| (i, v, l)).collect())
}
