//! Roles, privileges and office permissions of SPEC §1 and §2.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum! {
    /// Account role of a user.
    Role { Owner = "owner", Admin = "admin", User = "user", Focused = "focused" }
}

text_enum! {
    /// Per-user privilege; owner and admin implicitly hold all of them.
    Privilege {
        OwnPrivateContacts = "own_private_contacts",
        Export = "export",
        DownloadVcard = "download_vcard",
        DeleteDeals = "delete_deals",
        ViewPipeline = "view_pipeline",
        EditDealItems = "edit_deal_items",
        ViewActivity = "view_activity",
        BulkUpdateStatus = "bulk_update_status",
        BulkUpdateOwner = "bulk_update_owner",
    }
}

text_enum! {
    /// A user's permission in one office.
    OfficePermission { None = "none", View = "view", Edit = "edit", Manage = "manage" }
}

text_enum! {
    /// Access level of a user on a contact, lowest to highest.
    Level { Hidden = "hidden", Limited = "limited", View = "view", Edit = "edit", Manage = "manage" }
}

text_enum! {
    /// The account-wide level for contacts outside a user's own and office grants.
    DefaultContactAccess { Hidden = "hidden", Limited = "limited", View = "view", Edit = "edit" }
}

impl DefaultContactAccess {
    /// The stored setting; an unknown or missing value fails closed (`hidden`), never open.
    /// The database refuses unknown values too (CHECK constraint / triggers).
    pub fn from_stored(text: &str) -> DefaultContactAccess {
        DefaultContactAccess::parse(text).unwrap_or(DefaultContactAccess::Hidden)
    }
}

/// How far a role reaches where SPEC §1's table says more than yes or no.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Everything of the account.
    All,
    /// As the rules of SPEC §2 say.
    Rules,
    /// Only what the user owns.
    Own,
    /// Only with a privilege (`view_activity`).
    Privilege,
    Nothing,
}

/// SPEC §1's table of roles, in one place: every check of a role reads it, and so does
/// `GET /v1/roles`.
impl Role {
    /// Owner and admin manage users, offices, settings, custom fields and SSO, and see
    /// every contact at `manage`.
    pub fn is_manager(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }

    /// Deleting the account and transferring ownership.
    pub fn owns_account(self) -> bool {
        self == Role::Owner
    }

    /// Personal API tokens (and webhooks): every role but focused.
    pub fn may_hold_tokens(self) -> bool {
        self != Role::Focused
    }

    /// Which contacts the role reaches.
    pub fn contacts(self) -> Reach {
        match self {
            Role::Owner | Role::Admin => Reach::All,
            Role::User => Reach::Rules,
            Role::Focused => Reach::Own,
        }
    }

    /// Which contacts the role may delete.
    pub fn deletes_contacts(self) -> Reach {
        match self {
            Role::Owner | Role::Admin => Reach::All,
            Role::User => Reach::Nothing,
            Role::Focused => Reach::Own,
        }
    }

    /// The account's activity stream.
    pub fn activity(self) -> Reach {
        match self {
            Role::Owner | Role::Admin => Reach::All,
            Role::User => Reach::Privilege,
            Role::Focused => Reach::Nothing,
        }
    }

    /// Privileges the role holds without a grant.
    pub fn privileges_held(self) -> Vec<Privilege> {
        if self.is_manager() {
            Privilege::ALL.to_vec()
        } else {
            Vec::new()
        }
    }

    /// Privileges owner/admin may grant to a user of this role (`view_activity` to `user`
    /// only; managers hold them all already).
    pub fn privileges_grantable(self) -> Vec<Privilege> {
        match self {
            Role::Owner | Role::Admin => Vec::new(),
            Role::User => Privilege::ALL.to_vec(),
            Role::Focused => Privilege::ALL.iter().copied().filter(|p| *p != Privilege::ViewActivity).collect(),
        }
    }
}

impl Privilege {
    fn bit(self) -> i64 {
        1 << (self as u32)
    }
}

/// A set of privileges, stored as a bit mask in `users.privileges`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Privileges(pub i64);

impl Privileges {
    pub fn contains(self, p: Privilege) -> bool {
        self.0 & p.bit() != 0
    }

    pub fn with(self, p: Privilege) -> Self {
        Privileges(self.0 | p.bit())
    }

    pub fn without(self, p: Privilege) -> Self {
        Privileges(self.0 & !p.bit())
    }

    pub fn from_list(list: &[Privilege]) -> Self {
        list.iter().fold(Privileges::default(), |acc, p| acc.with(*p))
    }

    pub fn to_list(self) -> Vec<Privilege> {
        Privilege::ALL.iter().copied().filter(|p| self.contains(*p)).collect()
    }
}

impl Level {
    /// The integer the SQL fragments compute: hidden 0 … manage 4.
    pub fn rank(self) -> i32 {
        self as i32
    }

    pub fn from_rank(rank: i32) -> Level {
        match rank {
            i32::MIN..=0 => Level::Hidden,
            1 => Level::Limited,
            2 => Level::View,
            3 => Level::Edit,
            _ => Level::Manage,
        }
    }
}

impl OfficePermission {
    /// Stored in `office_memberships.level`: the contact level the grant gives.
    pub fn level(self) -> i32 {
        Level::from(self).rank()
    }

    pub fn from_level(level: i32) -> OfficePermission {
        match Level::from_rank(level) {
            Level::Hidden | Level::Limited => OfficePermission::None,
            Level::View => OfficePermission::View,
            Level::Edit => OfficePermission::Edit,
            Level::Manage => OfficePermission::Manage,
        }
    }
}

impl From<OfficePermission> for Level {
    fn from(p: OfficePermission) -> Level {
        match p {
            OfficePermission::None => Level::Hidden,
            OfficePermission::View => Level::View,
            OfficePermission::Edit => Level::Edit,
            OfficePermission::Manage => Level::Manage,
        }
    }
}

impl From<DefaultContactAccess> for Level {
    fn from(d: DefaultContactAccess) -> Level {
        match d {
            DefaultContactAccess::Hidden => Level::Hidden,
            DefaultContactAccess::Limited => Level::Limited,
            DefaultContactAccess::View => Level::View,
            DefaultContactAccess::Edit => Level::Edit,
        }
    }
}
