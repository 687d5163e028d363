//! Webhooks (SPEC §10): subscriptions that act as their creator, an outbox written in the
//! transaction of each change, and delivery workers that sign with Standard Webhooks.

pub mod model;
pub mod outbox;
pub mod queries;
pub mod routes;
pub mod target;
pub mod worker;
