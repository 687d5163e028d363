//! Authentication: access tokens, refresh-token sessions, personal API tokens and the
//! `Actor` extractor that every protected handler takes.

pub mod api_tokens;
pub mod jwt;
pub mod password;
pub mod routes;
pub mod sessions;
pub mod throttle;

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use base64::Engine;
use diesel::prelude::*;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::access::{Actor, DefaultContactAccess, Privileges, Role};
use crate::db::schema::{accounts, api_tokens as at, office_memberships as om, users};
use crate::db::{self, DbConnection};
use crate::error::AppError;
use crate::state::AppState;

/// Personal API tokens carry this prefix, so the extractor knows not to parse them as JWTs.
pub const API_TOKEN_PREFIX: &str = "crm_pat_";

/// SCIM tokens carry this prefix; they are good for `/scim/v2` only.
pub const SCIM_TOKEN_PREFIX: &str = "crm_scim_";

/// 32 random bytes, URL-safe.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Tokens are stored as SHA-256 digests and looked up by digest: the database compares
/// digests, never secrets, so a lookup leaks nothing about the token through timing.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn unauthorized() -> AppError {
    AppError::Unauthorized("Missing or invalid bearer token.".into())
}

enum Credential {
    Jwt { user_id: String, account_id: String },
    ApiToken { digest: String },
    ScimToken { digest: String },
}

/// A bearer credential that passed the checks needing no database (a JWT's signature and
/// claims, a personal token's prefix), not yet looked up. A handler whose every use of
/// its caller is database work takes a `Caller` and loads it (`Caller::load`) on the
/// connection that does the work: one pool checkout and one blocking hop per request
/// instead of two (BENCHMARKS.md). A deactivated or deleted caller is still refused
/// (401) before anything else runs on that connection.
pub struct Caller(Credential);

/// The authenticated user's id, left in the request's extensions for the access log.
pub struct LoggedUser(pub String);

fn log_user(req: &HttpRequest, user_id: &str) {
    if tracing::enabled!(target: "access", tracing::Level::INFO) {
        req.extensions_mut().insert(LoggedUser(user_id.to_owned()));
    }
}

impl Caller {
    /// The `Actor`, read on `conn` (401 when the user or token is gone or deactivated).
    pub fn load(self, conn: &mut DbConnection) -> Result<Actor, AppError> {
        load_actor(conn, self.0)
    }

    /// The credential of a request, checked as far as it can be without the database
    /// (for middleware that needs the caller before the handler runs).
    pub fn from_request_head(req: &HttpRequest) -> Result<Caller, AppError> {
        Caller::from_parts(req).map(|(caller, _)| caller)
    }

    fn from_parts(req: &HttpRequest) -> Result<(Caller, web::Data<AppState>), AppError> {
        let state = req
            .app_data::<web::Data<AppState>>()
            .cloned()
            .ok_or_else(|| AppError::Internal("app state missing".into()))?;
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(unauthorized)?;
        let credential = if token.starts_with(SCIM_TOKEN_PREFIX) {
            // A SCIM token is no credential for the REST API.
            return Err(unauthorized());
        } else if token.starts_with(API_TOKEN_PREFIX) {
            Credential::ApiToken { digest: token_digest(token) }
        } else {
            let claims = state.jwt.verify(token)?;
            log_user(req, &claims.sub);
            Credential::Jwt { user_id: claims.sub, account_id: claims.acc }
        };
        Ok((Caller(credential), state))
    }
}

impl FromRequest for Caller {
    type Error = AppError;
    type Future = std::future::Ready<Result<Caller, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Caller::from_parts(req).map(|(caller, _)| caller))
    }
}

impl FromRequest for Actor {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Actor, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let parts = Caller::from_parts(req);
        let req = req.clone();
        Box::pin(async move {
            let (caller, state) = parts?;
            let actor = db::run(&state.pool, move |conn| caller.load(conn)).await?;
            // An API token's user is known only now.
            log_user(&req, actor.user_id());
            Ok(actor)
        })
    }
}

/// The `Actor` of a user the service acts as without a request (a webhook's creator):
/// the same load, so a deactivated user or a changed role counts at once (401 when gone
/// or deactivated).
pub fn actor_of_user(conn: &mut DbConnection, user_id: &str, account_id: &str) -> Result<Actor, AppError> {
    load_actor(conn, Credential::Jwt { user_id: user_id.to_owned(), account_id: account_id.to_owned() })
}

type ActorRow = (String, String, String, i64, bool, String, Option<String>, Option<i32>);

/// The `Actor` a SCIM request acts as: the token's creator, who must still be an active
/// owner or admin of the token's account (401 otherwise, and for an unknown token).
pub fn scim_actor(conn: &mut DbConnection, token: &str) -> Result<Actor, AppError> {
    let refused = || AppError::Unauthorized("Missing or invalid SCIM token.".into());
    if !token.starts_with(SCIM_TOKEN_PREFIX) {
        return Err(refused());
    }
    let actor = load_actor(conn, Credential::ScimToken { digest: token_digest(token) }).map_err(|e| match e {
        AppError::Unauthorized(_) => refused(),
        other => other,
    })?;
    if !actor.is_manager() {
        return Err(AppError::Unauthorized("The SCIM token's creator is no longer an owner or admin.".into()));
    }
    Ok(actor)
}

/// The account's active webhook subscriptions of active users, each with the actor it acts
/// as (built as the extractor builds a JWT caller's), in one query with the users' office
/// grants: the outbox's subscribers (SPEC §10).
pub fn subscriptions_with_actors(
    conn: &mut DbConnection,
    account_id: &str,
) -> Result<Vec<(crate::webhooks::model::WebhookRow, Actor)>, AppError> {
    use crate::db::schema::webhooks as wh;
    let rows: Vec<(crate::webhooks::model::WebhookRow, ActorRow)> = wh::table
        .inner_join(users::table.on(users::id.eq(wh::user_id)))
        .inner_join(accounts::table.on(accounts::id.eq(users::account_id)))
        .left_join(om::table.on(om::user_id.eq(users::id)))
        .filter(wh::account_id.eq(account_id))
        .filter(wh::active.eq(true))
        .filter(users::account_id.eq(account_id))
        .filter(users::active.eq(true))
        .order(wh::id)
        .select((
            wh::all_columns,
            (
                users::id,
                users::account_id,
                users::role,
                users::privileges,
                users::active,
                accounts::default_contact_access,
                om::office_id.nullable(),
                om::level.nullable(),
            ),
        ))
        .load(conn)?;
    let mut out = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while let Some((hook, first)) = rows.next() {
        let mut grants: Vec<(String, i32)> = first.6.clone().zip(first.7).into_iter().collect();
        while let Some((_, next)) = rows.next_if(|(h, _)| h.id == hook.id) {
            grants.extend(next.6.zip(next.7));
        }
        let role = Role::parse(&first.2).ok_or_else(|| AppError::Internal(format!("bad role {}", first.2)))?;
        let actor = Actor::authenticated(
            first.0,
            first.1,
            role,
            Privileges(first.3),
            DefaultContactAccess::from_stored(&first.5),
            false,
            grants,
        );
        out.push((hook, actor));
    }
    Ok(out)
}

/// Loads the user (with the account's default access and the user's office grants, in one
/// query) on every request, so deactivation, role and grant changes apply at once.
fn load_actor(conn: &mut DbConnection, credential: Credential) -> Result<Actor, AppError> {
    let columns = (
        users::id,
        users::account_id,
        users::role,
        users::privileges,
        users::active,
        accounts::default_contact_access,
        om::office_id.nullable(),
        om::level.nullable(),
    );
    let (rows, via_api_token): (Vec<ActorRow>, bool) = match credential {
        Credential::Jwt { user_id, account_id } => {
            let rows = users::table
                .inner_join(accounts::table)
                .left_join(om::table.on(om::user_id.eq(users::id)))
                .filter(users::id.eq(user_id))
                .filter(users::account_id.eq(account_id))
                .select(columns)
                .load::<ActorRow>(conn)?;
            (rows, false)
        }
        Credential::ApiToken { digest } => {
            let now = crate::http::now();
            let rows = at::table
                .inner_join(users::table.on(users::id.eq(at::user_id)))
                .inner_join(accounts::table.on(accounts::id.eq(users::account_id)))
                .left_join(om::table.on(om::user_id.eq(users::id)))
                .filter(at::token_hash.eq(digest))
                .filter(at::expires_at.is_null().or(at::expires_at.gt(now)))
                .select(columns)
                .load::<ActorRow>(conn)?;
            (rows, true)
        }
        Credential::ScimToken { digest } => {
            use crate::db::schema::scim_tokens as st;
            let rows = st::table
                .inner_join(users::table.on(users::id.eq(st::created_by).and(users::account_id.eq(st::account_id))))
                .inner_join(accounts::table.on(accounts::id.eq(users::account_id)))
                .left_join(om::table.on(om::user_id.eq(users::id)))
                .filter(st::token_hash.eq(digest))
                .select(columns)
                .load::<ActorRow>(conn)?;
            (rows, false)
        }
    };
    let grants: Vec<(String, i32)> = rows.iter().filter_map(|r| Some((r.6.clone()?, r.7?))).collect();
    let row = rows.into_iter().next().map(|r| (r.0, r.1, r.2, r.3, r.4, r.5));
    let (user_id, account_id, role, privileges, active, default_access) = row.ok_or_else(unauthorized)?;
    let role = Role::parse(&role).ok_or_else(|| AppError::Internal(format!("bad role {role}")))?;
    if !active {
        return Err(AppError::Unauthorized("This user is deactivated.".into()));
    }
    // Focused users may not hold personal tokens; one issued before a role change dies here.
    if via_api_token && !role.may_hold_tokens() {
        return Err(unauthorized());
    }
    Ok(Actor::authenticated(
        user_id,
        account_id,
        role,
        Privileges(privileges),
        DefaultContactAccess::from_stored(&default_access),
        via_api_token,
        grants,
    ))
}
