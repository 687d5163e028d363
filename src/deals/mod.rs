//! Deals: visible where the caller sees the deal's contact at `view`, written with `edit`.

pub mod model;
pub mod queries;
pub mod routes;
