//! The caller's own notifications.

pub mod model;
pub mod queries;
pub mod routes;
