//! Organizations, deals, actions, pipeline and activity (SPEC §3, §4).

use serde_json::{json, Value};

use crate::helpers::{Session, TestApp};

crate::both_backends!(
    focused_hand_over_loses_deals_and_actions,
    organization_roles_detail_and_unlinking_delete,
    deal_validation_items_and_delete_rules,
    action_assignment_rules_and_completion,
    activity_shows_only_what_the_user_sees,
    another_accounts_derived_records_are_404,
);

async fn post(app: &TestApp, by: &Session, path: &str, body: Value) -> Value {
    let r = app.post(path).bearer(&by.token).json(body).send().await;
    assert_eq!(r.status, 201, "{path}: {}", r.text());
    r.json()
}

fn ids(v: &Value) -> Vec<String> {
    v["data"].as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap().to_owned()).collect()
}

async fn focused_hand_over_loses_deals_and_actions(app: TestApp) {
    let owner = app.signup().await;
    let focused = app.user(&owner, "focused", &[]).await;
    let colleague = app.user(&owner, "user", &[]).await;
    let c = post(&app, &focused, "/v1/contacts", json!({"first_name": "Mine"})).await;
    let d = post(
        &app,
        &focused,
        "/v1/deals",
        json!({"contact_id": c["id"], "name": "Big", "amount": 100, "currency": "EUR"}),
    )
    .await;
    let a = post(&app, &focused, "/v1/actions", json!({"contact_id": c["id"], "text": "Call back"})).await;
    assert_eq!(a["assignee_id"], focused.user_id.as_str());
    assert_eq!(ids(&app.get("/v1/deals").bearer(&focused.token).send().await.json()), vec![d["id"].as_str().unwrap()]);
    let r = app
        .patch(&format!("/v1/contacts/{}", c["id"].as_str().unwrap()))
        .bearer(&focused.token)
        .json(json!({"owner_id": colleague.user_id}))
        .send()
        .await;
    assert_eq!(r.json()["access"], "hidden");
    assert_eq!(app.get("/v1/deals").bearer(&focused.token).send().await.json()["data"], json!([]));
    assert_eq!(app.get("/v1/actions").bearer(&focused.token).send().await.json()["data"], json!([]));
    app.get(&format!("/v1/deals/{}", d["id"].as_str().unwrap()))
        .bearer(&focused.token)
        .send()
        .await
        .assert_problem(404);
    app.post(&format!("/v1/actions/{}/complete", a["id"].as_str().unwrap()))
        .bearer(&focused.token)
        .send()
        .await
        .assert_problem(404);
    assert_eq!(
        app.get(&format!("/v1/deals/{}", d["id"].as_str().unwrap())).bearer(&colleague.token).send().await.status,
        200
    );
}

async fn organization_roles_detail_and_unlinking_delete(app: TestApp) {
    let owner = app.signup().await;
    let user = app.user(&owner, "user", &[]).await;
    let focused = app.user(&owner, "focused", &[]).await;
    let org =
        post(&app, &focused, "/v1/organizations", json!({"name": "Acme GmbH", "website": "https://acme.test"})).await;
    let oid = org["id"].as_str().unwrap().to_owned();
    // The focused creator sees it only once they own one of its contacts.
    app.get(&format!("/v1/organizations/{oid}")).bearer(&focused.token).send().await.assert_problem(404);
    let theirs = post(&app, &user, "/v1/contacts", json!({"first_name": "U", "organization_id": oid})).await;
    let mine = post(&app, &focused, "/v1/contacts", json!({"first_name": "F", "organization_id": oid})).await;
    post(
        &app,
        &user,
        "/v1/deals",
        json!({"contact_id": theirs["id"], "organization_id": oid, "name": "Theirs", "amount": 5, "currency": "EUR"}),
    )
    .await;
    let my_deal = post(
        &app,
        &focused,
        "/v1/deals",
        json!({"contact_id": mine["id"], "organization_id": oid, "name": "Mine", "amount": 7, "currency": "EUR"}),
    )
    .await;
    let detail = app.get(&format!("/v1/organizations/{oid}")).bearer(&focused.token).send().await.json();
    assert_eq!(detail["name"], "Acme GmbH");
    assert_eq!(detail["hidden_contacts_count"], 1);
    assert_eq!(detail["contacts"].as_array().unwrap().len(), 1);
    assert_eq!(
        detail["deals"].as_array().unwrap().iter().map(|d| d["id"].clone()).collect::<Vec<_>>(),
        vec![my_deal["id"].clone()]
    );
    let full = app.get(&format!("/v1/organizations/{oid}")).bearer(&user.token).send().await.json();
    assert_eq!((full["hidden_contacts_count"].clone(), full["deals"].as_array().unwrap().len()), (json!(0), 2));
    // Focused may not edit; users may; only owner/admin delete.
    app.patch(&format!("/v1/organizations/{oid}"))
        .bearer(&focused.token)
        .json(json!({"name": "X"}))
        .send()
        .await
        .assert_problem(403);
    let r =
        app.patch(&format!("/v1/organizations/{oid}")).bearer(&user.token).json(json!({"website": null})).send().await;
    assert_eq!(r.json()["website"], Value::Null);
    app.delete(&format!("/v1/organizations/{oid}")).bearer(&user.token).send().await.assert_problem(403);
    let q = app.get("/v1/organizations?q=acme").bearer(&user.token).send().await.json();
    assert_eq!(ids(&q), vec![oid.clone()]);
    assert_eq!(app.delete(&format!("/v1/organizations/{oid}")).bearer(&owner.token).send().await.status, 204);
    let c =
        app.get(&format!("/v1/contacts/{}", theirs["id"].as_str().unwrap())).bearer(&owner.token).send().await.json();
    assert_eq!(c["organization_id"], Value::Null, "contacts are unlinked, not deleted");
    let d = app.get(&format!("/v1/deals/{}", my_deal["id"].as_str().unwrap())).bearer(&owner.token).send().await.json();
    assert_eq!(d["organization_id"], Value::Null, "deals are unlinked, not deleted");
}

async fn deal_validation_items_and_delete_rules(app: TestApp) {
    let owner = app.signup().await;
    app.patch("/v1/account")
        .bearer(&owner.token)
        .json(json!({"settings": {"default_contact_access": "view"}}))
        .send()
        .await;
    let seller = app.user(&owner, "user", &["edit_deal_items", "delete_deals", "view_pipeline"]).await;
    let viewer = app.user(&owner, "user", &["edit_deal_items", "delete_deals"]).await;
    let c = post(&app, &seller, "/v1/contacts", json!({"first_name": "Buyer"})).await;
    let base = json!({"contact_id": c["id"], "name": "D", "amount": 1000, "currency": "EUR"});
    for (patch, field) in [
        (json!({"stage": "dreaming"}), "stage"),
        (json!({"currency": "euro"}), "currency"),
        (json!({"amount": -1}), "amount"),
        (json!({"contact_id": uuid::Uuid::now_v7()}), "contact_id"),
        (json!({"owner_id": uuid::Uuid::now_v7()}), "owner_id"),
    ] {
        let mut body = base.clone();
        body.as_object_mut().unwrap().extend(patch.as_object().unwrap().clone());
        let r = app.post("/v1/deals").bearer(&seller.token).json(body).send().await;
        assert!(r.assert_problem(422)["errors"][field].is_array(), "{field}: {}", r.text());
    }
    // `view` on the contact: reads the deal, cannot write it.
    app.post("/v1/deals").bearer(&viewer.token).json(base.clone()).send().await.assert_problem(403);
    let d = post(&app, &seller, "/v1/deals", base.clone()).await;
    assert_eq!(
        (d["stage"].clone(), d["status"].clone(), d["owner_id"].clone()),
        (json!("qualification"), json!("pending"), json!(seller.user_id))
    );
    let path = format!("/v1/deals/{}", d["id"].as_str().unwrap());
    assert_eq!(app.get(&path).bearer(&viewer.token).send().await.json()["access"], "view");
    app.patch(&path).bearer(&viewer.token).json(json!({"amount": 1})).send().await.assert_problem(403);
    app.post(&format!("{path}/items"))
        .bearer(&viewer.token)
        .json(json!({"name": "x", "quantity": 1, "unit_price": 1}))
        .send()
        .await
        .assert_problem(403);
    app.delete(&path).bearer(&viewer.token).send().await.assert_problem(403);
    // Items need edit_deal_items.
    let plain = app.user(&owner, "user", &[]).await;
    app.post(&format!("{path}/items"))
        .bearer(&plain.token)
        .json(json!({"name": "x", "quantity": 1, "unit_price": 1}))
        .send()
        .await
        .assert_problem(403);
    let r = app
        .post(&format!("{path}/items"))
        .bearer(&seller.token)
        .json(json!({"name": "Seat", "quantity": 3, "unit_price": 2500}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let item = r.json()["items"][0].clone();
    assert_eq!(item["quantity"], 3);
    let r = app
        .patch(&format!("{path}/items/{}", item["id"].as_str().unwrap()))
        .bearer(&seller.token)
        .json(json!({"quantity": 4}))
        .send()
        .await;
    assert_eq!(r.json()["items"][0]["quantity"], 4);
    app.post(&format!("{path}/items"))
        .bearer(&seller.token)
        .json(json!({"name": "x", "quantity": 0, "unit_price": 1}))
        .send()
        .await
        .assert_problem(422);
    assert_eq!(
        app.delete(&format!("{path}/items/{}", item["id"].as_str().unwrap())).bearer(&seller.token).send().await.status,
        204
    );
    app.delete(&format!("{path}/items/{}", item["id"].as_str().unwrap()))
        .bearer(&seller.token)
        .send()
        .await
        .assert_problem(404);
    // If-Match.
    let etag = app.get(&path).bearer(&seller.token).send().await.header("etag").unwrap();
    app.patch(&path)
        .bearer(&seller.token)
        .header("If-Match", "\"1\"")
        .json(json!({"stage": "proposal"}))
        .send()
        .await
        .assert_problem(412);
    let r = app
        .patch(&path)
        .bearer(&seller.token)
        .header("If-Match", &etag)
        .json(json!({"stage": "proposal", "status": "won"}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // Pipeline sums.
    post(
        &app,
        &seller,
        "/v1/deals",
        json!({"contact_id": c["id"], "name": "E", "amount": 500, "currency": "USD", "stage": "proposal"}),
    )
    .await;
    post(
        &app,
        &seller,
        "/v1/deals",
        json!({"contact_id": c["id"], "name": "F", "amount": 250, "currency": "EUR", "stage": "proposal"}),
    )
    .await;
    let p = app.get("/v1/deals/pipeline").bearer(&seller.token).send().await.json();
    assert_eq!(
        p["stages"],
        json!([
            {"stage": "proposal", "currency": "EUR", "count": 2, "amount": 1250},
            {"stage": "proposal", "currency": "USD", "count": 1, "amount": 500},
        ])
    );
    app.get("/v1/deals/pipeline").bearer(&viewer.token).send().await.assert_problem(403);
    // Delete: delete_deals + edit, or owner/admin.
    assert_eq!(app.delete(&path).bearer(&seller.token).send().await.status, 204);
    let audit =
        app.get(&format!("/v1/audit?entity_id={}", d["id"].as_str().unwrap())).bearer(&owner.token).send().await.json();
    let actions: Vec<&str> = audit["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions.first(), Some(&"delete"));
    assert_eq!(actions.last(), Some(&"create"));
}

async fn action_assignment_rules_and_completion(app: TestApp) {
    let owner = app.signup().await;
    app.patch("/v1/account")
        .bearer(&owner.token)
        .json(json!({"settings": {"default_contact_access": "view"}}))
        .send()
        .await;
    let user = app.user(&owner, "user", &[]).await;
    let helper = app.user(&owner, "user", &[]).await;
    let focused = app.user(&owner, "focused", &[]).await;
    let c = post(&app, &user, "/v1/contacts", json!({"first_name": "Client"})).await;
    let r = app
        .post("/v1/actions")
        .bearer(&user.token)
        .json(json!({"contact_id": c["id"], "text": "x", "assignee_id": focused.user_id}))
        .send()
        .await;
    let problem = r.assert_problem(422);
    assert!(problem["errors"]["assignee_id"][0].as_str().unwrap().contains("focused"));
    app.patch(&format!("/v1/users/{}", helper.user_id))
        .bearer(&owner.token)
        .json(json!({"active": false}))
        .send()
        .await;
    let r = app
        .post("/v1/actions")
        .bearer(&user.token)
        .json(json!({"contact_id": c["id"], "text": "x", "assignee_id": helper.user_id}))
        .send()
        .await;
    r.assert_problem(422);
    app.patch(&format!("/v1/users/{}", helper.user_id)).bearer(&owner.token).json(json!({"active": true})).send().await;
    let helper = app.login(&helper.email, &helper.password).await;
    // Someone with only `view` creates an action, assigned to themselves; they complete it,
    // cannot delete it; the contact owner (edit) can.
    let a = post(
        &app,
        &helper,
        "/v1/actions",
        json!({"contact_id": c["id"], "text": "Send offer", "due_date": "2026-12-01"}),
    )
    .await;
    let path = format!("/v1/actions/{}", a["id"].as_str().unwrap());
    let done = app.post(&format!("{path}/complete")).bearer(&helper.token).send().await.json();
    assert_eq!(done["status"], "done");
    assert!(done["completed_at"].is_string());
    app.delete(&path).bearer(&helper.token).send().await.assert_problem(403);
    let other = post(&app, &user, "/v1/actions", json!({"contact_id": c["id"], "text": "Owner's"})).await;
    app.patch(&format!("/v1/actions/{}", other["id"].as_str().unwrap()))
        .bearer(&helper.token)
        .json(json!({"text": "no"}))
        .send()
        .await
        .assert_problem(403);
    let due = app.get("/v1/actions?due_before=2026-12-02&status=done").bearer(&user.token).send().await.json();
    assert_eq!(ids(&due), vec![a["id"].as_str().unwrap()]);
    assert_eq!(app.delete(&path).bearer(&user.token).send().await.status, 204);
    // A focused owner may be assigned on their own contact.
    let fc = post(&app, &focused, "/v1/contacts", json!({"first_name": "Own"})).await;
    post(&app, &owner, "/v1/actions", json!({"contact_id": fc["id"], "text": "ok", "assignee_id": focused.user_id}))
        .await;
}

async fn activity_shows_only_what_the_user_sees(app: TestApp) {
    let owner = app.signup().await;
    app.patch("/v1/account")
        .bearer(&owner.token)
        .json(json!({"settings": {"default_contact_access": "hidden"}}))
        .send()
        .await;
    let watcher = app.user(&owner, "user", &["view_activity"]).await;
    let plain = app.user(&owner, "user", &[]).await;
    let focused = app.user(&owner, "focused", &[]).await;
    let seen = post(&app, &watcher, "/v1/contacts", json!({"first_name": "Seen"})).await;
    let unseen = post(&app, &plain, "/v1/contacts", json!({"first_name": "Unseen"})).await;
    let unseen_deal = post(
        &app,
        &plain,
        "/v1/deals",
        json!({"contact_id": unseen["id"], "name": "Secret", "amount": 1, "currency": "EUR"}),
    )
    .await;
    app.get("/v1/activity").bearer(&plain.token).send().await.assert_problem(403);
    app.get("/v1/activity").bearer(&focused.token).send().await.assert_problem(403);
    let all = app.get("/v1/activity?limit=200").bearer(&owner.token).send().await.json();
    let all_entities: Vec<String> =
        all["data"].as_array().unwrap().iter().map(|e| e["entity_id"].as_str().unwrap().to_owned()).collect();
    assert!(all_entities.contains(&unseen["id"].as_str().unwrap().to_owned()));
    let mine = app.get("/v1/activity?limit=200").bearer(&watcher.token).send().await.json();
    let entities: Vec<String> =
        mine["data"].as_array().unwrap().iter().map(|e| e["entity_id"].as_str().unwrap().to_owned()).collect();
    assert!(entities.contains(&seen["id"].as_str().unwrap().to_owned()));
    assert!(!entities.contains(&unseen["id"].as_str().unwrap().to_owned()), "a hidden contact's entry leaks");
    assert!(!entities.contains(&unseen_deal["id"].as_str().unwrap().to_owned()), "a hidden contact's deal leaks");
    assert!(entities.contains(&plain.user_id), "entries about users stay visible");
}

async fn another_accounts_derived_records_are_404(app: TestApp) {
    let mine = app.signup().await;
    let theirs = app.signup().await;
    let org = post(&app, &theirs, "/v1/organizations", json!({"name": "Theirs"})).await;
    let c = post(&app, &theirs, "/v1/contacts", json!({"first_name": "T", "organization_id": org["id"]})).await;
    let d =
        post(&app, &theirs, "/v1/deals", json!({"contact_id": c["id"], "name": "D", "amount": 1, "currency": "EUR"}))
            .await;
    let a = post(&app, &theirs, "/v1/actions", json!({"contact_id": c["id"], "text": "A"})).await;
    let missing =
        app.get(&format!("/v1/deals/{}", uuid::Uuid::now_v7())).bearer(&mine.token).send().await.assert_problem(404);
    for (kind, id) in [("organizations", &org["id"]), ("deals", &d["id"]), ("actions", &a["id"])] {
        let p = format!("/v1/{kind}/{}", id.as_str().unwrap());
        assert_eq!(app.get(&p).bearer(&mine.token).send().await.assert_problem(404), missing);
        app.patch(&p).bearer(&mine.token).json(json!({})).send().await.assert_problem(404);
        app.delete(&p).bearer(&mine.token).send().await.assert_problem(404);
        assert_eq!(app.get(&format!("/v1/{kind}")).bearer(&mine.token).send().await.json()["data"], json!([]));
    }
    app.post(&format!("/v1/actions/{}/complete", a["id"].as_str().unwrap()))
        .bearer(&mine.token)
        .send()
        .await
        .assert_problem(404);
    app.post(&format!("/v1/deals/{}/items", d["id"].as_str().unwrap()))
        .bearer(&mine.token)
        .json(json!({"name": "x", "quantity": 1, "unit_price": 1}))
        .send()
        .await
        .assert_problem(404);
    let r = app
        .post("/v1/deals")
        .bearer(&mine.token)
        .json(json!({"contact_id": c["id"], "name": "D", "amount": 1, "currency": "EUR"}))
        .send()
        .await;
    r.assert_problem(422);
    let r = app.post("/v1/actions").bearer(&mine.token).json(json!({"contact_id": c["id"], "text": "x"})).send().await;
    r.assert_problem(422);
    assert_eq!(app.get("/v1/deals/pipeline").bearer(&mine.token).send().await.json()["stages"], json!([]));
    let activity = app.get("/v1/activity").bearer(&mine.token).send().await.text();
    assert!(!activity.contains(c["id"].as_str().unwrap()));
}
