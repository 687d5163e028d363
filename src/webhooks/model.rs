//! Webhook subscriptions and deliveries: rows and API shapes (SPEC §10).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::{Validate, ValidationError};

use crate::db::schema::{webhook_deliveries, webhooks};
use crate::http::utc;

/// Every event a subscription may name (`*` takes all).
pub const EVENTS: &[&str] = &[
    "contact.created",
    "contact.updated",
    "contact.deleted",
    "contact.access_lost",
    "deal.created",
    "deal.updated",
    "deal.deleted",
    "action.created",
    "action.updated",
    "action.deleted",
    "note.created",
    "note.updated",
    "note.deleted",
    "call.created",
    "call.updated",
    "call.deleted",
    "organization.created",
    "organization.updated",
    "organization.deleted",
    "access.changed",
];

/// The event `POST /v1/webhooks/{id}/test` sends; always delivered, whatever `events` says.
pub const TEST_EVENT: &str = "webhook.test";

#[derive(Debug, Clone, Queryable, Insertable, Selectable)]
#[diesel(table_name = webhooks)]
pub struct WebhookRow {
    pub id: String,
    pub account_id: String,
    pub user_id: String,
    pub url: String,
    pub events: String,
    pub secret: String,
    pub active: bool,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<NaiveDateTime>,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl WebhookRow {
    pub fn event_list(&self) -> Vec<String> {
        serde_json::from_str(&self.events).unwrap_or_default()
    }

    pub fn wants(&self, event: &str) -> bool {
        self.event_list().iter().any(|e| e == "*" || e == event)
    }
}

/// A subscription as the API shows it: never its secret (shown once, on create and rotate).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01938a6e-7c2a-7d3e-9c1b-4f5e6a7b8c91", "user_id": "01938a6e-0000-7000-8000-0000000000a1",
    "url": "https://hooks.example.com/crm", "events": ["contact.created", "contact.updated"],
    "active": true, "disabled_reason": null, "created_at": "2026-12-03T09:00:00Z",
    "updated_at": "2026-12-03T09:00:00Z", "version": 1
}))]
pub struct WebhookView {
    pub id: String,
    /// The user the subscription acts as: payloads are what this user sees.
    pub user_id: String,
    pub url: String,
    pub events: Vec<String>,
    /// False once disabled: by PATCH, by a `410 Gone` answer or after 3 days of failures.
    pub active: bool,
    /// Why it was disabled by the service (`null` when active or disabled by PATCH).
    pub disabled_reason: Option<String>,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl From<&WebhookRow> for WebhookView {
    fn from(r: &WebhookRow) -> Self {
        WebhookView {
            id: r.id.clone(),
            user_id: r.user_id.clone(),
            url: r.url.clone(),
            events: r.event_list(),
            active: r.active,
            disabled_reason: r.disabled_reason.clone(),
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
            version: r.version,
        }
    }
}

/// A subscription with its signing secret: the answer of create and rotate-secret only.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// `whsec_` and the base64 key: verify each request with a Standard Webhooks library.
    /// Shown only here; rotate it to get a new one.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

fn validate_events(events: &[String]) -> Result<(), ValidationError> {
    if events.iter().all(|e| e == "*" || EVENTS.contains(&e.as_str())) {
        return Ok(());
    }
    let mut e = ValidationError::new("event");
    e.message = Some(format!("each event must be `*` or one of {}", EVENTS.join(", ")).into());
    Err(e)
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://hooks.example.com/crm", "events": ["contact.created", "note.created"]}))]
pub struct NewWebhook {
    /// `https://` and not resolving to loopback, private, link-local or multicast
    /// addresses (422), checked again at every attempt.
    #[schema(max_length = 2000)]
    #[validate(length(min = 1, max = 2000, message = "must be 1 to 2000 characters long"))]
    pub url: String,
    #[schema(min_items = 1, max_items = 30)]
    #[validate(length(min = 1, max = 30, message = "must list 1 to 30 events"), custom(function = "validate_events"))]
    pub events: Vec<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    #[schema(max_length = 2000)]
    #[validate(length(min = 1, max = 2000, message = "must be 1 to 2000 characters long"))]
    pub url: Option<String>,
    #[schema(min_items = 1, max_items = 30)]
    #[validate(length(min = 1, max = 30, message = "must list 1 to 30 events"), custom(function = "validate_events"))]
    pub events: Option<Vec<String>>,
    /// `true` re-enables a disabled subscription (its pending deliveries resume).
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_deliveries)]
pub struct DeliveryRow {
    pub seq: i64,
    pub id: String,
    pub account_id: String,
    pub webhook_id: String,
    pub event_type: String,
    pub entity_type: String,
    pub entity_id: String,
    pub level: Option<i32>,
    pub payload: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub locked_until: Option<NaiveDateTime>,
    pub last_attempt_at: Option<NaiveDateTime>,
    pub response_status: Option<i32>,
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub created_at: NaiveDateTime,
    pub delivered_at: Option<NaiveDateTime>,
}

/// A new outbox row (`seq` is the database's).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = webhook_deliveries)]
pub struct NewDelivery {
    pub id: String,
    pub account_id: String,
    pub webhook_id: String,
    pub event_type: String,
    pub entity_type: String,
    pub entity_id: String,
    pub level: Option<i32>,
    pub payload: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its first or next attempt.
    Pending,
    /// A 2xx answer arrived.
    Delivered,
    /// Given up: 3 days of failures, or `410 Gone`.
    Failed,
    /// Not sent: the subscriber's user was deactivated or no longer sees the entity.
    Revoked,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Revoked => "revoked",
        }
    }

    fn parse(text: &str) -> DeliveryStatus {
        match text {
            "delivered" => DeliveryStatus::Delivered,
            "failed" => DeliveryStatus::Failed,
            "revoked" => DeliveryStatus::Revoked,
            _ => DeliveryStatus::Pending,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// Also the request's `webhook-id`.
    pub id: String,
    pub webhook_id: String,
    #[schema(example = "contact.updated")]
    pub event_type: String,
    pub entity_type: String,
    pub entity_id: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The last answer's status code.
    pub response_status: Option<i32>,
    /// The first 1,024 bytes of the last answer's body.
    pub response_body: Option<String>,
    /// The last network error, timeout or refusal (an address the URL may not reach).
    pub error: Option<String>,
    /// The request body as sent: `{id, type, created_at, data}`.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

impl From<&DeliveryRow> for DeliveryView {
    fn from(r: &DeliveryRow) -> Self {
        let status = DeliveryStatus::parse(&r.status);
        DeliveryView {
            id: r.id.clone(),
            webhook_id: r.webhook_id.clone(),
            event_type: r.event_type.clone(),
            entity_type: r.entity_type.clone(),
            entity_id: r.entity_id.clone(),
            status,
            attempts: r.attempts,
            next_attempt_at: (status == DeliveryStatus::Pending).then(|| utc(r.next_attempt_at)),
            last_attempt_at: r.last_attempt_at.map(utc),
            response_status: r.response_status,
            response_body: r.response_body.clone(),
            error: r.error.clone(),
            payload: serde_json::from_str(&r.payload).unwrap_or(serde_json::Value::Null),
            created_at: utc(r.created_at),
            delivered_at: r.delivered_at.map(utc),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
}
