use serde_json::json;

use crate::helpers::TestApp;

crate::both_backends!(offices_crud_and_roles, memberships_lifecycle, another_accounts_office_is_404);

async fn offices_crud_and_roles(app: TestApp) {
    let owner = app.signup().await;
    let admin = app.user(&owner, "admin", &[]).await;
    let user = app.user(&owner, "user", &[]).await;
    let focused = app.user(&owner, "focused", &[]).await;
    let r =
        app.post("/v1/offices").bearer(&admin.token).json(json!({"name": "Paris", "address": "1 Rue"})).send().await;
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(r.header("location").unwrap(), format!("/v1/offices/{id}"));
    for who in [&user, &focused] {
        app.post("/v1/offices").bearer(&who.token).json(json!({"name": "X"})).send().await.assert_problem(403);
        app.patch(&format!("/v1/offices/{id}"))
            .bearer(&who.token)
            .json(json!({"name": "X"}))
            .send()
            .await
            .assert_problem(403);
        app.delete(&format!("/v1/offices/{id}")).bearer(&who.token).send().await.assert_problem(403);
        let list = app.get("/v1/offices").bearer(&who.token).send().await.json();
        assert_eq!(list["data"][0]["name"], "Paris");
        assert_eq!(app.get(&format!("/v1/offices/{id}")).bearer(&who.token).send().await.status, 200);
    }
    let got = app.get(&format!("/v1/offices/{id}")).bearer(&owner.token).send().await;
    let etag = got.header("etag").unwrap();
    let r = app
        .patch(&format!("/v1/offices/{id}"))
        .bearer(&owner.token)
        .header("If-Match", &etag)
        .json(json!({"address": null}))
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["address"], serde_json::Value::Null);
    assert_eq!(r.json()["name"], "Paris");
    app.patch(&format!("/v1/offices/{id}"))
        .bearer(&owner.token)
        .header("If-Match", &etag)
        .json(json!({"name": "Lyon"}))
        .send()
        .await
        .assert_problem(412);
    let r = app.patch(&format!("/v1/offices/{id}")).bearer(&owner.token).json(json!({"name": ""})).send().await;
    assert!(r.assert_problem(422)["errors"]["name"].is_array());
    assert_eq!(app.delete(&format!("/v1/offices/{id}")).bearer(&admin.token).send().await.status, 204);
    app.get(&format!("/v1/offices/{id}")).bearer(&owner.token).send().await.assert_problem(404);
}

async fn memberships_lifecycle(app: TestApp) {
    let owner = app.signup().await;
    let user = app.user(&owner, "user", &[]).await;
    let other = app.user(&owner, "user", &[]).await;
    let office = app.office(&owner, "HQ").await;
    let path = format!("/v1/users/{}/offices/{office}", user.user_id);
    let r = app.put(&path).bearer(&owner.token).json(json!({"permission": "view"})).send().await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("location").unwrap(), path);
    let r = app.put(&path).bearer(&owner.token).json(json!({"permission": "manage"})).send().await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"user_id": user.user_id, "office_id": office, "permission": "manage"}));
    app.put(&path).bearer(&owner.token).json(json!({"permission": "admin"})).send().await.assert_problem(422);
    app.put(&path).bearer(&user.token).json(json!({"permission": "view"})).send().await.assert_problem(403);
    // The user reads their own memberships; not another user's.
    let mine = app.get(&format!("/v1/users/{}/offices", user.user_id)).bearer(&user.token).send().await;
    assert_eq!(mine.json().as_array().unwrap().len(), 1);
    app.get(&format!("/v1/users/{}/offices", user.user_id)).bearer(&other.token).send().await.assert_problem(403);
    assert_eq!(app.delete(&path).bearer(&owner.token).send().await.status, 204);
    app.delete(&path).bearer(&owner.token).send().await.assert_problem(404);
    let audit = app.get("/v1/audit?entity_type=office_membership").bearer(&owner.token).send().await.json();
    let actions: Vec<&str> = audit["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, vec!["delete", "update", "create"]);
}

async fn another_accounts_office_is_404(app: TestApp) {
    let mine = app.signup().await;
    let theirs = app.signup().await;
    let their_office = app.office(&theirs, "Theirs").await;
    let my_user = app.user(&mine, "user", &[]).await;
    let p = format!("/v1/offices/{their_office}");
    app.get(&p).bearer(&mine.token).send().await.assert_problem(404);
    app.patch(&p).bearer(&mine.token).json(json!({"name": "Mine"})).send().await.assert_problem(404);
    app.delete(&p).bearer(&mine.token).send().await.assert_problem(404);
    let m = format!("/v1/users/{}/offices/{their_office}", my_user.user_id);
    app.put(&m).bearer(&mine.token).json(json!({"permission": "view"})).send().await.assert_problem(404);
    let list = app.get("/v1/offices").bearer(&mine.token).send().await.json();
    assert_eq!(list["data"], json!([]));
    assert_eq!(app.get(&p).bearer(&theirs.token).send().await.json()["name"], "Theirs");
}
