//! Contact rows and API shapes.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use crate::access::Level;
use crate::db::schema::contacts;
use crate::http::{double_option, utc};

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = contacts)]
pub struct ContactRow {
    pub id: String,
    pub account_id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub job_title: Option<String>,
    pub organization_id: Option<String>,
    pub status: Option<String>,
    pub lead_source: Option<String>,
    pub owner_id: Option<String>,
    pub office_id: Option<String>,
    pub private: bool,
    pub search_text: String,
    pub version: i64,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
    /// The tags as a JSON array (sorted, distinct); `contact_tags` holds the same for the
    /// `tag` filter. Both are written in one transaction.
    pub tags: String,
    /// The custom field values as a JSON object (`custom_values` indexes the same).
    pub custom_fields: String,
}

impl ContactRow {
    pub fn tag_list(&self) -> Vec<String> {
        serde_json::from_str(&self.tags).unwrap_or_else(|e| {
            tracing::error!(contact_id = self.id, error = %e, "contacts.tags is not a JSON array of strings");
            Vec::new()
        })
    }

    pub fn encode_tags(tags: &[String]) -> String {
        serde_json::to_string(tags).unwrap_or_else(|_| "[]".into())
    }

    /// What `q` matches: names, email and phone, lower-cased here so that both databases
    /// compare the same text.
    pub fn compute_search_text(&self) -> String {
        [Some(&self.first_name), Some(&self.last_name), self.email.as_ref(), self.phone.as_ref()]
            .into_iter()
            .flatten()
            .map(|s| s.to_lowercase())
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn facts(&self) -> crate::access::model::ContactFacts {
        crate::access::model::ContactFacts {
            owner_id: self.owner_id.clone(),
            office_id: self.office_id.clone(),
            private: self.private,
        }
    }
}

/// A contact the caller sees at `view` or above.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ContactView {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub job_title: Option<String>,
    pub organization_id: Option<String>,
    pub status: Option<String>,
    pub lead_source: Option<String>,
    pub tags: Vec<String>,
    pub owner_id: Option<String>,
    pub office_id: Option<String>,
    pub private: bool,
    /// Custom field values by key (SPEC §9); only at `view` and above.
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    /// The caller's access level on this contact.
    pub access: Level,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// A contact the caller sees at `limited`: the basic fields only. Closed
/// (`additionalProperties: false`), like `ContactGone`, so that exactly one branch of
/// `ContactOut` describes each answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactBasic {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Always `limited` here.
    pub access: Level,
}

/// What a write answers when the caller no longer sees the contact afterwards (a focused
/// user who handed it over, a user who moved it out of their offices).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactGone {
    pub id: String,
    /// Always `hidden` here.
    pub access: Level,
}

/// A contact as the caller may see it: full at `view` and above, basic fields at
/// `limited`, only `id` and `access` after a write that left it hidden to the caller.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
// Built and serialized once per contact of a page: boxing the full view would add an
// allocation per row on the hottest path to save stack space nobody holds for long.
#[allow(clippy::large_enum_variant)]
pub enum ContactOut {
    Full(ContactView),
    Basic(ContactBasic),
    Gone(ContactGone),
}

impl ContactOut {
    pub fn project(row: &ContactRow, level: Level) -> ContactOut {
        Self::from_row(row.clone(), level)
    }

    /// `project` for a row the caller is done with (lists: no per-field copies).
    pub fn from_row(row: ContactRow, level: Level) -> ContactOut {
        match level {
            Level::Hidden => ContactOut::Gone(ContactGone { id: row.id, access: level }),
            Level::Limited => ContactOut::Basic(ContactBasic {
                id: row.id,
                first_name: row.first_name,
                last_name: row.last_name,
                email: row.email,
                phone: row.phone,
                access: level,
            }),
            _ => {
                let tags = row.tag_list();
                ContactOut::Full(ContactView::new(row, tags, level))
            }
        }
    }

    /// The version a client may send back as `If-Match`: full contacts only.
    pub fn version(&self) -> Option<i64> {
        match self {
            ContactOut::Full(c) => Some(c.version),
            _ => None,
        }
    }

    pub fn id(&self) -> &str {
        match self {
            ContactOut::Full(c) => &c.id,
            ContactOut::Basic(c) => &c.id,
            ContactOut::Gone(c) => &c.id,
        }
    }
}

impl ContactView {
    pub fn new(row: ContactRow, tags: Vec<String>, access: Level) -> Self {
        ContactView {
            id: row.id,
            first_name: row.first_name,
            last_name: row.last_name,
            email: row.email,
            phone: row.phone,
            job_title: row.job_title,
            organization_id: row.organization_id,
            status: row.status,
            lead_source: row.lead_source,
            tags,
            owner_id: row.owner_id,
            office_id: row.office_id,
            private: row.private,
            custom_fields: crate::custom_fields::queries::parse_values(&row.custom_fields),
            access,
            created_at: utc(row.created_at),
            updated_at: utc(row.updated_at),
            version: row.version,
        }
    }
}

pub fn validate_tags(tags: &[String]) -> Result<(), ValidationError> {
    let bad = |msg: &'static str| {
        let mut e = ValidationError::new("tags");
        e.message = Some(msg.into());
        Err(e)
    };
    if tags.len() > 50 {
        return bad("at most 50 tags");
    }
    if tags.iter().any(|t| t.trim().is_empty() || t.chars().count() > 50 || t.trim() != t) {
        return bad("tags must be 1 to 50 characters without surrounding spaces");
    }
    Ok(())
}

/// Body of `POST /v1/contacts`. `owner_id` absent means the caller; `null` means no owner.
/// A focused user's contact is always their own, whatever `owner_id` says.
#[derive(Debug, Default, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContact {
    #[schema(min_length = 1, max_length = 100)]
    #[validate(length(min = 1, max = 100, message = "must be 1 to 100 characters long"))]
    pub first_name: String,
    #[serde(default)]
    #[schema(max_length = 100)]
    #[validate(length(max = 100, message = "must be at most 100 characters long"))]
    pub last_name: String,
    #[schema(max_length = 254, format = Email)]
    #[validate(email(message = "must be a valid email address"), length(max = 254))]
    pub email: Option<String>,
    #[schema(min_length = 1, max_length = 50)]
    #[validate(length(min = 1, max = 50, message = "must be 1 to 50 characters long"))]
    pub phone: Option<String>,
    #[schema(max_length = 200)]
    #[validate(length(max = 200, message = "must be at most 200 characters long"))]
    pub job_title: Option<String>,
    pub organization_id: Option<uuid::Uuid>,
    pub status: Option<String>,
    pub lead_source: Option<String>,
    #[serde(default)]
    #[schema(value_type = Vec<crate::http::Label>, max_items = 50)]
    #[validate(custom(function = "validate_tags"))]
    pub tags: Vec<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub owner_id: Option<Option<uuid::Uuid>>,
    pub office_id: Option<uuid::Uuid>,
    #[serde(default)]
    pub private: bool,
    /// Values by key, checked against the account's contact fields (`null` leaves one unset).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
}

/// Body of `PATCH /v1/contacts/{id}`: absent fields stay, `null` clears a nullable field.
#[derive(Debug, Default, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactPatch {
    #[schema(min_length = 1, max_length = 100)]
    #[validate(length(min = 1, max = 100, message = "must be 1 to 100 characters long"))]
    pub first_name: Option<String>,
    #[schema(max_length = 100)]
    #[validate(length(max = 100, message = "must be at most 100 characters long"))]
    pub last_name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    #[schema(max_length = 254, format = Email)]
    #[validate(email(message = "must be a valid email address"), length(max = 254))]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    #[schema(min_length = 1, max_length = 50)]
    #[validate(length(min = 1, max = 50, message = "must be 1 to 50 characters long"))]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    #[schema(max_length = 200)]
    #[validate(length(max = 200, message = "must be at most 200 characters long"))]
    pub job_title: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub organization_id: Option<Option<uuid::Uuid>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub status: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub lead_source: Option<Option<String>>,
    /// Replaces the whole tag list (`null` or absent: unchanged).
    #[schema(value_type = Option<Vec<crate::http::Label>>, max_items = 50)]
    #[validate(custom(function = "validate_tags"))]
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub owner_id: Option<Option<uuid::Uuid>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub office_id: Option<Option<uuid::Uuid>>,
    pub private: Option<bool>,
    /// Only the keys sent change; `null` clears one.
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
}
