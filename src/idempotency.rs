//! `Idempotency-Key` on every creating `POST` (SPEC §10): one middleware for all of them,
//! state in the database (`idempotency_keys`), so every replica gives the same answer.
//!
//! The first request with a key claims it (a row with no answer yet, in its own short
//! transaction, so a concurrent second request sees it and gets a 409), runs as usual and
//! leaves its answer in the row; the same key with the same request within 24 h gets that
//! answer again (`Idempotent-Replayed: true`), with another request a 422. An answer that
//! says nothing about the request (5xx, 401, 429) is not kept: the key is freed so a retry
//! runs again, which is safe because every write is one transaction that was rolled back.
//! A process killed between its commit and keeping the answer leaves the key claimed
//! until `LEASE_SECS` pass; a retry then runs again (README: the one window where work can
//! happen twice).

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{to_bytes, BoxBody, EitherBody, MessageBody};
use actix_web::dev::{forward_ready, ResourceDef, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, HttpMessage, HttpResponse, ResponseError};
use diesel::prelude::*;
use futures_util::future::{Either, MapOk};
use futures_util::{StreamExt, TryFutureExt};
use sha2::{Digest, Sha256};

use crate::auth::Caller;
use crate::db::schema::idempotency_keys as ik;
use crate::db::{self, DbConnection};
use crate::error::AppError;
use crate::state::AppState;

pub const HEADER: &str = "idempotency-key";
/// Set on an answer that is a stored one.
pub const REPLAYED: &str = "idempotent-replayed";
pub const KEY_MAX: usize = 255;
/// How long a claimed key with no answer stays busy (longer than any request runs).
pub const LEASE_SECS: i64 = 300;
/// How long a key and its answer are kept.
pub const KEEP_HOURS: i64 = 24;

/// Signup creates the account and its owner: there is no user yet to keep a key for.
const NOT_IDEMPOTENT: &[&str] = &["/v1/auth/signup", "/scim/v2/Users", "/scim/v2/Users/.search", "/scim/v2/.search"];
/// Creating `POST`s that answer 200 (the import reports per row).
const ALSO_CREATING: &[&str] = &["/v1/contacts/import"];

/// The paths whose `POST` creates something: those the document says answer `201`, and
/// the import. The middleware and the OpenAPI document both take them from here.
pub fn creating_paths(doc: &utoipa::openapi::OpenApi) -> Vec<String> {
    doc.paths
        .paths
        .iter()
        .filter(|(path, item)| {
            let creates = item.post.as_ref().is_some_and(|op| op.responses.responses.contains_key("201"));
            (creates || ALSO_CREATING.contains(&path.as_str())) && !NOT_IDEMPOTENT.contains(&path.as_str())
        })
        .map(|(path, _)| path.clone())
        .collect()
}

/// The creating paths, matched against each `POST` that carries the header.
#[derive(Clone)]
pub struct CreatingPaths(Arc<Vec<ResourceDef>>);

impl CreatingPaths {
    pub fn of(doc: &utoipa::openapi::OpenApi) -> CreatingPaths {
        CreatingPaths(Arc::new(creating_paths(doc).iter().map(|p| ResourceDef::new(p.as_str())).collect()))
    }

    fn contains(&self, path: &str) -> bool {
        self.0.iter().any(|def| def.is_match(path))
    }
}

/// The key as sent: 1 to 255 visible ASCII characters.
fn parse_key(value: &header::HeaderValue) -> Result<String, AppError> {
    let bad =
        || AppError::BadRequest(format!("Idempotency-Key must be 1 to {KEY_MAX} visible ASCII characters (SPEC §10)."));
    let text = value.to_str().map_err(|_| bad())?;
    if text.is_empty() || text.len() > KEY_MAX || !text.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return Err(bad());
    }
    Ok(text.to_owned())
}

/// What the database says about a key.
enum Claim {
    /// Ours to run; the user it is kept for.
    Claimed(String),
    Replay(Stored),
    /// The first request with this key is still running.
    Busy,
    /// Used before for another request.
    Mismatch,
    /// No valid caller: the handler answers (401) and nothing is kept.
    Anonymous,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct StoredHeaders {
    content_type: Option<String>,
    location: Option<String>,
    etag: Option<String>,
}

struct Stored {
    status: i32,
    headers: StoredHeaders,
    body: String,
}

type KeyRow = (String, Option<i32>, Option<String>, Option<String>, chrono::NaiveDateTime);

fn claim(conn: &mut DbConnection, caller: Caller, key: String, digest: String) -> Result<Claim, AppError> {
    let user_id = match caller.load(conn) {
        Ok(actor) => actor.user_id().to_owned(),
        Err(AppError::Unauthorized(_)) => return Ok(Claim::Anonymous),
        Err(e) => return Err(e),
    };
    let now = crate::http::now();
    let lease = now + chrono::Duration::seconds(LEASE_SECS);
    // Expired keys go first (every user's: an index range, usually empty), so an old key
    // is free again.
    diesel::delete(ik::table.filter(ik::created_at.lt(now - chrono::Duration::hours(KEEP_HOURS)))).execute(conn)?;
    let row = (
        ik::user_id.eq(&user_id),
        ik::key.eq(&key),
        ik::request_digest.eq(&digest),
        ik::locked_until.eq(lease),
        ik::created_at.eq(now),
    );
    let inserted = match conn {
        DbConnection::Pg(c) => diesel::insert_into(ik::table).values(row).on_conflict_do_nothing().execute(c),
        DbConnection::Sqlite(c) => diesel::insert_into(ik::table).values(row).on_conflict_do_nothing().execute(c),
    }?;
    if inserted == 1 {
        return Ok(Claim::Claimed(user_id));
    }
    let mine = ik::table.filter(ik::user_id.eq(&user_id)).filter(ik::key.eq(&key));
    let Some((stored_digest, status, headers, body, locked_until)) = mine
        .select((ik::request_digest, ik::status, ik::response_headers, ik::response_body, ik::locked_until))
        .first::<KeyRow>(conn)
        .optional()?
    else {
        // Freed by its first request between our insert and this read: busy, retry.
        return Ok(Claim::Busy);
    };
    if stored_digest != digest {
        return Ok(Claim::Mismatch);
    }
    match status {
        Some(status) => {
            let headers = headers.and_then(|h| serde_json::from_str(&h).ok()).unwrap_or(StoredHeaders {
                content_type: None,
                location: None,
                etag: None,
            });
            Ok(Claim::Replay(Stored { status, headers, body: body.unwrap_or_default() }))
        }
        None if locked_until > now => Ok(Claim::Busy),
        None => {
            // Its first request never answered (its process died): take the key over,
            // unless another retry just did.
            let taken = diesel::update(mine.filter(ik::status.is_null()).filter(ik::locked_until.eq(locked_until)))
                .set((ik::locked_until.eq(lease), ik::created_at.eq(now)))
                .execute(conn)?;
            Ok(if taken == 1 { Claim::Claimed(user_id) } else { Claim::Busy })
        }
    }
}

/// Keeps the answer, or frees the key when the answer says nothing about the request.
fn finish(conn: &mut DbConnection, user_id: String, key: String, answer: Option<Stored>) -> Result<(), AppError> {
    let mine = ik::table.filter(ik::user_id.eq(user_id)).filter(ik::key.eq(key)).filter(ik::status.is_null());
    match answer {
        Some(a) => {
            let headers = serde_json::to_string(&a.headers).map_err(|e| AppError::Internal(e.to_string()))?;
            diesel::update(mine)
                .set((ik::status.eq(a.status), ik::response_headers.eq(headers), ik::response_body.eq(a.body)))
                .execute(conn)?
        }
        None => diesel::delete(mine).execute(conn)?,
    };
    Ok(())
}

/// Answers that are not kept: they say nothing about the request itself.
fn keeps(status: StatusCode) -> bool {
    !(status.is_server_error()
        || status == StatusCode::UNAUTHORIZED
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT)
}

fn problem(req: ServiceRequest, e: AppError) -> ServiceResponse<BoxBody> {
    req.into_response(e.error_response())
}

fn digest(req: &ServiceRequest, body: &[u8]) -> String {
    let mut h = Sha256::new();
    for part in [req.method().as_str(), req.path(), req.query_string()] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let content_type = req.headers().get(header::CONTENT_TYPE).map(|v| v.as_bytes()).unwrap_or_default();
    h.update(content_type);
    h.update([0]);
    h.update(body);
    hex::encode(h.finalize())
}

/// The middleware (`App::wrap(Idempotency)`). A request without the header costs one
/// header lookup and no allocation: it goes straight to the service, its body untouched;
/// only a `POST` with the header takes the keyed path.
pub struct Idempotency;

impl<S, B> Transform<S, ServiceRequest> for Idempotency
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B, BoxBody>>;
    type Error = actix_web::Error;
    type Transform = IdempotencyService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(IdempotencyService { service: Rc::new(service) }))
    }
}

pub struct IdempotencyService<S> {
    service: Rc<S>,
}

type Passed<B> = fn(ServiceResponse<B>) -> ServiceResponse<EitherBody<B, BoxBody>>;
type Keyed<B> = Pin<Box<dyn Future<Output = Result<ServiceResponse<EitherBody<B, BoxBody>>, actix_web::Error>>>>;

impl<S, B> Service<ServiceRequest> for IdempotencyService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B, BoxBody>>;
    type Error = actix_web::Error;
    type Future = Either<MapOk<S::Future, Passed<B>>, Keyed<B>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        if req.method() != Method::POST || !req.headers().contains_key(HEADER) {
            return Either::Left(self.service.call(req).map_ok(ServiceResponse::map_into_left_body as Passed<B>));
        }
        let service = self.service.clone();
        Either::Right(Box::pin(async move { keyed(req, service).await.map(ServiceResponse::map_into_right_body) }))
    }
}

/// Calls the service, its body boxed (the keyed path's answers are built here).
async fn pass<S, B>(service: &S, req: ServiceRequest) -> Result<ServiceResponse<BoxBody>, actix_web::Error>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    service.call(req).await.map(ServiceResponse::map_into_boxed_body)
}

/// A `POST` that carries `Idempotency-Key`: keyed when its path creates something.
async fn keyed<S, B>(mut req: ServiceRequest, service: Rc<S>) -> Result<ServiceResponse<BoxBody>, actix_web::Error>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    let Some(value) = req.headers().get(HEADER).cloned() else {
        return pass(&*service, req).await;
    };
    let creating = req.app_data::<web::Data<CreatingPaths>>().is_some_and(|c| c.contains(req.path()));
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return pass(&*service, req).await;
    };
    if !creating {
        return pass(&*service, req).await;
    }
    let key = match parse_key(&value) {
        Ok(k) => k,
        Err(e) => return Ok(problem(req, e)),
    };
    let Ok(caller) = Caller::from_request_head(req.request()) else {
        return pass(&*service, req).await;
    };
    // The body, read once to compare it with the first request's and handed on as it was.
    let limit = state.settings.json_body_limit.max(state.settings.import_body_limit);
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => return Ok(problem(req, AppError::BadRequest(format!("cannot read body: {e}")))),
        };
        if body.len() + chunk.len() > limit {
            return Ok(problem(req, AppError::PayloadTooLarge));
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    let digest = digest(&req, &body);
    let claimed = {
        let key = key.clone();
        db::write(&state.pool, move |conn| claim(conn, caller, key, digest)).await
    };
    let user_id = match claimed {
        Err(e) => return Ok(problem(req, e)),
        Ok(Claim::Anonymous) => {
            req.set_payload(actix_web::dev::Payload::from(body));
            return pass(&*service, req).await;
        }
        Ok(Claim::Busy) => {
            let e = AppError::Conflict("A request with this Idempotency-Key is still running; retry later.".into());
            return Ok(problem(req, e));
        }
        Ok(Claim::Mismatch) => {
            let e = AppError::field(
                "Idempotency-Key",
                "was used within the last 24 hours for a different request (method, path or body)",
            );
            return Ok(problem(req, e));
        }
        Ok(Claim::Replay(stored)) => return Ok(req.into_response(replay(stored))),
        Ok(Claim::Claimed(user_id)) => user_id,
    };
    req.set_payload(actix_web::dev::Payload::from(body));
    let res = match service.call(req).await {
        Ok(res) => res,
        Err(e) => {
            // The handler failed without an answer: free the key for a retry.
            let _ = db::run(&state.pool, move |conn| finish(conn, user_id, key, None)).await;
            return Err(e);
        }
    };
    let (http_req, res) = res.into_parts();
    let status = res.status();
    let text = |name: header::HeaderName| res.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let headers = StoredHeaders {
        content_type: text(header::CONTENT_TYPE),
        location: text(header::LOCATION),
        etag: text(header::ETAG),
    };
    let (res, body) = res.into_parts();
    let bytes = match to_bytes(body).await {
        Ok(b) => b,
        Err(_) => {
            let _ = db::run(&state.pool, move |conn| finish(conn, user_id, key, None)).await;
            let e = AppError::Internal("the answer could not be read".into());
            return Ok(ServiceResponse::new(http_req, e.error_response()));
        }
    };
    let answer = match (keeps(status), std::str::from_utf8(&bytes)) {
        (true, Ok(text)) => Some(Stored { status: i32::from(status.as_u16()), headers, body: text.to_owned() }),
        _ => None,
    };
    // The work is committed; if keeping its answer fails, the client still gets it, and a
    // retry with the key waits out the lease (409) rather than running twice at once.
    if let Err(e) = db::run(&state.pool, move |conn| finish(conn, user_id, key, answer)).await {
        tracing::warn!(error = %e, "could not keep the answer of an idempotent request");
    }
    Ok(ServiceResponse::new(http_req, res.set_body(BoxBody::new(bytes))))
}

fn replay(stored: Stored) -> HttpResponse {
    let status = u16::try_from(stored.status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = HttpResponse::build(status);
    res.insert_header((REPLAYED, "true"));
    if let Some(v) = stored.headers.content_type {
        res.insert_header((header::CONTENT_TYPE, v));
    }
    if let Some(v) = stored.headers.location {
        res.insert_header((header::LOCATION, v));
    }
    if let Some(v) = stored.headers.etag {
        res.insert_header((header::ETAG, v));
    }
    res.body(stored.body)
}
