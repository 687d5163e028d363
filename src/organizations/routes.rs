//! `/v1/organizations` handlers.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use uuid::Uuid;

use super::model::*;
use super::queries;
use crate::access::Actor;
use crate::auth::Caller;
use crate::db;
use crate::error::AppError;
use crate::http::{created, if_match, ok_with_etag, page_by_id, Page, PageParams, Query, ValidJson};
use crate::state::AppState;

/// Organizations the caller can see, oldest first.
///
/// Owner, admin and user see every organization of the account; a focused user only those with
/// a contact they own. `q` filters by name, `cf.<key>` (and `.gte`/`.lte` for number and date
/// fields) by custom field, as on the contact list; pass `next_cursor` back as `cursor` for
/// the next page.
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
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    filter: Query<OrganizationFilter>,
    page: Query<PageParams>,
) -> Result<HttpResponse, AppError> {
    let keys = page.keys()?;
    let q_text = filter.into_inner().q.filter(|q| !q.trim().is_empty());
    let raw = crate::custom_fields::queries::parse_conditions(req.query_string())?;
    let out = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        let entity = crate::custom_fields::model::Entity::Organization;
        let conditions = crate::custom_fields::queries::resolve(conn, actor.account_id(), entity, &raw)?;
        let (rows, total) = queries::list(conn, &actor, q_text.as_deref(), &conditions, &keys)?;
        let views = rows.iter().map(OrganizationView::from).collect();
        Ok(page_by_id(views, keys.limit, total, |o: &OrganizationView| &o.id))
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
        (status = 201, body = OrganizationView, headers(("Location" = String), ("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 422, description = "Invalid or unknown fields"),
        crate::http::BodyErrors,
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
    let view = db::write(&state.pool, move |conn| queries::create(conn, &actor, input)).await?;
    Ok(created(format!("/v1/organizations/{}", view.id), Some(view.version), &view))
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
        queries::detail(conn, &actor, &id)
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
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Focused users may not edit organizations"),
        (status = 404, description = "Missing, not visible or another account's"),
        (status = 412, description = "If-Match does not match"),
        (status = 422, description = "Invalid or unknown fields"),
        crate::http::BodyErrors,
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
    let view = db::write(&state.pool, move |conn| queries::update(conn, &actor, &id, &p, wanted)).await?;
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
    db::write(&state.pool, move |conn| queries::delete(conn, &actor, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}
