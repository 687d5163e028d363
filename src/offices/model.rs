use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::access::OfficePermission;
use crate::db::schema::offices;
use crate::http::{double_option, utc};

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = offices)]
pub struct OfficeRow {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub address: Option<String>,
    pub version: i64,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OfficeView {
    pub id: String,
    pub name: String,
    pub address: Option<String>,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl From<&OfficeRow> for OfficeView {
    fn from(r: &OfficeRow) -> Self {
        OfficeView {
            id: r.id.clone(),
            name: r.name.clone(),
            address: r.address.clone(),
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
            version: r.version,
        }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOffice {
    #[schema(min_length = 1, max_length = 200)]
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters long"))]
    pub name: String,
    #[schema(max_length = 500)]
    #[validate(length(max = 500, message = "must be at most 500 characters long"))]
    pub address: Option<String>,
}

/// Body of `PATCH /v1/offices/{id}`; `address: null` clears the address.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfficePatch {
    #[schema(min_length = 1, max_length = 200)]
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters long"))]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    #[schema(max_length = 500)]
    #[validate(length(max = 500, message = "must be at most 500 characters long"))]
    pub address: Option<Option<String>>,
}

/// A user's permission in one office.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Membership {
    pub user_id: String,
    pub office_id: String,
    pub permission: OfficePermission,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembershipIn {
    pub permission: OfficePermission,
}
