//! Account rows, settings and API shapes.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use crate::access::DefaultContactAccess;
use crate::db::schema::accounts;
use crate::http::utc;

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = accounts)]
pub struct AccountRow {
    pub id: String,
    pub name: String,
    pub default_contact_access: String,
    pub contact_statuses: String,
    pub lead_sources: String,
    pub deal_stages: String,
    pub version: i64,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
    pub call_results: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountSettings {
    /// Level a `user` has on contacts outside their own and their office grants.
    pub default_contact_access: DefaultContactAccess,
    pub contact_statuses: Vec<String>,
    pub lead_sources: Vec<String>,
    pub deal_stages: Vec<String>,
    /// What a call's `result` may be (SPEC §8).
    pub call_results: Vec<String>,
}

impl Default for AccountSettings {
    fn default() -> Self {
        let list = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
        AccountSettings {
            default_contact_access: DefaultContactAccess::Edit,
            contact_statuses: list(&["lead", "prospect", "customer", "inactive"]),
            lead_sources: list(&["website", "referral", "event", "cold_call", "other"]),
            deal_stages: list(&["qualification", "proposal", "negotiation", "closed"]),
            call_results: list(&["connected", "left_voicemail", "no_answer", "busy", "wrong_number"]),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountView {
    pub id: String,
    pub name: String,
    pub settings: AccountSettings,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

fn parse_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

impl AccountRow {
    pub fn settings(&self) -> AccountSettings {
        AccountSettings {
            default_contact_access: DefaultContactAccess::from_stored(&self.default_contact_access),
            contact_statuses: parse_list(&self.contact_statuses),
            lead_sources: parse_list(&self.lead_sources),
            deal_stages: parse_list(&self.deal_stages),
            call_results: parse_list(&self.call_results),
        }
    }

    pub fn view(&self) -> AccountView {
        AccountView {
            id: self.id.clone(),
            name: self.name.clone(),
            settings: self.settings(),
            created_at: utc(self.created_at),
            updated_at: utc(self.updated_at),
            version: self.version,
        }
    }
}

pub fn encode_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

fn validate_choices(items: &[String]) -> Result<(), ValidationError> {
    let mut seen = std::collections::HashSet::new();
    let bad = |msg: &'static str| {
        let mut e = ValidationError::new("choices");
        e.message = Some(msg.into());
        Err(e)
    };
    if items.is_empty() || items.len() > 100 {
        return bad("must list 1 to 100 values");
    }
    for item in items {
        let trimmed = item.trim();
        if trimmed.is_empty() || trimmed.chars().count() > 50 || trimmed != item {
            return bad("values must be 1 to 50 characters without surrounding spaces");
        }
        if !seen.insert(item.to_lowercase()) {
            return bad("values must be unique");
        }
    }
    Ok(())
}

/// Partial settings: only the keys present change.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    pub default_contact_access: Option<DefaultContactAccess>,
    #[schema(value_type = Option<Vec<crate::http::Label>>, min_items = 1, max_items = 100)]
    #[validate(custom(function = "validate_choices"))]
    pub contact_statuses: Option<Vec<String>>,
    #[schema(value_type = Option<Vec<crate::http::Label>>, min_items = 1, max_items = 100)]
    #[validate(custom(function = "validate_choices"))]
    pub lead_sources: Option<Vec<String>>,
    #[schema(value_type = Option<Vec<crate::http::Label>>, min_items = 1, max_items = 100)]
    #[validate(custom(function = "validate_choices"))]
    pub deal_stages: Option<Vec<String>>,
    /// Removing a result leaves existing calls with it as they are; new and changed calls
    /// must use a current one.
    #[schema(value_type = Option<Vec<crate::http::Label>>, min_items = 1, max_items = 100)]
    #[validate(custom(function = "validate_choices"))]
    pub call_results: Option<Vec<String>>,
}

/// Body of `PATCH /v1/account`.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountPatch {
    #[schema(min_length = 1, max_length = 200)]
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters long"))]
    pub name: Option<String>,
    #[validate(nested)]
    pub settings: Option<SettingsPatch>,
}

/// Body of `POST /v1/account/transfer-ownership`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferOwnership {
    /// The active user of this account who becomes the owner.
    pub user_id: uuid::Uuid,
}
