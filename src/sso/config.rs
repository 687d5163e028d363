//! `PUT|GET|DELETE /v1/account/sso`: the account's OpenID Connect configuration.

use std::collections::BTreeMap;

use actix_web::{delete, get, put, web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::mapping::{RoleMapping, SsoRole};
use crate::access::Actor;
use crate::audit::{self, AuditCtx};
use crate::auth::Caller;
use crate::db::schema::{sso_configs, sso_domains};
use crate::db::{self, DbConnection};
use crate::error::{AppError, FieldErrors};
use crate::http::{now, utc, ValidJson};
use crate::state::AppState;

#[derive(Debug, Clone, PartialEq, Queryable, Insertable)]
#[diesel(table_name = sso_configs)]
pub struct SsoConfigRow {
    pub account_id: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret_sealed: String,
    pub redirect_uris: String,
    pub role_claim: String,
    pub role_map: String,
    pub default_role: Option<String>,
    pub enforce: bool,
    pub version: i64,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
}

/// A configuration with its domains, as stored.
#[derive(Debug, Clone)]
pub struct SsoConfig {
    pub row: SsoConfigRow,
    pub domains: Vec<String>,
}

impl SsoConfig {
    pub fn redirect_uris(&self) -> Vec<String> {
        serde_json::from_str(&self.row.redirect_uris).unwrap_or_default()
    }

    pub fn role_map(&self) -> BTreeMap<String, SsoRole> {
        serde_json::from_str(&self.row.role_map).unwrap_or_default()
    }

    pub fn mapping(&self) -> RoleMapping {
        RoleMapping {
            role_map: self.role_map(),
            default_role: self.row.default_role.as_deref().and_then(SsoRole::parse),
        }
    }

    pub fn view(&self) -> SsoConfigView {
        SsoConfigView {
            issuer: self.row.issuer.clone(),
            client_id: self.row.client_id.clone(),
            client_secret_set: true,
            domains: self.domains.clone(),
            redirect_uris: self.redirect_uris(),
            role_claim: self.row.role_claim.clone(),
            role_map: self.role_map(),
            default_role: self.row.default_role.as_deref().and_then(SsoRole::parse),
            enforce: self.row.enforce,
            version: self.row.version,
            created_at: utc(self.row.created_at),
            updated_at: utc(self.row.updated_at),
        }
    }
}

/// The configuration as the API shows it: never the client secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SsoConfigView {
    pub issuer: String,
    pub client_id: String,
    /// Always `true`: a secret is stored (sealed); it is never shown again.
    pub client_secret_set: bool,
    pub domains: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub role_claim: String,
    pub role_map: BTreeMap<String, SsoRole>,
    pub default_role: Option<SsoRole>,
    pub enforce: bool,
    pub version: i64,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

fn default_role_claim() -> String {
    "roles".into()
}

/// Body of `PUT /v1/account/sso`: the whole configuration.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SsoConfigIn {
    /// The OpenID provider's issuer URL (its discovery document is
    /// `<issuer>/.well-known/openid-configuration`). `https://`, or `http://` on loopback
    /// addresses and `localhost` only.
    #[schema(min_length = 1, max_length = 500)]
    #[validate(length(min = 1, max = 500, message = "must be 1 to 500 characters long"))]
    pub issuer: String,
    #[schema(min_length = 1, max_length = 255)]
    #[validate(length(min = 1, max = 255, message = "must be 1 to 255 characters long"))]
    pub client_id: String,
    /// Write-only. Required when the account has no configuration yet; omitted, the stored
    /// secret is kept.
    #[schema(min_length = 1, max_length = 1000)]
    #[validate(length(min = 1, max = 1000, message = "must be 1 to 1000 characters long"))]
    pub client_secret: Option<String>,
    /// Email domains (lowercase) whose users log in through this provider; a domain belongs
    /// to one account's configuration at most (409).
    #[schema(min_items = 1, max_items = 50)]
    #[validate(length(min = 1, max = 50, message = "must list 1 to 50 domains"))]
    pub domains: Vec<String>,
    /// The frontend URLs a login may return to (`redirect_uri` of `/v1/auth/sso/start`).
    #[schema(min_items = 1, max_items = 20)]
    #[validate(length(min = 1, max = 20, message = "must list 1 to 20 URLs"))]
    pub redirect_uris: Vec<String>,
    /// The ID-token claim holding the role values (a string or a list of strings).
    #[serde(default = "default_role_claim")]
    #[schema(min_length = 1, max_length = 100, default = "roles")]
    #[validate(length(min = 1, max = 100, message = "must be 1 to 100 characters long"))]
    pub role_claim: String,
    /// Claim value -> role. When several values match, the widest role wins.
    #[serde(default)]
    pub role_map: BTreeMap<String, SsoRole>,
    /// The role of a user none of whose values match; `null`: such a user cannot log in (403).
    #[serde(default)]
    pub default_role: Option<SsoRole>,
    /// `true`: password login and password changes are refused (403) for every user of the
    /// account except the owner.
    #[serde(default)]
    pub enforce: bool,
}

fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// `https://`, or `http://` on loopback and `localhost` (SPEC §11); no credentials, no fragment.
pub fn check_url(text: &str) -> Result<url::Url, &'static str> {
    let url = url::Url::parse(text).map_err(|_| "must be an absolute URL")?;
    let host = url.host().ok_or("must name a host")?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(&host) => {}
        _ => return Err("must be https:// (http:// only on loopback addresses and localhost)"),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials");
    }
    if url.fragment().is_some() {
        return Err("must not have a fragment");
    }
    Ok(url)
}

fn check_domain(domain: &str) -> Result<(), &'static str> {
    if domain != domain.to_lowercase() {
        return Err("must be lowercase");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if domain.len() > 253 || labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err("must be a domain name such as example.com");
    }
    Ok(())
}

impl SsoConfigIn {
    /// The rules a JSON schema cannot state, every field's messages at once.
    fn check(&self, has_stored_secret: bool) -> Result<(), AppError> {
        let mut errors = FieldErrors::new();
        let mut add = |field: String, message: &str| errors.entry(field).or_default().push(message.to_owned());
        if let Err(m) = check_url(&self.issuer) {
            add("issuer".into(), m);
        } else if self.issuer.contains('?') {
            add("issuer".into(), "must not have a query");
        }
        for (i, uri) in self.redirect_uris.iter().enumerate() {
            if let Err(m) = check_url(uri) {
                add(format!("redirect_uris[{i}]"), m);
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (i, domain) in self.domains.iter().enumerate() {
            if let Err(m) = check_domain(domain) {
                add(format!("domains[{i}]"), m);
            } else if !seen.insert(domain) {
                add(format!("domains[{i}]"), "is listed twice");
            }
        }
        if self.role_map.len() > 100 {
            add("role_map".into(), "must have at most 100 entries");
        }
        for key in self.role_map.keys() {
            if key.is_empty() || key.chars().count() > 200 {
                add(format!("role_map.{key}"), "a claim value must be 1 to 200 characters long");
            }
        }
        if self.client_secret.is_none() && !has_stored_secret {
            add("client_secret".into(), "is required when the account has no SSO configuration yet");
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(AppError::Validation(errors))
        }
    }
}

/// The account's configuration, if any.
pub fn find(conn: &mut DbConnection, account_id: &str) -> Result<Option<SsoConfig>, AppError> {
    let Some(row) =
        sso_configs::table.filter(sso_configs::account_id.eq(account_id)).first::<SsoConfigRow>(conn).optional()?
    else {
        return Ok(None);
    };
    let domains = sso_domains::table
        .filter(sso_domains::account_id.eq(account_id))
        .select(sso_domains::domain)
        .order(sso_domains::domain)
        .load::<String>(conn)?;
    Ok(Some(SsoConfig { row, domains }))
}

/// The configuration that claims `domain`, if any (the login's way from an email to an account).
pub fn find_by_domain(conn: &mut DbConnection, domain: &str) -> Result<Option<SsoConfig>, AppError> {
    let account: Option<String> = sso_domains::table
        .filter(sso_domains::domain.eq(domain))
        .select(sso_domains::account_id)
        .first(conn)
        .optional()?;
    match account {
        Some(id) => find(conn, &id),
        None => Ok(None),
    }
}

/// Whether the account refuses password logins and changes (`enforce`) for non-owners.
pub fn enforced(conn: &mut DbConnection, account_id: &str) -> Result<bool, AppError> {
    Ok(sso_configs::table
        .filter(sso_configs::account_id.eq(account_id))
        .select(sso_configs::enforce)
        .first::<bool>(conn)
        .optional()?
        .unwrap_or(false))
}

/// 403 when the account enforces SSO and `role` is not the owner's (SPEC §11).
pub fn refuse_password_if_enforced(
    conn: &mut DbConnection,
    account_id: &str,
    role: crate::access::Role,
) -> Result<(), AppError> {
    if role != crate::access::Role::Owner && enforced(conn, account_id)? {
        return Err(AppError::forbidden(
            "This account requires single sign-on: passwords cannot be used or changed (only the owner's).",
        ));
    }
    Ok(())
}

/// The stored client secret, opened with any of the service's JWT secrets.
pub fn client_secret(state: &AppState, config: &SsoConfig) -> Option<String> {
    state
        .secret_sealers
        .iter()
        .find_map(|s| s.open(&config.row.client_secret_sealed))
        .and_then(|bytes| String::from_utf8(bytes).ok())
}

/// The account's SSO configuration (owner/admin). The client secret is never shown.
///
/// 404 when the account has none. 403 for callers other than owner/admin.
#[utoipa::path(
    tag = "sso",
    responses(
        (status = 200, body = SsoConfigView),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Caller is not owner or admin"),
        (status = 404, description = "The account has no SSO configuration"),
    ),
    security(("bearer" = []))
)]
#[get("/account/sso")]
pub async fn get_sso(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, AppError> {
    let config = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        actor.require_manager()?;
        find(conn, actor.account_id())?.ok_or(AppError::NotFound)
    })
    .await?;
    Ok(HttpResponse::Ok().json(config.view()))
}

/// Creates or replaces the account's OpenID Connect configuration (owner/admin).
///
/// The whole configuration is sent each time; `client_secret` may be left out to keep the
/// stored one (it is stored sealed and never shown again). Answers 201 when the account had
/// no configuration, else 200. 403 for callers other than owner/admin; 409 when a domain
/// belongs to another account's configuration; 422 per field (URLs `https://` except on
/// loopback and `localhost`, domains lowercase, `role_map` values and `default_role` one of
/// `admin`, `user`, `focused`). Audited (the secret as `[redacted]`).
#[utoipa::path(
    tag = "sso",
    request_body = SsoConfigIn,
    responses(
        (status = 200, body = SsoConfigView, description = "Replaced"),
        (status = 201, body = SsoConfigView, description = "Created"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Caller is not owner or admin"),
        (status = 409, description = "A domain belongs to another account's configuration"),
        (status = 422, description = "Invalid or unknown fields"),
        crate::http::BodyErrors,
    ),
    security(("bearer" = []))
)]
#[put("/account/sso")]
pub async fn put_sso(
    state: web::Data<AppState>,
    actor: Actor,
    body: ValidJson<SsoConfigIn>,
) -> Result<HttpResponse, AppError> {
    actor.require_manager()?;
    let input = body.0;
    let st = state.clone();
    let (config, created) = db::write(&state.pool, move |conn| {
        let account_id = actor.account_id().to_owned();
        let before = find(conn, &account_id)?;
        input.check(before.is_some())?;
        let taken: Vec<String> = sso_domains::table
            .filter(sso_domains::domain.eq_any(&input.domains))
            .filter(sso_domains::account_id.ne(&account_id))
            .select(sso_domains::domain)
            .load(conn)?;
        if !taken.is_empty() {
            return Err(AppError::Conflict(format!(
                "These domains belong to another account's SSO configuration: {}.",
                taken.join(", ")
            )));
        }
        let at = now();
        let sealed = match (&input.client_secret, &before) {
            (Some(secret), _) => st.secret_sealers.first().map(|s| s.seal(secret.as_bytes())),
            (None, Some(b)) => Some(b.row.client_secret_sealed.clone()),
            (None, None) => None,
        }
        .ok_or_else(|| AppError::Internal("no sealer for the client secret".into()))?;
        let mut domains = input.domains.clone();
        domains.sort();
        let row = SsoConfigRow {
            account_id: account_id.clone(),
            issuer: input.issuer.trim_end_matches('/').to_owned(),
            client_id: input.client_id.clone(),
            client_secret_sealed: sealed,
            redirect_uris: serde_json::to_string(&input.redirect_uris).unwrap_or_else(|_| "[]".into()),
            role_claim: input.role_claim.clone(),
            role_map: serde_json::to_string(&input.role_map).unwrap_or_else(|_| "{}".into()),
            default_role: input.default_role.map(|r| r.as_str().to_owned()),
            enforce: input.enforce,
            version: before.as_ref().map_or(1, |b| b.row.version + 1),
            created_at: before.as_ref().map_or(at, |b| b.row.created_at),
            updated_at: at,
        };
        diesel::delete(sso_domains::table.filter(sso_domains::account_id.eq(&account_id))).execute(conn)?;
        diesel::delete(sso_configs::table.filter(sso_configs::account_id.eq(&account_id))).execute(conn)?;
        diesel::insert_into(sso_configs::table).values(&row).execute(conn)?;
        for domain in &domains {
            diesel::insert_into(sso_domains::table)
                .values((sso_domains::domain.eq(domain), sso_domains::account_id.eq(&account_id)))
                .execute(conn)
                .map_err(|e| match e {
                    diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
                        AppError::Conflict(format!(
                            "The domain {domain} belongs to another account's SSO configuration."
                        ))
                    }
                    other => other.into(),
                })?;
        }
        let after = SsoConfig { row, domains };
        let ctx = AuditCtx::from(&actor);
        let old_view = before.as_ref().map(|b| serde_json::to_value(b.view()).ok());
        let new_view = serde_json::to_value(after.view()).ok();
        let mut changes = audit::diff(old_view.flatten().as_ref(), new_view.as_ref());
        let secret_changed = match (&input.client_secret, &before) {
            (Some(new), Some(b)) => client_secret(&st, b).as_deref() != Some(new.as_str()),
            (Some(_), None) => true,
            (None, _) => false,
        };
        if secret_changed {
            // Never the secret itself.
            changes.insert("client_secret".into(), serde_json::json!({"old": "[redacted]", "new": "[redacted]"}));
        }
        let action = if before.is_some() { audit::AuditAction::Update } else { audit::AuditAction::Create };
        audit::record_changes(conn, &ctx, "sso_config", &account_id, action, changes)?;
        Ok((after, before.is_none()))
    })
    .await?;
    let view = config.view();
    Ok(if created { HttpResponse::Created().json(view) } else { HttpResponse::Ok().json(view) })
}

/// Removes the account's SSO configuration (owner/admin); its domains are free again.
///
/// Answers 204; users keep their accounts (and log in with a password again, if they have
/// one). 403 for callers other than owner/admin; 404 when there is none.
#[utoipa::path(
    tag = "sso",
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Caller is not owner or admin"),
        (status = 404, description = "The account has no SSO configuration"),
    ),
    security(("bearer" = []))
)]
#[delete("/account/sso")]
pub async fn delete_sso(state: web::Data<AppState>, actor: Actor) -> Result<HttpResponse, AppError> {
    actor.require_manager()?;
    db::write(&state.pool, move |conn| {
        let before = find(conn, actor.account_id())?.ok_or(AppError::NotFound)?;
        diesel::delete(sso_domains::table.filter(sso_domains::account_id.eq(actor.account_id()))).execute(conn)?;
        diesel::delete(sso_configs::table.filter(sso_configs::account_id.eq(actor.account_id()))).execute(conn)?;
        audit::record(conn, &AuditCtx::from(&actor), "sso_config", actor.account_id(), Some(&before.view()), None)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
