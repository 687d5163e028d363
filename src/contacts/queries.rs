//! Contact queries. Every one goes through a `ContactScope`, so the access rule of SPEC §2
//! is in the SQL of each select, count, update and delete.

use crate::custom_fields::model::{Entity, Field};
use crate::custom_fields::queries as custom;
use std::collections::{BTreeSet, HashMap};

use diesel::prelude::*;

use super::model::*;
use crate::access::{Actor, ContactScope, Level, Privilege, Reach, Role};
use crate::account::model::AccountSettings;
use crate::account::queries::settings as account_settings;
use crate::audit::{self, AuditCtx};
use crate::db::schema::{audit_log, contact_tags, contacts};
use crate::db::{insert_batch, DbConnection};
use crate::error::{AppError, FieldErrors};
use crate::http::{new_id, now};
use crate::notifications::model::NotificationRow;
use crate::refs::RefCache;
use crate::webhooks::outbox::{self, Op};

pub use crate::db::lower;

/// One contact the scope sees, with the scope's level on it; `NotFound` when hidden,
/// missing or another account's (the same answer for all three).
pub fn find(conn: &mut DbConnection, scope: &ContactScope, id: &str) -> Result<(ContactRow, Level), AppError> {
    let found: Option<(ContactRow, i32)> = scope
        .contacts()
        .filter(contacts::id.eq(id.to_owned()))
        .select((contacts::all_columns, scope.level()))
        .first(conn)
        .optional()?;
    let (row, rank) = found.ok_or(AppError::NotFound)?;
    Ok((row, Level::from_rank(rank)))
}

/// Projects rows at their levels (the tags travel in the row).
pub fn project_all(rows: Vec<(ContactRow, Level)>) -> Vec<ContactOut> {
    rows.into_iter().map(|(row, level)| ContactOut::from_row(row, level)).collect()
}

fn normalise_tags(tags: &[String]) -> Vec<String> {
    tags.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect()
}

fn replace_tags(conn: &mut DbConnection, account_id: &str, contact_id: &str, tags: &[String]) -> Result<(), AppError> {
    // `contacts.tags` is written by the caller, in the same transaction.
    diesel::delete(contact_tags::table.filter(contact_tags::contact_id.eq(contact_id))).execute(conn)?;
    for tag in tags {
        diesel::insert_into(contact_tags::table)
            .values((
                contact_tags::contact_id.eq(contact_id),
                contact_tags::account_id.eq(account_id),
                contact_tags::tag.eq(tag),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Checks the fields that depend on the account: settings choices and the ids of owner,
/// office and organization. Collects every problem into one 422.
fn check_references(
    conn: &mut DbConnection,
    account_id: &str,
    settings: &AccountSettings,
    row: &ContactRow,
    refs: &mut RefCache,
) -> Result<(), AppError> {
    let mut errors = FieldErrors::new();
    if let Some(status) = &row.status {
        if !settings.contact_statuses.contains(status) {
            errors.insert("status".into(), vec![format!("must be one of {:?}", settings.contact_statuses)]);
        }
    }
    if let Some(source) = &row.lead_source {
        if !settings.lead_sources.contains(source) {
            errors.insert("lead_source".into(), vec![format!("must be one of {:?}", settings.lead_sources)]);
        }
    }
    refs.owner(conn, account_id, row.owner_id.as_deref(), &mut errors)?;
    refs.office(conn, account_id, row.office_id.as_deref(), &mut errors)?;
    refs.organization(conn, account_id, row.organization_id.as_deref(), &mut errors)?;
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
}

/// SPEC §2: only the owner/admin, or the contact's owner holding `own_private_contacts`,
/// may make a contact private (or public again).
fn may_set_private(actor: &Actor, owner_id: Option<&str>) -> bool {
    actor.is_manager() || (owner_id == Some(actor.user_id()) && actor.has(Privilege::OwnPrivateContacts))
}

fn audit_view(row: &ContactRow, tags: &[String]) -> ContactView {
    ContactView::new(row.clone(), tags.to_vec(), Level::Manage)
}

/// Creates a contact for `actor` in the current transaction and returns it as the actor
/// sees it afterwards.
pub fn create(conn: &mut DbConnection, actor: &Actor, input: NewContact) -> Result<ContactOut, AppError> {
    let settings = account_settings(conn, actor.account_id())?;
    let fields = custom::definitions(conn, actor.account_id(), Entity::Contact)?;
    let row = prepare(conn, actor, input, &settings, &fields, &mut RefCache::default())?;
    insert_all(conn, actor, &fields, std::slice::from_ref(&row))?;
    let scope = ContactScope::of(actor);
    let level = find(conn, &scope, &row.id).map(|(_, l)| l).unwrap_or(Level::Hidden);
    Ok(ContactOut::project(&row, level))
}

/// Checks one new contact for `actor` (its owner, `private`, status, lead source and
/// references) and builds its row, tags included; writes nothing. Shared by create and
/// import, which then hand the rows to `insert_all`.
pub fn prepare(
    conn: &mut DbConnection,
    actor: &Actor,
    input: NewContact,
    settings: &AccountSettings,
    fields: &[Field],
    refs: &mut RefCache,
) -> Result<ContactRow, AppError> {
    let values = custom::apply(fields, &Default::default(), &input.custom_fields, true);
    let owner_id = match (actor.role(), input.owner_id) {
        // A focused user's new contact is always their own.
        (Role::Focused, _) => Some(actor.user_id().to_owned()),
        (_, None) => Some(actor.user_id().to_owned()),
        (_, Some(owner)) => owner.map(|u| u.to_string()),
    };
    if input.private && !may_set_private(actor, owner_id.as_deref()) {
        return Err(AppError::forbidden(
            "Only the owner or an admin, or the contact's owner with own_private_contacts, may make it private.",
        ));
    }
    let at = now();
    let mut row = ContactRow {
        id: new_id(),
        account_id: actor.account_id().to_owned(),
        first_name: input.first_name.trim().to_owned(),
        last_name: input.last_name.trim().to_owned(),
        email: input.email.map(|e| e.trim().to_owned()),
        phone: input.phone,
        job_title: input.job_title,
        organization_id: input.organization_id.map(|u| u.to_string()),
        status: input.status,
        lead_source: input.lead_source,
        owner_id,
        office_id: input.office_id.map(|u| u.to_string()),
        private: input.private,
        search_text: String::new(),
        version: 1,
        created_at: at,
        updated_at: at,
        tags: ContactRow::encode_tags(&normalise_tags(&input.tags)),
        custom_fields: "{}".into(),
    };
    row.search_text = row.compute_search_text();
    let checked = check_references(conn, actor.account_id(), settings, &row, refs);
    match (checked, values) {
        (Ok(()), Ok(values)) => {
            row.custom_fields = custom::encode_values(&values);
            Ok(row)
        }
        // Every problem in one 422: the references' and the custom fields'.
        (Err(AppError::Validation(mut errors)), Err(more)) => {
            errors.extend(more);
            Err(AppError::Validation(errors))
        }
        (Err(e), _) => Err(e),
        (Ok(()), Err(errors)) => Err(AppError::Validation(errors)),
    }
}

/// Writes prepared contacts with their tags and audit entries, a few multi-row
/// statements for any number of rows (an import of 10,000 rows with two tags each was
/// 50,000 statements before).
/// A focused actor's rows first tell the owners of other contacts with the same email.
pub fn insert_all(
    conn: &mut DbConnection,
    actor: &Actor,
    fields: &[Field],
    rows: &[ContactRow],
) -> Result<(), AppError> {
    if actor.role() == Role::Focused {
        notify_duplicate_emails(conn, actor, rows)?;
    }
    let ctx = AuditCtx::from(actor);
    let mut tags = Vec::new();
    let mut entries = Vec::with_capacity(rows.len());
    let mut values = Vec::new();
    for row in rows {
        let parsed = custom::parse_values(&row.custom_fields);
        values.extend(custom::index_rows(fields, &row.account_id, &row.id, &parsed));
        let list = row.tag_list();
        tags.extend(list.iter().map(|tag| {
            (
                contact_tags::contact_id.eq(row.id.clone()),
                contact_tags::account_id.eq(row.account_id.clone()),
                contact_tags::tag.eq(tag.clone()),
            )
        }));
        entries.extend(audit::entry(&ctx, "contact", &row.id, None, Some(&audit_view(row, &list)))?);
    }
    insert_batch!(conn, contacts::table, rows)?;
    insert_batch!(conn, contact_tags::table, &tags)?;
    custom::insert_index(conn, &values)?;
    insert_batch!(conn, audit_log::table, &entries)?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    outbox::watch_contacts(conn, actor.account_id(), &[])?.emit(conn, &ids, Op::Created)
}

/// SPEC §2: a focused user's new contact whose email another contact already uses tells
/// that contact's owner. The message names only the email, never the new contact. Run
/// before the new rows are written, so every contact it finds is another one.
fn notify_duplicate_emails(conn: &mut DbConnection, actor: &Actor, rows: &[ContactRow]) -> Result<(), AppError> {
    let written: HashMap<String, &str> =
        rows.iter().filter_map(|r| r.email.as_deref()).map(|e| (e.to_lowercase(), e)).collect();
    let emails: Vec<&String> = written.keys().collect();
    let at = now();
    for chunk in emails.chunks(500) {
        let others: Vec<(Option<String>, String, Option<String>)> = contacts::table
            .filter(contacts::account_id.eq(actor.account_id()))
            .filter(lower(contacts::email).eq_any(chunk.iter().map(|e| Some((*e).clone())).collect::<Vec<_>>()))
            .select((lower(contacts::email), contacts::id, contacts::owner_id))
            .load(conn)?;
        let notes: Vec<NotificationRow> = others
            .into_iter()
            .filter_map(|(email, contact_id, owner)| {
                let owner = owner.filter(|o| o != actor.user_id())?;
                let email = written.get(&email?)?;
                Some(NotificationRow {
                    id: new_id(),
                    account_id: actor.account_id().to_owned(),
                    user_id: owner,
                    kind: "duplicate_email".into(),
                    message: format!(
                        "A focused user created a contact with the email {email}, which your contact also uses."
                    ),
                    entity_type: "contact".into(),
                    entity_id: contact_id.clone(),
                    read_at: None,
                    created_at: at,
                    actor_id: Some(actor.user_id().to_owned()),
                    contact_id: Some(contact_id),
                })
            })
            .collect();
        crate::notifications::queries::insert_all(conn, &notes)?;
    }
    Ok(())
}

/// Applies a patch to a contact the caller may edit; shared by PATCH and bulk.
/// `expected_version` comes from `If-Match`: with it, a concurrent change is a 412;
/// without it, the patch is applied again on top of the concurrent change (PostgreSQL's
/// read-committed transactions can meet one between the read and the write).
pub fn update(
    conn: &mut DbConnection,
    actor: &Actor,
    scope: &ContactScope,
    id: &str,
    patch: ContactPatch,
    expected_version: Option<i64>,
) -> Result<ContactOut, AppError> {
    crate::http::optimistic(expected_version, || try_update(conn, actor, scope, id, patch.clone(), expected_version))
}

/// One attempt; `None` when another transaction changed the row after it was read.
fn try_update(
    conn: &mut DbConnection,
    actor: &Actor,
    scope: &ContactScope,
    id: &str,
    patch: ContactPatch,
    expected_version: Option<i64>,
) -> Result<Option<ContactOut>, AppError> {
    let (before, level) = find(conn, scope, id)?;
    crate::http::check_version(expected_version, before.version)?;
    if level < Level::Edit {
        return Err(AppError::forbidden("Your access to this contact does not allow changes."));
    }
    let before_tags = before.tag_list();
    let mut next = before.clone();
    if let Some(v) = patch.first_name {
        next.first_name = v.trim().to_owned();
    }
    if let Some(v) = patch.last_name {
        next.last_name = v.trim().to_owned();
    }
    if let Some(v) = patch.email {
        next.email = v.map(|e| e.trim().to_owned());
    }
    if let Some(v) = patch.phone {
        next.phone = v;
    }
    if let Some(v) = patch.job_title {
        next.job_title = v;
    }
    if let Some(v) = patch.organization_id {
        next.organization_id = v.map(|u| u.to_string());
    }
    if let Some(v) = patch.status {
        next.status = v;
    }
    if let Some(v) = patch.lead_source {
        next.lead_source = v;
    }
    if let Some(v) = patch.owner_id {
        next.owner_id = v.map(|u| u.to_string());
    }
    if let Some(v) = patch.office_id {
        next.office_id = v.map(|u| u.to_string());
    }
    if let Some(v) = patch.private {
        if v != before.private && !may_set_private(actor, next.owner_id.as_deref()) {
            return Err(AppError::forbidden(
                "Only the owner or an admin, or the contact's owner with own_private_contacts, may change `private`.",
            ));
        }
        next.private = v;
    }
    let mut new_values = None;
    if let Some(input) = &patch.custom_fields {
        let fields = custom::definitions(conn, actor.account_id(), Entity::Contact)?;
        let current = custom::parse_values(&before.custom_fields);
        let values = custom::apply(&fields, &current, input, false).map_err(AppError::Validation)?;
        if values != current {
            next.custom_fields = custom::encode_values(&values);
            new_values = Some(custom::index_rows(&fields, &next.account_id, &next.id, &values));
        }
    }
    let settings = account_settings(conn, actor.account_id())?;
    // Only what changed is checked against the account: a status retired from the
    // settings does not block editing the phone number.
    let mut check = next.clone();
    if check.status == before.status {
        check.status = None;
    }
    if check.lead_source == before.lead_source {
        check.lead_source = None;
    }
    if check.owner_id == before.owner_id {
        check.owner_id = None;
    }
    check_references(conn, actor.account_id(), &settings, &check, &mut RefCache::default())?;
    next.search_text = next.compute_search_text();
    next.version = before.version + 1;
    next.updated_at = now();
    let tags = match &patch.tags {
        Some(t) => normalise_tags(t),
        None => before_tags.clone(),
    };
    if next_equals(&before, &next) && tags == before_tags && new_values.is_none() {
        return Ok(Some(ContactOut::project(&before, level)));
    }
    next.tags = ContactRow::encode_tags(&tags);
    let same_access =
        (&next.owner_id, &next.office_id, next.private) == (&before.owner_id, &before.office_id, before.private);
    let watch = if same_access {
        let basic = (&next.first_name, &next.last_name, &next.email, &next.phone)
            != (&before.first_name, &before.last_name, &before.email, &before.phone);
        outbox::watch_contact_fields(conn, actor.account_id(), basic)?
    } else {
        outbox::watch_contacts(conn, actor.account_id(), std::slice::from_ref(&before.id))?
    };
    // The rule is in the UPDATE too, and the version pins the row the checks above saw.
    let changed = diesel::update(contacts::table)
        .filter(contacts::id.eq(&before.id))
        .filter(contacts::version.eq(before.version))
        .filter(scope.at_least(Level::Edit))
        .set((
            contacts::first_name.eq(&next.first_name),
            contacts::last_name.eq(&next.last_name),
            contacts::email.eq(&next.email),
            contacts::phone.eq(&next.phone),
            contacts::job_title.eq(&next.job_title),
            contacts::organization_id.eq(&next.organization_id),
            contacts::status.eq(&next.status),
            contacts::lead_source.eq(&next.lead_source),
            contacts::owner_id.eq(&next.owner_id),
            contacts::office_id.eq(&next.office_id),
            contacts::private.eq(next.private),
            contacts::search_text.eq(&next.search_text),
            contacts::version.eq(next.version),
            contacts::updated_at.eq(next.updated_at),
            contacts::tags.eq(&next.tags),
            contacts::custom_fields.eq(&next.custom_fields),
        ))
        .execute(conn)?;
    if changed == 0 {
        return Ok(None);
    }
    if patch.tags.is_some() {
        replace_tags(conn, &next.account_id, &next.id, &tags)?;
    }
    if let Some(rows) = &new_values {
        custom::replace_index(conn, &next.id, rows)?;
    }
    let ctx = AuditCtx::from(actor);
    audit::record(
        conn,
        &ctx,
        "contact",
        &next.id,
        Some(&audit_view(&before, &before_tags)),
        Some(&audit_view(&next, &tags)),
    )?;
    watch.emit(conn, std::slice::from_ref(&next.id), Op::Updated)?;
    let level_after = find(conn, scope, &next.id).map(|(_, l)| l).unwrap_or(Level::Hidden);
    Ok(Some(ContactOut::project(&next, level_after)))
}

fn next_equals(a: &ContactRow, b: &ContactRow) -> bool {
    (&a.first_name, &a.last_name, &a.email, &a.phone, &a.job_title, &a.organization_id, &a.status)
        == (&b.first_name, &b.last_name, &b.email, &b.phone, &b.job_title, &b.organization_id, &b.status)
        && (&a.lead_source, &a.owner_id, &a.office_id, a.private)
            == (&b.lead_source, &b.owner_id, &b.office_id, b.private)
}

/// SPEC §1: owner/admin delete any contact, a focused user their own, a user none.
/// `dependents` deletes what hangs off the contact (deals, actions), each with its own
/// audit entry, once the caller is known to be allowed, before the contact itself goes.
pub fn delete(
    conn: &mut DbConnection,
    actor: &Actor,
    scope: &ContactScope,
    id: &str,
    dependents: impl FnOnce(&mut DbConnection, &str) -> Result<(), AppError>,
) -> Result<(), AppError> {
    let (before, level) = find(conn, scope, id)?;
    let allowed = match actor.role().deletes_contacts() {
        Reach::All => true,
        // A focused user reaches only what they own, at edit.
        Reach::Own => level >= Level::Edit,
        _ => false,
    };
    if !allowed {
        return Err(AppError::forbidden("Your role may not delete this contact."));
    }
    let tags = before.tag_list();
    let watch = outbox::watch_contacts(conn, actor.account_id(), std::slice::from_ref(&before.id))?;
    dependents(conn, &before.id)?;
    let deleted =
        diesel::delete(contacts::table.filter(contacts::id.eq(&before.id)).filter(scope.at_least(Level::Edit)))
            .execute(conn)?;
    if deleted == 0 {
        return Err(AppError::NotFound);
    }
    custom::forget(conn, &[before.id.as_str()])?;
    audit::record(conn, &AuditCtx::from(actor), "contact", &before.id, Some(&audit_view(&before, &tags)), None)?;
    watch.emit(conn, std::slice::from_ref(&before.id), Op::Deleted)
}

/// A contact column that points at another record, moved when that record is deleted.
#[derive(Debug, Clone, Copy)]
pub enum ContactLink {
    Owner,
    Office,
    Organization,
}

impl ContactLink {
    pub fn field(self) -> &'static str {
        match self {
            ContactLink::Owner => "owner_id",
            ContactLink::Office => "office_id",
            ContactLink::Organization => "organization_id",
        }
    }
}

/// How many contacts of the account point at `id` through `link`. Called by owner/admin
/// for a deletion, whose scope is the whole account.
pub fn count_linked(
    conn: &mut DbConnection,
    scope: &ContactScope,
    link: ContactLink,
    id: &str,
) -> Result<i64, AppError> {
    let q = scope.contacts();
    let q = match link {
        ContactLink::Owner => q.filter(contacts::owner_id.eq(id.to_owned())),
        ContactLink::Office => q.filter(contacts::office_id.eq(id.to_owned())),
        ContactLink::Organization => q.filter(contacts::organization_id.eq(id.to_owned())),
    };
    Ok(q.count().get_result(conn)?)
}

/// Points every contact that points at `from` through `link` at `to` instead, in one
/// `UPDATE … WHERE <scope at edit>`, each with a new version and its own audit entry (a
/// deletion never moves a contact silently; SPEC §3). Returns how many moved.
pub fn move_linked(
    conn: &mut DbConnection,
    actor: &Actor,
    link: ContactLink,
    from: &str,
    to: Option<&str>,
) -> Result<usize, AppError> {
    let scope = ContactScope::of(actor);
    let at = now();
    let bump = (contacts::version.eq(contacts::version + 1), contacts::updated_at.eq(at));
    // The same statements for each column (diesel types each column apart): the ids that
    // will move (for the outbox's view before), then the move.
    macro_rules! linked_ids {
        ($column:expr) => {
            scope
                .contacts()
                .filter(scope.at_least(Level::Edit))
                .filter($column.eq(from))
                .select(contacts::id)
                .load(conn)?
        };
    }
    let ids: Vec<String> = match link {
        ContactLink::Owner => linked_ids!(contacts::owner_id),
        ContactLink::Office => linked_ids!(contacts::office_id),
        ContactLink::Organization => linked_ids!(contacts::organization_id),
    };
    let watch = outbox::watch_contacts(conn, actor.account_id(), &ids)?;
    macro_rules! move_column {
        ($column:expr) => {
            diesel::update(contacts::table)
                .filter(scope.at_least(Level::Edit))
                .filter($column.eq(from))
                .set(($column.eq(to), bump))
                .returning(contacts::id)
                .get_results(conn)?
        };
    }
    let moved: Vec<String> = match link {
        ContactLink::Owner => move_column!(contacts::owner_id),
        ContactLink::Office => move_column!(contacts::office_id),
        ContactLink::Organization => move_column!(contacts::organization_id),
    };
    let rows: Vec<(String, Option<String>)> = moved.iter().map(|id| (id.clone(), Some(id.clone()))).collect();
    audit::record_moves(conn, &AuditCtx::from(actor), "contact", &rows, link.field(), Some(from), to)?;
    watch.emit(conn, &moved, Op::Updated)?;
    Ok(rows.len())
}

/// An organization's contacts as the scope sees them (limited ones as basic fields), and
/// how many of its contacts the scope cannot see (a count over the account, never rows).
pub fn of_organization(
    conn: &mut DbConnection,
    scope: &ContactScope,
    organization_id: &str,
) -> Result<(Vec<ContactOut>, i64), AppError> {
    let rows: Vec<(ContactRow, i32)> = scope
        .contacts()
        .filter(contacts::organization_id.eq(organization_id.to_owned()))
        .order(contacts::id.asc())
        .select((contacts::all_columns, scope.level()))
        .load(conn)?;
    let all: i64 = contacts::table
        .filter(contacts::account_id.eq(scope.account_id()))
        .filter(contacts::organization_id.eq(organization_id))
        .count()
        .get_result(conn)?;
    let hidden = all - rows.len() as i64;
    Ok((project_all(rows.into_iter().map(|(r, l)| (r, Level::from_rank(l))).collect()), hidden))
}

/// Lower-cased email -> contact id, for those of `emails` that a contact the scope sees
/// (at `limited` or above) already has: an import's duplicate check, which never names a
/// contact the caller cannot see.
pub fn visible_emails(
    conn: &mut DbConnection,
    scope: &ContactScope,
    emails: &[String],
) -> Result<HashMap<String, String>, AppError> {
    let mut existing = HashMap::new();
    for chunk in emails.chunks(500) {
        let found: Vec<(Option<String>, String)> = scope
            .contacts()
            .filter(lower(contacts::email).eq_any(chunk.iter().map(|e| Some(e.clone())).collect::<Vec<_>>()))
            .select((lower(contacts::email), contacts::id))
            .load(conn)?;
        existing.extend(found.into_iter().filter_map(|(e, id)| e.map(|e| (e, id))));
    }
    Ok(existing)
}

/// The contacts of `ids` as each of `scopes` sees them, in one statement (one scoped query
/// per scope, `UNION ALL`): `(index of the scope, row, level)` for every contact a scope
/// sees at `min` or above; any other is simply absent. The outbox makes every
/// subscriber's payload from this (SPEC §10).
pub fn seen_by(
    conn: &mut DbConnection,
    scopes: &[ContactScope],
    ids: &[String],
    min: Level,
) -> Result<Vec<(usize, ContactRow, Level)>, AppError> {
    use diesel::sql_types::Integer;
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        for (g, group) in scopes.chunks(16).enumerate() {
            let parts = group
                .iter()
                .enumerate()
                .map(|(i, scope)| {
                    scope.contacts().filter(scope.at_least(min)).filter(contacts::id.eq_any(chunk.to_vec())).select((
                        ((g * 16 + i) as i32).into_sql::<Integer>(),
                        contacts::all_columns,
                        scope.level(),
                    ))
                })
                .collect();
            let rows: Vec<(i32, ContactRow, i32)> = crate::db::UnionAll(parts).load(conn)?;
            out.extend(rows.into_iter().map(|(i, row, rank)| (i as usize, row, Level::from_rank(rank))));
        }
    }
    Ok(out)
}
