//! The tenant: settings, deletion and ownership transfer.

pub mod model;
pub mod routes;
