//! SCIM 2.0 (RFC 7643/7644) at `/scim/v2`: the account's users for an identity provider's
//! provisioning, authenticated by a SCIM token (`/v1/account/scim-tokens`).
//!
//! Every write goes through the users module's own functions (`users::queries::insert`,
//! `users::routes::apply_patch` with `users::queries::save`, `users::routes::delete_in_tx`),
//! so SPEC §1/§3's rules, the audit entries, `access.changed` events and the revocation of
//! a deactivated user's sessions are exactly those of `/v1/users`.

use actix_web::http::{header, StatusCode};
use actix_web::{delete, get, patch, post, put, web, HttpRequest, HttpResponse, ResponseError};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::mapping::RoleMapping;
use crate::access::{Actor, Role};
use crate::audit::AuditCtx;
use crate::db::schema::{scim_external_ids as ext, users};
use crate::db::{self, DbConnection};
use crate::error::AppError;
use crate::http::{new_id, now, utc};
use crate::state::AppState;
use crate::users::model::{UserPatch, UserRow};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const SEARCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
pub const CONTENT_TYPE: &str = "application/scim+json";
const MAX_COUNT: i64 = 200;
/// A user created by SCIM (or SSO) without a password: no argon2 hash, so no password matches.
pub const NO_PASSWORD: &str = "!sso";

/// SCIM's error body (RFC 7644 §3.12).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScimErrorBody {
    /// `["urn:ietf:params:scim:api:messages:2.0:Error"]`
    pub schemas: Vec<String>,
    /// The HTTP status, as a string.
    pub status: String,
    #[serde(rename = "scimType", skip_serializing_if = "Option::is_none")]
    pub scim_type: Option<String>,
    pub detail: String,
}

/// An error answered in SCIM's shape, `application/scim+json`.
#[derive(Debug)]
pub struct ScimError {
    status: StatusCode,
    scim_type: Option<&'static str>,
    detail: String,
}

impl ScimError {
    fn new(status: StatusCode, scim_type: Option<&'static str>, detail: impl Into<String>) -> ScimError {
        ScimError { status, scim_type, detail: detail.into() }
    }

    fn invalid_value(detail: impl Into<String>) -> ScimError {
        ScimError::new(StatusCode::BAD_REQUEST, Some("invalidValue"), detail)
    }

    fn invalid_syntax(detail: impl Into<String>) -> ScimError {
        ScimError::new(StatusCode::BAD_REQUEST, Some("invalidSyntax"), detail)
    }

    fn invalid_filter(detail: impl Into<String>) -> ScimError {
        ScimError::new(StatusCode::BAD_REQUEST, Some("invalidFilter"), detail)
    }

    pub fn not_found() -> ScimError {
        ScimError::new(StatusCode::NOT_FOUND, None, "No such resource.")
    }
}

impl std::fmt::Display for ScimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.detail)
    }
}

impl From<AppError> for ScimError {
    fn from(e: AppError) -> ScimError {
        use StatusCode as S;
        let status = e.status_code();
        if status.is_server_error() {
            tracing::error!(error = %e, "SCIM request failed");
        }
        match e {
            AppError::Validation(errors) => {
                let detail: Vec<String> = errors.iter().map(|(k, v)| format!("{k}: {}", v.join("; "))).collect();
                ScimError::invalid_value(detail.join(". "))
            }
            AppError::BadRequest(m) => ScimError::invalid_syntax(m),
            AppError::Unauthorized(m) => ScimError::new(S::UNAUTHORIZED, None, m),
            AppError::Forbidden(m) => ScimError::new(S::FORBIDDEN, None, m),
            AppError::NotFound => ScimError::not_found(),
            AppError::Conflict(m) => ScimError::new(S::CONFLICT, Some("uniqueness"), m),
            AppError::InUse(_, counts) => {
                let list: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {}", k.replace('_', " "))).collect();
                ScimError::new(
                    S::CONFLICT,
                    None,
                    format!(
                        "The user still has {}; SCIM does not delete such a user (SPEC §3: their records must be \
                         reassigned). Deactivate them instead (PATCH active=false), or delete them with \
                         DELETE /v1/users/{{id}}?reassign_to=<user_id|none>.",
                        list.join(", ")
                    ),
                )
            }
            AppError::PreconditionFailed => ScimError::new(S::PRECONDITION_FAILED, None, "Version mismatch."),
            AppError::PayloadTooLarge => ScimError::new(S::PAYLOAD_TOO_LARGE, Some("tooLarge"), "Body too large."),
            AppError::UnsupportedMediaType => ScimError::invalid_syntax("The body must be application/scim+json."),
            AppError::MethodNotAllowed(_) => ScimError::new(S::METHOD_NOT_ALLOWED, None, "Method not allowed."),
            AppError::TooManyRequests => ScimError::new(S::TOO_MANY_REQUESTS, None, "Too many requests."),
            AppError::Unavailable(_) => {
                ScimError::new(S::SERVICE_UNAVAILABLE, None, "The database is unavailable; try again shortly.")
            }
            AppError::Internal(_) => ScimError::new(S::INTERNAL_SERVER_ERROR, None, "An unexpected error occurred."),
            AppError::BadGateway(m) => ScimError::new(S::BAD_GATEWAY, None, m),
        }
    }
}

impl ResponseError for ScimError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let body = ScimErrorBody {
            schemas: vec![ERROR_SCHEMA.into()],
            status: self.status.as_u16().to_string(),
            scim_type: self.scim_type.map(Into::into),
            detail: self.detail.clone(),
        };
        let mut resp = HttpResponse::build(self.status);
        resp.content_type(CONTENT_TYPE);
        if self.status == StatusCode::UNAUTHORIZED {
            resp.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"scim\""));
        }
        resp.body(serde_json::to_string(&body).unwrap_or_default())
    }
}

/// The SCIM error the catch-all answers for a path under `/scim/` that no route took:
/// 405 with `Allow` when the path exists under other methods, else 404.
pub fn unmatched(allow: Option<&str>) -> HttpResponse {
    match allow {
        Some(allow) => {
            let mut resp =
                ScimError::new(StatusCode::METHOD_NOT_ALLOWED, None, format!("This path answers {allow} only."))
                    .error_response();
            if let Ok(v) = header::HeaderValue::from_str(allow) {
                resp.headers_mut().insert(header::ALLOW, v);
            }
            resp
        }
        None => ScimError::not_found().error_response(),
    }
}

fn scim_json(status: StatusCode, value: &Value) -> HttpResponse {
    HttpResponse::build(status).content_type(CONTENT_TYPE).body(value.to_string())
}

/// The bearer token of a SCIM request (checked against the database by `auth::scim_actor`).
pub struct ScimToken(String);

impl actix_web::FromRequest for ScimToken {
    type Error = ScimError;
    type Future = std::future::Ready<Result<ScimToken, ScimError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| ScimToken(t.to_owned()))
            .ok_or_else(|| ScimError::new(StatusCode::UNAUTHORIZED, None, "Missing or invalid SCIM token."));
        std::future::ready(token)
    }
}

/// Runs `f` with the token's actor on one connection (read-only work).
async fn with_actor<T, F>(state: &AppState, token: ScimToken, f: F) -> Result<T, ScimError>
where
    F: FnOnce(&mut DbConnection, &Actor) -> Result<T, AppError> + Send + 'static,
    T: Send + 'static,
{
    Ok(db::run(&state.pool, move |conn| {
        let actor = crate::auth::scim_actor(conn, &token.0)?;
        f(conn, &actor)
    })
    .await?)
}

/// Runs `f` with the token's actor inside one write transaction.
async fn write_with_actor<T, F>(state: &AppState, token: ScimToken, f: F) -> Result<T, ScimError>
where
    F: FnOnce(&mut DbConnection, &Actor) -> Result<T, AppError> + Send + 'static,
    T: Send + 'static,
{
    let actor = with_actor(state, token, |_, actor| Ok(actor.clone())).await?;
    Ok(db::write(&state.pool, move |conn| f(conn, &actor)).await?)
}

/// The body of a SCIM request: JSON (`application/scim+json` or `application/json`), at
/// most the service's JSON body limit.
fn parse_body(req: &HttpRequest, body: &[u8]) -> Result<Map<String, Value>, ScimError> {
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if essence != CONTENT_TYPE && essence != "application/json" {
        return Err(ScimError::invalid_syntax("The body must be application/scim+json."));
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ScimError::invalid_syntax(format!("Malformed JSON: {e}")))?;
    if contains_nul(&value) {
        return Err(ScimError::invalid_value("Values must not contain NUL characters."));
    }
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(ScimError::invalid_syntax("The body must be a JSON object.")),
    }
}

fn contains_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

/// SCIM attribute names are case-insensitive (RFC 7643 §2.1).
fn get_ci<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

/// The base URL of the request, for `meta.location`.
fn base_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}/scim/v2", info.scheme(), info.host())
}

/// A user as SCIM shows it. `roles[].value` is the account role.
pub fn user_resource(row: &UserRow, external_id: Option<&str>, base: &str) -> Value {
    let mut out = json!({
        "schemas": [USER_SCHEMA],
        "id": row.id,
        "userName": row.email,
        "active": row.active,
        // One email and one role each: no `primary` or `type` to tell apart.
        "emails": [{"value": row.email}],
        "roles": [{"value": row.role}],
        "meta": {
            "resourceType": "User",
            "created": crate::http::utc(row.created_at).to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "lastModified": utc(row.updated_at).to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "location": format!("{base}/Users/{}", row.id),
            "version": format!("W/\"{}\"", row.version),
        },
    });
    let mut name = Map::new();
    if !row.first_name.is_empty() {
        name.insert("givenName".into(), Value::String(row.first_name.clone()));
    }
    if !row.last_name.is_empty() {
        name.insert("familyName".into(), Value::String(row.last_name.clone()));
    }
    if !name.is_empty() {
        out["name"] = Value::Object(name);
    }
    if let Some(e) = external_id {
        out["externalId"] = Value::String(e.to_owned());
    }
    out
}

/// The `externalId`s of `ids` (users of the actor's account).
fn external_ids(
    conn: &mut DbConnection,
    actor: &Actor,
    ids: &[String],
) -> Result<std::collections::HashMap<String, String>, AppError> {
    let rows: Vec<(String, String)> = ext::table
        .filter(ext::account_id.eq(actor.account_id()))
        .filter(ext::user_id.eq_any(ids))
        .select((ext::user_id, ext::external_id))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// Sets (or with `None` removes) a user's `externalId`, audited on the user when it changes.
fn set_external_id(conn: &mut DbConnection, actor: &Actor, user_id: &str, value: Option<&str>) -> Result<(), AppError> {
    let before = external_ids(conn, actor, &[user_id.to_owned()])?.remove(user_id);
    if before.as_deref() == value {
        return Ok(());
    }
    diesel::delete(ext::table.filter(ext::user_id.eq(user_id)).filter(ext::account_id.eq(actor.account_id())))
        .execute(conn)?;
    if let Some(v) = value {
        diesel::insert_into(ext::table)
            .values((ext::user_id.eq(user_id), ext::account_id.eq(actor.account_id()), ext::external_id.eq(v)))
            .execute(conn)?;
    }
    let mut changes = Map::new();
    changes.insert("scim_external_id".into(), json!({"old": before, "new": value}));
    crate::audit::record_changes(
        conn,
        &AuditCtx::from(actor),
        "user",
        user_id,
        crate::audit::AuditAction::Update,
        changes,
    )
}

/// A user with its `externalId`, as the writes and reads below hand it on.
type Stored = (UserRow, Option<String>);

/// `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5) on one resource: `schemas`, `id`
/// and `meta` are always returned; sub-attributes are named `name.givenName`.
fn project(resource: Value, attributes: &[String], excluded: &[String]) -> Value {
    let Value::Object(map) = resource else { return resource };
    let always = ["schemas", "id", "meta"];
    let split = |list: &[String]| -> Vec<(String, Option<String>)> {
        list.iter()
            .map(|a| {
                let a = a.strip_prefix(USER_SCHEMA).map(|r| r.trim_start_matches(':')).unwrap_or(a);
                match a.split_once('.') {
                    Some((top, sub)) => (top.to_ascii_lowercase(), Some(sub.to_ascii_lowercase())),
                    None => (a.to_ascii_lowercase(), None),
                }
            })
            .collect()
    };
    let (wanted, unwanted) = (split(attributes), split(excluded));
    let mut out = Map::new();
    for (key, value) in map {
        let lower = key.to_ascii_lowercase();
        if always.contains(&key.as_str()) {
            out.insert(key, value);
            continue;
        }
        if !wanted.is_empty() {
            let subs: Vec<&Option<String>> = wanted.iter().filter(|(t, _)| *t == lower).map(|(_, s)| s).collect();
            if subs.is_empty() {
                continue;
            }
            if subs.iter().any(|s| s.is_none()) {
                out.insert(key, value);
            } else if let Value::Object(inner) = value {
                let kept: Map<String, Value> = inner
                    .into_iter()
                    .filter(|(k, _)| subs.iter().any(|s| s.as_deref() == Some(k.to_ascii_lowercase().as_str())))
                    .collect();
                out.insert(key, Value::Object(kept));
            }
            continue;
        }
        if unwanted.iter().any(|(t, s)| *t == lower && s.is_none()) {
            continue;
        }
        let subs: Vec<&String> = unwanted.iter().filter(|(t, _)| *t == lower).filter_map(|(_, s)| s.as_ref()).collect();
        match value {
            Value::Object(inner) if !subs.is_empty() => {
                let kept: Map<String, Value> =
                    inner.into_iter().filter(|(k, _)| !subs.contains(&&k.to_ascii_lowercase())).collect();
                out.insert(key, Value::Object(kept));
            }
            other => {
                out.insert(key, other);
            }
        }
    }
    Value::Object(out)
}

fn comma_list(text: Option<&str>) -> Vec<String> {
    text.map(|t| t.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()).unwrap_or_default()
}

// ---- filters ----------------------------------------------------------------------------

/// The filters served (RFC 7644 §3.4.2.2): `attr op "value"` joined by `and`, where attr is
/// `userName`, `emails`/`emails.value`, `id`, `active`, `name.givenName`, `name.familyName`
/// or `externalId`, op is `eq`, `ne`, `co`, `sw`, `ew` or
/// `pr`.
#[derive(Debug, Clone, PartialEq)]
enum Filter {
    Compare { attr: Attr, op: Op, value: Value },
    And(Vec<Filter>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Attr {
    Email,
    Id,
    Active,
    GivenName,
    FamilyName,
    ExternalId,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Pr,
}

fn tokenize(text: &str) -> Result<Vec<String>, ScimError> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut s = String::from("\"");
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            s.push(n);
                        }
                    }
                    '"' => {
                        closed = true;
                        break;
                    }
                    _ => s.push(c),
                }
            }
            if !closed {
                return Err(ScimError::invalid_filter("Unterminated string in filter."));
            }
            tokens.push(s);
        } else {
            let mut s = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                s.push(c);
                chars.next();
            }
            tokens.push(s);
        }
    }
    Ok(tokens)
}

fn parse_filter(text: &str) -> Result<Filter, ScimError> {
    let unsupported = || {
        ScimError::invalid_filter(
            "Supported filters: <attr> eq|ne|co|sw|ew \"value\" and <attr> pr, joined by `and`, on userName, \
             emails.value, id, active, name.givenName, name.familyName, externalId.",
        )
    };
    let tokens = tokenize(text)?;
    let mut parts = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let attr_text = tokens[i].strip_prefix(USER_SCHEMA).map(|r| r.trim_start_matches(':')).unwrap_or(&tokens[i]);
        let attr = match attr_text.to_ascii_lowercase().as_str() {
            "username" | "emails" | "emails.value" => Attr::Email,
            "id" => Attr::Id,
            "active" => Attr::Active,
            "name.givenname" => Attr::GivenName,
            "name.familyname" => Attr::FamilyName,
            "externalid" => Attr::ExternalId,
            _ => return Err(unsupported()),
        };
        let op = match tokens.get(i + 1).map(|t| t.to_ascii_lowercase()).as_deref() {
            Some("eq") => Op::Eq,
            Some("ne") => Op::Ne,
            Some("co") => Op::Co,
            Some("sw") => Op::Sw,
            Some("ew") => Op::Ew,
            Some("pr") => Op::Pr,
            _ => return Err(unsupported()),
        };
        let value = if op == Op::Pr {
            i += 2;
            Value::Null
        } else {
            let raw = tokens.get(i + 2).ok_or_else(unsupported)?;
            i += 3;
            match raw.strip_prefix('"') {
                Some(s) => Value::String(s.to_owned()),
                None => match raw.to_ascii_lowercase().as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => return Err(unsupported()),
                },
            }
        };
        parts.push(Filter::Compare { attr, op, value });
        match tokens.get(i).map(|t| t.to_ascii_lowercase()).as_deref() {
            None => break,
            Some("and") => i += 1,
            Some(_) => return Err(unsupported()),
        }
    }
    match parts.len() {
        0 => Err(unsupported()),
        1 => Ok(parts.remove(0)),
        _ => Ok(Filter::And(parts)),
    }
}

fn like_pattern(value: &str, op: Op) -> String {
    let escaped = value.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    match op {
        Op::Co => format!("%{escaped}%"),
        Op::Sw => format!("{escaped}%"),
        _ => format!("%{escaped}"),
    }
}

type UserQuery<'a> = users::BoxedQuery<'a, crate::db::MultiBackend>;

fn apply_filter<'a>(q: UserQuery<'a>, filter: &Filter) -> Result<UserQuery<'a>, ScimError> {
    let Filter::Compare { attr, op, value } = filter else {
        let Filter::And(list) = filter else { return Ok(q) };
        return list.iter().try_fold(q, apply_filter);
    };
    let text = || value.as_str().map(str::to_owned).ok_or_else(|| ScimError::invalid_filter("Expected a string."));
    Ok(match (attr, op) {
        (Attr::ExternalId, Op::Pr) => q.filter(users::id.eq_any(ext::table.select(ext::user_id))),
        (Attr::ExternalId, Op::Eq) => {
            q.filter(users::id.eq_any(ext::table.filter(ext::external_id.eq(text()?)).select(ext::user_id)))
        }
        (Attr::ExternalId, Op::Ne) => {
            q.filter(users::id.ne_all(ext::table.filter(ext::external_id.eq(text()?)).select(ext::user_id)))
        }
        (Attr::ExternalId, _) => q.filter(
            users::id.eq_any(
                ext::table
                    .filter(
                        crate::db::lower(ext::external_id.nullable()).like(like_pattern(&text()?, *op)).escape('\\'),
                    )
                    .select(ext::user_id),
            ),
        ),
        (_, Op::Pr) => q,
        (Attr::Active, Op::Eq | Op::Ne) => {
            let b = value.as_bool().ok_or_else(|| ScimError::invalid_filter("active takes true or false."))?;
            q.filter(users::active.eq(if *op == Op::Eq { b } else { !b }))
        }
        (Attr::Active, _) => return Err(ScimError::invalid_filter("active takes eq, ne or pr.")),
        (Attr::Email, Op::Eq) => q.filter(users::email_lower.eq(text()?.to_lowercase())),
        (Attr::Email, Op::Ne) => q.filter(users::email_lower.ne(text()?.to_lowercase())),
        (Attr::Email, _) => q.filter(users::email_lower.like(like_pattern(&text()?, *op)).escape('\\')),
        (Attr::Id, Op::Eq) => q.filter(users::id.eq(text()?)),
        (Attr::Id, Op::Ne) => q.filter(users::id.ne(text()?)),
        (Attr::Id, _) => return Err(ScimError::invalid_filter("id takes eq, ne or pr.")),
        (Attr::GivenName, Op::Eq) => q.filter(users::first_name.eq(text()?)),
        (Attr::GivenName, Op::Ne) => q.filter(users::first_name.ne(text()?)),
        (Attr::GivenName, _) => {
            q.filter(crate::db::lower(users::first_name.nullable()).like(like_pattern(&text()?, *op)).escape('\\'))
        }
        (Attr::FamilyName, Op::Eq) => q.filter(users::last_name.eq(text()?)),
        (Attr::FamilyName, Op::Ne) => q.filter(users::last_name.ne(text()?)),
        (Attr::FamilyName, _) => {
            q.filter(crate::db::lower(users::last_name.nullable()).like(like_pattern(&text()?, *op)).escape('\\'))
        }
    })
}

// ---- list ------------------------------------------------------------------------------

/// Query parameters of `GET /scim/v2/Users` (RFC 7644 §3.4.2).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScimListParams {
    /// E.g. `userName eq "ada@example.com"`; see the operation's description for what is served.
    #[param(max_length = 1000)]
    pub filter: Option<String>,
    /// 1-based index of the first result (default 1; below 1 counts as 1).
    #[serde(rename = "startIndex", default)]
    pub start_index: Option<i64>,
    /// Page size (default and maximum 200; 0 answers only `totalResults`).
    #[serde(default)]
    pub count: Option<i64>,
    /// Comma-separated attributes to return (plus `id`, `schemas`, `meta`).
    #[param(max_length = 1000)]
    pub attributes: Option<String>,
    /// Comma-separated attributes to leave out.
    #[serde(rename = "excludedAttributes")]
    #[param(max_length = 1000)]
    pub excluded_attributes: Option<String>,
}

struct ListRequest {
    filter: Option<Filter>,
    start_index: i64,
    count: i64,
    attributes: Vec<String>,
    excluded: Vec<String>,
}

impl ListRequest {
    fn from_params(p: ScimListParams) -> Result<ListRequest, ScimError> {
        Ok(ListRequest {
            filter: p.filter.as_deref().map(parse_filter).transpose()?,
            start_index: p.start_index.unwrap_or(1).max(1),
            count: p.count.unwrap_or(MAX_COUNT).clamp(0, MAX_COUNT),
            attributes: comma_list(p.attributes.as_deref()),
            excluded: comma_list(p.excluded_attributes.as_deref()),
        })
    }
}

async fn list(
    state: &AppState,
    token: ScimToken,
    base: String,
    request: ListRequest,
) -> Result<HttpResponse, ScimError> {
    let ListRequest { filter, start_index, count, attributes, excluded } = request;
    let (rows, total) = with_actor(state, token, move |conn, actor| {
        let scoped = || -> Result<UserQuery<'static>, AppError> {
            let q = users::table.filter(users::account_id.eq(actor.account_id().to_owned())).into_boxed();
            match &filter {
                Some(f) => apply_filter(q, f).map_err(|e| AppError::BadRequest(e.detail)),
                None => Ok(q),
            }
        };
        let total: i64 = scoped()?.count().get_result(conn)?;
        let rows: Vec<UserRow> = scoped()?.order(users::id.asc()).offset(start_index - 1).limit(count).load(conn)?;
        let mut ids = external_ids(conn, actor, &rows.iter().map(|r| r.id.clone()).collect::<Vec<_>>())?;
        let rows: Vec<Stored> = rows
            .into_iter()
            .map(|r| {
                let e = ids.remove(&r.id);
                (r, e)
            })
            .collect();
        Ok((rows, total))
    })
    .await
    .map_err(|e| {
        if e.status == StatusCode::BAD_REQUEST {
            ScimError { scim_type: Some("invalidFilter"), ..e }
        } else {
            e
        }
    })?;
    let resources: Vec<Value> =
        rows.iter().map(|(r, e)| project(user_resource(r, e.as_deref(), &base), &attributes, &excluded)).collect();
    Ok(scim_json(
        StatusCode::OK,
        &json!({
            "schemas": [LIST_SCHEMA],
            "totalResults": total,
            "startIndex": start_index,
            "itemsPerPage": resources.len(),
            "Resources": resources,
        }),
    ))
}

/// A list of users, as SCIM's `ListResponse`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScimUserList {
    pub schemas: Vec<String>,
    #[serde(rename = "totalResults")]
    pub total_results: i64,
    #[serde(rename = "startIndex")]
    pub start_index: i64,
    #[serde(rename = "itemsPerPage")]
    pub items_per_page: i64,
    #[serde(rename = "Resources")]
    pub resources: Vec<ScimUser>,
}

/// A name as SCIM shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScimName {
    #[serde(rename = "givenName", skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(rename = "familyName", skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
}

/// One value of `emails` or `roles`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScimMultiValue {
    pub value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
}

/// `meta` of a resource.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScimMeta {
    #[serde(rename = "resourceType")]
    pub resource_type: String,
    pub created: String,
    #[serde(rename = "lastModified")]
    pub last_modified: String,
    pub location: String,
    pub version: String,
}

/// A user as SCIM shows it (`urn:ietf:params:scim:schemas:core:2.0:User`): `userName` is the
/// login email, `emails` repeats it, `roles[].value` is the account role (`owner`, `admin`,
/// `user` or `focused`). With `attributes`/`excludedAttributes` some members are left out.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScimUser {
    pub schemas: Vec<String>,
    pub id: String,
    #[serde(rename = "userName", skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<ScimName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emails: Option<Vec<ScimMultiValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<ScimMultiValue>>,
    pub meta: ScimMeta,
}

/// Body of `POST /scim/v2/Users` and `PUT /scim/v2/Users/{id}` (attribute names are
/// case-insensitive; attributes not listed here are accepted and ignored).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScimUserIn {
    pub schemas: Option<Vec<String>>,
    /// The login email (required).
    #[serde(rename = "userName")]
    #[schema(max_length = 254)]
    pub user_name: String,
    pub name: Option<ScimName>,
    /// Default `true` on create; left as it is by a PUT without it.
    pub active: Option<bool>,
    /// Used as the email only when `userName` is missing.
    pub emails: Option<Vec<ScimMultiValue>>,
    /// Role values, mapped through the SSO configuration's `role_map` (see the tag).
    pub roles: Option<Vec<ScimMultiValue>>,
    /// Optional: lets the user also log in with a password (8 to 256 characters).
    #[schema(min_length = 8, max_length = 256)]
    pub password: Option<String>,
}

/// One operation of a PATCH.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScimPatchOperation {
    /// `add`, `replace` or `remove` (case-insensitive).
    pub op: String,
    /// E.g. `active`, `name.givenName`, `emails[type eq "work"].value`, `roles`; absent:
    /// `value` is an object of attributes.
    pub path: Option<String>,
    pub value: Option<serde_json::Value>,
}

/// Body of `PATCH /scim/v2/Users/{id}` (RFC 7644 §3.5.2).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScimPatchOp {
    /// `["urn:ietf:params:scim:api:messages:2.0:PatchOp"]`
    pub schemas: Vec<String>,
    #[serde(rename = "Operations")]
    pub operations: Vec<ScimPatchOperation>,
}

/// Body of `POST /scim/v2/Users/.search` (RFC 7644 §3.4.3).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScimSearchRequest {
    pub schemas: Option<Vec<String>>,
    pub filter: Option<String>,
    #[serde(rename = "startIndex")]
    pub start_index: Option<i64>,
    pub count: Option<i64>,
    pub attributes: Option<Vec<String>>,
    #[serde(rename = "excludedAttributes")]
    pub excluded_attributes: Option<Vec<String>>,
}

/// Lists the account's users (RFC 7644 §3.4.2), oldest first.
///
/// `filter`: `<attr> eq|ne|co|sw|ew "value"` or `<attr> pr`, several joined by `and`, on
/// `userName` (case-insensitive, the email), `emails.value`, `id`, `active` (`true`/`false`),
/// `name.givenName`, `name.familyName` and `externalId` (not stored: matches nothing). Paged
/// by `startIndex` (1-based) and `count` (at most 200). Authenticated by a SCIM token.
#[utoipa::path(
    tag = "scim",
    params(ScimListParams),
    responses(
        (status = 200, body = ScimUserList, content_type = "application/scim+json"),
        (status = 400, body = ScimErrorBody, content_type = "application/scim+json", description = "Unsupported or malformed filter"),
        (status = 401, body = ScimErrorBody, content_type = "application/scim+json", description = "Missing or invalid SCIM token"),
        (status = 500, body = ScimErrorBody, content_type = "application/scim+json", description = "Unexpected server error"),
        (status = 503, body = ScimErrorBody, content_type = "application/scim+json", description = "Database unavailable"),
    ),
    security(("scim" = []))
)]
#[get("/Users")]
pub async fn scim_list_users(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: ScimToken,
) -> Result<HttpResponse, ScimError> {
    let params: ScimListParams = serde_urlencoded::from_str(req.query_string())
        .map_err(|e| ScimError::invalid_syntax(format!("Malformed query: {e}")))?;
    list(&state, token, base_url(&req), ListRequest::from_params(params)?).await
}

/// Searches the account's users with a body (RFC 7644 §3.4.3).
///
/// The same as `GET /scim/v2/Users`, with `filter`, `startIndex`, `count`, `attributes` and
/// `excludedAttributes` in a `SearchRequest` body. Authenticated by a SCIM token.
#[utoipa::path(
    tag = "scim",
    request_body(content = ScimSearchRequest, content_type = "application/scim+json"),
    responses(
        (status = 200, body = ScimUserList, content_type = "application/scim+json"),
        (status = 400, body = ScimErrorBody, content_type = "application/scim+json", description = "Malformed body or unsupported filter"),
        (status = 401, body = ScimErrorBody, content_type = "application/scim+json", description = "Missing or invalid SCIM token"),
        (status = 500, body = ScimErrorBody, content_type = "application/scim+json", description = "Unexpected server error"),
        (status = 503, body = ScimErrorBody, content_type = "application/scim+json", description = "Database unavailable"),
    ),
    security(("scim" = []))
)]
#[post("/Users/.search")]
pub async fn scim_search_users(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: ScimToken,
    body: web::Bytes,
) -> Result<HttpResponse, ScimError> {
    search(req, state, token, body).await
}

/// Searches from the service root (RFC 7644 §3.4.3): users are the only resources.
///
/// The same as `POST /scim/v2/Users/.search`. Authenticated by a SCIM token.
#[utoipa::path(
    tag = "scim",
    request_body(content = ScimSearchRequest, content_type = "application/scim+json"),
    responses(
        (status = 200, body = ScimUserList, content_type = "application/scim+json"),
        (status = 400, body = ScimErrorBody, content_type = "application/scim+json", description = "Malformed body or unsupported filter"),
        (status = 401, body = ScimErrorBody, content_type = "application/scim+json", description = "Missing or invalid SCIM token"),
        (status = 500, body = ScimErrorBody, content_type = "application/scim+json", description = "Unexpected server error"),
        (status = 503, body = ScimErrorBody, content_type = "application/scim+json", description = "Database unavailable"),
    ),
    security(("scim" = []))
)]
#[post("/.search")]
pub async fn scim_search(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: ScimToken,
    body: web::Bytes,
) -> Result<HttpResponse, ScimError> {
    search(req, state, token, body).await
}

async fn search(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: ScimToken,
    body: web::Bytes,
) -> Result<HttpResponse, ScimError> {
    let map = parse_body(&req, &body)?;
    let search: ScimSearchRequest = serde_json::from_value(Value::Object(map.clone()))
        .map_err(|e| ScimError::invalid_syntax(format!("Malformed search request: {e}")))?;
    let _ = SEARCH_SCHEMA;
    let params = ScimListParams {
        filter: search.filter,
        start_index: search.start_index,
        count: search.count,
        attributes: search.attributes.map(|a| a.join(",")),
        excluded_attributes: search.excluded_attributes.map(|a| a.join(",")),
    };
    list(&state, token, base_url(&req), ListRequest::from_params(params)?).await
}

fn resource_response(req: &HttpRequest, status: StatusCode, (row, external_id): &Stored) -> HttpResponse {
    let params: ScimListParams = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let (attributes, excluded) =
        (comma_list(params.attributes.as_deref()), comma_list(params.excluded_attributes.as_deref()));
    let resource = project(user_resource(row, external_id.as_deref(), &base_url(req)), &attributes, &excluded);
    let mut resp = scim_json(status, &resource);
    if status == StatusCode::CREATED {
        if let Ok(v) = header::HeaderValue::from_str(&format!("{}/Users/{}", base_url(req), row.id)) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
    }
    resp
}

/// One user of the account.
///
/// 404 for another account's user, like a missing one. `attributes` and `excludedAttributes`
/// (comma-separated) narrow the answer. Authenticated by a SCIM token.
#[utoipa::path(
    tag = "scim",
    params(("id" = String, Path), ("attributes" = Option<String>, Query), ("excludedAttributes" = Option<String>, Query)),
    responses(
        (status = 200, body = ScimUser, content_type = "application/scim+json"),
        (status = 400, body = ScimErrorBody, content_type = "application/scim+json", description = "Malformed query string (NUL, invalid UTF-8, over 2,000 bytes)"),
        (status = 401, body = ScimErrorBody, content_type = "application/scim+json", description = "Missing or invalid SCIM token"),
        (status = 404, body = ScimErrorBody, content_type = "application/scim+json", description = "No such user in this account"),
        (status = 500, body = ScimErrorBody, content_type = "application/scim+json", description = "Unexpected server error"),
        (status = 503, body = ScimErrorBody, content_type = "application/scim+json", description = "Database unavailable"),
    ),
    security(("scim" = []))
)]
#[get("/Users/{id}")]
pub async fn scim_get_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: ScimToken,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    let id = id.into_inner();
    let row = with_actor(&state, token, move |conn, actor| {
        let row = crate::users::queries::find(conn, actor, &id)?;
        let e = external_ids(conn, actor, std::slice::from_ref(&row.id))?.remove(&row.id);
        Ok((row, e))
    })
    .await?;
    Ok(resource_response(&req, StatusCode::OK, &row))
}

// ---- writes ----------------------------------------------------------------------------

/// The account's role mapping: its SSO configuration's, or `RoleMapping::without_sso`.
fn mapping(conn: &mut DbConnection, actor: &Actor) -> Result<RoleMapping, AppError> {
    Ok(super::config::find(conn, actor.account_id())?.map(|c| c.mapping()).unwrap_or_else(RoleMapping::without_sso))
}

fn no_role() -> AppError {
    AppError::field(
        "roles",
        "no value maps to a role and the SSO configuration has no default_role: add the value to role_map or set \
         default_role",
    )
}

/// A user's attributes as a request states them (each `None`: not stated).
#[derive(Debug, Default, Clone)]
struct Draft {
    email: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    active: Option<bool>,
    /// Role values to resolve, and whether the current role takes part (`add`).
    roles: Option<(Vec<String>, bool)>,
    password: Option<String>,
    /// `Some(None)`: remove it.
    external_id: Option<Option<String>>,
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        // Entra ID sends "True"/"False".
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn as_text(v: &Value, what: &str) -> Result<String, ScimError> {
    v.as_str().map(str::to_owned).ok_or_else(|| ScimError::invalid_value(format!("{what} must be a string.")))
}

/// The values of a multi-valued attribute (`emails`, `roles`): a list of `{value, primary}`,
/// one such object, or plain strings; the primary one first.
fn multi_values(v: &Value, what: &str) -> Result<Vec<String>, ScimError> {
    let items: Vec<&Value> = match v {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut out: Vec<(bool, String)> = Vec::new();
    for item in items {
        match item {
            Value::String(s) => out.push((false, s.clone())),
            Value::Object(m) => {
                let value = get_ci(m, "value")
                    .ok_or_else(|| ScimError::invalid_value(format!("{what}[].value is required.")))?;
                let primary = get_ci(m, "primary").and_then(as_bool).unwrap_or(false);
                out.push((primary, as_text(value, &format!("{what}[].value"))?));
            }
            _ => return Err(ScimError::invalid_value(format!("{what} must be a list of objects with `value`."))),
        }
    }
    out.sort_by_key(|(primary, _)| !*primary);
    Ok(out.into_iter().map(|(_, v)| v).collect())
}

impl Draft {
    /// Applies one attribute (`name` as written, any case) with operation `op`.
    fn apply(&mut self, op: &str, attr: &str, sub: Option<&str>, value: Option<&Value>) -> Result<(), ScimError> {
        let remove = op == "remove";
        let needs_value = || value.ok_or_else(|| ScimError::invalid_value(format!("`{op}` of {attr} needs a value.")));
        let attr_l = attr.to_ascii_lowercase();
        let sub_l = sub.map(str::to_ascii_lowercase);
        match (attr_l.as_str(), sub_l.as_deref()) {
            ("username", _) => {
                if remove {
                    return Err(ScimError::new(
                        StatusCode::BAD_REQUEST,
                        Some("mutability"),
                        "userName cannot be removed.",
                    ));
                }
                self.email = Some(as_text(needs_value()?, "userName")?);
            }
            ("name", None) => {
                if remove {
                    self.given_name = Some(String::new());
                    self.family_name = Some(String::new());
                } else {
                    let Value::Object(m) = needs_value()? else {
                        return Err(ScimError::invalid_value("name must be an object."));
                    };
                    for (k, v) in m {
                        self.apply(op, "name", Some(k), Some(v))?;
                    }
                }
            }
            ("name", Some("givenname")) => {
                self.given_name = Some(if remove { String::new() } else { as_text(needs_value()?, "name.givenName")? })
            }
            ("name", Some("familyname")) => {
                self.family_name =
                    Some(if remove { String::new() } else { as_text(needs_value()?, "name.familyName")? })
            }
            ("active", _) => {
                if remove {
                    return Err(ScimError::new(
                        StatusCode::BAD_REQUEST,
                        Some("mutability"),
                        "active cannot be removed; set it to false to deactivate the user.",
                    ));
                }
                self.active =
                    Some(as_bool(needs_value()?).ok_or_else(|| ScimError::invalid_value("active must be a boolean."))?);
            }
            ("emails", _) => {
                if remove {
                    return Err(ScimError::new(
                        StatusCode::BAD_REQUEST,
                        Some("mutability"),
                        "emails cannot be removed: the email is the user's userName.",
                    ));
                }
                let values = match sub_l.as_deref() {
                    Some("value") => vec![as_text(needs_value()?, "emails.value")?],
                    _ => multi_values(needs_value()?, "emails")?,
                };
                if let Some(first) = values.into_iter().next() {
                    self.email = Some(first);
                }
            }
            ("roles", _) => {
                let values = match (remove, value) {
                    (true, _) => Vec::new(),
                    (false, Some(v)) if sub_l.as_deref() == Some("value") => vec![as_text(v, "roles.value")?],
                    (false, Some(v)) => multi_values(v, "roles")?,
                    (false, None) => return Err(ScimError::invalid_value(format!("`{op}` of roles needs a value."))),
                };
                self.roles = Some((values, op == "add"));
            }
            ("password", _) if !remove => self.password = Some(as_text(needs_value()?, "password")?),
            ("externalid", _) => {
                self.external_id = Some(if remove { None } else { Some(as_text(needs_value()?, "externalId")?) })
            }
            // Attributes this service does not keep (displayName, externalId, title, the
            // enterprise extension, …) are accepted and ignored, as identity providers send them.
            _ => {}
        }
        Ok(())
    }

    /// A full representation (`POST`, `PUT`).
    fn from_resource(map: &Map<String, Value>, replace: bool) -> Result<Draft, ScimError> {
        let mut d = Draft::default();
        if let Some(v) = get_ci(map, "emails") {
            d.apply("replace", "emails", None, Some(v))?;
        }
        // userName wins over emails.
        if let Some(v) = get_ci(map, "userName") {
            d.apply("replace", "userName", None, Some(v))?;
        }
        if d.email.is_none() {
            return Err(ScimError::invalid_value("userName is required."));
        }
        if replace {
            d.given_name = Some(String::new());
            d.family_name = Some(String::new());
        }
        if let Some(v) = get_ci(map, "name").filter(|v| !v.is_null()) {
            d.apply("replace", "name", None, Some(v))?;
        }
        if let Some(v) = get_ci(map, "active").filter(|v| !v.is_null()) {
            d.apply("replace", "active", None, Some(v))?;
        }
        if let Some(v) = get_ci(map, "roles").filter(|v| !v.is_null()) {
            d.apply("replace", "roles", None, Some(v))?;
        }
        if let Some(v) = get_ci(map, "password").filter(|v| !v.is_null()) {
            d.apply("replace", "password", None, Some(v))?;
        }
        match get_ci(map, "externalId").filter(|v| !v.is_null()) {
            Some(v) => d.apply("replace", "externalId", None, Some(v))?,
            None if replace => d.external_id = Some(None),
            None => {}
        }
        Ok(d)
    }

    /// Field checks the `/v1/users` bodies make with `validator`.
    fn check(&self) -> Result<(), ScimError> {
        if let Some(email) = &self.email {
            let email = email.trim();
            if email.len() > 254 || !validator::ValidateEmail::validate_email(&email) {
                return Err(ScimError::invalid_value(
                    "userName must be a valid email address (at most 254 characters).",
                ));
            }
        }
        for (what, v) in [("name.givenName", &self.given_name), ("name.familyName", &self.family_name)] {
            if v.as_ref().is_some_and(|s| s.chars().count() > 100) {
                return Err(ScimError::invalid_value(format!("{what} must be at most 100 characters long.")));
            }
        }
        if self.external_id.as_ref().and_then(|e| e.as_ref()).is_some_and(|e| e.is_empty() || e.chars().count() > 255) {
            return Err(ScimError::invalid_value("externalId must be 1 to 255 characters long."));
        }
        if let Some(p) = &self.password {
            if !(8..=256).contains(&p.chars().count()) {
                return Err(ScimError::invalid_value("password must be 8 to 256 characters long."));
            }
        }
        Ok(())
    }
}

async fn hash_password(password: Option<String>) -> Result<Option<String>, ScimError> {
    Ok(db::blocking(move || password.map(|p| crate::auth::password::hash(&p)).transpose()).await?)
}

/// Creates a user of the account (RFC 7644 §3.3). `userName` is the login email; the role
/// comes from `roles[].value` through the SSO configuration's `role_map` (widest wins, else
/// `default_role`; without SSO configuration the values are role names and the default is
/// `user`). Without `password` the user logs in by SSO only.
///
/// 201 with the user and `Location`. 400 for invalid values (scimType `invalidValue`, also
/// when no role results); 409 (`uniqueness`) when the email is registered already.
#[utoipa::path(
    tag = "scim",
    request_body(content = ScimUserIn, content_type = "application/scim+json"),
    responses(
        (status = 201, body = ScimUser, content_type = "application/scim+json", headers(("Location" = String))),
        (status = 400, body = ScimErrorBody, content_type = "application/scim+json", description = "Malformed body or invalid values"),
        (status = 401, body = ScimErrorBody, content_type = "application/scim+json", description = "Missing or invalid SCIM token"),
        (status = 403, body = ScimErrorBody, content_type = "application/scim+json", description = "Not allowed"),
        (status = 409, body = ScimErrorBody, content_type = "application/scim+json", description = "The email is registered already"),
        (status = 500, body = ScimErrorBody, content_type = "application/scim+json", description = "Unexpected server error"),
        (status = 503, body = ScimErrorBody, content_type = "application/scim+json", description = "Database unavailable"),
    ),
    security(("scim" = []))
)]
#[post("/Users")]
pub async fn scim_create_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: ScimToken,
    body: web::Bytes,
) -> Result<HttpResponse, ScimError> {
    let map = parse_body(&req, &body)?;
    let draft = Draft::from_resource(&map, false)?;
    draft.check()?;
    let hash = hash_password(draft.password.clone()).await?;
    let row = write_with_actor(&state, token, move |conn, actor| {
        let mapping = mapping(conn, actor)?;
        let role = match &draft.roles {
            Some((values, _)) => mapping.resolve(values.iter().map(String::as_str)),
            None => mapping.resolve([]),
        }
        .ok_or_else(no_role)?;
        if role == Role::Owner {
            return Err(AppError::field("roles", "cannot be owner; use transfer-ownership"));
        }
        let email = draft.email.clone().unwrap_or_default();
        let at = now();
        let row = UserRow {
            id: new_id(),
            account_id: actor.account_id().to_owned(),
            email: email.trim().to_owned(),
            email_lower: email.trim().to_lowercase(),
            password_hash: hash.unwrap_or_else(|| NO_PASSWORD.into()),
            first_name: draft.given_name.clone().unwrap_or_default(),
            last_name: draft.family_name.clone().unwrap_or_default(),
            role: role.as_str().into(),
            privileges: 0,
            active: draft.active.unwrap_or(true),
            version: 1,
            created_at: at,
            updated_at: at,
        };
        crate::users::queries::insert(conn, &AuditCtx::from(actor), &row)?;
        let external_id = draft.external_id.clone().flatten();
        if let Some(e) = &external_id {
            set_external_id(conn, actor, &row.id, Some(e))?;
        }
        Ok((row, external_id))
    })
    .await?;
    Ok(resource_response(&req, StatusCode::CREATED, &row))
}

/// Applies `draft` to user `id` through `/v1/users`' own patch and save.
fn write_draft(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    draft: &Draft,
    hash: Option<String>,
) -> Result<Stored, AppError> {
    let mapping = mapping(conn, actor)?;
    let row = crate::http::optimistic(None, || {
        let before = crate::users::queries::find(conn, actor, id)?;
        let role = match &draft.roles {
            None => None,
            Some((values, with_current)) => {
                let mut all: Vec<&str> = values.iter().map(String::as_str).collect();
                if *with_current {
                    all.push(before.role.as_str());
                }
                Some(mapping.resolve(all).ok_or_else(no_role)?)
            }
        };
        let patch = UserPatch {
            email: draft.email.clone(),
            first_name: draft.given_name.clone(),
            last_name: draft.family_name.clone(),
            role,
            active: draft.active,
            ..UserPatch::default()
        };
        let next = crate::users::routes::apply_patch(actor, &before, patch, hash.clone())?;
        crate::users::queries::save(conn, &AuditCtx::from(actor), &before, next)
    })?;
    if let Some(e) = &draft.external_id {
        set_external_id(conn, actor, &row.id, e.as_deref())?;
    }
    let e = external_ids(conn, actor, std::slice::from_ref(&row.id))?.remove(&row.id);
    Ok((row, e))
}

/// Replaces a user's attributes (RFC 7644 §3.5.1): `userName` and `name` as sent (a missing
/// `name` clears it); `active` and `roles` only when sent.
///
/// 403 for the account owner's role or deactivation (and, with a token made by an admin, for
/// the owner and that admin), as `PATCH /v1/users/{id}` answers. 404 for another account's user.
#[utoipa::path(
    tag = "scim",
    params(("id" = String, Path)),
    request_body(content = ScimUserIn, content_type = "application/scim+json"),
    responses(
        (status = 200, body = ScimUser, content_type = "application/scim+json"),
        (status = 400, body = ScimErrorBody, content_type = "application/scim+json", description = "Malformed body or invalid values"),
        (status = 401, body = ScimErrorBody, content_type = "application/scim+json", description = "Missing or invalid SCIM token"),
        (status = 403, body = ScimErrorBody, content_type = "application/scim+json", description = "Not allowed for this user (the owner)"),
        (status = 404, body = ScimErrorBody, content_type = "application/scim+json", description = "No such user in this account"),
        (status = 409, body = ScimErrorBody, content_type = "application/scim+json", description = "The email is registered already"),
        (status = 500, body = ScimErrorBody, content_type = "application/scim+json", description = "Unexpected server error"),
        (status = 503, body = ScimErrorBody, content_type = "application/scim+json", description = "Database unavailable"),
    ),
    security(("scim" = []))
)]
#[put("/Users/{id}")]
pub async fn scim_replace_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: ScimToken,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ScimError> {
    let map = parse_body(&req, &body)?;
    let draft = Draft::from_resource(&map, true)?;
    draft.check()?;
    let hash = hash_password(draft.password.clone()).await?;
    let id = id.into_inner();
    let row = write_with_actor(&state, token, move |conn, actor| write_draft(conn, actor, &id, &draft, hash)).await?;
    Ok(resource_response(&req, StatusCode::OK, &row))
}

/// Splits a PATCH path into attribute and sub-attribute: `name.givenName`,
/// `emails[type eq "work"].value`, `urn:…:User:active`.
fn split_path(path: &str) -> (String, Option<String>) {
    let path = path.strip_prefix(USER_SCHEMA).map(|r| r.trim_start_matches(':')).unwrap_or(path);
    let (head, tail) = match path.find('[') {
        Some(i) => {
            let after = path[i..].find(']').map(|j| &path[i + j + 1..]).unwrap_or("");
            (&path[..i], after.strip_prefix('.'))
        }
        None => match path.split_once('.') {
            Some((h, t)) => (h, Some(t)),
            None => (path, None),
        },
    };
    (head.to_owned(), tail.map(str::to_owned))
}

/// Changes a user with SCIM operations (RFC 7644 §3.5.2): `add`, `replace`, `remove` on
/// `userName`, `name` (and its `givenName`, `familyName`), `active`, `emails` (the email),
/// `roles` (through `role_map`; `add` keeps the current role in the running, so the widest
/// wins; `remove` falls back to `default_role`), or without `path` an object of attributes.
/// Attributes the service does not keep are ignored.
///
/// `active: false` deactivates the user at once: their next request answers 401 and their
/// refresh sessions end. 403 for the account owner's role or deactivation; 400 for a
/// `remove` of `userName`, `emails` or `active` (scimType `mutability`).
#[utoipa::path(
    tag = "scim",
    params(("id" = String, Path)),
    request_body(content = ScimPatchOp, content_type = "application/scim+json"),
    responses(
        (status = 200, body = ScimUser, content_type = "application/scim+json"),
        (status = 400, body = ScimErrorBody, content_type = "application/scim+json", description = "Malformed body, invalid values or paths"),
        (status = 401, body = ScimErrorBody, content_type = "application/scim+json", description = "Missing or invalid SCIM token"),
        (status = 403, body = ScimErrorBody, content_type = "application/scim+json", description = "Not allowed for this user (the owner)"),
        (status = 404, body = ScimErrorBody, content_type = "application/scim+json", description = "No such user in this account"),
        (status = 409, body = ScimErrorBody, content_type = "application/scim+json", description = "The email is registered already"),
        (status = 500, body = ScimErrorBody, content_type = "application/scim+json", description = "Unexpected server error"),
        (status = 503, body = ScimErrorBody, content_type = "application/scim+json", description = "Database unavailable"),
    ),
    security(("scim" = []))
)]
#[patch("/Users/{id}")]
pub async fn scim_patch_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: ScimToken,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ScimError> {
    let map = parse_body(&req, &body)?;
    let _ = PATCH_SCHEMA;
    let Some(Value::Array(ops)) = get_ci(&map, "Operations") else {
        return Err(ScimError::invalid_syntax("Operations must be a list of operations."));
    };
    let mut draft = Draft::default();
    for op in ops {
        let Value::Object(op) = op else {
            return Err(ScimError::invalid_syntax("Each operation must be an object."));
        };
        let kind = get_ci(op, "op").and_then(Value::as_str).map(str::to_ascii_lowercase).unwrap_or_default();
        if !["add", "replace", "remove"].contains(&kind.as_str()) {
            return Err(ScimError::invalid_syntax("op must be add, replace or remove."));
        }
        let value = get_ci(op, "value");
        match get_ci(op, "path").and_then(Value::as_str) {
            Some(path) => {
                let (attr, sub) = split_path(path);
                draft.apply(&kind, &attr, sub.as_deref(), value)?;
            }
            None if kind == "remove" => {
                return Err(ScimError::new(StatusCode::BAD_REQUEST, Some("noTarget"), "remove needs a path."));
            }
            None => {
                let Some(Value::Object(attrs)) = value else {
                    return Err(ScimError::invalid_value("Without a path, value must be an object of attributes."));
                };
                for (k, v) in attrs {
                    let (attr, sub) = split_path(k);
                    draft.apply(&kind, &attr, sub.as_deref(), Some(v))?;
                }
            }
        }
    }
    draft.check()?;
    let hash = hash_password(draft.password.clone()).await?;
    let id = id.into_inner();
    let row = write_with_actor(&state, token, move |conn, actor| write_draft(conn, actor, &id, &draft, hash)).await?;
    Ok(resource_response(&req, StatusCode::OK, &row))
}

/// Deletes a user (RFC 7644 §3.6) through `DELETE /v1/users/{id}`'s own code.
///
/// 204. A user who still owns contacts or deals or has open actions is not deleted: 409
/// telling the operator to deactivate instead (SPEC §3 needs a reassignment target, which
/// SCIM cannot name). 403 for the owner (and the token's own creator); 404 for another
/// account's user.
#[utoipa::path(
    tag = "scim",
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ScimErrorBody, content_type = "application/scim+json", description = "Missing or invalid SCIM token"),
        (status = 403, body = ScimErrorBody, content_type = "application/scim+json", description = "The owner (or the token's creator)"),
        (status = 404, body = ScimErrorBody, content_type = "application/scim+json", description = "No such user in this account"),
        (status = 409, body = ScimErrorBody, content_type = "application/scim+json", description = "The user still owns records: deactivate instead"),
        (status = 500, body = ScimErrorBody, content_type = "application/scim+json", description = "Unexpected server error"),
        (status = 503, body = ScimErrorBody, content_type = "application/scim+json", description = "Database unavailable"),
    ),
    security(("scim" = []))
)]
#[delete("/Users/{id}")]
pub async fn scim_delete_user(
    state: web::Data<AppState>,
    token: ScimToken,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    let id = id.into_inner();
    write_with_actor(&state, token, move |conn, actor| crate::users::routes::delete_in_tx(conn, actor, &id, None))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---- discovery -------------------------------------------------------------------------

fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": [SPC_SCHEMA],
        "documentationUri": "https://datatracker.ietf.org/doc/html/rfc7644",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_COUNT},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": false},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "SCIM token",
            "description": "A token made with POST /v1/account/scim-tokens, sent as `Authorization: Bearer crm_scim_…`.",
            "primary": true,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
    })
}

fn user_resource_type(base: &str) -> Value {
    json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "A user of the account; userName is the login email.",
        "schema": USER_SCHEMA,
        "schemaExtensions": [],
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")},
    })
}

fn attribute(name: &str, kind: &str, description: &str, required: bool, mutability: &str, uniqueness: &str) -> Value {
    json!({
        "name": name, "type": kind, "multiValued": false, "description": description, "required": required,
        "caseExact": false, "mutability": mutability, "returned": "default", "uniqueness": uniqueness,
    })
}

fn multi_valued(name: &str, description: &str) -> Value {
    json!({
        "name": name, "type": "complex", "multiValued": true, "description": description, "required": false,
        "mutability": "readWrite", "returned": "default", "uniqueness": "none",
        "subAttributes": [attribute("value", "string", "The value.", true, "readWrite", "none")],
    })
}

fn user_schema(base: &str) -> Value {
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": USER_SCHEMA,
        "name": "User",
        "description": "A user of the account.",
        "attributes": [
            attribute("userName", "string", "The login email, unique in the service.", true, "readWrite", "server"),
            {
                "name": "name", "type": "complex", "multiValued": false, "description": "The user's name.",
                "required": false, "mutability": "readWrite", "returned": "default", "uniqueness": "none",
                "subAttributes": [
                    attribute("givenName", "string", "First name (at most 100 characters).", false, "readWrite", "none"),
                    attribute("familyName", "string", "Last name (at most 100 characters).", false, "readWrite", "none"),
                ],
            },
            attribute("active", "boolean", "false: deactivated (the user's next request answers 401).", false, "readWrite", "none"),
            multi_valued("emails", "The login email again (setting it changes userName)."),
            multi_valued("roles", "The account role; values sent are mapped through the SSO configuration's role_map."),
        ],
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{USER_SCHEMA}")},
    })
}

fn list_of(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// What this SCIM service supports (RFC 7644 §4).
///
/// Public: PATCH and filters yes; bulk, sort, ETags and password changes no; authentication
/// by a bearer SCIM token.
#[utoipa::path(
    tag = "scim",
    responses(
        (status = 200, body = Object, content_type = "application/scim+json"),
        (status = 400, body = ScimErrorBody, content_type = "application/scim+json", description = "Malformed query string (NUL, invalid UTF-8, over 2,000 bytes)"),
    )
)]
#[get("/ServiceProviderConfig")]
pub async fn get_service_provider_config(req: HttpRequest) -> HttpResponse {
    scim_json(StatusCode::OK, &service_provider_config(&base_url(&req)))
}

/// The resource types served (RFC 7644 §4).
///
/// Public. One: `User` at `/Users`, schema `urn:ietf:params:scim:schemas:core:2.0:User`.
#[utoipa::path(
    tag = "scim",
    responses(
        (status = 200, body = Object, content_type = "application/scim+json"),
        (status = 400, body = ScimErrorBody, content_type = "application/scim+json", description = "Malformed query string (NUL, invalid UTF-8, over 2,000 bytes)"),
    )
)]
#[get("/ResourceTypes")]
pub async fn list_resource_types(req: HttpRequest) -> HttpResponse {
    scim_json(StatusCode::OK, &list_of(vec![user_resource_type(&base_url(&req))]))
}

/// One resource type.
///
/// Public. `User` is the only one; any other id is 404.
#[utoipa::path(
    tag = "scim",
    params(("id" = String, Path)),
    responses(
        (status = 200, body = Object, content_type = "application/scim+json"),
        (status = 404, body = ScimErrorBody, content_type = "application/scim+json", description = "No such resource type"),
    )
)]
#[get("/ResourceTypes/{id}")]
pub async fn get_resource_type(req: HttpRequest, id: web::Path<String>) -> Result<HttpResponse, ScimError> {
    if id.as_str() != "User" {
        return Err(ScimError::not_found());
    }
    Ok(scim_json(StatusCode::OK, &user_resource_type(&base_url(&req))))
}

/// The schemas served (RFC 7643 §7).
///
/// Public. The core User schema with the attributes this service keeps: `userName`, `name`
/// (`givenName`, `familyName`), `active`, `emails` and `roles`.
#[utoipa::path(
    tag = "scim",
    responses(
        (status = 200, body = Object, content_type = "application/scim+json"),
        (status = 400, body = ScimErrorBody, content_type = "application/scim+json", description = "Malformed query string (NUL, invalid UTF-8, over 2,000 bytes)"),
    )
)]
#[get("/Schemas")]
pub async fn list_schemas(req: HttpRequest) -> HttpResponse {
    scim_json(StatusCode::OK, &list_of(vec![user_schema(&base_url(&req))]))
}

/// One schema, by its URN.
///
/// Public. `urn:ietf:params:scim:schemas:core:2.0:User` is the only one; any other is 404.
#[utoipa::path(
    tag = "scim",
    params(("id" = String, Path)),
    responses(
        (status = 200, body = Object, content_type = "application/scim+json"),
        (status = 404, body = ScimErrorBody, content_type = "application/scim+json", description = "No such schema"),
    )
)]
#[get("/Schemas/{id}")]
pub async fn get_schema(req: HttpRequest, id: web::Path<String>) -> Result<HttpResponse, ScimError> {
    if id.as_str() != USER_SCHEMA {
        return Err(ScimError::not_found());
    }
    Ok(scim_json(StatusCode::OK, &user_schema(&base_url(&req))))
}
