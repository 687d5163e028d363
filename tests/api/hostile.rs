//! Hostile query strings, CSV cells, sums and dates: every one answers a documented 4xx
//! (or is clamped where the document says so), the same on both backends, and writes
//! nothing.

use serde_json::json;

use crate::helpers::{Session, TestApp};

crate::both_backends!(
    query_strings_never_reach_a_5xx,
    query_parameters_over_their_bounds_are_400,
    csv_cells_with_nul_fail_their_row_only,
    pipeline_sums_do_not_overflow,
    dates_have_four_digit_years
);

/// Every list that takes a text parameter, with that parameter.
const TEXT_PARAMS: &[(&str, &str)] = &[
    ("/v1/contacts", "q"),
    ("/v1/contacts", "tag"),
    ("/v1/contacts", "status"),
    ("/v1/contacts/export", "q"),
    ("/v1/organizations", "q"),
    ("/v1/deals", "stage"),
    ("/v1/audit", "entity_type"),
    ("/v1/audit", "entity_id"),
    ("/v1/activity", "entity_type"),
    ("/v1/actions", "due_before"),
    ("/v1/users", "role"),
    ("/v1/notifications", "unread"),
    ("/v1/offices", "cursor"),
    // A parameter no route reads is checked all the same.
    ("/v1/me", "anything"),
];

async fn seeded(app: &TestApp) -> Session {
    let owner = app.signup().await;
    let c = app
        .post("/v1/contacts")
        .bearer(&owner.token)
        .json(json!({"first_name": "Ann", "last_name": "Percent%_", "tags": ["t"]}))
        .send()
        .await
        .json();
    app.post("/v1/contacts").bearer(&owner.token).json(json!({"first_name": "Bob", "last_name": "Plain"})).send().await;
    let deal = json!({"contact_id": c["id"], "name": "D", "amount": 5, "currency": "EUR"});
    assert_eq!(app.post("/v1/deals").bearer(&owner.token).json(deal).send().await.status, 201);
    owner
}

async fn query_strings_never_reach_a_5xx(app: TestApp) {
    let owner = seeded(&app).await;
    let audit_before = app.get("/v1/audit?with_total=true").bearer(&owner.token).send().await.json()["total"].clone();
    for (path, param) in TEXT_PARAMS {
        for (value, why) in
            [("%00", "NUL"), ("a%00b", "NUL inside"), ("%FF%FE", "invalid UTF-8"), ("%C3", "truncated UTF-8")]
        {
            let r = app.get(&format!("{path}?{param}={value}")).bearer(&owner.token).send().await;
            let body = r.assert_problem(400);
            assert!(body["detail"].as_str().unwrap().contains(param), "{path}?{param}={value} ({why}): {body}");
        }
        // A NUL in the parameter's name is refused as well.
        app.get(&format!("{path}?{param}%00=x")).bearer(&owner.token).send().await.assert_problem(400);
    }
    // Repeated parameters are malformed, not "the last one wins".
    app.get("/v1/contacts?q=a&q=b").bearer(&owner.token).send().await.assert_problem(400);
    app.get("/v1/deals?stage=a&stage=b").bearer(&owner.token).send().await.assert_problem(400);
    // `limit` is clamped to 1..200 as documented; what is not an integer is a 400.
    for limit in ["0", "-5", "100000"] {
        let r = app.get(&format!("/v1/contacts?limit={limit}")).bearer(&owner.token).send().await;
        assert_eq!(r.status, 200, "limit={limit}: {}", r.text());
    }
    for limit in ["abc", "99999999999999999999999", "1.5"] {
        app.get(&format!("/v1/contacts?limit={limit}")).bearer(&owner.token).send().await.assert_problem(400);
    }
    // `%` and `_` in `q` match themselves, on both backends.
    let r = app.get("/v1/contacts?q=%25_").bearer(&owner.token).send().await.json();
    let names: Vec<&str> = r["data"].as_array().unwrap().iter().map(|c| c["last_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Percent%_"]);
    let r = app.get("/v1/contacts?q=_").bearer(&owner.token).send().await.json();
    assert_eq!(r["data"].as_array().unwrap().len(), 1, "`_` is not a wildcard: {r}");
    // Nothing was written by any of it.
    let audit = app.get("/v1/audit?with_total=true").bearer(&owner.token).send().await.json();
    assert_eq!(audit["total"], audit_before, "{audit}");
}

async fn query_parameters_over_their_bounds_are_400(app: TestApp) {
    let owner = seeded(&app).await;
    for (path, param, max) in [
        ("/v1/contacts", "q", 200),
        ("/v1/contacts", "tag", 50),
        ("/v1/contacts", "status", 50),
        ("/v1/organizations", "q", 200),
        ("/v1/deals", "stage", 50),
        ("/v1/audit", "entity_type", 50),
    ] {
        let ok = app.get(&format!("{path}?{param}={}", "a".repeat(max))).bearer(&owner.token).send().await;
        assert_eq!(ok.status, 200, "{path}?{param} at its bound: {}", ok.text());
        let r = app.get(&format!("{path}?{param}={}", "a".repeat(max + 1))).bearer(&owner.token).send().await;
        let body = r.assert_problem(400);
        assert!(body["detail"].as_str().unwrap().contains(param), "{body}");
    }
    // Anything longer than any parameter's bound, whatever the parameter.
    let long = "x".repeat(2_001);
    app.get(&format!("/v1/offices?whatever={long}")).bearer(&owner.token).send().await.assert_problem(400);
}

async fn csv_cells_with_nul_fail_their_row_only(app: TestApp) {
    let owner = app.signup().await;
    let csv = "first_name,last_name,email,tags\nGood,Row,good@example.test,a\nBad,Ro\0w,bad@example.test,b\nNul,Mail,nul\0@example.test,c\nAlso,Good,,d;e\n";
    let r = app.post("/v1/contacts/import").bearer(&owner.token).raw("text/csv", csv).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!(body["created"], 2, "{body}");
    let failed = body["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 2, "{body}");
    assert_eq!((failed[0]["row"].clone(), failed[1]["row"].clone()), (json!(3), json!(4)));
    assert!(failed[0]["errors"]["last_name"].is_array(), "{body}");
    assert!(failed[1]["errors"]["email"].is_array(), "{body}");
    let list = app.get("/v1/contacts?with_total=true").bearer(&owner.token).send().await.json();
    assert_eq!(list["total"], 2);
}

async fn pipeline_sums_do_not_overflow(app: TestApp) {
    let owner = app.signup().await;
    let c = app.post("/v1/contacts").bearer(&owner.token).json(json!({"first_name": "Big"})).send().await.json();
    let big = 9_000_000_000_000_000_001_i64;
    for _ in 0..3 {
        let deal = json!({"contact_id": c["id"], "name": "D", "amount": big, "currency": "EUR"});
        assert_eq!(app.post("/v1/deals").bearer(&owner.token).json(deal).send().await.status, 201);
    }
    let r = app.get("/v1/deals/pipeline").bearer(&owner.token).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    // 3 × 9,000,000,000,000,000,001: beyond 64 bits, and exact.
    assert!(text.contains("\"amount\":27000000000000000003"), "{text}");
    assert!(text.contains("\"count\":3"), "{text}");
}

async fn dates_have_four_digit_years(app: TestApp) {
    let owner = app.signup().await;
    let c = app.post("/v1/contacts").bearer(&owner.token).json(json!({"first_name": "Due"})).send().await.json();
    for bad in ["+10000-01-01", "10000-01-01", "0000-01-01", "2026-1-1", "2026-02-30", "2026-01-01T00:00:00Z"] {
        let r = app
            .post("/v1/actions")
            .bearer(&owner.token)
            .json(json!({"contact_id": c["id"], "text": "x", "due_date": bad}))
            .send()
            .await;
        assert!(r.assert_problem(422)["errors"]["due_date"].is_array(), "{bad}");
        let r = app
            .post("/v1/deals")
            .bearer(&owner.token)
            .json(
                json!({"contact_id": c["id"], "name": "D", "amount": 1, "currency": "EUR", "expected_close_date": bad}),
            )
            .send()
            .await;
        assert!(r.assert_problem(422)["errors"]["expected_close_date"].is_array(), "{bad}");
        let q = bad.replace('+', "%2B");
        app.get(&format!("/v1/actions?due_before={q}")).bearer(&owner.token).send().await.assert_problem(400);
    }
    for (due, before, listed) in [("9999-12-31", "9999-12-31", 0), ("0001-01-01", "0001-01-02", 1)] {
        let r = app
            .post("/v1/actions")
            .bearer(&owner.token)
            .json(json!({"contact_id": c["id"], "text": due, "due_date": due}))
            .send()
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(r.json()["due_date"], due);
        let page = app.get(&format!("/v1/actions?due_before={before}")).bearer(&owner.token).send().await.json();
        assert_eq!(page["data"].as_array().unwrap().len(), listed, "due_before={before}: {page}");
    }
    let a = app.get("/v1/actions").bearer(&owner.token).send().await.json();
    let id = a["data"][0]["id"].as_str().unwrap().to_owned();
    let r = app
        .patch(&format!("/v1/actions/{id}"))
        .bearer(&owner.token)
        .json(json!({"due_date": "+10000-01-01"}))
        .send()
        .await;
    assert!(r.assert_problem(422)["errors"]["due_date"].is_array());
}
