use serde_json::json;

use crate::helpers::TestApp;

crate::both_backends!(
    account_settings_partial_patch,
    transfer_ownership_swaps_roles,
    delete_account_removes_everything
);

async fn account_settings_partial_patch(app: TestApp) {
    let owner = app.signup().await;
    let admin = app.user(&owner, "admin", &[]).await;
    let user = app.user(&owner, "user", &[]).await;
    let got = app.get("/v1/account").bearer(&user.token).send().await;
    assert_eq!(got.status, 200);
    let before = got.json();
    assert_eq!(before["settings"]["default_contact_access"], "edit");
    app.patch("/v1/account").bearer(&user.token).json(json!({"name": "X"})).send().await.assert_problem(403);
    let r = app
        .patch("/v1/account")
        .bearer(&admin.token)
        .json(json!({"settings": {"default_contact_access": "view"}}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let after = r.json();
    assert_eq!(after["settings"]["default_contact_access"], "view");
    assert_eq!(after["settings"]["contact_statuses"], before["settings"]["contact_statuses"]);
    assert_eq!(after["name"], before["name"]);
    let r = app
        .patch("/v1/account")
        .bearer(&owner.token)
        .json(json!({"settings": {"deal_stages": ["a", "a"]}}))
        .send()
        .await;
    assert!(r.assert_problem(422)["errors"]["settings.deal_stages"].is_array());
    let r = app.patch("/v1/account").bearer(&owner.token).json(json!({"settings": {"colour": "red"}})).send().await;
    r.assert_problem(422);
    app.patch("/v1/account")
        .bearer(&owner.token)
        .json(json!({"settings": {"default_contact_access": "manage"}}))
        .send()
        .await
        .assert_problem(422);
    app.patch("/v1/account")
        .bearer(&owner.token)
        .header("If-Match", "\"1\"")
        .json(json!({"name": "Y"}))
        .send()
        .await
        .assert_problem(412);
    let audit = app.get("/v1/audit?entity_type=account").bearer(&owner.token).send().await.json();
    assert_eq!(audit["data"][0]["changes"]["settings"]["new"]["default_contact_access"], "view");
}

async fn transfer_ownership_swaps_roles(app: TestApp) {
    let owner = app.signup().await;
    let admin = app.user(&owner, "admin", &[]).await;
    let user = app.user(&owner, "user", &["export"]).await;
    let body = json!({"user_id": user.user_id});
    app.post("/v1/account/transfer-ownership").bearer(&admin.token).json(body.clone()).send().await.assert_problem(403);
    let r = app.post("/v1/account/transfer-ownership").bearer(&owner.token).json(body).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["owner"]["id"], user.user_id.as_str());
    assert_eq!(r.json()["previous_owner"]["role"], "admin");
    assert_eq!(app.get("/v1/me").bearer(&user.token).send().await.json()["role"], "owner");
    assert_eq!(app.get("/v1/me").bearer(&owner.token).send().await.json()["role"], "admin");
    // The old owner is now an admin and cannot touch the new owner.
    app.patch(&format!("/v1/users/{}", user.user_id))
        .bearer(&owner.token)
        .json(json!({"first_name": "X"}))
        .send()
        .await
        .assert_problem(403);
    let owners = app.get("/v1/users?role=owner").bearer(&user.token).send().await.json();
    assert_eq!(owners["data"].as_array().unwrap().len(), 1);
    app.post("/v1/account/transfer-ownership")
        .bearer(&user.token)
        .json(json!({"user_id": user.user_id}))
        .send()
        .await
        .assert_problem(422);
    app.post("/v1/account/transfer-ownership")
        .bearer(&user.token)
        .json(json!({"user_id": uuid::Uuid::now_v7()}))
        .send()
        .await
        .assert_problem(404);
}

async fn delete_account_removes_everything(app: TestApp) {
    let owner = app.signup().await;
    let admin = app.user(&owner, "admin", &[]).await;
    app.office(&owner, "HQ").await;
    // Rows of every table this account fills, so the cascade meets each key.
    let r = app
        .post("/v1/custom-fields")
        .bearer(&owner.token)
        .json(json!({"entity": "contact", "key": "tier", "label": "Tier", "type": "text"}))
        .send()
        .await;
    assert_eq!(r.status, 201);
    let c = app
        .post("/v1/contacts")
        .bearer(&owner.token)
        .json(json!({"first_name": "C", "custom_fields": {"tier": "gold"}}))
        .send()
        .await
        .json();
    let r = app
        .post("/v1/notes")
        .bearer(&owner.token)
        .json(json!({"contact_id": c["id"], "body": "Hi", "mentions": [admin.user_id]}))
        .send()
        .await;
    assert_eq!(r.status, 201);
    let r = app
        .post("/v1/saved-filters")
        .bearer(&admin.token)
        .json(json!({"name": "All", "entity": "contacts", "query": {"cf.tier": "gold"}}))
        .send()
        .await;
    assert_eq!(r.status, 201);
    let other = app.signup().await;
    app.delete("/v1/account").bearer(&admin.token).send().await.assert_problem(403);
    assert_eq!(app.delete("/v1/account").bearer(&owner.token).send().await.status, 204);
    app.get("/v1/me").bearer(&owner.token).send().await.assert_problem(401);
    app.get("/v1/me").bearer(&admin.token).send().await.assert_problem(401);
    app.post("/v1/auth/login")
        .json(json!({"email": owner.email, "password": owner.password}))
        .send()
        .await
        .assert_problem(401);
    app.post("/v1/auth/refresh").json(json!({"refresh_token": owner.refresh})).send().await.assert_problem(401);
    // The email is free again, and other accounts are untouched.
    assert_eq!(app.get("/v1/me").bearer(&other.token).send().await.status, 200);
    let again = app.post("/v1/auth/signup")
        .json(json!({"account_name": "Again", "email": owner.email, "password": "password1", "first_name": "A", "last_name": "B"}))
        .send().await;
    assert_eq!(again.status, 201);
}
