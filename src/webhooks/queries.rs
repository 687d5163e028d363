//! Subscriptions (a user's own; owner/admin: the account's) and their deliveries, and the
//! outbox writes every event goes through.

use base64::Engine;
use diesel::prelude::*;
use rand::RngCore;
use serde_json::json;

use super::model::*;
use crate::access::Actor;
use crate::audit::{self, AuditCtx};
use crate::db::schema::{webhook_deliveries as wd, webhooks as wh};
use crate::db::{DbConnection, MultiBackend};
use crate::error::AppError;
use crate::http::{new_id, now, PageKeys, PageRows};

/// Focused users hold no webhooks (SPEC §10), like API tokens.
pub fn require_may_subscribe(actor: &Actor) -> Result<(), AppError> {
    if actor.role().may_hold_tokens() {
        return Ok(());
    }
    Err(AppError::forbidden("Focused users cannot use webhooks."))
}

/// The subscriptions the caller sees: their own, or the account's for owner/admin.
fn visible(actor: &Actor) -> wh::BoxedQuery<'static, MultiBackend> {
    let q = wh::table.filter(wh::account_id.eq(actor.account_id().to_owned())).into_boxed();
    if actor.is_manager() {
        q
    } else {
        q.filter(wh::user_id.eq(actor.user_id().to_owned()))
    }
}

pub fn new_secret() -> String {
    let mut key = [0u8; 24];
    rand::rng().fill_bytes(&mut key);
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(key))
}

fn events_json(events: &[String]) -> String {
    let mut list: Vec<&str> = events.iter().map(String::as_str).collect();
    list.sort_unstable();
    list.dedup();
    serde_json::to_string(&list).unwrap_or_else(|_| "[]".into())
}

pub fn find(conn: &mut DbConnection, actor: &Actor, id: &str) -> Result<WebhookRow, AppError> {
    visible(actor).filter(wh::id.eq(id.to_owned())).first(conn).optional()?.ok_or(AppError::NotFound)
}

pub fn list(conn: &mut DbConnection, actor: &Actor, keys: &PageKeys) -> Result<PageRows<WebhookRow>, AppError> {
    let scoped = || visible(actor);
    Ok(crate::db::id_page!(conn, keys, scoped, wh::id, asc, since = wh::updated_at))
}

pub fn create(
    conn: &mut DbConnection,
    actor: &Actor,
    url: String,
    events: &[String],
) -> Result<WebhookWithSecret, AppError> {
    require_may_subscribe(actor)?;
    let at = now();
    let row = WebhookRow {
        id: new_id(),
        account_id: actor.account_id().to_owned(),
        user_id: actor.user_id().to_owned(),
        url,
        events: events_json(events),
        secret: new_secret(),
        active: true,
        disabled_reason: None,
        failing_since: None,
        version: 1,
        created_at: at,
        updated_at: at,
    };
    diesel::insert_into(wh::table).values(&row).execute(conn)?;
    let view = WebhookView::from(&row);
    audit::record(conn, &AuditCtx::from(actor), "webhook", &row.id, None, Some(&view))?;
    Ok(WebhookWithSecret { webhook: view, secret: row.secret })
}

/// The user a write may touch the row of: the caller, or for owner/admin whoever owns it.
/// Every write names it in its `WHERE` with the account, the id and the version read.
fn owner_filter(actor: &Actor, before: &WebhookRow) -> String {
    if actor.is_manager() {
        before.user_id.clone()
    } else {
        actor.user_id().to_owned()
    }
}

macro_rules! in_scope {
    ($actor:expr, $before:expr) => {
        wh::table
            .filter(wh::id.eq($before.id.clone()))
            .filter(wh::account_id.eq($actor.account_id().to_owned()))
            .filter(wh::user_id.eq(owner_filter($actor, $before)))
    };
}

pub fn update(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    expected: Option<i64>,
    url: Option<String>,
    patch: &WebhookPatch,
) -> Result<WebhookView, AppError> {
    require_may_subscribe(actor)?;
    crate::http::optimistic(expected, || {
        let before = find(conn, actor, id)?;
        crate::http::check_version(expected, before.version)?;
        let mut next = before.clone();
        if let Some(url) = &url {
            next.url = url.clone();
        }
        if let Some(events) = &patch.events {
            next.events = events_json(events);
        }
        if let Some(active) = patch.active {
            next.active = active;
            if active {
                // Re-enabled: the service's reason and the failure run are over.
                next.disabled_reason = None;
                next.failing_since = None;
            }
        }
        if (&next.url, &next.events, next.active, &next.disabled_reason)
            == (&before.url, &before.events, before.active, &before.disabled_reason)
        {
            return Ok(Some(WebhookView::from(&before)));
        }
        next.version += 1;
        next.updated_at = now();
        let n = diesel::update(in_scope!(actor, &before).filter(wh::version.eq(before.version)))
            .set((
                wh::url.eq(&next.url),
                wh::events.eq(&next.events),
                wh::active.eq(next.active),
                wh::disabled_reason.eq(&next.disabled_reason),
                wh::failing_since.eq(next.failing_since),
                wh::version.eq(next.version),
                wh::updated_at.eq(next.updated_at),
            ))
            .execute(conn)?;
        if n == 0 {
            return Ok(None);
        }
        let (old, new) = (WebhookView::from(&before), WebhookView::from(&next));
        audit::record(conn, &AuditCtx::from(actor), "webhook", &next.id, Some(&old), Some(&new))?;
        Ok(Some(new))
    })
}

pub fn rotate(conn: &mut DbConnection, actor: &Actor, id: &str) -> Result<WebhookWithSecret, AppError> {
    require_may_subscribe(actor)?;
    crate::http::optimistic(None, || {
        let before = find(conn, actor, id)?;
        let mut next = before.clone();
        next.secret = new_secret();
        next.version += 1;
        next.updated_at = now();
        let n = diesel::update(in_scope!(actor, &before).filter(wh::version.eq(before.version)))
            .set((wh::secret.eq(&next.secret), wh::version.eq(next.version), wh::updated_at.eq(next.updated_at)))
            .execute(conn)?;
        if n == 0 {
            return Ok(None);
        }
        let ctx = AuditCtx::from(actor);
        let changes =
            serde_json::Map::from_iter([("secret".to_owned(), json!({"old": "(hidden)", "new": "(rotated)"}))]);
        audit::record_changes(conn, &ctx, "webhook", &next.id, audit::AuditAction::Update, changes)?;
        Ok(Some(WebhookWithSecret { webhook: WebhookView::from(&next), secret: next.secret.clone() }))
    })
}

pub fn delete(conn: &mut DbConnection, actor: &Actor, id: &str) -> Result<(), AppError> {
    require_may_subscribe(actor)?;
    let row = find(conn, actor, id)?;
    let n = diesel::delete(in_scope!(actor, &row)).execute(conn)?;
    if n == 0 {
        return Err(AppError::NotFound);
    }
    audit::record::<WebhookView>(conn, &AuditCtx::from(actor), "webhook", &row.id, Some(&WebhookView::from(&row)), None)
}

/// The request body of a delivery: `{id, type, created_at, data}` (SPEC §10).
pub fn envelope(id: &str, event: &str, at: chrono::NaiveDateTime, data: serde_json::Value) -> String {
    let created_at = crate::http::utc(at).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    json!({"id": id, "type": event, "created_at": created_at, "data": data}).to_string()
}

/// Queues one delivery (the outbox row), in the caller's transaction.
pub fn enqueue(
    conn: &mut DbConnection,
    hook: &WebhookRow,
    event: &str,
    entity: (&str, Option<&str>),
    level: Option<crate::access::Level>,
    data: serde_json::Value,
) -> Result<DeliveryRow, AppError> {
    let at = now();
    let id = new_id();
    let row = NewDelivery {
        payload: envelope(&id, event, at, data),
        account_id: hook.account_id.clone(),
        webhook_id: hook.id.clone(),
        event_type: event.to_owned(),
        entity_type: entity.0.to_owned(),
        // An event about no entity (the test event) is its own entity: nothing waits for it.
        entity_id: entity.1.unwrap_or(&id).to_owned(),
        level: level.map(crate::access::Level::rank),
        status: DeliveryStatus::Pending.as_str().into(),
        attempts: 0,
        next_attempt_at: at,
        created_at: at,
        id,
    };
    let row = diesel::insert_into(wd::table).values(&row).returning(wd::all_columns).get_result(conn)?;
    crate::db::mark_queued();
    Ok(row)
}

/// `POST /v1/webhooks/{id}/test`: a `webhook.test` delivery, whatever the events are.
pub fn test(conn: &mut DbConnection, actor: &Actor, id: &str) -> Result<DeliveryView, AppError> {
    require_may_subscribe(actor)?;
    let hook = find(conn, actor, id)?;
    let data = json!({"webhook_id": hook.id, "message": "Test event from crm-api"});
    let row = enqueue(conn, &hook, TEST_EVENT, ("webhook", None), None, data)?;
    Ok(DeliveryView::from(&row))
}

pub fn deliveries(
    conn: &mut DbConnection,
    actor: &Actor,
    webhook_id: &str,
    status: Option<DeliveryStatus>,
    keys: &PageKeys,
) -> Result<PageRows<DeliveryRow>, AppError> {
    require_may_subscribe(actor)?;
    let hook = find(conn, actor, webhook_id)?;
    let scoped = || {
        let q = wd::table
            .filter(wd::webhook_id.eq(hook.id.clone()))
            .filter(wd::account_id.eq(actor.account_id().to_owned()))
            .select(DeliveryRow::as_select())
            .into_boxed();
        match status {
            Some(s) => q.filter(wd::status.eq(s.as_str())),
            None => q,
        }
    };
    Ok(crate::db::id_page!(
        conn,
        keys,
        scoped,
        wd::id,
        desc,
        since_by = |t: chrono::NaiveDateTime| wd::created_at.ge(t).or(wd::last_attempt_at.ge(t))
    ))
}

/// Queues a delivery again, now: a delivered, failed or revoked one (a pending one is
/// already queued: 409). Revocation is checked again at the attempt.
pub fn retry(
    conn: &mut DbConnection,
    actor: &Actor,
    webhook_id: &str,
    delivery_id: &str,
) -> Result<DeliveryView, AppError> {
    require_may_subscribe(actor)?;
    let hook = find(conn, actor, webhook_id)?;
    let mine = || wd::table.filter(wd::webhook_id.eq(hook.id.clone())).filter(wd::id.eq(delivery_id.to_owned()));
    let row: DeliveryRow = mine().select(DeliveryRow::as_select()).first(conn).optional()?.ok_or(AppError::NotFound)?;
    if row.status == DeliveryStatus::Pending.as_str() {
        return Err(AppError::Conflict("This delivery is already queued.".into()));
    }
    let n = diesel::update(mine().filter(wd::status.ne(DeliveryStatus::Pending.as_str())))
        .set((
            wd::status.eq(DeliveryStatus::Pending.as_str()),
            wd::next_attempt_at.eq(now()),
            wd::locked_until.eq(None::<chrono::NaiveDateTime>),
        ))
        .execute(conn)?;
    if n == 0 {
        return Err(AppError::Conflict("This delivery is already queued.".into()));
    }
    let row: DeliveryRow = mine().select(DeliveryRow::as_select()).first(conn)?;
    Ok(DeliveryView::from(&row))
}

/// Deliveries waiting for an attempt, across the deployment (for `/metrics`; one range of
/// the `(status, next_attempt_at)` index).
pub fn pending_deliveries(conn: &mut DbConnection) -> Result<i64, AppError> {
    Ok(wd::table.filter(wd::status.eq(DeliveryStatus::Pending.as_str())).count().get_result(conn)?)
}
