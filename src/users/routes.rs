//! `/v1/me`, `/v1/users`, `/v1/users/bulk`, `/v1/roles`.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::model::*;
use super::queries::{check_privileges, find, guard_manage, save};
use crate::access::{Actor, ContactScope, Member, OfficePermission, Privilege, Privileges, Reach, Role};
use crate::audit::{self, AuditCtx};
use crate::auth::password;
use crate::auth::Caller;
use crate::contacts::queries::{self as contact_queries, ContactLink};
use crate::db::schema::{offices, users};
use crate::db::{self, DbConnection};
use crate::deals::queries::{self as deal_queries, DealLink};
use crate::error::AppError;
use crate::http::{
    check_if_match, created, new_id, now, ok_with_etag, page_by_id, parse_json, Page, PageParams, Target, ValidJson,
};
use crate::offices::queries as memberships;
use crate::state::AppState;

fn view_for(actor: &Actor, row: &UserRow) -> UserView {
    if actor.is_manager() || actor.user_id() == row.id {
        UserView::full(row)
    } else {
        UserView::basic(row)
    }
}

/// The caller's own profile.
///
/// Any role. Always the full user, privileges included. Send the `ETag` back as `If-Match` on
/// `PATCH /v1/me` to avoid overwriting a concurrent change.
#[utoipa::path(
    tag = "me",
    responses(
        (status = 200, body = UserView, headers(("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
    ),
    security(("bearer" = []))
)]
#[get("/me")]
pub async fn get_me(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, AppError> {
    let row = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        find(conn, &actor, actor.user_id())
    })
    .await?;
    Ok(ok_with_etag(row.version, &UserView::full(&row)))
}

/// Edits the caller's own profile. Changing `email` or `password` needs `current_password`
/// (422 when missing or wrong); a new password ends all the caller's refresh sessions.
///
/// Any role; changes names, email and password only (role, privileges and `active` are set by
/// owner/admin through `PATCH /v1/users/{id}`; here they are unknown fields, 422). 409 when the
/// new email is registered already; 412 when `If-Match` is stale.
#[utoipa::path(
    tag = "me",
    request_body = MePatch,
    params(("If-Match" = Option<String>, Header, description = "ETag from GET /v1/me")),
    responses(
        (status = 200, body = UserView, headers(("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "A password change while the account enforces single sign-on (owner excepted)"),
        (status = 409, description = "Email already registered"),
        (status = 412, description = "If-Match does not match"),
        (status = 422, description = "Invalid fields, unknown fields, or wrong current_password"),
        crate::http::BodyErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/me")]
pub async fn patch_me(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    body: ValidJson<MePatch>,
) -> Result<HttpResponse, AppError> {
    let patch = body.0;
    let a = actor.clone();
    let changes_password = patch.password.is_some();
    let before = db::run(&state.pool, move |conn| {
        if changes_password {
            crate::sso::config::refuse_password_if_enforced(conn, a.account_id(), a.role())?;
        }
        find(conn, &a, a.user_id())
    })
    .await?;
    check_if_match(&req, before.version)?;
    // Password work runs before the transaction: argon2 is slow on purpose.
    let needs_current = patch.password.is_some() || patch.email.is_some();
    let (current, stored, new_password) =
        (patch.current_password.clone(), before.password_hash.clone(), patch.password.clone());
    let new_hash = db::blocking(move || {
        if needs_current {
            match current {
                None => return Err(AppError::field("current_password", "is required to change email or password")),
                Some(c) if !password::verify(&c, &stored) => {
                    return Err(AppError::field("current_password", "is incorrect"))
                }
                Some(_) => {}
            }
        }
        new_password.map(|p| password::hash(&p)).transpose()
    })
    .await?;
    let wanted = crate::http::if_match(&req)?;
    let row = db::write(&state.pool, move |conn| {
        crate::http::optimistic(wanted, || {
            // The row as it is now (a lost race re-reads it), with the patch on top.
            let before = find(conn, &actor, actor.user_id())?;
            crate::http::check_version(wanted, before.version)?;
            let mut next = before.clone();
            if let Some(email) = &patch.email {
                next.email_lower = email.trim().to_lowercase();
                next.email = email.trim().to_owned();
            }
            if let Some(hash) = &new_hash {
                next.password_hash = hash.clone();
            }
            if let Some(v) = &patch.first_name {
                next.first_name = v.clone();
            }
            if let Some(v) = &patch.last_name {
                next.last_name = v.clone();
            }
            save(conn, &AuditCtx::from(&actor), &before, next)
        })
    })
    .await?;
    Ok(ok_with_etag(row.version, &UserView::full(&row)))
}

/// Users of the account, oldest first. Owner and admin see every field; other members
/// see the basic fields (`id, email, first_name, last_name, role, active`).
///
/// Any role may list the users. Filter with `role` and `active`; pass `next_cursor` back as
/// `cursor` for the next page, and `with_total=true` to get a count.
#[utoipa::path(
    tag = "users",
    params(PageParams, UserFilter),
    responses(
        (status = 200, body = Page<UserView>),
        (status = 400, description = "Malformed query or cursor"),
        (status = 401, description = "Missing or invalid token"),
    ),
    security(("bearer" = []))
)]
#[get("/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    caller: Caller,
    page: crate::http::Query<PageParams>,
    filter: crate::http::Query<UserFilter>,
) -> Result<HttpResponse, AppError> {
    let keys = page.keys()?;
    let page = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        let (rows, total) = super::queries::list(conn, &actor, &filter, &keys)?;
        let views = rows.iter().map(|r| view_for(&actor, r)).collect();
        Ok(page_by_id(views, keys.limit, total, |v: &UserView| &v.id))
    })
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Adds a user (owner/admin). The role cannot be `owner`: ownership moves only by
/// `POST /v1/account/transfer-ownership`.
///
/// Answers 201 with the full user and its `Location`; the user is active and can log in at once
/// with the given password. 403 for callers other than owner/admin; 409 when the email is
/// registered already (in any account); 422 for `role: owner` or `view_activity` on a role
/// other than user.
#[utoipa::path(
    tag = "users",
    request_body = NewUser,
    responses(
        (status = 201, body = UserView, headers(("Location" = String), ("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Caller is not owner or admin"),
        (status = 409, description = "Email already registered"),
        (status = 422, description = "Invalid fields (role owner, view_activity for a non-user role, …)"),
        crate::http::BodyErrors,
    ),
    security(("bearer" = []))
)]
#[post("/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    actor: Actor,
    body: ValidJson<NewUser>,
) -> Result<HttpResponse, AppError> {
    actor.require_manager()?;
    let input = body.0;
    if input.role == Role::Owner {
        return Err(AppError::field("role", "cannot be owner; use transfer-ownership"));
    }
    let privileges = Privileges::from_list(&input.privileges);
    check_privileges(input.role, privileges)?;
    let pw = input.password.clone();
    let password_hash = db::blocking(move || password::hash(&pw)).await?;
    let row = db::write(&state.pool, move |conn| {
        let at = now();
        let row = UserRow {
            id: new_id(),
            account_id: actor.account_id().to_owned(),
            email: input.email.trim().to_owned(),
            email_lower: input.email.trim().to_lowercase(),
            password_hash,
            first_name: input.first_name,
            last_name: input.last_name,
            role: input.role.as_str().into(),
            privileges: privileges.0,
            active: true,
            version: 1,
            created_at: at,
            updated_at: at,
        };
        super::queries::insert(conn, &AuditCtx::from(&actor), &row)?;
        Ok(row)
    })
    .await?;
    Ok(created(format!("/v1/users/{}", row.id), Some(row.version), &UserView::full(&row)))
}

/// One user of the account (basic fields unless the caller is owner/admin or the user).
///
/// Any role. A user of another account answers 404 like a missing one. Send the `ETag` back as
/// `If-Match` on `PATCH /v1/users/{id}`.
#[utoipa::path(
    tag = "users",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = UserView, headers(("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 404, description = "No such user in this account"),
    ),
    security(("bearer" = []))
)]
#[get("/users/{id}")]
pub async fn get_user(state: web::Data<AppState>, actor: Actor, id: web::Path<Uuid>) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    let a = actor.clone();
    let row = db::run(&state.pool, move |conn| find(conn, &a, &id)).await?;
    Ok(ok_with_etag(row.version, &view_for(&actor, &row)))
}

/// `row` with `role`: `view_activity` belongs to role user only, it goes when the role does
/// (a PATCH, SCIM, and SSO's role from the claim at login).
pub(crate) fn with_role(row: &UserRow, role: Role) -> UserRow {
    let mut next = UserRow { role: role.as_str().into(), ..row.clone() };
    if role != Role::User {
        next.privileges = Privileges(next.privileges).without(Privilege::ViewActivity).0;
    }
    next
}

/// Applies a patch to a user as `actor` may (SPEC §1); SCIM's writes go through it too.
pub(crate) fn apply_patch(
    actor: &Actor,
    before: &UserRow,
    patch: UserPatch,
    new_hash: Option<String>,
) -> Result<UserRow, AppError> {
    guard_manage(actor, before)?;
    let mut next = before.clone();
    let target_is_owner = before.role() == Role::Owner;
    if let Some(role) = patch.role {
        if role == Role::Owner && !target_is_owner {
            return Err(AppError::field("role", "cannot be owner; use transfer-ownership"));
        }
        if target_is_owner && role != Role::Owner {
            return Err(AppError::forbidden("The owner cannot be demoted; use transfer-ownership."));
        }
        next = if patch.privileges.is_none() {
            with_role(&next, role)
        } else {
            UserRow { role: role.as_str().into(), ..next }
        };
    }
    if let Some(list) = patch.privileges {
        next.privileges = Privileges::from_list(&list).0;
    }
    check_privileges(next.role(), Privileges(next.privileges))?;
    if let Some(active) = patch.active {
        if target_is_owner && !active {
            return Err(AppError::forbidden("The owner cannot be deactivated."));
        }
        next.active = active;
    }
    if let Some(email) = patch.email {
        next.email_lower = email.trim().to_lowercase();
        next.email = email.trim().to_owned();
    }
    if let Some(v) = patch.first_name {
        next.first_name = v;
    }
    if let Some(v) = patch.last_name {
        next.last_name = v;
    }
    if let Some(hash) = new_hash {
        next.password_hash = hash;
    }
    Ok(next)
}

/// Edits a user: names, email, role, privileges, active, password (owner/admin; an admin
/// never edits the owner or itself). Deactivation ends the user's sessions at once.
///
/// Partial: only the fields sent change. 403 for callers other than owner/admin, when an admin
/// targets the owner or itself, or when the owner would be demoted or deactivated (ownership
/// moves by transfer-ownership only). A new password or `active: false` revokes the user's
/// refresh sessions, and a deactivated user's next request answers 401. 412 when `If-Match` is
/// stale.
#[utoipa::path(
    tag = "users",
    request_body = UserPatch,
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "ETag from GET")),
    responses(
        (status = 200, body = UserView, headers(("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Not allowed for this caller and target"),
        (status = 404, description = "No such user in this account"),
        (status = 409, description = "Email already registered"),
        (status = 412, description = "If-Match does not match"),
        (status = 422, description = "Invalid or unknown fields"),
        crate::http::BodyErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/users/{id}")]
pub async fn patch_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<Uuid>,
    body: ValidJson<UserPatch>,
) -> Result<HttpResponse, AppError> {
    actor.require_manager()?;
    let id = id.into_inner().to_string();
    let patch = body.0;
    let new_password = patch.password.clone();
    let new_hash = db::blocking(move || new_password.map(|p| password::hash(&p)).transpose()).await?;
    let wanted = crate::http::if_match(&req)?;
    let row = db::write(&state.pool, move |conn| {
        crate::http::optimistic(wanted, || {
            let before = find(conn, &actor, &id)?;
            crate::http::check_version(wanted, before.version)?;
            if new_hash.is_some() {
                crate::sso::config::refuse_password_if_enforced(conn, actor.account_id(), before.role())?;
            }
            let next = apply_patch(&actor, &before, patch.clone(), new_hash.clone())?;
            save(conn, &AuditCtx::from(&actor), &before, next)
        })
    })
    .await?;
    Ok(ok_with_etag(row.version, &UserView::full(&row)))
}

#[derive(Debug, Deserialize, IntoParams, validator::Validate)]
#[into_params(parameter_in = Query)]
pub struct UserDeletion {
    /// Who takes over the user's contacts, deals and actions: an active, non-focused user
    /// of the account, or `none` (unowned, unassigned). Needed while the user owns
    /// contacts or deals or has open actions (409 without it).
    #[param(value_type = Option<String>, pattern = "^(none|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$")]
    pub reassign_to: Option<Target>,
}

/// Deletes a user (owner/admin; never the owner, an admin never itself).
///
/// A user who still owns contacts or deals or has open actions is deleted only with
/// `reassign_to` (SPEC §3):
/// each contact, deal and action moves with a new version and its own audit entry, in the
/// deletion's transaction (done actions move too, or lose their assignee). Office
/// memberships are removed, each audited; refresh sessions and API tokens end; audit
/// entries stay.
///
/// Answers 204. 403 when the target is the owner or the caller, and for callers other than
/// owner/admin; 404 for a user of another account.
#[utoipa::path(
    tag = "users",
    params(("id" = Uuid, Path), UserDeletion),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed query (reassign_to is neither an id nor `none`)"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Not allowed for this caller and target"),
        (status = 404, description = "No such user in this account"),
        (status = 409, description = "The user still owns records and no reassign_to was given; `counts` says how many of each"),
        (status = 422, description = "reassign_to is not an active, non-focused other user of this account"),
    ),
    security(("bearer" = []))
)]
#[delete("/users/{id}")]
pub async fn delete_user(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<Uuid>,
    params: crate::http::Query<UserDeletion>,
) -> Result<HttpResponse, AppError> {
    actor.require_manager()?;
    let id = id.into_inner().to_string();
    let reassign = params.into_inner().reassign_to;
    db::write(&state.pool, move |conn| delete_in_tx(conn, &actor, &id, reassign)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes user `id` inside the caller's transaction (SPEC §3: a user who still owns records
/// needs `reassign`, else `InUse`). `DELETE /v1/users/{id}` and SCIM's DELETE both use it.
pub(crate) fn delete_in_tx(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    reassign: Option<Target>,
) -> Result<(), AppError> {
    let target = find(conn, actor, id)?;
    guard_manage(actor, &target)?;
    if target.role() == Role::Owner || target.id == actor.user_id() {
        return Err(AppError::forbidden("The owner and yourself cannot be deleted."));
    }
    if let Some(Target::To(heir)) = &reassign {
        let heir = Member::load(conn, actor, heir)?;
        if !heir.is_some_and(|h| h.active && h.role != Role::Focused && h.id != target.id) {
            return Err(AppError::field(
                "reassign_to",
                "must be an active, non-focused other user of this account, or `none`",
            ));
        }
    }
    let scope = ContactScope::of(actor);
    let counts: std::collections::BTreeMap<String, i64> = [
        ("contacts".to_owned(), contact_queries::count_linked(conn, &scope, ContactLink::Owner, &target.id)?),
        ("deals".to_owned(), deal_queries::count_linked(conn, &scope, DealLink::Owner, &target.id)?),
        ("open_actions".to_owned(), crate::actions::queries::count_open_assigned(conn, &scope, &target.id)?),
    ]
    .into();
    let to = match &reassign {
        Some(t) => t.id(),
        None if counts.values().any(|n| *n > 0) => {
            let list: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {}", k.replace('_', " "))).collect();
            return Err(AppError::InUse(
                format!(
                    "The user still has {}: delete them with reassign_to=<user_id> or reassign_to=none.",
                    list.join(", ")
                ),
                counts,
            ));
        }
        None => None,
    };
    contact_queries::move_linked(conn, actor, ContactLink::Owner, &target.id, to)?;
    deal_queries::move_linked(conn, actor, DealLink::Owner, &target.id, to)?;
    crate::actions::queries::move_assigned(conn, actor, &target.id, to)?;
    crate::interactions::queries::forget_user(conn, actor, &target.id)?;
    crate::saved_filters::queries::delete_owned_by(conn, actor, &target.id)?;
    let ctx = AuditCtx::from(actor);
    memberships::remove_all(conn, &ctx, memberships::MembersOf::User(&target.id))?;
    let n =
        diesel::delete(users::table.filter(users::id.eq(&target.id)).filter(users::account_id.eq(actor.account_id())))
            .execute(conn)?;
    if n == 0 {
        return Err(AppError::NotFound);
    }
    audit::record(conn, &ctx, "user", &target.id, Some(&UserView::full(&target)), None)?;
    Ok(())
}

/// Parsed `value` of a bulk request, checked once before any row changes.
enum BulkChange {
    Grant(Privileges),
    Revoke(Privileges),
    SetActive(bool),
    SetOffice(String, OfficePermission),
}

fn parse_bulk_value(op: UserBulkOp, value: serde_json::Value) -> Result<BulkChange, AppError> {
    let text = value.to_string();
    let wrap = |e: AppError| match e {
        AppError::Validation(errors) => {
            let merged =
                errors.into_iter().map(|(k, v)| (if k == "body" { "value".into() } else { format!("value.{k}") }, v));
            AppError::Validation(merged.collect())
        }
        other => other,
    };
    Ok(match op {
        UserBulkOp::GrantPrivileges => {
            BulkChange::Grant(Privileges::from_list(&parse_json::<Vec<Privilege>>(text.as_bytes()).map_err(wrap)?))
        }
        UserBulkOp::RevokePrivileges => {
            BulkChange::Revoke(Privileges::from_list(&parse_json::<Vec<Privilege>>(text.as_bytes()).map_err(wrap)?))
        }
        UserBulkOp::SetActive => BulkChange::SetActive(parse_json::<bool>(text.as_bytes()).map_err(wrap)?),
        UserBulkOp::SetOfficePermission => {
            let v = parse_json::<OfficePermissionValue>(text.as_bytes()).map_err(wrap)?;
            BulkChange::SetOffice(v.office_id.to_string(), v.permission)
        }
    })
}

fn bulk_one(conn: &mut DbConnection, actor: &Actor, id: &str, change: &BulkChange) -> Result<BulkItemResult, AppError> {
    let result =
        |result, detail: Option<&str>| BulkItemResult { id: id.to_owned(), result, detail: detail.map(Into::into) };
    // No If-Match in a bulk request: a row another request changed meanwhile is read again.
    crate::http::optimistic(None, || {
        let Ok(before) = find(conn, actor, id) else {
            return Ok(Some(result(BulkOutcome::NotFound, None)));
        };
        if let Err(AppError::Forbidden(m)) = guard_manage(actor, &before) {
            return Ok(Some(result(BulkOutcome::Forbidden, Some(&m))));
        }
        let ctx = AuditCtx::from(actor);
        let mut next = before.clone();
        match change {
            BulkChange::Grant(p) => next.privileges |= p.0,
            BulkChange::Revoke(p) => next.privileges &= !p.0,
            BulkChange::SetActive(active) => {
                if before.role() == Role::Owner && !active {
                    return Ok(Some(result(BulkOutcome::Forbidden, Some("The owner cannot be deactivated."))));
                }
                next.active = *active;
            }
            BulkChange::SetOffice(office_id, permission) => {
                memberships::upsert(conn, &ctx, &before.id, office_id, *permission)?;
                return Ok(Some(result(BulkOutcome::Ok, None)));
            }
        }
        if check_privileges(next.role(), Privileges(next.privileges)).is_err() {
            return Ok(Some(result(BulkOutcome::Forbidden, Some("view_activity can be granted to role user only"))));
        }
        Ok(save(conn, &ctx, &before, next)?.map(|_| result(BulkOutcome::Ok, None)))
    })
}

/// Changes many users in one transaction (owner/admin). Each id reports `ok`,
/// `not_found` (missing or another account's) or `forbidden` (the owner for an admin,
/// the caller itself for an admin, `view_activity` for a non-user role).
///
/// Up to 500 ids; a repeated id is handled once, and the answer has one result per distinct id
/// in request order. `value` per op: a list of privileges for
/// `grant_privileges`/`revoke_privileges`, a boolean for `set_active`, `{office_id,
/// permission}` for `set_office_permission` (404 when the office is not the account's).
#[utoipa::path(
    tag = "users",
    request_body = UserBulk,
    responses(
        (status = 200, body = BulkResult),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Caller is not owner or admin"),
        (status = 404, description = "set_office_permission names an office not in this account"),
        (status = 422, description = "Invalid ids, op or value"),
        crate::http::BodyErrors,
    ),
    security(("bearer" = []))
)]
#[post("/users/bulk")]
pub async fn bulk_users(
    state: web::Data<AppState>,
    actor: Actor,
    body: ValidJson<UserBulk>,
) -> Result<HttpResponse, AppError> {
    actor.require_manager()?;
    let input = body.0;
    let change = parse_bulk_value(input.op, input.value)?;
    let result = db::write(&state.pool, move |conn| {
        if let BulkChange::SetOffice(office_id, _) = &change {
            let exists = offices::table
                .filter(offices::account_id.eq(actor.account_id()))
                .filter(offices::id.eq(office_id))
                .count()
                .get_result::<i64>(conn)?;
            if exists == 0 {
                return Err(AppError::NotFound);
            }
        }
        let mut seen = std::collections::HashSet::new();
        let mut results = Vec::new();
        for id in input.ids.iter().map(Uuid::to_string) {
            if seen.insert(id.clone()) {
                results.push(bulk_one(conn, &actor, &id, &change)?);
            }
        }
        Ok(BulkResult { results })
    })
    .await?;
    Ok(HttpResponse::Ok().json(result))
}

/// What a role may do (SPEC §1), for a "compare roles" screen.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RoleCapabilities {
    pub manage_users: bool,
    pub manage_offices: bool,
    pub account_settings: bool,
    pub delete_account: bool,
    pub transfer_ownership: bool,
    /// `all` (manage level on every contact), `rules` (SPEC §2 rules) or `own` (only owned).
    pub contacts: String,
    /// `all`, `own` or `none`.
    pub delete_contacts: String,
    pub list_users: bool,
    pub edit_own_profile: bool,
    pub api_tokens: bool,
    /// `yes`, `privilege` (needs view_activity) or `never`.
    pub activity: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RoleInfo {
    pub role: Role,
    pub capabilities: RoleCapabilities,
    /// Privileges the role holds without a grant.
    pub privileges_held: Vec<Privilege>,
    /// Privileges owner/admin may grant to a user of this role.
    pub privileges_grantable: Vec<Privilege>,
}

/// `GET /v1/roles` reads the one table of roles (`access::Role`'s capabilities).
pub fn role_info(role: Role) -> RoleInfo {
    // The words of the document for each reach; `all` and `nothing` differ by capability.
    let reach = |r: Reach, all: &str, nothing: &str| -> String {
        match r {
            Reach::All => all,
            Reach::Rules => "rules",
            Reach::Own => "own",
            Reach::Privilege => "privilege",
            Reach::Nothing => nothing,
        }
        .into()
    };
    RoleInfo {
        role,
        capabilities: RoleCapabilities {
            manage_users: role.is_manager(),
            manage_offices: role.is_manager(),
            account_settings: role.is_manager(),
            delete_account: role.owns_account(),
            transfer_ownership: role.owns_account(),
            contacts: reach(role.contacts(), "all", "none"),
            delete_contacts: reach(role.deletes_contacts(), "all", "none"),
            list_users: true,
            edit_own_profile: true,
            api_tokens: role.may_hold_tokens(),
            activity: reach(role.activity(), "yes", "never"),
        },
        privileges_held: role.privileges_held(),
        privileges_grantable: role.privileges_grantable(),
    }
}

/// Every role with its capabilities and the privileges it holds or may be granted.
///
/// Any role. The same for every account and caller: what SPEC §1 says each role may do, so a
/// client can build a permissions screen without hard-coding it.
#[utoipa::path(
    tag = "users",
    responses(
        (status = 200, body = Vec<RoleInfo>),
        (status = 401, description = "Missing or invalid token"),
    ),
    security(("bearer" = []))
)]
#[get("/roles")]
pub async fn list_roles(_actor: Actor) -> HttpResponse {
    HttpResponse::Ok().json(Role::ALL.iter().map(|r| role_info(*r)).collect::<Vec<_>>())
}
