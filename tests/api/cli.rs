//! The binary's `healthcheck` subcommand (the container's health check, no curl needed)
//! against the real binary serving on a free port.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
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
    let mut server = Command::new(env!("CARGO_BIN_EXE_crm-api"))
        .arg("serve")
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", format!("sqlite://{}/crm.sqlite3", dir.display()))
        .env("JWT_SECRET", crate::helpers::TEST_SECRET)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
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
