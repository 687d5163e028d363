use serde_json::json;

use crate::helpers::TestApp;

crate::both_backends!(api_tokens_lifecycle);

async fn api_tokens_lifecycle(app: TestApp) {
    let owner = app.signup().await;
    let user = app.user(&owner, "user", &[]).await;
    let focused = app.user(&owner, "focused", &[]).await;
    app.post("/v1/api-tokens").bearer(&focused.token).json(json!({"name": "cli"})).send().await.assert_problem(403);
    app.get("/v1/api-tokens").bearer(&focused.token).send().await.assert_problem(403);
    let r =
        app.post("/v1/api-tokens").bearer(&user.token).json(json!({"name": "cli", "expires_in_days": 30})).send().await;
    assert_eq!(r.status, 201, "{}", r.text());
    let created = r.json();
    let token = created["token"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(token.starts_with("crm_pat_"));
    let me = app.get("/v1/me").bearer(&token).send().await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["id"], user.user_id.as_str());
    let list = app.get("/v1/api-tokens").bearer(&user.token).send().await.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(list[0].get("token").is_none(), "the secret is shown once only");
    // Another user cannot revoke it.
    app.delete(&format!("/v1/api-tokens/{id}")).bearer(&owner.token).send().await.assert_problem(404);
    // A role change to focused kills the token at once.
    app.patch(&format!("/v1/users/{}", user.user_id))
        .bearer(&owner.token)
        .json(json!({"role": "focused"}))
        .send()
        .await;
    app.get("/v1/me").bearer(&token).send().await.assert_problem(401);
    app.patch(&format!("/v1/users/{}", user.user_id)).bearer(&owner.token).json(json!({"role": "user"})).send().await;
    assert_eq!(app.get("/v1/me").bearer(&token).send().await.status, 200);
    assert_eq!(app.delete(&format!("/v1/api-tokens/{id}")).bearer(&user.token).send().await.status, 204);
    app.get("/v1/me").bearer(&token).send().await.assert_problem(401);
    app.get("/v1/me").bearer("crm_pat_forged").send().await.assert_problem(401);
    app.post("/v1/api-tokens")
        .bearer(&user.token)
        .json(json!({"name": "x", "expires_in_days": 0}))
        .send()
        .await
        .assert_problem(422);
}
