//! Notes, calls and mentions (SPEC §8), case by case; the model-based test covers every
//! (user, contact) pair.

use serde_json::{json, Value};

use crate::helpers::{Session, TestApp};

async fn contact(app: &TestApp, by: &Session, body: Value) -> String {
    let r = app.post("/v1/contacts").bearer(&by.token).json(body).send().await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["id"].as_str().unwrap().to_owned()
}

async fn notifications(app: &TestApp, who: &Session) -> Vec<Value> {
    app.get("/v1/notifications").bearer(&who.token).send().await.json()["data"].as_array().unwrap().clone()
}

async fn note_lifecycle_and_mentions(app: TestApp) {
    let owner = app.signup().await;
    let seller = app.user(&owner, "user", &[]).await;
    let colleague = app.user(&owner, "user", &[]).await;
    let focused = app.user(&owner, "focused", &[]).await;
    let c = contact(&app, &owner, json!({"first_name": "Ada", "owner_id": seller.user_id})).await;
    // A focused user who does not own the contact may not be mentioned: 422 naming them.
    let r = app
        .post("/v1/notes")
        .bearer(&seller.token)
        .json(json!({"contact_id": c, "body": "Hi", "mentions": [colleague.user_id, focused.user_id]}))
        .send()
        .await;
    let problem = r.assert_problem(422);
    let msgs = problem["errors"]["mentions"].as_array().unwrap();
    assert_eq!(msgs.len(), 1, "{problem}");
    assert!(msgs[0].as_str().unwrap().contains(&focused.user_id), "{problem}");
    assert!(notifications(&app, &colleague).await.is_empty(), "a refused note notifies nobody");
    // A foreign or unknown user id is refused too.
    let r = app
        .post("/v1/notes")
        .bearer(&seller.token)
        .json(json!({"contact_id": c, "body": "Hi", "mentions": [uuid::Uuid::now_v7()]}))
        .send()
        .await;
    r.assert_problem(422);
    let r = app
        .post("/v1/notes")
        .bearer(&seller.token)
        .json(json!({"contact_id": c, "body": "Call back Friday", "mentions": [colleague.user_id, colleague.user_id]}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let note = r.json();
    let id = note["id"].as_str().unwrap().to_owned();
    assert_eq!(r.header("location").unwrap(), format!("/v1/notes/{id}"));
    assert_eq!(note["mentions"], json!([colleague.user_id]));
    assert_eq!(note["author_id"], json!(seller.user_id));
    let got = notifications(&app, &colleague).await;
    assert_eq!(got.len(), 1);
    assert_eq!((got[0]["kind"].as_str(), got[0]["entity_type"].as_str()), (Some("mention"), Some("note")));
    assert_eq!(got[0]["entity_id"], json!(id));
    assert_eq!(got[0]["actor_id"], json!(seller.user_id));
    // The mention filter.
    let listed = app.get(&format!("/v1/notes?mentioned={}", colleague.user_id)).bearer(&owner.token).send().await;
    assert_eq!(listed.json()["data"].as_array().unwrap().len(), 1);
    let listed = app.get(&format!("/v1/notes?mentioned={}", owner.user_id)).bearer(&owner.token).send().await;
    assert!(listed.json()["data"].as_array().unwrap().is_empty());
    // A PATCH that keeps a mention does not notify again; a new one is notified once.
    let r = app
        .patch(&format!("/v1/notes/{id}"))
        .bearer(&seller.token)
        .header("If-Match", "\"1\"")
        .json(json!({"body": "Call back Monday", "mentions": [colleague.user_id, owner.user_id]}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["version"], 2);
    assert_eq!(notifications(&app, &colleague).await.len(), 1);
    assert_eq!(notifications(&app, &owner).await.len(), 1);
    // Stale If-Match.
    app.patch(&format!("/v1/notes/{id}"))
        .bearer(&seller.token)
        .header("If-Match", "\"1\"")
        .json(json!({"body": "x"}))
        .send()
        .await
        .assert_problem(412);
    // Once the colleague loses the contact (made private to the seller), the mention is hidden.
    let r = app.patch(&format!("/v1/contacts/{c}")).bearer(&owner.token).json(json!({"private": true})).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(notifications(&app, &colleague).await.is_empty());
    app.get(&format!("/v1/notes/{id}")).bearer(&colleague.token).send().await.assert_problem(404);
    // Deleting: not the colleague (404 now), owner/admin may.
    app.delete(&format!("/v1/notes/{id}")).bearer(&colleague.token).send().await.assert_problem(404);
    let r = app.delete(&format!("/v1/notes/{id}")).bearer(&owner.token).send().await;
    assert_eq!(r.status, 204);
    app.get(&format!("/v1/notes/{id}")).bearer(&seller.token).send().await.assert_problem(404);
    // Audited: create, update, delete.
    let audit = app.get(&format!("/v1/audit?entity_id={id}")).bearer(&owner.token).send().await.json();
    let actions: Vec<&str> = audit["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions.len(), 3, "{audit}");
}

async fn edit_access_changes_but_does_not_delete_others_notes(app: TestApp) {
    let owner = app.signup().await;
    let author = app.user(&owner, "user", &[]).await;
    let other = app.user(&owner, "user", &[]).await;
    // Unassigned contact: every user is at edit.
    let c = contact(&app, &owner, json!({"first_name": "Shared"})).await;
    let r = app.post("/v1/notes").bearer(&author.token).json(json!({"contact_id": c, "body": "Mine"})).send().await;
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let r = app.patch(&format!("/v1/notes/{id}")).bearer(&other.token).json(json!({"body": "Edited"})).send().await;
    assert_eq!(r.status, 200, "edit on the contact changes any note");
    app.delete(&format!("/v1/notes/{id}")).bearer(&other.token).send().await.assert_problem(403);
    assert_eq!(app.delete(&format!("/v1/notes/{id}")).bearer(&author.token).send().await.status, 204);
    // At view, only the author changes it.
    let r = app
        .patch("/v1/account")
        .bearer(&owner.token)
        .json(json!({"settings": {"default_contact_access": "view"}}))
        .send()
        .await;
    assert_eq!(r.status, 200);
    let c = contact(&app, &owner, json!({"first_name": "Owned", "owner_id": owner.user_id})).await;
    let r = app.post("/v1/notes").bearer(&author.token).json(json!({"contact_id": c, "body": "At view"})).send().await;
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.patch(&format!("/v1/notes/{id}")).bearer(&author.token).json(json!({"body": "B"})).send().await.status,
        200
    );
    app.patch(&format!("/v1/notes/{id}"))
        .bearer(&other.token)
        .json(json!({"body": "C"}))
        .send()
        .await
        .assert_problem(403);
    // At limited, nothing: not listed, not creatable (403).
    app.patch("/v1/account")
        .bearer(&owner.token)
        .json(json!({"settings": {"default_contact_access": "limited"}}))
        .send()
        .await;
    app.get(&format!("/v1/notes/{id}")).bearer(&author.token).send().await.assert_problem(404);
    app.post("/v1/notes")
        .bearer(&author.token)
        .json(json!({"contact_id": c, "body": "x"}))
        .send()
        .await
        .assert_problem(403);
    let listed =
        app.get(&format!("/v1/notes?contact_id={c}&with_total=true")).bearer(&author.token).send().await.json();
    assert_eq!(listed["total"], 0);
}

async fn calls_validate_results_and_follow_deals(app: TestApp) {
    let owner = app.signup().await;
    let c = contact(&app, &owner, json!({"first_name": "Caller"})).await;
    let other = contact(&app, &owner, json!({"first_name": "Other"})).await;
    let account = app.get("/v1/account").bearer(&owner.token).send().await.json();
    assert!(account["settings"]["call_results"].as_array().unwrap().contains(&json!("connected")));
    let r = app
        .post("/v1/calls")
        .bearer(&owner.token)
        .json(json!({"contact_id": c, "direction": "outbound", "result": "teleported"}))
        .send()
        .await;
    assert!(r.assert_problem(422)["errors"]["result"].is_array());
    let r =
        app.post("/v1/calls").bearer(&owner.token).json(json!({"contact_id": c, "direction": "sideways"})).send().await;
    r.assert_problem(422);
    let deal = app
        .post("/v1/deals")
        .bearer(&owner.token)
        .json(json!({"contact_id": other, "name": "D", "amount": 1, "currency": "EUR"}))
        .send()
        .await
        .json();
    let r = app
        .post("/v1/calls")
        .bearer(&owner.token)
        .json(json!({"contact_id": c, "direction": "inbound", "deal_id": deal["id"]}))
        .send()
        .await;
    assert!(r.assert_problem(422)["errors"]["deal_id"].is_array(), "a deal of another contact");
    let r = app
        .post("/v1/calls")
        .bearer(&owner.token)
        .json(json!({"contact_id": other, "direction": "inbound", "deal_id": deal["id"], "result": "busy",
                     "duration_seconds": 60.0, "called_at": "2026-11-30T10:00:00Z"}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let call = r.json();
    assert_eq!(call["called_at"], "2026-11-30T10:00:00Z");
    assert_eq!(call["duration_seconds"], 60);
    let id = call["id"].as_str().unwrap().to_owned();
    // A retired result stays on the call; setting it anew is refused.
    let r = app
        .patch("/v1/account")
        .bearer(&owner.token)
        .json(json!({"settings": {"call_results": ["connected", "no_answer"]}}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = app.patch(&format!("/v1/calls/{id}")).bearer(&owner.token).json(json!({"body": "kept"})).send().await;
    assert_eq!((r.status, r.json()["result"].clone()), (200, json!("busy")));
    let r = app.patch(&format!("/v1/calls/{id}")).bearer(&owner.token).json(json!({"result": "busy"})).send().await;
    assert_eq!(r.status, 200, "unchanged is not a change");
    app.patch(&format!("/v1/calls/{id}"))
        .bearer(&owner.token)
        .json(json!({"result": "voicemail"}))
        .send()
        .await
        .assert_problem(422);
    let r = app
        .patch(&format!("/v1/calls/{id}"))
        .bearer(&owner.token)
        .json(json!({"result": null, "duration_seconds": null}))
        .send()
        .await;
    assert_eq!((r.json()["result"].clone(), r.json()["duration_seconds"].clone()), (Value::Null, Value::Null));
    // A body out of bounds is 422 before any If-Match is looked at.
    let r = app
        .patch(&format!("/v1/calls/{id}"))
        .bearer(&owner.token)
        .header("If-Match", "\"999\"")
        .json(json!({"duration_seconds": -1}))
        .send()
        .await;
    assert!(r.assert_problem(422)["errors"]["duration_seconds"].is_array());
    // Deleting the deal unlinks the call (a new version, audited); the call stays.
    let version =
        app.get(&format!("/v1/calls/{id}")).bearer(&owner.token).send().await.json()["version"].as_i64().unwrap();
    assert_eq!(
        app.delete(&format!("/v1/deals/{}", deal["id"].as_str().unwrap())).bearer(&owner.token).send().await.status,
        204
    );
    let after = app.get(&format!("/v1/calls/{id}")).bearer(&owner.token).send().await.json();
    assert_eq!((after["deal_id"].clone(), after["version"].as_i64().unwrap()), (Value::Null, version + 1));
    // Notes are not calls: the ids do not cross.
    app.get(&format!("/v1/notes/{id}")).bearer(&owner.token).send().await.assert_problem(404);
    // Deleting the contact deletes its calls, each audited.
    assert_eq!(app.delete(&format!("/v1/contacts/{other}")).bearer(&owner.token).send().await.status, 204);
    app.get(&format!("/v1/calls/{id}")).bearer(&owner.token).send().await.assert_problem(404);
    let audit = app.get(&format!("/v1/audit?entity_id={id}")).bearer(&owner.token).send().await.json();
    assert_eq!(audit["data"][0]["action"], "delete", "{audit}");
}

async fn deleting_an_author_keeps_their_notes(app: TestApp) {
    let owner = app.signup().await;
    let author = app.user(&owner, "user", &[]).await;
    let mentioned = app.user(&owner, "user", &[]).await;
    let c = contact(&app, &owner, json!({"first_name": "Kept"})).await;
    let r = app
        .post("/v1/notes")
        .bearer(&author.token)
        .json(json!({"contact_id": c, "body": "History", "mentions": [mentioned.user_id]}))
        .send()
        .await;
    let id = r.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(app.delete(&format!("/v1/users/{}", mentioned.user_id)).bearer(&owner.token).send().await.status, 204);
    assert_eq!(app.delete(&format!("/v1/users/{}", author.user_id)).bearer(&owner.token).send().await.status, 204);
    let note = app.get(&format!("/v1/notes/{id}")).bearer(&owner.token).send().await.json();
    assert_eq!((note["author_id"].clone(), note["mentions"].clone()), (Value::Null, json!([])));
}

async fn timeline_pages(app: &TestApp, token: &str, contact: &str, limit: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = app.get(&format!("/v1/contacts/{contact}/timeline?limit={limit}{cursor}")).bearer(token).send().await;
        assert_eq!(r.status, 200, "{}", r.text());
        let page = r.json();
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= limit);
        out.extend(data.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return out,
        }
    }
}

async fn timeline_merges_every_type_newest_first(app: TestApp) {
    let owner = app.signup().await;
    let seller = app.user(&owner, "user", &[]).await;
    let c = contact(&app, &owner, json!({"first_name": "Busy", "owner_id": seller.user_id})).await;
    let post = |path: &'static str, body: Value| {
        let (app, token) = (&app, owner.token.clone());
        async move {
            let r = app.post(path).bearer(&token).json(body).send().await;
            assert_eq!(r.status, 201, "{}", r.text());
            r.json()["id"].as_str().unwrap().to_owned()
        }
    };
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(post("/v1/notes", json!({"contact_id": c, "body": format!("n{i}")})).await);
        ids.push(post("/v1/actions", json!({"contact_id": c, "text": format!("a{i}")})).await);
        ids.push(post("/v1/deals", json!({"contact_id": c, "name": "D", "amount": 1, "currency": "EUR"})).await);
        let r = app
            .patch(&format!("/v1/contacts/{c}"))
            .bearer(&owner.token)
            .json(json!({"job_title": format!("t{i}")}))
            .send()
            .await;
        assert_eq!(r.status, 200);
    }
    // A call logged now about last week sorts by its called_at, at the end.
    let old_call =
        post("/v1/calls", json!({"contact_id": c, "direction": "inbound", "called_at": "2020-01-01T00:00:00Z"})).await;
    // Another contact's items never show.
    let other = contact(&app, &owner, json!({"first_name": "Quiet"})).await;
    post("/v1/notes", json!({"contact_id": other, "body": "elsewhere"})).await;

    let all = timeline_pages(&app, &owner.token, &c, 200).await;
    let paged = timeline_pages(&app, &owner.token, &c, 2).await;
    assert_eq!(all, paged, "pages of 2 add up to the whole timeline");
    let ats: Vec<&str> = all.iter().map(|e| e["at"].as_str().unwrap()).collect();
    let mut sorted = ats.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(ats, sorted, "newest first");
    let types = |entries: &[Value], t: &str| entries.iter().filter(|e| e["type"] == t).count();
    // The manager sees the contact's changes: its creation and three updates.
    assert_eq!(
        (types(&all, "note"), types(&all, "action"), types(&all, "deal"), types(&all, "call"), types(&all, "change")),
        (3, 3, 3, 1, 4)
    );
    assert_eq!(all.last().unwrap()["item"]["id"], json!(old_call));
    for id in &ids {
        assert!(all.iter().any(|e| e["item"]["id"] == json!(id)), "{id} on the timeline");
    }
    // The owning seller is at edit: everything but the changes.
    let seen = timeline_pages(&app, &seller.token, &c, 3).await;
    assert_eq!((seen.len(), types(&seen, "change")), (all.len() - 4, 0));
    // Limited: 403; hidden: 404; a bad cursor: 400.
    let r = app
        .patch("/v1/account")
        .bearer(&owner.token)
        .json(json!({"settings": {"default_contact_access": "limited"}}))
        .send()
        .await;
    assert_eq!(r.status, 200);
    let colleague = app.user(&owner, "user", &[]).await;
    app.get(&format!("/v1/contacts/{c}/timeline")).bearer(&colleague.token).send().await.assert_problem(403);
    let focused = app.user(&owner, "focused", &[]).await;
    app.get(&format!("/v1/contacts/{c}/timeline")).bearer(&focused.token).send().await.assert_problem(404);
    app.get(&format!("/v1/contacts/{c}/timeline?cursor=bm9wZQ")).bearer(&owner.token).send().await.assert_problem(400);
}

crate::both_backends!(
    timeline_merges_every_type_newest_first,
    note_lifecycle_and_mentions,
    edit_access_changes_but_does_not_delete_others_notes,
    calls_validate_results_and_follow_deals,
    deleting_an_author_keeps_their_notes
);
