//! `GET /metrics` (SPEC §12): request counts and latency histograms by route and status,
//! pool use and webhook deliveries, in Prometheus' text format.
//!
//! Every figure is this process's own (each replica is scraped on its own, and Prometheus
//! sums them), except `crm_webhook_deliveries_pending`, which is read from the shared
//! database at scrape time. The registry lives in `AppState`, not in a global, so every
//! app built in one process (the tests build hundreds) counts only its own requests.

use std::time::Duration;

use actix_web::http::{header, StatusCode};
use actix_web::{get, web, HttpRequest, HttpResponse};
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use crate::error::AppError;
use crate::state::AppState;

/// The route label of a request no route took (404s of unknown paths, 405s): one value, so
/// scanners cannot grow the label set.
pub const NO_ROUTE: &str = "(no route)";

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    pool_connections: IntGaugeVec,
    pool_max: IntGauge,
    deliveries: IntCounterVec,
    pending: IntGauge,
}

/// What became of one delivery attempt, for `crm_webhook_delivery_attempts_total`.
#[derive(Clone, Copy)]
pub enum DeliveryOutcome {
    Delivered,
    /// Failed, another attempt is scheduled.
    Retry,
    /// Failed for good (410, or 3 days of failures).
    Failed,
    Revoked,
}

impl DeliveryOutcome {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Retry => "retry",
            DeliveryOutcome::Failed => "failed",
            DeliveryOutcome::Revoked => "revoked",
        }
    }
}

impl Metrics {
    pub fn new() -> Result<Metrics, String> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("crm_http_requests_total", "HTTP requests answered, by method, route pattern and status."),
            &["method", "route", "status"],
        );
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "crm_http_request_duration_seconds",
                "Time from the request's arrival to its response, by method, route pattern and status.",
            )
            .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["method", "route", "status"],
        );
        let pool_connections = IntGaugeVec::new(
            Opts::new("crm_db_pool_connections", "Database connections of this process's pool, by state."),
            &["state"],
        );
        let pool_max = IntGauge::new("crm_db_pool_max_connections", "The pool's size (DB_POOL_SIZE).");
        let deliveries = IntCounterVec::new(
            Opts::new(
                "crm_webhook_delivery_attempts_total",
                "Webhook deliveries this process concluded, by outcome: delivered, retry (failed, \
                 another attempt scheduled), failed (given up), revoked (the subscriber may no longer see it).",
            ),
            &["outcome"],
        );
        let pending = IntGauge::new(
            "crm_webhook_deliveries_pending",
            "Webhook deliveries waiting for an attempt, across every replica (read from the database).",
        );
        let (requests, duration, pool_connections, pool_max, deliveries, pending) =
            match (requests, duration, pool_connections, pool_max, deliveries, pending) {
                (Ok(a), Ok(b), Ok(c), Ok(d), Ok(e), Ok(f)) => (a, b, c, d, e, f),
                _ => return Err("cannot define the metrics".into()),
            };
        let collectors: [Box<dyn prometheus::core::Collector>; 6] = [
            Box::new(requests.clone()),
            Box::new(duration.clone()),
            Box::new(pool_connections.clone()),
            Box::new(pool_max.clone()),
            Box::new(deliveries.clone()),
            Box::new(pending.clone()),
        ];
        for collector in collectors {
            registry.register(collector).map_err(|e| format!("cannot register a metric: {e}"))?;
        }
        for outcome in
            [DeliveryOutcome::Delivered, DeliveryOutcome::Retry, DeliveryOutcome::Failed, DeliveryOutcome::Revoked]
        {
            deliveries.with_label_values(&[outcome.as_str()]);
        }
        Ok(Metrics { registry, requests, duration, pool_connections, pool_max, deliveries, pending })
    }

    /// One answered request.
    pub fn observe_request(&self, method: &str, route: &str, status: StatusCode, elapsed: Duration) {
        let labels = [method, route, status.as_str()];
        self.requests.with_label_values(&labels).inc();
        self.duration.with_label_values(&labels).observe(elapsed.as_secs_f64());
    }

    pub fn observe_delivery(&self, outcome: DeliveryOutcome) {
        self.deliveries.with_label_values(&[outcome.as_str()]).inc();
    }

    /// The text exposition, with the gauges read now.
    fn render(&self, pool: &crate::db::Pool, pending: Option<i64>) -> Result<String, AppError> {
        let (open, idle, max) = pool.usage();
        self.pool_connections.with_label_values(&["idle"]).set(i64::from(idle));
        self.pool_connections.with_label_values(&["in_use"]).set(i64::from(open) - i64::from(idle));
        self.pool_max.set(i64::from(max));
        if let Some(pending) = pending {
            self.pending.set(pending);
        }
        let mut out = Vec::with_capacity(16 * 1024);
        prometheus::TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .map_err(|e| AppError::Internal(format!("cannot encode the metrics: {e}")))?;
        String::from_utf8(out).map_err(|e| AppError::Internal(format!("metrics are not UTF-8: {e}")))
    }
}

/// How `/metrics` is reached, from `METRICS_BIND_ADDR` and `METRICS_TOKEN`.
pub enum Exposure {
    /// Served on its own listener without a token; the main port answers 404.
    OwnListener,
    /// Served on the main port to `Authorization: Bearer <METRICS_TOKEN>`.
    Token(String),
    /// Neither is set: the main port answers 401 to everyone.
    Closed,
}

impl Exposure {
    pub fn of(settings: &crate::config::Settings) -> Exposure {
        if settings.metrics_bind_addr.as_deref().is_some_and(|a| !a.trim().is_empty()) {
            Exposure::OwnListener
        } else {
            match settings.metrics_token.as_deref().map(str::trim) {
                Some(token) if !token.is_empty() => Exposure::Token(token.to_owned()),
                _ => Exposure::Closed,
            }
        }
    }
}

/// The scrape itself: gauges read now (the pending deliveries in one indexed count), the
/// text out.
pub async fn scrape(state: &web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let pending = crate::db::run(&state.pool, crate::webhooks::queries::pending_deliveries).await.ok();
    let text = state.metrics.render(&state.pool, pending)?;
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(text))
}

/// Prometheus metrics of this process.
///
/// Request counts and latency histograms by method, route pattern and status
/// (`crm_http_requests_total`, `crm_http_request_duration_seconds`), the database pool's
/// connections (`crm_db_pool_connections{state="idle|in_use"}`,
/// `crm_db_pool_max_connections`), webhook delivery attempts this process concluded by
/// outcome (`crm_webhook_delivery_attempts_total`) and the deliveries waiting across every
/// replica (`crm_webhook_deliveries_pending`). Each replica reports its own requests:
/// scrape every replica, not the load balancer.
///
/// Where it is served: with `METRICS_BIND_ADDR` set, on that address only, without a token
/// (keep it off the public network), and this path on the API port answers 404; otherwise
/// here, to `Authorization: Bearer <METRICS_TOKEN>` (401 without it, and to everyone while
/// `METRICS_TOKEN` is unset).
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, content_type = "text/plain", body = String, description = "Prometheus text format 0.0.4"),
        (status = 401, description = "Missing or wrong METRICS_TOKEN, or no METRICS_TOKEN configured"),
        (status = 404, description = "Served on METRICS_BIND_ADDR instead"),
    ),
    security(("metrics_token" = []))
)]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, AppError> {
    match Exposure::of(&state.settings) {
        Exposure::OwnListener => Err(AppError::NotFound),
        Exposure::Closed => Err(AppError::Unauthorized("Metrics need METRICS_TOKEN to be configured.".into())),
        Exposure::Token(token) => {
            let given = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("");
            // Digests compared, so the comparison's time says nothing about the token.
            if crate::auth::token_digest(given) != crate::auth::token_digest(&token) {
                return Err(AppError::Unauthorized("Missing or wrong metrics token.".into()));
            }
            scrape(&state).await
        }
    }
}

/// The handler of the `METRICS_BIND_ADDR` listener.
pub async fn own_listener(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    scrape(&state).await
}
