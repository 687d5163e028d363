//! The access rule by construction: the defects of the "access rule by construction"
//! issue, each held here on both backends.

use serde_json::{json, Value};

use crate::helpers::{Session, TestApp};

crate::both_backends!(
    audit_and_activity_follow_the_contact_for_deals_and_actions,
    settings_and_roles_are_constrained_in_the_database,
    deleting_an_office_never_widens_access,
    deleting_a_user_reassigns_or_refuses,
    deleting_a_contact_audits_its_deals_and_actions,
    deleting_an_organization_unlinks_with_audit,
    concurrent_deletes_audit_once,
    limited_means_the_basic_fields_and_nothing_more,
    lost_races_follow_one_policy,
);

async fn create(app: &TestApp, by: &Session, path: &str, body: Value) -> Value {
    let r = app.post(path).bearer(&by.token).json(body).send().await;
    assert_eq!(r.status, 201, "POST {path}: {}", r.text());
    r.json()
}

fn entity_types(page: &Value) -> Vec<String> {
    let mut out: Vec<String> =
        page["data"].as_array().unwrap().iter().map(|e| e["entity_type"].as_str().unwrap().to_owned()).collect();
    out.sort();
    out.dedup();
    out
}

/// `/v1/audit` and `/v1/activity` apply one rule to a contact's entries and to those of
/// its deals and actions: they follow the contact.
async fn audit_and_activity_follow_the_contact_for_deals_and_actions(app: TestApp) {
    let owner = app.signup().await;
    let focused = app.user(&owner, "focused", &[]).await;
    let colleague = app.user(&owner, "user", &["view_activity"]).await;
    let patch = app
        .patch("/v1/account")
        .bearer(&owner.token)
        .json(json!({"settings": {"default_contact_access": "hidden"}}))
        .send()
        .await;
    assert_eq!(patch.status, 200, "{}", patch.text());
    let c = create(&app, &focused, "/v1/contacts", json!({"first_name": "Trail"})).await;
    let contact_id = c["id"].as_str().unwrap().to_owned();
    let deal = json!({"contact_id": contact_id, "name": "D", "amount": 5, "currency": "EUR"});
    let d = create(&app, &focused, "/v1/deals", deal).await;
    create(&app, &focused, "/v1/actions", json!({"contact_id": contact_id, "text": "Call"})).await;
    let mine = app.get("/v1/audit?limit=200").bearer(&focused.token).send().await.json();
    assert_eq!(entity_types(&mine), ["action", "contact", "deal"]);
    // The colleague (default `hidden`, not the owner) sees none of it in the stream.
    let stream = app.get("/v1/activity?limit=200").bearer(&colleague.token).send().await.json();
    assert!(!entity_types(&stream).iter().any(|t| ["action", "contact", "deal"].contains(&t.as_str())), "{stream}");
    // The focused user hands the contact to the colleague: every entry about it, its deal
    // and its action goes from the focused user's log, and appears in the colleague's stream.
    let r = app
        .patch(&format!("/v1/contacts/{contact_id}"))
        .bearer(&focused.token)
        .json(json!({"owner_id": colleague.user_id}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mine = app.get("/v1/audit?limit=200").bearer(&focused.token).send().await.json();
    assert!(
        !entity_types(&mine).iter().any(|t| ["action", "contact", "deal"].contains(&t.as_str())),
        "the focused user still reads entries about a contact they lost: {mine}"
    );
    let filtered = app.get("/v1/audit?entity_type=deal").bearer(&focused.token).send().await.json();
    assert_eq!(filtered["data"], json!([]));
    let stream = app.get("/v1/activity?limit=200").bearer(&colleague.token).send().await.json();
    assert_eq!(entity_types(&stream).iter().filter(|t| ["action", "contact", "deal"].contains(&t.as_str())).count(), 3);
    // A deleted deal's entries still follow its contact.
    let r = app.delete(&format!("/v1/deals/{}", d["id"].as_str().unwrap())).bearer(&owner.token).send().await;
    assert_eq!(r.status, 204);
    let deal_entries = app.get("/v1/activity?entity_type=deal").bearer(&colleague.token).send().await.json();
    let actions: Vec<&str> =
        deal_entries["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["delete", "create"]);
    // The owner reads everything.
    let all = app.get("/v1/audit?limit=200").bearer(&owner.token).send().await.json();
    assert!(entity_types(&all).contains(&"deal".to_owned()));
}

/// Unknown setting, role and permission values never get into the database, so nothing
/// can fail open on them.
async fn settings_and_roles_are_constrained_in_the_database(app: TestApp) {
    let owner = app.signup().await;
    let user = app.user(&owner, "user", &[]).await;
    let office = app.office(&owner, "North").await;
    let r = app
        .put(&format!("/v1/users/{}/offices/{office}", user.user_id))
        .bearer(&owner.token)
        .json(json!({"permission": "view"}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let account = &owner.account_id;
    for bad in [
        format!("UPDATE accounts SET default_contact_access = 'everything' WHERE id = '{account}'"),
        format!("UPDATE accounts SET default_contact_access = '' WHERE id = '{account}'"),
        format!("UPDATE users SET role = 'superuser' WHERE id = '{}'", user.user_id),
        format!("UPDATE office_memberships SET level = 1 WHERE user_id = '{}'", user.user_id),
        format!("UPDATE office_memberships SET level = 9 WHERE user_id = '{}'", user.user_id),
    ] {
        let e = app.sql(&bad).expect_err(&bad);
        assert!(e.to_lowercase().contains("check"), "{bad}: {e}");
    }
    for good in [
        format!("UPDATE accounts SET default_contact_access = 'limited' WHERE id = '{account}'"),
        format!("UPDATE users SET role = 'focused' WHERE id = '{}'", user.user_id),
        format!("UPDATE office_memberships SET level = 4 WHERE user_id = '{}'", user.user_id),
    ] {
        assert_eq!(app.sql(&good), Ok(1), "{good}");
    }
    let settings = app.get("/v1/account").bearer(&owner.token).send().await.json();
    assert_eq!(settings["settings"]["default_contact_access"], "limited");
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

/// Entries of one entity, oldest first, as the owner reads them.
async fn entries(app: &TestApp, owner: &Session, entity_id: &str) -> Vec<Value> {
    let page = app.get(&format!("/v1/audit?entity_id={entity_id}&limit=200")).bearer(&owner.token).send().await.json();
    let mut list = page["data"].as_array().unwrap().clone();
    list.reverse();
    list
}

async fn deleting_an_office_never_widens_access(app: TestApp) {
    let owner = app.signup().await;
    let user = app.user(&owner, "user", &[]).await;
    let patch = json!({"settings": {"default_contact_access": "hidden"}});
    assert_eq!(app.patch("/v1/account").bearer(&owner.token).json(patch).send().await.status, 200);
    let north = app.office(&owner, "North").await;
    let south = app.office(&owner, "South").await;
    let put = app
        .put(&format!("/v1/users/{}/offices/{north}", user.user_id))
        .bearer(&owner.token)
        .json(json!({"permission": "none"}))
        .send()
        .await;
    assert_eq!(put.status, 201);
    // Unowned, in North: hidden from the user. Without its office it would be `edit` for all.
    let c =
        create(&app, &owner, "/v1/contacts", json!({"first_name": "Kept", "owner_id": null, "office_id": north})).await;
    let path = format!("/v1/contacts/{}", id(&c));
    app.get(&path).bearer(&user.token).send().await.assert_problem(404);
    let r = app.delete(&format!("/v1/offices/{north}")).bearer(&owner.token).send().await;
    let problem = r.assert_problem(409);
    assert_eq!(problem["counts"], json!({"contacts": 1}), "{problem}");
    app.delete(&format!("/v1/offices/{north}?move_contacts_to={north}"))
        .bearer(&owner.token)
        .send()
        .await
        .assert_problem(422);
    app.delete(&format!("/v1/offices/{north}?move_contacts_to=nowhere"))
        .bearer(&owner.token)
        .send()
        .await
        .assert_problem(400);
    let foreign = uuid::Uuid::now_v7();
    app.delete(&format!("/v1/offices/{north}?move_contacts_to={foreign}"))
        .bearer(&owner.token)
        .send()
        .await
        .assert_problem(422);
    // Nothing changed by the refusals.
    let now = app.get(&path).bearer(&owner.token).send().await.json();
    assert_eq!((now["office_id"].as_str(), now["version"].clone()), (Some(north.as_str()), json!(1)));
    assert_eq!(app.get(&format!("/v1/offices/{north}")).bearer(&owner.token).send().await.status, 200);
    // Moved to South: a new version, an audit entry, still hidden from the user.
    let r = app.delete(&format!("/v1/offices/{north}?move_contacts_to={south}")).bearer(&owner.token).send().await;
    assert_eq!(r.status, 204, "{}", r.text());
    let now = app.get(&path).bearer(&owner.token).send().await.json();
    assert_eq!((now["office_id"].as_str(), now["version"].clone()), (Some(south.as_str()), json!(2)));
    let log = entries(&app, &owner, &id(&c)).await;
    assert_eq!(log.last().unwrap()["changes"]["office_id"], json!({"old": north, "new": south}));
    app.get(&path).bearer(&user.token).send().await.assert_problem(404);
    // The membership went with an audit entry of its own.
    let m = entries(&app, &owner, &format!("{}/{north}", user.user_id)).await;
    assert_eq!(m.last().unwrap()["action"], "delete", "{m:?}");
    let offices = app.get(&format!("/v1/users/{}/offices", user.user_id)).bearer(&owner.token).send().await.json();
    assert_eq!(offices, json!([]));
    // `none` is the explicit way to leave contacts without an office.
    let r = app.delete(&format!("/v1/offices/{south}?move_contacts_to=none")).bearer(&owner.token).send().await;
    assert_eq!(r.status, 204, "{}", r.text());
    let now = app.get(&path).bearer(&owner.token).send().await.json();
    assert_eq!((now["office_id"].clone(), now["version"].clone()), (Value::Null, json!(3)));
    // An empty office needs no parameter.
    let empty = app.office(&owner, "Empty").await;
    assert_eq!(app.delete(&format!("/v1/offices/{empty}")).bearer(&owner.token).send().await.status, 204);
}

async fn deleting_a_user_reassigns_or_refuses(app: TestApp) {
    let owner = app.signup().await;
    let leaver = app.user(&owner, "user", &[]).await;
    let heir = app.user(&owner, "user", &[]).await;
    let focused = app.user(&owner, "focused", &[]).await;
    let office = app.office(&owner, "North").await;
    let put = app
        .put(&format!("/v1/users/{}/offices/{office}", leaver.user_id))
        .bearer(&owner.token)
        .json(json!({"permission": "edit"}))
        .send()
        .await;
    assert_eq!(put.status, 201);
    let c = create(&app, &owner, "/v1/contacts", json!({"first_name": "Owned", "owner_id": leaver.user_id})).await;
    let deal = json!({"contact_id": id(&c), "name": "D", "amount": 5, "currency": "EUR", "owner_id": leaver.user_id});
    let d = create(&app, &owner, "/v1/deals", deal).await;
    let open = create(
        &app,
        &owner,
        "/v1/actions",
        json!({"contact_id": id(&c), "text": "Open", "assignee_id": leaver.user_id}),
    )
    .await;
    let done = create(
        &app,
        &owner,
        "/v1/actions",
        json!({"contact_id": id(&c), "text": "Done", "assignee_id": leaver.user_id}),
    )
    .await;
    let r = app.post(&format!("/v1/actions/{}/complete", id(&done))).bearer(&owner.token).send().await;
    assert_eq!(r.status, 200);
    let path = format!("/v1/users/{}", leaver.user_id);
    let problem = app.delete(&path).bearer(&owner.token).send().await.assert_problem(409);
    assert_eq!(problem["counts"], json!({"contacts": 1, "deals": 1, "open_actions": 1}), "{problem}");
    for bad in [focused.user_id.as_str(), leaver.user_id.as_str(), owner.account_id.as_str()] {
        let r = app.delete(&format!("{path}?reassign_to={bad}")).bearer(&owner.token).send().await;
        assert!(r.assert_problem(422)["errors"]["reassign_to"].is_array(), "{bad}");
    }
    app.delete(&format!("{path}?reassign_to=someone")).bearer(&owner.token).send().await.assert_problem(400);
    // A deactivated heir is refused too.
    let gone = app.user(&owner, "user", &[]).await;
    let off = app
        .patch(&format!("/v1/users/{}", gone.user_id))
        .bearer(&owner.token)
        .json(json!({"active": false}))
        .send()
        .await;
    assert_eq!(off.status, 200);
    app.delete(&format!("{path}?reassign_to={}", gone.user_id)).bearer(&owner.token).send().await.assert_problem(422);
    assert_eq!(app.get(&path).bearer(&owner.token).send().await.status, 200, "refusals delete nothing");
    let r = app.delete(&format!("{path}?reassign_to={}", heir.user_id)).bearer(&owner.token).send().await;
    assert_eq!(r.status, 204, "{}", r.text());
    app.get(&path).bearer(&owner.token).send().await.assert_problem(404);
    let contact = app.get(&format!("/v1/contacts/{}", id(&c))).bearer(&owner.token).send().await.json();
    assert_eq!((contact["owner_id"].as_str(), contact["version"].clone()), (Some(heir.user_id.as_str()), json!(2)));
    let deal = app.get(&format!("/v1/deals/{}", id(&d))).bearer(&owner.token).send().await.json();
    assert_eq!((deal["owner_id"].as_str(), deal["version"].clone()), (Some(heir.user_id.as_str()), json!(2)));
    for action in [&open, &done] {
        let a = app.get(&format!("/v1/actions/{}", id(action))).bearer(&owner.token).send().await.json();
        assert_eq!(a["assignee_id"].as_str(), Some(heir.user_id.as_str()), "{a}");
        let log = entries(&app, &owner, &id(action)).await;
        assert_eq!(log.last().unwrap()["changes"]["assignee_id"], json!({"old": leaver.user_id, "new": heir.user_id}));
    }
    let log = entries(&app, &owner, &id(&c)).await;
    assert_eq!(log.last().unwrap()["changes"]["owner_id"], json!({"old": leaver.user_id, "new": heir.user_id}));
    let log = entries(&app, &owner, &id(&d)).await;
    assert_eq!(log.last().unwrap()["changes"]["owner_id"], json!({"old": leaver.user_id, "new": heir.user_id}));
    let m = entries(&app, &owner, &format!("{}/{office}", leaver.user_id)).await;
    assert_eq!(m.last().unwrap()["action"], "delete");
    // The heir now owns the contact, and sees it as an owner does.
    let seen = app.get(&format!("/v1/contacts/{}", id(&c))).bearer(&heir.token).send().await.json();
    assert_eq!(seen["access"], "edit");
    // With only done actions left nothing blocks the delete; they lose their assignee, audited.
    let quiet = app.user(&owner, "user", &[]).await;
    let a =
        create(&app, &owner, "/v1/actions", json!({"contact_id": id(&c), "text": "Old", "assignee_id": quiet.user_id}))
            .await;
    app.post(&format!("/v1/actions/{}/complete", id(&a))).bearer(&owner.token).send().await;
    let r = app.delete(&format!("/v1/users/{}", quiet.user_id)).bearer(&owner.token).send().await;
    assert_eq!(r.status, 204, "{}", r.text());
    let after = app.get(&format!("/v1/actions/{}", id(&a))).bearer(&owner.token).send().await.json();
    assert_eq!(after["assignee_id"], Value::Null);
    let log = entries(&app, &owner, &id(&a)).await;
    assert_eq!(log.last().unwrap()["changes"]["assignee_id"], json!({"old": quiet.user_id, "new": null}));
    // `none` leaves a deleted user's contacts unowned, audited.
    let third = app.user(&owner, "user", &[]).await;
    let c3 = create(&app, &owner, "/v1/contacts", json!({"first_name": "T", "owner_id": third.user_id})).await;
    let r = app.delete(&format!("/v1/users/{}?reassign_to=none", third.user_id)).bearer(&owner.token).send().await;
    assert_eq!(r.status, 204, "{}", r.text());
    let c3 = app.get(&format!("/v1/contacts/{}", id(&c3))).bearer(&owner.token).send().await.json();
    assert_eq!((c3["owner_id"].clone(), c3["version"].clone()), (Value::Null, json!(2)));
}

async fn deleting_a_contact_audits_its_deals_and_actions(app: TestApp) {
    let owner = app.signup().await;
    let c = create(&app, &owner, "/v1/contacts", json!({"first_name": "Gone"})).await;
    let d =
        create(&app, &owner, "/v1/deals", json!({"contact_id": id(&c), "name": "D", "amount": 5, "currency": "EUR"}))
            .await;
    let r = app
        .post(&format!("/v1/deals/{}/items", id(&d)))
        .bearer(&owner.token)
        .json(json!({"name": "Item", "quantity": 2, "unit_price": 3}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let a = create(&app, &owner, "/v1/actions", json!({"contact_id": id(&c), "text": "Call"})).await;
    assert_eq!(app.delete(&format!("/v1/contacts/{}", id(&c))).bearer(&owner.token).send().await.status, 204);
    for (entity, kind) in [(id(&d), "deal"), (id(&a), "action"), (id(&c), "contact")] {
        let log = entries(&app, &owner, &entity).await;
        let last = log.last().unwrap();
        assert_eq!((last["action"].as_str(), last["entity_type"].as_str()), (Some("delete"), Some(kind)), "{log:?}");
    }
    let deal_entry = entries(&app, &owner, &id(&d)).await;
    assert_eq!(deal_entry.last().unwrap()["changes"]["items"]["old"][0]["name"], "Item");
    app.get(&format!("/v1/deals/{}", id(&d))).bearer(&owner.token).send().await.assert_problem(404);
    app.get(&format!("/v1/actions/{}", id(&a))).bearer(&owner.token).send().await.assert_problem(404);
}

async fn deleting_an_organization_unlinks_with_audit(app: TestApp) {
    let owner = app.signup().await;
    let o = create(&app, &owner, "/v1/organizations", json!({"name": "Acme"})).await;
    let c = create(&app, &owner, "/v1/contacts", json!({"first_name": "Linked", "organization_id": id(&o)})).await;
    let deal = json!({"contact_id": id(&c), "organization_id": id(&o), "name": "D", "amount": 5, "currency": "EUR"});
    let d = create(&app, &owner, "/v1/deals", deal).await;
    assert_eq!(app.delete(&format!("/v1/organizations/{}", id(&o))).bearer(&owner.token).send().await.status, 204);
    for path in [format!("/v1/contacts/{}", id(&c)), format!("/v1/deals/{}", id(&d))] {
        let now = app.get(&path).bearer(&owner.token).send().await.json();
        assert_eq!((now["organization_id"].clone(), now["version"].clone()), (Value::Null, json!(2)), "{path}");
        let log = entries(&app, &owner, &id(&now)).await;
        assert_eq!(log.last().unwrap()["changes"]["organization_id"], json!({"old": id(&o), "new": null}));
    }
}

/// A delete that found no row (a concurrent one won) writes no audit entry.
async fn concurrent_deletes_audit_once(app: TestApp) {
    let owner = app.signup().await;
    let c = create(&app, &owner, "/v1/contacts", json!({"first_name": "Race"})).await;
    let d =
        create(&app, &owner, "/v1/deals", json!({"contact_id": id(&c), "name": "D", "amount": 5, "currency": "EUR"}))
            .await;
    let a = create(&app, &owner, "/v1/actions", json!({"contact_id": id(&c), "text": "Call"})).await;
    for path in [format!("/v1/deals/{}", id(&d)), format!("/v1/actions/{}", id(&a))] {
        let answers =
            futures_util::future::join_all((0..20).map(|_| app.delete(&path).bearer(&owner.token).send())).await;
        let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 204).count(), 1, "{path}: {statuses:?}");
        assert!(statuses.iter().all(|s| [204, 404].contains(s)), "{path}: {statuses:?}");
    }
    for entity in [id(&d), id(&a)] {
        let log = entries(&app, &owner, &entity).await;
        assert_eq!(log.iter().filter(|e| e["action"] == "delete").count(), 1, "{log:?}");
    }
}

/// A contact at `limited` shows its basic fields and nothing more: not in its body, not
/// in the list's cursor (which carries the sort key), not in the explain reasons.
async fn limited_means_the_basic_fields_and_nothing_more(app: TestApp) {
    use base64::Engine;
    let owner = app.signup().await;
    let user = app.user(&owner, "user", &[]).await;
    let patch = json!({"settings": {"default_contact_access": "limited"}});
    assert_eq!(app.patch("/v1/account").bearer(&owner.token).json(patch).send().await.status, 200);
    let office = app.office(&owner, "North").await;
    let mut stamps = Vec::new();
    for i in 0..3 {
        let c = create(&app, &owner, "/v1/contacts", json!({"first_name": format!("L{i}"), "office_id": office})).await;
        stamps.push((c["updated_at"].as_str().unwrap().to_owned(), c["created_at"].as_str().unwrap().to_owned()));
    }
    for sort in ["-updated_at", "created_at", "last_name"] {
        let page = app.get(&format!("/v1/contacts?limit=1&sort={sort}")).bearer(&user.token).send().await.json();
        assert_eq!(page["data"][0]["access"], "limited", "{page}");
        assert!(page["data"][0].get("updated_at").is_none() && page["data"][0].get("office_id").is_none());
        let cursor = page["next_cursor"].as_str().unwrap();
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).unwrap_or_default();
        let text = String::from_utf8_lossy(&raw);
        for (updated, created) in &stamps {
            // Neither the stamp nor its date part can be read from the cursor.
            for stamp in [updated, created] {
                assert!(!text.contains(&stamp[..10]), "{sort}: the cursor shows {stamp}: {text}");
            }
        }
        assert!(!text.contains("updated_at") && !text.contains("value"), "{sort}: {text}");
        // The cursor still pages, and a changed byte is refused.
        let next =
            app.get(&format!("/v1/contacts?limit=1&sort={sort}&cursor={cursor}")).bearer(&user.token).send().await;
        assert_eq!(next.status, 200, "{}", next.text());
        assert_ne!(next.json()["data"][0]["id"], page["data"][0]["id"]);
        let mut bytes = raw.clone();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        app.get(&format!("/v1/contacts?limit=1&sort={sort}&cursor={forged}"))
            .bearer(&user.token)
            .send()
            .await
            .assert_problem(400);
    }
    // Explaining a limited contact to the user names the account default, not its office.
    let page = app.get("/v1/contacts?limit=1").bearer(&user.token).send().await.json();
    let id = page["data"][0]["id"].as_str().unwrap();
    let explained = app.get(&format!("/v1/contacts/{id}/access")).bearer(&user.token).send().await.json();
    assert_eq!(explained["level"], "limited");
    assert!(!explained.to_string().contains(&office), "{explained}");
    assert_eq!(explained["reasons"][0]["code"], "account_default", "{explained}");
    // The owner, who sees everything, gets every step.
    let full =
        app.get(&format!("/v1/contacts/{id}/access?user_id={}", user.user_id)).bearer(&owner.token).send().await.json();
    assert!(full.to_string().contains(&office), "{full}");
}

/// One policy for a write that lost a race, for every resource: without `If-Match` it is
/// applied again on top of the other write (every one of ten concurrent patches lands);
/// with a stale `If-Match` it is 412.
async fn lost_races_follow_one_policy(app: TestApp) {
    let owner = app.signup().await;
    let user = app.user(&owner, "user", &[]).await;
    let c = create(&app, &owner, "/v1/contacts", json!({"first_name": "Race"})).await;
    let d =
        create(&app, &owner, "/v1/deals", json!({"contact_id": id(&c), "name": "D", "amount": 1, "currency": "EUR"}))
            .await;
    let a = create(&app, &owner, "/v1/actions", json!({"contact_id": id(&c), "text": "Call"})).await;
    let o = create(&app, &owner, "/v1/organizations", json!({"name": "Org"})).await;
    let office = app.office(&owner, "North").await;
    let cases = [
        (format!("/v1/users/{}", user.user_id), "first_name"),
        ("/v1/account".to_owned(), "name"),
        (format!("/v1/contacts/{}", id(&c)), "job_title"),
        (format!("/v1/deals/{}", id(&d)), "name"),
        (format!("/v1/actions/{}", id(&a)), "text"),
        (format!("/v1/organizations/{}", id(&o)), "name"),
        (format!("/v1/offices/{office}"), "name"),
    ];
    for (path, field) in &cases {
        let start = app.get(path).bearer(&owner.token).send().await.json()["version"].as_i64().unwrap();
        let patches =
            (0..10).map(|i| app.patch(path).bearer(&owner.token).json(json!({ *field: format!("v{i}") })).send());
        let statuses: Vec<u16> = futures_util::future::join_all(patches).await.iter().map(|r| r.status).collect();
        assert!(statuses.iter().all(|s| *s == 200), "{path}: {statuses:?}");
        let now = app.get(path).bearer(&owner.token).send().await.json();
        assert_eq!(now["version"].as_i64().unwrap(), start + 10, "{path}: every patch landed once: {now}");
        let stale = format!("\"{start}\"");
        let r = app
            .patch(path)
            .bearer(&owner.token)
            .header("If-Match", &stale)
            .json(json!({ *field: "late" }))
            .send()
            .await;
        r.assert_problem(412);
    }
}
