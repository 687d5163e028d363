//! `/v1/webhooks`: subscriptions, their test event and their deliveries (SPEC §10).

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use uuid::Uuid;

use super::model::*;
use super::{queries, target};
use crate::auth::Caller;
use crate::db;
use crate::error::AppError;
use crate::http::{created, if_match, ok_with_etag, page_by_id, Page, PageParams, Query, ValidJson};
use crate::state::AppState;

/// The URL's rules, DNS included (422 naming `url`).
async fn checked_url(state: &AppState, text: &str) -> Result<String, AppError> {
    let allow = state.settings.webhook_allow_private;
    let url = target::parse(text, allow).map_err(|why| AppError::field("url", why))?;
    target::check(&url, allow).await.map_err(|why| AppError::field("url", why))?;
    Ok(url.to_string())
}

/// The caller's subscriptions (owner/admin: the account's).
///
/// Oldest first, keyset-paged; `updated_since` as on every list. Focused users get 403.
#[utoipa::path(
    tag = "webhooks",
    params(PageParams),
    responses(
        (status = 200, body = Page<WebhookView>),
        (status = 400, description = "Malformed query or cursor"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Focused users cannot use webhooks"),
    ),
    security(("bearer" = []))
)]
#[get("/webhooks")]
pub async fn list_webhooks(
    state: web::Data<AppState>,
    caller: Caller,
    page: Query<PageParams>,
) -> Result<HttpResponse, AppError> {
    let keys = page.keys()?;
    let out = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        queries::require_may_subscribe(&actor)?;
        let (rows, total) = queries::list(conn, &actor, &keys)?;
        Ok(page_by_id(rows.iter().map(WebhookView::from).collect(), keys.limit, total, |w: &WebhookView| &w.id))
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Subscribes to events.
///
/// The subscription acts as the caller: each payload is what the caller would see right
/// after the change, and an event about something the caller cannot see is not sent. The
/// answer carries the signing `secret`, once. The URL must be `https://` and resolve only to
/// public addresses (422 naming `url`).
#[utoipa::path(
    tag = "webhooks",
    request_body = NewWebhook,
    responses(
        (status = 201, body = WebhookWithSecret, headers(("Location" = String), ("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Focused users cannot use webhooks"),
        (status = 422, description = "Invalid URL (not https, or an address webhooks may not reach) or events"),
        crate::http::BodyErrors,
    ),
    security(("bearer" = []))
)]
#[post("/webhooks")]
pub async fn create_webhook(
    state: web::Data<AppState>,
    caller: Caller,
    body: ValidJson<NewWebhook>,
) -> Result<HttpResponse, AppError> {
    let input = body.0;
    let url = checked_url(&state, &input.url).await?;
    let out = db::write(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        queries::create(conn, &actor, url, &input.events)
    })
    .await?;
    Ok(created(format!("/v1/webhooks/{}", out.webhook.id), Some(out.webhook.version), &out))
}

/// One subscription.
///
/// Its owner's, or any of the account's for owner/admin; anyone else gets 404. The secret is
/// never shown again.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = WebhookView, headers(("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Focused users cannot use webhooks"),
        (status = 404, description = "No such subscription the caller may see"),
    ),
    security(("bearer" = []))
)]
#[get("/webhooks/{id}")]
pub async fn get_webhook(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    let row = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        queries::require_may_subscribe(&actor)?;
        queries::find(conn, &actor, &id)
    })
    .await?;
    Ok(ok_with_etag(row.version, &WebhookView::from(&row)))
}

/// Changes the URL, the events, or `active`.
///
/// `active: true` re-enables a subscription the service disabled (410, 3 days of failures)
/// and clears `disabled_reason`; its pending deliveries resume.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    request_body = WebhookPatch,
    responses(
        (status = 200, body = WebhookView, headers(("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Focused users cannot use webhooks"),
        (status = 404, description = "No such subscription the caller may see"),
        (status = 412, description = "If-Match does not match the current version"),
        (status = 422, description = "Invalid URL or events"),
        crate::http::BodyErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/webhooks/{id}")]
pub async fn patch_webhook(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: ValidJson<WebhookPatch>,
) -> Result<HttpResponse, AppError> {
    let (id, patch) = (id.into_inner().to_string(), body.0);
    let expected = if_match(&req)?;
    let url = match &patch.url {
        Some(u) => Some(checked_url(&state, u).await?),
        None => None,
    };
    let view = db::write(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        queries::update(conn, &actor, &id, expected, url, &patch)
    })
    .await?;
    Ok(ok_with_etag(view.version, &view))
}

/// Deletes a subscription.
///
/// Its delivery log goes with it; pending deliveries are not sent.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Focused users cannot use webhooks"),
        (status = 404, description = "No such subscription the caller may see"),
    ),
    security(("bearer" = []))
)]
#[delete("/webhooks/{id}")]
pub async fn delete_webhook(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    db::write(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        queries::delete(conn, &actor, &id)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Rotates the signing secret.
///
/// The new secret signs every attempt from now on, pending deliveries included; the answer
/// carries it, once.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = WebhookWithSecret, headers(("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Focused users cannot use webhooks"),
        (status = 404, description = "No such subscription the caller may see"),
    ),
    security(("bearer" = []))
)]
#[post("/webhooks/{id}/rotate-secret")]
pub async fn rotate_secret(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    let out = db::write(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        queries::rotate(conn, &actor, &id)
    })
    .await?;
    Ok(ok_with_etag(out.webhook.version, &out))
}

/// Sends a test event.
///
/// Queues a `webhook.test` event to the subscription (whatever its `events`) and answers its
/// delivery (202); follow it in the deliveries.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path)),
    responses(
        (status = 202, body = DeliveryView),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Focused users cannot use webhooks"),
        (status = 404, description = "No such subscription the caller may see"),
    ),
    security(("bearer" = []))
)]
#[post("/webhooks/{id}/test")]
pub async fn test_webhook(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    let out = db::write(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        queries::test(conn, &actor, &id)
    })
    .await?;
    Ok(HttpResponse::Accepted().json(out))
}

/// The subscription's deliveries.
///
/// Newest first, each with its last answer (status code and the first 1,024 bytes) or
/// error; `status` filters.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path), DeliveryFilter, PageParams),
    responses(
        (status = 200, body = Page<DeliveryView>),
        (status = 400, description = "Malformed query or cursor"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Focused users cannot use webhooks"),
        (status = 404, description = "No such subscription the caller may see"),
    ),
    security(("bearer" = []))
)]
#[get("/webhooks/{id}/deliveries")]
pub async fn list_deliveries(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    filter: Query<DeliveryFilter>,
    page: Query<PageParams>,
) -> Result<HttpResponse, AppError> {
    let (id, status, keys) = (id.into_inner().to_string(), filter.status, page.keys()?);
    let out = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        let (rows, total) = queries::deliveries(conn, &actor, &id, status, &keys)?;
        Ok(page_by_id(rows.iter().map(DeliveryView::from).collect(), keys.limit, total, |d: &DeliveryView| &d.id))
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Sends a delivery again.
///
/// A delivered, failed or revoked delivery is queued again, now (409 while it is still
/// pending); the subscriber's access is checked again before it is sent.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path), ("delivery_id" = Uuid, Path)),
    responses(
        (status = 202, body = DeliveryView),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Focused users cannot use webhooks"),
        (status = 404, description = "No such subscription or delivery"),
        (status = 409, description = "The delivery is still pending"),
    ),
    security(("bearer" = []))
)]
#[post("/webhooks/{id}/deliveries/{delivery_id}/retry")]
pub async fn retry_delivery(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, AppError> {
    let (id, delivery) = path.into_inner();
    let out = db::write(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        queries::retry(conn, &actor, &id.to_string(), &delivery.to_string())
    })
    .await?;
    Ok(HttpResponse::Accepted().json(out))
}
