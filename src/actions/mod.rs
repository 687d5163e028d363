//! Actions (next steps / tasks): visible with `view` on the contact, created with `view`,
//! updated or completed by the assignee or with `edit`, deleted with `edit`.

pub mod model;
pub mod queries;
pub mod routes;
