//! `/v1/auth/*`: signup, login, refresh, logout.

use actix_web::{post, web, HttpRequest, HttpResponse};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::password;
use super::sessions::{self, Rotation, Tokens};
use super::throttle;
use crate::access::{Actor, Privileges, Role};
use crate::account::model::{encode_list, AccountRow, AccountSettings, AccountView};
use crate::audit::{self, AuditCtx};
use crate::db::schema::{accounts, users};
use crate::db::{self};
use crate::error::AppError;
use crate::http::{created, new_id, now, ValidJson};
use crate::state::AppState;
use crate::users::model::{UserRow, UserView};

/// Body of `POST /v1/auth/signup`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupIn {
    #[schema(min_length = 1, max_length = 200)]
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters long"))]
    pub account_name: String,
    #[schema(max_length = 254, format = Email)]
    #[validate(email(message = "must be a valid email address"), length(max = 254))]
    pub email: String,
    #[schema(min_length = 8, max_length = 256)]
    #[validate(length(min = 8, max = 256, message = "must be 8 to 256 characters long"))]
    pub password: String,
    #[schema(min_length = 1, max_length = 100)]
    #[validate(length(min = 1, max = 100, message = "must be 1 to 100 characters long"))]
    pub first_name: String,
    #[schema(min_length = 1, max_length = 100)]
    #[validate(length(min = 1, max = 100, message = "must be 1 to 100 characters long"))]
    pub last_name: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SignupOut {
    pub account: AccountView,
    pub user: UserView,
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: String,
    pub expires_in: i64,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginIn {
    #[schema(min_length = 1, max_length = 254)]
    #[validate(length(min = 1, max = 254, message = "must not be empty"))]
    pub email: String,
    #[schema(min_length = 1, max_length = 256)]
    #[validate(length(min = 1, max = 256, message = "must not be empty"))]
    pub password: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshIn {
    #[schema(min_length = 1, max_length = 200)]
    #[validate(length(min = 1, max = 200, message = "must not be empty"))]
    pub refresh_token: String,
}

/// Creates an account and its owner, and signs the owner in.
///
/// Public: no token. Answers 201 with the new account (default settings), its owner and a token
/// pair like `POST /v1/auth/login` gives. 409 when the email is already registered (emails are
/// unique in the whole deployment, case-insensitively); 403 when the deployment runs with
/// `ALLOW_SIGNUP=false`.
#[utoipa::path(
    tag = "auth",
    request_body = SignupIn,
    responses(
        (status = 201, body = SignupOut, headers(("Location" = String, description = "/v1/account"))),
        (status = 403, description = "Signup is disabled on this deployment (ALLOW_SIGNUP=false)"),
        (status = 409, description = "The email is already registered"),
        (status = 422, description = "Invalid fields"),
        crate::http::BodyErrors,
    )
)]
#[post("/auth/signup")]
pub async fn signup(state: web::Data<AppState>, body: ValidJson<SignupIn>) -> Result<HttpResponse, AppError> {
    if !state.settings.allow_signup {
        return Err(AppError::forbidden("Signup is disabled on this deployment."));
    }
    let input = body.0;
    let password = input.password.clone();
    let password_hash = db::blocking(move || password::hash(&password)).await?;
    let st = state.clone();
    let out = db::write(&state.pool, move |conn| {
        let at = now();
        let defaults = AccountSettings::default();
        let account = AccountRow {
            id: new_id(),
            name: input.account_name.trim().to_owned(),
            default_contact_access: defaults.default_contact_access.as_str().into(),
            contact_statuses: encode_list(&defaults.contact_statuses),
            lead_sources: encode_list(&defaults.lead_sources),
            deal_stages: encode_list(&defaults.deal_stages),
            call_results: encode_list(&defaults.call_results),
            version: 1,
            created_at: at,
            updated_at: at,
        };
        diesel::insert_into(accounts::table).values(&account).execute(conn)?;
        let user = UserRow {
            id: new_id(),
            account_id: account.id.clone(),
            email: input.email.trim().to_owned(),
            email_lower: input.email.trim().to_lowercase(),
            password_hash,
            first_name: input.first_name,
            last_name: input.last_name,
            role: Role::Owner.as_str().into(),
            privileges: Privileges::default().0,
            active: true,
            version: 1,
            created_at: at,
            updated_at: at,
        };
        diesel::insert_into(users::table).values(&user).execute(conn).map_err(crate::users::queries::email_conflict)?;
        let ctx = AuditCtx { account_id: account.id.clone(), actor_id: Some(user.id.clone()) };
        let (account_view, user_view) = (account.view(), UserView::full(&user));
        audit::record(conn, &ctx, "account", &account.id, None, Some(&account_view))?;
        audit::record(conn, &ctx, "user", &user.id, None, Some(&user_view))?;
        let tokens = sessions::issue(conn, &st, &user.id, &account.id, None)?;
        Ok(SignupOut {
            account: account_view,
            user: user_view,
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            token_type: tokens.token_type,
            expires_in: tokens.expires_in,
        })
    })
    .await?;
    Ok(created("/v1/account".into(), None, &out))
}

/// Exchanges email and password for tokens. Attempts are throttled per email and per
/// client address (429 with `Retry-After`).
///
/// Public: no token. The email is matched case-insensitively. An unknown email, a wrong
/// password and a deactivated user all answer the same 401. The access token is a JWT valid for
/// `expires_in` seconds; trade the refresh token for a new pair with `POST /v1/auth/refresh`.
#[utoipa::path(
    tag = "auth",
    request_body = LoginIn,
    responses(
        (status = 200, body = Tokens),
        (status = 400, description = "Malformed JSON"),
        (status = 401, description = "Wrong email or password, or the user is deactivated"),
        (status = 403, description = "The account enforces single sign-on and the user is not its owner"),
        (status = 415, description = "Body is not JSON"),
        (status = 422, description = "Invalid fields"),
        (status = 429, description = "Too many login attempts"),
    )
)]
#[post("/auth/login")]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: ValidJson<LoginIn>,
) -> Result<HttpResponse, AppError> {
    let input = body.0;
    let ip = state.trusted_proxies.client_of(req.head(), req.peer_addr());
    let (per_minute, email) = (state.settings.login_attempts_per_minute, input.email.clone());
    if !db::write(&state.pool, move |conn| throttle::allow(conn, per_minute, &email, &ip)).await? {
        return Err(AppError::TooManyRequests);
    }
    // Verify outside any transaction: argon2 is slow on purpose and must not hold a lock.
    let user = db::run(&state.pool, move |conn| {
        let user: Option<UserRow> =
            users::table.filter(users::email_lower.eq(input.email.trim().to_lowercase())).first(conn).optional()?;
        let bad = || AppError::Unauthorized("Wrong email or password.".into());
        let Some(user) = user else {
            password::verify_dummy(&input.password);
            return Err(bad());
        };
        if !password::verify(&input.password, &user.password_hash) || !user.active {
            return Err(bad());
        }
        // Checked after the password, so the answer tells nothing to who does not know it.
        crate::sso::config::refuse_password_if_enforced(conn, &user.account_id, user.role())?;
        Ok(user)
    })
    .await?;
    let st = state.clone();
    let tokens =
        db::write(&state.pool, move |conn| sessions::issue(conn, &st, &user.id, &user.account_id, None)).await?;
    Ok(HttpResponse::Ok().json(tokens))
}

/// Rotates a refresh token: the presented one is spent and a new pair is returned.
/// Presenting a spent token again revokes every token of its family.
///
/// Public: no token, the refresh token in the body is the credential. Answers a new access and
/// refresh token; keep only the new refresh token. 401 when the token is unknown, expired or
/// revoked, when its user is deactivated, or when it was already used.
#[utoipa::path(
    tag = "auth",
    request_body = RefreshIn,
    responses(
        (status = 200, body = Tokens),
        (status = 400, description = "Malformed JSON"),
        (status = 401, description = "Unknown, expired, revoked or reused refresh token"),
        (status = 415, description = "Body is not JSON"),
        (status = 422, description = "Invalid fields"),
    )
)]
#[post("/auth/refresh")]
pub async fn refresh(state: web::Data<AppState>, body: ValidJson<RefreshIn>) -> Result<HttpResponse, AppError> {
    let presented = body.0.refresh_token;
    let st = state.clone();
    let rotation = db::write(&state.pool, move |conn| sessions::rotate(conn, &st, &presented)).await?;
    match rotation {
        Rotation::Rotated(tokens) => Ok(HttpResponse::Ok().json(tokens)),
        Rotation::Rejected => Err(AppError::Unauthorized("The refresh token is invalid or expired.".into())),
        Rotation::ReuseDetected => {
            Err(AppError::Unauthorized("The refresh token was already used; its session has been revoked.".into()))
        }
    }
}

/// Ends a session: revokes the presented refresh token's family. Idempotent.
///
/// Needs a bearer access token, and revokes only a refresh token of the caller's own; the
/// access token itself stays valid until it expires. Answers 204 also when the refresh token is
/// unknown, spent or another user's, so the answer reveals nothing about it.
#[utoipa::path(
    tag = "auth",
    request_body = RefreshIn,
    responses(
        (status = 204, description = "Revoked (or already unknown)"),
        (status = 400, description = "Malformed JSON"),
        (status = 401, description = "Missing or invalid access token"),
        (status = 415, description = "Body is not JSON"),
        (status = 422, description = "Invalid fields"),
    ),
    security(("bearer" = []))
)]
#[post("/auth/logout")]
pub async fn logout(
    state: web::Data<AppState>,
    actor: Actor,
    body: ValidJson<RefreshIn>,
) -> Result<HttpResponse, AppError> {
    let presented = body.0.refresh_token;
    db::write(&state.pool, move |conn| sessions::revoke_for_user(conn, actor.user_id(), &presented)).await?;
    Ok(HttpResponse::NoContent().finish())
}
