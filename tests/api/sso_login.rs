//! SPEC §11's OIDC login against a real OpenID provider: `oidc-provider` from npm
//! (tests/oidc/provider.mjs), installed into target/test-oidc-provider on first use and
//! started on loopback for each test. The tests drive the whole flow over HTTP: start →
//! the provider's authorization endpoint and interactions → callback → exchange → /v1/me.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use serde_json::{json, Value};

use crate::helpers::{unique_email, Resp, Session, TestApp, SSO_PUBLIC_URL};
use crate::sso::domain;

crate::both_backends!(
    sso_login_creates_users_with_their_mapped_roles,
    sso_role_follows_the_claim_at_every_login_but_the_owners,
    sso_refuses_forged_replayed_and_foreign_logins,
    sso_survives_a_rotated_provider_key,
);

const FRONTEND: &str = "https://app.example.test/sso/done";

/// The provider's install directory, made once per test process.
fn provider_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let source = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oidc"));
        let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/test-oidc-provider"));
        std::fs::create_dir_all(&dir).unwrap();
        for file in ["package.json", "package-lock.json", "provider.mjs"] {
            std::fs::copy(source.join(file), dir.join(file)).unwrap();
        }
        let lock = std::fs::read(dir.join("package-lock.json")).unwrap();
        let installed = std::fs::read(dir.join("node_modules/.package-lock.json")).ok();
        if !dir.join("node_modules/oidc-provider").exists() || installed.is_none() {
            let status = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&dir)
                .status()
                .expect("npm is needed for the OpenID provider of the tests");
            assert!(status.success(), "npm ci of oidc-provider failed");
        }
        drop(lock);
        dir
    })
}

/// A running provider; killed when dropped.
struct Provider {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Provider {
    fn start() -> Provider {
        let dir = provider_dir();
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .arg(format!("{SSO_PUBLIC_URL}/v1/auth/sso/callback"))
            .current_dir(dir)
            .stdout(Stdio::piped())
            // Its warnings and errors, for a failing test's reader.
            .stderr(std::fs::OpenOptions::new().create(true).append(true).open(dir.join("provider.log")).unwrap())
            .spawn()
            .expect("node starts the OpenID provider");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port =
            line.trim().strip_prefix("listening ").unwrap_or_else(|| panic!("provider said {line:?}")).to_owned();
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Provider { child, base: format!("http://127.0.0.1:{port}"), http }
    }

    async fn post(&self, path: &str, body: Value) {
        let r = self.http.post(format!("{}{path}", self.base)).body(body.to_string()).send().await.unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
    }

    async fn roles(&self, email: &str, roles: &[&str]) {
        self.post("/test/roles", json!({ email: roles })).await;
    }

    /// Follows the provider's redirects (keeping its cookies) from the authorization URL
    /// until it sends the browser to our callback; answers that callback URL.
    async fn authorize(&self, url: &str) -> String {
        let mut cookies: Vec<(String, String)> = Vec::new();
        let mut url = url.to_owned();
        for _ in 0..10 {
            if url.starts_with(SSO_PUBLIC_URL) {
                return url;
            }
            let jar: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let r = self.http.get(&url).header("cookie", jar.join("; ")).send().await.unwrap();
            for set in r.headers().get_all("set-cookie") {
                let pair = set.to_str().unwrap().split(';').next().unwrap();
                if let Some((k, v)) = pair.split_once('=') {
                    cookies.retain(|(name, _)| name != k);
                    cookies.push((k.to_owned(), v.to_owned()));
                }
            }
            let location = r
                .headers()
                .get("location")
                .unwrap_or_else(|| panic!("provider answered {} without a redirect", r.status()))
                .to_str()
                .unwrap()
                .to_owned();
            url = if location.starts_with('/') { format!("{}{location}", self.base) } else { location };
        }
        panic!("the provider never sent the browser back");
    }
}

/// The key ids the provider publishes.
async fn jwks_kids(provider: &Provider) -> Vec<String> {
    let config: Value = serde_json::from_str(
        &provider
            .http
            .get(format!("{}/.well-known/openid-configuration", provider.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let jwks: Value = serde_json::from_str(
        &provider.http.get(config["jwks_uri"].as_str().unwrap()).send().await.unwrap().text().await.unwrap(),
    )
    .unwrap();
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

fn enc(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The account's SSO configuration pointing at `provider`.
async fn configure(app: &TestApp, owner: &Session, provider: &Provider, domain: &str, default_role: Value) {
    let body = json!({
        "issuer": provider.base,
        "client_id": "crm",
        "client_secret": "crm-client-secret",
        "domains": [domain],
        "redirect_uris": [FRONTEND],
        "role_claim": "roles",
        "role_map": {"crm-admins": "admin", "crm-users": "user", "crm-focused": "focused"},
        "default_role": default_role,
    });
    let r = app.put("/v1/account/sso").bearer(&owner.token).json(body).send().await;
    assert!(r.status == 200 || r.status == 201, "{}", r.text());
}

async fn start(app: &TestApp, email: &str, redirect_uri: &str) -> Resp {
    app.get(&format!("/v1/auth/sso/start?email={}&redirect_uri={}", enc(email), enc(redirect_uri))).send().await
}

/// start → provider → the callback URL the provider sent the browser to.
async fn to_callback(app: &TestApp, provider: &Provider, email: &str) -> String {
    let r = start(app, email, FRONTEND).await;
    assert_eq!(r.status, 302, "{}", r.text());
    let location = r.header("location").unwrap();
    assert!(location.starts_with(&provider.base), "{location}");
    assert!(location.contains("code_challenge_method=S256") && location.contains("nonce="), "{location}");
    provider.authorize(&location).await
}

/// Our callback for the provider's answer (a path and query of ours).
async fn callback(app: &TestApp, url: &str) -> Resp {
    app.get(url.strip_prefix(SSO_PUBLIC_URL).unwrap()).send().await
}

/// The whole flow; answers the session of the signed-in user.
async fn sso_login(app: &TestApp, provider: &Provider, email: &str) -> Session {
    let url = to_callback(app, provider, email).await;
    let r = callback(app, &url).await;
    assert_eq!(r.status, 302, "{}", r.text());
    let location = r.header("location").unwrap();
    let code = location.strip_prefix(&format!("{FRONTEND}?code=")).unwrap_or_else(|| panic!("{location}")).to_owned();
    let r = app.post("/v1/auth/sso/exchange").json(json!({"code": code})).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let tokens = r.json();
    // The code works once.
    app.post("/v1/auth/sso/exchange").json(json!({"code": code})).send().await.assert_problem(401);
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    let me = app.get("/v1/me").bearer(&token).send().await.json();
    Session {
        token,
        refresh: tokens["refresh_token"].as_str().unwrap().into(),
        user_id: me["id"].as_str().unwrap().into(),
        account_id: String::new(),
        email: email.into(),
        password: String::new(),
    }
}

async fn me(app: &TestApp, who: &Session) -> Value {
    let r = app.get("/v1/me").bearer(&who.token).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

async fn sso_login_creates_users_with_their_mapped_roles(app: TestApp) {
    let provider = Provider::start();
    let owner = app.signup().await;
    let d = domain("login");
    configure(&app, &owner, &provider, &d, Value::Null).await;
    for (claim, role) in
        [(vec!["crm-admins", "crm-users"], "admin"), (vec!["crm-users"], "user"), (vec!["crm-focused"], "focused")]
    {
        let email = format!("{}@{d}", uuid::Uuid::new_v4().simple());
        provider.roles(&email, &claim).await;
        let session = sso_login(&app, &provider, &email).await;
        let me = me(&app, &session).await;
        assert_eq!((me["role"].as_str(), me["email"].as_str()), (Some(role), Some(email.as_str())), "{claim:?}");
        assert_eq!((me["first_name"].as_str(), me["last_name"].as_str()), (Some("Sso"), Some("User")));
        let audit =
            app.get(&format!("/v1/audit?entity_id={}", session.user_id)).bearer(&owner.token).send().await.json();
        assert_eq!(audit["data"][0]["action"], "create", "just in time, audited: {audit}");
        // An SSO user has no password.
        let r = app.post("/v1/auth/login").json(json!({"email": email, "password": "!sso"})).send().await;
        r.assert_problem(401);
    }
    // No mapped role and no default_role: 403; with a default role, that role.
    let email = format!("nobody-{}@{d}", uuid::Uuid::new_v4().simple());
    provider.roles(&email, &["unrelated"]).await;
    let url = to_callback(&app, &provider, &email).await;
    callback(&app, &url).await.assert_problem(403);
    configure(&app, &owner, &provider, &d, json!("focused")).await;
    let session = sso_login(&app, &provider, &email).await;
    assert_eq!(me(&app, &session).await["role"], "focused");
}

async fn sso_role_follows_the_claim_at_every_login_but_the_owners(app: TestApp) {
    let provider = Provider::start();
    let d = domain("claims");
    // The owner's own email is in the SSO domain.
    let signup = app
        .post("/v1/auth/signup")
        .json(json!({"account_name": "Claims", "email": format!("boss@{d}"), "password": "owner-password",
                     "first_name": "O", "last_name": "W"}))
        .send()
        .await;
    assert_eq!(signup.status, 201);
    let body = signup.json();
    let owner = Session {
        token: body["access_token"].as_str().unwrap().into(),
        refresh: body["refresh_token"].as_str().unwrap().into(),
        user_id: body["user"]["id"].as_str().unwrap().into(),
        account_id: body["account"]["id"].as_str().unwrap().into(),
        email: format!("boss@{d}"),
        password: "owner-password".into(),
    };
    configure(&app, &owner, &provider, &d, Value::Null).await;
    // A user who sees an unowned contact, then is moved to focused by the IdP.
    let email = format!("mover@{d}");
    provider.roles(&email, &["crm-users"]).await;
    let first = sso_login(&app, &provider, &email).await;
    let hook = crate::webhooks::subscribe(&app, &first, "http://127.0.0.1:9/hook", json!(["access.changed"])).await;
    let contact =
        app.post("/v1/contacts").bearer(&owner.token).json(json!({"first_name": "Shared"})).send().await.json();
    let path = format!("/v1/contacts/{}", contact["id"].as_str().unwrap());
    assert_eq!(app.get(&path).bearer(&first.token).send().await.status, 200);
    provider.roles(&email, &["crm-admins"]).await;
    let second = sso_login(&app, &provider, &email).await;
    assert_eq!(me(&app, &second).await["role"], "admin");
    let events: Vec<Value> = crate::webhooks::deliveries(&app, &owner, hook["id"].as_str().unwrap()).await;
    assert_eq!(events.len(), 1, "access.changed for the role change: {events:?}");
    assert_eq!(events[0]["event_type"], "access.changed");
    provider.roles(&email, &["crm-focused"]).await;
    let third = sso_login(&app, &provider, &email).await;
    assert_eq!(me(&app, &third).await["role"], "focused");
    // Every token of the user, the first login's too, loses the contact at once.
    app.get(&path).bearer(&first.token).send().await.assert_problem(404);
    app.get(&path).bearer(&third.token).send().await.assert_problem(404);
    let audit = app.get(&format!("/v1/audit?entity_id={}", first.user_id)).bearer(&owner.token).send().await.json();
    let roles: Vec<&Value> =
        audit["data"].as_array().unwrap().iter().filter_map(|e| e["changes"].get("role")).collect();
    assert!(roles.contains(&&json!({"old": "user", "new": "admin"})), "{audit}");
    assert!(roles.contains(&&json!({"old": "admin", "new": "focused"})), "{audit}");
    // The owner whose claim says user stays the owner.
    let boss = format!("boss@{d}");
    provider.roles(&boss, &["crm-users"]).await;
    let session = sso_login(&app, &provider, &boss).await;
    assert_eq!(me(&app, &session).await["role"], "owner");
}

async fn sso_refuses_forged_replayed_and_foreign_logins(app: TestApp) {
    let provider = Provider::start();
    let owner = app.signup().await;
    let d = domain("forged");
    configure(&app, &owner, &provider, &d, json!("user")).await;
    let email = format!("ada@{d}");
    // A foreign redirect_uri is refused before anything is sent anywhere.
    let r = start(&app, &email, "https://evil.example.test/steal").await;
    let problem = r.assert_problem(422);
    assert!(problem["errors"].get("redirect_uri").is_some() && r.header("location").is_none(), "{problem}");
    // A domain nobody configured.
    start(&app, &unique_email("x"), FRONTEND).await.assert_problem(404);
    start(&app, "no-at-sign", FRONTEND).await.assert_problem(422);
    // A replayed state: the second use of a callback is refused.
    let url = to_callback(&app, &provider, &email).await;
    assert_eq!(callback(&app, &url).await.status, 302);
    callback(&app, &url).await.assert_problem(400);
    // A made-up state.
    app.get("/v1/auth/sso/callback?state=made-up&code=x").send().await.assert_problem(400);
    // ID tokens with a wrong audience, a wrong nonce, expired: 401, and no user is made.
    let expired = chrono::Utc::now().timestamp() - 3600;
    for (tamper, who) in [
        (json!({"aud": "someone-else"}), "aud"),
        (json!({"nonce": "not-the-login-nonce"}), "nonce"),
        (json!({"exp": expired, "iat": expired - 60}), "exp"),
    ] {
        let victim = format!("{who}-{}@{d}", uuid::Uuid::new_v4().simple());
        let url = to_callback(&app, &provider, &victim).await;
        provider.post("/test/tamper", tamper.clone()).await;
        let problem = callback(&app, &url).await.assert_problem(401);
        assert!(problem["detail"].as_str().unwrap().contains("ID token"), "{tamper}: {problem}");
        let users = app.get("/v1/users").bearer(&owner.token).send().await.text();
        assert!(!users.contains(&victim), "{tamper}: no user for a refused login");
    }
    // An email that is another account's user: 403.
    let other = app.signup().await;
    let taken = format!("taken@{d}");
    let r = app
        .post("/v1/users")
        .bearer(&other.token)
        .json(json!({"email": taken, "password": "user-password", "first_name": "T", "last_name": "U", "role": "user"}))
        .send()
        .await;
    assert_eq!(r.status, 201);
    let url = to_callback(&app, &provider, &taken).await;
    callback(&app, &url).await.assert_problem(403);
    // A deactivated user cannot come back through SSO.
    let session = sso_login(&app, &provider, &email).await;
    let r = app
        .patch(&format!("/v1/users/{}", session.user_id))
        .bearer(&owner.token)
        .json(json!({"active": false}))
        .send()
        .await;
    assert_eq!(r.status, 200);
    let url = to_callback(&app, &provider, &email).await;
    callback(&app, &url).await.assert_problem(403);
    // A redirect_uri taken off the list while the login was at the provider: refused.
    let url = to_callback(&app, &provider, &format!("late-{}@{d}", uuid::Uuid::new_v4().simple())).await;
    let moved = json!({"issuer": provider.base, "client_id": "crm", "domains": [d],
                       "redirect_uris": ["https://app.example.test/elsewhere"], "default_role": "user"});
    assert_eq!(app.put("/v1/account/sso").bearer(&owner.token).json(moved).send().await.status, 200);
    callback(&app, &url).await.assert_problem(403);
    // A made-up exchange code.
    app.post("/v1/auth/sso/exchange").json(json!({"code": "made-up"})).send().await.assert_problem(401);
}

async fn sso_survives_a_rotated_provider_key(app: TestApp) {
    let provider = Provider::start();
    let owner = app.signup().await;
    let d = domain("rotate");
    configure(&app, &owner, &provider, &d, json!("user")).await;
    let email = format!("ada@{d}");
    // The first login caches the provider's discovery document and JWKS.
    sso_login(&app, &provider, &email).await;
    let url = to_callback(&app, &provider, &email).await;
    let old_kid = jwks_kids(&provider).await;
    provider.post("/test/rotate", json!({})).await;
    let new_kid = jwks_kids(&provider).await;
    assert!(old_kid != new_kid && new_kid.len() == 1, "{old_kid:?} -> {new_kid:?}");
    // A login in flight when the provider restarted with its new key: the provider lost
    // its codes, and says so (401), nothing breaks.
    callback(&app, &url).await.assert_problem(401);
    // The next login's ID token is signed by a key the cached JWKS does not hold: the
    // service reads the JWKS again and accepts it.
    let session = sso_login(&app, &provider, &email).await;
    assert_eq!(me(&app, &session).await["email"], email.as_str());
}
