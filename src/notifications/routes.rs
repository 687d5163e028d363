//! `/v1/notifications` handlers.

use actix_web::{get, post, web, HttpResponse};
use uuid::Uuid;

use super::model::*;
use super::queries;
use crate::access::Actor;
use crate::auth::Caller;
use crate::db;
use crate::error::AppError;
use crate::http::{page_by_id, Page, PageParams, Query};
use crate::state::AppState;

/// The caller's notifications, newest first.
///
/// `unread=true` leaves out the read ones. A notification about a contact is listed only while
/// the caller can still see that contact. Pass `next_cursor` back as `cursor` for older ones.
#[utoipa::path(
    tag = "notifications",
    params(PageParams, NotificationFilter),
    responses(
        (status = 200, body = Page<Notification>),
        (status = 400, description = "Malformed query or cursor"),
        (status = 401, description = "Missing or invalid token"),
    ),
    security(("bearer" = []))
)]
#[get("/notifications")]
pub async fn list_notifications(
    state: web::Data<AppState>,
    caller: Caller,
    page: Query<PageParams>,
    filter: Query<NotificationFilter>,
) -> Result<HttpResponse, AppError> {
    let keys = page.keys()?;
    let unread = filter.unread.unwrap_or(false);
    let out = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        let (rows, total) = queries::list(conn, &actor, unread, &keys)?;
        Ok(page_by_id(rows.into_iter().map(Notification::from).collect(), keys.limit, total, |x: &Notification| &x.id))
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Marks one of the caller's notifications read (idempotent).
///
/// Answers the notification with `read_at` set; a second call keeps the first `read_at`.
/// Another user's notification answers 404, like a missing one.
#[utoipa::path(
    tag = "notifications",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Notification),
        (status = 401, description = "Missing or invalid token"),
        (status = 404, description = "Not one of the caller's notifications"),
    ),
    security(("bearer" = []))
)]
#[post("/notifications/{id}/read")]
pub async fn read_notification(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    let out = db::write(&state.pool, move |conn| queries::mark_read(conn, &actor, &id)).await?;
    Ok(HttpResponse::Ok().json(out))
}
