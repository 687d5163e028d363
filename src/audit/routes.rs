//! `GET /v1/audit`.

use actix_web::{get, web, HttpResponse};
use diesel::prelude::*;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{AuditEntry, AuditRow};
use crate::access::{Actor, ContactScope, Privilege, Role};
use crate::auth::Caller;
use crate::db::schema::audit_log;
use crate::db::{self};
use crate::error::AppError;
use crate::http::{page_by_id, Page, PageParams};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams, validator::Validate)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// Only entries about this kind of entity (`user`, `office`, `account`, …).
    #[param(max_length = 50)]
    #[validate(length(max = 50, message = "must be at most 50 characters long"))]
    pub entity_type: Option<String>,
    /// Only entries about this entity.
    #[param(max_length = 100)]
    #[validate(length(max = 100, message = "must be at most 100 characters long"))]
    pub entity_id: Option<String>,
}

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
    page: crate::http::Query<PageParams>,
    filter: crate::http::Query<AuditFilter>,
) -> Result<HttpResponse, AppError> {
    let limit = page.limit();
    let after = page.after_id()?;
    let with_total = page.with_total.unwrap_or(false);
    let filter = filter.into_inner();
    let result = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        let scope = ContactScope::of(&actor);
        let scoped = || {
            let mut q = scope.audit_entries();
            if !actor.is_manager() {
                // Their own entries, of those they may still read.
                q = q.filter(audit_log::actor_id.eq(actor.user_id().to_owned()));
            }
            if let Some(t) = &filter.entity_type {
                q = q.filter(audit_log::entity_type.eq(t.clone()));
            }
            if let Some(id) = &filter.entity_id {
                q = q.filter(audit_log::entity_id.eq(id.clone()));
            }
            q
        };
        let total = with_total.then(|| crate::db::bounded_total(conn, scoped().select(audit_log::id))).transpose()?;
        let mut q = scoped();
        if let Some(after) = after {
            q = q.filter(audit_log::id.lt(crate::db::Opaque::new(after)));
        }
        let rows: Vec<AuditRow> = crate::db::Limit(q.order(audit_log::id.desc()), limit + 1).load(conn)?;
        let entries: Vec<AuditEntry> = rows.into_iter().map(AuditEntry::from).collect();
        Ok(page_by_id(entries, limit, total, |e| &e.id))
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
    page: crate::http::Query<PageParams>,
    filter: crate::http::Query<AuditFilter>,
) -> Result<HttpResponse, AppError> {
    if actor.role() == Role::Focused || !actor.has(Privilege::ViewActivity) {
        return Err(AppError::forbidden("The activity stream needs the view_activity privilege."));
    }
    let limit = page.limit();
    let after = page.after_id()?;
    let with_total = page.with_total.unwrap_or(false);
    let filter = filter.into_inner();
    let result = db::run(&state.pool, move |conn| {
        let scope = ContactScope::of(&actor);
        let scoped = || {
            let mut q = scope.audit_entries();
            if let Some(t) = &filter.entity_type {
                q = q.filter(audit_log::entity_type.eq(t.clone()));
            }
            if let Some(id) = &filter.entity_id {
                q = q.filter(audit_log::entity_id.eq(id.clone()));
            }
            q
        };
        let total = with_total.then(|| crate::db::bounded_total(conn, scoped().select(audit_log::id))).transpose()?;
        let mut q = scoped();
        if let Some(after) = after {
            q = q.filter(audit_log::id.lt(crate::db::Opaque::new(after)));
        }
        let rows: Vec<AuditRow> = crate::db::Limit(q.order(audit_log::id.desc()), limit + 1).load(conn)?;
        Ok(page_by_id(rows.into_iter().map(AuditEntry::from).collect(), limit, total, |e: &AuditEntry| &e.id))
    })
    .await?;
    Ok(HttpResponse::Ok().json(result))
}
