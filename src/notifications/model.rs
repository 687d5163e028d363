//! Notification rows and their API shape.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::db::schema::notifications;
use crate::http::utc;

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = notifications)]
pub struct NotificationRow {
    pub id: String,
    pub account_id: String,
    pub user_id: String,
    pub kind: String,
    pub message: String,
    pub entity_type: String,
    pub entity_id: String,
    pub read_at: Option<chrono::NaiveDateTime>,
    pub created_at: chrono::NaiveDateTime,
    /// Who caused it (`None` for the system).
    pub actor_id: Option<String>,
    /// The contact it is about: it is shown only while the recipient sees that contact.
    pub contact_id: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Notification {
    pub id: String,
    /// e.g. `duplicate_email`
    pub kind: String,
    pub message: String,
    pub entity_type: String,
    pub entity_id: String,
    /// The user whose action caused it.
    pub actor_id: Option<String>,
    pub read_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub created_at: DateTime<Utc>,
}

impl From<NotificationRow> for Notification {
    fn from(r: NotificationRow) -> Self {
        Notification {
            id: r.id,
            kind: r.kind,
            message: r.message,
            entity_type: r.entity_type,
            entity_id: r.entity_id,
            actor_id: r.actor_id,
            read_at: r.read_at.map(utc),
            created_at: utc(r.created_at),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams, validator::Validate)]
#[into_params(parameter_in = Query)]
pub struct NotificationFilter {
    /// Only unread notifications.
    pub unread: Option<bool>,
}
