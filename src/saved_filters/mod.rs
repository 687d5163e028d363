//! Saved filters (SPEC §9): a named list query for contacts, deals or actions, private to
//! its owner or shared with the account, checked with the list's own rules when saved and
//! run, and always run under the access of the user who runs it.

pub mod model;
pub mod queries;
pub mod routes;
