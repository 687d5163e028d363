//! `/v1/account` and `/v1/account/transfer-ownership`.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::*;
use crate::access::{Actor, Role};
use crate::audit::{self, AuditCtx};
use crate::auth::Caller;
use crate::db::schema::{accounts, users};
use crate::db::{self, DbConnection};
use crate::error::AppError;
use crate::http::{if_match, now, ok_with_etag, ValidJson};
use crate::state::AppState;
use crate::users::model::{UserRow, UserView};
use crate::webhooks::outbox;

fn find(conn: &mut DbConnection, actor: &Actor) -> Result<AccountRow, AppError> {
    accounts::table.filter(accounts::id.eq(actor.account_id())).first(conn).optional()?.ok_or(AppError::NotFound)
}

/// The caller's account and its settings (every member may read them).
///
/// Any role. `settings` holds `default_contact_access` and the lists that a contact's `status`
/// and `lead_source` and a deal's `stage` must come from. Send the `ETag` back as `If-Match` on
/// `PATCH /v1/account`.
#[utoipa::path(
    tag = "account",
    responses(
        (status = 200, body = AccountView, headers(("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
    ),
    security(("bearer" = []))
)]
#[get("/account")]
pub async fn get_account(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, AppError> {
    let row = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        find(conn, &actor)
    })
    .await?;
    Ok(ok_with_etag(row.version, &row.view()))
}

/// Changes the name or settings (owner/admin). Partial at every level:
/// `{"settings":{"default_contact_access":"view"}}` changes that one setting only.
///
/// A list given in `settings` replaces that whole list. A new `default_contact_access` takes
/// effect at once on every level that SPEC §2 derives from it. 403 for callers other than
/// owner/admin; 412 when `If-Match` is stale.
#[utoipa::path(
    tag = "account",
    request_body = AccountPatch,
    params(("If-Match" = Option<String>, Header, description = "ETag from GET")),
    responses(
        (status = 200, body = AccountView, headers(("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Caller is not owner or admin"),
        (status = 412, description = "If-Match does not match"),
        (status = 422, description = "Invalid or unknown fields"),
        crate::http::BodyErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/account")]
pub async fn patch_account(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    body: ValidJson<AccountPatch>,
) -> Result<HttpResponse, AppError> {
    actor.require_manager()?;
    let patch = body.0;
    let wanted = if_match(&req)?;
    let row = db::write(&state.pool, move |conn| {
        crate::http::optimistic(wanted, || {
            let before = find(conn, &actor)?;
            crate::http::check_version(wanted, before.version)?;
            let mut next = before.clone();
            if let Some(name) = &patch.name {
                next.name = name.clone();
            }
            if let Some(s) = &patch.settings {
                if let Some(v) = s.default_contact_access {
                    next.default_contact_access = v.as_str().into();
                }
                if let Some(v) = &s.contact_statuses {
                    next.contact_statuses = encode_list(v);
                }
                if let Some(v) = &s.lead_sources {
                    next.lead_sources = encode_list(v);
                }
                if let Some(v) = &s.deal_stages {
                    next.deal_stages = encode_list(v);
                }
                if let Some(v) = &s.call_results {
                    next.call_results = encode_list(v);
                }
            }
            next.version += 1;
            next.updated_at = now();
            let changed = diesel::update(
                accounts::table.filter(accounts::id.eq(&before.id)).filter(accounts::version.eq(before.version)),
            )
            .set((
                accounts::name.eq(&next.name),
                accounts::default_contact_access.eq(&next.default_contact_access),
                accounts::contact_statuses.eq(&next.contact_statuses),
                accounts::lead_sources.eq(&next.lead_sources),
                accounts::deal_stages.eq(&next.deal_stages),
                accounts::call_results.eq(&next.call_results),
                accounts::version.eq(next.version),
                accounts::updated_at.eq(next.updated_at),
            ))
            .execute(conn)?;
            if changed == 0 {
                return Ok(None);
            }
            audit::record(
                conn,
                &AuditCtx::from(&actor),
                "account",
                &next.id,
                Some(&before.view()),
                Some(&next.view()),
            )?;
            if next.default_contact_access != before.default_contact_access {
                outbox::access_changed(conn, &next.id, None, &[outbox::DEFAULT_ACCESS])?;
            }
            Ok(Some(next))
        })
    })
    .await?;
    Ok(ok_with_etag(row.version, &row.view()))
}

/// Deletes the account and every row that belongs to it (owner only). Irreversible; the
/// account's audit log goes too, so the deletion itself is recorded in the service log.
///
/// Answers 204; there is no undo. Every user, session and API token of the account stops
/// working at once: their next request answers 401. 403 for callers other than the owner.
#[utoipa::path(
    tag = "account",
    responses(
        (status = 204, description = "Deleted, with all its data"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Caller is not the owner"),
    ),
    security(("bearer" = []))
)]
#[delete("/account")]
pub async fn delete_account(state: web::Data<AppState>, actor: Actor) -> Result<HttpResponse, AppError> {
    if !actor.role().owns_account() {
        return Err(AppError::forbidden("Only the owner may delete the account."));
    }
    let (account_id, user_id) = (actor.account_id().to_owned(), actor.user_id().to_owned());
    db::write(&state.pool, move |conn| {
        // Foreign keys cascade from accounts to every other table.
        diesel::delete(accounts::table.filter(accounts::id.eq(actor.account_id()))).execute(conn)?;
        Ok(())
    })
    .await?;
    tracing::info!(account_id, user_id, "account deleted");
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OwnershipTransferred {
    /// The former owner, now an admin.
    pub previous_owner: UserView,
    pub owner: UserView,
}

/// Makes another active user of the account the owner (owner only); the old owner
/// becomes an admin.
///
/// Answers both users as they are afterwards: the caller is now an admin. The new owner's
/// stored privilege grants are cleared (an owner holds every privilege). 403 for callers other
/// than the owner; 404 when the user is not in the account; 422 when it is the caller or
/// deactivated.
#[utoipa::path(
    tag = "account",
    request_body = TransferOwnership,
    responses(
        (status = 200, body = OwnershipTransferred),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Caller is not the owner"),
        (status = 404, description = "No such user in this account"),
        (status = 422, description = "Target is the owner already or deactivated"),
        crate::http::BodyErrors,
    ),
    security(("bearer" = []))
)]
#[post("/account/transfer-ownership")]
pub async fn transfer_ownership(
    state: web::Data<AppState>,
    actor: Actor,
    body: ValidJson<TransferOwnership>,
) -> Result<HttpResponse, AppError> {
    if !actor.role().owns_account() {
        return Err(AppError::forbidden("Only the owner may transfer ownership."));
    }
    let target_id = body.0.user_id.to_string();
    let out = db::write(&state.pool, move |conn| {
        let target = crate::users::queries::find(conn, &actor, &target_id)?;
        if target.id == actor.user_id() {
            return Err(AppError::field("user_id", "is already the owner"));
        }
        if !target.active {
            return Err(AppError::field("user_id", "must be an active user"));
        }
        let old_owner = crate::users::queries::find(conn, &actor, actor.user_id())?;
        let ctx = AuditCtx::from(&actor);
        let demote = |row: &UserRow, role: Role| UserRow { role: role.as_str().into(), ..row.clone() };
        // Two rows change together: a concurrent change of either rolls both back (409, try
        // again) rather than re-applying half of it.
        let raced = || AppError::Conflict("The owner or the new owner changed meanwhile; try again.".into());
        let previous_owner =
            crate::users::queries::save(conn, &ctx, &old_owner, demote(&old_owner, Role::Admin))?.ok_or_else(raced)?;
        let owner =
            crate::users::queries::save(conn, &ctx, &target, demote(&target, Role::Owner))?.ok_or_else(raced)?;
        // Owner/admin hold every privilege implicitly; stored grants would only linger.
        diesel::update(users::table.filter(users::id.eq(&owner.id))).set(users::privileges.eq(0i64)).execute(conn)?;
        Ok(OwnershipTransferred { previous_owner: UserView::full(&previous_owner), owner: UserView::full(&owner) })
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}
