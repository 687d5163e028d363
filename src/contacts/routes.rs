//! `/v1/contacts` handlers: thin wrappers over `queries`, `list`, `bulk` and `csv_io`.

use crate::custom_fields::model::Entity;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::list::{self, ContactFilter, ContactPage};
use super::model::*;
use super::queries;
use crate::access::model::Reason;
use crate::access::{Actor, ContactScope, Level, Member, Privilege};
use crate::audit::AuditEntry;
use crate::auth::Caller;
use crate::db::{self, DbConnection};
use crate::error::AppError;
use crate::http::{created, etag, if_match, page_by_id, Page, PageParams, ValidJson};
use crate::state::AppState;

fn respond(status: actix_web::http::StatusCode, contact: &ContactOut) -> HttpResponse {
    let mut resp = HttpResponse::build(status);
    if let Some(v) = contact.version() {
        resp.insert_header((actix_web::http::header::ETAG, etag(v)));
    }
    resp.json(contact)
}

/// Contacts the caller can see, newest change first. Contacts at `limited` come with
/// the basic fields only; filters other than `q` match only contacts the caller sees at
/// `view` or above.
///
/// Any role; the caller's access level (SPEC §2) is applied in SQL, so a hidden contact is
/// never listed or counted. Each item is `ContactView` or `ContactBasic`, told apart by
/// `access`. `q` searches names, email and phone; `sort` is `created_at`, `updated_at` or
/// `last_name`, with `-` for descending. Pass `next_cursor` back as `cursor` with the same
/// filters and sort.
///
/// Custom fields filter with `cf.<key>=<value>` (text, url and email compare
/// case-insensitively; a `multi_select` matches when the value is one of its options) and,
/// for `number` and `date` fields, `cf.<key>.gte=` / `cf.<key>.lte=`; up to 20 of them,
/// combined with AND. Like the other filters beyond `q`, they match only contacts seen at
/// `view` or above. An unknown key or a value of the wrong type is a 400.
#[utoipa::path(
    tag = "contacts",
    params(ContactFilter, PageParams),
    responses(
        (status = 200, body = ContactPage),
        (status = 400, description = "Malformed query, unknown sort or tampered cursor"),
        (status = 401, description = "Missing or invalid token"),
    ),
    security(("bearer" = []))
)]
#[get("/contacts")]
pub async fn list_contacts(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    filter: crate::http::Query<ContactFilter>,
    page: crate::http::Query<PageParams>,
) -> Result<HttpResponse, AppError> {
    let (mut filter, page) = (filter.into_inner(), page.into_inner());
    filter.since = page.since()?;
    let conditions = crate::custom_fields::queries::parse_conditions(req.query_string())?;
    let limit = page.limit();
    let sealer = state.sealer.clone();
    let out = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        filter.custom = crate::custom_fields::queries::resolve(conn, actor.account_id(), Entity::Contact, &conditions)?;
        list::list(
            conn,
            &ContactScope::of(&actor),
            &filter,
            page.cursor.as_deref(),
            limit,
            page.with_total.unwrap_or(false),
            &sealer,
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Creates a contact. Without `owner_id` the caller owns it; a focused user always owns
/// their new contacts. When a focused user uses an email another contact has, that
/// contact's owner is notified (the create still succeeds).
///
/// Answers 201 with `Location` and the contact as the caller sees it afterwards: usually the
/// full `ContactView`, but `limited` or `hidden` when it was given to another owner or office.
/// 403 for `private: true` without the right; 422 when `status` or `lead_source` is not in the
/// account's settings or an organization, owner or office id is not the account's.
#[utoipa::path(
    tag = "contacts",
    request_body = NewContact,
    responses(
        (status = 201, body = ContactOut, headers(("Location" = String), ("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "`private: true` without the right to set it"),
        (status = 422, description = "Invalid fields, unknown status/lead_source, or ids not in this account"),
        crate::http::BodyErrors,
    ),
    security(("bearer" = []))
)]
#[post("/contacts")]
pub async fn create_contact(
    state: web::Data<AppState>,
    actor: Actor,
    body: ValidJson<NewContact>,
) -> Result<HttpResponse, AppError> {
    let input = body.0;
    let out = db::write(&state.pool, move |conn| queries::create(conn, &actor, input)).await?;
    Ok(created(format!("/v1/contacts/{}", out.id()), out.version(), &out))
}

/// One contact as the caller may see it (404 when hidden).
///
/// `view`, `edit` and `manage` answer the full `ContactView`, `limited` the basic fields
/// (`ContactBasic`); both carry an `ETag` to send back as `If-Match` on PATCH. A hidden
/// contact, a missing one and another account's all answer the same 404.
#[utoipa::path(
    tag = "contacts",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = ContactOut, headers(("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 404, description = "Missing, hidden or another account's"),
    ),
    security(("bearer" = []))
)]
#[get("/contacts/{id}")]
pub async fn get_contact(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    let (out, version) = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        let (row, level) = queries::find(conn, &ContactScope::of(&actor), &id)?;
        let out = ContactOut::project(&row, level);
        Ok((out, row.version))
    })
    .await?;
    // Limited views carry an ETag too, so a client can tell when the record moved on.
    Ok(HttpResponse::Ok().insert_header((actix_web::http::header::ETAG, etag(version))).json(out))
}

/// Changes a contact (needs `edit`). Reassigning `owner_id`/`office_id` may leave the
/// caller without access: the answer is then `{id, access: "hidden"}`.
///
/// Partial: only the fields sent change, `null` clears a nullable field and `tags` replaces the
/// whole list; a patch that changes nothing answers the contact as it is. 403 below `edit`; 412
/// when `If-Match` is stale. Without `If-Match` a write that races another is retried a few
/// times, then answers 409.
#[utoipa::path(
    tag = "contacts",
    request_body = ContactPatch,
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "ETag from GET")),
    responses(
        (status = 200, body = ContactOut, headers(("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Visible at limited or view only, or `private` without the right"),
        (status = 404, description = "Missing, hidden or another account's"),
        (status = 412, description = "If-Match does not match"),
        (status = 422, description = "Invalid or unknown fields"),
        crate::http::BodyErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/contacts/{id}")]
pub async fn patch_contact(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<Uuid>,
    body: ValidJson<ContactPatch>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    let wanted = if_match(&req)?;
    let patch = body.0;
    let out = db::write(&state.pool, move |conn| {
        queries::update(conn, &actor, &ContactScope::of(&actor), &id, patch, wanted)
    })
    .await?;
    Ok(respond(actix_web::http::StatusCode::OK, &out))
}

/// Deletes a contact: owner/admin any, a focused user their own, a user none.
///
/// Answers 204. Its deals (with their items) and actions are deleted with it, each with its
/// own audit entry; its audit entries stay. A role user gets 403 on any contact they can
/// see; to a focused user another owner's contact is hidden, so it answers 404.
#[utoipa::path(
    tag = "contacts",
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Visible, but the role may not delete it"),
        (status = 404, description = "Missing, hidden or another account's"),
    ),
    security(("bearer" = []))
)]
#[delete("/contacts/{id}")]
pub async fn delete_contact(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    db::write(&state.pool, move |conn| {
        queries::delete(conn, &actor, &ContactScope::of(&actor), &id, |conn, contact_id| {
            crate::interactions::queries::delete_for_contact(conn, &actor, contact_id)?;
            crate::deals::queries::delete_for_contact(conn, &actor, contact_id)?;
            crate::actions::queries::delete_for_contact(conn, &actor, contact_id)
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The contact's change history, newest first (needs `manage`).
///
/// Each entry is an audit entry: who, when, and per changed field `{old, new}`. 403 when the
/// caller sees the contact below `manage` (owner and admin always have `manage`); 404 when it
/// is hidden. Pass `next_cursor` back as `cursor` for older entries.
#[utoipa::path(
    tag = "contacts",
    params(("id" = Uuid, Path), PageParams),
    responses(
        (status = 200, body = Page<AuditEntry>),
        (status = 400, description = "Malformed query or cursor"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Visible, but below manage"),
        (status = 404, description = "Missing, hidden or another account's"),
    ),
    security(("bearer" = []))
)]
#[get("/contacts/{id}/history")]
pub async fn contact_history(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    page: crate::http::Query<PageParams>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    let keys = page.keys()?;
    let out = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        let scope = ContactScope::of(&actor);
        let (row, level) = queries::find(conn, &scope, &id)?;
        if level < Level::Manage {
            return Err(AppError::forbidden("The history needs manage access to the contact."));
        }
        let (rows, total) = crate::audit::queries::contact_history(conn, &scope, &row.id, &keys)?;
        Ok(page_by_id(rows.into_iter().map(AuditEntry::from).collect(), keys.limit, total, |e: &AuditEntry| &e.id))
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Debug, Deserialize, IntoParams, validator::Validate)]
#[into_params(parameter_in = Query)]
pub struct AccessQuery {
    /// Explain another user's level (owner/admin only).
    pub user_id: Option<Uuid>,
}

/// Why a user has the level they have on a contact.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccessExplanation {
    pub contact_id: String,
    pub user_id: String,
    pub level: Level,
    /// The steps of SPEC §2 that decided the level, in the order the rule applies them.
    pub reasons: Vec<Reason>,
}

fn explain(
    conn: &mut DbConnection,
    actor: &Actor,
    contact_id: &str,
    user_id: Option<String>,
) -> Result<AccessExplanation, AppError> {
    let (row, caller_level) = queries::find(conn, &ContactScope::of(actor), contact_id)?;
    let subject_id = match user_id {
        Some(u) if u != actor.user_id() => {
            if !actor.is_manager() {
                return Err(AppError::forbidden("Only the owner or an admin may explain another user's access."));
            }
            u
        }
        _ => actor.user_id().to_owned(),
    };
    let subject = Member::load(conn, actor, &subject_id)?.ok_or(AppError::NotFound)?;
    // The level every other endpoint uses comes from the SQL fragment ...
    let level = if subject.id == actor.user_id() { caller_level } else { subject.level_on(conn, &row.id)? };
    // ... and the reasons from the reference model, which must agree with it.
    let facts = subject.facts;
    let (model_level, mut reasons) = crate::access::model::explain(&facts, &row.facts());
    if model_level != level {
        tracing::error!(contact_id, user_id = subject.id, ?level, ?model_level, "access model and SQL disagree");
    }
    // At `limited` the caller sees the basic fields and nothing more: the office step would
    // tell whether the contact has an office and which. The account default decided it.
    if subject.id == actor.user_id() && level == Level::Limited {
        reasons.retain(|r| r.code == "account_default");
    }
    Ok(AccessExplanation { contact_id: row.id, user_id: subject.id, level, reasons })
}

/// Explains the caller's level on a contact (or, for owner/admin, another user's with
/// `?user_id=`): the level and the SPEC §2 steps that decided it. The level is the one
/// every other endpoint applies.
///
/// Any role for their own level. `user_id` of another user needs owner/admin (403 otherwise)
/// and a user of the account (404 otherwise). A contact hidden from the caller answers 404, as
/// everywhere else.
#[utoipa::path(
    tag = "contacts",
    params(("id" = Uuid, Path), AccessQuery),
    responses(
        (status = 200, body = AccessExplanation),
        (status = 400, description = "Malformed query"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "user_id given by a caller who is not owner or admin"),
        (status = 404, description = "Contact hidden from the caller, or user not in this account"),
    ),
    security(("bearer" = []))
)]
#[get("/contacts/{id}/access")]
pub async fn contact_access(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    query: crate::http::Query<AccessQuery>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    let user_id = query.user_id.map(|u| u.to_string());
    let out = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        explain(conn, &actor, &id, user_id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// The contact as a vCard 4.0 (privilege `download_vcard`, access `view` or above).
///
/// Answers `text/vcard` as the attachment `contact.vcf`: name, email, phone, job title,
/// organization name, and tags as categories. 404 when the contact is hidden; 403 without
/// `download_vcard` or at `limited`.
#[utoipa::path(
    tag = "contacts",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, content_type = "text/vcard", body = String),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "No download_vcard privilege, or access below view"),
        (status = 404, description = "Missing, hidden or another account's"),
    ),
    security(("bearer" = []))
)]
#[get("/contacts/{id}/vcard")]
pub async fn contact_vcard(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    let card = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        let (row, level) = queries::find(conn, &ContactScope::of(&actor), &id)?;
        if !actor.has(Privilege::DownloadVcard) {
            return Err(AppError::forbidden("Downloading vCards needs the download_vcard privilege."));
        }
        if level < Level::View {
            return Err(AppError::forbidden("A vCard needs view access to the contact."));
        }
        let org: Option<String> = match &row.organization_id {
            Some(org) => crate::organizations::queries::name_of(conn, &actor, org)?,
            None => None,
        };
        let tags = row.tag_list();
        Ok(super::csv_io::vcard(&row, org, tags))
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/vcard; charset=utf-8")
        .insert_header(("Content-Disposition", "attachment; filename=\"contact.vcf\""))
        .body(card))
}
