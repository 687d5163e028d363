//! `/v1/account/scim-tokens`: the bearer tokens of SCIM provisioning (SPEC §11). Shown once,
//! stored as SHA-256 digests like personal API tokens; each acts as its creator, who must
//! still be an active owner or admin when it is used.

use actix_web::{delete, get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use crate::access::Actor;
use crate::audit::{self, AuditCtx};
use crate::auth::{random_token, token_digest, SCIM_TOKEN_PREFIX};
use crate::db;
use crate::db::schema::scim_tokens as st;
use crate::error::AppError;
use crate::http::{created, new_id, now, utc, ValidJson};
use crate::state::AppState;

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewScimToken {
    /// What the token is for, e.g. `Entra ID provisioning`.
    #[schema(min_length = 1, max_length = 100)]
    #[validate(length(min = 1, max = 100, message = "must be 1 to 100 characters long"))]
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScimTokenView {
    pub id: String,
    pub name: String,
    /// First characters of the token, to recognise it.
    pub prefix: String,
    /// The owner or admin the token acts as (SCIM's changes are audited under this user).
    pub created_by: String,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub created_at: DateTime<Utc>,
}

/// The created token: `token` is shown this once and never again.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedScimToken {
    #[serde(flatten)]
    pub meta: ScimTokenView,
    pub token: String,
}

type TokenRow = (String, String, String, String, chrono::NaiveDateTime);

fn view((id, name, prefix, created_by, created_at): TokenRow) -> ScimTokenView {
    ScimTokenView { id, name, prefix, created_by, created_at: utc(created_at) }
}

/// Creates a SCIM token for the account (owner/admin).
///
/// Answers 201 with `token` (it starts with `crm_scim_`), shown this once only. Configure it
/// as the bearer token of your identity provider's provisioning (`/scim/v2`). The token acts
/// as the caller: SCIM changes are audited under the caller's id, and the token stops working
/// when the caller is deactivated, deleted or no longer owner/admin. 403 for other roles.
#[utoipa::path(
    tag = "sso",
    request_body = NewScimToken,
    responses(
        (status = 201, body = CreatedScimToken, headers(("Location" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Caller is not owner or admin"),
        (status = 422, description = "Invalid or unknown fields"),
        crate::http::BodyErrors,
    ),
    security(("bearer" = []))
)]
#[post("/account/scim-tokens")]
pub async fn create_scim_token(
    state: web::Data<AppState>,
    actor: Actor,
    body: ValidJson<NewScimToken>,
) -> Result<HttpResponse, AppError> {
    actor.require_manager()?;
    let input = body.0;
    let token = format!("{SCIM_TOKEN_PREFIX}{}", random_token());
    let digest = token_digest(&token);
    let prefix: String = token.chars().take(SCIM_TOKEN_PREFIX.len() + 6).collect();
    let out = db::write(&state.pool, move |conn| {
        let row: TokenRow = (new_id(), input.name, prefix, actor.user_id().to_owned(), now());
        diesel::insert_into(st::table)
            .values((
                st::id.eq(&row.0),
                st::account_id.eq(actor.account_id()),
                st::created_by.eq(&row.3),
                st::name.eq(&row.1),
                st::token_hash.eq(&digest),
                st::prefix.eq(&row.2),
                st::created_at.eq(row.4),
            ))
            .execute(conn)?;
        let v = view(row);
        audit::record(conn, &AuditCtx::from(&actor), "scim_token", &v.id, None, Some(&v))?;
        Ok(v)
    })
    .await?;
    Ok(created(format!("/v1/account/scim-tokens/{}", out.id), None, &CreatedScimToken { meta: out, token }))
}

/// The account's SCIM tokens (owner/admin), never the secrets.
///
/// Oldest first, every creator's. 403 for other roles.
#[utoipa::path(
    tag = "sso",
    responses(
        (status = 200, body = Vec<ScimTokenView>),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Caller is not owner or admin"),
    ),
    security(("bearer" = []))
)]
#[get("/account/scim-tokens")]
pub async fn list_scim_tokens(state: web::Data<AppState>, actor: Actor) -> Result<HttpResponse, AppError> {
    actor.require_manager()?;
    let list = db::run(&state.pool, move |conn| {
        let rows: Vec<TokenRow> = st::table
            .filter(st::account_id.eq(actor.account_id()))
            .select((st::id, st::name, st::prefix, st::created_by, st::created_at))
            .order(st::id.asc())
            .load(conn)?;
        Ok(rows.into_iter().map(view).collect::<Vec<_>>())
    })
    .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Revokes a SCIM token of the account (owner/admin); it stops working at once.
///
/// Answers 204. 403 for other roles; 404 for a token of another account, like a missing one.
#[utoipa::path(
    tag = "sso",
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Caller is not owner or admin"),
        (status = 404, description = "No such token in this account"),
    ),
    security(("bearer" = []))
)]
#[delete("/account/scim-tokens/{id}")]
pub async fn delete_scim_token(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    actor.require_manager()?;
    let id = id.into_inner().to_string();
    db::write(&state.pool, move |conn| {
        let row: TokenRow = st::table
            .filter(st::id.eq(&id))
            .filter(st::account_id.eq(actor.account_id()))
            .select((st::id, st::name, st::prefix, st::created_by, st::created_at))
            .first(conn)
            .optional()?
            .ok_or(AppError::NotFound)?;
        diesel::delete(st::table.filter(st::id.eq(&id)).filter(st::account_id.eq(actor.account_id()))).execute(conn)?;
        audit::record(conn, &AuditCtx::from(&actor), "scim_token", &id, Some(&view(row)), None)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
