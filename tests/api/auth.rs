use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::helpers::{unique_email, TestApp, TEST_SECRET};

crate::both_backends!(
    signup_login_me,
    signup_rejects_duplicate_email_case_insensitively,
    login_wrong_password_is_401,
    refresh_rotates_and_reuse_kills_the_family,
    logout_revokes_the_session,
    forged_and_expired_tokens_are_401,
    deactivated_user_is_401_on_next_request,
    signing_keys_rotate_without_logging_anyone_out,
);

async fn signup_login_me(app: TestApp) {
    let owner = app.signup().await;
    let again = app.login(&owner.email.to_uppercase(), &owner.password).await;
    let me = app.get("/v1/me").bearer(&again.token).send().await;
    assert_eq!(me.status, 200, "{}", me.text());
    let body = me.json();
    assert_eq!(body["id"], owner.user_id.as_str());
    assert_eq!(body["role"], "owner");
    assert!(me.header("etag").is_some());
    assert!(me.header("x-request-id").is_some());
    let tokens =
        app.post("/v1/auth/login").json(json!({"email": owner.email, "password": owner.password})).send().await;
    let t = tokens.json();
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 900);
}

async fn signup_rejects_duplicate_email_case_insensitively(app: TestApp) {
    let owner = app.signup().await;
    let resp = app
        .post("/v1/auth/signup")
        .json(json!({"account_name": "B", "email": owner.email.to_uppercase(), "password": "password1",
                     "first_name": "A", "last_name": "B"}))
        .send()
        .await;
    resp.assert_problem(409);
    let bad = app
        .post("/v1/auth/signup")
        .json(json!({"account_name": "", "email": "nope", "password": "short", "first_name": "A", "last_name": "B"}))
        .send()
        .await;
    let problem = bad.assert_problem(422);
    for field in ["account_name", "email", "password"] {
        assert!(problem["errors"][field].is_array(), "{field} missing in {problem}");
    }
}

async fn login_wrong_password_is_401(app: TestApp) {
    let owner = app.signup().await;
    let resp = app.post("/v1/auth/login").json(json!({"email": owner.email, "password": "wrong-one"})).send().await;
    resp.assert_problem(401);
    assert_eq!(resp.header("www-authenticate").as_deref(), Some("Bearer"));
    let unknown =
        app.post("/v1/auth/login").json(json!({"email": unique_email("nobody"), "password": "whatever"})).send().await;
    unknown.assert_problem(401);
}

async fn refresh_rotates_and_reuse_kills_the_family(app: TestApp) {
    let owner = app.signup().await;
    let first = app.post("/v1/auth/refresh").json(json!({"refresh_token": owner.refresh})).send().await;
    assert_eq!(first.status, 200, "{}", first.text());
    let second_token = first.json()["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_token, owner.refresh);
    // Reusing the rotated token is refused and revokes the whole family ...
    app.post("/v1/auth/refresh").json(json!({"refresh_token": owner.refresh})).send().await.assert_problem(401);
    // ... so the newest token of that family is dead too.
    app.post("/v1/auth/refresh").json(json!({"refresh_token": second_token})).send().await.assert_problem(401);
    // Another session of the same user is untouched.
    let other = app.login(&owner.email, &owner.password).await;
    let ok = app.post("/v1/auth/refresh").json(json!({"refresh_token": other.refresh})).send().await;
    assert_eq!(ok.status, 200);
    app.post("/v1/auth/refresh").json(json!({"refresh_token": "garbage"})).send().await.assert_problem(401);
}

async fn logout_revokes_the_session(app: TestApp) {
    let owner = app.signup().await;
    app.post("/v1/auth/logout").json(json!({"refresh_token": owner.refresh})).send().await.assert_problem(401);
    let out =
        app.post("/v1/auth/logout").bearer(&owner.token).json(json!({"refresh_token": owner.refresh})).send().await;
    assert_eq!(out.status, 204, "{}", out.text());
    app.post("/v1/auth/refresh").json(json!({"refresh_token": owner.refresh})).send().await.assert_problem(401);
}

fn sign(claims: serde_json::Value, alg: Algorithm, secret: &str) -> String {
    encode(&Header::new(alg), &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

async fn forged_and_expired_tokens_are_401(app: TestApp) {
    let owner = app.signup().await;
    let now = chrono::Utc::now().timestamp();
    let claims = |iat: i64, exp: i64, aud: &str| {
        json!({"sub": owner.user_id, "acc": owner.account_id, "iat": iat, "nbf": iat, "exp": exp,
               "iss": "crm-api", "aud": aud})
    };
    let good = sign(claims(now, now + 60, "crm-api"), Algorithm::HS256, TEST_SECRET);
    assert_eq!(app.get("/v1/me").bearer(&good).send().await.status, 200, "a well-formed token must pass");
    let cases = [
        ("no header", None),
        ("garbage", Some("not-a-jwt".to_owned())),
        ("expired", Some(sign(claims(now - 3600, now - 1800, "crm-api"), Algorithm::HS256, TEST_SECRET))),
        ("not yet valid", Some(sign(claims(now + 3600, now + 7200, "crm-api"), Algorithm::HS256, TEST_SECRET))),
        ("wrong audience", Some(sign(claims(now, now + 60, "other"), Algorithm::HS256, TEST_SECRET))),
        (
            "other key",
            Some(sign(claims(now, now + 60, "crm-api"), Algorithm::HS256, "another-secret-another-secret-xx")),
        ),
        ("other algorithm", Some(sign(claims(now, now + 60, "crm-api"), Algorithm::HS384, TEST_SECRET))),
        (
            "alg none",
            Some({
                use base64::Engine;
                let b64 = |v: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
                format!("{}.{}.", b64(json!({"alg": "none", "typ": "JWT"})), b64(claims(now, now + 60, "crm-api")))
            }),
        ),
        (
            "tampered claims",
            Some({
                let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
                use base64::Engine;
                let other = json!({"sub": uuid::Uuid::now_v7().to_string(), "acc": owner.account_id, "iat": now,
                               "nbf": now, "exp": now + 60, "iss": "crm-api", "aud": "crm-api"});
                parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(other.to_string());
                parts.join(".")
            }),
        ),
    ];
    for (name, token) in cases {
        let mut req = app.get("/v1/me");
        if let Some(t) = &token {
            req = req.bearer(t);
        }
        let resp = req.send().await;
        assert_eq!(resp.status, 401, "{name}: {}", resp.text());
        assert_eq!(resp.header("www-authenticate").as_deref(), Some("Bearer"), "{name}");
    }
}

async fn deactivated_user_is_401_on_next_request(app: TestApp) {
    let owner = app.signup().await;
    let user = app.user(&owner, "user", &[]).await;
    assert_eq!(app.get("/v1/me").bearer(&user.token).send().await.status, 200);
    let resp = app
        .patch(&format!("/v1/users/{}", user.user_id))
        .bearer(&owner.token)
        .json(json!({"active": false}))
        .send()
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    // Reads load the caller on their own connection, writes before the body: both refuse.
    let contact = app.post("/v1/contacts").bearer(&owner.token).json(json!({"first_name": "Kept"})).send().await.json();
    let contact_path = format!("/v1/contacts/{}", contact["id"].as_str().unwrap());
    for path in ["/v1/me", "/v1/contacts", contact_path.as_str(), "/v1/deals", "/v1/organizations", "/v1/account"] {
        app.get(path).bearer(&user.token).send().await.assert_problem(401);
    }
    app.post("/v1/contacts").bearer(&user.token).json(json!({"first_name": "No"})).send().await.assert_problem(401);
    app.post("/v1/auth/refresh").json(json!({"refresh_token": user.refresh})).send().await.assert_problem(401);
    app.post("/v1/auth/login")
        .json(json!({"email": user.email, "password": user.password}))
        .send()
        .await
        .assert_problem(401);
    // Reactivated, the user can sign in again.
    app.patch(&format!("/v1/users/{}", user.user_id)).bearer(&owner.token).json(json!({"active": true})).send().await;
    app.login(&user.email, &user.password).await;
}

#[actix_web::test]
async fn signup_can_be_disabled() {
    let app = TestApp::sqlite_with(|s| s.allow_signup = false).await;
    let resp = app
        .post("/v1/auth/signup")
        .json(json!({"account_name": "A", "email": unique_email("x"), "password": "password1",
                     "first_name": "A", "last_name": "B"}))
        .send()
        .await;
    resp.assert_problem(403);
}

#[actix_web::test]
async fn login_attempts_are_throttled() {
    let app = TestApp::sqlite_with(|s| s.login_attempts_per_minute = 3).await;
    let owner = app.signup().await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let r =
            app.post("/v1/auth/login").json(json!({"email": owner.email, "password": "wrong-password"})).send().await;
        statuses.push(r.status);
    }
    assert_eq!(statuses, vec![401, 401, 401, 429, 429]);
    let r = app.post("/v1/auth/login").json(json!({"email": owner.email, "password": owner.password})).send().await;
    r.assert_problem(429);
    assert!(r.header("retry-after").is_some());
}

/// SPEC §12: tokens name their key (`kid`); `JWT_SECRETS` verifies with every secret and
/// signs with the first, so replicas can move to a new key while old tokens keep working.
async fn signing_keys_rotate_without_logging_anyone_out(app: TestApp) {
    const OLD: &str = "old-secret-old-secret-old-secret-0123456789";
    const NEW: &str = "new-secret-new-secret-new-secret-0123456789";
    let with_keys = |keys: &str| {
        let mut s = app.state.settings.clone();
        (s.jwt_secret, s.jwt_secrets) = (None, Some(keys.to_owned()));
        s
    };
    let old = TestApp::with_state(crm_api::app::state(with_keys(OLD)).unwrap()).await;
    let both = TestApp::with_state(crm_api::app::state(with_keys(&format!("{NEW}, {OLD}"))).unwrap()).await;
    let new = TestApp::with_state(crm_api::app::state(with_keys(NEW)).unwrap()).await;
    let owner = old.signup().await;
    use base64::Engine as _;
    async fn me(app: &TestApp, token: &str) -> u16 {
        app.get("/v1/me").bearer(token).send().await.status
    }
    let kid = |token: &str| {
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap();
        serde_json::from_slice::<serde_json::Value>(&header).unwrap()["kid"].as_str().unwrap().to_owned()
    };
    let old_token = owner.token.clone();
    // During the rotation: the old key's tokens still work where both keys are known.
    assert_eq!(me(&both, &old_token).await, 200);
    let fresh = both.login(&owner.email, &owner.password).await.token;
    assert_ne!(kid(&fresh), kid(&old_token), "signed with the new key");
    assert_eq!(me(&new, &fresh).await, 200);
    assert_eq!(me(&old, &fresh).await, 401, "a replica without the new key refuses its tokens");
    // After it: the old key is gone.
    assert_eq!(me(&new, &old_token).await, 401);
    // The kid picks the key: the old secret under the new key's id is refused, and a token
    // without a kid (issued before keys had ids) is tried with each key.
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"sub": owner.user_id, "acc": owner.account_id, "iat": now, "nbf": now, "exp": now + 600,
                        "iss": app.state.settings.jwt_issuer, "aud": app.state.settings.jwt_issuer});
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid(&fresh));
    let wrong_kid = encode(&header, &claims, &EncodingKey::from_secret(OLD.as_bytes())).unwrap();
    assert_eq!(me(&both, &wrong_kid).await, 401);
    let no_kid = sign(claims, Algorithm::HS256, OLD);
    assert_eq!(me(&both, &no_kid).await, 200);
    assert_eq!(me(&new, &no_kid).await, 401);
    // Both at once, or a short secret in the list, stop the start-up.
    let mut s = with_keys(&format!("{NEW},short"));
    assert!(crm_api::app::state(s.clone()).is_err());
    s.jwt_secret = Some(NEW.into());
    s.jwt_secrets = Some(OLD.into());
    assert!(crm_api::app::state(s).is_err());
}
