//! The access rule by construction: the defects of the "access rule by construction"
//! issue, each held here on both backends.

use serde_json::{json, Value};

use crate::helpers::{Session, TestApp};

crate::both_backends!(
    audit_and_activity_follow_the_contact_for_deals_and_actions,
    settings_and_roles_are_constrained_in_the_database,
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
    let mine = app.get(&format!("/v1/audit?limit=200")).bearer(&focused.token).send().await.json();
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
