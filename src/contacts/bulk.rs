//! `POST /v1/contacts/bulk`: one transaction, each id through the same update path as
//! PATCH, each reported as `ok`, `not_found` or `forbidden`.

use actix_web::{post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::model::{validate_tags, ContactPatch};
use super::queries;
use crate::access::{Actor, ContactScope, Privilege};
use crate::db;
use crate::error::AppError;
use crate::http::{parse_json, ValidJson};
use crate::state::AppState;
use crate::users::model::{BulkItemResult, BulkOutcome, BulkResult};

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ContactBulkOp {
    AddTags,
    RemoveTags,
    SetStatus,
    SetOwner,
    SetOffice,
    SetCustomFields,
}

/// `value`: a list of tags for `add_tags`/`remove_tags`; a status (or `null`) for
/// `set_status` (privilege `bulk_update_status`); a user id (or `null`) for `set_owner`
/// (privilege `bulk_update_owner`); an office id (or `null`) for `set_office`; an object of
/// custom field values (`null` clears one) for `set_custom_fields`, checked as on PATCH.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactBulk {
    #[schema(min_items = 1, max_items = 1000)]
    #[validate(length(min = 1, max = 1000, message = "must list 1 to 1000 ids"))]
    pub ids: Vec<uuid::Uuid>,
    pub op: ContactBulkOp,
    #[schema(value_type = serde_json::Value)]
    pub value: serde_json::Value,
}

enum Change {
    AddTags(Vec<String>),
    RemoveTags(Vec<String>),
    Patch(Box<ContactPatch>),
}

fn as_value<T: serde::de::DeserializeOwned>(value: &serde_json::Value) -> Result<T, AppError> {
    parse_json::<T>(value.to_string().as_bytes()).map_err(|e| match e {
        AppError::Validation(errors) => AppError::Validation(
            errors
                .into_iter()
                .map(|(k, v)| (if k == "body" { "value".into() } else { format!("value.{k}") }, v))
                .collect(),
        ),
        other => other,
    })
}

fn parse_change(actor: &Actor, op: ContactBulkOp, value: &serde_json::Value) -> Result<Change, AppError> {
    let tags = || -> Result<Vec<String>, AppError> {
        let tags: Vec<String> = as_value(value)?;
        validate_tags(&tags)
            .map_err(|e| AppError::field("value", e.message.map(|m| m.to_string()).unwrap_or_default()))?;
        Ok(tags)
    };
    Ok(match op {
        ContactBulkOp::AddTags => Change::AddTags(tags()?),
        ContactBulkOp::RemoveTags => Change::RemoveTags(tags()?),
        ContactBulkOp::SetStatus => {
            if !actor.has(Privilege::BulkUpdateStatus) {
                return Err(AppError::forbidden("set_status needs the bulk_update_status privilege."));
            }
            Change::Patch(Box::new(ContactPatch { status: Some(as_value(value)?), ..Default::default() }))
        }
        ContactBulkOp::SetOwner => {
            if !actor.has(Privilege::BulkUpdateOwner) {
                return Err(AppError::forbidden("set_owner needs the bulk_update_owner privilege."));
            }
            Change::Patch(Box::new(ContactPatch { owner_id: Some(as_value(value)?), ..Default::default() }))
        }
        ContactBulkOp::SetCustomFields => {
            Change::Patch(Box::new(ContactPatch { custom_fields: Some(as_value(value)?), ..Default::default() }))
        }
        ContactBulkOp::SetOffice => {
            Change::Patch(Box::new(ContactPatch { office_id: Some(as_value(value)?), ..Default::default() }))
        }
    })
}

/// Applies one operation to many contacts in one transaction. Each id answers `ok`,
/// `not_found` (missing, hidden or another account's) or `forbidden` (visible below
/// `edit`). An invalid `value` (unknown status, owner or office) fails the whole request
/// with 422 and changes nothing.
///
/// Up to 1,000 ids; a repeated id is handled once. Each id goes through the same checks as
/// `PATCH /v1/contacts/{id}`; `add_tags` and `remove_tags` merge with the contact's current
/// tags. `set_status` needs `bulk_update_status` and `set_owner` `bulk_update_owner`: without
/// it the whole request is 403.
#[utoipa::path(
    tag = "contacts",
    request_body = ContactBulk,
    responses(
        (status = 200, body = BulkResult),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "The op needs a privilege the caller lacks"),
        (status = 422, description = "Invalid ids, op or value"),
        crate::http::BodyErrors,
    ),
    security(("bearer" = []))
)]
#[post("/contacts/bulk")]
pub async fn bulk_contacts(
    state: web::Data<AppState>,
    actor: Actor,
    body: ValidJson<ContactBulk>,
) -> Result<HttpResponse, AppError> {
    let input = body.0;
    let change = parse_change(&actor, input.op, &input.value)?;
    let out = db::write(&state.pool, move |conn| {
        let scope = ContactScope::of(&actor);
        let mut seen = std::collections::HashSet::new();
        let mut results = Vec::new();
        for id in input.ids.iter().map(uuid::Uuid::to_string) {
            if !seen.insert(id.clone()) {
                continue;
            }
            let patch = match &change {
                Change::Patch(p) => (**p).clone(),
                Change::AddTags(add) | Change::RemoveTags(add) => {
                    // Tags are merged with the row's current ones, read through the scope.
                    let current = match queries::find(conn, &scope, &id) {
                        Ok((row, _)) => row.tag_list(),
                        Err(AppError::NotFound) => Vec::new(),
                        Err(e) => return Err(e),
                    };
                    let tags: Vec<String> = match &change {
                        Change::AddTags(_) => current.into_iter().chain(add.iter().cloned()).collect(),
                        _ => current.into_iter().filter(|t| !add.contains(t)).collect(),
                    };
                    ContactPatch { tags: Some(tags), ..Default::default() }
                }
            };
            let outcome = match queries::update(conn, &actor, &scope, &id, patch, None) {
                Ok(_) => (BulkOutcome::Ok, None),
                Err(AppError::NotFound) => (BulkOutcome::NotFound, None),
                Err(AppError::Forbidden(m)) => (BulkOutcome::Forbidden, Some(m)),
                Err(e) => return Err(e),
            };
            results.push(BulkItemResult { id, result: outcome.0, detail: outcome.1 });
        }
        Ok(BulkResult { results })
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}
