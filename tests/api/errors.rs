use serde_json::json;

use crate::helpers::TestApp;

crate::both_backends!(http_error_mapping, me_password_change_rules, contract_edges_found_by_fuzzing);

async fn http_error_mapping(app: TestApp) {
    let owner = app.signup().await;
    // 400 malformed JSON, 415 not JSON, 413 too large, 422 unknown field with its name.
    let r = app.post("/v1/offices").bearer(&owner.token).raw("application/json", "{\"name\": ").send().await;
    r.assert_problem(400);
    let r = app.post("/v1/offices").bearer(&owner.token).raw("text/plain", "name=x").send().await;
    r.assert_problem(415);
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(70 * 1024));
    app.post("/v1/offices").bearer(&owner.token).raw("application/json", big).send().await.assert_problem(413);
    let r = app.post("/v1/offices").bearer(&owner.token).json(json!({"name": "A", "colour": "red"})).send().await;
    assert!(r.assert_problem(422)["errors"]["colour"].is_array());
    let r = app.post("/v1/offices").bearer(&owner.token).json(json!({"name": 5})).send().await;
    assert!(r.assert_problem(422)["errors"]["name"].is_array());
    let r = app.post("/v1/offices").bearer(&owner.token).json(json!([1, 2])).send().await;
    r.assert_problem(422);
    app.post("/v1/offices")
        .bearer(&owner.token)
        .raw("application/json", "{} trailing")
        .send()
        .await
        .assert_problem(400);
    // Unknown routes and ids: 404 problem.
    app.get("/v1/nothing-here").bearer(&owner.token).send().await.assert_problem(404);
    app.get("/v1/offices/123").bearer(&owner.token).send().await.assert_problem(404);
    // No error leaks internals.
    let r =
        app.post("/v1/offices").bearer(&owner.token).raw("application/json", "{\"name\": \"\\u0000\"}").send().await;
    assert!(r.assert_problem(422)["errors"]["name"].is_array());
    assert!(!r.text().to_lowercase().contains("sql"));
    // Nothing was written by any of the failed requests.
    let list = app.get("/v1/offices?with_total=true").bearer(&owner.token).send().await.json();
    assert_eq!(list["total"], 0);
}

async fn me_password_change_rules(app: TestApp) {
    let owner = app.signup().await;
    let r = app.patch("/v1/me").bearer(&owner.token).json(json!({"password": "new-password-1"})).send().await;
    assert!(r.assert_problem(422)["errors"]["current_password"].is_array());
    let r = app
        .patch("/v1/me")
        .bearer(&owner.token)
        .json(json!({"password": "new-password-1", "current_password": "wrong"}))
        .send()
        .await;
    r.assert_problem(422);
    let r = app
        .patch("/v1/me")
        .bearer(&owner.token)
        .json(json!({"password": "new-password-1", "current_password": owner.password}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    app.post("/v1/auth/login")
        .json(json!({"email": owner.email, "password": owner.password}))
        .send()
        .await
        .assert_problem(401);
    app.login(&owner.email, "new-password-1").await;
    // The password change ended the old refresh session.
    app.post("/v1/auth/refresh").json(json!({"refresh_token": owner.refresh})).send().await.assert_problem(401);
    let audit = app.get(&format!("/v1/audit?entity_id={}", owner.user_id)).bearer(&owner.token).send().await.json();
    assert_eq!(audit["data"][0]["changes"]["password"]["new"], "[redacted]");
    assert!(!audit.to_string().contains("argon2"));
}

#[actix_web::test]
async fn readyz_is_503_while_the_database_is_unreachable() {
    let mut s = crate::helpers::settings("postgres://crm@127.0.0.1:1/nothing".into());
    s.db_timeout_secs = 1;
    let state = crm_api::app::state(s).unwrap();
    let app = TestApp::with_state(state).await;
    let started = std::time::Instant::now();
    app.get("/readyz").send().await.assert_problem(503);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(app.get("/healthz").send().await.status, 200);
    let r = app.post("/v1/auth/login").json(json!({"email": "a@b.test", "password": "password1"})).send().await;
    r.assert_problem(503);
    assert!(r.header("retry-after").is_some());
}

/// What contract fuzzing (checks/fuzz.py) found, held here on both backends.
async fn contract_edges_found_by_fuzzing(app: TestApp) {
    use actix_web::http::Method;
    let owner = app.signup().await;
    // A documented path under an undocumented method: 405 with the methods it has.
    let r = app.req(Method::TRACE, "/v1/offices").bearer(&owner.token).send().await;
    r.assert_problem(405);
    assert_eq!(r.header("allow").as_deref(), Some("GET, POST"));
    // Also when another route would take the path as an id (`/v1/contacts/{id}`).
    let r = app.patch("/v1/contacts/bulk").bearer(&owner.token).json(json!({})).send().await;
    r.assert_problem(405);
    assert_eq!(r.header("allow").as_deref(), Some("POST"));
    // Undocumented paths stay 404, and so do ids that do not parse.
    app.req(Method::TRACE, "/v1/nothing-here").send().await.assert_problem(404);
    app.get("/v1/contacts/not-a-uuid").bearer(&owner.token).send().await.assert_problem(404);
    // A body must be an object, even where every field is optional (serde reads a
    // struct from an array too); nothing changes.
    let r = app.patch("/v1/account").bearer(&owner.token).json(json!(["Renamed", null])).send().await;
    assert!(r.assert_problem(422)["errors"]["body"].is_array());
    let account = app.get("/v1/account").bearer(&owner.token).send().await.json();
    assert_eq!(account["name"], "Acme");
    // JSON Schema integers include `3.0`.
    let contact =
        app.post("/v1/contacts").bearer(&owner.token).json(json!({"first_name": "A", "last_name": "B"})).send().await;
    let contact_id = contact.json()["id"].as_str().unwrap().to_owned();
    let deal = app
        .post("/v1/deals")
        .bearer(&owner.token)
        .json(json!({"contact_id": contact_id, "name": "D", "amount": 100.0, "currency": "EUR"}))
        .send()
        .await;
    assert_eq!(deal.status, 201, "{}", deal.text());
    assert_eq!(deal.json()["amount"], 100);
    let r = app
        .post("/v1/deals")
        .bearer(&owner.token)
        .json(json!({"contact_id": contact_id, "name": "D", "amount": 100.5, "currency": "EUR"}))
        .send()
        .await;
    assert!(r.assert_problem(422)["errors"]["amount"].is_array());
    // An empty cursor is the first page; `sort` takes exactly the documented values.
    let page = app.get("/v1/contacts?cursor=").bearer(&owner.token).send().await.json();
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(app.get("/v1/offices?cursor=").bearer(&owner.token).send().await.status, 200);
    app.get("/v1/contacts?sort=%2Blast_name").bearer(&owner.token).send().await.assert_problem(400);
    assert_eq!(app.get("/v1/contacts?sort=-last_name").bearer(&owner.token).send().await.status, 200);
}
