//! `/v1/actions` handlers.

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

/// Actions whose contact the caller sees at `view` or above, oldest first.
///
/// Filter with `contact_id`, `assignee_id`, `status` and `due_before`. Actions of contacts the
/// caller sees at `limited` or not at all are never listed or counted. Pass `next_cursor` back
/// as `cursor` for the next page.
#[utoipa::path(
    tag = "actions",
    params(ActionFilter, PageParams),
    responses(
        (status = 200, body = Page<ActionView>),
        (status = 400, description = "Malformed query or cursor"),
        (status = 401, description = "Missing or invalid token"),
    ),
    security(("bearer" = []))
)]
#[get("/actions")]
pub async fn list_actions(
    state: web::Data<AppState>,
    caller: Caller,
    filter: Query<ActionFilter>,
    page: Query<PageParams>,
) -> Result<HttpResponse, AppError> {
    let keys = page.keys()?;
    let out = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        let (rows, total) = queries::list(conn, &ContactScope::of(&actor), &filter, &keys)?;
        Ok(page_by_id(rows.iter().map(ActionView::from).collect(), keys.limit, total, |a: &ActionView| &a.id))
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Creates an action on a contact the caller sees at `view` or above.
///
/// Answers 201 with `Location`. Without `assignee_id` the caller is the assignee. The assignee
/// must be an active user of the account, and a focused assignee must own the contact (422). A
/// hidden or missing `contact_id` answers 422, so its existence is not revealed.
#[utoipa::path(
    tag = "actions",
    request_body = NewAction,
    responses(
        (status = 201, body = ActionView, headers(("Location" = String), ("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "The contact is visible at limited only"),
        (status = 422, description = "Invalid fields; contact not visible; assignee inactive, foreign, or focused without owning the contact"),
        crate::http::BodyErrors,
    ),
    security(("bearer" = []))
)]
#[post("/actions")]
pub async fn create_action(
    state: web::Data<AppState>,
    actor: Actor,
    body: ValidJson<NewAction>,
) -> Result<HttpResponse, AppError> {
    let input = body.0;
    let view = db::write(&state.pool, move |conn| queries::create(conn, &actor, input)).await?;
    Ok(created(format!("/v1/actions/{}", view.id), Some(view.version), &view))
}

/// One action (404 unless the caller sees its contact at `view` or above).
///
/// Send the `ETag` back as `If-Match` on `PATCH /v1/actions/{id}`.
#[utoipa::path(
    tag = "actions",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = ActionView, headers(("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 404, description = "Missing, not visible or another account's"),
    ),
    security(("bearer" = []))
)]
#[get("/actions/{id}")]
pub async fn get_action(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    let (row, _) = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        queries::find(conn, &ContactScope::of(&actor), &id)
    })
    .await?;
    Ok(ok_with_etag(row.version, &ActionView::from(&row)))
}

/// Changes an action (the assignee, or edit on the contact).
///
/// Partial. `status: done` stamps `completed_at`, back to `open` clears it. A new assignee gets
/// the same checks as on create (422). 412 when `If-Match` is stale or the action changed
/// meanwhile.
#[utoipa::path(
    tag = "actions",
    request_body = ActionPatch,
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "ETag from GET")),
    responses(
        (status = 200, body = ActionView, headers(("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Neither the assignee nor edit on the contact"),
        (status = 404, description = "Missing, not visible or another account's"),
        (status = 412, description = "If-Match does not match"),
        (status = 422, description = "Invalid fields or assignee"),
        crate::http::BodyErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/actions/{id}")]
pub async fn patch_action(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<Uuid>,
    body: ValidJson<ActionPatch>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    let wanted = if_match(&req)?;
    let p = body.0;
    let view = db::write(&state.pool, move |conn| {
        queries::change(conn, &actor, &id, wanted, |row| {
            if let Some(a) = p.assignee_id {
                row.assignee_id = Some(a.to_string());
            }
            if let Some(t) = &p.text {
                row.text = t.clone();
            }
            if let Some(d) = p.due_date {
                row.due_date = d.map(|d| d.to_string());
            }
            if let Some(s) = p.status {
                set_status(row, s);
            }
        })
    })
    .await?;
    Ok(ok_with_etag(view.version, &view))
}

/// Marks an action done (the assignee, or edit on the contact); idempotent.
///
/// Answers the action with `status: done`; `completed_at` is kept when it was done already. 403
/// for a caller who is neither the assignee nor at `edit` on the contact.
#[utoipa::path(
    tag = "actions",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = ActionView),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Neither the assignee nor edit on the contact"),
        (status = 404, description = "Missing, not visible or another account's"),
    ),
    security(("bearer" = []))
)]
#[post("/actions/{id}/complete")]
pub async fn complete_action(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    let view = db::write(&state.pool, move |conn| {
        queries::change(conn, &actor, &id, None, |row| set_status(row, ActionStatus::Done))
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Deletes an action (edit on the contact).
///
/// Answers 204. Being the assignee is not enough: it needs `edit` on the contact (403
/// otherwise).
#[utoipa::path(
    tag = "actions",
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Visible, but below edit on the contact"),
        (status = 404, description = "Missing, not visible or another account's"),
    ),
    security(("bearer" = []))
)]
#[delete("/actions/{id}")]
pub async fn delete_action(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    db::write(&state.pool, move |conn| queries::delete(conn, &actor, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}
