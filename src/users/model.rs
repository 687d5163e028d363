//! User rows and API shapes.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::access::{OfficePermission, Privilege, Privileges, Role};
use crate::db::schema::users;
use crate::http::utc;

#[derive(Debug, Clone, PartialEq, Queryable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub account_id: String,
    pub email: String,
    pub email_lower: String,
    pub password_hash: String,
    pub first_name: String,
    pub last_name: String,
    pub role: String,
    pub privileges: i64,
    pub active: bool,
    pub version: i64,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
}

impl UserRow {
    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::Focused)
    }
}

/// A user as the API shows it. `privileges`, `created_at`, `updated_at` and `version` are
/// shown to the owner, admins and the user itself; other members see the basic fields.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub role: Role,
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileges: Option<Vec<Privilege>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

impl UserView {
    pub fn full(row: &UserRow) -> Self {
        let role = row.role();
        // Owner and admin implicitly hold every privilege; the list says so.
        let privileges = if role.is_manager() { Privilege::ALL.to_vec() } else { Privileges(row.privileges).to_list() };
        UserView {
            id: row.id.clone(),
            email: row.email.clone(),
            first_name: row.first_name.clone(),
            last_name: row.last_name.clone(),
            role,
            active: row.active,
            privileges: Some(privileges),
            created_at: Some(utc(row.created_at)),
            updated_at: Some(utc(row.updated_at)),
            version: Some(row.version),
        }
    }

    pub fn basic(row: &UserRow) -> Self {
        UserView { privileges: None, created_at: None, updated_at: None, version: None, ..UserView::full(row) }
    }
}

fn validate_password(password: &str) -> Result<(), validator::ValidationError> {
    let chars = password.chars().count();
    if !(8..=256).contains(&chars) {
        let mut e = validator::ValidationError::new("password");
        e.message = Some("must be 8 to 256 characters long".into());
        return Err(e);
    }
    Ok(())
}

/// Body of `POST /v1/users`. `role` may not be `owner` (see transfer-ownership).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    #[schema(max_length = 254, format = Email)]
    #[validate(email(message = "must be a valid email address"), length(max = 254))]
    pub email: String,
    #[schema(min_length = 8, max_length = 256)]
    #[validate(custom(function = "validate_password"))]
    pub password: String,
    #[schema(min_length = 1, max_length = 100)]
    #[validate(length(min = 1, max = 100, message = "must be 1 to 100 characters long"))]
    pub first_name: String,
    #[schema(min_length = 1, max_length = 100)]
    #[validate(length(min = 1, max = 100, message = "must be 1 to 100 characters long"))]
    pub last_name: String,
    pub role: Role,
    #[serde(default)]
    pub privileges: Vec<Privilege>,
}

/// Body of `PATCH /v1/users/{id}`: every field optional.
#[derive(Debug, Clone, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[schema(max_length = 254, format = Email)]
    #[validate(email(message = "must be a valid email address"), length(max = 254))]
    pub email: Option<String>,
    /// Sets a new password for the user (admin reset).
    #[schema(min_length = 8, max_length = 256)]
    #[validate(custom(function = "validate_password"))]
    pub password: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    #[validate(length(min = 1, max = 100, message = "must be 1 to 100 characters long"))]
    pub first_name: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    #[validate(length(min = 1, max = 100, message = "must be 1 to 100 characters long"))]
    pub last_name: Option<String>,
    pub role: Option<Role>,
    /// Replaces the whole privilege set.
    pub privileges: Option<Vec<Privilege>>,
    pub active: Option<bool>,
}

/// Body of `PATCH /v1/me`. Changing `password` or `email` needs `current_password`.
#[derive(Debug, Clone, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MePatch {
    #[schema(max_length = 254, format = Email)]
    #[validate(email(message = "must be a valid email address"), length(max = 254))]
    pub email: Option<String>,
    #[schema(min_length = 8, max_length = 256)]
    #[validate(custom(function = "validate_password"))]
    pub password: Option<String>,
    pub current_password: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    #[validate(length(min = 1, max = 100, message = "must be 1 to 100 characters long"))]
    pub first_name: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    #[validate(length(min = 1, max = 100, message = "must be 1 to 100 characters long"))]
    pub last_name: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum UserBulkOp {
    GrantPrivileges,
    RevokePrivileges,
    SetActive,
    SetOfficePermission,
}

/// Body of `POST /v1/users/bulk`. `value` depends on `op`: a list of privileges for
/// `grant_privileges`/`revoke_privileges`, a boolean for `set_active`, and
/// `{"office_id": "…", "permission": "view"}` for `set_office_permission`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserBulk {
    #[schema(min_items = 1, max_items = 500)]
    #[validate(length(min = 1, max = 500, message = "must list 1 to 500 ids"))]
    pub ids: Vec<uuid::Uuid>,
    pub op: UserBulkOp,
    #[schema(value_type = serde_json::Value)]
    pub value: serde_json::Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfficePermissionValue {
    pub office_id: uuid::Uuid,
    pub permission: OfficePermission,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BulkOutcome {
    Ok,
    NotFound,
    Forbidden,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BulkItemResult {
    pub id: String,
    pub result: BulkOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BulkResult {
    pub results: Vec<BulkItemResult>,
}

/// Filters of `GET /v1/users`.
#[derive(Debug, Deserialize, utoipa::IntoParams, validator::Validate)]
#[into_params(parameter_in = Query)]
pub struct UserFilter {
    /// Only users with this role.
    pub role: Option<crate::access::Role>,
    /// Only active (or only deactivated) users.
    pub active: Option<bool>,
}
