//! Deal rows and API shapes.

use chrono::{DateTime, Utc};

use crate::http::Date;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use crate::access::Level;
use crate::db::schema::{deal_items, deals};
use crate::http::{double_option, utc};

#[derive(Debug, Clone, PartialEq, Queryable, Insertable)]
#[diesel(table_name = deals)]
pub struct DealRow {
    pub id: String,
    pub account_id: String,
    pub contact_id: String,
    pub organization_id: Option<String>,
    pub name: String,
    pub amount: i64,
    pub currency: String,
    pub stage: String,
    pub status: String,
    pub expected_close_date: Option<String>,
    pub owner_id: Option<String>,
    pub version: i64,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
    /// The custom field values as a JSON object (`custom_values` indexes the same).
    pub custom_fields: String,
}

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = deal_items)]
pub struct ItemRow {
    pub id: String,
    pub deal_id: String,
    pub account_id: String,
    pub name: String,
    pub quantity: i64,
    pub unit_price: i64,
    pub created_at: chrono::NaiveDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DealStatus {
    Pending,
    Won,
    Lost,
}

impl DealStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DealStatus::Pending => "pending",
            DealStatus::Won => "won",
            DealStatus::Lost => "lost",
        }
    }

    pub fn parse(s: &str) -> DealStatus {
        match s {
            "won" => DealStatus::Won,
            "lost" => DealStatus::Lost,
            _ => DealStatus::Pending,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DealItem {
    pub id: String,
    pub name: String,
    pub quantity: i64,
    /// Minor units of the deal's currency.
    pub unit_price: i64,
}

impl From<&ItemRow> for DealItem {
    fn from(r: &ItemRow) -> Self {
        DealItem { id: r.id.clone(), name: r.name.clone(), quantity: r.quantity, unit_price: r.unit_price }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DealView {
    pub id: String,
    pub contact_id: String,
    pub organization_id: Option<String>,
    pub name: String,
    /// Integer minor units (cents for EUR/USD).
    pub amount: i64,
    /// ISO 4217 code, e.g. `EUR`.
    pub currency: String,
    pub stage: String,
    pub status: DealStatus,
    pub expected_close_date: Option<Date>,
    pub owner_id: Option<String>,
    pub items: Vec<DealItem>,
    /// Custom field values by key (SPEC §9).
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    /// The caller's access level on the deal's contact.
    pub access: Level,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl DealView {
    pub fn new(row: &DealRow, items: Vec<DealItem>, access: Level) -> Self {
        DealView {
            id: row.id.clone(),
            contact_id: row.contact_id.clone(),
            organization_id: row.organization_id.clone(),
            name: row.name.clone(),
            amount: row.amount,
            currency: row.currency.clone(),
            stage: row.stage.clone(),
            status: DealStatus::parse(&row.status),
            expected_close_date: row.expected_close_date.as_deref().and_then(Date::parse),
            owner_id: row.owner_id.clone(),
            items,
            custom_fields: crate::custom_fields::queries::parse_values(&row.custom_fields),
            access,
            created_at: utc(row.created_at),
            updated_at: utc(row.updated_at),
            version: row.version,
        }
    }
}

pub fn validate_currency(code: &str) -> Result<(), ValidationError> {
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        let mut e = ValidationError::new("currency");
        e.message = Some("must be an ISO 4217 code such as EUR".into());
        Err(e)
    }
}

/// Body of `POST /v1/deals`. `stage` defaults to the account's first deal stage, `owner_id`
/// to the caller.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDeal {
    pub contact_id: uuid::Uuid,
    pub organization_id: Option<uuid::Uuid>,
    #[schema(min_length = 1, max_length = 200)]
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters long"))]
    pub name: String,
    #[schema(minimum = 0)]
    #[validate(range(min = 0, message = "must not be negative"))]
    #[serde(deserialize_with = "crate::http::integral::int")]
    pub amount: i64,
    #[schema(pattern = "^[A-Z]{3}$")]
    #[validate(custom(function = "validate_currency"))]
    pub currency: String,
    pub stage: Option<String>,
    pub status: Option<DealStatus>,
    pub expected_close_date: Option<Date>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub owner_id: Option<Option<uuid::Uuid>>,
    /// Values by key, checked against the account's deal fields.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
}

/// Body of `PATCH /v1/deals/{id}`: absent fields stay, `null` clears a nullable field.
#[derive(Debug, Clone, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DealPatch {
    /// Moves the deal to another contact (needs edit on both).
    pub contact_id: Option<uuid::Uuid>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub organization_id: Option<Option<uuid::Uuid>>,
    #[schema(min_length = 1, max_length = 200)]
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters long"))]
    pub name: Option<String>,
    #[schema(minimum = 0)]
    #[validate(range(min = 0, message = "must not be negative"))]
    #[serde(default, deserialize_with = "crate::http::integral::option")]
    pub amount: Option<i64>,
    #[schema(pattern = "^[A-Z]{3}$")]
    #[validate(custom(function = "validate_currency"))]
    pub currency: Option<String>,
    pub stage: Option<String>,
    pub status: Option<DealStatus>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub expected_close_date: Option<Option<Date>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub owner_id: Option<Option<uuid::Uuid>>,
    /// Only the keys sent change; `null` clears one.
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewItem {
    #[schema(min_length = 1, max_length = 200)]
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters long"))]
    pub name: String,
    #[schema(minimum = 1)]
    #[validate(range(min = 1, message = "must be at least 1"))]
    #[serde(deserialize_with = "crate::http::integral::int")]
    pub quantity: i64,
    #[schema(minimum = 0)]
    #[validate(range(min = 0, message = "must not be negative"))]
    #[serde(deserialize_with = "crate::http::integral::int")]
    pub unit_price: i64,
}

#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemPatch {
    #[schema(min_length = 1, max_length = 200)]
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters long"))]
    pub name: Option<String>,
    #[schema(minimum = 1)]
    #[validate(range(min = 1, message = "must be at least 1"))]
    #[serde(default, deserialize_with = "crate::http::integral::option")]
    pub quantity: Option<i64>,
    #[schema(minimum = 0)]
    #[validate(range(min = 0, message = "must not be negative"))]
    #[serde(default, deserialize_with = "crate::http::integral::option")]
    pub unit_price: Option<i64>,
}

/// Count and sum of one stage in one currency.
#[derive(Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct PipelineRow {
    pub stage: String,
    pub currency: String,
    pub count: i64,
    /// Sum of `amount`, minor units; may exceed 64 bits for a big pipeline (it is exact).
    #[schema(schema_with = exact_integer)]
    pub amount: i128,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Pipeline {
    /// In the order of the account's `deal_stages`, then currency.
    pub stages: Vec<PipelineRow>,
}

/// An integer of any size (JSON numbers have no width; the document promises no 64-bit bound).
fn exact_integer() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new().schema_type(utoipa::openapi::schema::Type::Integer).build()
}

/// Filters of `GET /v1/deals`.
#[derive(Debug, Deserialize, utoipa::IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct DealFilter {
    pub contact_id: Option<uuid::Uuid>,
    pub organization_id: Option<uuid::Uuid>,
    #[param(max_length = 50)]
    #[validate(length(max = 50, message = "must be at most 50 characters long"))]
    pub stage: Option<String>,
    pub status: Option<DealStatus>,
    pub owner_id: Option<uuid::Uuid>,
    /// `cf.<key>` parameters, resolved by the handler.
    #[serde(skip)]
    #[param(ignore)]
    pub custom: Vec<crate::custom_fields::queries::Condition>,
}
