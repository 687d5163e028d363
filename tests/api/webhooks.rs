//! Webhooks (SPEC §10): subscriptions, the test event, signed deliveries to a real
//! receiver on loopback that verifies each signature with the official Standard Webhooks
//! library (PyPI), retries, `410`, revocation, and two workers sharing the queue.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use serde_json::{json, Value};

use crate::helpers::{Session, TestApp};

crate::both_backends!(
    subscriptions_are_their_users_and_show_the_secret_once,
    urls_must_be_public_https,
    test_events_arrive_signed_and_are_logged,
    failures_retry_and_410_disables,
    deliveries_are_revoked_when_the_user_is_deactivated,
    two_workers_never_send_one_delivery_twice
);

/// `standardwebhooks` for the receiver: the installed one, else installed once from PyPI
/// into `target/pydeps` (so `cargo test` works on a fresh machine).
fn python_path() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| {
        let ok = |path: &str| {
            Command::new("python3")
                .args(["-c", "import standardwebhooks"])
                .env("PYTHONPATH", path)
                .status()
                .is_ok_and(|s| s.success())
        };
        if ok("") {
            return String::new();
        }
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/target/pydeps");
        if !ok(dir) {
            let status = Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", dir])
                .arg("standardwebhooks==1.1.0")
                .status()
                .expect("pip");
            assert!(status.success(), "cannot install standardwebhooks from PyPI");
        }
        dir.to_owned()
    })
}

pub struct Receiver {
    child: Child,
    base: String,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Receiver {
    pub fn start() -> Receiver {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/receiver/receiver.py");
        let mut child = Command::new("python3")
            .arg(script)
            .env("PYTHONPATH", python_path())
            .stdout(Stdio::piped())
            .spawn()
            .expect("receiver");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port: u16 = line.trim().parse().unwrap_or_else(|_| panic!("receiver said {line:?}"));
        Receiver { child, base: format!("http://127.0.0.1:{port}") }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: String) -> reqwest::Response {
        reqwest::Client::new().request(method, format!("{}{path}", self.base)).body(body).send().await.unwrap()
    }

    pub async fn secret(&self, name: &str, secret: &str) {
        self.call(reqwest::Method::POST, &format!("/secret/{name}"), secret.to_owned()).await;
    }

    pub async fn behave(&self, name: &str, status: u16, times: u32) {
        let body = json!({"status": status, "times": times}).to_string();
        self.call(reqwest::Method::POST, &format!("/behave/{name}"), body).await;
    }

    pub async fn received(&self, name: &str) -> Vec<Value> {
        let r = self.call(reqwest::Method::GET, &format!("/received/{name}"), String::new()).await;
        serde_json::from_str(&r.text().await.unwrap()).unwrap()
    }

    pub fn url(&self, name: &str) -> String {
        format!("{}/hook/{name}", self.base)
    }
}

/// One worker round over `by`'s account, as a service process would run it.
pub async fn deliver(app: &TestApp, by: &Session) -> usize {
    let client = crm_api::webhooks::target::client(true).unwrap();
    crm_api::webhooks::worker::run_once(&app.state, &client, Some(by.account_id.clone())).await.unwrap()
}

pub async fn subscribe(app: &TestApp, by: &Session, url: &str, events: Value) -> Value {
    let r = app.post("/v1/webhooks").bearer(&by.token).json(json!({"url": url, "events": events})).send().await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

pub async fn deliveries(app: &TestApp, by: &Session, hook: &str) -> Vec<Value> {
    let r = app.get(&format!("/v1/webhooks/{hook}/deliveries")).bearer(&by.token).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["data"].as_array().unwrap().clone()
}

async fn subscriptions_are_their_users_and_show_the_secret_once(app: TestApp) {
    let owner = app.signup().await;
    let seller = app.user(&owner, "user", &[]).await;
    let other = app.user(&owner, "user", &[]).await;
    let focused = app.user(&owner, "focused", &[]).await;
    let r = app
        .post("/v1/webhooks")
        .bearer(&focused.token)
        .json(json!({"url": "https://example.com/h", "events": ["*"]}))
        .send()
        .await;
    r.assert_problem(403);
    app.get("/v1/webhooks").bearer(&focused.token).send().await.assert_problem(403);
    let hook = subscribe(&app, &seller, "http://127.0.0.1:9/h", json!(["contact.created", "contact.created"])).await;
    let secret = hook["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{hook}");
    assert_eq!((hook["events"].clone(), hook["user_id"].clone()), (json!(["contact.created"]), json!(seller.user_id)));
    let id = hook["id"].as_str().unwrap();
    let got = app.get(&format!("/v1/webhooks/{id}")).bearer(&seller.token).send().await;
    assert_eq!(got.status, 200);
    assert!(got.json().get("secret").is_none(), "the secret is shown once");
    // Another user sees nothing of it; owner/admin see and manage it.
    app.get(&format!("/v1/webhooks/{id}")).bearer(&other.token).send().await.assert_problem(404);
    app.delete(&format!("/v1/webhooks/{id}")).bearer(&other.token).send().await.assert_problem(404);
    assert_eq!(app.get("/v1/webhooks").bearer(&other.token).send().await.json()["data"], json!([]));
    let all = app.get("/v1/webhooks").bearer(&owner.token).send().await.json();
    assert_eq!(all["data"].as_array().unwrap().len(), 1);
    let r = app.patch(&format!("/v1/webhooks/{id}")).bearer(&owner.token).json(json!({"events": ["*"]})).send().await;
    assert_eq!((r.status, r.json()["events"].clone()), (200, json!(["*"])));
    let rotated = app.post(&format!("/v1/webhooks/{id}/rotate-secret")).bearer(&seller.token).send().await;
    assert_eq!(rotated.status, 200);
    let new_secret = rotated.json()["secret"].as_str().unwrap().to_owned();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    let r = app
        .post("/v1/webhooks")
        .bearer(&seller.token)
        .json(json!({"url": "https://example.com/h", "events": ["contact.exploded"]}))
        .send()
        .await;
    assert!(r.assert_problem(422)["errors"]["events"].is_array());
    // Audited, the secret never in the entry.
    let audit = app.get("/v1/audit?entity_type=webhook").bearer(&owner.token).send().await.text();
    assert!(audit.contains(id) && !audit.contains(&secret) && !audit.contains(&new_secret), "{audit}");
    assert_eq!(app.delete(&format!("/v1/webhooks/{id}")).bearer(&owner.token).send().await.status, 204);
    app.get(&format!("/v1/webhooks/{id}")).bearer(&seller.token).send().await.assert_problem(404);
}

async fn urls_must_be_public_https(_app: TestApp) {
    let app = TestApp::sqlite_with(|s| s.webhook_allow_private = false).await;
    let owner = app.signup().await;
    for url in [
        "http://example.com/hook",
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[fd00::1]/hook",
        "https://[::ffff:192.168.0.1]/hook",
        "https://localhost/hook",
        "https://user:pw@example.com/hook",
        "ftp://example.com/",
        "not a url",
    ] {
        let r = app.post("/v1/webhooks").bearer(&owner.token).json(json!({"url": url, "events": ["*"]})).send().await;
        let problem = r.assert_problem(422);
        assert!(problem["errors"]["url"].is_array(), "{url}: {problem}");
    }
    use std::net::IpAddr;
    for (ip, bad) in [("8.8.8.8", false), ("100.64.0.1", true), ("224.0.0.1", true), ("2001:4860:4860::8888", false)] {
        assert_eq!(crm_api::webhooks::target::forbidden(ip.parse::<IpAddr>().unwrap()), bad, "{ip}");
    }
}

async fn test_events_arrive_signed_and_are_logged(app: TestApp) {
    let rx = Receiver::start();
    let owner = app.signup().await;
    let hook = subscribe(&app, &owner, &rx.url("t"), json!(["contact.created"])).await;
    rx.secret("t", hook["secret"].as_str().unwrap()).await;
    let id = hook["id"].as_str().unwrap();
    let r = app.post(&format!("/v1/webhooks/{id}/test")).bearer(&owner.token).send().await;
    assert_eq!(r.status, 202, "{}", r.text());
    let queued = r.json();
    assert_eq!((queued["status"].clone(), queued["event_type"].clone()), (json!("pending"), json!("webhook.test")));
    assert_eq!(deliver(&app, &owner).await, 1);
    let got = rx.received("t").await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["verified"], true, "{}", got[0]);
    assert_eq!(got[0]["id"], queued["id"], "webhook-id is the delivery id");
    let body = &got[0]["body"];
    assert_eq!((body["id"].clone(), body["type"].clone()), (queued["id"].clone(), json!("webhook.test")));
    assert!(body["created_at"].is_string() && body["data"]["webhook_id"] == json!(id), "{body}");
    let log = deliveries(&app, &owner, id).await;
    assert_eq!(
        (log[0]["status"].clone(), log[0]["response_status"].clone(), log[0]["attempts"].clone()),
        (json!("delivered"), json!(200), json!(1))
    );
    assert_eq!(deliver(&app, &owner).await, 0, "nothing left");
    // Replay through the API; a pending one cannot be retried again.
    let path = format!("/v1/webhooks/{id}/deliveries/{}/retry", queued["id"].as_str().unwrap());
    assert_eq!(app.post(&path).bearer(&owner.token).send().await.status, 202);
    app.post(&path).bearer(&owner.token).send().await.assert_problem(409);
    assert_eq!(deliver(&app, &owner).await, 1);
    assert_eq!(rx.received("t").await.len(), 2);
    // After a rotation the receiver with the old secret refuses, with the new one accepts.
    let rotated = app.post(&format!("/v1/webhooks/{id}/rotate-secret")).bearer(&owner.token).send().await.json();
    app.post(&format!("/v1/webhooks/{id}/test")).bearer(&owner.token).send().await;
    deliver(&app, &owner).await;
    assert_eq!(rx.received("t").await[2]["verified"], false);
    rx.secret("t", rotated["secret"].as_str().unwrap()).await;
    app.post(&format!("/v1/webhooks/{id}/test")).bearer(&owner.token).send().await;
    deliver(&app, &owner).await;
    assert_eq!(rx.received("t").await[3]["verified"], true);
    let filtered =
        app.get(&format!("/v1/webhooks/{id}/deliveries?status=pending")).bearer(&owner.token).send().await.json();
    assert_eq!(filtered["data"].as_array().unwrap().len(), 1, "the refused one waits for its retry: {filtered}");
}

async fn failures_retry_and_410_disables(app: TestApp) {
    let rx = Receiver::start();
    let owner = app.signup().await;
    let hook = subscribe(&app, &owner, &rx.url("f"), json!(["*"])).await;
    rx.secret("f", hook["secret"].as_str().unwrap()).await;
    let id = hook["id"].as_str().unwrap();
    rx.behave("f", 500, 1).await;
    app.post(&format!("/v1/webhooks/{id}/test")).bearer(&owner.token).send().await;
    assert_eq!(deliver(&app, &owner).await, 1);
    let d = &deliveries(&app, &owner, id).await[0];
    assert_eq!(
        (d["status"].clone(), d["attempts"].clone(), d["response_status"].clone()),
        (json!("pending"), json!(1), json!(500))
    );
    assert_eq!(deliver(&app, &owner).await, 0, "not due before its backoff");
    app.sql(&format!(
        "UPDATE webhook_deliveries SET next_attempt_at = '2000-01-01 00:00:00' WHERE webhook_id = '{id}'"
    ))
    .unwrap();
    assert_eq!(deliver(&app, &owner).await, 1);
    let d = &deliveries(&app, &owner, id).await[0];
    assert_eq!((d["status"].clone(), d["attempts"].clone()), (json!("delivered"), json!(2)));
    let outcome = |o: &str| format!("crm_webhook_delivery_attempts_total{{outcome=\"{o}\"}}");
    assert_eq!(app.metric(&outcome("retry")).await, Some(1.0), "the 500");
    assert_eq!(app.metric(&outcome("delivered")).await, Some(1.0));
    // 410 Gone: the subscription is disabled at once, with the reason.
    rx.behave("f", 410, 1).await;
    app.post(&format!("/v1/webhooks/{id}/test")).bearer(&owner.token).send().await;
    deliver(&app, &owner).await;
    let h = app.get(&format!("/v1/webhooks/{id}")).bearer(&owner.token).send().await.json();
    assert_eq!(h["active"], false);
    assert!(h["disabled_reason"].as_str().unwrap().contains("410"), "{h}");
    app.post(&format!("/v1/webhooks/{id}/test")).bearer(&owner.token).send().await;
    assert_eq!(deliver(&app, &owner).await, 0, "a disabled subscription sends nothing");
    let r = app.patch(&format!("/v1/webhooks/{id}")).bearer(&owner.token).json(json!({"active": true})).send().await;
    assert_eq!((r.status, r.json()["disabled_reason"].clone()), (200, Value::Null));
    assert_eq!(deliver(&app, &owner).await, 1, "re-enabled: what waited is sent");
    // Three days of failures disable it too.
    rx.behave("f", 503, 100).await;
    app.post(&format!("/v1/webhooks/{id}/test")).bearer(&owner.token).send().await;
    app.sql(&format!("UPDATE webhooks SET failing_since = '2000-01-01 00:00:00' WHERE id = '{id}'")).unwrap();
    app.sql(&format!("UPDATE webhook_deliveries SET created_at = '2000-01-01 00:00:00' WHERE webhook_id = '{id}' AND status = 'pending'")).unwrap();
    deliver(&app, &owner).await;
    let h = app.get(&format!("/v1/webhooks/{id}")).bearer(&owner.token).send().await.json();
    assert_eq!(h["active"], false);
    assert!(h["disabled_reason"].as_str().unwrap().contains("3 days"), "{h}");
    let failed =
        app.get(&format!("/v1/webhooks/{id}/deliveries?status=failed")).bearer(&owner.token).send().await.json();
    assert_eq!(failed["data"].as_array().unwrap().len(), 2, "the 410 one and the expired one: {failed}");
    assert_eq!(app.metric(&outcome("failed")).await, Some(2.0), "the 410 one and the expired one");
}

async fn deliveries_are_revoked_when_the_user_is_deactivated(app: TestApp) {
    let rx = Receiver::start();
    let owner = app.signup().await;
    let seller = app.user(&owner, "user", &[]).await;
    let hook = subscribe(&app, &seller, &rx.url("r"), json!(["*"])).await;
    rx.secret("r", hook["secret"].as_str().unwrap()).await;
    let id = hook["id"].as_str().unwrap();
    app.post(&format!("/v1/webhooks/{id}/test")).bearer(&seller.token).send().await;
    let r = app
        .patch(&format!("/v1/users/{}", seller.user_id))
        .bearer(&owner.token)
        .json(json!({"active": false}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(deliver(&app, &owner).await, 1);
    assert!(rx.received("r").await.is_empty(), "nothing is sent for a deactivated user");
    let d = &deliveries(&app, &owner, id).await[0];
    assert_eq!(d["status"], "revoked");
    assert!(d["error"].as_str().unwrap().contains("deactivated"), "{d}");
    assert_eq!(app.metric("crm_webhook_delivery_attempts_total{outcome=\"revoked\"}").await, Some(1.0));
    assert_eq!(app.metric("crm_webhook_delivery_attempts_total{outcome=\"delivered\"}").await, Some(0.0));
}

async fn two_workers_never_send_one_delivery_twice(app: TestApp) {
    let rx = Receiver::start();
    let owner = app.signup().await;
    let hook = subscribe(&app, &owner, &rx.url("w"), json!(["*"])).await;
    rx.secret("w", hook["secret"].as_str().unwrap()).await;
    let id = hook["id"].as_str().unwrap();
    for _ in 0..30 {
        app.post(&format!("/v1/webhooks/{id}/test")).bearer(&owner.token).send().await;
    }
    // A second process on the same database: its own pool and worker.
    let other = crm_api::app::state(app.state.settings.clone()).unwrap();
    let client = crm_api::webhooks::target::client(true).unwrap();
    let mut sent = 0;
    for _ in 0..10 {
        let (a, b) = futures_util::join!(
            deliver(&app, &owner),
            crm_api::webhooks::worker::run_once(&other, &client, Some(owner.account_id.clone()))
        );
        sent += a + b.unwrap();
    }
    assert_eq!(sent, 30);
    let got = rx.received("w").await;
    let mut ids: Vec<&str> = got.iter().map(|g| g["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!((got.len(), ids.len()), (30, 30), "each delivery once");
    assert!(got.iter().all(|g| g["verified"] == true));
}
