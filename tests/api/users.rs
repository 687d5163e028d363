use serde_json::json;

use crate::helpers::TestApp;

crate::both_backends!(
    role_matrix_for_user_management,
    admin_never_touches_owner_or_itself,
    owner_rules_and_role_validation,
    users_list_pages_and_basic_fields,
    user_patch_honours_if_match_and_audits,
    users_bulk_reports_per_id,
    roles_catalogue,
    another_accounts_user_is_404,
);

async fn role_matrix_for_user_management(app: TestApp) {
    let owner = app.signup().await;
    let admin = app.user(&owner, "admin", &[]).await;
    let user = app.user(&owner, "user", &["export"]).await;
    let focused = app.user(&owner, "focused", &[]).await;
    let new_user = |role: &str| {
        json!({"email": crate::helpers::unique_email(role), "password": "password1", "first_name": "N",
               "last_name": "U", "role": role})
    };
    // Who may add users.
    for (who, expected) in [(&owner, 201), (&admin, 201), (&user, 403), (&focused, 403)] {
        let r = app.post("/v1/users").bearer(&who.token).json(new_user("user")).send().await;
        assert_eq!(r.status, expected, "{}", r.text());
    }
    // Everyone lists users and reads one; only managers see privileges.
    for who in [&owner, &admin, &user, &focused] {
        let r = app.get("/v1/users").bearer(&who.token).send().await;
        assert_eq!(r.status, 200);
        assert!(r.json()["data"].as_array().unwrap().len() >= 4);
        let one = app.get(&format!("/v1/users/{}", owner.user_id)).bearer(&who.token).send().await;
        assert_eq!(one.status, 200);
    }
    let as_user = app.get(&format!("/v1/users/{}", admin.user_id)).bearer(&user.token).send().await.json();
    assert!(as_user.get("privileges").is_none(), "basic fields only: {as_user}");
    let as_admin = app.get(&format!("/v1/users/{}", user.user_id)).bearer(&admin.token).send().await.json();
    assert_eq!(as_admin["privileges"], json!(["export"]));
    // Edit, deactivate and delete: user and focused never.
    for who in [&user, &focused] {
        app.patch(&format!("/v1/users/{}", admin.user_id))
            .bearer(&who.token)
            .json(json!({"first_name": "X"}))
            .send()
            .await
            .assert_problem(403);
        app.delete(&format!("/v1/users/{}", admin.user_id)).bearer(&who.token).send().await.assert_problem(403);
        app.post("/v1/users/bulk")
            .bearer(&who.token)
            .json(json!({"ids": [admin.user_id], "op": "set_active", "value": false}))
            .send()
            .await
            .assert_problem(403);
    }
    // Admin manages a user: role, privileges, then deletes.
    let r = app
        .patch(&format!("/v1/users/{}", focused.user_id))
        .bearer(&admin.token)
        .json(json!({"role": "user", "privileges": ["view_activity", "export"]}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["privileges"], json!(["export", "view_activity"]));
    let r = app.delete(&format!("/v1/users/{}", focused.user_id)).bearer(&admin.token).send().await;
    assert_eq!(r.status, 204);
    app.get(&format!("/v1/users/{}", focused.user_id)).bearer(&admin.token).send().await.assert_problem(404);
    app.get("/v1/me").bearer(&focused.token).send().await.assert_problem(401);
    // Everyone edits their own profile.
    let r = app.patch("/v1/me").bearer(&user.token).json(json!({"first_name": "Ursula"})).send().await;
    assert_eq!(r.json()["first_name"], "Ursula");
}

async fn admin_never_touches_owner_or_itself(app: TestApp) {
    let owner = app.signup().await;
    let admin = app.user(&owner, "admin", &[]).await;
    let owner_path = format!("/v1/users/{}", owner.user_id);
    let self_path = format!("/v1/users/{}", admin.user_id);
    for body in [json!({"first_name": "X"}), json!({"active": false}), json!({"role": "user"})] {
        app.patch(&owner_path).bearer(&admin.token).json(body.clone()).send().await.assert_problem(403);
        app.patch(&self_path).bearer(&admin.token).json(body).send().await.assert_problem(403);
    }
    app.delete(&owner_path).bearer(&admin.token).send().await.assert_problem(403);
    app.delete(&self_path).bearer(&admin.token).send().await.assert_problem(403);
    let put = app.put(&format!("{owner_path}/offices/{}", app.office(&owner, "HQ").await));
    // Office memberships are office management, which admins may do for anyone.
    assert_eq!(put.bearer(&admin.token).json(json!({"permission": "view"})).send().await.status, 201);
    // The owner may manage the admin.
    let r = app.patch(&self_path).bearer(&owner.token).json(json!({"role": "user"})).send().await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["role"], "user");
}

async fn owner_rules_and_role_validation(app: TestApp) {
    let owner = app.signup().await;
    let owner_path = format!("/v1/users/{}", owner.user_id);
    app.patch(&owner_path).bearer(&owner.token).json(json!({"role": "admin"})).send().await.assert_problem(403);
    app.patch(&owner_path).bearer(&owner.token).json(json!({"active": false})).send().await.assert_problem(403);
    app.delete(&owner_path).bearer(&owner.token).send().await.assert_problem(403);
    let create = |role: &str, privileges: serde_json::Value| {
        json!({"email": crate::helpers::unique_email("x"), "password": "password1", "first_name": "A",
               "last_name": "B", "role": role, "privileges": privileges})
    };
    let r = app.post("/v1/users").bearer(&owner.token).json(create("owner", json!([]))).send().await;
    assert!(r.assert_problem(422)["errors"]["role"].is_array());
    let r = app.post("/v1/users").bearer(&owner.token).json(create("focused", json!(["view_activity"]))).send().await;
    assert!(r.assert_problem(422)["errors"]["privileges"].is_array());
    let r = app.post("/v1/users").bearer(&owner.token).json(create("wizard", json!([]))).send().await;
    assert!(r.assert_problem(422)["errors"]["role"].is_array());
    let r = app.post("/v1/users").bearer(&owner.token).json(create("user", json!(["fly"]))).send().await;
    r.assert_problem(422);
    // Duplicate email, any case.
    let dup = json!({"email": owner.email.to_uppercase(), "password": "password1", "first_name": "A",
                     "last_name": "B", "role": "user"});
    app.post("/v1/users").bearer(&owner.token).json(dup).send().await.assert_problem(409);
    // Demoting a user away from role user drops view_activity.
    let user = app.user(&owner, "user", &["view_activity"]).await;
    let r = app
        .patch(&format!("/v1/users/{}", user.user_id))
        .bearer(&owner.token)
        .json(json!({"role": "focused"}))
        .send()
        .await;
    assert_eq!(r.json()["privileges"], json!([]));
}

async fn users_list_pages_and_basic_fields(app: TestApp) {
    let owner = app.signup().await;
    for _ in 0..4 {
        app.user(&owner, "user", &[]).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/users?limit=2&with_total=true&cursor={c}"),
            None => "/v1/users?limit=2&with_total=true".to_owned(),
        };
        let page = app.get(&path).bearer(&owner.token).send().await.json();
        assert_eq!(page["total"], 5);
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= 2);
        seen.extend(data.iter().map(|u| u["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen.len(), 5);
    assert_eq!(sorted, seen, "ids are unique and in order");
    let filtered = app.get("/v1/users?role=owner").bearer(&owner.token).send().await.json();
    assert_eq!(filtered["data"].as_array().unwrap().len(), 1);
    assert_eq!(filtered["total"], serde_json::Value::Null);
    app.get("/v1/users?cursor=bogus").bearer(&owner.token).send().await.assert_problem(400);
    app.get("/v1/users?limit=abc").bearer(&owner.token).send().await.assert_problem(400);
    let clamped = app.get("/v1/users?limit=0").bearer(&owner.token).send().await.json();
    assert_eq!(clamped["data"].as_array().unwrap().len(), 1);
}

async fn user_patch_honours_if_match_and_audits(app: TestApp) {
    let owner = app.signup().await;
    let user = app.user(&owner, "user", &[]).await;
    let path = format!("/v1/users/{}", user.user_id);
    let got = app.get(&path).bearer(&owner.token).send().await;
    let etag = got.header("etag").unwrap();
    let stale = "\"999\"";
    app.patch(&path)
        .bearer(&owner.token)
        .header("If-Match", stale)
        .json(json!({"last_name": "Z"}))
        .send()
        .await
        .assert_problem(412);
    let ok =
        app.patch(&path).bearer(&owner.token).header("If-Match", &etag).json(json!({"last_name": "Z"})).send().await;
    assert_eq!(ok.status, 200);
    assert_ne!(ok.header("etag").unwrap(), etag);
    app.patch(&path)
        .bearer(&owner.token)
        .header("If-Match", &etag)
        .json(json!({"last_name": "Y"}))
        .send()
        .await
        .assert_problem(412);
    let audit = app.get(&format!("/v1/audit?entity_id={}", user.user_id)).bearer(&owner.token).send().await.json();
    let entries = audit["data"].as_array().unwrap();
    assert_eq!(entries[0]["action"], "update");
    assert_eq!(entries[0]["changes"]["last_name"], json!({"old": "user", "new": "Z"}));
    assert_eq!(entries[0]["actor_id"], owner.user_id.as_str());
    assert_eq!(entries.last().unwrap()["action"], "create");
    // A plain user sees only their own entries.
    app.patch("/v1/me").bearer(&user.token).json(json!({"first_name": "Me"})).send().await;
    let mine = app.get("/v1/audit").bearer(&user.token).send().await.json();
    let mine = mine["data"].as_array().unwrap();
    assert!(!mine.is_empty());
    assert!(mine.iter().all(|e| e["actor_id"] == user.user_id.as_str()));
}

async fn users_bulk_reports_per_id(app: TestApp) {
    let owner = app.signup().await;
    let admin = app.user(&owner, "admin", &[]).await;
    let a = app.user(&owner, "user", &[]).await;
    let b = app.user(&owner, "focused", &[]).await;
    let other = app.signup().await;
    let missing = uuid::Uuid::now_v7().to_string();
    let r = app
        .post("/v1/users/bulk")
        .bearer(&admin.token)
        .json(json!({"ids": [a.user_id, b.user_id, owner.user_id, admin.user_id, other.user_id, missing],
                     "op": "grant_privileges", "value": ["export", "download_vcard"]}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let results: Vec<(String, String)> = r.json()["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["id"].as_str().unwrap().to_owned(), x["result"].as_str().unwrap().to_owned()))
        .collect();
    let expect = |id: &str, outcome: &str| {
        assert!(results.contains(&(id.to_owned(), outcome.to_owned())), "{id} {outcome} in {results:?}")
    };
    expect(&a.user_id, "ok");
    expect(&b.user_id, "ok");
    expect(&owner.user_id, "forbidden");
    expect(&admin.user_id, "forbidden");
    expect(&other.user_id, "not_found");
    expect(&missing, "not_found");
    let got = app.get(&format!("/v1/users/{}", b.user_id)).bearer(&owner.token).send().await.json();
    assert_eq!(got["privileges"], json!(["export", "download_vcard"]));
    // set_office_permission and set_active.
    let office = app.office(&owner, "Berlin").await;
    let r = app.post("/v1/users/bulk").bearer(&owner.token)
        .json(json!({"ids": [a.user_id], "op": "set_office_permission", "value": {"office_id": office, "permission": "edit"}}))
        .send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let m = app.get(&format!("/v1/users/{}/offices", a.user_id)).bearer(&owner.token).send().await.json();
    assert_eq!(m, json!([{"user_id": a.user_id, "office_id": office, "permission": "edit"}]));
    let r = app
        .post("/v1/users/bulk")
        .bearer(&owner.token)
        .json(json!({"ids": [a.user_id], "op": "set_active", "value": false}))
        .send()
        .await;
    assert_eq!(r.status, 200);
    app.get("/v1/me").bearer(&a.token).send().await.assert_problem(401);
    let r = app
        .post("/v1/users/bulk")
        .bearer(&owner.token)
        .json(json!({"ids": [a.user_id], "op": "set_active", "value": "yes"}))
        .send()
        .await;
    assert!(r.assert_problem(422)["errors"]["value"].is_array());
    let r = app
        .post("/v1/users/bulk")
        .bearer(&owner.token)
        .json(json!({"ids": [], "op": "set_active", "value": true}))
        .send()
        .await;
    r.assert_problem(422);
    let r = app
        .post("/v1/users/bulk")
        .bearer(&owner.token)
        .json(json!({"ids": [b.user_id], "op": "grant_privileges", "value": ["view_activity"]}))
        .send()
        .await;
    assert_eq!(r.json()["results"][0]["result"], "forbidden");
}

async fn roles_catalogue(app: TestApp) {
    let owner = app.signup().await;
    let roles = app.get("/v1/roles").bearer(&owner.token).send().await.json();
    let roles = roles.as_array().unwrap();
    assert_eq!(roles.len(), 4);
    let focused = roles.iter().find(|r| r["role"] == "focused").unwrap();
    assert_eq!(focused["capabilities"]["contacts"], "own");
    assert_eq!(focused["capabilities"]["api_tokens"], false);
    assert_eq!(focused["capabilities"]["activity"], "never");
    assert!(!focused["privileges_grantable"].as_array().unwrap().contains(&json!("view_activity")));
    let admin = roles.iter().find(|r| r["role"] == "admin").unwrap();
    assert_eq!(admin["capabilities"]["delete_account"], false);
    assert_eq!(admin["privileges_held"].as_array().unwrap().len(), 9);
    app.get("/v1/roles").send().await.assert_problem(401);
}

async fn another_accounts_user_is_404(app: TestApp) {
    let mine = app.signup().await;
    let theirs = app.signup().await;
    let their_user = app.user(&theirs, "user", &[]).await;
    let path = format!("/v1/users/{}", their_user.user_id);
    let missing = format!("/v1/users/{}", uuid::Uuid::now_v7());
    for p in [&path, &missing] {
        let a = app.get(p).bearer(&mine.token).send().await.assert_problem(404);
        let b = app.patch(p).bearer(&mine.token).json(json!({"first_name": "X"})).send().await.assert_problem(404);
        let c = app.delete(p).bearer(&mine.token).send().await.assert_problem(404);
        let d = app.get(&format!("{p}/offices")).bearer(&mine.token).send().await.assert_problem(404);
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a, d);
    }
    // Their user is untouched.
    assert_eq!(app.get("/v1/me").bearer(&their_user.token).send().await.json()["first_name"], "Test");
    app.get("/v1/users/not-a-uuid").bearer(&mine.token).send().await.assert_problem(404);
}
