//! Personal API tokens: usable as bearer tokens, stored as digests, shown once.

use actix_web::{delete, get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use super::{random_token, token_digest, API_TOKEN_PREFIX};
use crate::access::Actor;
use crate::db;
use crate::db::schema::api_tokens as at;
use crate::error::AppError;
use crate::http::{created, new_id, now, utc, ValidJson};
use crate::state::AppState;

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiToken {
    #[schema(min_length = 1, max_length = 100)]
    #[validate(length(min = 1, max = 100, message = "must be 1 to 100 characters long"))]
    pub name: String,
    /// Lifetime in days (1..=3650); no expiry when absent.
    #[schema(minimum = 1, maximum = 3650)]
    #[validate(range(min = 1, max = 3650, message = "must be between 1 and 3650"))]
    #[serde(default, deserialize_with = "crate::http::integral::option")]
    pub expires_in_days: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiTokenView {
    pub id: String,
    pub name: String,
    /// First characters of the token, to recognise it.
    pub prefix: String,
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub created_at: DateTime<Utc>,
}

/// The created token: `token` is shown this once and never again.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedApiToken {
    #[serde(flatten)]
    pub meta: ApiTokenView,
    pub token: String,
}

type TokenRow = (String, String, String, Option<chrono::NaiveDateTime>, chrono::NaiveDateTime);

fn view((id, name, prefix, expires_at, created_at): TokenRow) -> ApiTokenView {
    ApiTokenView { id, name, prefix, expires_at: expires_at.map(utc), created_at: utc(created_at) }
}

fn forbid_focused(actor: &Actor) -> Result<(), AppError> {
    if !actor.role().may_hold_tokens() {
        return Err(AppError::forbidden("Focused users cannot use personal API tokens."));
    }
    Ok(())
}

/// Creates a personal API token for the caller (not for focused users).
///
/// Answers 201 with the token's metadata and `token`, the secret (it starts with `crm_pat_`):
/// it is shown this once only. Send it as `Authorization: Bearer crm_pat_…`; it acts as the
/// caller with the caller's role and privileges at the time of each request. Without
/// `expires_in_days` it never expires. 403 for focused users.
#[utoipa::path(
    tag = "api-tokens",
    request_body = NewApiToken,
    responses(
        (status = 201, body = CreatedApiToken, headers(("Location" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Focused users cannot hold API tokens"),
        (status = 422, description = "Invalid or unknown fields"),
        crate::http::BodyErrors,
    ),
    security(("bearer" = []))
)]
#[post("/api-tokens")]
pub async fn create_api_token(
    state: web::Data<AppState>,
    actor: Actor,
    body: ValidJson<NewApiToken>,
) -> Result<HttpResponse, AppError> {
    forbid_focused(&actor)?;
    let input = body.0;
    let token = format!("{API_TOKEN_PREFIX}{}", random_token());
    let digest = token_digest(&token);
    let prefix: String = token.chars().take(API_TOKEN_PREFIX.len() + 6).collect();
    let out = db::write(&state.pool, move |conn| {
        let created_at = now();
        let row: TokenRow = (
            new_id(),
            input.name,
            prefix,
            input.expires_in_days.map(|d| created_at + chrono::Duration::days(d)),
            created_at,
        );
        diesel::insert_into(at::table)
            .values((
                at::id.eq(&row.0),
                at::account_id.eq(actor.account_id()),
                at::user_id.eq(actor.user_id()),
                at::name.eq(&row.1),
                at::token_hash.eq(&digest),
                at::prefix.eq(&row.2),
                at::expires_at.eq(row.3),
                at::created_at.eq(row.4),
            ))
            .execute(conn)?;
        Ok(view(row))
    })
    .await?;
    Ok(created(format!("/v1/api-tokens/{}", out.id), None, &CreatedApiToken { meta: out, token }))
}

/// The caller's own API tokens (never the secrets).
///
/// Each entry has the id, the name, the first characters of the token (`prefix`) and
/// `expires_at`; expired tokens are listed too. Oldest first; only the caller's own tokens. 403
/// for focused users.
#[utoipa::path(
    tag = "api-tokens",
    responses(
        (status = 200, body = Vec<ApiTokenView>),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Focused users cannot hold API tokens"),
    ),
    security(("bearer" = []))
)]
#[get("/api-tokens")]
pub async fn list_api_tokens(state: web::Data<AppState>, actor: Actor) -> Result<HttpResponse, AppError> {
    forbid_focused(&actor)?;
    let list = db::run(&state.pool, move |conn| {
        let rows: Vec<TokenRow> = at::table
            .filter(at::account_id.eq(actor.account_id()))
            .filter(at::user_id.eq(actor.user_id()))
            .select((at::id, at::name, at::prefix, at::expires_at, at::created_at))
            .order(at::id.asc())
            .load(conn)?;
        Ok(rows.into_iter().map(view).collect::<Vec<_>>())
    })
    .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Revokes one of the caller's API tokens; it stops working at once.
///
/// Answers 204. Only the caller's own tokens: another user's token answers 404, exactly like a
/// missing one.
#[utoipa::path(
    tag = "api-tokens",
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Missing or invalid token"),
        (status = 404, description = "No such token of the caller"),
    ),
    security(("bearer" = []))
)]
#[delete("/api-tokens/{id}")]
pub async fn delete_api_token(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    let deleted = db::write(&state.pool, move |conn| {
        Ok(diesel::delete(
            at::table
                .filter(at::id.eq(&id))
                .filter(at::user_id.eq(actor.user_id()))
                .filter(at::account_id.eq(actor.account_id())),
        )
        .execute(conn)?)
    })
    .await?;
    if deleted == 0 {
        return Err(AppError::NotFound);
    }
    Ok(HttpResponse::NoContent().finish())
}
