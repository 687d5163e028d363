//! SPEC §11: the account's SSO configuration, SCIM tokens and `enforce`.

use serde_json::{json, Value};

use crate::helpers::{Session, TestApp};

crate::both_backends!(
    sso_config_roles_validation_and_secret,
    sso_domain_belongs_to_one_account,
    sso_enforce_refuses_passwords_but_the_owners,
    scim_tokens_shown_once_listed_and_revoked,
);

/// A unique domain per test (domains are unique in the deployment).
pub fn domain(tag: &str) -> String {
    format!("{tag}-{}.example.test", uuid::Uuid::new_v4().simple())
}

pub fn config(domain: &str) -> Value {
    json!({
        "issuer": "https://login.example.test/tenant/v2.0",
        "client_id": "crm-client",
        "client_secret": "super-secret-value-1234",
        "domains": [domain],
        "redirect_uris": ["https://app.example.test/sso/done", "http://localhost:3000/sso"],
        "role_claim": "roles",
        "role_map": {"crm-admins": "admin", "crm-users": "user", "crm-focused": "focused"},
        "default_role": null,
        "enforce": false,
    })
}

async fn put(app: &TestApp, who: &Session, body: Value) -> crate::helpers::Resp {
    app.put("/v1/account/sso").bearer(&who.token).json(body).send().await
}

async fn sso_config_roles_validation_and_secret(app: TestApp) {
    let owner = app.signup().await;
    let admin = app.user(&owner, "admin", &[]).await;
    let user = app.user(&owner, "user", &[]).await;
    let focused = app.user(&owner, "focused", &[]).await;
    let d = domain("acme");
    app.get("/v1/account/sso").bearer(&owner.token).send().await.assert_problem(404);
    // Only owner and admin.
    for who in [&user, &focused] {
        put(&app, who, config(&d)).await.assert_problem(403);
        app.get("/v1/account/sso").bearer(&who.token).send().await.assert_problem(403);
        app.delete("/v1/account/sso").bearer(&who.token).send().await.assert_problem(403);
    }
    let r = put(&app, &owner, config(&d)).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(!r.text().contains("super-secret-value-1234"), "the secret is never shown: {}", r.text());
    let view = r.json();
    assert_eq!(view["client_secret_set"], true);
    assert_eq!(view["domains"], json!([d]));
    assert_eq!(view["role_map"]["crm-admins"], "admin");
    let got = app.get("/v1/account/sso").bearer(&admin.token).send().await;
    assert_eq!(got.status, 200);
    assert!(!got.text().contains("super-secret"), "{}", got.text());
    assert!(got.json().get("client_secret").is_none());
    // Replacing without the secret keeps it; the audit log never holds it.
    let mut without_secret = config(&d);
    without_secret.as_object_mut().unwrap().remove("client_secret");
    without_secret["enforce"] = json!(true);
    let r = put(&app, &admin, without_secret.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["enforce"], true);
    let mut new_secret = config(&d);
    new_secret["client_secret"] = json!("another-secret-5678");
    assert_eq!(put(&app, &owner, new_secret).await.status, 200);
    let audit = app.get("/v1/audit?entity_type=sso_config").bearer(&owner.token).send().await;
    assert_eq!(audit.status, 200);
    let entries = audit.json()["data"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 3, "create, enforce, secret: {entries:?}");
    let text = audit.text();
    assert!(!text.contains("super-secret") && !text.contains("another-secret"), "{text}");
    assert!(entries.iter().any(|e| e["changes"]["client_secret"]["new"] == "[redacted]"), "{entries:?}");
    assert!(entries.iter().any(|e| e["changes"]["enforce"] == json!({"old": false, "new": true})), "{entries:?}");
    // Validation, per field.
    let cases: Vec<(&str, Value)> = vec![
        ("issuer", json!("http://login.example.test")),
        ("issuer", json!("not a url")),
        ("redirect_uris[0]", json!(["ftp://app.example.test/cb"])),
        ("redirect_uris[0]", json!(["http://app.example.test/cb"])),
        ("domains[0]", json!(["Acme.Example.Test"])),
        ("domains[0]", json!(["no-dot"])),
        ("domains", json!([])),
        ("role_map.x", json!({"x": "owner"})),
        ("default_role", json!("owner")),
        ("client_id", json!("")),
    ];
    for (field, value) in cases {
        let key = field.split(['[', '.']).next().unwrap();
        let mut body = config(&domain("v"));
        body[key] = value.clone();
        let problem = put(&app, &owner, body).await.assert_problem(422);
        assert!(problem["errors"].get(field).is_some(), "{field} = {value}: {problem}");
    }
    let mut unknown = config(&domain("v"));
    unknown["extra"] = json!(1);
    put(&app, &owner, unknown).await.assert_problem(422);
    // Loopback issuers and redirect URIs may be http (development and tests).
    let mut local = config(&d);
    local["issuer"] = json!("http://127.0.0.1:9999");
    local["redirect_uris"] = json!(["http://[::1]:3000/cb", "http://localhost/cb"]);
    assert_eq!(put(&app, &owner, local).await.status, 200);
    // DELETE removes it.
    assert_eq!(app.delete("/v1/account/sso").bearer(&admin.token).send().await.status, 204);
    app.get("/v1/account/sso").bearer(&owner.token).send().await.assert_problem(404);
    app.delete("/v1/account/sso").bearer(&owner.token).send().await.assert_problem(404);
    // A first PUT needs the secret.
    let problem = put(&app, &owner, without_secret).await.assert_problem(422);
    assert!(problem["errors"].get("client_secret").is_some(), "{problem}");
}

async fn sso_domain_belongs_to_one_account(app: TestApp) {
    let a = app.signup().await;
    let b = app.signup().await;
    let (shared, own) = (domain("shared"), domain("own"));
    let mut body = config(&shared);
    assert_eq!(put(&app, &a, body.clone()).await.status, 201);
    body["domains"] = json!([own, shared]);
    let problem = put(&app, &b, body.clone()).await.assert_problem(409);
    assert!(problem["detail"].as_str().unwrap().contains(&shared), "{problem}");
    // Nothing of B's was written.
    app.get("/v1/account/sso").bearer(&b.token).send().await.assert_problem(404);
    // A may re-put its own domain; once A lets it go, B may claim it.
    assert_eq!(put(&app, &a, config(&shared)).await.status, 200);
    assert_eq!(app.delete("/v1/account/sso").bearer(&a.token).send().await.status, 204);
    assert_eq!(put(&app, &b, body).await.status, 201);
}

async fn sso_enforce_refuses_passwords_but_the_owners(app: TestApp) {
    let owner = app.signup().await;
    let admin = app.user(&owner, "admin", &[]).await;
    let user = app.user(&owner, "user", &[]).await;
    let mut body = config(&domain("enforced"));
    body["enforce"] = json!(true);
    assert_eq!(put(&app, &owner, body.clone()).await.status, 201);
    for who in [&admin, &user] {
        let r = app.post("/v1/auth/login").json(json!({"email": who.email, "password": who.password})).send().await;
        r.assert_problem(403);
        // A wrong password stays 401: the 403 tells nothing to who does not know it.
        let r = app.post("/v1/auth/login").json(json!({"email": who.email, "password": "wrong-password"})).send().await;
        r.assert_problem(401);
    }
    assert_eq!(
        app.post("/v1/auth/login").json(json!({"email": owner.email, "password": owner.password})).send().await.status,
        200
    );
    app.patch("/v1/me")
        .bearer(&user.token)
        .json(json!({"password": "new-password-1", "current_password": user.password}))
        .send()
        .await
        .assert_problem(403);
    // Names still change.
    assert_eq!(app.patch("/v1/me").bearer(&user.token).json(json!({"first_name": "U"})).send().await.status, 200);
    app.patch(&format!("/v1/users/{}", user.user_id))
        .bearer(&admin.token)
        .json(json!({"password": "new-password-1"}))
        .send()
        .await
        .assert_problem(403);
    let r = app
        .patch("/v1/me")
        .bearer(&owner.token)
        .json(json!({"password": "new-owner-password", "current_password": owner.password}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    body["enforce"] = json!(false);
    assert_eq!(put(&app, &owner, body).await.status, 200);
    assert_eq!(
        app.post("/v1/auth/login").json(json!({"email": user.email, "password": user.password})).send().await.status,
        200
    );
}

async fn scim_tokens_shown_once_listed_and_revoked(app: TestApp) {
    let owner = app.signup().await;
    let admin = app.user(&owner, "admin", &[]).await;
    let user = app.user(&owner, "user", &[]).await;
    let focused = app.user(&owner, "focused", &[]).await;
    for who in [&user, &focused] {
        app.post("/v1/account/scim-tokens")
            .bearer(&who.token)
            .json(json!({"name": "x"}))
            .send()
            .await
            .assert_problem(403);
        app.get("/v1/account/scim-tokens").bearer(&who.token).send().await.assert_problem(403);
    }
    let r = app.post("/v1/account/scim-tokens").bearer(&owner.token).json(json!({"name": "Entra"})).send().await;
    assert_eq!(r.status, 201, "{}", r.text());
    let created = r.json();
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("crm_scim_"));
    assert_eq!(created["created_by"], owner.user_id.as_str());
    let by_admin = app.post("/v1/account/scim-tokens").bearer(&admin.token).json(json!({"name": "Okta"})).send().await;
    let admin_token = by_admin.json()["token"].as_str().unwrap().to_owned();
    let list = app.get("/v1/account/scim-tokens").bearer(&admin.token).send().await;
    assert_eq!(list.status, 200);
    assert_eq!(list.json().as_array().unwrap().len(), 2);
    assert!(!list.text().contains(&token) && !list.text().contains(&admin_token), "never the secrets");
    // A SCIM token is good for /scim/v2 only, and a JWT is no SCIM token.
    assert_eq!(app.get("/scim/v2/Users").bearer(&token).send().await.status, 200);
    app.get("/v1/me").bearer(&token).send().await.assert_problem(401);
    assert_eq!(app.get("/scim/v2/Users").bearer(&owner.token).send().await.status, 401);
    // The token acts as its creator: an admin demoted to user takes their token down.
    assert_eq!(app.get("/scim/v2/Users").bearer(&admin_token).send().await.status, 200);
    let r = app
        .patch(&format!("/v1/users/{}", admin.user_id))
        .bearer(&owner.token)
        .json(json!({"role": "user"}))
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(app.get("/scim/v2/Users").bearer(&admin_token).send().await.status, 401);
    // Revoked: 404 for another account's id, then 401 for the token.
    let other = app.signup().await;
    let id = created["id"].as_str().unwrap();
    app.delete(&format!("/v1/account/scim-tokens/{id}")).bearer(&other.token).send().await.assert_problem(404);
    assert_eq!(app.delete(&format!("/v1/account/scim-tokens/{id}")).bearer(&owner.token).send().await.status, 204);
    assert_eq!(app.get("/scim/v2/Users").bearer(&token).send().await.status, 401);
    let audit = app.get("/v1/audit?entity_type=scim_token").bearer(&owner.token).send().await;
    assert_eq!(audit.json()["data"].as_array().unwrap().len(), 3, "two creates and a delete");
    assert!(!audit.text().contains(&token));
}
