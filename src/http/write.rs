//! Versioned writes: ETags, `If-Match`, the lost-race policy, `201 Created`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use crate::error::AppError;

/// Every round of racing writers lets at least one of them win, so N concurrent writers of
/// one row need at most N attempts: 5 was too few for the ten of the lost-race test on a
/// loaded machine (409 seen once).
const ATTEMPTS: usize = 16;

/// The one policy for a write that lost a race, for every resource: `attempt` reads the
/// row, checks and writes it with `UPDATE … WHERE id AND version AND <scope>`, and answers
/// `None` when no row matched because another transaction changed it in between. With
/// `If-Match` (`expected`) that is a 412; without, the change is applied again on top of
/// the other one (PostgreSQL's read-committed transactions can meet it), up to
/// `ATTEMPTS` times.
pub fn optimistic<T>(
    expected: Option<i64>,
    mut attempt: impl FnMut() -> Result<Option<T>, AppError>,
) -> Result<T, AppError> {
    for _ in 0..ATTEMPTS {
        match attempt()? {
            Some(done) => return Ok(done),
            None if expected.is_some() => return Err(AppError::PreconditionFailed),
            None => continue,
        }
    }
    Err(AppError::Conflict("The record kept changing concurrently; try again.".into()))
}

/// Strong ETag of a versioned record.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// The version an `If-Match` header asks for: `None` when absent or `*`.
/// A header that names no version of ours can never match, so it is a 412.
pub fn if_match(req: &HttpRequest) -> Result<Option<i64>, AppError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| AppError::PreconditionFailed)?.trim();
    if text == "*" {
        return Ok(None);
    }
    let tag = text.strip_prefix("W/").unwrap_or(text);
    tag.trim_matches('"').parse::<i64>().map(Some).map_err(|_| AppError::PreconditionFailed)
}

/// Checks `If-Match` against the version the caller is about to change.
pub fn check_if_match(req: &HttpRequest, current: i64) -> Result<(), AppError> {
    check_version(if_match(req)?, current)
}

pub fn ok_with_etag<T: Serialize>(version: i64, body: &T) -> HttpResponse {
    HttpResponse::Ok().insert_header((header::ETAG, etag(version))).json(body)
}

/// `201 Created` with `Location`, and with the `ETag` of a versioned record: the one way
/// every create answers.
pub fn created<T: Serialize>(location: String, version: Option<i64>, body: &T) -> HttpResponse {
    let mut resp = HttpResponse::Created();
    resp.insert_header((header::LOCATION, location));
    if let Some(v) = version {
        resp.insert_header((header::ETAG, etag(v)));
    }
    resp.json(body)
}

/// 412 when `If-Match` named a version other than the one about to change.
pub fn check_version(expected: Option<i64>, current: i64) -> Result<(), AppError> {
    match expected {
        Some(v) if v != current => Err(AppError::PreconditionFailed),
        _ => Ok(()),
    }
}
