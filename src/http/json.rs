//! JSON bodies checked at the edge, and the field helpers their types use.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use validator::Validate;

use crate::error::AppError;
use crate::state::AppState;

/// JSON body that is checked at the edge: content type (415), size (413), syntax (400),
/// shape and unknown fields (422 naming the field), then `validator` rules (422).
pub struct ValidJson<T>(pub T);

impl<T: DeserializeOwned + Validate + 'static> FromRequest for ValidJson<T> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req.app_data::<web::Data<AppState>>().map(|s| s.settings.json_body_limit).unwrap_or(1024 * 1024);
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                let essence = v.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
                essence == "application/json" || essence.ends_with("+json")
            })
            .unwrap_or(false);
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if !is_json {
                return Err(AppError::UnsupportedMediaType);
            }
            if declared.is_some_and(|n| n > limit) {
                return Err(AppError::PayloadTooLarge);
            }
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| AppError::BadRequest(format!("cannot read body: {e}")))?;
                if body.len() + chunk.len() > limit {
                    return Err(AppError::PayloadTooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            let value = parse_json::<T>(&body)?;
            // Every body is a JSON object: serde would also read a struct from an array.
            if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
                return Err(AppError::field("body", "must be a JSON object"));
            }
            value.validate()?;
            Ok(ValidJson(value))
        })
    }
}

/// Syntax errors are 400; well-formed JSON of the wrong shape is 422 with the field path
/// (unknown and duplicate fields included).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    // Well-formedness first, so `{} trailing` is a 400 whatever the target type wants.
    let document: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| AppError::BadRequest(format!("Malformed JSON: {e}")))?;
    // PostgreSQL text cannot hold NUL; refuse it the same way on every backend.
    if let Some(path) = find_nul(&document, String::new()) {
        let field = if path.is_empty() { "body".to_owned() } else { path };
        return Err(AppError::field(&field, "must not contain NUL characters"));
    }
    // From the bytes, not the parsed document: a repeated key must not silently collapse.
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let field = if path == "." || path.is_empty() { "body".to_owned() } else { path };
        AppError::field(&field, strip_position(&err.into_inner().to_string()))
    })
}

fn find_nul(value: &serde_json::Value, path: String) -> Option<String> {
    use serde_json::Value;
    let join = |key: &str| if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") };
    match value {
        Value::String(s) if s.contains('\0') => Some(path),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| find_nul(v, format!("{path}[{i}]"))),
        Value::Object(map) => {
            map.iter().find_map(|(k, v)| if k.contains('\0') { Some(join("body")) } else { find_nul(v, join(k)) })
        }
        _ => None,
    }
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// For PATCH fields: absent -> `None`, `null` -> `Some(None)`, a value -> `Some(Some(v))`.
pub fn double_option<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

/// JSON Schema's `integer` includes numbers written with a zero fraction (`3.0`); serde's
/// `i64` does not. Fields the document calls integers accept both.
pub mod integral {
    use serde::{de::Error, Deserialize, Deserializer};

    fn to_i64<E: Error>(n: serde_json::Number) -> Result<i64, E> {
        if let Some(i) = n.as_i64() {
            return Ok(i);
        }
        match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 => Ok(f as i64),
            _ => Err(E::custom(format!("invalid value: {n}, expected an integer"))),
        }
    }

    pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        to_i64(serde_json::Number::deserialize(d)?)
    }

    pub fn option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Option::<serde_json::Number>::deserialize(d)?.map(to_i64).transpose()
    }

    /// A nullable integer of a PATCH body (`http::double_option`'s three cases).
    pub fn double_option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
        option(d).map(Some)
    }
}

/// What every endpoint that reads a JSON body may answer about the body itself (listed in
/// each operation's responses as `BodyErrors`; the 422 of its fields stays per operation).
#[derive(utoipa::IntoResponses)]
pub enum BodyErrors {
    #[response(status = 400, description = "Malformed JSON")]
    Malformed,
    #[response(status = 413, description = "Body too large")]
    TooLarge,
    #[response(status = 415, description = "Body is not JSON")]
    NotJson,
}
