//! The caller's own notifications.

use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::access::{Actor, ContactScope, Level};
use crate::auth::Caller;
use crate::db::schema::notifications as n;
use crate::db::{self, DbConnection, MultiBackend};
use crate::error::AppError;
use crate::http::{now, page_by_id, utc, Page, PageParams};
use crate::state::AppState;

#[derive(Debug, Queryable)]
struct NotificationRow {
    id: String,
    _account_id: String,
    _user_id: String,
    kind: String,
    message: String,
    entity_type: String,
    entity_id: String,
    read_at: Option<chrono::NaiveDateTime>,
    created_at: chrono::NaiveDateTime,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Notification {
    pub id: String,
    /// e.g. `duplicate_email`
    pub kind: String,
    pub message: String,
    pub entity_type: String,
    pub entity_id: String,
    pub read_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub created_at: DateTime<Utc>,
}

impl From<NotificationRow> for Notification {
    fn from(r: NotificationRow) -> Self {
        Notification {
            id: r.id,
            kind: r.kind,
            message: r.message,
            entity_type: r.entity_type,
            entity_id: r.entity_id,
            read_at: r.read_at.map(utc),
            created_at: utc(r.created_at),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams, validator::Validate)]
#[into_params(parameter_in = Query)]
pub struct NotificationFilter {
    /// Only unread notifications.
    pub unread: Option<bool>,
}

/// The caller's notifications. One about a contact shows only while the caller can still
/// see that contact.
fn mine(actor: &Actor) -> n::BoxedQuery<'static, MultiBackend> {
    let visible = ContactScope::of(actor).contact_in(n::entity_id, Level::Limited);
    n::table
        .filter(n::account_id.eq(actor.account_id().to_owned()))
        .filter(n::user_id.eq(actor.user_id().to_owned()))
        .filter(n::entity_type.ne("contact").or(visible))
        .into_boxed()
}

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
    page: crate::http::Query<PageParams>,
    filter: crate::http::Query<NotificationFilter>,
) -> Result<HttpResponse, AppError> {
    let (limit, after, with_total) = (page.limit(), page.after_id()?, page.with_total.unwrap_or(false));
    let unread = filter.unread.unwrap_or(false);
    let out = db::run(&state.pool, move |conn: &mut DbConnection| {
        let actor = caller.load(conn)?;
        let scoped = || {
            let q = mine(&actor);
            if unread {
                q.filter(n::read_at.is_null())
            } else {
                q
            }
        };
        let total = with_total.then(|| crate::db::bounded_total(conn, scoped().select(n::id))).transpose()?;
        let mut q = scoped();
        if let Some(after) = after {
            q = q.filter(n::id.lt(crate::db::Opaque::new(after)));
        }
        let rows: Vec<NotificationRow> = crate::db::Limit(q.order(n::id.desc()), limit + 1).load(conn)?;
        Ok(page_by_id(rows.into_iter().map(Notification::from).collect(), limit, total, |x: &Notification| &x.id))
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
    let out = db::write(&state.pool, move |conn| {
        let row: NotificationRow =
            mine(&actor).filter(n::id.eq(id.clone())).first(conn).optional()?.ok_or(AppError::NotFound)?;
        if row.read_at.is_some() {
            return Ok(Notification::from(row));
        }
        let at = now();
        diesel::update(n::table.filter(n::id.eq(&row.id))).set(n::read_at.eq(Some(at))).execute(conn)?;
        Ok(Notification::from(NotificationRow { read_at: Some(at), ..row }))
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}
