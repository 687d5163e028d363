//! Notes and calls (SPEC §8): what was said about a contact. Both follow the contact's
//! access (visible and created with `view`; changed by their author while the author sees
//! the contact at `view`, or with `edit`; deleted by their author or owner/admin), carry
//! mentions, and appear on the contact's timeline. They share one table and one set of
//! queries; `Kind` tells them apart.

pub mod model;
pub mod queries;
pub mod routes;
