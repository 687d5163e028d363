//! crm-api: a multi-tenant CRM backend whose access rules live in SQL.

pub mod access;
pub mod account;
pub mod actions;
pub mod app;
pub mod audit;
pub mod auth;
pub mod config;
pub mod contacts;
pub mod custom_fields;
pub mod db;
pub mod deals;
pub mod error;
pub mod health;
pub mod http;
pub mod idempotency;
pub mod interactions;
pub mod notifications;
pub mod offices;
pub mod openapi;
pub mod organizations;
pub mod refs;
pub mod saved_filters;
pub mod seed;
pub mod state;
pub mod users;
pub mod webhooks;
