//! `/v1/saved-filters` handlers.

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

/// The caller's saved filters and the account's shared ones, oldest first.
///
/// Another member's private filter is never listed, whatever the caller's role.
#[utoipa::path(
    tag = "saved-filters",
    params(SavedFilterFilter, PageParams),
    responses(
        (status = 200, body = Page<SavedFilterView>),
        (status = 400, description = "Malformed query or cursor"),
        (status = 401, description = "Missing or invalid token"),
    ),
    security(("bearer" = []))
)]
#[get("/saved-filters")]
pub async fn list_saved_filters(
    state: web::Data<AppState>,
    caller: Caller,
    filter: Query<SavedFilterFilter>,
    page: Query<PageParams>,
) -> Result<HttpResponse, AppError> {
    let keys = page.keys()?;
    let entity = filter.entity;
    let out = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        let (rows, total) = queries::list(conn, &actor, entity, &keys)?;
        let views = rows.iter().map(SavedFilterView::from).collect();
        Ok(page_by_id(views, keys.limit, total, |f: &SavedFilterView| &f.id))
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Saves a list query under a name (any role).
///
/// `query` holds the parameters of `GET /v1/contacts`, `/v1/deals` or `/v1/actions` (with
/// `cf.<key>` ones for contacts and deals), checked with that list's rules now: an unknown
/// parameter, a paging one or a bad value is a 422 naming `query.<key>` or `query`.
/// `shared: true` shows it to everyone in the account; whoever runs it sees only what their
/// own access allows.
#[utoipa::path(
    tag = "saved-filters",
    request_body = NewSavedFilter,
    responses(
        (status = 201, body = SavedFilterView, headers(("Location" = String), ("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 422, description = "Invalid name, entity or query"),
        crate::http::BodyErrors,
    ),
    security(("bearer" = []))
)]
#[post("/saved-filters")]
pub async fn create_saved_filter(
    state: web::Data<AppState>,
    actor: Actor,
    body: ValidJson<NewSavedFilter>,
) -> Result<HttpResponse, AppError> {
    let input = body.0;
    let view = db::write(&state.pool, move |conn| queries::create(conn, &actor, input)).await?;
    Ok(created(format!("/v1/saved-filters/{}", view.id), Some(view.version), &view))
}

/// One saved filter: the caller's own, or a shared one (404 otherwise).
///
/// Send the `ETag` back as `If-Match` on PATCH.
#[utoipa::path(
    tag = "saved-filters",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = SavedFilterView, headers(("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 404, description = "Missing, another member's private filter, or another account's"),
    ),
    security(("bearer" = []))
)]
#[get("/saved-filters/{id}")]
pub async fn get_saved_filter(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    let row = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        queries::find(conn, &actor, &id)
    })
    .await?;
    Ok(ok_with_etag(row.version, &SavedFilterView::from(&row)))
}

/// Changes a saved filter: its owner, or owner/admin on a shared one.
///
/// Partial; `query` replaces the whole query and is checked as on create. 403 for anyone else
/// on a shared filter; another member's private filter is a 404.
#[utoipa::path(
    tag = "saved-filters",
    request_body = SavedFilterPatch,
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "ETag from GET")),
    responses(
        (status = 200, body = SavedFilterView, headers(("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "A shared filter of someone else, and not owner/admin"),
        (status = 404, description = "Missing, another member's private filter, or another account's"),
        (status = 412, description = "If-Match does not match"),
        (status = 422, description = "Invalid name or query"),
        crate::http::BodyErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/saved-filters/{id}")]
pub async fn patch_saved_filter(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<Uuid>,
    body: ValidJson<SavedFilterPatch>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    let wanted = if_match(&req)?;
    let patch = body.0;
    let view = db::write(&state.pool, move |conn| queries::update(conn, &actor, &id, wanted, &patch)).await?;
    Ok(ok_with_etag(view.version, &view))
}

/// Deletes a saved filter: its owner, or owner/admin on a shared one.
///
/// Answers 204. Deleting a user deletes their filters, shared ones included.
#[utoipa::path(
    tag = "saved-filters",
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "A shared filter of someone else, and not owner/admin"),
        (status = 404, description = "Missing, another member's private filter, or another account's"),
    ),
    security(("bearer" = []))
)]
#[delete("/saved-filters/{id}")]
pub async fn delete_saved_filter(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    db::write(&state.pool, move |conn| queries::delete(conn, &actor, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Runs a saved filter under the caller's own access: one page, the same shape as the list
/// it runs (`GET /v1/contacts`, `/v1/deals` or `/v1/actions`).
///
/// What the filter's author could see plays no part: a focused user running a shared
/// filter gets only the contacts they own. 409 when the saved query no longer applies (a
/// custom field it names was deleted).
#[utoipa::path(
    tag = "saved-filters",
    params(("id" = Uuid, Path), PageParams),
    responses(
        (status = 200, body = SavedFilterResults),
        (status = 400, description = "Malformed paging or cursor"),
        (status = 401, description = "Missing or invalid token"),
        (status = 404, description = "Missing, another member's private filter, or another account's"),
        (status = 409, description = "The saved query no longer applies"),
    ),
    security(("bearer" = []))
)]
#[get("/saved-filters/{id}/results")]
pub async fn saved_filter_results(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    page: Query<PageParams>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    let page = page.into_inner();
    let sealer = state.sealer.clone();
    let out = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        queries::run(conn, &actor, &id, &page, &sealer)
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}
