//! Login throttling in the database (SPEC §12): one budget for all replicas, the client's
//! address from `X-Forwarded-For` only behind a trusted proxy, old rows forgotten.

use serde_json::json;

use crate::helpers::TestApp;

crate::both_backends!(
    replicas_share_one_login_budget,
    forwarded_for_counts_only_behind_a_trusted_proxy,
    refilled_buckets_are_forgotten
);

async fn login_status(app: &TestApp, email: &str, peer: &str, forwarded: Option<&str>) -> u16 {
    let mut r = app.post("/v1/auth/login").peer(peer);
    if let Some(f) = forwarded {
        r = r.header("X-Forwarded-For", f);
    }
    r.json(json!({"email": email, "password": "wrong-password"})).send().await.status
}

/// Two processes on one database (their own pools and states) take from one budget.
async fn replicas_share_one_login_budget(app: TestApp) {
    let mut settings = app.state.settings.clone();
    settings.login_attempts_per_minute = 3;
    let a = TestApp::with_state(crm_api::app::state(settings.clone()).unwrap()).await;
    let b = TestApp::with_state(crm_api::app::state(settings).unwrap()).await;
    let email = crate::helpers::unique_email("throttle");
    let mut statuses = Vec::new();
    for i in 0..6 {
        let replica = if i % 2 == 0 { &a } else { &b };
        statuses.push(login_status(replica, &email, &format!("198.51.100.{i}:4000"), None).await);
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429, 429], "the limit, not twice the limit");
}

async fn forwarded_for_counts_only_behind_a_trusted_proxy(app: TestApp) {
    let mut settings = app.state.settings.clone();
    settings.login_attempts_per_minute = 1; // 3 per address
    settings.trusted_proxies = "10.0.0.0/8".into();
    let app = TestApp::with_state(crm_api::app::state(settings).unwrap()).await;
    let client = format!("203.0.113.{}", rand::random::<u8>());
    let email = || crate::helpers::unique_email("proxy");
    // Behind the proxy, each client has its own budget.
    for _ in 0..3 {
        assert_eq!(login_status(&app, &email(), "10.0.0.1:5000", Some(&client)).await, 401);
    }
    assert_eq!(
        login_status(&app, &email(), "10.0.0.2:5000", Some(&client)).await,
        429,
        "one client behind two proxies"
    );
    assert_eq!(login_status(&app, &email(), "10.0.0.1:5000", Some("203.0.113.250, 198.51.100.1")).await, 401);
    // A client appending its own header behind the proxy is still itself.
    let spoof = format!("198.51.100.99, {client}");
    assert_eq!(
        login_status(&app, &email(), "10.0.0.1:5000", Some(&spoof)).await,
        429,
        "the spoofed hop is not believed"
    );
    // An untrusted peer's header is ignored: it is its own client.
    let peer = format!("192.0.2.{}:6000", rand::random::<u8>());
    for _ in 0..3 {
        assert_eq!(login_status(&app, &email(), &peer, Some("203.0.113.1")).await, 401);
    }
    assert_eq!(login_status(&app, &email(), &peer, Some("203.0.113.2")).await, 429);
}

async fn refilled_buckets_are_forgotten(app: TestApp) {
    let ghost = format!("email:ghost-{}@example.test", uuid::Uuid::new_v4().simple());
    app.sql(&format!("INSERT INTO login_throttle (key, tokens, updated_ms, allowed) VALUES ('{ghost}', 0, 0, FALSE)"))
        .unwrap();
    login_status(&app, &crate::helpers::unique_email("any"), "198.51.100.7:1", None).await;
    let gone = app.sql(&format!("DELETE FROM login_throttle WHERE key = '{ghost}'")).unwrap();
    assert_eq!(gone, 0, "an attempt deletes rows whose bucket has refilled");
}
