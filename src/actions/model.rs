//! Action rows, API shapes and bodies.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::db::schema::actions;
use crate::http::{double_option, now, utc, Date};

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = actions)]
pub struct ActionRow {
    pub id: String,
    pub account_id: String,
    pub contact_id: String,
    pub assignee_id: Option<String>,
    pub text: String,
    pub due_date: Option<String>,
    pub status: String,
    pub completed_at: Option<chrono::NaiveDateTime>,
    pub version: i64,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    Open,
    Done,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ActionView {
    pub id: String,
    pub contact_id: String,
    pub assignee_id: Option<String>,
    pub text: String,
    pub due_date: Option<Date>,
    pub status: ActionStatus,
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl From<&ActionRow> for ActionView {
    fn from(r: &ActionRow) -> Self {
        ActionView {
            id: r.id.clone(),
            contact_id: r.contact_id.clone(),
            assignee_id: r.assignee_id.clone(),
            text: r.text.clone(),
            due_date: r.due_date.as_deref().and_then(Date::parse),
            status: if r.status == "done" { ActionStatus::Done } else { ActionStatus::Open },
            completed_at: r.completed_at.map(utc),
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
            version: r.version,
        }
    }
}

/// Body of `POST /v1/actions`; `assignee_id` defaults to the caller.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAction {
    pub contact_id: Uuid,
    pub assignee_id: Option<Uuid>,
    #[schema(min_length = 1, max_length = 2000)]
    #[validate(length(min = 1, max = 2000, message = "must be 1 to 2000 characters long"))]
    pub text: String,
    pub due_date: Option<Date>,
}

#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionPatch {
    pub assignee_id: Option<Uuid>,
    #[schema(min_length = 1, max_length = 2000)]
    #[validate(length(min = 1, max = 2000, message = "must be 1 to 2000 characters long"))]
    pub text: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub due_date: Option<Option<Date>>,
    pub status: Option<ActionStatus>,
}

#[derive(Debug, Deserialize, IntoParams, validator::Validate)]
#[into_params(parameter_in = Query)]
pub struct ActionFilter {
    pub contact_id: Option<Uuid>,
    pub assignee_id: Option<Uuid>,
    pub status: Option<ActionStatus>,
    /// Only actions due before this date.
    pub due_before: Option<Date>,
}

pub fn status_text(s: ActionStatus) -> &'static str {
    match s {
        ActionStatus::Open => "open",
        ActionStatus::Done => "done",
    }
}

/// Sets the status, stamping `completed_at` when it becomes done and clearing it when it
/// opens again.
pub fn set_status(row: &mut ActionRow, status: ActionStatus) {
    match (status, row.status.as_str()) {
        (ActionStatus::Done, "open") => row.completed_at = Some(now()),
        (ActionStatus::Open, "done") => row.completed_at = None,
        _ => {}
    }
    row.status = status_text(status).into();
}
