//! Query strings: checked once for every request, then parsed per endpoint.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use validator::Validate;

use crate::error::AppError;

/// The longest single query-string value the service reads (bytes, once decoded); every
/// documented text parameter is shorter, so anything longer is a client error.
pub const QUERY_VALUE_MAX: usize = 2_000;

/// Checks a request's raw query string before any route sees it, for every endpoint at
/// once: each key and value must percent-decode to UTF-8 without NUL characters
/// (PostgreSQL text cannot hold NUL, and SQLite would cut a pattern short at it) and stay
/// under `QUERY_VALUE_MAX`. A malformed query is a 400 naming the parameter.
pub fn check_query_string(raw: &str) -> Result<(), AppError> {
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |part: &str| {
            let spaced = part.replace('+', " ");
            percent_encoding::percent_decode_str(&spaced).decode_utf8().map(|t| t.into_owned())
        };
        let name = decode(key).unwrap_or_else(|_| key.to_owned());
        let bad = |why: &str| AppError::BadRequest(format!("Query parameter `{}` {why}.", name.escape_default()));
        let key_text = decode(key).map_err(|_| bad("is not valid UTF-8 once percent-decoded"))?;
        let value_text = decode(value).map_err(|_| bad("is not valid UTF-8 once percent-decoded"))?;
        if key_text.contains('\0') || value_text.contains('\0') {
            return Err(bad("must not contain NUL characters"));
        }
        if value_text.len() > QUERY_VALUE_MAX {
            return Err(bad(&format!("is longer than {QUERY_VALUE_MAX} bytes")));
        }
    }
    Ok(())
}

/// Query parameters of one endpoint: parsed (a malformed or repeated parameter is a 400)
/// and checked against their documented bounds (`validator` rules; 400 naming the
/// parameter, since it is the query that is malformed, not a body).
pub struct Query<T>(pub T);

impl<T> Query<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Query<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + Validate> FromRequest for Query<T> {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(parse_query(req.query_string()).map(Query))
    }
}

/// Parses and checks one endpoint's parameters from a raw query string (also used to check a
/// saved filter's query with the rules of the list it runs).
pub fn parse_query<T: DeserializeOwned + Validate>(raw: &str) -> Result<T, AppError> {
    let value: T =
        serde_urlencoded::from_str(raw).map_err(|e| AppError::BadRequest(format!("Malformed query string: {e}.")))?;
    value.validate().map_err(|errors| match AppError::from(errors) {
        AppError::Validation(fields) => {
            let text: Vec<String> = fields.iter().map(|(k, v)| format!("`{k}` {}", v.join("; "))).collect();
            AppError::BadRequest(format!("Invalid query parameters: {}.", text.join(", ")))
        }
        other => other,
    })?;
    Ok(value)
}

/// Where a deletion moves what depended on the deleted record: another record's id, or
/// `none`. Anything else in the query is a 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Nobody,
    To(String),
}

impl Target {
    pub fn id(&self) -> Option<&str> {
        match self {
            Target::Nobody => None,
            Target::To(id) => Some(id),
        }
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Target, D::Error> {
        let text = String::deserialize(de)?;
        if text == "none" {
            return Ok(Target::Nobody);
        }
        uuid::Uuid::parse_str(&text)
            .map(|u| Target::To(u.to_string()))
            .map_err(|_| serde::de::Error::custom("expected an id or `none`"))
    }
}
