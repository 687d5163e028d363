//! Offices (locations) and per-office membership grants.

pub mod model;
pub mod queries;
pub mod routes;
