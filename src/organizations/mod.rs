//! Organizations (companies). Owner, admin and user see all of the account's; a focused
//! user sees those with at least one contact they own.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::access::{Actor, ContactScope, Level, Role};
use crate::audit::{self, AuditCtx};
use crate::auth::Caller;
use crate::contacts::list::like_pattern;
use crate::contacts::model::ContactOut;
use crate::contacts::queries::ContactLink;
use crate::db::schema::{contacts, deals, organizations as orgs};
use crate::db::{self, DbConnection, MultiBackend};
use crate::deals::model::{DealRow, DealView};
use crate::deals::queries::DealLink;
use crate::error::AppError;
use crate::http::{
    created, double_option, if_match, new_id, now, ok_with_etag, page_by_id, utc, Page, PageParams, ValidJson,
};
use crate::state::AppState;

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = orgs)]
pub struct OrgRow {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub website: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub version: i64,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrganizationView {
    pub id: String,
    pub name: String,
    pub website: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl From<&OrgRow> for OrganizationView {
    fn from(r: &OrgRow) -> Self {
        OrganizationView {
            id: r.id.clone(),
            name: r.name.clone(),
            website: r.website.clone(),
            phone: r.phone.clone(),
            address: r.address.clone(),
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
            version: r.version,
        }
    }
}

/// `GET /v1/organizations/{id}`: the organization with what the caller may see of it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrganizationDetail {
    #[serde(flatten)]
    pub organization: OrganizationView,
    /// Its contacts the caller can see (`limited` ones with the basic fields only).
    pub contacts: Vec<ContactOut>,
    /// Its deals the caller can see.
    pub deals: Vec<DealView>,
    /// How many of its contacts the caller cannot see.
    pub hidden_contacts_count: i64,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrganization {
    #[schema(min_length = 1, max_length = 200)]
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters long"))]
    pub name: String,
    #[schema(max_length = 500)]
    #[validate(length(max = 500, message = "must be at most 500 characters long"))]
    pub website: Option<String>,
    #[schema(max_length = 50)]
    #[validate(length(max = 50, message = "must be at most 50 characters long"))]
    pub phone: Option<String>,
    #[schema(max_length = 500)]
    #[validate(length(max = 500, message = "must be at most 500 characters long"))]
    pub address: Option<String>,
}

#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganizationPatch {
    #[schema(min_length = 1, max_length = 200)]
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters long"))]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    #[schema(max_length = 500)]
    #[validate(length(max = 500, message = "must be at most 500 characters long"))]
    pub website: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    #[schema(max_length = 50)]
    #[validate(length(max = 50, message = "must be at most 50 characters long"))]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    #[schema(max_length = 500)]
    #[validate(length(max = 500, message = "must be at most 500 characters long"))]
    pub address: Option<Option<String>>,
}

#[derive(Debug, Deserialize, IntoParams, validator::Validate)]
#[into_params(parameter_in = Query)]
pub struct OrganizationFilter {
    /// Substring of the name (case-insensitive for ASCII letters).
    #[param(max_length = 200)]
    #[validate(length(max = 200, message = "must be at most 200 characters long"))]
    pub q: Option<String>,
}

/// The organizations the actor sees.
fn visible(actor: &Actor) -> orgs::BoxedQuery<'static, MultiBackend> {
    let q = orgs::table.filter(orgs::account_id.eq(actor.account_id().to_owned())).into_boxed();
    if actor.role() == Role::Focused {
        q.filter(ContactScope::of(actor).organization_in(orgs::id, Level::Limited))
    } else {
        q
    }
}

fn find(conn: &mut DbConnection, actor: &Actor, id: &str) -> Result<OrgRow, AppError> {
    visible(actor).filter(orgs::id.eq(id.to_owned())).first(conn).optional()?.ok_or(AppError::NotFound)
}

/// Organizations the caller can see, oldest first.
///
/// Owner, admin and user see every organization of the account; a focused user only those with
/// a contact they own. `q` filters by name; pass `next_cursor` back as `cursor` for the next
/// page.
#[utoipa::path(
    tag = "organizations",
    params(OrganizationFilter, PageParams),
    responses(
        (status = 200, body = Page<OrganizationView>),
        (status = 400, description = "Malformed query or cursor"),
        (status = 401, description = "Missing or invalid token"),
    ),
    security(("bearer" = []))
)]
#[get("/organizations")]
pub async fn list_organizations(
    state: web::Data<AppState>,
    caller: Caller,
    filter: crate::http::Query<OrganizationFilter>,
    page: crate::http::Query<PageParams>,
) -> Result<HttpResponse, AppError> {
    let (limit, after, with_total) = (page.limit(), page.after_id()?, page.with_total.unwrap_or(false));
    let q_text = filter.into_inner().q.filter(|q| !q.trim().is_empty());
    let out = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        let filtered = || {
            let mut q = visible(&actor);
            if let Some(text) = &q_text {
                q = q.filter(crate::db::lower(orgs::name.nullable()).like(like_pattern(text.trim())).escape('\\'));
            }
            q
        };
        let total = with_total.then(|| crate::db::bounded_total(conn, filtered().select(orgs::id))).transpose()?;
        let mut q = filtered();
        if let Some(after) = after {
            q = q.filter(orgs::id.gt(crate::db::Opaque::new(after)));
        }
        let rows: Vec<OrgRow> = crate::db::Limit(q.order(orgs::id.asc()), limit + 1).load(conn)?;
        Ok(page_by_id(rows.iter().map(OrganizationView::from).collect(), limit, total, |o: &OrganizationView| &o.id))
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Creates an organization (any role).
///
/// Answers 201 with the organization and its `Location`. Link contacts and deals to it through
/// their `organization_id`.
#[utoipa::path(
    tag = "organizations",
    request_body = NewOrganization,
    responses(
        (status = 201, body = OrganizationView, headers(("Location" = String))),
        (status = 400, description = "Malformed JSON"),
        (status = 401, description = "Missing or invalid token"),
        (status = 413, description = "Body too large"),
        (status = 415, description = "Body is not JSON"),
        (status = 422, description = "Invalid or unknown fields"),
    ),
    security(("bearer" = []))
)]
#[post("/organizations")]
pub async fn create_organization(
    state: web::Data<AppState>,
    actor: Actor,
    body: ValidJson<NewOrganization>,
) -> Result<HttpResponse, AppError> {
    let input = body.0;
    let view = db::write(&state.pool, move |conn| {
        let at = now();
        let row = OrgRow {
            id: new_id(),
            account_id: actor.account_id().to_owned(),
            name: input.name,
            website: input.website,
            phone: input.phone,
            address: input.address,
            version: 1,
            created_at: at,
            updated_at: at,
        };
        diesel::insert_into(orgs::table).values(&row).execute(conn)?;
        let view = OrganizationView::from(&row);
        audit::record(conn, &AuditCtx::from(&actor), "organization", &row.id, None, Some(&view))?;
        Ok(view)
    })
    .await?;
    Ok(created(format!("/v1/organizations/{}", view.id), &view))
}

/// The organization with its contacts and deals as the caller may see them, and how many
/// of its contacts the caller cannot see.
///
/// Contacts come as in `GET /v1/contacts` (full, or the basic fields at `limited`); deals only
/// where the caller sees their contact at `view` or above. 404 when the caller cannot see the
/// organization, e.g. a focused user who owns none of its contacts.
#[utoipa::path(
    tag = "organizations",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = OrganizationDetail, headers(("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 404, description = "Missing, not visible or another account's"),
    ),
    security(("bearer" = []))
)]
#[get("/organizations/{id}")]
pub async fn get_organization(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    let detail = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        let org = find(conn, &actor, &id)?;
        let scope = ContactScope::of(&actor);
        let rows: Vec<(crate::contacts::model::ContactRow, i32)> = scope
            .contacts()
            .filter(contacts::organization_id.eq(org.id.clone()))
            .order(contacts::id.asc())
            .select((contacts::all_columns, scope.level()))
            .load(conn)?;
        let all: i64 = contacts::table
            .filter(contacts::account_id.eq(actor.account_id()))
            .filter(contacts::organization_id.eq(&org.id))
            .count()
            .get_result(conn)?;
        let hidden_contacts_count = all - rows.len() as i64;
        let contacts =
            crate::contacts::queries::project_all(rows.into_iter().map(|(r, l)| (r, Level::from_rank(l))).collect());
        let deal_rows: Vec<(DealRow, i32)> = crate::deals::queries::scoped(&scope, Level::View)
            .filter(deals::organization_id.eq(org.id.clone()))
            .order(deals::id.asc())
            .load(conn)?;
        let deals =
            crate::deals::queries::views(conn, deal_rows.into_iter().map(|(r, l)| (r, Level::from_rank(l))).collect())?;
        Ok(OrganizationDetail { organization: OrganizationView::from(&org), contacts, deals, hidden_contacts_count })
    })
    .await?;
    Ok(ok_with_etag(detail.organization.version, &detail))
}

/// Edits an organization (owner, admin, user).
///
/// Partial: `null` clears `website`, `phone` or `address`. 403 for focused users; 412 when
/// `If-Match` is stale or the organization changed meanwhile.
#[utoipa::path(
    tag = "organizations",
    request_body = OrganizationPatch,
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "ETag from GET")),
    responses(
        (status = 200, body = OrganizationView, headers(("ETag" = String))),
        (status = 400, description = "Malformed JSON"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Focused users may not edit organizations"),
        (status = 404, description = "Missing, not visible or another account's"),
        (status = 412, description = "If-Match does not match"),
        (status = 413, description = "Body too large"),
        (status = 415, description = "Body is not JSON"),
        (status = 422, description = "Invalid or unknown fields"),
    ),
    security(("bearer" = []))
)]
#[patch("/organizations/{id}")]
pub async fn patch_organization(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<Uuid>,
    body: ValidJson<OrganizationPatch>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    let wanted = if_match(&req)?;
    let p = body.0;
    let view = db::write(&state.pool, move |conn| {
        crate::http::optimistic(wanted, || {
            let before = find(conn, &actor, &id)?;
            if wanted.is_some_and(|v| v != before.version) {
                return Err(AppError::PreconditionFailed);
            }
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
            if (&next.name, &next.website, &next.phone, &next.address)
                == (&before.name, &before.website, &before.phone, &before.address)
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
                orgs::version.eq(next.version),
                orgs::updated_at.eq(next.updated_at),
            ))
            .execute(conn)?;
            if n == 0 {
                return Ok(None);
            }
            let (old, new) = (OrganizationView::from(&before), OrganizationView::from(&next));
            audit::record(conn, &AuditCtx::from(&actor), "organization", &next.id, Some(&old), Some(&new))?;
            Ok(Some(new))
        })
    })
    .await?;
    Ok(ok_with_etag(view.version, &view))
}

/// Deletes an organization (owner/admin). Its contacts and deals stay, unlinked
/// (`organization_id` becomes null), each with a new version and its own audit entry, in
/// the deletion's transaction; they are never deleted with it.
///
/// Answers 204. 403 for user and focused roles, even on an organization they can see.
#[utoipa::path(
    tag = "organizations",
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted; its contacts and deals are unlinked"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Only owner or admin delete organizations"),
        (status = 404, description = "Missing, not visible or another account's"),
    ),
    security(("bearer" = []))
)]
#[delete("/organizations/{id}")]
pub async fn delete_organization(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    db::write(&state.pool, move |conn| {
        let before = find(conn, &actor, &id)?;
        actor.require_manager()?;
        crate::contacts::queries::move_linked(conn, &actor, ContactLink::Organization, &before.id, None)?;
        crate::deals::queries::move_linked(conn, &actor, DealLink::Organization, &before.id, None)?;
        let n = diesel::delete(
            orgs::table.filter(orgs::id.eq(&before.id)).filter(orgs::account_id.eq(actor.account_id().to_owned())),
        )
        .execute(conn)?;
        if n == 0 {
            return Err(AppError::NotFound);
        }
        audit::record::<OrganizationView>(
            conn,
            &AuditCtx::from(&actor),
            "organization",
            &before.id,
            Some(&OrganizationView::from(&before)),
            None,
        )
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
