//! The audit log: one entry per create, update and delete, written in the caller's
//! transaction, with the changed fields as `{field: {old, new}}`.

pub mod queries;
pub mod routes;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::db::schema::audit_log;
use crate::db::DbConnection;
use crate::error::AppError;
use crate::http::{new_id, now, utc};

/// Entity types whose entries are about a contact: their visibility is the contact's
/// (`ContactScope::audit_visible`), and without a known contact they are hidden from
/// non-managers.
pub const CONTACT_ENTITIES: &[&str] = &["contact", "deal", "action", "note", "call"];

/// Fields that change on every write and say nothing about what the caller changed.
const IGNORED: &[&str] = &["updated_at", "version", "access"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    Create,
    Update,
    Delete,
}

#[derive(Debug, Queryable, Insertable)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    pub id: String,
    pub account_id: String,
    pub actor_id: Option<String>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub changes: String,
    pub created_at: chrono::NaiveDateTime,
    /// The contact the entry is about: a contact's own entries and those of the records
    /// that hang off it (deals, actions). Audit visibility follows this contact.
    pub contact_id: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub id: String,
    pub actor_id: Option<String>,
    pub action: AuditAction,
    pub entity_type: String,
    pub entity_id: String,
    /// Field name -> `{old, new}`.
    #[schema(value_type = Object)]
    pub changes: Value,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub created_at: DateTime<Utc>,
}

impl From<AuditRow> for AuditEntry {
    fn from(row: AuditRow) -> Self {
        let action = match row.action.as_str() {
            "create" => AuditAction::Create,
            "delete" => AuditAction::Delete,
            _ => AuditAction::Update,
        };
        AuditEntry {
            id: row.id,
            actor_id: row.actor_id,
            action,
            entity_type: row.entity_type,
            entity_id: row.entity_id,
            changes: serde_json::from_str(&row.changes).unwrap_or(Value::Null),
            created_at: utc(row.created_at),
        }
    }
}

/// Who did it and in which account.
#[derive(Debug, Clone)]
pub struct AuditCtx {
    pub account_id: String,
    pub actor_id: Option<String>,
}

impl From<&crate::access::Actor> for AuditCtx {
    fn from(a: &crate::access::Actor) -> Self {
        AuditCtx { account_id: a.account_id().to_owned(), actor_id: Some(a.user_id().to_owned()) }
    }
}

/// `{field: {old, new}}` for every field that differs between two snapshots of an entity
/// (either side may be absent: create or delete).
pub fn diff(before: Option<&Value>, after: Option<&Value>) -> Map<String, Value> {
    let empty = Map::new();
    let old = before.and_then(Value::as_object).unwrap_or(&empty);
    let new = after.and_then(Value::as_object).unwrap_or(&empty);
    let mut out = Map::new();
    for key in old.keys().chain(new.keys().filter(|k| !old.contains_key(*k))) {
        if IGNORED.contains(&key.as_str()) || (key == "id" && before.is_some() && after.is_some()) {
            continue;
        }
        let o = old.get(key).cloned().unwrap_or(Value::Null);
        let n = new.get(key).cloned().unwrap_or(Value::Null);
        if o != n {
            out.insert(key.clone(), serde_json::json!({ "old": o, "new": n }));
        }
    }
    out
}

/// Appends one entry. `before`/`after` are the API views of the entity; the action
/// follows from which of them exist. An update that changed nothing writes nothing.
pub fn record<T: Serialize>(
    conn: &mut DbConnection,
    ctx: &AuditCtx,
    entity_type: &str,
    entity_id: &str,
    before: Option<&T>,
    after: Option<&T>,
) -> Result<(), AppError> {
    insert(conn, entry(ctx, entity_type, entity_id, before, after)?)
}

/// The entry `record` would append, for a caller that writes many at once.
pub fn entry<T: Serialize>(
    ctx: &AuditCtx,
    entity_type: &str,
    entity_id: &str,
    before: Option<&T>,
    after: Option<&T>,
) -> Result<Option<AuditRow>, AppError> {
    let to_value = |v: Option<&T>| v.map(serde_json::to_value).transpose();
    let before = to_value(before).map_err(|e| AppError::Internal(e.to_string()))?;
    let after = to_value(after).map_err(|e| AppError::Internal(e.to_string()))?;
    let changes = diff(before.as_ref(), after.as_ref());
    let contact_id = if entity_type == "contact" {
        Some(entity_id.to_owned())
    } else {
        // A deal or action names its contact; after a move, the new one.
        [&after, &before]
            .into_iter()
            .flatten()
            .find_map(|v| v.get("contact_id").and_then(Value::as_str).map(str::to_owned))
    };
    let mut row = entry_of_changes(ctx, entity_type, entity_id, action_of(&before, &after), changes);
    if let Some(r) = row.as_mut() {
        r.contact_id = contact_id;
    }
    Ok(row)
}

fn action_of(before: &Option<Value>, after: &Option<Value>) -> AuditAction {
    match (before, after) {
        (None, _) => AuditAction::Create,
        (Some(_), None) => AuditAction::Delete,
        _ => AuditAction::Update,
    }
}

/// Appends one entry with changes the caller computed (e.g. a redacted password change).
pub fn record_changes(
    conn: &mut DbConnection,
    ctx: &AuditCtx,
    entity_type: &str,
    entity_id: &str,
    action: AuditAction,
    changes: Map<String, Value>,
) -> Result<(), AppError> {
    insert(conn, entry_of_changes(ctx, entity_type, entity_id, action, changes))
}

/// One `update` entry per moved row: `field` went from `old` to `new` on each of `rows`
/// (`(entity id, its contact)`), written in multi-row statements. For deletions that move
/// what depended on the deleted record (SPEC §3: every moved row audited).
pub fn record_moves(
    conn: &mut DbConnection,
    ctx: &AuditCtx,
    entity_type: &str,
    rows: &[(String, Option<String>)],
    field: &str,
    old: Option<&str>,
    new: Option<&str>,
) -> Result<(), AppError> {
    let mut changes = Map::new();
    changes.insert(field.to_owned(), serde_json::json!({ "old": old, "new": new }));
    let entries: Vec<AuditRow> = rows
        .iter()
        .filter_map(|(id, contact_id)| {
            let mut row = entry_of_changes(ctx, entity_type, id, AuditAction::Update, changes.clone())?;
            row.contact_id = contact_id.clone();
            Some(row)
        })
        .collect();
    queries::insert_all(conn, &entries)
}

fn entry_of_changes(
    ctx: &AuditCtx,
    entity_type: &str,
    entity_id: &str,
    action: AuditAction,
    changes: Map<String, Value>,
) -> Option<AuditRow> {
    if action == AuditAction::Update && changes.is_empty() {
        return None;
    }
    Some(AuditRow {
        id: new_id(),
        account_id: ctx.account_id.clone(),
        actor_id: ctx.actor_id.clone(),
        action: match action {
            AuditAction::Create => "create",
            AuditAction::Update => "update",
            AuditAction::Delete => "delete",
        }
        .into(),
        entity_type: entity_type.into(),
        entity_id: entity_id.into(),
        changes: Value::Object(changes).to_string(),
        created_at: now(),
        contact_id: None,
    })
}

fn insert(conn: &mut DbConnection, row: Option<AuditRow>) -> Result<(), AppError> {
    queries::insert_all(conn, row.as_slice())
}

#[derive(Debug, Deserialize, utoipa::IntoParams, validator::Validate)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// Only entries about this kind of entity (`user`, `office`, `account`, …).
    #[param(max_length = 50)]
    #[validate(length(max = 50, message = "must be at most 50 characters long"))]
    pub entity_type: Option<String>,
    /// Only entries about this entity.
    #[param(max_length = 100)]
    #[validate(length(max = 100, message = "must be at most 100 characters long"))]
    pub entity_id: Option<String>,
}
