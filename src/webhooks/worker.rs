//! The delivery worker (SPEC §10): claims due deliveries with a lease, so several replicas
//! on one PostgreSQL share the work without sending the same attempt twice (`FOR UPDATE
//! SKIP LOCKED`; on SQLite one process holds the write lock anyway), attempts them with a
//! bounded concurrency, and records each outcome. Only the oldest pending delivery of each
//! (webhook, entity) is due, so events about one entity arrive in order. A restart loses
//! nothing: a lease that was never released simply runs out.

use crate::metrics::DeliveryOutcome;
use std::time::Duration;

use actix_web::web;
use diesel::prelude::*;

use super::model::{DeliveryRow, DeliveryStatus, WebhookRow};
use super::target;
use crate::access::Level;
use crate::db::schema::{webhook_deliveries as wd, webhooks as wh};
use crate::db::{self, DbConnection};
use crate::error::AppError;
use crate::http::now;
use crate::state::AppState;

/// The shortest lease (`WEBHOOK_LEASE_SECS`): longer than the 10 s timeout of an attempt.
const MIN_LEASE_SECS: u64 = 15;
/// Retry delays after the 1st, 2nd, … failed attempt; the last repeats.
const BACKOFF_SECS: &[i64] = &[5, 30, 120, 600, 3600, 6 * 3600];
/// After this long of failures a delivery is given up and its subscription disabled.
const GIVE_UP_SECS: i64 = 3 * 24 * 3600;
/// How much of an answer's body is kept.
const RESPONSE_PREFIX: usize = 1024;

pub fn backoff(failed_attempts: i32) -> chrono::Duration {
    let i = (failed_attempts.max(1) as usize - 1).min(BACKOFF_SECS.len() - 1);
    chrono::Duration::seconds(BACKOFF_SECS[i])
}

#[derive(QueryableByName)]
struct Seq {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    seq: i64,
}

/// Claims up to `limit` due deliveries of active subscriptions (of one account only when
/// `account` is given: how a test drives the deliveries of the data it owns while other
/// tests share the database).
pub fn claim(
    conn: &mut DbConnection,
    limit: i64,
    lease_secs: u64,
    account: Option<&str>,
) -> Result<Vec<DeliveryRow>, AppError> {
    let lease = chrono::Duration::seconds(lease_secs.max(MIN_LEASE_SECS) as i64);
    db::write_tx(conn, |conn| {
        let at = now();
        let lock = match conn {
            DbConnection::Pg(_) => " FOR UPDATE OF d SKIP LOCKED",
            DbConnection::Sqlite(_) => "",
        };
        // An account id is a UUID (checked), so it can be written into the statement.
        let only = match account {
            Some(a) if uuid::Uuid::parse_str(a).is_ok() => format!("AND d.account_id = '{a}'"),
            Some(_) => return Err(AppError::Internal("bad account id".into())),
            None => String::new(),
        };
        let sql = format!(
            "SELECT d.seq FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
             WHERE d.status = 'pending' AND w.active AND d.next_attempt_at <= $1 {only} \
             AND (d.locked_until IS NULL OR d.locked_until < $1) \
             AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.webhook_id = d.webhook_id \
               AND e.entity_id = d.entity_id AND e.status = 'pending' AND e.seq < d.seq) \
             ORDER BY d.next_attempt_at, d.seq LIMIT {limit}{lock}"
        );
        let sql = match conn {
            DbConnection::Sqlite(_) => sql.replace("$1", "?1"),
            DbConnection::Pg(_) => sql,
        };
        let seqs: Vec<Seq> = diesel::sql_query(sql).bind::<diesel::sql_types::Timestamp, _>(at).load(conn)?;
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let seqs: Vec<i64> = seqs.into_iter().map(|s| s.seq).collect();
        let rows = diesel::update(
            wd::table
                .filter(wd::seq.eq_any(seqs))
                .filter(wd::status.eq(DeliveryStatus::Pending.as_str()))
                .filter(wd::locked_until.is_null().or(wd::locked_until.lt(at))),
        )
        .set(wd::locked_until.eq(at + lease))
        .returning(wd::all_columns)
        .get_results(conn)?;
        Ok(rows)
    })
}

/// What one attempt came to.
enum Outcome {
    Delivered {
        status: u16,
        body: String,
    },
    /// Not sent: the subscriber may no longer see it.
    Revoked(String),
    Failed {
        status: Option<u16>,
        body: Option<String>,
        error: Option<String>,
    },
}

/// Checks, before an attempt, that the subscription's user is still active, not focused,
/// and (for payloads made at a level) still sees the entity at that level.
fn still_allowed(
    conn: &mut DbConnection,
    hook: &WebhookRow,
    delivery: &DeliveryRow,
) -> Result<Result<(), String>, AppError> {
    let actor = match crate::auth::actor_of_user(conn, &hook.user_id, &hook.account_id) {
        Ok(a) => a,
        Err(AppError::Unauthorized(_)) => return Ok(Err("the subscription's user is deactivated or gone".into())),
        Err(e) => return Err(e),
    };
    if !actor.role().may_hold_tokens() {
        return Ok(Err("the subscription's user is now a focused user".into()));
    }
    let Some(rank) = delivery.level else { return Ok(Ok(())) };
    let needed = Level::from_rank(rank);
    let now_level = super::outbox::level_now(conn, &actor, &delivery.entity_type, &delivery.entity_id)?;
    Ok(if now_level >= needed {
        Ok(())
    } else {
        Err(format!("the subscription's user now sees this {} at {}", delivery.entity_type, now_level.as_str()))
    })
}

fn prefix(text: &str) -> String {
    let mut end = text.len().min(RESPONSE_PREFIX);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

async fn attempt(state: &web::Data<AppState>, client: &reqwest::Client, delivery: DeliveryRow) -> Result<(), AppError> {
    let webhook_id = delivery.webhook_id.clone();
    let checked = {
        let delivery = delivery.clone();
        db::run(&state.pool, move |conn| {
            let hook: Option<WebhookRow> = wh::table.filter(wh::id.eq(&webhook_id)).first(conn).optional()?;
            let Some(hook) = hook else { return Ok(None) };
            let allowed = still_allowed(conn, &hook, &delivery)?;
            Ok(Some((hook, allowed)))
        })
        .await?
    };
    let Some((hook, allowed)) = checked else { return Ok(()) };
    let allow_private = state.settings.webhook_allow_private;
    let outcome = match allowed {
        Err(why) => Outcome::Revoked(why),
        Ok(()) => match target::attempt_allowed(&hook.url, allow_private) {
            Err(why) => Outcome::Failed { status: None, body: None, error: Some(format!("URL {why}")) },
            Ok(url) => send(client, &hook, &delivery, url).await,
        },
    };
    let concluded = db::run(&state.pool, move |conn| record(conn, &hook, &delivery, outcome)).await?;
    state.metrics.observe_delivery(concluded);
    Ok(())
}

async fn send(client: &reqwest::Client, hook: &WebhookRow, delivery: &DeliveryRow, url: reqwest::Url) -> Outcome {
    let timestamp = chrono::Utc::now().timestamp();
    let signature = match standardwebhooks::Webhook::new(&hook.secret)
        .and_then(|w| w.sign(&delivery.id, timestamp, delivery.payload.as_bytes()))
    {
        Ok(s) => s,
        Err(e) => return Outcome::Failed { status: None, body: None, error: Some(format!("cannot sign: {e}")) },
    };
    let request = client
        .post(url)
        .header("content-type", "application/json")
        .header(standardwebhooks::HEADER_WEBHOOK_ID, &delivery.id)
        .header(standardwebhooks::HEADER_WEBHOOK_TIMESTAMP, timestamp.to_string())
        .header(standardwebhooks::HEADER_WEBHOOK_SIGNATURE, signature)
        .body(delivery.payload.clone());
    match request.send().await {
        Ok(res) => {
            let status = res.status().as_u16();
            // Only a prefix is kept: read at most a little more than that.
            let mut body = Vec::new();
            let mut res = res;
            while let Ok(Some(chunk)) = res.chunk().await {
                body.extend_from_slice(&chunk);
                if body.len() > RESPONSE_PREFIX {
                    break;
                }
            }
            let body = prefix(&String::from_utf8_lossy(&body));
            if (200..300).contains(&status) {
                Outcome::Delivered { status, body }
            } else {
                Outcome::Failed { status: Some(status), body: Some(body), error: None }
            }
        }
        Err(e) => {
            let kind = if e.is_timeout() { "timed out" } else { "request failed" };
            let mut text = format!("{kind}: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            Outcome::Failed { status: None, body: None, error: Some(prefix(&text)) }
        }
    }
}

fn record(
    conn: &mut DbConnection,
    hook: &WebhookRow,
    delivery: &DeliveryRow,
    outcome: Outcome,
) -> Result<DeliveryOutcome, AppError> {
    db::write_tx(conn, |conn| {
        let at = now();
        let mine = wd::table.filter(wd::seq.eq(delivery.seq)).filter(wd::status.eq(DeliveryStatus::Pending.as_str()));
        let hook_row = wh::table.filter(wh::id.eq(&hook.id));
        match outcome {
            Outcome::Revoked(why) => {
                diesel::update(mine)
                    .set((
                        wd::status.eq(DeliveryStatus::Revoked.as_str()),
                        wd::error.eq(why),
                        wd::locked_until.eq(None::<chrono::NaiveDateTime>),
                    ))
                    .execute(conn)?;
                Ok(DeliveryOutcome::Revoked)
            }
            Outcome::Delivered { status, body } => {
                diesel::update(mine)
                    .set((
                        wd::status.eq(DeliveryStatus::Delivered.as_str()),
                        wd::attempts.eq(delivery.attempts + 1),
                        wd::last_attempt_at.eq(at),
                        wd::delivered_at.eq(at),
                        wd::response_status.eq(i32::from(status)),
                        wd::response_body.eq(body),
                        wd::error.eq(None::<String>),
                        wd::locked_until.eq(None::<chrono::NaiveDateTime>),
                    ))
                    .execute(conn)?;
                diesel::update(hook_row.filter(wh::failing_since.is_not_null()))
                    .set(wh::failing_since.eq(None::<chrono::NaiveDateTime>))
                    .execute(conn)?;
                Ok(DeliveryOutcome::Delivered)
            }
            Outcome::Failed { status, body, error } => {
                let attempts = delivery.attempts + 1;
                let gone = status == Some(410);
                let failing_since = hook.failing_since.unwrap_or(at);
                let expired = (at - delivery.created_at).num_seconds() >= GIVE_UP_SECS;
                let hook_expired = (at - failing_since).num_seconds() >= GIVE_UP_SECS;
                let next = at + backoff(attempts);
                let final_status = if gone || expired { DeliveryStatus::Failed } else { DeliveryStatus::Pending };
                diesel::update(mine)
                    .set((
                        wd::status.eq(final_status.as_str()),
                        wd::attempts.eq(attempts),
                        wd::last_attempt_at.eq(at),
                        wd::next_attempt_at.eq(next),
                        wd::response_status.eq(status.map(i32::from)),
                        wd::response_body.eq(body),
                        wd::error.eq(error),
                        wd::locked_until.eq(None::<chrono::NaiveDateTime>),
                    ))
                    .execute(conn)?;
                let reason = if gone {
                    Some("The endpoint answered 410 Gone.".to_owned())
                } else if hook_expired {
                    Some("Every delivery failed for 3 days.".to_owned())
                } else {
                    None
                };
                match reason {
                    Some(reason) => diesel::update(hook_row)
                        .set((
                            wh::active.eq(false),
                            wh::disabled_reason.eq(reason),
                            wh::failing_since.eq(Some(failing_since)),
                            wh::version.eq(wh::version + 1),
                            wh::updated_at.eq(at),
                        ))
                        .execute(conn)?,
                    None => diesel::update(hook_row.filter(wh::failing_since.is_null()))
                        .set(wh::failing_since.eq(Some(at)))
                        .execute(conn)?,
                };
                Ok(if final_status == DeliveryStatus::Failed {
                    DeliveryOutcome::Failed
                } else {
                    DeliveryOutcome::Retry
                })
            }
        }
    })
}

/// One round: claim what is due and attempt it; how many were attempted.
pub async fn run_once(
    state: &web::Data<AppState>,
    client: &reqwest::Client,
    account: Option<String>,
) -> Result<usize, AppError> {
    let limit = state.settings.webhook_concurrency.max(1) as i64;
    let lease = state.settings.webhook_lease_secs;
    let claimed = db::run(&state.pool, move |conn| claim(conn, limit, lease, account.as_deref())).await?;
    let n = claimed.len();
    let attempts = claimed.into_iter().map(|d| attempt(state, client, d));
    for result in futures_util::future::join_all(attempts).await {
        if let Err(e) = result {
            tracing::warn!(error = %e, "webhook attempt could not be recorded; its lease will run out");
        }
    }
    Ok(n)
}

/// Runs the worker until the process ends: at most `WEBHOOK_CONCURRENCY` attempts at a
/// time, each its own task, so a slow endpoint (up to its 10 s timeout) holds one slot and
/// never the others; free slots are filled whenever deliveries are due, woken early by a
/// write of this process (`Pool::queued`) or an attempt finishing, else every
/// `WEBHOOK_POLL_MS`.
pub fn spawn(state: web::Data<AppState>) -> Result<actix_web::rt::task::JoinHandle<()>, String> {
    let client = target::client(state.settings.webhook_allow_private)?;
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(state.settings.webhook_concurrency.max(1)));
    let finished = std::sync::Arc::new(tokio::sync::Notify::new());
    Ok(actix_web::rt::spawn(async move {
        let poll = Duration::from_millis(state.settings.webhook_poll_ms.max(10));
        let lease = state.settings.webhook_lease_secs;
        loop {
            let free = slots.available_permits();
            let claimed = if free == 0 {
                Ok(Vec::new())
            } else {
                db::run(&state.pool, move |conn| claim(conn, free as i64, lease, None)).await
            };
            let n = match claimed {
                Ok(rows) => {
                    let n = rows.len();
                    for delivery in rows {
                        let Ok(slot) = slots.clone().try_acquire_owned() else { break };
                        let (state, client, finished) = (state.clone(), client.clone(), finished.clone());
                        actix_web::rt::spawn(async move {
                            if let Err(e) = attempt(&state, &client, delivery).await {
                                tracing::warn!(error = %e, "webhook attempt could not be recorded; its lease will run out");
                            }
                            drop(slot);
                            finished.notify_one();
                        });
                    }
                    n
                }
                Err(e) => {
                    tracing::warn!(error = %e, "webhook worker round failed");
                    0
                }
            };
            // Everything due was taken and a slot is free: look again at once.
            if n > 0 && n == free && slots.available_permits() > 0 {
                continue;
            }
            tokio::select! {
                _ = state.pool.queued().notified() => {}
                // A finished attempt frees a slot, and makes its entity's next event due.
                _ = finished.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }))
}
