//! Custom field definitions, their API shapes, and typed values.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use validator::{Validate, ValidationError};

use crate::db::schema::{custom_fields, custom_values};
use crate::http::utc;

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = custom_fields)]
pub struct FieldRow {
    pub id: String,
    pub account_id: String,
    pub entity: String,
    pub key: String,
    pub label: String,
    pub field_type: String,
    pub options: String,
    pub required: bool,
    pub version: i64,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = custom_values)]
pub struct ValueRow {
    pub field_id: String,
    pub entity_id: String,
    pub account_id: String,
    pub value_text: String,
    pub value_number: Option<f64>,
}

/// Which records a definition adds a field to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    Contact,
    Deal,
    Organization,
}

impl Entity {
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Contact => "contact",
            Entity::Deal => "deal",
            Entity::Organization => "organization",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Text,
    Number,
    Date,
    Boolean,
    Select,
    MultiSelect,
    Url,
    Email,
}

impl FieldType {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Number => "number",
            FieldType::Date => "date",
            FieldType::Boolean => "boolean",
            FieldType::Select => "select",
            FieldType::MultiSelect => "multi_select",
            FieldType::Url => "url",
            FieldType::Email => "email",
        }
    }

    pub fn parse(text: &str) -> Option<FieldType> {
        serde_json::from_value(Value::String(text.to_owned())).ok()
    }

    pub fn has_options(self) -> bool {
        matches!(self, FieldType::Select | FieldType::MultiSelect)
    }

    /// Types whose filters take `.gte` / `.lte`.
    pub fn is_ordered(self) -> bool {
        matches!(self, FieldType::Number | FieldType::Date)
    }
}

/// A definition as the rest of the service uses it.
#[derive(Debug, Clone)]
pub struct Field {
    pub id: String,
    pub key: String,
    pub kind: FieldType,
    pub options: Vec<String>,
    pub required: bool,
}

impl FieldRow {
    pub fn field(&self) -> Field {
        Field {
            id: self.id.clone(),
            key: self.key.clone(),
            kind: FieldType::parse(&self.field_type).unwrap_or(FieldType::Text),
            options: serde_json::from_str(&self.options).unwrap_or_default(),
            required: self.required,
        }
    }

    pub fn view(&self) -> CustomFieldView {
        let f = self.field();
        CustomFieldView {
            id: self.id.clone(),
            entity: match self.entity.as_str() {
                "deal" => Entity::Deal,
                "organization" => Entity::Organization,
                _ => Entity::Contact,
            },
            key: self.key.clone(),
            label: self.label.clone(),
            field_type: f.kind,
            options: f.options,
            required: self.required,
            created_at: utc(self.created_at),
            updated_at: utc(self.updated_at),
            version: self.version,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01938a6e-7c2a-7d3e-9c1b-4f5e6a7b8c90", "entity": "contact", "key": "industry",
    "label": "Industry", "type": "select", "options": ["software", "retail", "energy"],
    "required": false, "created_at": "2026-12-02T09:00:00Z", "updated_at": "2026-12-02T09:00:00Z",
    "version": 1
}))]
pub struct CustomFieldView {
    pub id: String,
    pub entity: Entity,
    pub key: String,
    pub label: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// The choices of a `select` or `multi_select`; empty for other types.
    pub options: Vec<String>,
    pub required: bool,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

fn validate_key(key: &str) -> Result<(), ValidationError> {
    let mut chars = key.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if first_ok && rest_ok && key.len() <= 40 {
        return Ok(());
    }
    let mut e = ValidationError::new("key");
    e.message = Some("must match ^[a-z][a-z0-9_]{0,39}$".into());
    Err(e)
}

pub fn validate_options(items: &[String]) -> Result<(), ValidationError> {
    let mut seen = std::collections::HashSet::new();
    let bad = |msg: &'static str| {
        let mut e = ValidationError::new("options");
        e.message = Some(msg.into());
        Err(e)
    };
    if items.len() > 200 {
        return bad("at most 200 options");
    }
    for item in items {
        if item.trim().is_empty() || item.chars().count() > 100 || item.trim() != item {
            return bad("options must be 1 to 100 characters without surrounding spaces");
        }
        if !seen.insert(item.as_str()) {
            return bad("options must be unique");
        }
    }
    Ok(())
}

/// Body of `POST /v1/custom-fields`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"entity": "contact", "key": "industry", "label": "Industry", "type": "select",
                          "options": ["software", "retail", "energy"]}))]
pub struct NewCustomField {
    pub entity: Entity,
    #[schema(pattern = "^[a-z][a-z0-9_]{0,39}$")]
    #[validate(custom(function = "validate_key"))]
    pub key: String,
    #[schema(min_length = 1, max_length = 100)]
    #[validate(length(min = 1, max = 100, message = "must be 1 to 100 characters long"))]
    pub label: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Required (1 or more) for `select` and `multi_select`; not allowed for other types.
    #[serde(default)]
    #[schema(max_items = 200)]
    #[validate(custom(function = "validate_options"))]
    pub options: Vec<String>,
    /// New records must carry a value; existing ones are not touched.
    #[serde(default)]
    pub required: bool,
}

/// Body of `PATCH /v1/custom-fields/{id}`: `entity`, `key` and `type` never change.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomFieldPatch {
    #[schema(min_length = 1, max_length = 100)]
    #[validate(length(min = 1, max = 100, message = "must be 1 to 100 characters long"))]
    pub label: Option<String>,
    /// The new full list. Values using a removed option are cleared (a `multi_select` keeps
    /// its other options), each such record getting a new `version`.
    #[schema(max_items = 200)]
    #[validate(custom(function = "validate_options"))]
    pub options: Option<Vec<String>>,
    pub required: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct CustomFieldFilter {
    pub entity: Option<Entity>,
    /// Only definitions created or changed at or after this RFC 3339 time (SPEC §10).
    #[param(value_type = Option<String>, format = DateTime, example = "2026-12-01T09:30:00Z")]
    pub updated_since: Option<String>,
}

/// The parsed values of one record: key -> JSON value, only keys with a value.
pub type Values = Map<String, Value>;
