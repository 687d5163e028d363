//! Concurrency and hostile input (the first parts of the robustness issue).

use serde_json::json;

use crate::helpers::TestApp;

crate::both_backends!(
    concurrent_if_match_patches_have_one_winner,
    concurrent_bulk_and_deletes_stay_consistent,
    hostile_inputs_are_refused_and_write_nothing
);

async fn concurrent_if_match_patches_have_one_winner(app: TestApp) {
    let owner = app.signup().await;
    let c = app.post("/v1/contacts").bearer(&owner.token).json(json!({"first_name": "Race"})).send().await.json();
    let path = format!("/v1/contacts/{}", c["id"].as_str().unwrap());
    let requests = (0..100).map(|i| {
        app.patch(&path)
            .bearer(&owner.token)
            .header("If-Match", "\"1\"")
            .json(json!({"job_title": format!("w{i}")}))
            .send()
    });
    let answers = futures_util::future::join_all(requests).await;
    let ok: Vec<_> = answers.iter().filter(|r| r.status == 200).collect();
    let stale = answers.iter().filter(|r| r.status == 412).count();
    assert_eq!(ok.len(), 1, "statuses: {:?}", answers.iter().map(|r| r.status).collect::<Vec<_>>());
    assert_eq!(stale, 99);
    let winner = ok[0].json()["job_title"].clone();
    let now = app.get(&path).bearer(&owner.token).send().await.json();
    assert_eq!((now["job_title"].clone(), now["version"].clone()), (winner.clone(), json!(2)));
    let history = app.get(&format!("{path}/history")).bearer(&owner.token).send().await.json();
    let updates: Vec<_> = history["data"].as_array().unwrap().iter().filter(|e| e["action"] == "update").collect();
    assert_eq!(updates.len(), 1, "the audit log has exactly the winning write");
    assert_eq!(updates[0]["changes"]["job_title"]["new"], winner);
}

async fn concurrent_bulk_and_deletes_stay_consistent(app: TestApp) {
    let owner = app.signup().await;
    let a = app.user(&owner, "user", &[]).await;
    let b = app.user(&owner, "user", &[]).await;
    let mut ids = Vec::new();
    for i in 0..20 {
        let c = app
            .post("/v1/contacts")
            .bearer(&owner.token)
            .json(json!({"first_name": format!("C{i}")}))
            .send()
            .await
            .json();
        ids.push(c["id"].as_str().unwrap().to_owned());
    }
    let to_a = app
        .post("/v1/contacts/bulk")
        .bearer(&owner.token)
        .json(json!({"ids": ids, "op": "set_owner", "value": a.user_id}))
        .send();
    let to_b = app
        .post("/v1/contacts/bulk")
        .bearer(&owner.token)
        .json(json!({"ids": ids, "op": "set_owner", "value": b.user_id}))
        .send();
    let deletes = ids.iter().step_by(3).map(|id| {
        let path = format!("/v1/contacts/{id}");
        let token = owner.token.clone();
        let app = &app;
        async move { app.delete(&path).bearer(&token).send().await }
    });
    let (ra, rb, dels) = futures_util::join!(to_a, to_b, futures_util::future::join_all(deletes));
    assert_eq!((ra.status, rb.status), (200, 200), "{} {}", ra.text(), rb.text());
    assert!(dels.iter().all(|d| d.status == 204), "{:?}", dels.iter().map(|d| d.status).collect::<Vec<_>>());
    // Every surviving contact has one of the two owners, all of its fields from one
    // write, and a version matching its audited updates.
    let list = app.get("/v1/contacts?limit=200").bearer(&owner.token).send().await.json();
    let survivors = list["data"].as_array().unwrap();
    assert_eq!(survivors.len(), 20 - ids.iter().step_by(3).count());
    for c in survivors {
        let owner_id = c["owner_id"].as_str().unwrap();
        assert!(owner_id == a.user_id || owner_id == b.user_id);
        let history = app
            .get(&format!("/v1/contacts/{}/history", c["id"].as_str().unwrap()))
            .bearer(&owner.token)
            .send()
            .await
            .json();
        let updates = history["data"].as_array().unwrap().iter().filter(|e| e["action"] == "update").count();
        assert_eq!(c["version"], json!(1 + updates), "version and audit agree for {}", c["id"]);
        let last = &history["data"][0]["changes"]["owner_id"]["new"];
        assert_eq!(last, &c["owner_id"], "the last audited owner is the current one");
    }
}

async fn hostile_inputs_are_refused_and_write_nothing(app: TestApp) {
    let owner = app.signup().await;
    let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    let cases: Vec<(&str, String, u16)> = vec![
        ("deep JSON", deep, 400),
        ("duplicate keys", r#"{"first_name": "A", "first_name": "B"}"#.into(), 422),
        ("wrong type", r#"{"first_name": ["A"]}"#.into(), 422),
        ("huge string", format!(r#"{{"first_name": "{}"}}"#, "x".repeat(5000)), 422),
        ("NUL byte", r#"{"first_name": "A\u0000B"}"#.into(), 422),
        ("number for bool", r#"{"first_name": "A", "private": 1}"#.into(), 422),
        ("SQL in a value", r#"{"first_name": "'); DROP TABLE contacts; --", "status": "x' OR '1'='1"}"#.into(), 422),
        ("empty body", String::new(), 400),
        ("not an object", "42".into(), 422),
    ];
    for (name, body, status) in cases {
        let r = app.post("/v1/contacts").bearer(&owner.token).raw("application/json", body).send().await;
        let problem = r.assert_problem(status);
        let text = problem.to_string().to_lowercase();
        assert!(!text.contains("diesel") && !text.contains("syntax error at"), "{name} leaks internals: {text}");
    }
    let r = app
        .post("/v1/contacts")
        .bearer(&owner.token)
        .raw("application/json", vec![b'{', 0xff, 0xfe, b'}'])
        .send()
        .await;
    r.assert_problem(400);
    for q in
        ["limit=-1", "limit=99999999999999999999", "limit=abc", "with_total=maybe", "owner_id=not-a-uuid", "sort=;DROP"]
    {
        let r = app.get(&format!("/v1/contacts?{q}")).bearer(&owner.token).send().await;
        assert!(matches!(r.status, 200 | 400), "{q}: {}", r.status);
        if r.status == 400 {
            r.assert_problem(400);
        }
    }
    let list = app.get("/v1/contacts?with_total=true").bearer(&owner.token).send().await.json();
    assert_eq!(list["total"], 0, "nothing was written");
    // Security headers on every answer; CORS closed by default.
    let r = app.get("/healthz").header("Origin", "https://evil.test").send().await;
    assert_eq!(r.header("x-content-type-options").as_deref(), Some("nosniff"));
    assert_eq!(r.header("x-frame-options").as_deref(), Some("DENY"));
    assert!(r.header("access-control-allow-origin").is_none());
}

#[actix_web::test]
async fn cors_opens_to_configured_origins_only() {
    let app = TestApp::sqlite_with(|s| s.cors_allowed_origins = "https://app.example.test".into()).await;
    let ok = app.get("/healthz").header("Origin", "https://app.example.test").send().await;
    assert_eq!(ok.header("access-control-allow-origin").as_deref(), Some("https://app.example.test"));
    let other = app.get("/healthz").header("Origin", "https://evil.test").send().await;
    assert!(other.header("access-control-allow-origin").is_none());
}
