//! Users of an account, the caller's own profile, and the roles catalogue.

pub mod model;
pub mod queries;
pub mod routes;
