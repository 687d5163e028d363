//! Keyset pages by id, shared by every list but the contacts' (which sorts by other keys).

use base64::Engine;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::error::AppError;

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
    /// Incremental sync (SPEC §10): only rows created or changed at or after this RFC 3339
    /// time (inclusive, so a row changed in the same microsecond as the last one seen is
    /// sent again rather than missed; deduplicate by `id`). Deletions are not rows: they
    /// arrive as `*.deleted` webhook events and in the audit log. Write `+` in an offset
    /// as `%2B` (a bare `+` in a query string is a space, which is also accepted).
    #[param(value_type = Option<String>, format = DateTime, example = "2026-12-01T09:30:00Z")]
    pub updated_since: Option<String>,
}

/// A page's rows (`limit + 1` at most) and its bounded total when asked for: what
/// `db::id_page!` gives and `page_by_id` takes.
pub type PageRows<T> = (Vec<T>, Option<(i64, bool)>);

/// The paging parameters of a list keyed by id, parsed (a bad cursor is a 400).
#[derive(Debug, Clone)]
pub struct PageKeys {
    pub limit: i64,
    /// The last id of the previous page.
    pub after: Option<String>,
    pub with_total: bool,
    /// `updated_since`, in UTC.
    pub since: Option<chrono::NaiveDateTime>,
}

impl PageParams {
    pub fn keys(&self) -> Result<PageKeys, AppError> {
        Ok(PageKeys {
            limit: self.limit(),
            after: self.after_id()?,
            with_total: self.with_total.unwrap_or(false),
            since: self.since()?,
        })
    }

    /// `updated_since` parsed: a 400 naming it when it is not an RFC 3339 time.
    pub fn since(&self) -> Result<Option<chrono::NaiveDateTime>, AppError> {
        self.updated_since.as_deref().map(parse_since).transpose()
    }

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

/// An RFC 3339 time with its offset, in UTC (a `+` decoded to a space is put back).
pub fn parse_since(text: &str) -> Result<chrono::NaiveDateTime, AppError> {
    let text = text.trim().replace(' ', "+");
    chrono::DateTime::parse_from_rfc3339(&text).map(|t| t.naive_utc()).map_err(|_| {
        AppError::BadRequest(
            "Query parameter `updated_since` must be an RFC 3339 date-time with an offset, e.g. 2026-12-01T09:30:00Z."
                .into(),
        )
    })
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
