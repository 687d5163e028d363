//! Deal queries: every one joins the deal's contact and applies the contact scope.

use crate::custom_fields::model::Entity;
use crate::custom_fields::queries as custom;
use std::collections::HashMap;

use diesel::prelude::*;

use super::model::*;
use crate::access::{Actor, ContactScope, Level, Privilege};
use crate::account::queries::settings as account_settings;
use crate::audit::{self, AuditCtx};
use crate::db::schema::{contacts, deal_items, deals};
use crate::db::{DbConnection, MultiBackend};
use crate::error::{AppError, FieldErrors};
use crate::http::{new_id, now};
use crate::refs::RefCache;
use crate::webhooks::outbox::{self, Derived, Op};

pub type DealQuery = diesel::internal::table_macro::BoxedSelectStatement<
    'static,
    (deals::SqlType, diesel::sql_types::Integer),
    diesel::internal::table_macro::FromClause<
        diesel::internal::table_macro::JoinOn<
            diesel::internal::table_macro::Join<deals::table, contacts::table, diesel::internal::table_macro::Inner>,
            diesel::dsl::Eq<contacts::id, deals::contact_id>,
        >,
    >,
    MultiBackend,
>;

/// Deals whose contact the scope sees at `min` or above, each with the scope's level on
/// that contact.
pub fn scoped(scope: &ContactScope, min: Level) -> DealQuery {
    deals::table
        .inner_join(contacts::table.on(contacts::id.eq(deals::contact_id)))
        .filter(deals::account_id.eq(scope.account_id().to_owned()))
        .filter(scope.at_least(min))
        .select((deals::all_columns, scope.level()))
        .into_boxed()
}

pub fn find(conn: &mut DbConnection, scope: &ContactScope, id: &str) -> Result<(DealRow, Level), AppError> {
    let (row, rank): (DealRow, i32) = scoped(scope, Level::View)
        .filter(deals::id.eq(id.to_owned()))
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound)?;
    Ok((row, Level::from_rank(rank)))
}

pub fn load_items(conn: &mut DbConnection, ids: &[String]) -> Result<HashMap<String, Vec<DealItem>>, AppError> {
    let mut map: HashMap<String, Vec<DealItem>> = HashMap::new();
    if ids.is_empty() {
        return Ok(map);
    }
    let rows: Vec<ItemRow> = deal_items::table
        .filter(deal_items::deal_id.eq_any(ids))
        .order((deal_items::deal_id, deal_items::id))
        .load(conn)?;
    for r in &rows {
        map.entry(r.deal_id.clone()).or_default().push(DealItem::from(r));
    }
    Ok(map)
}

pub fn views(conn: &mut DbConnection, rows: Vec<(DealRow, Level)>) -> Result<Vec<DealView>, AppError> {
    let ids: Vec<String> = rows.iter().map(|(r, _)| r.id.clone()).collect();
    let mut items = load_items(conn, &ids)?;
    Ok(rows.iter().map(|(r, l)| DealView::new(r, items.remove(&r.id).unwrap_or_default(), *l)).collect())
}

pub fn view(conn: &mut DbConnection, row: &DealRow, level: Level) -> Result<DealView, AppError> {
    Ok(views(conn, vec![(row.clone(), level)])?.remove(0))
}

fn check_fields(conn: &mut DbConnection, actor: &Actor, row: &DealRow) -> Result<(), AppError> {
    let settings = account_settings(conn, actor.account_id())?;
    let mut errors = FieldErrors::new();
    if !settings.deal_stages.contains(&row.stage) {
        errors.insert("stage".into(), vec![format!("must be one of {:?}", settings.deal_stages)]);
    }
    // The same id checks as contacts use.
    let mut refs = RefCache::default();
    refs.organization(conn, actor.account_id(), row.organization_id.as_deref(), &mut errors)?;
    refs.owner(conn, actor.account_id(), row.owner_id.as_deref(), &mut errors)?;
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
}

pub fn create(conn: &mut DbConnection, actor: &Actor, input: NewDeal) -> Result<DealView, AppError> {
    let scope = ContactScope::of(actor);
    let contact_id = input.contact_id.to_string();
    let level = scope.level_or_422(conn, &contact_id, "contact_id")?;
    if level < Level::Edit {
        return Err(AppError::forbidden("Creating a deal needs edit access to the contact."));
    }
    let settings = account_settings(conn, actor.account_id())?;
    let at = now();
    let row = DealRow {
        id: new_id(),
        account_id: actor.account_id().to_owned(),
        contact_id,
        organization_id: input.organization_id.map(|u| u.to_string()),
        name: input.name,
        amount: input.amount,
        currency: input.currency,
        stage: input.stage.or_else(|| settings.deal_stages.first().cloned()).unwrap_or_default(),
        status: input.status.unwrap_or(DealStatus::Pending).as_str().into(),
        expected_close_date: input.expected_close_date.map(|d| d.to_string()),
        owner_id: match input.owner_id {
            None => Some(actor.user_id().to_owned()),
            Some(o) => o.map(|u| u.to_string()),
        },
        version: 1,
        created_at: at,
        updated_at: at,
        custom_fields: "{}".into(),
    };
    let mut row = row;
    let checked = check_fields(conn, actor, &row);
    let custom = custom::initial(conn, actor.account_id(), Entity::Deal, &row.id, &input.custom_fields);
    let index = match (checked, custom) {
        (Ok(()), Ok((text, index))) => {
            row.custom_fields = text;
            index
        }
        // One 422 with every problem.
        (Err(AppError::Validation(mut a)), Err(AppError::Validation(b))) => {
            a.extend(b);
            return Err(AppError::Validation(a));
        }
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    diesel::insert_into(deals::table).values(&row).execute(conn)?;
    custom::insert_index(conn, &index)?;
    // The deal takes the caller's level on its contact, read above.
    let view = view(conn, &row, level)?;
    audit::record(conn, &AuditCtx::from(actor), "deal", &row.id, None, Some(&view))?;
    outbox::derived_changed(conn, actor.account_id(), Derived::Deal, std::slice::from_ref(&row.id), Op::Created)?;
    Ok(view)
}

/// Loads a deal the caller may change (edit on its contact), or the right error.
pub fn find_editable(conn: &mut DbConnection, scope: &ContactScope, id: &str) -> Result<(DealRow, Level), AppError> {
    let (row, level) = find(conn, scope, id)?;
    if level < Level::Edit {
        return Err(AppError::forbidden("Changing a deal needs edit access to its contact."));
    }
    Ok((row, level))
}

pub fn update(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    patch: DealPatch,
    expected_version: Option<i64>,
) -> Result<DealView, AppError> {
    let scope = ContactScope::of(actor);
    crate::http::optimistic(expected_version, || try_update(conn, actor, &scope, id, patch.clone(), expected_version))
}

/// One attempt of `update`; `None` when another transaction changed the deal meanwhile.
fn try_update(
    conn: &mut DbConnection,
    actor: &Actor,
    scope: &ContactScope,
    id: &str,
    patch: DealPatch,
    expected_version: Option<i64>,
) -> Result<Option<DealView>, AppError> {
    let (before, level) = find(conn, scope, id)?;
    crate::http::check_version(expected_version, before.version)?;
    if level < Level::Edit {
        return Err(AppError::forbidden("Changing a deal needs edit access to its contact."));
    }
    let before_view = view(conn, &before, level)?;
    let mut next = before.clone();
    if let Some(c) = patch.contact_id {
        let c = c.to_string();
        if scope.level_or_422(conn, &c, "contact_id")? < Level::Edit {
            return Err(AppError::forbidden("Moving a deal needs edit access to the new contact."));
        }
        next.contact_id = c;
    }
    if let Some(v) = patch.organization_id {
        next.organization_id = v.map(|u| u.to_string());
    }
    if let Some(v) = patch.name {
        next.name = v;
    }
    if let Some(v) = patch.amount {
        next.amount = v;
    }
    if let Some(v) = patch.currency {
        next.currency = v;
    }
    if let Some(v) = patch.stage {
        next.stage = v;
    }
    if let Some(v) = patch.status {
        next.status = v.as_str().into();
    }
    if let Some(v) = patch.expected_close_date {
        next.expected_close_date = v.map(|d| d.to_string());
    }
    if let Some(v) = patch.owner_id {
        next.owner_id = v.map(|u| u.to_string());
    }
    check_fields(conn, actor, &next)?;
    let mut index = None;
    if let Some(input) = &patch.custom_fields {
        if let Some((text, rows)) =
            custom::changed(conn, actor.account_id(), Entity::Deal, &next.id, &before.custom_fields, input)?
        {
            next.custom_fields = text;
            index = Some(rows);
        }
    }
    if next == before {
        return Ok(Some(before_view));
    }
    next.version += 1;
    next.updated_at = now();
    let changed = diesel::update(deals::table)
        .filter(deals::id.eq(&before.id))
        .filter(deals::account_id.eq(scope.account_id().to_owned()))
        .filter(deals::version.eq(before.version))
        .filter(scope.contact_in(deals::contact_id, Level::Edit))
        .set((
            deals::contact_id.eq(&next.contact_id),
            deals::organization_id.eq(&next.organization_id),
            deals::name.eq(&next.name),
            deals::amount.eq(next.amount),
            deals::currency.eq(&next.currency),
            deals::stage.eq(&next.stage),
            deals::status.eq(&next.status),
            deals::expected_close_date.eq(&next.expected_close_date),
            deals::owner_id.eq(&next.owner_id),
            deals::custom_fields.eq(&next.custom_fields),
            deals::version.eq(next.version),
            deals::updated_at.eq(next.updated_at),
        ))
        .execute(conn)?;
    if changed == 0 {
        return Ok(None);
    }
    if let Some(rows) = &index {
        custom::replace_index(conn, &next.id, rows)?;
    }
    let (_, level) = find(conn, scope, &next.id)?;
    let after = view(conn, &next, level)?;
    audit::record(conn, &AuditCtx::from(actor), "deal", &next.id, Some(&before_view), Some(&after))?;
    outbox::derived_changed(conn, actor.account_id(), Derived::Deal, std::slice::from_ref(&next.id), Op::Updated)?;
    Ok(Some(after))
}

/// Owner/admin, or `delete_deals` with edit on the contact.
pub fn delete(conn: &mut DbConnection, actor: &Actor, id: &str) -> Result<(), AppError> {
    let scope = ContactScope::of(actor);
    let (row, level) = find(conn, &scope, id)?;
    if !(actor.is_manager() || (actor.has(Privilege::DeleteDeals) && level >= Level::Edit)) {
        return Err(AppError::forbidden("Deleting a deal needs delete_deals and edit access to its contact."));
    }
    let before = view(conn, &row, level)?;
    crate::interactions::queries::unlink_deal(conn, actor, &row.id)?;
    let n = diesel::delete(
        deals::table
            .filter(deals::id.eq(&row.id))
            .filter(deals::account_id.eq(scope.account_id().to_owned()))
            .filter(scope.contact_in(deals::contact_id, Level::Edit)),
    )
    .execute(conn)?;
    if n == 0 {
        // Gone, or out of reach, since it was read: nothing changed, nothing to audit.
        return Err(AppError::NotFound);
    }
    custom::forget(conn, &[row.id.as_str()])?;
    audit::record::<DealView>(conn, &AuditCtx::from(actor), "deal", &row.id, Some(&before), None)?;
    outbox::derived_deleted(conn, actor.account_id(), Derived::Deal, &[(row.id.clone(), row.contact_id.clone())])
}

/// Item writes: `edit_deal_items` and edit on the contact; audited as a change of the deal.
/// The deal's version is bumped first, by an `UPDATE … WHERE id AND version AND <edit on
/// the contact>`: an item is only written once that row matched, and a lost race is
/// retried like any other write (`http::optimistic`).
pub fn change_items(
    conn: &mut DbConnection,
    actor: &Actor,
    deal_id: &str,
    change: impl Fn(&mut DbConnection, &DealRow) -> Result<(), AppError>,
) -> Result<DealView, AppError> {
    let scope = ContactScope::of(actor);
    crate::http::optimistic(None, || {
        let (row, level) = find(conn, &scope, deal_id)?;
        if !actor.has(Privilege::EditDealItems) || level < Level::Edit {
            return Err(AppError::forbidden("Deal items need edit_deal_items and edit access to the contact."));
        }
        let before = view(conn, &row, level)?;
        let at = now();
        let bumped = diesel::update(
            deals::table
                .filter(deals::id.eq(&row.id))
                .filter(deals::account_id.eq(scope.account_id().to_owned()))
                .filter(deals::version.eq(row.version))
                .filter(scope.contact_in(deals::contact_id, Level::Edit)),
        )
        .set((deals::version.eq(row.version + 1), deals::updated_at.eq(at)))
        .execute(conn)?;
        if bumped == 0 {
            return Ok(None);
        }
        change(conn, &row)?;
        let next = DealRow { version: row.version + 1, updated_at: at, ..row };
        let after = view(conn, &next, level)?;
        audit::record(conn, &AuditCtx::from(actor), "deal", &next.id, Some(&before), Some(&after))?;
        outbox::derived_changed(conn, actor.account_id(), Derived::Deal, std::slice::from_ref(&next.id), Op::Updated)?;
        Ok(Some(after))
    })
}

/// A deal column that points at another record, moved when that record is deleted.
#[derive(Debug, Clone, Copy)]
pub enum DealLink {
    Owner,
    Organization,
}

impl DealLink {
    fn field(self) -> &'static str {
        match self {
            DealLink::Owner => "owner_id",
            DealLink::Organization => "organization_id",
        }
    }
}

/// How many of the scope's deals (the whole account, for owner/admin) point at `id`.
pub fn count_linked(conn: &mut DbConnection, scope: &ContactScope, link: DealLink, id: &str) -> Result<i64, AppError> {
    let q = deals::table
        .filter(deals::account_id.eq(scope.account_id().to_owned()))
        .filter(scope.contact_in(deals::contact_id, Level::View))
        .into_boxed();
    let q = match link {
        DealLink::Owner => q.filter(deals::owner_id.eq(id.to_owned())),
        DealLink::Organization => q.filter(deals::organization_id.eq(id.to_owned())),
    };
    Ok(q.count().get_result(conn)?)
}

/// Points every deal that points at `from` through `link` at `to`, each with a new
/// version and its own audit entry (SPEC §3). Returns how many moved.
pub fn move_linked(
    conn: &mut DbConnection,
    actor: &Actor,
    link: DealLink,
    from: &str,
    to: Option<&str>,
) -> Result<usize, AppError> {
    let scope = ContactScope::of(actor);
    let at = now();
    let bump = (deals::version.eq(deals::version + 1), deals::updated_at.eq(at));
    // The same statement for each column (diesel types each column apart).
    macro_rules! move_column {
        ($column:expr) => {
            diesel::update(deals::table)
                .filter(deals::account_id.eq(scope.account_id().to_owned()))
                .filter(scope.contact_in(deals::contact_id, Level::Edit))
                .filter($column.eq(from))
                .set(($column.eq(to), bump))
                .returning((deals::id, deals::contact_id))
                .get_results(conn)?
        };
    }
    let moved: Vec<(String, String)> = match link {
        DealLink::Owner => move_column!(deals::owner_id),
        DealLink::Organization => move_column!(deals::organization_id),
    };
    let ids: Vec<String> = moved.iter().map(|(id, _)| id.clone()).collect();
    let rows: Vec<(String, Option<String>)> = moved.into_iter().map(|(id, c)| (id, Some(c))).collect();
    audit::record_moves(conn, &AuditCtx::from(actor), "deal", &rows, link.field(), Some(from), to)?;
    outbox::derived_changed(conn, actor.account_id(), Derived::Deal, &ids, Op::Updated)?;
    Ok(rows.len())
}

/// Deletes the deals of a contact that is being deleted (the caller may delete the
/// contact), each with its own audit entry, items included in what it records.
pub fn delete_for_contact(conn: &mut DbConnection, actor: &Actor, contact_id: &str) -> Result<(), AppError> {
    let scope = ContactScope::of(actor);
    let rows: Vec<(DealRow, i32)> =
        scoped(&scope, Level::Edit).filter(deals::contact_id.eq(contact_id.to_owned())).load(conn)?;
    let rows: Vec<(DealRow, Level)> = rows.into_iter().map(|(r, l)| (r, Level::from_rank(l))).collect();
    let views = views(conn, rows)?;
    let ids: Vec<&String> = views.iter().map(|v| &v.id).collect();
    custom::forget(conn, &ids.iter().map(|s| s.as_str()).collect::<Vec<_>>())?;
    for chunk in ids.chunks(500) {
        diesel::delete(deal_items::table.filter(deal_items::deal_id.eq_any(chunk))).execute(conn)?;
        diesel::delete(
            deals::table
                .filter(deals::id.eq_any(chunk))
                .filter(deals::account_id.eq(scope.account_id().to_owned()))
                .filter(scope.contact_in(deals::contact_id, Level::Edit)),
        )
        .execute(conn)?;
    }
    let ctx = AuditCtx::from(actor);
    let entries = views
        .iter()
        .map(|v| audit::entry::<DealView>(&ctx, "deal", &v.id, Some(v), None))
        .collect::<Result<Vec<_>, _>>()?;
    let entries: Vec<_> = entries.into_iter().flatten().collect();
    crate::db::insert_batch!(conn, crate::db::schema::audit_log::table, &entries)?;
    let gone: Vec<(String, String)> = views.iter().map(|v| (v.id.clone(), contact_id.to_owned())).collect();
    outbox::derived_deleted(conn, actor.account_id(), Derived::Deal, &gone)
}

/// An organization's deals the scope sees (view on their contact), oldest first.
pub fn of_organization(
    conn: &mut DbConnection,
    scope: &ContactScope,
    organization_id: &str,
) -> Result<Vec<DealView>, AppError> {
    let rows: Vec<(DealRow, i32)> = scoped(scope, Level::View)
        .filter(deals::organization_id.eq(organization_id.to_owned()))
        .order(deals::id.asc())
        .load(conn)?;
    views(conn, rows.into_iter().map(|(r, l)| (r, Level::from_rank(l))).collect())
}

/// One page of the deals the scope sees (view on their contact), oldest first, with the
/// bounded total.
pub fn list(
    conn: &mut DbConnection,
    scope: &ContactScope,
    f: &DealFilter,
    keys: &crate::http::PageKeys,
) -> Result<crate::http::PageRows<(DealRow, Level)>, AppError> {
    let filtered = || {
        let mut q = scoped(scope, Level::View);
        if let Some(v) = f.contact_id {
            q = q.filter(deals::contact_id.eq(v.to_string()));
        }
        if let Some(v) = f.organization_id {
            q = q.filter(deals::organization_id.eq(v.to_string()));
        }
        if let Some(v) = &f.stage {
            q = q.filter(deals::stage.eq(v.clone()));
        }
        if let Some(v) = f.status {
            q = q.filter(deals::status.eq(v.as_str()));
        }
        if let Some(v) = f.owner_id {
            q = q.filter(deals::owner_id.eq(v.to_string()));
        }
        for condition in &f.custom {
            q = q.filter(custom::matching(deals::id, condition));
        }
        q
    };
    let (rows, total): (Vec<(DealRow, i32)>, _) =
        crate::db::id_page!(conn, keys, filtered, deals::id, asc, since = deals::updated_at);
    Ok((rows.into_iter().map(|(r, l)| (r, Level::from_rank(l))).collect(), total))
}

/// Count and sum of amounts per stage and currency over exactly the deals the actor can
/// see, in one SQL query; stages in the account's order, retired ones after them.
pub fn pipeline(conn: &mut DbConnection, actor: &Actor) -> Result<Pipeline, AppError> {
    let scope = ContactScope::of(actor);
    // Amounts are summed in two parts (billions and the rest), each of which fits a
    // 64-bit sum for any number of deals; a plain SUM overflows past 9.2e18 minor units
    // (PostgreSQL: numeric out of range of the cast; SQLite: "integer overflow").
    let rows: Vec<(String, String, i64, i64, i64)> = deals::table
        .filter(deals::account_id.eq(actor.account_id()))
        .filter(scope.contact_in(deals::contact_id, Level::View))
        .group_by((deals::stage, deals::currency))
        .select((
            deals::stage,
            deals::currency,
            diesel::dsl::count_star(),
            diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "CAST(COALESCE(SUM(deals.amount / 1000000000), 0) AS BIGINT)",
            ),
            diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "CAST(COALESCE(SUM(deals.amount % 1000000000), 0) AS BIGINT)",
            ),
        ))
        .load(conn)?;
    let stages = account_settings(conn, actor.account_id())?.deal_stages;
    let mut out: Vec<PipelineRow> = rows
        .into_iter()
        .map(|(stage, currency, count, billions, rest)| PipelineRow {
            stage,
            currency,
            count,
            amount: i128::from(billions) * 1_000_000_000 + i128::from(rest),
        })
        .collect();
    // Stages in the account's order; retired stages after them.
    out.sort_by_key(|r| {
        (stages.iter().position(|s| *s == r.stage).unwrap_or(usize::MAX), r.stage.clone(), r.currency.clone())
    });
    Ok(Pipeline { stages: out })
}

/// Adds a line item (`edit_deal_items` and edit on the contact).
pub fn add_item(
    conn: &mut DbConnection,
    actor: &Actor,
    deal_id: &str,
    item_id: &str,
    input: &NewItem,
) -> Result<DealView, AppError> {
    change_items(conn, actor, deal_id, |conn, deal| {
        diesel::insert_into(deal_items::table)
            .values(&ItemRow {
                id: item_id.to_owned(),
                deal_id: deal.id.clone(),
                account_id: deal.account_id.clone(),
                name: input.name.clone(),
                quantity: input.quantity,
                unit_price: input.unit_price,
                created_at: now(),
            })
            .execute(conn)?;
        Ok(())
    })
}

/// Changes a line item of a deal the actor may change items of.
pub fn patch_item(
    conn: &mut DbConnection,
    actor: &Actor,
    deal_id: &str,
    item_id: &str,
    p: &ItemPatch,
) -> Result<DealView, AppError> {
    change_items(conn, actor, deal_id, |conn, deal| {
        let item: ItemRow = deal_items::table
            .filter(deal_items::id.eq(item_id))
            .filter(deal_items::deal_id.eq(&deal.id))
            .first(conn)
            .optional()?
            .ok_or(AppError::NotFound)?;
        diesel::update(deal_items::table.filter(deal_items::id.eq(&item.id)).filter(deal_items::deal_id.eq(&deal.id)))
            .set((
                deal_items::name.eq(p.name.clone().unwrap_or(item.name)),
                deal_items::quantity.eq(p.quantity.unwrap_or(item.quantity)),
                deal_items::unit_price.eq(p.unit_price.unwrap_or(item.unit_price)),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// Removes a line item of a deal the actor may change items of (404 when it is not one).
pub fn delete_item(conn: &mut DbConnection, actor: &Actor, deal_id: &str, item_id: &str) -> Result<DealView, AppError> {
    change_items(conn, actor, deal_id, |conn, deal| {
        let n = diesel::delete(
            deal_items::table.filter(deal_items::id.eq(item_id)).filter(deal_items::deal_id.eq(&deal.id)),
        )
        .execute(conn)?;
        if n == 0 {
            return Err(AppError::NotFound);
        }
        Ok(())
    })
}

/// The deals of `ids` as each of `scopes` sees them (view on their contact), in one
/// statement: `(index of the scope, deal)`; what a scope does not see is absent (the
/// outbox, SPEC §10).
pub fn seen_by(
    conn: &mut DbConnection,
    scopes: &[ContactScope],
    ids: &[String],
) -> Result<Vec<(usize, DealView)>, AppError> {
    use diesel::sql_types::Integer;
    let mut found: Vec<(usize, DealRow, Level)> = Vec::new();
    for chunk in ids.chunks(500) {
        for (g, group) in scopes.chunks(16).enumerate() {
            let parts = group
                .iter()
                .enumerate()
                .map(|(i, scope)| {
                    deals::table
                        .inner_join(contacts::table.on(contacts::id.eq(deals::contact_id)))
                        .filter(deals::account_id.eq(scope.account_id().to_owned()))
                        .filter(scope.at_least(Level::View))
                        .filter(deals::id.eq_any(chunk.to_vec()))
                        .select((((g * 16 + i) as i32).into_sql::<Integer>(), deals::all_columns, scope.level()))
                        .into_boxed()
                })
                .collect();
            let rows: Vec<(i32, DealRow, i32)> = crate::db::UnionAll(parts).load(conn)?;
            found.extend(rows.into_iter().map(|(i, row, rank)| (i as usize, row, Level::from_rank(rank))));
        }
    }
    let (who, rows): (Vec<usize>, Vec<(DealRow, Level)>) = found.into_iter().map(|(i, r, l)| (i, (r, l))).unzip();
    Ok(who.into_iter().zip(views(conn, rows)?).collect())
}
