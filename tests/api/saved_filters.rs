//! Saved filters (SPEC §9): checked when saved, private or shared, always run under the
//! runner's access.

use serde_json::{json, Value};

use crate::helpers::{Session, TestApp};

async fn save(app: &TestApp, by: &Session, body: Value) -> Value {
    let r = app.post("/v1/saved-filters").bearer(&by.token).json(body).send().await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

fn ids(page: &Value) -> Vec<String> {
    page["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect()
}

async fn queries_are_checked_when_saved(app: TestApp) {
    let owner = app.signup().await;
    let r = app
        .post("/v1/custom-fields")
        .bearer(&owner.token)
        .json(json!({"entity": "contact", "key": "score", "label": "Score", "type": "number"}))
        .send()
        .await;
    assert_eq!(r.status, 201);
    for (entity, query, field) in [
        ("contacts", json!({"limit": 5}), "query.limit"),
        ("contacts", json!({"cursor": "x"}), "query.cursor"),
        ("contacts", json!({"stage": "won"}), "query.stage"),
        ("contacts", json!({"tag": ["a", "b"]}), "query.tag"),
        ("contacts", json!({"sort": "-email"}), "query"),
        ("contacts", json!({"owner_id": "not-a-uuid"}), "query"),
        ("contacts", json!({"cf.nope": "1"}), "query"),
        ("contacts", json!({"cf.score.gte": "many"}), "query"),
        ("deals", json!({"status": "maybe"}), "query"),
        ("actions", json!({"cf.score": 1}), "query.cf.score"),
    ] {
        let r = app
            .post("/v1/saved-filters")
            .bearer(&owner.token)
            .json(json!({"name": "F", "entity": entity, "query": query}))
            .send()
            .await;
        let problem = r.assert_problem(422);
        assert!(problem["errors"][field].is_array(), "{entity} {query}: {problem}");
    }
    let saved = save(
        &app,
        &owner,
        json!({"name": "Keen", "entity": "contacts", "query": {"cf.score.gte": 10, "sort": "-created_at", "q": "a"}}),
    )
    .await;
    assert_eq!(saved["query"]["cf.score.gte"], 10);
    assert_eq!((saved["shared"].clone(), saved["owner_id"].clone()), (json!(false), json!(owner.user_id)));
    let id = saved["id"].as_str().unwrap();
    let r = app
        .patch(&format!("/v1/saved-filters/{id}"))
        .bearer(&owner.token)
        .json(json!({"query": {"limit": 1}}))
        .send()
        .await;
    r.assert_problem(422);
    app.patch(&format!("/v1/saved-filters/{id}"))
        .bearer(&owner.token)
        .json(json!({"entity": "deals"}))
        .send()
        .await
        .assert_problem(422);
    // A custom field deleted since: running it is a 409 that says so.
    let fields = app.get("/v1/custom-fields").bearer(&owner.token).send().await.json();
    let field = fields[0]["id"].as_str().unwrap();
    assert_eq!(app.delete(&format!("/v1/custom-fields/{field}")).bearer(&owner.token).send().await.status, 204);
    app.get(&format!("/v1/saved-filters/{id}/results")).bearer(&owner.token).send().await.assert_problem(409);
}

async fn private_filters_are_their_owners_alone(app: TestApp) {
    let owner = app.signup().await;
    let admin = app.user(&owner, "admin", &[]).await;
    let user = app.user(&owner, "user", &["view_activity"]).await;
    let other = app.user(&owner, "user", &[]).await;
    let mine = save(&app, &user, json!({"name": "Mine", "entity": "deals", "query": {"status": "won"}})).await;
    let id = mine["id"].as_str().unwrap();
    for who in [&admin, &owner, &other] {
        app.get(&format!("/v1/saved-filters/{id}")).bearer(&who.token).send().await.assert_problem(404);
        app.get(&format!("/v1/saved-filters/{id}/results")).bearer(&who.token).send().await.assert_problem(404);
        app.patch(&format!("/v1/saved-filters/{id}"))
            .bearer(&who.token)
            .json(json!({"name": "x"}))
            .send()
            .await
            .assert_problem(404);
        app.delete(&format!("/v1/saved-filters/{id}")).bearer(&who.token).send().await.assert_problem(404);
        let listed = app.get("/v1/saved-filters").bearer(&who.token).send().await.json();
        assert!(ids(&listed).is_empty(), "{listed}");
    }
    // Shared: everyone lists and runs it; only its owner and owner/admin change it.
    let r =
        app.patch(&format!("/v1/saved-filters/{id}")).bearer(&user.token).json(json!({"shared": true})).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(ids(&app.get("/v1/saved-filters").bearer(&other.token).send().await.json()), vec![id.to_owned()]);
    assert_eq!(app.get(&format!("/v1/saved-filters/{id}/results")).bearer(&other.token).send().await.status, 200);
    app.patch(&format!("/v1/saved-filters/{id}"))
        .bearer(&other.token)
        .json(json!({"name": "Hijack"}))
        .send()
        .await
        .assert_problem(403);
    app.delete(&format!("/v1/saved-filters/{id}")).bearer(&other.token).send().await.assert_problem(403);
    let r = app
        .patch(&format!("/v1/saved-filters/{id}"))
        .bearer(&admin.token)
        .json(json!({"name": "Won deals"}))
        .send()
        .await;
    assert_eq!(r.status, 200);
    // A private filter of someone else never shows in the activity stream of a `user`.
    save(&app, &other, json!({"name": "Secret", "entity": "contacts", "query": {"q": "x"}})).await;
    let activity = app.get("/v1/activity?entity_type=saved_filter").bearer(&user.token).send().await.json();
    let authors: Vec<&str> =
        activity["data"].as_array().unwrap().iter().map(|e| e["actor_id"].as_str().unwrap()).collect();
    assert!(authors.iter().all(|a| *a == user.user_id), "{activity}");
    assert!(!authors.is_empty());
    assert_eq!(app.delete(&format!("/v1/saved-filters/{id}")).bearer(&admin.token).send().await.status, 204);
}

async fn results_follow_the_runner_not_the_author(app: TestApp) {
    let owner = app.signup().await;
    let focused = app.user(&owner, "focused", &[]).await;
    let seller = app.user(&owner, "user", &[]).await;
    let mut contacts = Vec::new();
    for owner_id in [&focused.user_id, &owner.user_id, &seller.user_id] {
        let r = app
            .post("/v1/contacts")
            .bearer(&owner.token)
            .json(json!({"first_name": "Vip", "tags": ["vip"], "owner_id": owner_id}))
            .send()
            .await;
        contacts.push(r.json()["id"].as_str().unwrap().to_owned());
        let r = app
            .post("/v1/deals")
            .bearer(&owner.token)
            .json(json!({"contact_id": contacts.last().unwrap(), "name": "D", "amount": 5, "currency": "EUR"}))
            .send()
            .await;
        assert_eq!(r.status, 201);
        let r = app
            .post("/v1/actions")
            .bearer(&owner.token)
            .json(json!({"contact_id": contacts.last().unwrap(), "text": "Call"}))
            .send()
            .await;
        assert_eq!(r.status, 201);
    }
    let by_owner =
        save(&app, &owner, json!({"name": "VIPs", "entity": "contacts", "query": {"tag": "vip"}, "shared": true}))
            .await;
    let deals =
        save(&app, &owner, json!({"name": "Open", "entity": "deals", "query": {"status": "pending"}, "shared": true}))
            .await;
    let actions =
        save(&app, &focused, json!({"name": "Todo", "entity": "actions", "query": {"status": "open"}, "shared": true}))
            .await;
    let run = |id: Value, who: &Session| {
        let (app, token) = (&app, who.token.clone());
        async move {
            let r = app
                .get(&format!("/v1/saved-filters/{}/results?with_total=true", id.as_str().unwrap()))
                .bearer(&token)
                .send()
                .await;
            assert_eq!(r.status, 200, "{}", r.text());
            r.json()
        }
    };
    // The owner sees all three; the focused user only what they own, whoever saved it.
    let all = run(by_owner["id"].clone(), &owner).await;
    assert_eq!((all["total"].clone(), all["entity"].clone()), (json!(3), json!("contacts")));
    let theirs = run(by_owner["id"].clone(), &focused).await;
    assert_eq!((theirs["total"].clone(), ids(&theirs)), (json!(1), vec![contacts[0].clone()]));
    assert_eq!(run(deals["id"].clone(), &focused).await["total"], 1);
    assert_eq!(run(deals["id"].clone(), &seller).await["total"], 3, "unassigned-office contacts default to edit");
    assert_eq!(run(actions["id"].clone(), &owner).await["total"], 3, "a focused user's filter runs wide for the owner");
    assert_eq!(run(actions["id"].clone(), &focused).await["total"], 1);
    // Paging through results.
    let page = app
        .get(&format!("/v1/saved-filters/{}/results?limit=2", by_owner["id"].as_str().unwrap()))
        .bearer(&owner.token)
        .send()
        .await
        .json();
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = app
        .get(&format!("/v1/saved-filters/{}/results?limit=2&cursor={cursor}", by_owner["id"].as_str().unwrap()))
        .bearer(&owner.token)
        .send()
        .await
        .json();
    assert_eq!(ids(&page).len() + ids(&rest).len(), 3);
}

crate::both_backends!(
    queries_are_checked_when_saved,
    private_filters_are_their_owners_alone,
    results_follow_the_runner_not_the_author
);
