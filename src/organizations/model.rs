//! Organization rows, API shapes and bodies.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::contacts::model::ContactOut;
use crate::db::schema::organizations as orgs;
use crate::deals::model::DealView;
use crate::http::{double_option, utc};

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = orgs)]
pub struct OrgRow {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub website: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub version: i64,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
    /// The custom field values as a JSON object (`custom_values` indexes the same).
    pub custom_fields: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrganizationView {
    pub id: String,
    pub name: String,
    pub website: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    /// Custom field values by key (SPEC §9).
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl From<&OrgRow> for OrganizationView {
    fn from(r: &OrgRow) -> Self {
        OrganizationView {
            id: r.id.clone(),
            name: r.name.clone(),
            website: r.website.clone(),
            phone: r.phone.clone(),
            address: r.address.clone(),
            custom_fields: crate::custom_fields::queries::parse_values(&r.custom_fields),
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
            version: r.version,
        }
    }
}

/// `GET /v1/organizations/{id}`: the organization with what the caller may see of it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrganizationDetail {
    #[serde(flatten)]
    pub organization: OrganizationView,
    /// Its contacts the caller can see (`limited` ones with the basic fields only).
    pub contacts: Vec<ContactOut>,
    /// Its deals the caller can see.
    pub deals: Vec<DealView>,
    /// How many of its contacts the caller cannot see.
    pub hidden_contacts_count: i64,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrganization {
    #[schema(min_length = 1, max_length = 200)]
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters long"))]
    pub name: String,
    #[schema(max_length = 500)]
    #[validate(length(max = 500, message = "must be at most 500 characters long"))]
    pub website: Option<String>,
    #[schema(max_length = 50)]
    #[validate(length(max = 50, message = "must be at most 50 characters long"))]
    pub phone: Option<String>,
    #[schema(max_length = 500)]
    #[validate(length(max = 500, message = "must be at most 500 characters long"))]
    pub address: Option<String>,
    /// Values by key, checked against the account's organization fields.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganizationPatch {
    #[schema(min_length = 1, max_length = 200)]
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters long"))]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    #[schema(max_length = 500)]
    #[validate(length(max = 500, message = "must be at most 500 characters long"))]
    pub website: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    #[schema(max_length = 50)]
    #[validate(length(max = 50, message = "must be at most 50 characters long"))]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    #[schema(max_length = 500)]
    #[validate(length(max = 500, message = "must be at most 500 characters long"))]
    pub address: Option<Option<String>>,
    /// Only the keys sent change; `null` clears one.
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Deserialize, IntoParams, validator::Validate)]
#[into_params(parameter_in = Query)]
pub struct OrganizationFilter {
    /// Substring of the name (case-insensitive for ASCII letters).
    #[param(max_length = 200)]
    #[validate(length(max = 200, message = "must be at most 200 characters long"))]
    pub q: Option<String>,
}
