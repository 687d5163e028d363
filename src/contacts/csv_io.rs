//! CSV import and export, and the vCard of one contact.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::list::{self, ContactFilter};
use super::model::{ContactRow, NewContact};
use super::queries;
use crate::access::{Actor, ContactScope, Level, Privilege};
use crate::custom_fields::model::{Entity, Field, FieldType};
use crate::custom_fields::queries as custom;
use crate::db::{self, DbConnection};
use crate::error::{AppError, FieldErrors};
use crate::refs::RefCache;
use crate::state::AppState;

const COLUMNS: &[&str] = &[
    "first_name",
    "last_name",
    "email",
    "phone",
    "job_title",
    "organization_id",
    "status",
    "lead_source",
    "tags",
    "owner_id",
    "office_id",
    "private",
];

/// One CSV row that was not imported.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ImportFailure {
    /// Line of the row in the file (the header is line 1).
    pub row: u64,
    /// Field (or `row`) -> messages.
    pub errors: FieldErrors,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ImportResult {
    pub created: u64,
    pub failed: Vec<ImportFailure>,
}

async fn read_body(req: &HttpRequest, payload: &mut web::Payload, limit: usize) -> Result<Vec<u8>, AppError> {
    let is_csv = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("text/csv"))
        .unwrap_or(false);
    if !is_csv {
        return Err(AppError::UnsupportedMediaType);
    }
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| AppError::BadRequest(format!("cannot read body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(AppError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "" | "false" | "0" | "no" => Some(false),
        "true" | "1" | "yes" => Some(true),
        _ => None,
    }
}

/// A `cf.<key>` cell as the JSON value the body would carry (`None` when empty); the
/// value is then checked like one from a body.
fn custom_cell(field: &Field, value: &str) -> Result<Option<serde_json::Value>, String> {
    use serde_json::Value;
    if value.is_empty() {
        return Ok(None);
    }
    Ok(Some(match field.kind {
        FieldType::Number => {
            let n: f64 = value.parse().map_err(|_| "must be a number".to_owned())?;
            serde_json::Number::from_f64(n).map(Value::Number).ok_or_else(|| "must be a finite number".to_owned())?
        }
        FieldType::Boolean => Value::Bool(parse_bool(value).ok_or_else(|| "must be true or false".to_owned())?),
        FieldType::MultiSelect => Value::Array(
            value.split(';').map(str::trim).filter(|t| !t.is_empty()).map(|t| Value::String(t.to_owned())).collect(),
        ),
        _ => Value::String(value.to_owned()),
    }))
}

/// A CSV record as a `NewContact`, with per-field errors for what does not parse.
fn to_input(columns: &[String], fields: &[Field], record: &csv::StringRecord) -> Result<NewContact, FieldErrors> {
    let mut errors = FieldErrors::new();
    let mut input = NewContact::default();
    for (name, raw) in columns.iter().zip(record.iter()) {
        // PostgreSQL text cannot hold NUL: that cell's row fails, on every backend alike.
        if raw.contains('\0') {
            errors.insert(name.clone(), vec!["must not contain NUL characters".into()]);
            continue;
        }
        let value = raw.trim();
        let opt = || (!value.is_empty()).then(|| value.to_owned());
        let mut uuid = |field: &str| -> Option<uuid::Uuid> {
            if value.is_empty() {
                return None;
            }
            uuid::Uuid::parse_str(value).map_err(|_| errors.insert(field.into(), vec!["must be a UUID".into()])).ok()
        };
        match name.as_str() {
            "first_name" => input.first_name = value.to_owned(),
            "last_name" => input.last_name = value.to_owned(),
            "email" => input.email = opt(),
            "phone" => input.phone = opt(),
            "job_title" => input.job_title = opt(),
            "status" => input.status = opt(),
            "lead_source" => input.lead_source = opt(),
            "tags" => {
                input.tags = value.split(';').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect()
            }
            "organization_id" => input.organization_id = uuid("organization_id"),
            "office_id" => input.office_id = uuid("office_id"),
            // An empty owner cell means the importing user, as in POST /v1/contacts.
            "owner_id" => input.owner_id = uuid("owner_id").map(Some),
            "private" => match parse_bool(value) {
                Some(b) => input.private = b,
                None => {
                    errors.insert("private".into(), vec!["must be true or false".into()]);
                }
            },
            other => {
                let field = other.strip_prefix("cf.").and_then(|k| fields.iter().find(|f| f.key == k));
                if let Some(field) = field {
                    match custom_cell(field, value) {
                        Ok(Some(v)) => {
                            input.custom_fields.insert(field.key.clone(), v);
                        }
                        Ok(None) => {}
                        Err(message) => {
                            errors.insert(name.clone(), vec![message]);
                        }
                    }
                }
            }
        }
    }
    input.tags.sort();
    input.tags.dedup();
    if let Err(e) = input.validate() {
        if let AppError::Validation(more) = AppError::from(e) {
            errors.extend(more);
        }
    }
    if errors.is_empty() {
        Ok(input)
    } else {
        Err(errors)
    }
}

fn header_columns(headers: &csv::StringRecord, fields: &[Field]) -> Result<Vec<String>, AppError> {
    let columns: Vec<String> = headers.iter().map(|h| h.trim().trim_start_matches('\u{feff}').to_lowercase()).collect();
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for c in &columns {
        let custom = c.strip_prefix("cf.").is_some_and(|k| fields.iter().any(|f| f.key == k));
        if !COLUMNS.contains(&c.as_str()) && !custom {
            errors.push(format!(
                "unknown column `{c}`; known: {}, and cf.<key> for the account's contact fields",
                COLUMNS.join(", ")
            ));
        } else if !seen.insert(c.clone()) {
            errors.push(format!("column `{c}` appears twice"));
        }
    }
    if !columns.iter().any(|c| c == "first_name") {
        errors.push("the header must have a first_name column".into());
    }
    if errors.is_empty() {
        Ok(columns)
    } else {
        let mut map = FieldErrors::new();
        map.insert("header".into(), errors);
        Err(AppError::Validation(map))
    }
}

fn reader(body: &[u8]) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(body)
}

/// The file's rows in order as (line, parsed row), read one at a time; ends after a
/// record that leaves the reader at an unknown place (reported as that row's error).
fn rows<'a>(
    body: &'a [u8],
    columns: &'a [String],
    fields: &'a [Field],
) -> impl Iterator<Item = (u64, Result<NewContact, FieldErrors>)> + 'a {
    let mut reader = reader(body);
    let mut record = csv::StringRecord::new();
    let mut broken = false;
    std::iter::from_fn(move || {
        if broken {
            return None;
        }
        match reader.read_record(&mut record) {
            Ok(false) => None,
            Ok(true) => Some((record.position().map(|p| p.line()).unwrap_or(0), to_input(columns, fields, &record))),
            Err(e) => {
                broken = !matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. });
                let mut errors = FieldErrors::new();
                errors.insert("row".into(), vec![format!("unreadable CSV row: {e}")]);
                Some((e.position().map(|p| p.line()).unwrap_or(0), Err(errors)))
            }
        }
    })
}

/// Lower-cased emails of the file, read from the cells alone (a first pass, so that the
/// rows themselves need not be held in memory).
fn emails(body: &[u8], columns: &[String]) -> Vec<String> {
    let Some(at) = columns.iter().position(|c| c == "email") else { return Vec::new() };
    let mut out = Vec::new();
    for record in reader(body).records() {
        match record {
            Ok(r) => out
                .extend(r.get(at).map(str::trim).filter(|e| !e.is_empty() && !e.contains('\0')).map(str::to_lowercase)),
            Err(e) if matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. }) => {}
            Err(_) => break,
        }
    }
    out
}

/// Rows written per `insert_all`: bounds what an import holds in memory besides its body.
const WRITE_BATCH: usize = 1_000;

/// Rows of one import: parsed, checked for duplicates the caller can see, inserted.
fn import(conn: &mut DbConnection, actor: &Actor, body: &[u8]) -> Result<ImportResult, AppError> {
    let headers =
        reader(body).headers().map_err(|e| AppError::BadRequest(format!("Cannot read the CSV header: {e}")))?.clone();
    let fields = custom::definitions(conn, actor.account_id(), Entity::Contact)?;
    let columns = header_columns(&headers, &fields)?;
    // Duplicates: an email that a contact the caller can see already has, or that an
    // earlier row of this file has. Contacts the caller cannot see are never revealed.
    let existing = queries::visible_emails(conn, &ContactScope::of(actor), &emails(body, &columns))?;
    let settings = crate::account::queries::settings(conn, actor.account_id())?;
    let mut refs = RefCache::default();
    let mut in_file: HashMap<String, u64> = HashMap::new();
    let mut result = ImportResult { created: 0, failed: Vec::new() };
    let mut ready = Vec::with_capacity(WRITE_BATCH);
    for (line, input) in rows(body, &columns, &fields) {
        let input = match input {
            Ok(i) => i,
            Err(errors) => {
                result.failed.push(ImportFailure { row: line, errors });
                continue;
            }
        };
        if let Some(email) = input.email.as_ref().map(|e| e.to_lowercase()) {
            let duplicate = match (existing.get(&email), in_file.get(&email)) {
                (Some(id), _) => Some(format!("duplicate of contact {id}")),
                (None, Some(first)) => Some(format!("duplicate of row {first}")),
                (None, None) => None,
            };
            if let Some(message) = duplicate {
                result.failed.push(ImportFailure { row: line, errors: [("email".to_owned(), vec![message])].into() });
                continue;
            }
            in_file.insert(email, line);
        }
        match queries::prepare(conn, actor, input, &settings, &fields, &mut refs) {
            Ok(row) => ready.push(row),
            Err(AppError::Validation(errors)) => {
                // Named after the file's column: `custom_fields.x` is the cell `cf.x`.
                let errors = errors
                    .into_iter()
                    .map(|(k, v)| match k.strip_prefix("custom_fields.") {
                        Some(key) => (format!("cf.{key}"), v),
                        None => (k, v),
                    })
                    .collect();
                result.failed.push(ImportFailure { row: line, errors })
            }
            Err(AppError::Forbidden(m)) => {
                result.failed.push(ImportFailure { row: line, errors: [("private".to_owned(), vec![m])].into() })
            }
            Err(e) => return Err(e),
        }
        if ready.len() == WRITE_BATCH {
            queries::insert_all(conn, actor, &fields, &ready)?;
            result.created += ready.len() as u64;
            ready.clear();
        }
    }
    queries::insert_all(conn, actor, &fields, &ready)?;
    result.created += ready.len() as u64;
    Ok(result)
}

/// Imports contacts from CSV (`Content-Type: text/csv`, header row first). Columns:
/// `first_name` (required), `last_name, email, phone, job_title, organization_id, status,
/// lead_source, tags` (separated by `;`), `owner_id` (empty: the caller), `office_id`,
/// `private`, and `cf.<key>` for the account's contact custom fields (`multi_select`
/// options separated by `;`, booleans `true/false/yes/no/1/0`; checked as in a body, a bad
/// cell fails its row naming the column). Valid rows are created, invalid ones reported with their line and errors;
/// a row whose email a contact you can see already has is reported as a duplicate. The
/// whole import is one transaction.
///
/// Any role; a focused user's rows are always their own. Answers 200 with `created` and
/// `failed` (`row` is the line in the file, `errors` field → messages); a failed row does not
/// stop the others. The body may be up to `IMPORT_BODY_LIMIT` bytes (16 MiB by default).
#[utoipa::path(
    tag = "contacts",
    request_body(content = String, content_type = "text/csv", description = "CSV with a header row"),
    responses(
        (status = 200, body = ImportResult),
        (status = 400, description = "The header cannot be read"),
        (status = 401, description = "Missing or invalid token"),
        (status = 413, description = "Body larger than IMPORT_BODY_LIMIT"),
        (status = 415, description = "Body is not text/csv"),
        (status = 422, description = "Unknown, duplicate or missing header columns"),
    ),
    security(("bearer" = []))
)]
#[post("/contacts/import")]
pub async fn import_contacts(
    req: HttpRequest,
    mut payload: web::Payload,
    state: web::Data<AppState>,
    actor: Actor,
) -> Result<HttpResponse, AppError> {
    let body = read_body(&req, &mut payload, state.settings.import_body_limit).await?;
    let out = db::write(&state.pool, move |conn| import(conn, &actor, &body)).await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Spreadsheets run cells that start like a formula; a leading `'` keeps them text.
fn neutralise(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_owned(),
    }
}

const EXPORT_COLUMNS: &[&str] = &[
    "id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "job_title",
    "organization_id",
    "status",
    "lead_source",
    "tags",
    "owner_id",
    "office_id",
    "private",
    "created_at",
    "updated_at",
];

/// A stored value as its CSV cell (what an import of the cell reads back).
fn custom_text(value: Option<&serde_json::Value>) -> String {
    use serde_json::Value;
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(";"),
        Some(other) => other.to_string(),
    }
}

fn csv_rows(rows: &[(ContactRow, Level)], fields: &[Field], header: bool) -> Result<Vec<u8>, AppError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| AppError::Internal(format!("csv: {e}"));
    if header {
        let custom = fields.iter().map(|f| format!("cf.{}", f.key));
        let names: Vec<String> = EXPORT_COLUMNS.iter().map(|c| (*c).to_owned()).chain(custom).collect();
        w.write_record(&names).map_err(err)?;
    }
    let ts = |t: chrono::NaiveDateTime| crate::http::utc(t).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    for (r, _) in rows {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let values = custom::parse_values(&r.custom_fields);
        let record = [
            r.id.clone(),
            r.first_name.clone(),
            r.last_name.clone(),
            opt(&r.email),
            opt(&r.phone),
            opt(&r.job_title),
            opt(&r.organization_id),
            opt(&r.status),
            opt(&r.lead_source),
            r.tag_list().join(";"),
            opt(&r.owner_id),
            opt(&r.office_id),
            r.private.to_string(),
            ts(r.created_at),
            ts(r.updated_at),
        ];
        let custom = fields.iter().map(|f| custom_text(values.get(&f.key)));
        let cells: Vec<String> = record.into_iter().chain(custom).map(|c| neutralise(&c)).collect();
        w.write_record(&cells).map_err(err)?;
    }
    w.into_inner().map_err(|e| AppError::Internal(format!("csv: {e}")))
}

const EXPORT_BATCH: i64 = 500;

/// One batch of the export: CSV bytes and the cursor of the next batch.
fn export_batch(
    conn: &mut DbConnection,
    scope: &ContactScope,
    filter: &ContactFilter,
    cursor: Option<&str>,
    fields: &[Field],
    sealer: &crate::http::Sealer,
) -> Result<(Vec<u8>, Option<String>), AppError> {
    let (rows, next) = list::page(conn, scope, filter, Level::View, cursor, EXPORT_BATCH, sealer)?;
    Ok((csv_rows(&rows, fields, cursor.is_none())?, next))
}

/// CSV of every contact the caller sees at `view` or above (privilege `export`), with the
/// list's filters (the `cf.` ones too); sorted by `created_at` unless `sort` says otherwise.
/// Streamed in batches; cells that start like a spreadsheet formula are prefixed with `'`.
/// After the fixed columns comes one `cf.<key>` column per contact custom field
/// (`multi_select` options joined by `;`), the columns import reads back.
///
/// Answers `text/csv` as the attachment `contacts.csv`, one header row then one row per contact
/// with `tags` joined by `;`. Contacts the caller sees at `limited` are left out, like hidden
/// ones. 403 without the `export` privilege.
#[utoipa::path(
    tag = "contacts",
    params(ContactFilter),
    responses(
        (status = 200, content_type = "text/csv", body = String),
        (status = 400, description = "Malformed query or unknown sort"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "No export privilege"),
    ),
    security(("bearer" = []))
)]
#[get("/contacts/export")]
pub async fn export_contacts(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    filter: crate::http::Query<ContactFilter>,
) -> Result<HttpResponse, AppError> {
    if !actor.has(Privilege::Export) {
        return Err(AppError::forbidden("Exporting contacts needs the export privilege."));
    }
    let mut filter = filter.into_inner();
    let conditions = custom::parse_conditions(req.query_string())?;
    filter.custom = {
        let account = actor.account_id().to_owned();
        db::run(&state.pool, move |conn| custom::resolve(conn, &account, Entity::Contact, &conditions)).await?
    };
    filter.sort.get_or_insert_with(|| "created_at".into());
    let scope = ContactScope::of(&actor);
    // The first batch runs before the response starts, so its errors get a real status.
    // The columns are the definitions when the export starts, for every batch.
    let (first, next, fields) = {
        let (scope, filter, sealer) = (scope.clone(), filter.clone(), state.sealer.clone());
        db::run(&state.pool, move |conn| {
            let fields = custom::definitions(conn, scope.account_id(), Entity::Contact)?;
            let (bytes, next) = export_batch(conn, &scope, &filter, None, &fields, &sealer)?;
            Ok((bytes, next, fields))
        })
        .await?
    };
    let (pool, sealer) = (state.pool.clone(), state.sealer.clone());
    let rest = futures_util::stream::unfold(next, move |cursor| {
        let (pool, scope, filter, sealer) = (pool.clone(), scope.clone(), filter.clone(), sealer.clone());
        let fields = fields.clone();
        async move {
            let cursor = cursor?;
            let batch =
                db::run(&pool, move |conn| export_batch(conn, &scope, &filter, Some(&cursor), &fields, &sealer)).await;
            Some(match batch {
                Ok((bytes, next)) => (Ok(web::Bytes::from(bytes)), next),
                Err(e) => (Err(actix_web::error::ErrorInternalServerError(e.to_string())), None),
            })
        }
    });
    let body =
        futures_util::stream::once(async move { Ok::<_, actix_web::Error>(web::Bytes::from(first)) }).chain(rest);
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", "attachment; filename=\"contacts.csv\""))
        .streaming(body))
}

/// vCard 4.0 text of one contact; escaping is vcard4's.
pub fn vcard(row: &ContactRow, organization: Option<String>, tags: Vec<String>) -> String {
    let full_name = format!("{} {}", row.first_name, row.last_name).trim().to_owned();
    let mut card = vcard4::VcardBuilder::new(full_name).name([
        row.last_name.clone(),
        row.first_name.clone(),
        String::new(),
        String::new(),
        String::new(),
    ]);
    if let Some(email) = &row.email {
        card = card.email(email.clone());
    }
    if let Some(phone) = &row.phone {
        card = card.telephone(phone.clone());
    }
    if let Some(title) = &row.job_title {
        card = card.title(title.clone());
    }
    if let Some(org) = organization {
        card = card.org(vec![org]);
    }
    if !tags.is_empty() {
        card = card.categories(tags);
    }
    if let Ok(uid) = format!("urn:uuid:{}", row.id).parse::<vcard4::Uri>() {
        card = card.uid(uid);
    }
    card.finish().to_string()
}
