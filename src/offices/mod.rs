//! Offices (locations) and per-office membership grants.

pub mod memberships;
pub mod model;
pub mod routes;
