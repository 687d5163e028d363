//! `GET /v1/audit` and `GET /v1/activity`.

use actix_web::{get, web, HttpResponse};

use super::{queries, AuditEntry, AuditFilter};
use crate::access::{Actor, ContactScope, Privilege, Reach};
use crate::auth::Caller;
use crate::db;
use crate::error::AppError;
use crate::http::{page_by_id, Page, PageParams, Query};
use crate::state::AppState;

/// The audit log, newest first. Owner and admin see every entry of the account; everyone
/// else sees only the entries they caused, and of those about a contact or its deals and
/// actions only the ones whose contact they can still see at `view` or above.
///
/// Any role. Filter with `entity_type` and `entity_id`. Each entry names the actor, the action
/// (`create`, `update` or `delete`) and per changed field `{old, new}`; passwords are never
/// shown. Pass `next_cursor` back as `cursor` for older entries.
#[utoipa::path(
    tag = "audit",
    params(PageParams, AuditFilter),
    responses(
        (status = 200, body = Page<AuditEntry>),
        (status = 400, description = "Malformed query or cursor"),
        (status = 401, description = "Missing or invalid token"),
    ),
    security(("bearer" = []))
)]
#[get("/audit")]
pub async fn list_audit(
    state: web::Data<AppState>,
    caller: Caller,
    page: Query<PageParams>,
    filter: Query<AuditFilter>,
) -> Result<HttpResponse, AppError> {
    let keys = page.keys()?;
    let result = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        // Non-managers read their own entries only, of those they may still read.
        let own = (!actor.is_manager()).then(|| actor.user_id().to_owned());
        let (rows, total) = queries::list(conn, &ContactScope::of(&actor), own.as_deref(), &filter, &keys)?;
        Ok(page_by_id(rows.into_iter().map(AuditEntry::from).collect(), keys.limit, total, |e: &AuditEntry| &e.id))
    })
    .await?;
    Ok(HttpResponse::Ok().json(result))
}

/// The account's activity stream, newest first: owner/admin see every entry; a user with
/// `view_activity` sees the entries about records they can see, so an entry about a
/// contact (or its deals and actions) below `view` for them is left out. Focused users
/// never see it.
///
/// The entries and filters of `GET /v1/audit`, but every user's, not only the caller's. 403 for
/// focused users and for users without `view_activity`.
#[utoipa::path(
    tag = "audit",
    params(PageParams, AuditFilter),
    responses(
        (status = 200, body = Page<AuditEntry>),
        (status = 400, description = "Malformed query or cursor"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Needs owner/admin or view_activity (never for focused users)"),
    ),
    security(("bearer" = []))
)]
#[get("/activity")]
pub async fn activity(
    state: web::Data<AppState>,
    actor: Actor,
    page: Query<PageParams>,
    filter: Query<AuditFilter>,
) -> Result<HttpResponse, AppError> {
    let allowed = match actor.role().activity() {
        Reach::All => true,
        Reach::Privilege => actor.has(Privilege::ViewActivity),
        _ => false,
    };
    if !allowed {
        return Err(AppError::forbidden("The activity stream needs the view_activity privilege."));
    }
    let keys = page.keys()?;
    let result = db::run(&state.pool, move |conn| {
        let (rows, total) = queries::list(conn, &ContactScope::of(&actor), None, &filter, &keys)?;
        Ok(page_by_id(rows.into_iter().map(AuditEntry::from).collect(), keys.limit, total, |e: &AuditEntry| &e.id))
    })
    .await?;
    Ok(HttpResponse::Ok().json(result))
}
