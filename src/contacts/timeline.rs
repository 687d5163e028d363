//! `GET /v1/contacts/{id}/timeline` (SPEC §8): the contact's notes, calls, actions, deals
//! and changes, newest first, under one keyset cursor `(at, id)`.
//!
//! Each item type is its own scoped query on its own `(contact_id, at, id)` index, asking
//! for at most `limit + 1` rows older than the cursor; the page is the newest `limit` of
//! their union. A page therefore reads at most five short index ranges, whatever the
//! contact's history holds: page 1,000 of a busy contact costs what page 1 of a quiet one
//! does. Notes, calls, actions and deals follow the contact at `view`, changes need
//! `manage` (as the history does); every query carries the scope itself.

use actix_web::{get, web, HttpResponse};
use base64::Engine;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::access::{ContactScope, Level};
use crate::actions::model::{ActionRow, ActionView};
use crate::audit::{AuditEntry, AuditRow};
use crate::auth::Caller;
use crate::db::schema::{actions, audit_log, deals, interactions as ix};
use crate::db::{self, DbConnection, Limit, Opaque};
use crate::deals::model::DealView;
use crate::error::AppError;
use crate::interactions::model::{CallView, InteractionRow, InteractionView, NoteView};
use crate::state::AppState;

/// One timeline item: what it is, when it happened, and the item as its own endpoint
/// shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TimelineEntry {
    Note {
        #[serde(serialize_with = "crate::http::rfc3339")]
        at: chrono::DateTime<chrono::Utc>,
        item: NoteView,
    },
    Call {
        /// The call's `called_at`.
        #[serde(serialize_with = "crate::http::rfc3339")]
        at: chrono::DateTime<chrono::Utc>,
        item: CallView,
    },
    Action {
        #[serde(serialize_with = "crate::http::rfc3339")]
        at: chrono::DateTime<chrono::Utc>,
        item: ActionView,
    },
    Deal {
        #[serde(serialize_with = "crate::http::rfc3339")]
        at: chrono::DateTime<chrono::Utc>,
        item: DealView,
    },
    /// A change of the contact's own fields (needs `manage`).
    Change {
        #[serde(serialize_with = "crate::http::rfc3339")]
        at: chrono::DateTime<chrono::Utc>,
        item: AuditEntry,
    },
}

/// A page of the timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelinePage {
    pub data: Vec<TimelineEntry>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams, validator::Validate)]
#[into_params(parameter_in = Query)]
pub struct TimelineParams {
    /// Page size, clamped to 1..200 (default 50).
    pub limit: Option<i64>,
    /// Opaque cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// The last `(at, id)` of the previous page.
#[derive(Debug, Clone)]
struct Key {
    at: NaiveDateTime,
    id: String,
}

const KEY_TIME: &str = "%Y-%m-%dT%H:%M:%S%.6f";

fn encode(key: &Key) -> String {
    let text = format!("tl:{}|{}", key.at.format(KEY_TIME), key.id);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn decode(cursor: &str) -> Result<Key, AppError> {
    let bad = || AppError::BadRequest("Invalid cursor.".into());
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (at, id) = text.strip_prefix("tl:").and_then(|t| t.split_once('|')).ok_or_else(bad)?;
    let at = NaiveDateTime::parse_from_str(at, KEY_TIME).map_err(|_| bad())?;
    Uuid::parse_str(id).map_err(|_| bad())?;
    Ok(Key { at, id: id.to_owned() })
}

/// `WHERE at <= $at AND (at < $at OR id < $id) ORDER BY at DESC, id DESC LIMIT n`: the
/// first condition bounds the index range, the second breaks ties within one instant.
macro_rules! older_than {
    ($q:expr, $key:expr, $at:expr, $id:expr, $n:expr) => {{
        let mut q = $q;
        if let Some(k) = $key {
            q = q
                .filter($at.le(Opaque::new(k.at)))
                .filter($at.lt(Opaque::new(k.at)).or($id.lt(Opaque::new(k.id.clone()))));
        }
        Limit(q.order(($at.desc(), $id.desc())), $n)
    }};
}

/// One page of the timeline of a contact the scope sees at `level` (at least `view`).
fn page(
    conn: &mut DbConnection,
    scope: &ContactScope,
    contact_id: &str,
    level: Level,
    limit: i64,
    after: Option<&Key>,
) -> Result<TimelinePage, AppError> {
    let n = limit + 1;
    let account = scope.account_id().to_owned();
    let mut entries: Vec<(NaiveDateTime, String, TimelineEntry)> = Vec::new();

    let q = ix::table
        .filter(ix::account_id.eq(account.clone()))
        .filter(ix::contact_id.eq(contact_id.to_owned()))
        .filter(scope.contact_in(ix::contact_id, Level::View))
        .into_boxed();
    let rows: Vec<InteractionRow> = older_than!(q, after, ix::occurred_at, ix::id, n).load(conn)?;
    for (row, view) in rows.iter().zip(crate::interactions::queries::views(conn, &rows)?) {
        let at = crate::http::utc(row.occurred_at);
        let entry = match view {
            InteractionView::Note(item) => TimelineEntry::Note { at, item },
            InteractionView::Call(item) => TimelineEntry::Call { at, item },
        };
        entries.push((row.occurred_at, row.id.clone(), entry));
    }

    let q = actions::table
        .filter(actions::account_id.eq(account.clone()))
        .filter(actions::contact_id.eq(contact_id.to_owned()))
        .filter(scope.contact_in(actions::contact_id, Level::View))
        .into_boxed();
    let rows: Vec<ActionRow> = older_than!(q, after, actions::created_at, actions::id, n).load(conn)?;
    for row in &rows {
        let entry = TimelineEntry::Action { at: crate::http::utc(row.created_at), item: ActionView::from(row) };
        entries.push((row.created_at, row.id.clone(), entry));
    }

    let q = crate::deals::queries::scoped(scope, Level::View).filter(deals::contact_id.eq(contact_id.to_owned()));
    let rows: Vec<(crate::deals::model::DealRow, i32)> =
        older_than!(q, after, deals::created_at, deals::id, n).load(conn)?;
    let rows: Vec<_> = rows.into_iter().map(|(r, l)| (r, Level::from_rank(l))).collect();
    for view in crate::deals::queries::views(conn, rows)? {
        let at = view.created_at;
        entries.push((at.naive_utc(), view.id.clone(), TimelineEntry::Deal { at, item: view }));
    }

    if level >= Level::Manage {
        let q = scope
            .audit_entries()
            .filter(audit_log::contact_id.eq(contact_id.to_owned()))
            .filter(audit_log::entity_type.eq("contact"));
        let rows: Vec<AuditRow> = older_than!(q, after, audit_log::created_at, audit_log::id, n).load(conn)?;
        for row in rows {
            let (at, id) = (row.created_at, row.id.clone());
            entries.push((at, id, TimelineEntry::Change { at: crate::http::utc(at), item: AuditEntry::from(row) }));
        }
    }

    entries.sort_by(|a, b| (&b.0, &b.1).cmp(&(&a.0, &a.1)));
    let next_cursor = if entries.len() as i64 > limit {
        entries.truncate(limit as usize);
        entries.last().map(|(at, id, _)| encode(&Key { at: *at, id: id.clone() }))
    } else {
        None
    };
    Ok(TimelinePage { data: entries.into_iter().map(|(_, _, e)| e).collect(), next_cursor })
}

/// The contact's notes, calls, actions, deals and changes, newest first.
///
/// Each item is `{type, at, item}`: `at` is when it happened (a call's `called_at`, the
/// creation of the others), `item` the record as its own endpoint shows it. Needs `view` on
/// the contact (403 at `limited`, 404 when hidden); changes of the contact's fields appear
/// only with `manage`, as the history does. Keyset-paginated: pass `next_cursor` back as
/// `cursor`; items with the same `at` are ordered by id.
#[utoipa::path(
    tag = "contacts",
    params(("id" = Uuid, Path), TimelineParams),
    responses(
        (status = 200, body = TimelinePage),
        (status = 400, description = "Malformed query or cursor"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "The contact is visible at limited only"),
        (status = 404, description = "Missing, not visible or another account's"),
    ),
    security(("bearer" = []))
)]
#[get("/contacts/{id}/timeline")]
pub async fn contact_timeline(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    params: crate::http::Query<TimelineParams>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    let params = params.into_inner();
    let limit = params.limit.unwrap_or(50).clamp(1, 200);
    let after = params.cursor.as_deref().filter(|c| !c.is_empty()).map(decode).transpose()?;
    let out = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        let scope = ContactScope::of(&actor);
        let level = scope.level_on(conn, &id)?;
        match level {
            Level::Hidden => Err(AppError::NotFound),
            Level::Limited => Err(AppError::forbidden("The timeline needs view access to the contact.")),
            _ => page(conn, &scope, &id, level, limit, after.as_ref()),
        }
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}
