//! OpenID Connect login (SPEC §11): `GET /v1/auth/sso/start`, `GET /v1/auth/sso/callback`,
//! `POST /v1/auth/sso/exchange`. Authorization code flow with PKCE (S256), `state` and
//! `nonce` kept in the database (any replica takes the callback; single use; 10 minutes),
//! the ID token verified by the `openidconnect` crate against the provider's JWKS (`iss`,
//! `aud`, `exp`, `nonce`, signature), and a one-time code (60 s) for the frontend.

use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use base64::Engine;
use diesel::prelude::*;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, LoginHint, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::config::{client_secret, find, find_by_domain, SsoConfig};
use crate::access::Role;
use crate::audit::AuditCtx;
use crate::auth::sessions::{self, Tokens};
use crate::auth::{random_token, token_digest};
use crate::db::schema::{sso_codes, sso_logins, users};
use crate::db::{self, DbConnection};
use crate::error::AppError;
use crate::http::{new_id, now, ValidJson};
use crate::state::AppState;
use crate::users::model::UserRow;

/// How long a login may take at the provider.
const LOGIN_TTL_SECS: i64 = 600;
/// How long the frontend has to exchange its one-time code.
const CODE_TTL_SECS: i64 = 60;

/// Query of `GET /v1/auth/sso/start`.
#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct SsoStart {
    /// The user's email: its domain names the account whose provider is used.
    #[param(max_length = 254, format = Email)]
    #[validate(length(min = 3, max = 254, message = "must be an email address"))]
    pub email: String,
    /// Where the frontend wants the one-time code: one of the configuration's `redirect_uris`.
    #[param(max_length = 500)]
    #[validate(length(min = 1, max = 500, message = "must be 1 to 500 characters long"))]
    pub redirect_uri: String,
}

/// Query of `GET /v1/auth/sso/callback`, as the provider sends it.
#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct SsoCallback {
    #[param(max_length = 500)]
    #[validate(length(max = 500))]
    pub state: Option<String>,
    #[param(max_length = 2000)]
    #[validate(length(max = 2000))]
    pub code: Option<String>,
    /// Set when the provider refused the login.
    #[param(max_length = 200)]
    #[validate(length(max = 200))]
    pub error: Option<String>,
    #[param(max_length = 1000)]
    #[validate(length(max = 1000))]
    pub error_description: Option<String>,
    /// The issuer (RFC 9207), when the provider sends it: must be the configured one.
    #[param(max_length = 500)]
    #[validate(length(max = 500))]
    pub iss: Option<String>,
    #[param(max_length = 500)]
    #[validate(length(max = 500))]
    pub session_state: Option<String>,
}

/// Body of `POST /v1/auth/sso/exchange`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SsoExchange {
    /// The one-time code the callback appended to the `redirect_uri`.
    #[schema(min_length = 1, max_length = 200)]
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters long"))]
    pub code: String,
}

fn provider_error(what: &str, e: impl std::fmt::Display) -> AppError {
    tracing::warn!(error = %e, "SSO: {what}");
    AppError::BadGateway(format!("The identity provider could not be used: {what}."))
}

/// HTTP client for the provider: no redirects (SSRF), 10 s.
fn http_client() -> Result<reqwest::Client, AppError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| AppError::Internal(format!("http client: {e}")))
}

fn callback_url(state: &AppState, req: &HttpRequest) -> String {
    let base = match &state.settings.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    };
    format!("{base}/v1/auth/sso/callback")
}

type OidcClient = openidconnect::Client<
    openidconnect::EmptyAdditionalClaims,
    openidconnect::core::CoreAuthDisplay,
    openidconnect::core::CoreGenderClaim,
    openidconnect::core::CoreJweContentEncryptionAlgorithm,
    openidconnect::core::CoreJsonWebKey,
    openidconnect::core::CoreAuthPrompt,
    openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    openidconnect::core::CoreTokenResponse,
    openidconnect::core::CoreTokenIntrospectionResponse,
    openidconnect::core::CoreRevocableToken,
    openidconnect::core::CoreRevocationErrorResponse,
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// How long a provider's discovery document and JWKS are used before they are read again
/// (an ID token signed by a key they do not hold reads them again at once).
const METADATA_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

/// Providers' discovery documents with their JWKS, per issuer, in this process. Only a
/// cache: every replica reads the provider itself, and decides nothing from it but which
/// keys sign.
#[derive(Default)]
pub struct MetadataCache(
    std::sync::Mutex<std::collections::HashMap<String, (CoreProviderMetadata, std::time::Instant)>>,
);

/// The issuer's discovery document and JWKS: cached, or read now when `fresh`, missing or old.
async fn metadata(
    state: &AppState,
    issuer: &str,
    http: &reqwest::Client,
    fresh: bool,
) -> Result<CoreProviderMetadata, AppError> {
    let cached = if fresh {
        None
    } else {
        let cache = state.oidc_metadata.0.lock().map_err(|_| AppError::Internal("metadata cache poisoned".into()))?;
        cache.get(issuer).filter(|(_, at)| at.elapsed() < METADATA_TTL).map(|(m, _)| m.clone())
    };
    if let Some(m) = cached {
        return Ok(m);
    }
    let url = IssuerUrl::new(issuer.to_owned()).map_err(|e| provider_error("issuer URL", e))?;
    let m = CoreProviderMetadata::discover_async(url, http).await.map_err(|e| provider_error("discovery", e))?;
    let mut cache = state.oidc_metadata.0.lock().map_err(|_| AppError::Internal("metadata cache poisoned".into()))?;
    cache.insert(issuer.to_owned(), (m.clone(), std::time::Instant::now()));
    Ok(m)
}

/// The client for the account's configuration, from the provider's discovery document
/// (read again when `fresh`).
async fn oidc_client(
    state: &AppState,
    config: &SsoConfig,
    callback: String,
    http: &reqwest::Client,
    fresh: bool,
) -> Result<OidcClient, AppError> {
    let secret = client_secret(state, config)
        .ok_or_else(|| AppError::Internal("the stored SSO client secret cannot be opened".into()))?;
    let metadata = metadata(state, &config.row.issuer, http, fresh).await?;
    let redirect = RedirectUrl::new(callback).map_err(|e| AppError::Internal(format!("callback URL: {e}")))?;
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(config.row.client_id.clone()),
        Some(ClientSecret::new(secret)),
    );
    Ok(client.set_redirect_uri(redirect))
}

/// Starts an SSO login: answers 302 to the identity provider of the account that the
/// email's domain belongs to.
///
/// Public. `redirect_uri` must be one of the configuration's `redirect_uris` (422 otherwise:
/// never an open redirect). The provider is asked for the authorization code flow with
/// PKCE (S256), a `state` and a `nonce` (kept in the database, single use, 10 minutes) and
/// `login_hint` = the email. 404 when no account configures the email's domain; 502 when
/// the provider's discovery document cannot be read.
#[utoipa::path(
    tag = "auth",
    params(SsoStart),
    responses(
        (status = 302, description = "To the provider's authorization endpoint", headers(("Location" = String))),
        (status = 400, description = "Malformed query"),
        (status = 404, description = "No single sign-on for this email's domain"),
        (status = 422, description = "Not an email, or redirect_uri is not one of the configuration's"),
        (status = 502, description = "The identity provider could not be used"),
    )
)]
#[get("/auth/sso/start")]
pub async fn sso_start(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: crate::http::Query<SsoStart>,
) -> Result<HttpResponse, AppError> {
    let email = query.email.trim().to_lowercase();
    let domain = match email.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => domain.to_owned(),
        _ => return Err(AppError::field("email", "must be an email address")),
    };
    let config = db::run(&state.pool, move |conn| find_by_domain(conn, &domain)).await?.ok_or(AppError::NotFound)?;
    let redirect_uri = query.redirect_uri.clone();
    if !config.redirect_uris().contains(&redirect_uri) {
        return Err(AppError::field("redirect_uri", "is not one of this account's SSO redirect_uris"));
    }
    let http = http_client()?;
    let client = oidc_client(&state, &config, callback_url(&state, &req), &http, false).await?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .set_login_hint(LoginHint::new(email))
        .url();
    let account_id = config.row.account_id.clone();
    db::write(&state.pool, move |conn| {
        let at = now();
        // Logins abandoned at the provider go with the next start.
        diesel::delete(sso_logins::table.filter(sso_logins::expires_at.lt(at))).execute(conn)?;
        diesel::insert_into(sso_logins::table)
            .values((
                sso_logins::state_hash.eq(token_digest(csrf.secret())),
                sso_logins::account_id.eq(&account_id),
                sso_logins::nonce.eq(nonce.secret()),
                sso_logins::pkce_verifier.eq(verifier.secret()),
                sso_logins::redirect_uri.eq(&redirect_uri),
                sso_logins::expires_at.eq(at + chrono::Duration::seconds(LOGIN_TTL_SECS)),
            ))
            .execute(conn)?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, url.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// A login in flight, taken once.
struct PendingLogin {
    account_id: String,
    nonce: String,
    pkce_verifier: String,
    redirect_uri: String,
}

/// Takes the login of `state` out of the database: `None` when unknown, used or expired.
fn take_login(conn: &mut DbConnection, state: &str) -> Result<Option<PendingLogin>, AppError> {
    let digest = token_digest(state);
    let row: Option<(String, String, String, String, chrono::NaiveDateTime)> = sso_logins::table
        .filter(sso_logins::state_hash.eq(&digest))
        .select((
            sso_logins::account_id,
            sso_logins::nonce,
            sso_logins::pkce_verifier,
            sso_logins::redirect_uri,
            sso_logins::expires_at,
        ))
        .first(conn)
        .optional()?;
    // Whoever deletes the row owns the login: a concurrent replay deletes nothing.
    let deleted = diesel::delete(sso_logins::table.filter(sso_logins::state_hash.eq(&digest))).execute(conn)?;
    Ok(match row {
        Some((account_id, nonce, pkce_verifier, redirect_uri, expires_at)) if deleted == 1 && expires_at > now() => {
            Some(PendingLogin { account_id, nonce, pkce_verifier, redirect_uri })
        }
        _ => None,
    })
}

/// The role values of the (verified) ID token's `claim`: a string or a list of strings.
fn role_values(id_token: &str, claim: &str) -> Vec<String> {
    let payload = id_token
        .split('.')
        .nth(1)
        .and_then(|p| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok())
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
    match payload.as_ref().and_then(|p| p.get(claim)) {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(items)) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

/// What the ID token says about the user, after verification.
struct Identity {
    email: String,
    given_name: String,
    family_name: String,
    roles: Vec<String>,
}

fn clip(text: &str) -> String {
    text.chars().take(100).collect()
}

/// Finds or creates (just in time) the user of `identity` in the configuration's account
/// and applies the mapped role, as SPEC §11 says; answers the user.
fn sign_in(conn: &mut DbConnection, config: &SsoConfig, identity: &Identity) -> Result<UserRow, AppError> {
    let account_id = &config.row.account_id;
    let existing: Option<UserRow> =
        users::table.filter(users::email_lower.eq(identity.email.to_lowercase())).first(conn).optional()?;
    let mapped = config.mapping().resolve_claim(identity.roles.iter().map(String::as_str));
    let no_role = || {
        AppError::forbidden(
            "None of your identity provider roles gives access to this account, and it has no default role.",
        )
    };
    match existing {
        Some(user) if &user.account_id != account_id => {
            Err(AppError::forbidden("This email belongs to a user of another account."))
        }
        Some(user) if !user.active => Err(AppError::forbidden("This user is deactivated.")),
        // The owner's role never changes through SSO.
        Some(user) if user.role() == Role::Owner => Ok(user),
        Some(user) => {
            let role = mapped.ok_or_else(no_role)?;
            if role == user.role() {
                return Ok(user);
            }
            let ctx = AuditCtx { account_id: account_id.clone(), actor_id: Some(user.id.clone()) };
            crate::http::optimistic(None, || {
                let before: UserRow = users::table.filter(users::id.eq(&user.id)).first(conn)?;
                let next = crate::users::routes::with_role(&before, role);
                crate::users::queries::save(conn, &ctx, &before, next)
            })
        }
        None => {
            let role = mapped.ok_or_else(no_role)?;
            let at = now();
            let row = UserRow {
                id: new_id(),
                account_id: account_id.clone(),
                email: identity.email.clone(),
                email_lower: identity.email.to_lowercase(),
                password_hash: super::scim::NO_PASSWORD.into(),
                first_name: clip(&identity.given_name),
                last_name: clip(&identity.family_name),
                role: role.as_str().into(),
                privileges: 0,
                active: true,
                version: 1,
                created_at: at,
                updated_at: at,
            };
            let ctx = AuditCtx { account_id: account_id.clone(), actor_id: Some(row.id.clone()) };
            crate::users::queries::insert(conn, &ctx, &row)?;
            Ok(row)
        }
    }
}

/// Where the identity provider sends the browser back: checks `state`, exchanges the code
/// (with the PKCE verifier), verifies the ID token and answers 302 to the frontend's
/// `redirect_uri` with `code`, a one-time code for `POST /v1/auth/sso/exchange`.
///
/// Public. The ID token must be signed by a key of the provider's JWKS and carry the
/// configured issuer, the client id as audience, an unexpired `exp` and the login's
/// `nonce` (401 otherwise). Its `email` must be in one of the configuration's `domains`
/// and not a user of another account (403). An unknown user is created with the role the
/// `role_claim` maps to; a known one gets that role (audited, `access.changed`); the
/// owner's role never changes. No mapped role and no `default_role`: 403. 400 for a
/// missing, unknown, used or expired `state` (each `state` works once).
#[utoipa::path(
    tag = "auth",
    params(SsoCallback),
    responses(
        (status = 302, description = "To the frontend's redirect_uri with `code`", headers(("Location" = String))),
        (status = 400, description = "Missing, unknown, used or expired state, or no code"),
        (status = 401, description = "The provider refused the code or the ID token failed verification"),
        (status = 403, description = "The provider refused the login, the email is outside the domains or another account's, the user is deactivated, no role, or the login's redirect_uri is no longer configured"),
        (status = 404, description = "The account's SSO configuration is gone"),
        (status = 502, description = "The identity provider could not be used"),
    )
)]
#[get("/auth/sso/callback")]
pub async fn sso_callback(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: crate::http::Query<SsoCallback>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let state_param = query.state.clone().ok_or_else(|| AppError::BadRequest("state is missing.".into()))?;
    let login = db::write(&state.pool, move |conn| take_login(conn, &state_param))
        .await?
        .ok_or_else(|| AppError::BadRequest("Unknown, used or expired login state: start the login again.".into()))?;
    if let Some(error) = &query.error {
        return Err(AppError::forbidden(format!("The identity provider refused the login ({error}).")));
    }
    let code = query.code.clone().ok_or_else(|| AppError::BadRequest("code is missing.".into()))?;
    let account_id = login.account_id.clone();
    let config = db::run(&state.pool, move |conn| find(conn, &account_id)).await?.ok_or(AppError::NotFound)?;
    // The configuration may have changed since the start: its list decides now.
    if !config.redirect_uris().contains(&login.redirect_uri) {
        return Err(AppError::forbidden("The login's redirect_uri is no longer one of this account's."));
    }
    if query.iss.as_deref().is_some_and(|iss| iss.trim_end_matches('/') != config.row.issuer) {
        return Err(AppError::Unauthorized("The authorization response names another issuer.".into()));
    }
    let http = http_client()?;
    let client = oidc_client(&state, &config, callback_url(&state, &req), &http, false).await?;
    let refused = |what: &str, e: &dyn std::fmt::Display| {
        tracing::info!(error = %e, "SSO login refused: {what}");
        AppError::Unauthorized(format!("Single sign-on failed: {what}."))
    };
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| provider_error("no token endpoint", e))?
        .set_pkce_verifier(PkceCodeVerifier::new(login.pkce_verifier.clone()))
        .request_async(&http)
        .await
        .map_err(|e| refused("the provider did not accept the code", &e))?;
    let id_token = token.id_token().ok_or_else(|| AppError::Unauthorized("The provider sent no ID token.".into()))?;
    let nonce = Nonce::new(login.nonce.clone());
    // A key the cached JWKS does not hold (the provider rotated its keys): read them again.
    let fresh_client = match id_token.claims(&client.id_token_verifier(), &nonce) {
        Err(openidconnect::ClaimsVerificationError::SignatureVerification(
            openidconnect::SignatureVerificationError::NoMatchingKey,
        )) => Some(oidc_client(&state, &config, callback_url(&state, &req), &http, true).await?),
        _ => None,
    };
    let verifier = fresh_client.as_ref().unwrap_or(&client).id_token_verifier();
    let claims =
        id_token.claims(&verifier, &nonce).map_err(|e| refused(&format!("the ID token is not valid ({e})"), &e))?;
    let email = claims
        .email()
        .map(|e| e.as_str().trim().to_owned())
        .ok_or_else(|| AppError::forbidden("The ID token carries no email."))?;
    if claims.email_verified() == Some(false) {
        return Err(AppError::forbidden("The identity provider has not verified this email."));
    }
    let domain = email.rsplit_once('@').map(|(_, d)| d.to_lowercase()).unwrap_or_default();
    if !config.domains.contains(&domain) {
        return Err(AppError::forbidden("The email's domain is not one of this account's SSO domains."));
    }
    let given_name = claims.given_name().and_then(|l| l.get(None)).map(|n| n.as_str().to_owned()).unwrap_or_default();
    let family_name = claims.family_name().and_then(|l| l.get(None)).map(|n| n.as_str().to_owned()).unwrap_or_default();
    let identity =
        Identity { email, given_name, family_name, roles: role_values(&id_token.to_string(), &config.row.role_claim) };
    let one_time = random_token();
    let digest = token_digest(&one_time);
    db::write(&state.pool, move |conn| {
        let user = sign_in(conn, &config, &identity)?;
        diesel::insert_into(sso_codes::table)
            .values((
                sso_codes::code_hash.eq(&digest),
                sso_codes::account_id.eq(&user.account_id),
                sso_codes::user_id.eq(&user.id),
                sso_codes::expires_at.eq(now() + chrono::Duration::seconds(CODE_TTL_SECS)),
            ))
            .execute(conn)?;
        Ok(())
    })
    .await?;
    let separator = if login.redirect_uri.contains('?') { '&' } else { '?' };
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, format!("{}{separator}code={one_time}", login.redirect_uri)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// Trades the one-time code of an SSO login for the usual tokens.
///
/// Public: the code is the credential. Each code works once, within 60 seconds of the
/// login; 401 otherwise, and when the user has been deactivated meanwhile.
#[utoipa::path(
    tag = "auth",
    request_body = SsoExchange,
    responses(
        (status = 200, body = Tokens),
        (status = 401, description = "Unknown, used or expired code, or the user is deactivated"),
        (status = 422, description = "Invalid fields"),
        crate::http::BodyErrors,
    )
)]
#[post("/auth/sso/exchange")]
pub async fn sso_exchange(state: web::Data<AppState>, body: ValidJson<SsoExchange>) -> Result<HttpResponse, AppError> {
    let digest = token_digest(&body.0.code);
    let st = state.clone();
    let tokens = db::write(&state.pool, move |conn| {
        let refused = || AppError::Unauthorized("Unknown, used or expired code.".into());
        let row: (String, String, chrono::NaiveDateTime) = sso_codes::table
            .filter(sso_codes::code_hash.eq(&digest))
            .select((sso_codes::user_id, sso_codes::account_id, sso_codes::expires_at))
            .first(conn)
            .optional()?
            .ok_or_else(refused)?;
        let deleted = diesel::delete(sso_codes::table.filter(sso_codes::code_hash.eq(&digest))).execute(conn)?;
        diesel::delete(sso_codes::table.filter(sso_codes::expires_at.lt(now()))).execute(conn)?;
        if deleted != 1 || row.2 <= now() {
            return Err(refused());
        }
        let active: Option<bool> = users::table
            .filter(users::id.eq(&row.0))
            .filter(users::account_id.eq(&row.1))
            .select(users::active)
            .first(conn)
            .optional()?;
        if active != Some(true) {
            return Err(AppError::Unauthorized("This user is deactivated.".into()));
        }
        sessions::issue(conn, &st, &row.0, &row.1, None)
    })
    .await?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(tokens))
}
