//! The test harness: the real actix app on a real database, one database per backend
//! per test (SQLite: a fresh file; PostgreSQL: a fresh account in a per-process database).

use std::rc::Rc;
use std::sync::OnceLock;

use actix_web::body::{self, BoxBody};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::http::Method;
use actix_web::test::TestRequest;
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, RunQueryDsl};
use serde_json::{json, Value};

use crm_api::config::{AppEnv, LogFormat, Settings};

/// `METRICS_TOKEN` of every test app (`TestApp::metric` scrapes with it).
pub const TEST_METRICS_TOKEN: &str = "test-metrics-token";
/// The service's base URL as the tests' OpenID provider knows it (its callback).
pub const SSO_PUBLIC_URL: &str = "http://crm.localhost";

pub const TEST_SECRET: &str = "test-secret-that-is-long-enough-for-hs256!";

type BoxedService =
    Rc<dyn Fn(actix_http::Request) -> std::pin::Pin<Box<dyn std::future::Future<Output = ServiceResponse<BoxBody>>>>>;

pub struct TestApp {
    service: BoxedService,
    #[allow(dead_code)]
    pub backend: &'static str,
    sqlite_file: Option<std::path::PathBuf>,
    database_url: String,
    /// The app's state, for driving the webhook worker one round at a time.
    #[allow(dead_code)]
    pub state: actix_web::web::Data<crm_api::state::AppState>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(path) = &self.sqlite_file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
    }
}

pub fn settings(database_url: String) -> Settings {
    Settings {
        database_url,
        bind_addr: "127.0.0.1:0".into(),
        jwt_secret: Some(TEST_SECRET.into()),
        jwt_secrets: None,
        app_env: AppEnv::Test,
        allow_signup: true,
        log_format: LogFormat::Pretty,
        jwt_issuer: "crm-api".into(),
        access_token_ttl_secs: 900,
        refresh_token_ttl_secs: 3600,
        json_body_limit: 64 * 1024,
        import_body_limit: 4 * 1024 * 1024,
        db_pool_size: 4,
        db_test_on_checkout: true,
        db_timeout_secs: 5,
        login_attempts_per_minute: 100_000,
        trusted_proxies: String::new(),
        cors_allowed_origins: String::new(),
        webhook_allow_private: true,
        webhook_concurrency: 8,
        webhook_poll_ms: 100,
        webhook_lease_secs: 60,
        webhook_worker: false,
        metrics_bind_addr: None,
        metrics_token: Some(TEST_METRICS_TOKEN.into()),
        public_url: Some(SSO_PUBLIC_URL.into()),
    }
}

/// One PostgreSQL database per test process, migrated once; tests share it through
/// separate accounts. `None` when TEST_DATABASE_URL is unset.
pub fn postgres_url() -> Option<&'static str> {
    static URL: OnceLock<Option<String>> = OnceLock::new();
    URL.get_or_init(|| {
        let base = std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.is_empty())?;
        let mut admin = PgConnection::establish(&base).expect("TEST_DATABASE_URL must be reachable");
        // Databases left by earlier test processes.
        let stale: Vec<String> =
            diesel::sql_query("SELECT datname AS name FROM pg_database WHERE datname LIKE 'crm\\_test\\_%'")
                .load::<DbName>(&mut admin)
                .map(|rows| rows.into_iter().map(|r| r.name).collect())
                .unwrap_or_default();
        for db in stale {
            // Only databases of test processes that are gone: a live process's database
            // may have no open connection at this moment.
            let pid = db.split('_').nth(2).unwrap_or("");
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{db}\""));
            }
        }
        Some(new_postgres_database(&base))
    })
    .as_deref()
}

/// A database of its own, migrated, for a test whose figures other tests' rows would
/// change (planner statistics). Dropped by the next test process, like the shared one.
pub fn fresh_postgres_url() -> Option<String> {
    postgres_url()?; // the stale databases are gone before this one is made
    Some(new_postgres_database(&std::env::var("TEST_DATABASE_URL").ok()?))
}

fn new_postgres_database(base: &str) -> String {
    let name = format!("crm_test_{}_{}", std::process::id(), uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::establish(base).expect("TEST_DATABASE_URL must be reachable");
    admin.batch_execute(&format!("CREATE DATABASE \"{name}\"")).expect("create test database");
    let url = database_url_named(base, &name);
    // One connection held for the life of the process: the database is never unused.
    std::mem::forget(PgConnection::establish(&url).expect("connect to the test database"));
    let state = crm_api::app::state(settings(url.clone())).expect("state");
    crm_api::app::migrate(&state).expect("migrations");
    url
}

#[derive(diesel::QueryableByName)]
struct DbName {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

/// `url` with its database name replaced by `name`.
pub fn database_url_named(url: &str, name: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let scheme_end = head.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match head[scheme_end..].find('/') {
        Some(i) => &head[..scheme_end + i],
        None => head,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl TestApp {
    pub async fn sqlite() -> TestApp {
        Self::sqlite_with(|_| {}).await
    }

    pub async fn sqlite_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let path = std::env::temp_dir().join(format!("crm-test-{}.sqlite3", uuid::Uuid::new_v4().simple()));
        let mut s = settings(format!("sqlite://{}", path.display()));
        tweak(&mut s);
        let state = crm_api::app::state(s).expect("state");
        crm_api::app::migrate(&state).expect("migrations");
        let mut app = Self::start(state, "sqlite").await;
        app.sqlite_file = Some(path);
        app
    }

    /// `None` (and a note on stderr) when TEST_DATABASE_URL is not set.
    pub async fn postgres() -> Option<TestApp> {
        Self::postgres_with(|_| {}).await
    }

    pub async fn postgres_with(tweak: impl FnOnce(&mut Settings)) -> Option<TestApp> {
        let Some(url) = postgres_url() else {
            eprintln!("TEST_DATABASE_URL is not set: PostgreSQL variant not run");
            return None;
        };
        let mut s = settings(url.to_owned());
        tweak(&mut s);
        let state = crm_api::app::state(s).expect("state");
        Some(Self::start(state, "postgres").await)
    }

    pub async fn with_state(state: actix_web::web::Data<crm_api::state::AppState>) -> TestApp {
        Self::start(state, "custom").await
    }

    async fn start(state: actix_web::web::Data<crm_api::state::AppState>, backend: &'static str) -> TestApp {
        let database_url = state.settings.database_url.clone();
        let app_state = state.clone();
        let svc = Rc::new(actix_web::test::init_service(crm_api::app::build(state)).await);
        let service: BoxedService = Rc::new(move |req| {
            let svc = svc.clone();
            Box::pin(async move {
                match svc.call(req).await {
                    Ok(res) => res.map_into_boxed_body(),
                    Err(e) => panic!("service error escaped the error handlers: {e}"),
                }
            })
        });
        TestApp { service, backend, sqlite_file: None, database_url, state: app_state }
    }

    /// The value of one series of `GET /metrics`, named as the text format writes it
    /// (`name{label="value",…}` with the labels in the order the exposition sorts them).
    pub async fn metric(&self, series: &str) -> Option<f64> {
        let r = self.get("/metrics").bearer(TEST_METRICS_TOKEN).send().await;
        assert_eq!(r.status, 200, "{}", r.text());
        r.text().lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
    }

    /// Runs one SQL statement on the app's database over a connection of its own (for
    /// tests of what the database itself refuses); the error text when it fails.
    pub fn sql(&self, statement: &str) -> Result<usize, String> {
        use diesel::SqliteConnection;
        let run = |result: diesel::QueryResult<usize>| result.map_err(|e| e.to_string());
        match self.database_url.strip_prefix("sqlite://") {
            Some(path) => {
                let mut conn = SqliteConnection::establish(path).map_err(|e| e.to_string())?;
                run(diesel::sql_query(statement).execute(&mut conn))
            }
            None => {
                let mut conn = PgConnection::establish(&self.database_url).map_err(|e| e.to_string())?;
                run(diesel::sql_query(statement).execute(&mut conn))
            }
        }
    }

    pub fn req(&self, method: Method, path: &str) -> Req<'_> {
        Req { app: self, inner: TestRequest::default().method(method).uri(path) }
    }

    pub fn get(&self, path: &str) -> Req<'_> {
        self.req(Method::GET, path)
    }
    pub fn post(&self, path: &str) -> Req<'_> {
        self.req(Method::POST, path)
    }
    pub fn patch(&self, path: &str) -> Req<'_> {
        self.req(Method::PATCH, path)
    }
    pub fn put(&self, path: &str) -> Req<'_> {
        self.req(Method::PUT, path)
    }
    pub fn delete(&self, path: &str) -> Req<'_> {
        self.req(Method::DELETE, path)
    }

    /// A new account and its owner, signed in.
    pub async fn signup(&self) -> Session {
        let email = unique_email("owner");
        let resp = self
            .post("/v1/auth/signup")
            .json(json!({
                "account_name": "Acme",
                "email": email,
                "password": "owner-password",
                "first_name": "Olga",
                "last_name": "Owner",
            }))
            .send()
            .await;
        assert_eq!(resp.status, 201, "signup: {}", resp.text());
        let body = resp.json();
        Session {
            token: body["access_token"].as_str().unwrap().into(),
            refresh: body["refresh_token"].as_str().unwrap().into(),
            user_id: body["user"]["id"].as_str().unwrap().into(),
            account_id: body["account"]["id"].as_str().unwrap().into(),
            email,
            password: "owner-password".into(),
        }
    }

    /// Creates a user of `role` with `privileges` as `by`, then signs them in.
    pub async fn user(&self, by: &Session, role: &str, privileges: &[&str]) -> Session {
        let email = unique_email(role);
        let resp = self
            .post("/v1/users")
            .bearer(&by.token)
            .json(json!({
                "email": email,
                "password": "user-password",
                "first_name": "Test",
                "last_name": role,
                "role": role,
                "privileges": privileges,
            }))
            .send()
            .await;
        assert_eq!(resp.status, 201, "create user: {}", resp.text());
        let user_id = resp.json()["id"].as_str().unwrap().to_owned();
        let mut session = self.login(&email, "user-password").await;
        session.user_id = user_id;
        session.account_id = by.account_id.clone();
        session
    }

    pub async fn login(&self, email: &str, password: &str) -> Session {
        let resp = self.post("/v1/auth/login").json(json!({"email": email, "password": password})).send().await;
        assert_eq!(resp.status, 200, "login: {}", resp.text());
        let body = resp.json();
        Session {
            token: body["access_token"].as_str().unwrap().into(),
            refresh: body["refresh_token"].as_str().unwrap().into(),
            user_id: String::new(),
            account_id: String::new(),
            email: email.into(),
            password: password.into(),
        }
    }

    pub async fn office(&self, by: &Session, name: &str) -> String {
        let resp = self.post("/v1/offices").bearer(&by.token).json(json!({"name": name})).send().await;
        assert_eq!(resp.status, 201, "create office: {}", resp.text());
        resp.json()["id"].as_str().unwrap().to_owned()
    }
}

pub fn unique_email(tag: &str) -> String {
    format!("{tag}-{}@example.test", uuid::Uuid::new_v4().simple())
}

#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    pub refresh: String,
    pub user_id: String,
    pub account_id: String,
    pub email: String,
    pub password: String,
}

pub struct Req<'a> {
    app: &'a TestApp,
    inner: TestRequest,
}

impl Req<'_> {
    pub fn bearer(mut self, token: &str) -> Self {
        self.inner = self.inner.insert_header(("Authorization", format!("Bearer {token}")));
        self
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.inner = self.inner.insert_header((name.to_owned(), value.to_owned()));
        self
    }
    /// The TCP peer the request comes from (default: none, which throttling calls `unknown`).
    pub fn peer(mut self, addr: &str) -> Self {
        self.inner = self.inner.peer_addr(addr.parse().unwrap());
        self
    }
    pub fn json(mut self, value: Value) -> Self {
        self.inner = self.inner.insert_header(("Content-Type", "application/json")).set_payload(value.to_string());
        self
    }
    pub fn raw(mut self, content_type: &str, body: impl Into<actix_web::web::Bytes>) -> Self {
        self.inner = self.inner.insert_header(("Content-Type", content_type.to_owned())).set_payload(body.into());
        self
    }
    pub async fn send(self) -> Resp {
        let res = (self.app.service)(self.inner.to_request()).await;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = body::to_bytes(res.into_body()).await.unwrap_or_default();
        Resp { status, headers, body: body.to_vec() }
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }
    /// Asserts an RFC 9457 problem with this status.
    pub fn assert_problem(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "expected {status}, got {}: {}", self.status, self.text());
        assert_eq!(self.header("content-type").as_deref(), Some("application/problem+json"), "{}", self.text());
        let body = self.json();
        assert_eq!(body["status"], status);
        assert!(body["type"].is_string() && body["title"].is_string() && body["detail"].is_string());
        body
    }
}

/// Generates `sqlite::name` and `postgres::name` tests from `async fn name(app: TestApp)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[actix_web::test]
                async fn $name() {
                    super::$name($crate::helpers::TestApp::sqlite().await).await;
                }
            )+
        }
        mod postgres {
            $(
                #[actix_web::test]
                async fn $name() {
                    if let Some(app) = $crate::helpers::TestApp::postgres().await {
                        super::$name(app).await;
                    }
                }
            )+
        }
    };
}
