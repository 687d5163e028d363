//! Custom fields (SPEC §9): owner/admin define typed fields per entity (contact, deal,
//! organization); values are validated on every entry path, stored in the record's
//! `custom_fields` object and indexed in `custom_values` for the `cf.` list filters.
//! A `limited` contact never shows them and cannot be found by them.

pub mod model;
pub mod queries;
pub mod routes;
