//! Saved filter rows and API shapes.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::db::schema::saved_filters;
use crate::http::utc;

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = saved_filters)]
pub struct SavedFilterRow {
    pub id: String,
    pub account_id: String,
    pub owner_id: String,
    pub name: String,
    pub entity: String,
    pub query: String,
    pub shared: bool,
    pub version: i64,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
}

/// The list a filter runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FilterEntity {
    Contacts,
    Deals,
    Actions,
}

impl FilterEntity {
    pub fn as_str(self) -> &'static str {
        match self {
            FilterEntity::Contacts => "contacts",
            FilterEntity::Deals => "deals",
            FilterEntity::Actions => "actions",
        }
    }

    pub fn parse(text: &str) -> FilterEntity {
        match text {
            "deals" => FilterEntity::Deals,
            "actions" => FilterEntity::Actions,
            _ => FilterEntity::Contacts,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01938a6e-7c2a-7d3e-9c1b-4f5e6a7b8c91", "owner_id": "01938a6e-0000-7000-8000-0000000000a1",
    "name": "Hot software leads", "entity": "contacts",
    "query": {"status": "lead", "cf.industry": "software", "sort": "-updated_at"}, "shared": true,
    "created_at": "2026-12-02T09:00:00Z", "updated_at": "2026-12-02T09:00:00Z", "version": 1
}))]
pub struct SavedFilterView {
    pub id: String,
    pub owner_id: String,
    pub name: String,
    pub entity: FilterEntity,
    /// The list's query parameters (not paging), each a string.
    #[schema(value_type = Object)]
    pub query: Map<String, Value>,
    pub shared: bool,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl From<&SavedFilterRow> for SavedFilterView {
    fn from(r: &SavedFilterRow) -> Self {
        SavedFilterView {
            id: r.id.clone(),
            owner_id: r.owner_id.clone(),
            name: r.name.clone(),
            entity: FilterEntity::parse(&r.entity),
            query: serde_json::from_str(&r.query).unwrap_or_default(),
            shared: r.shared,
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
            version: r.version,
        }
    }
}

/// Body of `POST /v1/saved-filters`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Hot software leads", "entity": "contacts",
                          "query": {"status": "lead", "cf.industry": "software"}, "shared": true}))]
pub struct NewSavedFilter {
    #[schema(min_length = 1, max_length = 200)]
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters long"))]
    pub name: String,
    pub entity: FilterEntity,
    /// Parameters of `GET /v1/<entity>` (strings, numbers or booleans), without paging.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub query: Map<String, Value>,
    /// Visible to (and runnable by) everyone in the account.
    #[serde(default)]
    pub shared: bool,
}

/// Body of `PATCH /v1/saved-filters/{id}`; `entity` never changes.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SavedFilterPatch {
    #[schema(min_length = 1, max_length = 200)]
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters long"))]
    pub name: Option<String>,
    /// Replaces the whole query.
    #[schema(value_type = Option<Object>)]
    pub query: Option<Map<String, Value>>,
    pub shared: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct SavedFilterFilter {
    pub entity: Option<FilterEntity>,
}

/// What `GET /v1/saved-filters/{id}/results` answers: the page of the list it runs, with
/// `entity` naming that list (so clients narrow on it).
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "entity", rename_all = "snake_case")]
pub enum SavedFilterResults {
    Contacts(crate::contacts::list::ContactPage),
    Deals(crate::http::Page<crate::deals::model::DealView>),
    Actions(crate::http::Page<crate::actions::model::ActionView>),
}
