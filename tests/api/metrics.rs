//! `GET /metrics` (SPEC §12): request counts and latency histograms by route and status,
//! pool use and webhook deliveries; behind `METRICS_TOKEN` on the API port. Each app has its
//! own registry, so the counts here are exact. (`METRICS_BIND_ADDR` is tested against the
//! real binary in cli.rs.)

use crate::helpers::{TestApp, TEST_METRICS_TOKEN};

crate::both_backends!(requests_are_counted_by_route_and_status, the_token_is_required);

async fn requests_are_counted_by_route_and_status(app: TestApp) {
    let owner = app.signup().await;
    for _ in 0..3 {
        assert_eq!(app.get("/v1/me").bearer(&owner.token).send().await.status, 200);
    }
    for _ in 0..2 {
        let missing = format!("/v1/contacts/{}", uuid::Uuid::now_v7());
        app.get(&missing).bearer(&owner.token).send().await.assert_problem(404);
    }
    app.get("/v1/nothing-here/12345").send().await.assert_problem(404);
    app.get("/v1/nothing-here/67890").send().await.assert_problem(404);

    let series = |name: &str, method: &str, route: &str, status: u16| {
        format!("{name}{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}}")
    };
    let count = |method, route, status| series("crm_http_requests_total", method, route, status);
    assert_eq!(app.metric(&count("POST", "/v1/auth/signup", 201)).await, Some(1.0));
    assert_eq!(app.metric(&count("GET", "/v1/me", 200)).await, Some(3.0));
    assert_eq!(app.metric(&count("GET", "/v1/contacts/{id}", 404)).await, Some(2.0), "the pattern, not the ids");
    assert_eq!(app.metric(&count("GET", "(no route)", 404)).await, Some(2.0), "unknown paths share one label");
    let hist = series("crm_http_request_duration_seconds_count", "GET", "/v1/me", 200);
    assert_eq!(app.metric(&hist).await, Some(3.0));
    let le = "crm_http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/me\",status=\"200\",le=\"+Inf\"}";
    assert_eq!(app.metric(le).await, Some(3.0));
    let sum = series("crm_http_request_duration_seconds_sum", "GET", "/v1/me", 200);
    assert!(app.metric(&sum).await.is_some_and(|s| s > 0.0));
    // The scrapes themselves are requests too.
    assert!(app.metric(&count("GET", "/metrics", 200)).await.is_some_and(|n| n >= 7.0));

    assert_eq!(app.metric("crm_db_pool_max_connections").await, Some(4.0), "the test apps' DB_POOL_SIZE");
    let in_use = app.metric("crm_db_pool_connections{state=\"in_use\"}").await.unwrap();
    let idle = app.metric("crm_db_pool_connections{state=\"idle\"}").await.unwrap();
    assert!(in_use >= 0.0 && idle >= 0.0 && in_use + idle <= 4.0, "{in_use} + {idle}");
    assert!(app.metric("crm_webhook_deliveries_pending").await.is_some());
    for outcome in ["delivered", "retry", "failed", "revoked"] {
        let series = format!("crm_webhook_delivery_attempts_total{{outcome=\"{outcome}\"}}");
        assert_eq!(app.metric(&series).await, Some(0.0), "{outcome}: this app delivered nothing");
    }
}

async fn the_token_is_required(app: TestApp) {
    let r = app.get("/metrics").send().await;
    r.assert_problem(401);
    assert!(r.header("www-authenticate").is_some_and(|h| h.starts_with("Bearer")));
    app.get("/metrics").bearer("not-the-token").send().await.assert_problem(401);
    // A user's own access token is no metrics token.
    let owner = app.signup().await;
    app.get("/metrics").bearer(&owner.token).send().await.assert_problem(401);
    let r = app.get("/metrics").bearer(TEST_METRICS_TOKEN).send().await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"), "{:?}", r.header("content-type"));
    assert!(r.text().contains("# TYPE crm_http_request_duration_seconds histogram"), "{}", r.text());
}

/// Without `METRICS_TOKEN` (and without `METRICS_BIND_ADDR`) nobody reads the metrics.
#[actix_web::test]
async fn closed_without_a_token() {
    let app = TestApp::sqlite_with(|s| s.metrics_token = None).await;
    app.get("/metrics").bearer(TEST_METRICS_TOKEN).send().await.assert_problem(401);
    app.get("/metrics").bearer("").send().await.assert_problem(401);
    let app = TestApp::sqlite_with(|s| s.metrics_token = Some("   ".into())).await;
    app.get("/metrics").bearer("   ").send().await.assert_problem(401);
}

/// With `METRICS_BIND_ADDR` the API port does not serve them at all.
#[actix_web::test]
async fn not_on_the_api_port_with_their_own_listener() {
    let app = TestApp::sqlite_with(|s| s.metrics_bind_addr = Some("127.0.0.1:0".into())).await;
    app.get("/metrics").bearer(TEST_METRICS_TOKEN).send().await.assert_problem(404);
}

/// PostgreSQL: `jit = off` is stored for the database, so every new session has it (not a
/// `SET` on the service's own connections, which a transaction-pooling proxy would lose).
#[actix_web::test]
async fn jit_is_off_for_every_new_session() {
    let Some(app) = TestApp::postgres().await else { return };
    assert_eq!(app.sql("SELECT 1 WHERE current_setting('jit') = 'off'"), Ok(1), "a fresh session has jit off");
    assert_eq!(app.sql("SELECT 1 FROM pg_db_role_setting WHERE 'jit=off' = ANY (setconfig)").map(|n| n >= 1), Ok(true));
}
