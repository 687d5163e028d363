//! The tenant: settings, deletion and ownership transfer.

pub mod model;
pub mod queries;
pub mod routes;
