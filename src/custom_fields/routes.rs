//! `/v1/custom-fields` handlers.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use uuid::Uuid;

use super::model::*;
use super::queries;
use crate::access::Actor;
use crate::auth::Caller;
use crate::db;
use crate::error::AppError;
use crate::http::{created, if_match, ok_with_etag, Query, ValidJson};
use crate::state::AppState;

/// The account's custom field definitions (every role may read them).
///
/// Filter with `entity` and `updated_since`. Ordered by creation.
#[utoipa::path(
    tag = "custom-fields",
    params(CustomFieldFilter),
    responses(
        (status = 200, body = Vec<CustomFieldView>),
        (status = 400, description = "Malformed query"),
        (status = 401, description = "Missing or invalid token"),
    ),
    security(("bearer" = []))
)]
#[get("/custom-fields")]
pub async fn list_custom_fields(
    state: web::Data<AppState>,
    caller: Caller,
    filter: Query<CustomFieldFilter>,
) -> Result<HttpResponse, AppError> {
    let entity = filter.entity;
    let since = filter.updated_since.as_deref().map(crate::http::parse_since).transpose()?;
    let rows = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        queries::list(conn, &actor, entity, since)
    })
    .await?;
    Ok(HttpResponse::Ok().json(rows.iter().map(FieldRow::view).collect::<Vec<_>>()))
}

/// Defines a custom field (owner/admin).
///
/// `key` is unique per entity (409 otherwise) and never changes. `select` and `multi_select`
/// need `options`; other types take none. A `required` field must be given on every new
/// record of the entity; existing records are not touched.
#[utoipa::path(
    tag = "custom-fields",
    request_body = NewCustomField,
    responses(
        (status = 201, body = CustomFieldView, headers(("Location" = String), ("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Not owner or admin"),
        (status = 409, description = "The key is taken for this entity"),
        (status = 422, description = "Invalid key, label, type or options; too many fields"),
        crate::http::BodyErrors,
    ),
    security(("bearer" = []))
)]
#[post("/custom-fields")]
pub async fn create_custom_field(
    state: web::Data<AppState>,
    actor: Actor,
    body: ValidJson<NewCustomField>,
) -> Result<HttpResponse, AppError> {
    let input = body.0;
    let view = db::write(&state.pool, move |conn| queries::create(conn, &actor, input)).await?;
    Ok(created(format!("/v1/custom-fields/{}", view.id), Some(view.version), &view))
}

/// One definition.
///
/// Send the `ETag` back as `If-Match` on PATCH.
#[utoipa::path(
    tag = "custom-fields",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = CustomFieldView, headers(("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 404, description = "Missing or another account's"),
    ),
    security(("bearer" = []))
)]
#[get("/custom-fields/{id}")]
pub async fn get_custom_field(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    let row = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        queries::find(conn, &actor, &id)
    })
    .await?;
    Ok(ok_with_etag(row.version, &row.view()))
}

/// Changes a definition's label, options or `required` (owner/admin).
///
/// Removing an option clears it from every record that used it, in the same transaction:
/// a `select` value becomes unset, a `multi_select` keeps its other options; each such
/// record gets a new `version`. No value is ever left outside the options.
#[utoipa::path(
    tag = "custom-fields",
    request_body = CustomFieldPatch,
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "ETag from GET")),
    responses(
        (status = 200, body = CustomFieldView, headers(("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Not owner or admin"),
        (status = 404, description = "Missing or another account's"),
        (status = 412, description = "If-Match does not match"),
        (status = 422, description = "Invalid label or options (or options on a type without them)"),
        crate::http::BodyErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/custom-fields/{id}")]
pub async fn patch_custom_field(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<Uuid>,
    body: ValidJson<CustomFieldPatch>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    let wanted = if_match(&req)?;
    let patch = body.0;
    let view = db::write(&state.pool, move |conn| queries::update(conn, &actor, &id, wanted, &patch)).await?;
    Ok(ok_with_etag(view.version, &view))
}

/// Deletes a definition and its values on every record (owner/admin).
///
/// Answers 204. Each record that had a value gets a new `version`; the deletion itself is
/// one audit entry.
#[utoipa::path(
    tag = "custom-fields",
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted, with its values"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Not owner or admin"),
        (status = 404, description = "Missing or another account's"),
    ),
    security(("bearer" = []))
)]
#[delete("/custom-fields/{id}")]
pub async fn delete_custom_field(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    db::write(&state.pool, move |conn| queries::delete(conn, &actor, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}
