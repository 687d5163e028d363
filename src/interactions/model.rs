//! Note and call rows, API shapes and bodies.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::db::schema::interactions;
use crate::http::{double_option, utc};

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = interactions)]
pub struct InteractionRow {
    pub id: String,
    pub account_id: String,
    pub kind: String,
    pub contact_id: String,
    pub deal_id: Option<String>,
    /// `None` once the author's user has been deleted.
    pub author_id: Option<String>,
    pub body: String,
    pub direction: Option<String>,
    pub result: Option<String>,
    pub duration_seconds: Option<i64>,
    /// The item's place on the timeline: a note's creation, a call's `called_at`.
    pub occurred_at: NaiveDateTime,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = crate::db::schema::interaction_mentions)]
pub struct MentionRow {
    pub interaction_id: String,
    pub user_id: String,
    pub account_id: String,
}

/// Which of the two resources a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Note,
    Call,
}

impl Kind {
    /// The stored `kind`, and the entity type of audit entries and notifications.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Note => "note",
            Kind::Call => "call",
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            Kind::Note => "/v1/notes",
            Kind::Call => "/v1/calls",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallDirection {
    Inbound,
    Outbound,
}

impl CallDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            CallDirection::Inbound => "inbound",
            CallDirection::Outbound => "outbound",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01938a6e-7c2a-7d3e-9c1b-4f5e6a7b8c9d", "contact_id": "01938a6e-0000-7000-8000-000000000001",
    "deal_id": null, "author_id": "01938a6e-0000-7000-8000-0000000000a1",
    "body": "Asked for the revised quote; @Sam to follow up on Friday.",
    "mentions": ["01938a6e-0000-7000-8000-0000000000a2"],
    "created_at": "2026-12-02T09:30:00Z", "updated_at": "2026-12-02T09:30:00Z", "version": 1
}))]
pub struct NoteView {
    pub id: String,
    pub contact_id: String,
    pub deal_id: Option<String>,
    /// `null` when the author's user was deleted.
    pub author_id: Option<String>,
    pub body: String,
    /// Mentioned users, each notified once (`kind: mention`).
    pub mentions: Vec<String>,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01938a6e-7c2a-7d3e-9c1b-4f5e6a7b8c9e", "contact_id": "01938a6e-0000-7000-8000-000000000001",
    "deal_id": null, "author_id": "01938a6e-0000-7000-8000-0000000000a1", "direction": "outbound",
    "result": "connected", "duration_seconds": 420, "body": "Walked through pricing.", "mentions": [],
    "called_at": "2026-12-02T09:00:00Z", "created_at": "2026-12-02T09:10:00Z",
    "updated_at": "2026-12-02T09:10:00Z", "version": 1
}))]
pub struct CallView {
    pub id: String,
    pub contact_id: String,
    pub deal_id: Option<String>,
    /// `null` when the author's user was deleted.
    pub author_id: Option<String>,
    pub direction: CallDirection,
    /// One of the account's `call_results` when it was set.
    pub result: Option<String>,
    pub duration_seconds: Option<i64>,
    pub body: String,
    pub mentions: Vec<String>,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub called_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// A note or a call, serialized as itself (audit snapshots, the timeline).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum InteractionView {
    Note(NoteView),
    Call(CallView),
}

impl InteractionView {
    pub fn of(row: &InteractionRow, mentions: Vec<String>) -> Self {
        if row.kind == "call" {
            let direction = if row.direction.as_deref() == Some("inbound") {
                CallDirection::Inbound
            } else {
                CallDirection::Outbound
            };
            return InteractionView::Call(CallView {
                id: row.id.clone(),
                contact_id: row.contact_id.clone(),
                deal_id: row.deal_id.clone(),
                author_id: row.author_id.clone(),
                direction,
                result: row.result.clone(),
                duration_seconds: row.duration_seconds,
                body: row.body.clone(),
                mentions,
                called_at: utc(row.occurred_at),
                created_at: utc(row.created_at),
                updated_at: utc(row.updated_at),
                version: row.version,
            });
        }
        InteractionView::Note(NoteView {
            id: row.id.clone(),
            contact_id: row.contact_id.clone(),
            deal_id: row.deal_id.clone(),
            author_id: row.author_id.clone(),
            body: row.body.clone(),
            mentions,
            created_at: utc(row.created_at),
            updated_at: utc(row.updated_at),
            version: row.version,
        })
    }

    pub fn id(&self) -> &str {
        match self {
            InteractionView::Note(n) => &n.id,
            InteractionView::Call(c) => &c.id,
        }
    }

    pub fn version(&self) -> i64 {
        match self {
            InteractionView::Note(n) => n.version,
            InteractionView::Call(c) => c.version,
        }
    }
}

/// Body of `POST /v1/notes`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "contact_id": "01938a6e-0000-7000-8000-000000000001",
    "body": "Asked for the revised quote; @Sam to follow up on Friday.",
    "mentions": ["01938a6e-0000-7000-8000-0000000000a2"]
}))]
pub struct NewNote {
    pub contact_id: Uuid,
    /// A deal of the same contact.
    pub deal_id: Option<Uuid>,
    #[schema(min_length = 1, max_length = 20000)]
    #[validate(length(min = 1, max = 20000, message = "must be 1 to 20000 characters long"))]
    pub body: String,
    /// Users to notify; each must see the contact at `view` or above.
    #[serde(default)]
    #[schema(max_items = 50)]
    #[validate(length(max = 50, message = "must list at most 50 users"))]
    pub mentions: Vec<Uuid>,
}

/// Body of `PATCH /v1/notes/{id}`; partial.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotePatch {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub deal_id: Option<Option<Uuid>>,
    #[schema(min_length = 1, max_length = 20000)]
    #[validate(length(min = 1, max = 20000, message = "must be 1 to 20000 characters long"))]
    pub body: Option<String>,
    /// The whole new list; users added to it are notified, and must see the contact.
    #[schema(max_items = 50)]
    #[validate(length(max = 50, message = "must list at most 50 users"))]
    pub mentions: Option<Vec<Uuid>>,
}

/// Body of `POST /v1/calls`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "contact_id": "01938a6e-0000-7000-8000-000000000001", "direction": "outbound",
    "result": "connected", "duration_seconds": 420, "body": "Walked through pricing."
}))]
pub struct NewCall {
    pub contact_id: Uuid,
    pub deal_id: Option<Uuid>,
    pub direction: CallDirection,
    /// One of the account's `call_results`.
    pub result: Option<String>,
    #[schema(minimum = 0, maximum = 604800)]
    #[validate(range(min = 0, max = 604800, message = "must be 0 to 604800 seconds"))]
    #[serde(default, deserialize_with = "crate::http::integral::option")]
    pub duration_seconds: Option<i64>,
    #[serde(default)]
    #[schema(max_length = 20000)]
    #[validate(length(max = 20000, message = "must be at most 20000 characters long"))]
    pub body: String,
    #[serde(default)]
    #[schema(max_items = 50)]
    #[validate(length(max = 50, message = "must list at most 50 users"))]
    pub mentions: Vec<Uuid>,
    /// When the call took place; defaults to now.
    pub called_at: Option<DateTime<Utc>>,
}

/// Body of `PATCH /v1/calls/{id}`; partial.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallPatch {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub deal_id: Option<Option<Uuid>>,
    pub direction: Option<CallDirection>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub result: Option<Option<String>>,
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 604800)]
    #[validate(range(min = 0, max = 604800, message = "must be 0 to 604800 seconds"))]
    #[serde(default, deserialize_with = "crate::http::integral::double_option")]
    pub duration_seconds: Option<Option<i64>>,
    #[schema(max_length = 20000)]
    #[validate(length(max = 20000, message = "must be at most 20000 characters long"))]
    pub body: Option<String>,
    #[schema(max_items = 50)]
    #[validate(length(max = 50, message = "must list at most 50 users"))]
    pub mentions: Option<Vec<Uuid>>,
    pub called_at: Option<DateTime<Utc>>,
}

/// What a create writes, for either kind (the routes build it from `NewNote`/`NewCall`).
#[derive(Debug, Clone)]
pub struct Draft {
    pub kind: Kind,
    pub contact_id: String,
    pub deal_id: Option<String>,
    pub body: String,
    pub direction: Option<CallDirection>,
    pub result: Option<String>,
    pub duration_seconds: Option<i64>,
    pub occurred_at: Option<NaiveDateTime>,
    pub mentions: Vec<String>,
}

/// A change, for either kind: fields absent stay; `Some(None)` clears.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub deal_id: Option<Option<String>>,
    pub body: Option<String>,
    pub direction: Option<CallDirection>,
    pub result: Option<Option<String>>,
    pub duration_seconds: Option<Option<i64>>,
    pub occurred_at: Option<NaiveDateTime>,
    pub mentions: Option<Vec<String>>,
}

impl From<NotePatch> for Change {
    fn from(p: NotePatch) -> Self {
        Change {
            deal_id: p.deal_id.map(|d| d.map(|u| u.to_string())),
            body: p.body,
            mentions: p.mentions.map(ids),
            ..Change::default()
        }
    }
}

impl From<CallPatch> for Change {
    fn from(p: CallPatch) -> Self {
        Change {
            deal_id: p.deal_id.map(|d| d.map(|u| u.to_string())),
            body: p.body,
            direction: p.direction,
            result: p.result,
            duration_seconds: p.duration_seconds,
            occurred_at: p.called_at.map(stored_time),
            mentions: p.mentions.map(ids),
        }
    }
}

impl From<NewNote> for Draft {
    fn from(n: NewNote) -> Self {
        Draft {
            kind: Kind::Note,
            contact_id: n.contact_id.to_string(),
            deal_id: n.deal_id.map(|u| u.to_string()),
            body: n.body,
            direction: None,
            result: None,
            duration_seconds: None,
            occurred_at: None,
            mentions: ids(n.mentions),
        }
    }
}

impl From<NewCall> for Draft {
    fn from(c: NewCall) -> Self {
        Draft {
            kind: Kind::Call,
            contact_id: c.contact_id.to_string(),
            deal_id: c.deal_id.map(|u| u.to_string()),
            body: c.body,
            direction: Some(c.direction),
            result: c.result,
            duration_seconds: c.duration_seconds,
            occurred_at: c.called_at.map(stored_time),
            mentions: ids(c.mentions),
        }
    }
}

/// Distinct ids in their first order.
fn ids(list: Vec<Uuid>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    list.into_iter().filter(|u| seen.insert(*u)).map(|u| u.to_string()).collect()
}

/// A client's timestamp at the microsecond precision both databases keep.
fn stored_time(t: DateTime<Utc>) -> NaiveDateTime {
    use chrono::SubsecRound;
    t.naive_utc().trunc_subsecs(6)
}

/// Filters of `GET /v1/notes` and `GET /v1/calls`.
#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct InteractionFilter {
    pub contact_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
    pub author_id: Option<Uuid>,
    /// Only items that mention this user.
    pub mentioned: Option<Uuid>,
}
