//! Request and response plumbing shared by every resource, by concern: JSON bodies,
//! query strings, edge value types, versioned writes, keyset pages, ids and time.

mod client_ip;
mod json;
mod page;
mod query;
mod seal;
mod time;
mod types;
mod write;

pub use client_ip::TrustedProxies;
pub use json::{double_option, integral, parse_json, BodyErrors, ValidJson};
pub use page::{decode_id_cursor, encode_id_cursor, page_by_id, parse_since, Page, PageKeys, PageParams, PageRows};
pub use query::{check_query_string, parse_query, Query, Target, QUERY_VALUE_MAX};
pub use seal::Sealer;
pub use time::{new_id, now, rfc3339, utc};
pub use types::{Date, Label};
pub use write::{check_if_match, check_version, created, etag, if_match, ok_with_etag, optimistic};
