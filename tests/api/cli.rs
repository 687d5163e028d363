//! The binary's `healthcheck` subcommand (the container's health check, no curl needed)
//! against the real binary serving on a free port.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `crm-api serve` on `port` with a fresh SQLite file in `dir`; callers add the rest.
fn serve_command(port: u16, dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_crm-api"));
    cmd.arg("serve")
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", format!("sqlite://{}/crm.sqlite3", dir.display()))
        .env("JWT_SECRET", crate::helpers::TEST_SECRET)
        .stdout(Stdio::null());
    cmd
}

/// Waits (up to 30 s) until the service on `base` answers `/readyz` with 200.
async fn wait_ready(client: &reqwest::Client, base: &str) {
    for _ in 0..300 {
        if client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status() == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn healthcheck(bind: &str) -> bool {
    Command::new(env!("CARGO_BIN_EXE_crm-api"))
        .arg("healthcheck")
        .env("BIND_ADDR", bind)
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

#[test]
fn healthcheck_follows_the_service() {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("crm-cli-{}", uuid::Uuid::new_v4().simple()));
    let mut server = serve_command(port, &dir).env("RUST_LOG", "warn").stderr(Stdio::null()).spawn().unwrap();
    // Asked on 0.0.0.0, it asks loopback.
    let bind = format!("0.0.0.0:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut up = false;
    while Instant::now() < deadline {
        if healthcheck(&bind) {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = server.kill();
    let _ = server.wait();
    assert!(up, "healthcheck never succeeded against a running service");
    assert!(!healthcheck(&bind), "healthcheck succeeded with no service");
    let _ = std::fs::remove_dir_all(dir);
}

/// One JSON access-log line per request at `info` (SPEC §12 / operations): method, route,
/// status, duration, request id, user id; never the token.
#[test]
fn one_json_access_line_per_request() {
    use std::io::{BufRead, BufReader};
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("crm-cli-{}", uuid::Uuid::new_v4().simple()));
    let mut server = serve_command(port, &dir)
        .env("RUST_LOG", "info")
        .env("LOG_FORMAT", "json")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = server.stderr.take().unwrap();
    let lines = std::thread::spawn(move || BufReader::new(stderr).lines().map_while(Result::ok).collect::<Vec<_>>());
    let base = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (token, user_id) = rt.block_on(async {
        let client = reqwest::Client::new();
        wait_ready(&client, &base).await;
        let body = serde_json::json!({"account_name": "Log", "email": "log@example.test", "password": "log-password-1",
                                      "first_name": "L", "last_name": "G"});
        let signup = client
            .post(format!("{base}/v1/auth/signup"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let r: serde_json::Value = serde_json::from_str(&signup.text().await.unwrap()).unwrap();
        let token = r["access_token"].as_str().unwrap().to_owned();
        let me = client.get(format!("{base}/v1/me")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(me.status(), 200);
        let contact = client.get(format!("{base}/v1/contacts/{}", uuid::Uuid::new_v4())).bearer_auth(&token);
        assert_eq!(contact.send().await.unwrap().status(), 404);
        let listed = client.get(format!("{base}/v1/contacts?q=query-text-stays-out")).bearer_auth(&token);
        assert_eq!(listed.send().await.unwrap().status(), 200);
        (token, r["user"]["id"].as_str().unwrap().to_owned())
    });
    // A graceful stop (SIGTERM): the background log writer flushes its queue on the way out
    // (a SIGKILL could lose the last lines).
    let stopped = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(stopped.success());
    let _ = server.wait();
    let lines = lines.join().unwrap();
    assert!(lines.iter().all(|l| !l.contains(&token)), "a token reached the log");
    assert!(lines.iter().all(|l| !l.contains("query-text-stays-out")), "a query string reached the log");
    let access: Vec<serde_json::Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "access")
        .collect();
    let find = |route: &str| {
        access
            .iter()
            .find(|v| v["fields"]["route"] == route)
            .unwrap_or_else(|| panic!("no line for {route}: {access:?}"))
    };
    let signup = find("/v1/auth/signup");
    assert_eq!(
        (signup["fields"]["method"].clone(), signup["fields"]["status"].clone()),
        (serde_json::json!("POST"), serde_json::json!(201))
    );
    let me = find("/v1/me");
    assert_eq!(me["fields"]["user_id"], serde_json::json!(user_id));
    assert!(
        me["fields"]["duration_ms"].as_f64().is_some() && !me["fields"]["request_id"].as_str().unwrap().is_empty(),
        "{me}"
    );
    assert_eq!(me["fields"]["client_ip"], "127.0.0.1", "{me}");
    let missing = find("/v1/contacts/{id}");
    assert_eq!(missing["fields"]["status"], 404, "the route pattern, not the id: {missing}");
    assert_eq!(access.len(), 5, "one line per request (readyz, signup, me, contact, list): {access:?}");
    let _ = std::fs::remove_dir_all(dir);
}

/// `METRICS_BIND_ADDR`: `/metrics` on its own listener without a token, counting the API
/// port's requests; the API port answers 404 for it.
#[test]
fn metrics_on_their_own_listener() {
    let (port, metrics_port) = (free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("crm-cli-{}", uuid::Uuid::new_v4().simple()));
    let mut server = serve_command(port, &dir)
        .env("METRICS_BIND_ADDR", format!("127.0.0.1:{metrics_port}"))
        .env("METRICS_TOKEN", "ignored-with-a-listener")
        .env("RUST_LOG", "warn")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (on_api, text) = rt.block_on(async {
        let client = reqwest::Client::new();
        wait_ready(&client, &base).await;
        for _ in 0..3 {
            assert_eq!(client.get(format!("{base}/healthz")).send().await.unwrap().status(), 200);
        }
        let on_api = client.get(format!("{base}/metrics")).bearer_auth("ignored-with-a-listener").send().await;
        let scraped = client.get(format!("http://127.0.0.1:{metrics_port}/metrics")).send().await.unwrap();
        assert_eq!(scraped.status(), 200);
        (on_api.unwrap().status(), scraped.text().await.unwrap())
    });
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(dir);
    assert_eq!(on_api, 404, "the API port does not serve the metrics");
    assert!(text.contains("crm_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 3"), "{text}");
    assert!(text.contains("crm_http_requests_total{method=\"GET\",route=\"/metrics\",status=\"404\"} 1"), "{text}");
}
