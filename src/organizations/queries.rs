//! Organization queries. Owner, admin and user see all of the account's; a focused user
//! sees those with at least one contact they own (through the contact scope).

use crate::custom_fields::model::Entity;
use crate::custom_fields::queries as custom;
use diesel::prelude::*;

use super::model::*;
use crate::access::{Actor, ContactScope, Level, Role};
use crate::audit::{self, AuditCtx};
use crate::contacts::list::like_pattern;
use crate::contacts::queries::ContactLink;
use crate::db::schema::organizations as orgs;
use crate::db::{DbConnection, MultiBackend};
use crate::deals::queries::DealLink;
use crate::error::AppError;
use crate::http::{new_id, now, PageKeys, PageRows};
use crate::webhooks::outbox::{self, Op};

/// The organizations the actor sees.
fn visible(actor: &Actor) -> orgs::BoxedQuery<'static, MultiBackend> {
    let q = orgs::table.filter(orgs::account_id.eq(actor.account_id().to_owned())).into_boxed();
    if actor.role() == Role::Focused {
        q.filter(ContactScope::of(actor).organization_in(orgs::id, Level::Limited))
    } else {
        q
    }
}

pub fn find(conn: &mut DbConnection, actor: &Actor, id: &str) -> Result<OrgRow, AppError> {
    visible(actor).filter(orgs::id.eq(id.to_owned())).first(conn).optional()?.ok_or(AppError::NotFound)
}

/// One page of the organizations the actor sees, oldest first, with the bounded total.
pub fn list(
    conn: &mut DbConnection,
    actor: &Actor,
    q_text: Option<&str>,
    conditions: &[custom::Condition],
    keys: &PageKeys,
) -> Result<PageRows<OrgRow>, AppError> {
    let filtered = || {
        let mut q = visible(actor);
        if let Some(text) = q_text {
            q = q.filter(crate::db::lower(orgs::name.nullable()).like(like_pattern(text.trim())).escape('\\'));
        }
        for condition in conditions {
            q = q.filter(custom::matching(orgs::id, condition));
        }
        q
    };
    Ok(crate::db::id_page!(conn, keys, filtered, orgs::id, asc, since = orgs::updated_at))
}

/// Creates an organization (any role).
pub fn create(conn: &mut DbConnection, actor: &Actor, input: NewOrganization) -> Result<OrganizationView, AppError> {
    let at = now();
    let mut row = OrgRow {
        id: new_id(),
        account_id: actor.account_id().to_owned(),
        name: input.name,
        website: input.website,
        phone: input.phone,
        address: input.address,
        version: 1,
        created_at: at,
        updated_at: at,
        custom_fields: "{}".into(),
    };
    let (text, index) = custom::initial(conn, actor.account_id(), Entity::Organization, &row.id, &input.custom_fields)?;
    row.custom_fields = text;
    diesel::insert_into(orgs::table).values(&row).execute(conn)?;
    custom::insert_index(conn, &index)?;
    let view = OrganizationView::from(&row);
    audit::record(conn, &AuditCtx::from(actor), "organization", &row.id, None, Some(&view))?;
    outbox::organizations(conn, actor.account_id(), std::slice::from_ref(&row.id), Op::Created)?;
    Ok(view)
}

/// The organization with its contacts and deals as the actor may see them.
pub fn detail(conn: &mut DbConnection, actor: &Actor, id: &str) -> Result<OrganizationDetail, AppError> {
    let org = find(conn, actor, id)?;
    let scope = ContactScope::of(actor);
    let (contacts, hidden_contacts_count) = crate::contacts::queries::of_organization(conn, &scope, &org.id)?;
    let deals = crate::deals::queries::of_organization(conn, &scope, &org.id)?;
    Ok(OrganizationDetail { organization: OrganizationView::from(&org), contacts, deals, hidden_contacts_count })
}

/// Edits an organization (owner, admin, user) with `UPDATE … WHERE id AND account AND
/// version`; a lost race follows `http::optimistic`.
pub fn update(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    p: &OrganizationPatch,
    wanted: Option<i64>,
) -> Result<OrganizationView, AppError> {
    crate::http::optimistic(wanted, || {
        let before = find(conn, actor, id)?;
        crate::http::check_version(wanted, before.version)?;
        if actor.role() == Role::Focused {
            return Err(AppError::forbidden("Focused users may not edit organizations."));
        }
        let mut next = before.clone();
        if let Some(v) = &p.name {
            next.name = v.clone();
        }
        if let Some(v) = &p.website {
            next.website = v.clone();
        }
        if let Some(v) = &p.phone {
            next.phone = v.clone();
        }
        if let Some(v) = &p.address {
            next.address = v.clone();
        }
        let mut index = None;
        if let Some(input) = &p.custom_fields {
            if let Some((text, rows)) =
                custom::changed(conn, actor.account_id(), Entity::Organization, &next.id, &before.custom_fields, input)?
            {
                next.custom_fields = text;
                index = Some(rows);
            }
        }
        if (&next.name, &next.website, &next.phone, &next.address)
            == (&before.name, &before.website, &before.phone, &before.address)
            && index.is_none()
        {
            return Ok(Some(OrganizationView::from(&before)));
        }
        next.version += 1;
        next.updated_at = now();
        let n = diesel::update(
            orgs::table
                .filter(orgs::id.eq(&before.id))
                .filter(orgs::account_id.eq(actor.account_id().to_owned()))
                .filter(orgs::version.eq(before.version)),
        )
        .set((
            orgs::name.eq(&next.name),
            orgs::website.eq(&next.website),
            orgs::phone.eq(&next.phone),
            orgs::address.eq(&next.address),
            orgs::custom_fields.eq(&next.custom_fields),
            orgs::version.eq(next.version),
            orgs::updated_at.eq(next.updated_at),
        ))
        .execute(conn)?;
        if n == 0 {
            return Ok(None);
        }
        if let Some(rows) = &index {
            custom::replace_index(conn, &next.id, rows)?;
        }
        let (old, new) = (OrganizationView::from(&before), OrganizationView::from(&next));
        audit::record(conn, &AuditCtx::from(actor), "organization", &next.id, Some(&old), Some(&new))?;
        outbox::organizations(conn, actor.account_id(), std::slice::from_ref(&next.id), Op::Updated)?;
        Ok(Some(new))
    })
}

/// Deletes an organization (owner/admin), unlinking its contacts and deals first, each
/// with a new version and its own audit entry.
pub fn delete(conn: &mut DbConnection, actor: &Actor, id: &str) -> Result<(), AppError> {
    let before = find(conn, actor, id)?;
    actor.require_manager()?;
    crate::contacts::queries::move_linked(conn, actor, ContactLink::Organization, &before.id, None)?;
    crate::deals::queries::move_linked(conn, actor, DealLink::Organization, &before.id, None)?;
    // Queued while the row is there to be seen; the transaction takes both or neither.
    outbox::organizations(conn, actor.account_id(), std::slice::from_ref(&before.id), Op::Deleted)?;
    let n = diesel::delete(
        orgs::table.filter(orgs::id.eq(&before.id)).filter(orgs::account_id.eq(actor.account_id().to_owned())),
    )
    .execute(conn)?;
    if n == 0 {
        return Err(AppError::NotFound);
    }
    custom::forget(conn, &[before.id.as_str()])?;
    audit::record::<OrganizationView>(
        conn,
        &AuditCtx::from(actor),
        "organization",
        &before.id,
        Some(&OrganizationView::from(&before)),
        None,
    )
}

/// The name of an organization the actor sees (`None` when it does not see it).
pub fn name_of(conn: &mut DbConnection, actor: &Actor, id: &str) -> Result<Option<String>, AppError> {
    Ok(visible(actor).filter(orgs::id.eq(id.to_owned())).select(orgs::name).first(conn).optional()?)
}

/// The organizations of `ids` as each of `actors` sees them, in one statement: `(index of
/// the actor, organization)` (the outbox, SPEC §10).
pub fn seen_by(
    conn: &mut DbConnection,
    actors: &[Actor],
    ids: &[String],
) -> Result<Vec<(usize, OrganizationView)>, AppError> {
    use diesel::sql_types::Integer;
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        for (g, group) in actors.chunks(16).enumerate() {
            let parts = group
                .iter()
                .enumerate()
                .map(|(i, actor)| {
                    visible(actor)
                        .filter(orgs::id.eq_any(chunk.to_vec()))
                        .select((((g * 16 + i) as i32).into_sql::<Integer>(), orgs::all_columns))
                })
                .collect();
            let rows: Vec<(i32, OrgRow)> = crate::db::UnionAll(parts).load(conn)?;
            out.extend(rows.iter().map(|(i, row)| (*i as usize, OrganizationView::from(row))));
        }
    }
    Ok(out)
}
