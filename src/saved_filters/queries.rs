//! Saved filter queries: the caller's own filters and the shared ones, never another
//! member's private one (not even for owner/admin: a private filter is a 404 to everyone
//! else). Running one parses its query with the list's own rules and runs the list under
//! the runner's scope.

use diesel::prelude::*;
use serde_json::{Map, Value};

use super::model::*;
use crate::access::{Actor, ContactScope};
use crate::audit::{self, AuditCtx};
use crate::custom_fields::model::Entity;
use crate::custom_fields::queries as custom;
use crate::db::schema::saved_filters as sf;
use crate::db::{DbConnection, MultiBackend};
use crate::error::AppError;
use crate::http::{new_id, now, page_by_id, PageKeys, PageParams, PageRows};

/// The list parameters a saved query may hold, per list (paging is the runner's).
fn parameters(entity: FilterEntity) -> &'static [&'static str] {
    match entity {
        FilterEntity::Contacts => &["q", "status", "tag", "owner_id", "office_id", "organization_id", "sort"],
        FilterEntity::Deals => &["contact_id", "organization_id", "stage", "status", "owner_id"],
        FilterEntity::Actions => &["contact_id", "assignee_id", "status", "due_before"],
    }
}

fn custom_entity(entity: FilterEntity) -> Option<Entity> {
    match entity {
        FilterEntity::Contacts => Some(Entity::Contact),
        FilterEntity::Deals => Some(Entity::Deal),
        FilterEntity::Actions => None,
    }
}

/// A stored query as the list's query string.
fn to_query_string(query: &Map<String, Value>) -> String {
    let pairs: Vec<(&str, String)> = query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())))
        .collect();
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

/// The list's filters, parsed from a saved query by the list's own rules.
enum Parsed {
    Contacts(crate::contacts::list::ContactFilter),
    Deals(crate::deals::model::DealFilter),
    Actions(crate::actions::model::ActionFilter),
}

fn parse(
    conn: &mut DbConnection,
    actor: &Actor,
    entity: FilterEntity,
    query: &Map<String, Value>,
) -> Result<Parsed, AppError> {
    let raw = to_query_string(query);
    crate::http::check_query_string(&raw)?;
    let conditions = match custom_entity(entity) {
        Some(e) => custom::resolve(conn, actor.account_id(), e, &custom::parse_conditions(&raw)?)?,
        None => Vec::new(),
    };
    Ok(match entity {
        FilterEntity::Contacts => {
            let mut f: crate::contacts::list::ContactFilter = crate::http::parse_query(&raw)?;
            crate::contacts::list::Sort::parse(f.sort.as_deref())?;
            f.custom = conditions;
            Parsed::Contacts(f)
        }
        FilterEntity::Deals => {
            let mut f: crate::deals::model::DealFilter = crate::http::parse_query(&raw)?;
            f.custom = conditions;
            Parsed::Deals(f)
        }
        FilterEntity::Actions => Parsed::Actions(crate::http::parse_query(&raw)?),
    })
}

/// SPEC §9: a query is checked when saved. Each key is a parameter of the list (or a
/// `cf.` key of one of its fields), each value a string, number or boolean, and the whole
/// parses as the list would parse it; otherwise a 422 naming `query` or `query.<key>`.
fn check(
    conn: &mut DbConnection,
    actor: &Actor,
    entity: FilterEntity,
    query: &Map<String, Value>,
) -> Result<(), AppError> {
    if query.len() > 30 {
        return Err(AppError::field("query", "at most 30 parameters"));
    }
    for (key, value) in query {
        let known =
            parameters(entity).contains(&key.as_str()) || (key.starts_with("cf.") && custom_entity(entity).is_some());
        if !known {
            let why =
                format!("is not a parameter of GET /v1/{} (paging is given when the filter runs)", entity.as_str());
            return Err(AppError::field(&format!("query.{key}"), why));
        }
        if !(value.is_string() || value.is_number() || value.is_boolean()) {
            return Err(AppError::field(&format!("query.{key}"), "must be a string, number or boolean"));
        }
    }
    match parse(conn, actor, entity, query) {
        Ok(_) => Ok(()),
        Err(AppError::BadRequest(why)) => Err(AppError::field("query", why)),
        Err(e) => Err(e),
    }
}

/// The caller's filters and the shared ones.
fn visible(actor: &Actor) -> sf::BoxedQuery<'static, MultiBackend> {
    sf::table
        .filter(sf::account_id.eq(actor.account_id().to_owned()))
        .filter(sf::owner_id.eq(actor.user_id().to_owned()).or(sf::shared.eq(true)))
        .into_boxed()
}

pub fn find(conn: &mut DbConnection, actor: &Actor, id: &str) -> Result<SavedFilterRow, AppError> {
    visible(actor).filter(sf::id.eq(id.to_owned())).first(conn).optional()?.ok_or(AppError::NotFound)
}

pub fn list(
    conn: &mut DbConnection,
    actor: &Actor,
    entity: Option<FilterEntity>,
    keys: &PageKeys,
) -> Result<PageRows<SavedFilterRow>, AppError> {
    let filtered = || {
        let q = visible(actor);
        match entity {
            Some(e) => q.filter(sf::entity.eq(e.as_str())),
            None => q,
        }
    };
    Ok(crate::db::id_page!(conn, keys, filtered, sf::id, asc, since = sf::updated_at))
}

pub fn create(conn: &mut DbConnection, actor: &Actor, input: NewSavedFilter) -> Result<SavedFilterView, AppError> {
    check(conn, actor, input.entity, &input.query)?;
    let at = now();
    let row = SavedFilterRow {
        id: new_id(),
        account_id: actor.account_id().to_owned(),
        owner_id: actor.user_id().to_owned(),
        name: input.name.trim().to_owned(),
        entity: input.entity.as_str().into(),
        query: Value::Object(input.query).to_string(),
        shared: input.shared,
        version: 1,
        created_at: at,
        updated_at: at,
    };
    diesel::insert_into(sf::table).values(&row).execute(conn)?;
    let view = SavedFilterView::from(&row);
    audit::record(conn, &AuditCtx::from(actor), "saved_filter", &row.id, None, Some(&view))?;
    Ok(view)
}

/// Its owner, or owner/admin on a shared one, may change or delete a filter.
fn may_change(actor: &Actor, row: &SavedFilterRow) -> Result<(), AppError> {
    if row.owner_id == actor.user_id() || actor.is_manager() {
        return Ok(());
    }
    Err(AppError::forbidden("Only its owner or an owner/admin may change a shared filter."))
}

pub fn update(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    expected: Option<i64>,
    patch: &SavedFilterPatch,
) -> Result<SavedFilterView, AppError> {
    crate::http::optimistic(expected, || {
        let before = find(conn, actor, id)?;
        crate::http::check_version(expected, before.version)?;
        may_change(actor, &before)?;
        let mut next = before.clone();
        if let Some(name) = &patch.name {
            next.name = name.trim().to_owned();
        }
        if let Some(shared) = patch.shared {
            next.shared = shared;
        }
        if let Some(query) = &patch.query {
            check(conn, actor, FilterEntity::parse(&before.entity), query)?;
            next.query = Value::Object(query.clone()).to_string();
        }
        if (&next.name, next.shared, &next.query) == (&before.name, before.shared, &before.query) {
            return Ok(Some(SavedFilterView::from(&before)));
        }
        next.version += 1;
        next.updated_at = now();
        // The rule again in the UPDATE: still visible to the caller, still the same version.
        let n = diesel::update(sf::table)
            .filter(sf::id.eq(&before.id))
            .filter(sf::account_id.eq(actor.account_id()))
            .filter(sf::version.eq(before.version))
            .filter(sf::owner_id.eq(actor.user_id()).or(sf::shared.eq(true)))
            .set((
                sf::name.eq(&next.name),
                sf::shared.eq(next.shared),
                sf::query.eq(&next.query),
                sf::version.eq(next.version),
                sf::updated_at.eq(next.updated_at),
            ))
            .execute(conn)?;
        if n == 0 {
            return Ok(None);
        }
        let (old, new) = (SavedFilterView::from(&before), SavedFilterView::from(&next));
        audit::record(conn, &AuditCtx::from(actor), "saved_filter", &next.id, Some(&old), Some(&new))?;
        Ok(Some(new))
    })
}

pub fn delete(conn: &mut DbConnection, actor: &Actor, id: &str) -> Result<(), AppError> {
    let row = find(conn, actor, id)?;
    may_change(actor, &row)?;
    let n = diesel::delete(sf::table)
        .filter(sf::id.eq(&row.id))
        .filter(sf::account_id.eq(actor.account_id()))
        .filter(sf::owner_id.eq(actor.user_id()).or(sf::shared.eq(true)))
        .execute(conn)?;
    if n == 0 {
        return Err(AppError::NotFound);
    }
    audit::record::<SavedFilterView>(
        conn,
        &AuditCtx::from(actor),
        "saved_filter",
        &row.id,
        Some(&SavedFilterView::from(&row)),
        None,
    )
}

/// Deletes a user's filters when the user is deleted (their private ones are theirs
/// alone; shared ones go with them, each audited).
pub fn delete_owned_by(conn: &mut DbConnection, actor: &Actor, user_id: &str) -> Result<(), AppError> {
    let rows: Vec<SavedFilterRow> = diesel::delete(sf::table)
        .filter(sf::account_id.eq(actor.account_id()))
        .filter(sf::owner_id.eq(user_id))
        .returning(sf::all_columns)
        .get_results(conn)?;
    let ctx = AuditCtx::from(actor);
    let mut entries = Vec::new();
    for row in &rows {
        entries.extend(audit::entry::<SavedFilterView>(
            &ctx,
            "saved_filter",
            &row.id,
            Some(&SavedFilterView::from(row)),
            None,
        )?);
    }
    audit::queries::insert_all(conn, &entries)
}

/// One page of a filter's results, under the runner's scope. A query that no longer
/// parses (a custom field deleted since it was saved) is a 409 naming the problem.
pub fn run(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    page: &PageParams,
    sealer: &crate::http::Sealer,
) -> Result<SavedFilterResults, AppError> {
    let row = find(conn, actor, id)?;
    let query: Map<String, Value> = serde_json::from_str(&row.query).unwrap_or_default();
    let parsed = match parse(conn, actor, FilterEntity::parse(&row.entity), &query) {
        Err(AppError::BadRequest(why)) => {
            return Err(AppError::Conflict(format!("The saved query no longer applies: {why} Change it with PATCH.")))
        }
        other => other?,
    };
    let scope = ContactScope::of(actor);
    Ok(match parsed {
        Parsed::Contacts(mut filter) => SavedFilterResults::Contacts(crate::contacts::list::list(
            conn,
            &scope,
            &{
                filter.since = page.since()?;
                filter
            },
            page.cursor.as_deref(),
            page.limit(),
            page.with_total.unwrap_or(false),
            sealer,
        )?),
        Parsed::Deals(filter) => {
            let keys = page.keys()?;
            let (rows, total) = crate::deals::queries::list(conn, &scope, &filter, &keys)?;
            let views = crate::deals::queries::views(conn, rows)?;
            SavedFilterResults::Deals(page_by_id(views, keys.limit, total, |d| &d.id))
        }
        Parsed::Actions(filter) => {
            let keys = page.keys()?;
            let (rows, total) = crate::actions::queries::list(conn, &scope, &filter, &keys)?;
            let views = rows.iter().map(crate::actions::model::ActionView::from).collect();
            SavedFilterResults::Actions(page_by_id(
                views,
                keys.limit,
                total,
                |a: &crate::actions::model::ActionView| &a.id,
            ))
        }
    })
}
