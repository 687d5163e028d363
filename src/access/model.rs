//! The plain-Rust reference model of SPEC §2: the same rule as the SQL fragments in
//! `scope`, written the way the spec reads, with the reasons it applied. The explain
//! endpoint uses the reasons; the model-based tests compare it with what the API does.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{DefaultContactAccess, Level, OfficePermission, Role};

/// What the rule needs to know about the user.
#[derive(Debug, Clone)]
pub struct UserFacts {
    pub id: String,
    pub role: Role,
    pub default_access: DefaultContactAccess,
    /// Office id -> the user's permission there; absent means not a member.
    pub offices: HashMap<String, OfficePermission>,
}

/// What the rule needs to know about the contact.
#[derive(Debug, Clone)]
pub struct ContactFacts {
    pub owner_id: Option<String>,
    pub office_id: Option<String>,
    pub private: bool,
}

/// One step of the rule that decided the level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Reason {
    /// The rule of SPEC §2 that applied: `2.1` (role owner/admin), `2.2` (focused),
    /// `2.3.1` (private), `2.3.2` (ownership), `2.3.3` (unassigned), `2.3.4` (office and
    /// account default).
    pub rule: String,
    /// `role`, `focused_owner`, `focused_not_owner`, `private`, `ownership`,
    /// `unassigned`, `office_membership`, `not_office_member`, `no_office`, `account_default`.
    pub code: String,
    pub detail: String,
    /// The level this step contributes.
    pub level: Level,
}

fn reason(rule: &str, code: &str, level: Level, detail: String) -> Reason {
    Reason { rule: rule.into(), code: code.into(), detail, level }
}

/// The office part of rules 2.3.2 and 2.3.4: the level U's membership in the contact's
/// office gives, with its reason.
fn office_step(user: &UserFacts, contact: &ContactFacts) -> Reason {
    match &contact.office_id {
        None => reason("2.3.4", "no_office", Level::Hidden, "The contact belongs to no office.".into()),
        Some(office) => match user.offices.get(office) {
            None => reason(
                "2.3.4",
                "not_office_member",
                Level::Hidden,
                format!("The user is not a member of the contact's office {office}."),
            ),
            Some(p) => reason(
                "2.3.4",
                "office_membership",
                Level::from(*p),
                format!("The user has permission `{p}` in the contact's office {office}."),
            ),
        },
    }
}

/// The level of `user` on `contact` and the steps that decided it.
pub fn explain(user: &UserFacts, contact: &ContactFacts) -> (Level, Vec<Reason>) {
    let owns = contact.owner_id.as_deref() == Some(user.id.as_str());
    match user.role {
        Role::Owner | Role::Admin => {
            let r = reason("2.1", "role", Level::Manage, format!("Role `{}` has manage on every contact.", user.role));
            (Level::Manage, vec![r])
        }
        Role::Focused if owns => {
            (Level::Edit, vec![reason("2.2", "focused_owner", Level::Edit, "A focused user owns this contact.".into())])
        }
        Role::Focused => (
            Level::Hidden,
            vec![reason(
                "2.2",
                "focused_not_owner",
                Level::Hidden,
                "A focused user sees only contacts they own.".into(),
            )],
        ),
        Role::User if contact.private && !owns => (
            Level::Hidden,
            vec![reason("2.3.1", "private", Level::Hidden, "The contact is private and owned by someone else.".into())],
        ),
        Role::User if owns => {
            let own = reason("2.3.2", "ownership", Level::Edit, "The user owns the contact.".into());
            let office = office_step(user, contact);
            let level = own.level.max(office.level);
            (level, vec![own, office])
        }
        Role::User if contact.owner_id.is_none() && contact.office_id.is_none() => (
            Level::Edit,
            vec![reason("2.3.3", "unassigned", Level::Edit, "The contact has neither owner nor office.".into())],
        ),
        Role::User => {
            let default = Level::from(user.default_access);
            let account = reason(
                "2.3.4",
                "account_default",
                default,
                format!("The account's default_contact_access is `{}`.", user.default_access),
            );
            let office = office_step(user, contact);
            let level = account.level.max(office.level);
            (level, vec![account, office])
        }
    }
}

pub fn level(user: &UserFacts, contact: &ContactFacts) -> Level {
    explain(user, contact).0
}
