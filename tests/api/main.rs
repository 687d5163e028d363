#![allow(clippy::unwrap_used, clippy::expect_used)] // tests assert by panicking
//! Black-box tests through the real HTTP app on SQLite and, when TEST_DATABASE_URL is
//! set, on PostgreSQL too. One binary for all of them (one link, shared build).

mod helpers;

mod access_model;
mod access_rule;
mod account;
mod api_tokens;
mod auth;
mod cli;
mod contacts;
mod custom_fields;
mod derived;
mod errors;
mod hostile;
mod metrics;
mod notes_calls;
mod offices;
mod openapi;
mod replicas;
mod robustness;
mod saved_filters;
mod scim;
mod sso;
mod sso_login;
mod sync;
mod throttle;
mod users;
mod webhook_events;
mod webhook_model;
mod webhooks;

/// CI must exercise PostgreSQL: a CI run without TEST_DATABASE_URL fails here instead
/// of passing on SQLite alone.
#[test]
fn ci_runs_postgres() {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        assert!(
            std::env::var("TEST_DATABASE_URL").is_ok_and(|v| !v.is_empty()),
            "CI=true but TEST_DATABASE_URL is not set"
        );
    }
}
