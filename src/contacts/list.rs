//! The scoped contact list: filters, search, sort and keyset cursors. Export pages
//! through the same function.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::model::{ContactOut, ContactRow};
use super::queries::project_all;
use crate::access::{ContactScope, Level};
use crate::db::schema::{contact_tags, contacts};
use crate::db::{DbConnection, MultiBackend, Opaque};
use crate::error::AppError;
use crate::http::Sealer;

/// Filters shared by the list and the export.
#[derive(Debug, Clone, Default, Deserialize, IntoParams, validator::Validate)]
#[into_params(parameter_in = Query)]
pub struct ContactFilter {
    /// Case-insensitive substring of first name, last name, email or phone; `%`, `_` and
    /// `\` match themselves.
    #[param(max_length = 200)]
    #[validate(length(max = 200, message = "must be at most 200 characters long"))]
    pub q: Option<String>,
    #[param(max_length = 50)]
    #[validate(length(max = 50, message = "must be at most 50 characters long"))]
    pub status: Option<String>,
    #[param(max_length = 50)]
    #[validate(length(max = 50, message = "must be at most 50 characters long"))]
    pub tag: Option<String>,
    pub owner_id: Option<uuid::Uuid>,
    pub office_id: Option<uuid::Uuid>,
    pub organization_id: Option<uuid::Uuid>,
    /// `created_at`, `updated_at` or `last_name`, descending with a leading `-`
    /// (default `-updated_at`). `last_name` sorts by byte order.
    #[param(pattern = "^-?(created_at|updated_at|last_name)$")]
    pub sort: Option<String>,
    /// The `cf.<key>` parameters, resolved against the account's definitions by the
    /// handler (they are not named fields of the query).
    #[serde(skip)]
    #[param(ignore)]
    pub custom: Vec<crate::custom_fields::queries::Condition>,
    /// `updated_since` of the list's paging parameters (SPEC §10), set by the handler.
    #[serde(skip)]
    #[param(ignore)]
    pub since: Option<NaiveDateTime>,
}

impl ContactFilter {
    /// The search text, trimmed; `None` when absent or blank (no search).
    fn search(&self) -> Option<&str> {
        self.q.as_deref().map(str::trim).filter(|t| !t.is_empty())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortKey {
    #[serde(rename = "created_at")]
    CreatedAt,
    #[serde(rename = "updated_at")]
    UpdatedAt,
    #[serde(rename = "last_name")]
    LastName,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sort {
    pub key: SortKey,
    pub desc: bool,
}

impl Sort {
    pub fn parse(text: Option<&str>) -> Result<Sort, AppError> {
        let text = text.unwrap_or("-updated_at");
        let (desc, name) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let key = match name {
            "created_at" => SortKey::CreatedAt,
            "updated_at" => SortKey::UpdatedAt,
            "last_name" => SortKey::LastName,
            _ => {
                return Err(AppError::BadRequest(
                    "sort must be created_at, updated_at or last_name, optionally prefixed with -".into(),
                ))
            }
        };
        Ok(Sort { key, desc })
    }
}

/// The sort it belongs to and the last row's key and id, sealed (`http::Sealer`): the key
/// of a row shown at `limited` (its `updated_at` or `created_at`) is not a basic field, so
/// a client must not be able to read it from the cursor, nor change the bound.
#[derive(Debug, Serialize, Deserialize)]
pub struct Cursor {
    sort: Sort,
    value: String,
    id: String,
}

impl Cursor {
    fn after(sort: Sort, row: &ContactRow) -> Cursor {
        let value = match sort.key {
            SortKey::CreatedAt => format_ts(row.created_at),
            SortKey::UpdatedAt => format_ts(row.updated_at),
            SortKey::LastName => row.last_name.clone(),
        };
        Cursor { sort, value, id: row.id.clone() }
    }

    pub fn encode(&self, sealer: &Sealer) -> String {
        sealer.seal(&serde_json::to_vec(self).unwrap_or_default())
    }

    /// Anything this service did not seal, or a cursor of another sort, is a 400.
    pub fn decode(text: &str, sort: Sort, sealer: &Sealer) -> Result<Cursor, AppError> {
        let bad = || AppError::BadRequest("Invalid cursor.".into());
        let bytes = sealer.open(text).ok_or_else(bad)?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        if cursor.sort != sort || uuid::Uuid::parse_str(&cursor.id).is_err() {
            return Err(bad());
        }
        if matches!(sort.key, SortKey::CreatedAt | SortKey::UpdatedAt) {
            parse_ts(&cursor.value).ok_or_else(bad)?;
        }
        Ok(cursor)
    }
}

fn format_ts(ts: NaiveDateTime) -> String {
    ts.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

fn parse_ts(text: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.6f").ok()
}

/// `%`, `_` and `\` in `q` match themselves.
pub fn like_pattern(q: &str) -> String {
    let mut out = String::from("%");
    for c in q.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

type Boxed = contacts::BoxedQuery<'static, MultiBackend>;

/// The scoped, filtered query (no order, no cursor). Filters on fields beyond the basic
/// ones only match contacts seen at `view` or above, so a `limited` contact's status,
/// tags, owner, office or organization cannot be probed through them.
pub fn filtered(scope: &ContactScope, filter: &ContactFilter, min: Level) -> Boxed {
    let reveals_more = filter.status.is_some()
        || filter.tag.is_some()
        || filter.owner_id.is_some()
        || filter.office_id.is_some()
        || filter.organization_id.is_some()
        || !filter.custom.is_empty()
        // A `limited` contact's `updated_at` is not a basic field: it must not be
        // bisected out of `updated_since` either.
        || filter.since.is_some();
    let min = if reveals_more { min.max(Level::View) } else { min };
    let mut q = contacts::table.filter(scope.at_least(min)).into_boxed();
    if let Some(text) = filter.search() {
        q = q.filter(contacts::search_text.like(like_pattern(text)).escape('\\'));
    }
    if let Some(status) = &filter.status {
        q = q.filter(contacts::status.eq(status.clone()));
    }
    if let Some(tag) = &filter.tag {
        let tagged = contact_tags::table
            .filter(contact_tags::account_id.eq(scope.account_id().to_owned()))
            .filter(contact_tags::tag.eq(tag.clone()))
            .select(contact_tags::contact_id);
        q = q.filter(contacts::id.eq_any(tagged));
    }
    if let Some(owner) = filter.owner_id {
        q = q.filter(contacts::owner_id.eq(owner.to_string()));
    }
    if let Some(office) = filter.office_id {
        q = q.filter(contacts::office_id.eq(office.to_string()));
    }
    if let Some(org) = filter.organization_id {
        q = q.filter(contacts::organization_id.eq(org.to_string()));
    }
    if let Some(since) = filter.since {
        q = q.filter(contacts::updated_at.ge(since));
    }
    for condition in &filter.custom {
        q = q.filter(crate::custom_fields::queries::matching(contacts::id, condition));
    }
    q
}

/// `key <= v AND (key < v OR (key = v AND id < last))` (mirrored ascending): the first
/// conjunct is redundant logically but is what lets the index scan start at the cursor
/// instead of walking every newer row, so a deep page costs what the first one does.
/// `v` and `last` are bound as `db::Opaque` (`(SELECT $n)`), so PostgreSQL keeps one
/// generic plan for deep pages instead of planning each one.
macro_rules! keyset {
    ($q:expr, $col:expr, $value:expr, $id:expr, $desc:expr) => {{
        let (q, v, id) = ($q, Opaque::new($value), Opaque::new($id));
        match $desc {
            true => q
                .filter($col.le(v.clone()))
                .filter($col.lt(v.clone()).or($col.eq(v).and(contacts::id.lt(id))))
                .order(($col.desc(), contacts::id.desc())),
            false => q
                .filter($col.ge(v.clone()))
                .filter($col.gt(v.clone()).or($col.eq(v).and(contacts::id.gt(id))))
                .order(($col.asc(), contacts::id.asc())),
        }
    }};
}

macro_rules! ordered {
    ($q:expr, $col:expr, $desc:expr) => {
        match $desc {
            true => $q.order(($col.desc(), contacts::id.desc())),
            false => $q.order(($col.asc(), contacts::id.asc())),
        }
    };
}

fn order_after(q: Boxed, sort: Sort, cursor: Option<&Cursor>) -> Result<Boxed, AppError> {
    let bad = || AppError::BadRequest("Invalid cursor.".into());
    Ok(match (sort.key, cursor) {
        (SortKey::CreatedAt, None) => ordered!(q, contacts::created_at, sort.desc),
        (SortKey::UpdatedAt, None) => ordered!(q, contacts::updated_at, sort.desc),
        (SortKey::LastName, None) => ordered!(q, contacts::last_name, sort.desc),
        (SortKey::CreatedAt, Some(c)) => {
            keyset!(q, contacts::created_at, parse_ts(&c.value).ok_or_else(bad)?, c.id.clone(), sort.desc)
        }
        (SortKey::UpdatedAt, Some(c)) => {
            keyset!(q, contacts::updated_at, parse_ts(&c.value).ok_or_else(bad)?, c.id.clone(), sort.desc)
        }
        (SortKey::LastName, Some(c)) => keyset!(q, contacts::last_name, c.value.clone(), c.id.clone(), sort.desc),
    })
}

/// One page of contacts at their levels, and the cursor of the next page.
pub type RowsAndCursor = (Vec<(ContactRow, Level)>, Option<String>);

/// One page of the scoped list: rows at `min` or above, each with the caller's level.
pub fn page(
    conn: &mut DbConnection,
    scope: &ContactScope,
    filter: &ContactFilter,
    min: Level,
    cursor: Option<&str>,
    limit: i64,
    sealer: &Sealer,
) -> Result<RowsAndCursor, AppError> {
    let sort = Sort::parse(filter.sort.as_deref())?;
    let cursor = cursor.filter(|c| !c.is_empty()).map(|c| Cursor::decode(c, sort, sealer)).transpose()?;
    let q = crate::db::Limit(
        order_after(filtered(scope, filter, min), sort, cursor.as_ref())?
            .select((contacts::all_columns, scope.level())),
        limit + 1,
    );
    let mut rows: Vec<(ContactRow, i32)> = q.load(conn)?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|(r, _)| Cursor::after(sort, r).encode(sealer))
    } else {
        None
    };
    Ok((rows.into_iter().map(|(r, rank)| (r, Level::from_rank(rank))).collect(), next))
}

/// `GET /v1/contacts` answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ContactPage {
    pub data: Vec<ContactOut>,
    pub next_cursor: Option<String>,
    /// Matching contacts when `with_total=true`: exact up to 10,000, else 10,000 with
    /// `total_is_estimate: true`. `null` unless asked for.
    pub total: Option<i64>,
    /// True when `total` is a lower bound rather than the exact figure.
    pub total_is_estimate: bool,
}

pub fn list(
    conn: &mut DbConnection,
    scope: &ContactScope,
    filter: &ContactFilter,
    cursor: Option<&str>,
    limit: i64,
    with_total: bool,
    sealer: &Sealer,
) -> Result<ContactPage, AppError> {
    let (rows, next_cursor) = page(conn, scope, filter, Level::Limited, cursor, limit, sealer)?;
    // Exact up to `db::TOTAL_CAP`, so a count never scans more than that.
    let (total, total_is_estimate) = if with_total {
        let (n, est) = crate::db::bounded_total(conn, filtered(scope, filter, Level::Limited).select(contacts::id))?;
        (Some(n), est)
    } else {
        (None, false)
    };
    Ok(ContactPage { data: project_all(rows), next_cursor, total, total_is_estimate })
}
