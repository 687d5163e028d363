//! Organizations (companies). Owner, admin and user see all of the account's; a focused
//! user sees those with at least one contact they own.

pub mod model;
pub mod queries;
pub mod routes;
