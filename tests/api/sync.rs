//! Integrations (SPEC §10): `Idempotency-Key` on creating POSTs and `updated_since` on
//! every list.

use serde_json::{json, Value};

use crate::helpers::{Resp, Session, TestApp};

crate::both_backends!(
    a_key_replays_the_first_answer,
    a_key_is_per_user_and_per_request,
    concurrent_posts_with_one_key_create_one_row,
    an_abandoned_or_expired_key_is_taken_over,
    updated_since_filters_every_list,
    updated_since_hides_limited_contacts_and_checks_its_value
);

async fn post_keyed(app: &TestApp, by: &Session, path: &str, key: &str, body: Value) -> Resp {
    app.post(path).bearer(&by.token).header("Idempotency-Key", key).json(body).send().await
}

/// Contacts with this last name in the whole database (`app.sql` reports how many rows a
/// statement touched, so a no-op UPDATE counts them).
fn stored_contacts(app: &TestApp, last_name: &str) -> usize {
    app.sql(&format!("UPDATE contacts SET last_name = last_name WHERE last_name = '{last_name}'")).unwrap()
}

async fn contacts_named(app: &TestApp, by: &Session, last_name: &str) -> usize {
    let page = app.get(&format!("/v1/contacts?q={last_name}&with_total=true")).bearer(&by.token).send().await.json();
    page["total"].as_u64().unwrap() as usize
}

async fn a_key_replays_the_first_answer(app: TestApp) {
    let owner = app.signup().await;
    let body = json!({"first_name": "Ida", "last_name": "Empotent"});
    let first = post_keyed(&app, &owner, "/v1/contacts", "k-1", body.clone()).await;
    assert_eq!(first.status, 201, "{}", first.text());
    assert_eq!(first.header("idempotent-replayed"), None);
    let again = post_keyed(&app, &owner, "/v1/contacts", "k-1", body.clone()).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(again.json(), first.json(), "the first answer, byte for byte");
    for h in ["location", "etag", "content-type"] {
        assert_eq!(again.header(h), first.header(h), "{h}");
    }
    assert_eq!(contacts_named(&app, &owner, "Empotent").await, 1, "the work ran once");
    // Still the first answer after the contact changed: a replay is not a read.
    let id = first.json()["id"].as_str().unwrap().to_owned();
    let r =
        app.patch(&format!("/v1/contacts/{id}")).bearer(&owner.token).json(json!({"first_name": "Ada"})).send().await;
    assert_eq!(r.status, 200);
    assert_eq!(post_keyed(&app, &owner, "/v1/contacts", "k-1", body).await.json()["first_name"], "Ida");

    // A refusal is an answer too: replayed, and nothing was created either time.
    let bad = json!({"first_name": "", "last_name": "Refused"});
    let r = post_keyed(&app, &owner, "/v1/contacts", "k-2", bad.clone()).await;
    r.assert_problem(422);
    let r = post_keyed(&app, &owner, "/v1/contacts", "k-2", bad).await;
    r.assert_problem(422);
    assert_eq!(r.header("idempotent-replayed").as_deref(), Some("true"));

    // Other creating endpoints, the import included.
    let org = json!({"name": "Keyed Ltd"});
    let a = post_keyed(&app, &owner, "/v1/organizations", "k-org", org.clone()).await;
    let b = post_keyed(&app, &owner, "/v1/organizations", "k-org", org).await;
    assert_eq!((a.status, b.status, a.json()["id"].clone()), (201, 201, b.json()["id"].clone()));
    let note = json!({"contact_id": id, "body": "Called twice?"});
    let a = post_keyed(&app, &owner, "/v1/notes", "k-note", note.clone()).await;
    let b = post_keyed(&app, &owner, "/v1/notes", "k-note", note).await;
    assert_eq!((a.status, b.status, a.json()["id"].clone()), (201, 201, b.json()["id"].clone()));
    let csv = "first_name,last_name\nImp,Orted\n";
    let import =
        || app.post("/v1/contacts/import").bearer(&owner.token).header("Idempotency-Key", "k-csv").raw("text/csv", csv);
    let (a, b) = (import().send().await, import().send().await);
    assert_eq!((a.status, b.status), (200, 200), "{}", a.text());
    assert_eq!(b.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(contacts_named(&app, &owner, "Orted").await, 1);

    // Elsewhere the header means nothing: two bulk calls both run.
    let bulk = json!({"ids": [id], "op": "add_tags", "value": ["x"]});
    for _ in 0..2 {
        let r = post_keyed(&app, &owner, "/v1/contacts/bulk", "k-bulk", bulk.clone()).await;
        assert_eq!((r.status, r.header("idempotent-replayed")), (200, None), "{}", r.text());
    }
    // A key that is not 1..255 visible characters is a 400 and runs nothing.
    for key in ["x".repeat(256), String::new(), "tab\there".to_owned()] {
        let r = post_keyed(&app, &owner, "/v1/contacts", &key, json!({"first_name": "N", "last_name": "Nokey"})).await;
        r.assert_problem(400);
    }
    assert_eq!(contacts_named(&app, &owner, "Nokey").await, 0);
    // Without a valid token nothing is kept: the 401 is the handler's, every time.
    let r = app.post("/v1/contacts").bearer("nope").header("Idempotency-Key", "k-3").json(json!({})).send().await;
    r.assert_problem(401);
}

async fn a_key_is_per_user_and_per_request(app: TestApp) {
    let owner = app.signup().await;
    let seller = app.user(&owner, "user", &[]).await;
    let a = post_keyed(&app, &owner, "/v1/contacts", "shared", json!({"first_name": "A", "last_name": "Perkey"})).await;
    let b =
        post_keyed(&app, &seller, "/v1/contacts", "shared", json!({"first_name": "A", "last_name": "Perkey"})).await;
    assert_eq!((a.status, b.status), (201, 201));
    assert_ne!(a.json()["id"], b.json()["id"], "another user's key is another key");
    // The same key with another body, or on another path, is a 422 naming the header.
    let r = post_keyed(&app, &owner, "/v1/contacts", "shared", json!({"first_name": "B", "last_name": "Perkey"})).await;
    let problem = r.assert_problem(422);
    assert!(problem["errors"]["Idempotency-Key"].is_array(), "{problem}");
    let r = post_keyed(&app, &owner, "/v1/organizations", "shared", json!({"first_name": "A", "last_name": "Perkey"}))
        .await;
    r.assert_problem(422);
    assert_eq!(contacts_named(&app, &owner, "Perkey").await, 2);
}

async fn concurrent_posts_with_one_key_create_one_row(app: TestApp) {
    let owner = app.signup().await;
    let body = json!({"first_name": "Fifty", "last_name": "Raceonekey"});
    let answers =
        futures_util::future::join_all((0..50).map(|_| post_keyed(&app, &owner, "/v1/contacts", "race", body.clone())))
            .await;
    let created: Vec<Value> = answers.iter().filter(|r| r.status == 201).map(|r| r.json()["id"].clone()).collect();
    let busy = answers.iter().filter(|r| r.status == 409).count();
    assert_eq!(created.len() + busy, 50, "{:?}", answers.iter().map(|r| r.status).collect::<Vec<_>>());
    assert!(!created.is_empty());
    assert!(created.iter().all(|id| *id == created[0]), "every 201 names the one contact");
    assert_eq!(contacts_named(&app, &owner, "Raceonekey").await, 1);
    assert_eq!(stored_contacts(&app, "Raceonekey"), 1);
}

async fn an_abandoned_or_expired_key_is_taken_over(app: TestApp) {
    let owner = app.signup().await;
    let body = json!({"first_name": "L", "last_name": "Leased"});
    assert_eq!(post_keyed(&app, &owner, "/v1/contacts", "lease", body.clone()).await.status, 201);
    let user = &owner.user_id;
    // As a request whose process died after claiming the key: busy until the lease ends.
    let future = "2999-01-01 00:00:00";
    app.sql(&format!(
        "UPDATE idempotency_keys SET status = NULL, locked_until = '{future}' WHERE user_id = '{user}' AND key = 'lease'"
    ))
    .unwrap();
    post_keyed(&app, &owner, "/v1/contacts", "lease", body.clone()).await.assert_problem(409);
    app.sql(&format!(
        "UPDATE idempotency_keys SET locked_until = '2000-01-01 00:00:00' WHERE key = 'lease' AND user_id = '{user}'"
    ))
    .unwrap();
    let r = post_keyed(&app, &owner, "/v1/contacts", "lease", body.clone()).await;
    assert_eq!((r.status, r.header("idempotent-replayed")), (201, None), "taken over and run");
    assert_eq!(
        post_keyed(&app, &owner, "/v1/contacts", "lease", body).await.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    // After 24 hours the key is free for any request.
    app.sql(&format!(
        "UPDATE idempotency_keys SET created_at = '2000-01-01 00:00:00' WHERE key = 'lease' AND user_id = '{user}'"
    ))
    .unwrap();
    let r = post_keyed(&app, &owner, "/v1/contacts", "lease", json!({"first_name": "M", "last_name": "Leased"})).await;
    assert_eq!((r.status, r.header("idempotent-replayed")), (201, None));
    assert_eq!(contacts_named(&app, &owner, "Leased").await, 3);
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{page}"))
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn list(app: &TestApp, by: &Session, path: &str, since: &str) -> Vec<String> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let since = since.replace('+', "%2B");
    let r = app.get(&format!("{path}{sep}updated_since={since}")).bearer(&by.token).send().await;
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    let body = r.json();
    if body.is_array() {
        return body.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    }
    ids(&body)
}

async fn created(app: &TestApp, by: &Session, path: &str, body: Value) -> Value {
    let r = app.post(path).bearer(&by.token).json(body).send().await;
    assert_eq!(r.status, 201, "{path}: {}", r.text());
    r.json()
}

async fn updated_since_filters_every_list(app: TestApp) {
    let owner = app.signup().await;
    // One of each before the mark, one of each after it.
    let mut olds = Vec::new();
    let mut make = Vec::new();
    for round in 0..2 {
        let contact =
            created(&app, &owner, "/v1/contacts", json!({"first_name": "S", "last_name": format!("Since{round}")}))
                .await;
        let cid = contact["id"].as_str().unwrap().to_owned();
        let rows = vec![
            ("/v1/contacts", contact.clone()),
            (
                "/v1/organizations",
                created(&app, &owner, "/v1/organizations", json!({"name": format!("Org {round}")})).await,
            ),
            ("/v1/offices", created(&app, &owner, "/v1/offices", json!({"name": format!("Office {round}")})).await),
            (
                "/v1/deals",
                created(
                    &app,
                    &owner,
                    "/v1/deals",
                    json!({"contact_id": cid, "name": "D", "amount": 1, "currency": "EUR"}),
                )
                .await,
            ),
            (
                "/v1/actions",
                created(
                    &app,
                    &owner,
                    "/v1/actions",
                    json!({"contact_id": cid, "text": "A", "assignee_id": owner.user_id}),
                )
                .await,
            ),
            ("/v1/notes", created(&app, &owner, "/v1/notes", json!({"contact_id": cid, "body": "n"})).await),
            (
                "/v1/custom-fields",
                created(
                    &app,
                    &owner,
                    "/v1/custom-fields",
                    json!({"entity": "deal", "key": format!("k{round}"), "label": "K", "type": "text"}),
                )
                .await,
            ),
            (
                "/v1/saved-filters",
                created(&app, &owner, "/v1/saved-filters", json!({"name": "F", "entity": "contacts", "query": {}}))
                    .await,
            ),
        ];
        if round == 0 {
            olds = rows.clone();
            // The mark: after every "old" row, in the database's own clock.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        make.push(rows);
    }
    let mark = make[1][0].1["updated_at"].as_str().unwrap().to_owned();
    for ((path, old), (_, new)) in make[0].iter().zip(make[1].iter()) {
        let got = list(&app, &owner, path, &mark).await;
        let new_id = new["id"].as_str().unwrap().to_owned();
        let old_id = old["id"].as_str().unwrap().to_owned();
        assert!(!got.contains(&old_id), "{path}: {got:?} holds a row from before the mark");
        // The contact is the mark itself: inclusive.
        assert!(got.contains(&new_id) || *path != "/v1/contacts", "{path}: {got:?}");
        let all = app.get(path).bearer(&owner.token).send().await.json();
        let all = if all.is_array() { all.as_array().unwrap().len() } else { ids(&all).len() };
        assert!(all > got.len(), "{path}: the filter filtered");
    }
    // Changing an old row brings it back.
    let (_, old_contact) = &olds[0];
    let id = old_contact["id"].as_str().unwrap();
    let r = app.patch(&format!("/v1/contacts/{id}")).bearer(&owner.token).json(json!({"first_name": "T"})).send().await;
    assert_eq!(r.status, 200);
    assert!(list(&app, &owner, "/v1/contacts", &mark).await.contains(&id.to_owned()));
    // Audit entries and users by their time; an offset other than Z means the same instant.
    let later = chrono::DateTime::parse_from_rfc3339(&mark).unwrap();
    let shifted = later.with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).unwrap()).to_rfc3339();
    assert_eq!(list(&app, &owner, "/v1/audit", &shifted).await, list(&app, &owner, "/v1/audit", &mark).await);
    let r = app.get(&format!("/v1/audit?updated_since={shifted}")).bearer(&owner.token).send().await;
    assert_eq!(r.status, 200, "a `+` sent unencoded arrives as a space: {}", r.text());
    assert!(list(&app, &owner, "/v1/users", &mark).await.is_empty(), "the owner was created before the mark");
    // Totals count what the filter keeps.
    let r =
        app.get(&format!("/v1/deals?with_total=true&updated_since={mark}")).bearer(&owner.token).send().await.json();
    assert_eq!(r["total"], 1);
}

async fn updated_since_hides_limited_contacts_and_checks_its_value(app: TestApp) {
    let owner = app.signup().await;
    let r = app
        .patch("/v1/account")
        .bearer(&owner.token)
        .json(json!({"settings": {"default_contact_access": "limited"}}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seller = app.user(&owner, "user", &[]).await;
    let theirs = created(&app, &owner, "/v1/contacts", json!({"first_name": "L", "last_name": "Limitedsince"})).await;
    let mine = created(&app, &seller, "/v1/contacts", json!({"first_name": "M", "last_name": "Limitedsince"})).await;
    let all = ids(&app.get("/v1/contacts?q=Limitedsince").bearer(&seller.token).send().await.json());
    assert_eq!(all.len(), 2, "the list shows the limited one");
    let since = "2000-01-01T00:00:00Z";
    let synced = list(&app, &seller, "/v1/contacts?q=Limitedsince", since).await;
    assert_eq!(synced, vec![mine["id"].as_str().unwrap().to_owned()], "a limited contact's change time is not shown");
    assert!(!synced.contains(&theirs["id"].as_str().unwrap().to_owned()));
    for bad in ["yesterday", "2026-12-01", "2026-12-01T10:00:00", "2026-13-01T00:00:00Z"] {
        for path in ["/v1/contacts", "/v1/deals", "/v1/custom-fields", "/v1/notifications"] {
            let r = app.get(&format!("{path}?updated_since={bad}")).bearer(&seller.token).send().await;
            let problem = r.assert_problem(400);
            assert!(problem["detail"].as_str().unwrap().contains("updated_since"), "{problem}");
        }
    }
}
