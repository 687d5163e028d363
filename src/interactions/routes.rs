//! `/v1/notes` and `/v1/calls` handlers: one thin handler per operation (each is its own
//! OpenAPI operation), the shared work in the functions below them.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use uuid::Uuid;

use super::model::*;
use super::queries;
use crate::access::{Actor, ContactScope};
use crate::auth::Caller;
use crate::db;
use crate::error::AppError;
use crate::http::{created, if_match, ok_with_etag, page_by_id, Page, PageParams, Query, ValidJson};
use crate::state::AppState;

async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    kind: Kind,
    filter: InteractionFilter,
    page: PageParams,
) -> Result<Page<InteractionView>, AppError> {
    let keys = page.keys()?;
    db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        let (rows, total) = queries::list(conn, &ContactScope::of(&actor), kind, &filter, &keys)?;
        let views = queries::views(conn, &rows)?;
        Ok(page_by_id(views, keys.limit, total, InteractionView::id))
    })
    .await
}

async fn create(state: web::Data<AppState>, actor: Actor, draft: Draft) -> Result<HttpResponse, AppError> {
    let kind = draft.kind;
    let view = db::write(&state.pool, move |conn| queries::create(conn, &actor, draft)).await?;
    Ok(created(format!("{}/{}", kind.path(), view.id()), Some(view.version()), &view))
}

async fn get_one(state: web::Data<AppState>, caller: Caller, kind: Kind, id: Uuid) -> Result<HttpResponse, AppError> {
    let view = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        let (row, _) = queries::find(conn, &ContactScope::of(&actor), kind, &id.to_string())?;
        queries::view(conn, &row)
    })
    .await?;
    Ok(ok_with_etag(view.version(), &view))
}

async fn change(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    kind: Kind,
    id: Uuid,
    change: Change,
) -> Result<HttpResponse, AppError> {
    let wanted = if_match(&req)?;
    let view =
        db::write(&state.pool, move |conn| queries::change(conn, &actor, kind, &id.to_string(), wanted, &change))
            .await?;
    Ok(ok_with_etag(view.version(), &view))
}

async fn remove(state: web::Data<AppState>, actor: Actor, kind: Kind, id: Uuid) -> Result<HttpResponse, AppError> {
    db::write(&state.pool, move |conn| queries::delete(conn, &actor, kind, &id.to_string())).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Notes on contacts the caller sees at `view` or above, newest first.
///
/// Filter with `contact_id`, `deal_id`, `author_id` and `mentioned` (a user id). Notes of
/// contacts the caller sees at `limited` or not at all are never listed or counted.
#[utoipa::path(
    tag = "notes",
    params(InteractionFilter, PageParams),
    responses(
        (status = 200, body = Page<NoteView>),
        (status = 400, description = "Malformed query or cursor"),
        (status = 401, description = "Missing or invalid token"),
    ),
    security(("bearer" = []))
)]
#[get("/notes")]
pub async fn list_notes(
    state: web::Data<AppState>,
    caller: Caller,
    filter: Query<InteractionFilter>,
    page: Query<PageParams>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(list(state, caller, Kind::Note, filter.into_inner(), page.into_inner()).await?))
}

/// Adds a note to a contact the caller sees at `view` or above.
///
/// Answers 201 with `Location`. `deal_id` must be a deal of the same contact. Every user in
/// `mentions` must be an active user of the account who sees the contact at `view` or above
/// (a focused user: a contact they own), else 422 naming each such user; each is notified
/// (`kind: mention`). A hidden or missing `contact_id` answers 422.
#[utoipa::path(
    tag = "notes",
    request_body = NewNote,
    responses(
        (status = 201, body = NoteView, headers(("Location" = String), ("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "The contact is visible at limited only"),
        (status = 422, description = "Invalid fields; contact not visible; deal not of this contact; a mentioned user who may not open the contact"),
        crate::http::BodyErrors,
    ),
    security(("bearer" = []))
)]
#[post("/notes")]
pub async fn create_note(
    state: web::Data<AppState>,
    actor: Actor,
    body: ValidJson<NewNote>,
) -> Result<HttpResponse, AppError> {
    create(state, actor, Draft::from(body.0)).await
}

/// One note (404 unless the caller sees its contact at `view` or above).
///
/// Send the `ETag` back as `If-Match` on `PATCH /v1/notes/{id}`.
#[utoipa::path(
    tag = "notes",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = NoteView, headers(("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 404, description = "Missing, not visible or another account's"),
    ),
    security(("bearer" = []))
)]
#[get("/notes/{id}")]
pub async fn get_note(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    get_one(state, caller, Kind::Note, id.into_inner()).await
}

/// Changes a note: its author while the author sees the contact at `view`, or `edit` on the
/// contact.
///
/// Partial. `mentions` replaces the list; only users added to it are checked and notified.
/// 412 when `If-Match` is stale or the note changed meanwhile.
#[utoipa::path(
    tag = "notes",
    request_body = NotePatch,
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "ETag from GET")),
    responses(
        (status = 200, body = NoteView, headers(("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Neither the author nor edit on the contact"),
        (status = 404, description = "Missing, not visible or another account's"),
        (status = 412, description = "If-Match does not match"),
        (status = 422, description = "Invalid fields, deal or mentions"),
        crate::http::BodyErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/notes/{id}")]
pub async fn patch_note(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<Uuid>,
    body: ValidJson<NotePatch>,
) -> Result<HttpResponse, AppError> {
    change(req, state, actor, Kind::Note, id.into_inner(), Change::from(body.0)).await
}

/// Deletes a note (its author, or owner/admin).
///
/// Answers 204. `edit` on the contact is not enough to delete someone else's note (403).
#[utoipa::path(
    tag = "notes",
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Neither the author nor owner/admin"),
        (status = 404, description = "Missing, not visible or another account's"),
    ),
    security(("bearer" = []))
)]
#[delete("/notes/{id}")]
pub async fn delete_note(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    remove(state, actor, Kind::Note, id.into_inner()).await
}

/// Calls on contacts the caller sees at `view` or above, newest first.
///
/// Filter with `contact_id`, `deal_id`, `author_id` and `mentioned` (a user id).
#[utoipa::path(
    tag = "calls",
    params(InteractionFilter, PageParams),
    responses(
        (status = 200, body = Page<CallView>),
        (status = 400, description = "Malformed query or cursor"),
        (status = 401, description = "Missing or invalid token"),
    ),
    security(("bearer" = []))
)]
#[get("/calls")]
pub async fn list_calls(
    state: web::Data<AppState>,
    caller: Caller,
    filter: Query<InteractionFilter>,
    page: Query<PageParams>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(list(state, caller, Kind::Call, filter.into_inner(), page.into_inner()).await?))
}

/// Logs a call with a contact the caller sees at `view` or above.
///
/// Answers 201 with `Location`. `result` must be one of the account's `call_results`;
/// `called_at` defaults to now. Mentions as on notes.
#[utoipa::path(
    tag = "calls",
    request_body = NewCall,
    responses(
        (status = 201, body = CallView, headers(("Location" = String), ("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "The contact is visible at limited only"),
        (status = 422, description = "Invalid fields; contact not visible; result not in call_results; deal not of this contact; a mentioned user who may not open the contact"),
        crate::http::BodyErrors,
    ),
    security(("bearer" = []))
)]
#[post("/calls")]
pub async fn create_call(
    state: web::Data<AppState>,
    actor: Actor,
    body: ValidJson<NewCall>,
) -> Result<HttpResponse, AppError> {
    create(state, actor, Draft::from(body.0)).await
}

/// One call (404 unless the caller sees its contact at `view` or above).
///
/// Send the `ETag` back as `If-Match` on `PATCH /v1/calls/{id}`.
#[utoipa::path(
    tag = "calls",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = CallView, headers(("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 404, description = "Missing, not visible or another account's"),
    ),
    security(("bearer" = []))
)]
#[get("/calls/{id}")]
pub async fn get_call(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    get_one(state, caller, Kind::Call, id.into_inner()).await
}

/// Changes a call: its author while the author sees the contact at `view`, or `edit` on the
/// contact.
///
/// Partial; `null` clears `deal_id`, `result` and `duration_seconds`. A `result` that is
/// changed must be one of the current `call_results` (an unchanged retired one stays).
#[utoipa::path(
    tag = "calls",
    request_body = CallPatch,
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "ETag from GET")),
    responses(
        (status = 200, body = CallView, headers(("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Neither the author nor edit on the contact"),
        (status = 404, description = "Missing, not visible or another account's"),
        (status = 412, description = "If-Match does not match"),
        (status = 422, description = "Invalid fields, result, deal or mentions"),
        crate::http::BodyErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/calls/{id}")]
pub async fn patch_call(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<Uuid>,
    body: ValidJson<CallPatch>,
) -> Result<HttpResponse, AppError> {
    change(req, state, actor, Kind::Call, id.into_inner(), Change::from(body.0)).await
}

/// Deletes a call (its author, or owner/admin).
///
/// Answers 204. `edit` on the contact is not enough to delete someone else's call (403).
#[utoipa::path(
    tag = "calls",
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Neither the author nor owner/admin"),
        (status = 404, description = "Missing, not visible or another account's"),
    ),
    security(("bearer" = []))
)]
#[delete("/calls/{id}")]
pub async fn delete_call(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    remove(state, actor, Kind::Call, id.into_inner()).await
}
