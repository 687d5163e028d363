//! `/v1/offices` and `/v1/users/{id}/offices`.

use actix_web::{delete, get, patch, post, put, web, HttpRequest, HttpResponse};
use diesel::prelude::*;
use uuid::Uuid;

use super::model::*;
use super::queries::{self as memberships, find};
use crate::access::{Actor, ContactScope};
use crate::audit::{self, AuditCtx};
use crate::auth::Caller;
use crate::contacts::queries::{self, ContactLink};
use crate::db;
use crate::db::schema::offices;
use crate::error::AppError;
use crate::http::{created, if_match, new_id, now, ok_with_etag, page_by_id, Page, PageParams, Target, ValidJson};
use crate::state::AppState;

/// Offices of the account (every member may list them), oldest first.
///
/// Any role. Pass `next_cursor` back as `cursor` for the next page, and `with_total=true` to
/// get a count.
#[utoipa::path(
    tag = "offices",
    params(PageParams),
    responses(
        (status = 200, body = Page<OfficeView>),
        (status = 400, description = "Malformed query or cursor"),
        (status = 401, description = "Missing or invalid token"),
    ),
    security(("bearer" = []))
)]
#[get("/offices")]
pub async fn list_offices(
    state: web::Data<AppState>,
    caller: Caller,
    page: crate::http::Query<PageParams>,
) -> Result<HttpResponse, AppError> {
    let keys = page.keys()?;
    let page = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        let (rows, total) = memberships::list_offices(conn, &actor, &keys)?;
        Ok(page_by_id(rows.iter().map(OfficeView::from).collect(), keys.limit, total, |v: &OfficeView| &v.id))
    })
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Creates an office (owner/admin).
///
/// Answers 201 with the office and its `Location`. 403 for callers other than owner/admin.
/// Users reach the office's contacts through memberships: `PUT
/// /v1/users/{id}/offices/{office_id}`.
#[utoipa::path(
    tag = "offices",
    request_body = NewOffice,
    responses(
        (status = 201, body = OfficeView, headers(("Location" = String), ("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Caller is not owner or admin"),
        (status = 422, description = "Invalid or unknown fields"),
        crate::http::BodyErrors,
    ),
    security(("bearer" = []))
)]
#[post("/offices")]
pub async fn create_office(
    state: web::Data<AppState>,
    actor: Actor,
    body: ValidJson<NewOffice>,
) -> Result<HttpResponse, AppError> {
    actor.require_manager()?;
    let input = body.0;
    let row = db::write(&state.pool, move |conn| {
        let at = now();
        let row = OfficeRow {
            id: new_id(),
            account_id: actor.account_id().to_owned(),
            name: input.name,
            address: input.address,
            version: 1,
            created_at: at,
            updated_at: at,
        };
        diesel::insert_into(offices::table).values(&row).execute(conn)?;
        audit::record(conn, &AuditCtx::from(&actor), "office", &row.id, None, Some(&OfficeView::from(&row)))?;
        Ok(row)
    })
    .await?;
    Ok(created(format!("/v1/offices/{}", row.id), Some(row.version), &OfficeView::from(&row)))
}

/// One office.
///
/// Any role. An office of another account answers 404 like a missing one. Send the `ETag` back
/// as `If-Match` on `PATCH /v1/offices/{id}`.
#[utoipa::path(
    tag = "offices",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = OfficeView, headers(("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 404, description = "No such office in this account"),
    ),
    security(("bearer" = []))
)]
#[get("/offices/{id}")]
pub async fn get_office(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    let row = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        find(conn, &actor, &id)
    })
    .await?;
    Ok(ok_with_etag(row.version, &OfficeView::from(&row)))
}

/// Renames an office or changes its address (owner/admin).
///
/// Partial: `address: null` clears the address. 403 for callers other than owner/admin; 412
/// when `If-Match` is stale or the office changed meanwhile.
#[utoipa::path(
    tag = "offices",
    request_body = OfficePatch,
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "ETag from GET")),
    responses(
        (status = 200, body = OfficeView, headers(("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Caller is not owner or admin"),
        (status = 404, description = "No such office in this account"),
        (status = 412, description = "If-Match does not match"),
        (status = 422, description = "Invalid or unknown fields"),
        crate::http::BodyErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/offices/{id}")]
pub async fn patch_office(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<Uuid>,
    body: ValidJson<OfficePatch>,
) -> Result<HttpResponse, AppError> {
    actor.require_manager()?;
    let id = id.into_inner().to_string();
    let patch = body.0;
    let wanted = if_match(&req)?;
    let row = db::write(&state.pool, move |conn| {
        crate::http::optimistic(wanted, || {
            let before = find(conn, &actor, &id)?;
            crate::http::check_version(wanted, before.version)?;
            let mut next = before.clone();
            if let Some(name) = &patch.name {
                next.name = name.clone();
            }
            if let Some(address) = &patch.address {
                next.address = address.clone();
            }
            if (&next.name, &next.address) == (&before.name, &before.address) {
                return Ok(Some(before));
            }
            next.version += 1;
            next.updated_at = now();
            let changed = diesel::update(
                offices::table
                    .filter(offices::id.eq(&before.id))
                    .filter(offices::account_id.eq(actor.account_id().to_owned()))
                    .filter(offices::version.eq(before.version)),
            )
            .set((
                offices::name.eq(&next.name),
                offices::address.eq(&next.address),
                offices::version.eq(next.version),
                offices::updated_at.eq(next.updated_at),
            ))
            .execute(conn)?;
            if changed == 0 {
                return Ok(None);
            }
            let ctx = AuditCtx::from(&actor);
            audit::record(
                conn,
                &ctx,
                "office",
                &next.id,
                Some(&OfficeView::from(&before)),
                Some(&OfficeView::from(&next)),
            )?;
            Ok(Some(next))
        })
    })
    .await?;
    Ok(ok_with_etag(row.version, &OfficeView::from(&row)))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams, validator::Validate)]
#[into_params(parameter_in = Query)]
pub struct OfficeDeletion {
    /// Where the office's contacts go: another office of the account, or `none` (no
    /// office). Needed while the office has contacts (409 without it).
    #[param(value_type = Option<String>, pattern = "^(none|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$")]
    pub move_contacts_to: Option<Target>,
}

/// Deletes an office (owner/admin).
///
/// An office that still has contacts is deleted only with `move_contacts_to` (SPEC §3:
/// deleting never widens access silently): each contact moves, with a new version and its
/// own audit entry; the office's memberships are removed, each audited; all in the
/// deletion's transaction.
///
/// Answers 204. 403 for callers other than owner/admin; 404 for an office of another account.
#[utoipa::path(
    tag = "offices",
    params(("id" = Uuid, Path), OfficeDeletion),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed query (move_contacts_to is neither an id nor `none`)"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Caller is not owner or admin"),
        (status = 404, description = "No such office in this account"),
        (status = 409, description = "The office still has contacts and no move_contacts_to was given; `counts` says how many"),
        (status = 422, description = "move_contacts_to is not another office of this account"),
    ),
    security(("bearer" = []))
)]
#[delete("/offices/{id}")]
pub async fn delete_office(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<Uuid>,
    params: crate::http::Query<OfficeDeletion>,
) -> Result<HttpResponse, AppError> {
    actor.require_manager()?;
    let id = id.into_inner().to_string();
    let target = params.into_inner().move_contacts_to;
    db::write(&state.pool, move |conn| {
        let before = find(conn, &actor, &id)?;
        if let Some(Target::To(other)) = &target {
            let bad = || AppError::field("move_contacts_to", "must be another office of this account, or `none`");
            if *other == before.id {
                return Err(bad());
            }
            find(conn, &actor, other).map_err(|e| if matches!(e, AppError::NotFound) { bad() } else { e })?;
        }
        let scope = ContactScope::of(&actor);
        let contacts = queries::count_linked(conn, &scope, ContactLink::Office, &before.id)?;
        match &target {
            None if contacts > 0 => {
                return Err(AppError::InUse(
                    format!(
                        "The office still has {contacts} contacts: delete it with move_contacts_to=<office_id> or \
                         move_contacts_to=none."
                    ),
                    [("contacts".to_owned(), contacts)].into(),
                ))
            }
            Some(t) if contacts > 0 => {
                queries::move_linked(conn, &actor, ContactLink::Office, &before.id, t.id())?;
            }
            _ => {}
        }
        let ctx = AuditCtx::from(&actor);
        memberships::remove_all(conn, &ctx, memberships::MembersOf::Office(&before.id))?;
        let n = diesel::delete(
            offices::table.filter(offices::id.eq(&before.id)).filter(offices::account_id.eq(actor.account_id())),
        )
        .execute(conn)?;
        if n == 0 {
            return Err(AppError::NotFound);
        }
        audit::record(conn, &ctx, "office", &before.id, Some(&OfficeView::from(&before)), None)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A user's office memberships (owner/admin, or the user itself).
///
/// Each membership names the office and the `permission` (`none|view|edit|manage`) that sets a
/// role-user member's level on the office's contacts (SPEC §2). Ordered by office id. 404 when
/// the user is not in the caller's account.
#[utoipa::path(
    tag = "offices",
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, body = Vec<Membership>),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Another user's memberships, and the caller is not owner or admin"),
        (status = 404, description = "No such user in this account"),
    ),
    security(("bearer" = []))
)]
#[get("/users/{id}/offices")]
pub async fn list_user_offices(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    let list = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        let user = crate::users::queries::find(conn, &actor, &id)?;
        if !actor.is_manager() && user.id != actor.user_id() {
            return Err(AppError::forbidden("Only owner, admin or the user may see these memberships."));
        }
        memberships::list_for_user(conn, actor.account_id(), &user.id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Grants a user a permission in an office (owner/admin): 201 when the membership is new,
/// 200 when it changed.
///
/// Idempotent: the body sets the permission whatever it was before. It applies from the user's
/// next request: for a role-user member the level on a contact of the office is the higher of
/// this permission and the account's `default_contact_access` (SPEC §2).
#[utoipa::path(
    tag = "offices",
    request_body = MembershipIn,
    params(("id" = Uuid, Path, description = "User id"), ("office_id" = Uuid, Path)),
    responses(
        (status = 200, body = Membership),
        (status = 201, body = Membership, headers(("Location" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Caller is not owner or admin"),
        (status = 404, description = "No such user or office in this account"),
        (status = 422, description = "Invalid permission"),
        crate::http::BodyErrors,
    ),
    security(("bearer" = []))
)]
#[put("/users/{id}/offices/{office_id}")]
pub async fn put_membership(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<(Uuid, Uuid)>,
    body: ValidJson<MembershipIn>,
) -> Result<HttpResponse, AppError> {
    actor.require_manager()?;
    let (user_id, office_id) = path.into_inner();
    let (user_id, office_id) = (user_id.to_string(), office_id.to_string());
    let permission = body.0.permission;
    let (membership, was_created) = db::write(&state.pool, move |conn| {
        let user = crate::users::queries::find(conn, &actor, &user_id)?;
        let office = find(conn, &actor, &office_id)?;
        memberships::upsert(conn, &AuditCtx::from(&actor), &user.id, &office.id, permission)
    })
    .await?;
    if was_created {
        let location = format!("/v1/users/{}/offices/{}", membership.user_id, membership.office_id);
        Ok(created(location, None, &membership))
    } else {
        Ok(HttpResponse::Ok().json(membership))
    }
}

/// Removes a user's membership in an office (owner/admin).
///
/// Answers 204; 404 when the user has no membership in that office. From the user's next
/// request their level on the office's contacts falls back to the account's
/// `default_contact_access` (SPEC §2).
#[utoipa::path(
    tag = "offices",
    params(("id" = Uuid, Path, description = "User id"), ("office_id" = Uuid, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Caller is not owner or admin"),
        (status = 404, description = "No such user, office or membership in this account"),
    ),
    security(("bearer" = []))
)]
#[delete("/users/{id}/offices/{office_id}")]
pub async fn delete_membership(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, AppError> {
    actor.require_manager()?;
    let (user_id, office_id) = path.into_inner();
    let (user_id, office_id) = (user_id.to_string(), office_id.to_string());
    db::write(&state.pool, move |conn| {
        let user = crate::users::queries::find(conn, &actor, &user_id)?;
        let office = find(conn, &actor, &office_id)?;
        memberships::remove(conn, &AuditCtx::from(&actor), &user.id, &office.id)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
