//! Request and response plumbing shared by every resource: the validating JSON extractor,
//! partial-update fields, ETags and keyset pages.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use base64::Engine;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::error::AppError;
use crate::state::AppState;

/// JSON body that is checked at the edge: content type (415), size (413), syntax (400),
/// shape and unknown fields (422 naming the field), then `validator` rules (422).
pub struct ValidJson<T>(pub T);

impl<T: DeserializeOwned + Validate + 'static> FromRequest for ValidJson<T> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req.app_data::<web::Data<AppState>>().map(|s| s.settings.json_body_limit).unwrap_or(1024 * 1024);
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                let essence = v.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
                essence == "application/json" || essence.ends_with("+json")
            })
            .unwrap_or(false);
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if !is_json {
                return Err(AppError::UnsupportedMediaType);
            }
            if declared.is_some_and(|n| n > limit) {
                return Err(AppError::PayloadTooLarge);
            }
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| AppError::BadRequest(format!("cannot read body: {e}")))?;
                if body.len() + chunk.len() > limit {
                    return Err(AppError::PayloadTooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            let value = parse_json::<T>(&body)?;
            // Every body is a JSON object: serde would also read a struct from an array.
            if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
                return Err(AppError::field("body", "must be a JSON object"));
            }
            value.validate()?;
            Ok(ValidJson(value))
        })
    }
}

/// Syntax errors are 400; well-formed JSON of the wrong shape is 422 with the field path
/// (unknown and duplicate fields included).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    // Well-formedness first, so `{} trailing` is a 400 whatever the target type wants.
    let document: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| AppError::BadRequest(format!("Malformed JSON: {e}")))?;
    // PostgreSQL text cannot hold NUL; refuse it the same way on every backend.
    if let Some(path) = find_nul(&document, String::new()) {
        let field = if path.is_empty() { "body".to_owned() } else { path };
        return Err(AppError::field(&field, "must not contain NUL characters"));
    }
    // From the bytes, not the parsed document: a repeated key must not silently collapse.
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let field = if path == "." || path.is_empty() { "body".to_owned() } else { path };
        AppError::field(&field, strip_position(&err.into_inner().to_string()))
    })
}

fn find_nul(value: &serde_json::Value, path: String) -> Option<String> {
    use serde_json::Value;
    let join = |key: &str| if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") };
    match value {
        Value::String(s) if s.contains('\0') => Some(path),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| find_nul(v, format!("{path}[{i}]"))),
        Value::Object(map) => {
            map.iter().find_map(|(k, v)| if k.contains('\0') { Some(join("body")) } else { find_nul(v, join(k)) })
        }
        _ => None,
    }
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// The longest single query-string value the service reads (bytes, once decoded); every
/// documented text parameter is shorter, so anything longer is a client error.
pub const QUERY_VALUE_MAX: usize = 2_000;

/// Checks a request's raw query string before any route sees it, for every endpoint at
/// once: each key and value must percent-decode to UTF-8 without NUL characters
/// (PostgreSQL text cannot hold NUL, and SQLite would cut a pattern short at it) and stay
/// under `QUERY_VALUE_MAX`. A malformed query is a 400 naming the parameter.
pub fn check_query_string(raw: &str) -> Result<(), AppError> {
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |part: &str| {
            let spaced = part.replace('+', " ");
            percent_encoding::percent_decode_str(&spaced).decode_utf8().map(|t| t.into_owned())
        };
        let name = decode(key).unwrap_or_else(|_| key.to_owned());
        let bad = |why: &str| AppError::BadRequest(format!("Query parameter `{}` {why}.", name.escape_default()));
        let key_text = decode(key).map_err(|_| bad("is not valid UTF-8 once percent-decoded"))?;
        let value_text = decode(value).map_err(|_| bad("is not valid UTF-8 once percent-decoded"))?;
        if key_text.contains('\0') || value_text.contains('\0') {
            return Err(bad("must not contain NUL characters"));
        }
        if value_text.len() > QUERY_VALUE_MAX {
            return Err(bad(&format!("is longer than {QUERY_VALUE_MAX} bytes")));
        }
    }
    Ok(())
}

/// Query parameters of one endpoint: parsed (a malformed or repeated parameter is a 400)
/// and checked against their documented bounds (`validator` rules; 400 naming the
/// parameter, since it is the query that is malformed, not a body).
pub struct Query<T>(pub T);

impl<T> Query<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Query<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + Validate> FromRequest for Query<T> {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(parse_query(req.query_string()).map(Query))
    }
}

fn parse_query<T: DeserializeOwned + Validate>(raw: &str) -> Result<T, AppError> {
    let value: T =
        serde_urlencoded::from_str(raw).map_err(|e| AppError::BadRequest(format!("Malformed query string: {e}.")))?;
    value.validate().map_err(|errors| match AppError::from(errors) {
        AppError::Validation(fields) => {
            let text: Vec<String> = fields.iter().map(|(k, v)| format!("`{k}` {}", v.join("; "))).collect();
            AppError::BadRequest(format!("Invalid query parameters: {}.", text.join(", ")))
        }
        other => other,
    })?;
    Ok(value)
}

/// A calendar date `YYYY-MM-DD` with a four-digit year (0001–9999), in bodies and query
/// strings alike. Dates are stored as ISO text, whose order is the date order only for
/// four-digit years: chrono alone would also take `+10000-01-01`, which sorts before
/// `2026-01-01` as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Date(chrono::NaiveDate);

impl Date {
    pub fn parse(text: &str) -> Option<Date> {
        let ok_shape = text.len() == 10
            && text.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
        let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().filter(|_| ok_shape)?;
        use chrono::Datelike;
        (date.year() >= 1).then_some(Date(date))
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Date, D::Error> {
        let text = String::deserialize(de)?;
        Date::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid date `{}`, expected YYYY-MM-DD (years 0001-9999)",
                text.escape_default()
            ))
        })
    }
}

impl utoipa::PartialSchema for Date {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
            .pattern(Some(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))
            .into()
    }
}

impl utoipa::ToSchema for Date {}

/// For PATCH fields: absent -> `None`, `null` -> `Some(None)`, a value -> `Some(Some(v))`.
pub fn double_option<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

/// The one policy for a write that lost a race, for every resource: `attempt` reads the
/// row, checks and writes it with `UPDATE … WHERE id AND version AND <scope>`, and answers
/// `None` when no row matched because another transaction changed it in between. With
/// `If-Match` (`expected`) that is a 412; without, the change is applied again on top of
/// the other one (PostgreSQL's read-committed transactions can meet it), a few times.
pub fn optimistic<T>(
    expected: Option<i64>,
    mut attempt: impl FnMut() -> Result<Option<T>, AppError>,
) -> Result<T, AppError> {
    for _ in 0..5 {
        match attempt()? {
            Some(done) => return Ok(done),
            None if expected.is_some() => return Err(AppError::PreconditionFailed),
            None => continue,
        }
    }
    Err(AppError::Conflict("The record kept changing concurrently; try again.".into()))
}

/// Where a deletion moves what depended on the deleted record: another record's id, or
/// `none`. Anything else in the query is a 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Nobody,
    To(String),
}

impl Target {
    pub fn id(&self) -> Option<&str> {
        match self {
            Target::Nobody => None,
            Target::To(id) => Some(id),
        }
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Target, D::Error> {
        let text = String::deserialize(de)?;
        if text == "none" {
            return Ok(Target::Nobody);
        }
        uuid::Uuid::parse_str(&text)
            .map(|u| Target::To(u.to_string()))
            .map_err(|_| serde::de::Error::custom("expected an id or `none`"))
    }
}

/// Strong ETag of a versioned record.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// The version an `If-Match` header asks for: `None` when absent or `*`.
/// A header that names no version of ours can never match, so it is a 412.
pub fn if_match(req: &HttpRequest) -> Result<Option<i64>, AppError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| AppError::PreconditionFailed)?.trim();
    if text == "*" {
        return Ok(None);
    }
    let tag = text.strip_prefix("W/").unwrap_or(text);
    tag.trim_matches('"').parse::<i64>().map(Some).map_err(|_| AppError::PreconditionFailed)
}

/// Checks `If-Match` against the version the caller is about to change.
pub fn check_if_match(req: &HttpRequest, current: i64) -> Result<(), AppError> {
    match if_match(req)? {
        Some(v) if v != current => Err(AppError::PreconditionFailed),
        _ => Ok(()),
    }
}

pub fn ok_with_etag<T: Serialize>(version: i64, body: &T) -> HttpResponse {
    HttpResponse::Ok().insert_header((header::ETAG, etag(version))).json(body)
}

pub fn created<T: Serialize>(location: String, body: &T) -> HttpResponse {
    HttpResponse::Created().insert_header((header::LOCATION, location)).json(body)
}

/// Paging parameters shared by every list.
#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, clamped to 1..200 (default 50).
    pub limit: Option<i64>,
    /// Opaque cursor from the previous page's `next_cursor`; empty means the first page.
    pub cursor: Option<String>,
    /// Also count the matching rows (`total`): exact up to 10,000, then 10,000 flagged
    /// `total_is_estimate`.
    pub with_total: Option<bool>,
}

impl PageParams {
    pub fn limit(&self) -> i64 {
        self.limit.unwrap_or(50).clamp(1, 200)
    }

    /// Decodes a cursor that holds the last id of the previous page.
    pub fn after_id(&self) -> Result<Option<String>, AppError> {
        self.cursor.as_deref().filter(|c| !c.is_empty()).map(decode_id_cursor).transpose()
    }
}

/// One page of a list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// Matching rows when `with_total=true`, else `null`: exact up to 10,000, then 10,000.
    pub total: Option<i64>,
    /// True when `total` is the 10,000 cap rather than the exact figure.
    pub total_is_estimate: bool,
}

pub fn encode_id_cursor(id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("id:{id}"))
}

pub fn decode_id_cursor(cursor: &str) -> Result<String, AppError> {
    let bad = || AppError::BadRequest("Invalid cursor.".into());
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let id = text.strip_prefix("id:").ok_or_else(bad)?;
    uuid::Uuid::parse_str(id).map_err(|_| bad())?;
    Ok(id.to_owned())
}

/// Builds a page from `limit + 1` fetched rows ordered by id.
/// `total` as `db::bounded_total` gives it, `None` when not asked for.
pub fn page_by_id<T>(mut rows: Vec<T>, limit: i64, total: Option<(i64, bool)>, id: impl Fn(&T) -> &str) -> Page<T> {
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| encode_id_cursor(id(r)))
    } else {
        None
    };
    Page { data: rows, next_cursor, total: total.map(|(n, _)| n), total_is_estimate: total.is_some_and(|(_, e)| e) }
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Current UTC time at microsecond precision (what PostgreSQL stores).
pub fn now() -> chrono::NaiveDateTime {
    use chrono::{SubsecRound, Utc};
    Utc::now().naive_utc().trunc_subsecs(6)
}

pub fn utc(ts: chrono::NaiveDateTime) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_naive_utc_and_offset(ts, chrono::Utc)
}

/// Serializes a timestamp exactly as chrono does (RFC 3339 in UTC, `Z`, a fraction of 0, 3,
/// 6 or 9 digits), written into a stack buffer: chrono's `Display` path, one character at
/// a time through serde_json's escaper, was ~4 % of the machine on the contact list
/// (BENCHMARKS.md). Years outside 0000–9999 and leap seconds take chrono's path.
pub fn rfc3339<S: serde::Serializer>(ts: &chrono::DateTime<chrono::Utc>, s: S) -> Result<S::Ok, S::Error> {
    use chrono::{Datelike, Timelike};
    let (year, nanos) = (ts.year(), ts.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return ts.serialize(s);
    }
    let mut buf = *b"0000-00-00T00:00:00.000000000Z";
    let mut put = |at: usize, width: usize, mut value: u32| {
        for i in (at..at + width).rev() {
            buf[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year as u32);
    put(5, 2, ts.month());
    put(8, 2, ts.day());
    put(11, 2, ts.hour());
    put(14, 2, ts.minute());
    put(17, 2, ts.second());
    let digits = match nanos {
        0 => 0,
        n if n % 1_000_000 == 0 => 3,
        n if n % 1_000 == 0 => 6,
        _ => 9,
    };
    put(20, 9, nanos);
    let len = if digits == 0 { 19 } else { 20 + digits };
    buf[len] = b'Z';
    // Only ASCII digits and separators were written.
    s.serialize_str(std::str::from_utf8(&buf[..=len]).unwrap_or_default())
}

/// The document's shape of a tag or a settings value: 1 to 50 characters without
/// surrounding whitespace (the validators in `contacts::model` and `account::model`).
/// Written by hand: utoipa's derive takes no length bounds on a newtype.
pub struct Label;

impl utoipa::PartialSchema for Label {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(50))
            .pattern(Some(r"^\S([\s\S]*\S)?$"))
            .into()
    }
}

impl utoipa::ToSchema for Label {}

/// JSON Schema's `integer` includes numbers written with a zero fraction (`3.0`); serde's
/// `i64` does not. Fields the document calls integers accept both.
pub mod integral {
    use serde::{de::Error, Deserialize, Deserializer};

    fn to_i64<E: Error>(n: serde_json::Number) -> Result<i64, E> {
        if let Some(i) = n.as_i64() {
            return Ok(i);
        }
        match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 => Ok(f as i64),
            _ => Err(E::custom(format!("invalid value: {n}, expected an integer"))),
        }
    }

    pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        to_i64(serde_json::Number::deserialize(d)?)
    }

    pub fn option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Option::<serde_json::Number>::deserialize(d)?.map(to_i64).transpose()
    }
}
