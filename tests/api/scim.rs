//! SCIM 2.0 at /scim/v2 (SPEC §11): users through the same rules, audit entries and
//! events as /v1/users; SCIM's error shape; deactivation that ends access at once.

use serde_json::{json, Value};

use crate::helpers::{unique_email, Resp, Session, TestApp};
use crate::sso::{config, domain};

crate::both_backends!(
    scim_users_create_read_list_replace_delete,
    scim_roles_map_through_the_sso_configuration,
    scim_deactivation_ends_access_at_once,
    scim_never_touches_the_owner,
    scim_delete_of_a_user_with_records_is_refused,
    scim_errors_use_scims_shape,
    scim_discovery_endpoints,
);

const SCIM: &str = "application/scim+json";

async fn scim_token(app: &TestApp, by: &Session) -> String {
    let r = app.post("/v1/account/scim-tokens").bearer(&by.token).json(json!({"name": "IdP"})).send().await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["token"].as_str().unwrap().to_owned()
}

async fn scim(app: &TestApp, method: &str, path: &str, token: &str, body: Option<Value>) -> Resp {
    let req = app.req(method.parse().unwrap(), path).bearer(token);
    let req = match body {
        Some(b) => req.raw(SCIM, b.to_string()),
        None => req,
    };
    req.send().await
}

fn assert_scim_error(r: &Resp, status: u16) -> Value {
    assert_eq!(r.status, status, "expected {status}: {}", r.text());
    assert_eq!(r.header("content-type").as_deref(), Some(SCIM), "{}", r.text());
    let body = r.json();
    assert_eq!(body["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:Error"]));
    assert_eq!(body["status"], status.to_string());
    assert!(body["detail"].is_string());
    body
}

fn new_user(email: &str, roles: &[&str]) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": email,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": email, "type": "work", "primary": true}],
        "active": true,
        "roles": roles.iter().map(|r| json!({"value": r})).collect::<Vec<_>>(),
        "externalId": format!("ext-{email}"),
    })
}

fn patch_op(ops: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

async fn create(app: &TestApp, token: &str, email: &str, roles: &[&str]) -> Value {
    let r = scim(app, "POST", "/scim/v2/Users", token, Some(new_user(email, roles))).await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

async fn scim_users_create_read_list_replace_delete(app: TestApp) {
    let owner = app.signup().await;
    let token = scim_token(&app, &owner).await;
    let email = unique_email("Scim.Ada");
    let r = scim(&app, "POST", "/scim/v2/Users", &token, Some(new_user(&email, &["focused"]))).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("content-type").as_deref(), Some(SCIM));
    let user = r.json();
    let id = user["id"].as_str().unwrap().to_owned();
    assert!(r.header("location").unwrap().ends_with(&format!("/scim/v2/Users/{id}")));
    assert_eq!(user["userName"], email.as_str());
    assert_eq!(user["name"], json!({"givenName": "Ada", "familyName": "Lovelace"}));
    assert_eq!(user["roles"][0]["value"], "focused", "no SSO configuration: role names, {user}");
    assert_eq!(user["active"], true);
    assert_eq!(user["externalId"], format!("ext-{email}"));
    // The same user through /v1/users, created by the token's creator.
    let v1 = app.get(&format!("/v1/users/{id}")).bearer(&owner.token).send().await.json();
    assert_eq!((v1["email"].as_str(), v1["role"].as_str()), (Some(email.as_str()), Some("focused")));
    let audit = app.get(&format!("/v1/audit?entity_id={id}")).bearer(&owner.token).send().await.json();
    let entries = audit["data"].as_array().unwrap();
    assert!(entries.iter().all(|e| e["actor_id"] == owner.user_id.as_str()), "the token's creator acts: {audit}");
    assert!(entries.iter().any(|e| e["action"] == "create" && e["changes"]["role"]["new"] == "focused"), "{audit}");
    assert!(entries.iter().any(|e| e["changes"]["scim_external_id"]["new"] == format!("ext-{email}")), "{audit}");
    // A SCIM user has no password: no password logs in.
    app.post("/v1/auth/login").json(json!({"email": email, "password": "!sso"})).send().await.assert_problem(401);
    // Read, and list with a case-insensitive userName filter, paging and attributes.
    let got = scim(&app, "GET", &format!("/scim/v2/Users/{id}"), &token, None).await;
    assert_eq!(got.json()["userName"], email.as_str());
    let filter = format!("userName eq \"{}\"", email.to_uppercase());
    let q = format!("/scim/v2/Users?filter={}", urlencode(&filter));
    let list = scim(&app, "GET", &q, &token, None).await;
    assert_eq!(list.status, 200, "{}", list.text());
    let list = list.json();
    assert_eq!(list["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"]));
    assert_eq!(list["totalResults"], 1);
    assert_eq!(list["Resources"][0]["id"], id.as_str());
    for i in 0..3 {
        create(&app, &token, &unique_email(&format!("page{i}")), &["user"]).await;
    }
    let page = scim(&app, "GET", "/scim/v2/Users?startIndex=2&count=2", &token, None).await.json();
    assert_eq!(
        (page["totalResults"].as_i64(), page["startIndex"].as_i64(), page["itemsPerPage"].as_i64()),
        (Some(5), Some(2), Some(2))
    );
    let all = scim(&app, "GET", "/scim/v2/Users", &token, None).await.json();
    assert_eq!(page["Resources"][0]["id"], all["Resources"][1]["id"]);
    let by_external = format!("/scim/v2/Users?filter={}", urlencode(&format!("externalId eq \"ext-{email}\"")));
    let by_external = scim(&app, "GET", &by_external, &token, None).await.json();
    assert_eq!(
        (by_external["totalResults"].as_i64(), by_external["Resources"][0]["id"].as_str()),
        (Some(1), Some(id.as_str()))
    );
    let none = scim(
        &app,
        "GET",
        &format!("/scim/v2/Users?filter={}", urlencode("userName eq \"nobody@x.test\"")),
        &token,
        None,
    )
    .await;
    assert_eq!(none.json()["totalResults"], 0);
    let slim = scim(&app, "GET", &format!("/scim/v2/Users/{id}?attributes=userName"), &token, None).await.json();
    assert!(slim.get("name").is_none() && slim["userName"] == email.as_str() && slim["id"] == id.as_str(), "{slim}");
    let search = scim(
        &app,
        "POST",
        "/scim/v2/Users/.search",
        &token,
        Some(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": format!("userName eq \"{email}\""), "excludedAttributes": ["emails"]})),
    )
    .await;
    assert_eq!(search.status, 200, "{}", search.text());
    assert_eq!(search.json()["Resources"][0]["id"], id.as_str());
    assert!(search.json()["Resources"][0].get("emails").is_none());
    // Replace: names as sent, the role through the roles.
    let mut replacement = new_user(&email, &["admin"]);
    replacement["name"] = json!({"givenName": "Augusta"});
    let r = scim(&app, "PUT", &format!("/scim/v2/Users/{id}"), &token, Some(replacement)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["name"], json!({"givenName": "Augusta"}));
    assert_eq!(r.json()["externalId"], format!("ext-{email}"));
    assert_eq!(r.json()["roles"][0]["value"], "admin");
    // Patch as Entra ID sends it.
    let new_email = unique_email("renamed");
    let r = scim(
        &app,
        "PATCH",
        &format!("/scim/v2/Users/{id}"),
        &token,
        Some(patch_op(json!([
            {"op": "Replace", "path": "name.familyName", "value": "King"},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": new_email},
            {"op": "Add", "path": "displayName", "value": "ignored"},
        ]))),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["name"], json!({"givenName": "Augusta", "familyName": "King"}));
    assert_eq!(r.json()["userName"], new_email.as_str());
    let r = scim(
        &app,
        "PATCH",
        &format!("/scim/v2/Users/{id}"),
        &token,
        Some(patch_op(json!([
            {"op": "replace", "value": {"name.givenName": "Ada", "active": "False"}},
        ]))),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!((r.json()["name"]["givenName"].as_str(), r.json()["active"].as_bool()), (Some("Ada"), Some(false)));
    let updates = app.get(&format!("/v1/audit?entity_id={id}")).bearer(&owner.token).send().await.json();
    assert_eq!(updates["data"].as_array().unwrap().len(), 5, "create, its externalId, replace, two patches: {updates}");
    // Delete.
    assert_eq!(scim(&app, "DELETE", &format!("/scim/v2/Users/{id}"), &token, None).await.status, 204);
    assert_scim_error(&scim(&app, "GET", &format!("/scim/v2/Users/{id}"), &token, None).await, 404);
    app.get(&format!("/v1/users/{id}")).bearer(&owner.token).send().await.assert_problem(404);
}

fn urlencode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

async fn scim_roles_map_through_the_sso_configuration(app: TestApp) {
    let owner = app.signup().await;
    let token = scim_token(&app, &owner).await;
    let r = app.put("/v1/account/sso").bearer(&owner.token).json(config(&domain("scim"))).send().await;
    assert_eq!(r.status, 201, "{}", r.text());
    // Widest wins.
    let u = create(&app, &token, &unique_email("mapped"), &["crm-users", "crm-admins", "unknown"]).await;
    assert_eq!(u["roles"][0]["value"], "admin");
    // No match and no default_role: refused, nothing created.
    let email = unique_email("unmapped");
    let r = scim(&app, "POST", "/scim/v2/Users", &token, Some(new_user(&email, &["unknown"]))).await;
    assert_eq!(assert_scim_error(&r, 400)["scimType"], "invalidValue");
    let r = scim(
        &app,
        "GET",
        &format!("/scim/v2/Users?filter={}", urlencode(&format!("userName eq \"{email}\""))),
        &token,
        None,
    )
    .await;
    assert_eq!(r.json()["totalResults"], 0);
    // A user with a webhook for access.changed, moved from user to focused by the IdP.
    let u = create(&app, &token, &unique_email("moved"), &["crm-users"]).await;
    let id = u["id"].as_str().unwrap().to_owned();
    app.patch(&format!("/v1/users/{id}")).bearer(&owner.token).json(json!({"password": "user-password"})).send().await;
    let mut session = app.login(u["userName"].as_str().unwrap(), "user-password").await;
    session.user_id = id.clone();
    let hook = crate::webhooks::subscribe(&app, &session, "http://127.0.0.1:9/hook", json!(["access.changed"])).await;
    let contact =
        app.post("/v1/contacts").bearer(&owner.token).json(json!({"first_name": "Shared"})).send().await.json();
    let contact_path = format!("/v1/contacts/{}", contact["id"].as_str().unwrap());
    assert_eq!(app.get(&contact_path).bearer(&session.token).send().await.status, 200, "unowned: user sees it");
    let to = |value: &str| {
        patch_op(json!([{"op": "replace", "path": "roles", "value": [{"value": value, "primary": true}]}]))
    };
    let r = scim(&app, "PATCH", &format!("/scim/v2/Users/{id}"), &token, Some(to("crm-admins"))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["roles"][0]["value"], "admin");
    let events: Vec<String> = crate::webhooks::deliveries(&app, &owner, hook["id"].as_str().unwrap())
        .await
        .iter()
        .map(|d| d["event_type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(events, vec!["access.changed"], "the role change is announced like /v1/users does");
    // Moved to focused: the contact is gone at once.
    let r = scim(&app, "PATCH", &format!("/scim/v2/Users/{id}"), &token, Some(to("crm-focused"))).await;
    assert_eq!(r.json()["roles"][0]["value"], "focused", "{}", r.text());
    app.get(&contact_path).bearer(&session.token).send().await.assert_problem(404);
    let audit = app.get(&format!("/v1/audit?entity_id={id}")).bearer(&owner.token).send().await.json();
    assert!(
        audit["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["changes"]["role"] == json!({"old": "admin", "new": "focused"})),
        "{audit}"
    );
    // `add` keeps the current role in the running; `remove` falls back to default_role,
    // and with none, is refused.
    let r = scim(
        &app,
        "PATCH",
        &format!("/scim/v2/Users/{id}"),
        &token,
        Some(patch_op(json!([
        {"op": "add", "path": "roles", "value": [{"value": "crm-users"}]}]))),
    )
    .await;
    assert_eq!(r.json()["roles"][0]["value"], "user", "{}", r.text());
    let r = scim(
        &app,
        "PATCH",
        &format!("/scim/v2/Users/{id}"),
        &token,
        Some(patch_op(json!([{"op": "remove", "path": "roles"}]))),
    )
    .await;
    assert_scim_error(&r, 400);
    let mut with_default = config(&domain("scim2"));
    with_default["default_role"] = json!("focused");
    assert_eq!(app.put("/v1/account/sso").bearer(&owner.token).json(with_default).send().await.status, 200);
    let r = scim(
        &app,
        "PATCH",
        &format!("/scim/v2/Users/{id}"),
        &token,
        Some(patch_op(json!([{"op": "remove", "path": "roles"}]))),
    )
    .await;
    assert_eq!(r.json()["roles"][0]["value"], "focused", "{}", r.text());
}

async fn scim_deactivation_ends_access_at_once(app: TestApp) {
    let owner = app.signup().await;
    let user = app.user(&owner, "user", &[]).await;
    let token = scim_token(&app, &owner).await;
    assert_eq!(app.get("/v1/me").bearer(&user.token).send().await.status, 200);
    let r = scim(
        &app,
        "PATCH",
        &format!("/scim/v2/Users/{}", user.user_id),
        &token,
        Some(patch_op(json!([
        {"op": "replace", "path": "active", "value": false}]))),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["active"], false);
    app.get("/v1/me").bearer(&user.token).send().await.assert_problem(401);
    app.post("/v1/auth/refresh").json(json!({"refresh_token": user.refresh})).send().await.assert_problem(401);
    let filter = urlencode("active eq false");
    let list = scim(&app, "GET", &format!("/scim/v2/Users?filter={filter}"), &token, None).await.json();
    assert_eq!(list["totalResults"], 1);
    assert_eq!(list["Resources"][0]["id"], user.user_id.as_str());
    // Reactivated, the user logs in again.
    let r = scim(
        &app,
        "PATCH",
        &format!("/scim/v2/Users/{}", user.user_id),
        &token,
        Some(patch_op(json!([
        {"op": "replace", "value": {"active": true}}]))),
    )
    .await;
    assert_eq!(r.json()["active"], true);
    app.login(&user.email, &user.password).await;
}

async fn scim_never_touches_the_owner(app: TestApp) {
    let owner = app.signup().await;
    let admin = app.user(&owner, "admin", &[]).await;
    let token = scim_token(&app, &owner).await;
    let admin_token = scim_token(&app, &admin).await;
    let path = format!("/scim/v2/Users/{}", owner.user_id);
    for t in [&token, &admin_token] {
        let r =
            scim(&app, "PATCH", &path, t, Some(patch_op(json!([{"op": "replace", "path": "active", "value": false}]))))
                .await;
        assert_scim_error(&r, 403);
        let r = scim(
            &app,
            "PATCH",
            &path,
            t,
            Some(patch_op(json!([{"op": "replace", "path": "roles", "value": [{"value": "user"}]}]))),
        )
        .await;
        assert_scim_error(&r, 403);
        assert_scim_error(&scim(&app, "DELETE", &path, t, None).await, 403);
    }
    // The owner's own representation reads back unchanged (roles: owner).
    let me = scim(&app, "GET", &path, &token, None).await.json();
    assert_eq!(me["roles"][0]["value"], "owner");
    let r = scim(&app, "PUT", &path, &token, Some(me.clone())).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let after = app.get("/v1/me").bearer(&owner.token).send().await.json();
    assert_eq!((after["role"].as_str(), after["active"].as_bool()), (Some("owner"), Some(true)));
    // An admin's token cannot change that admin either (as /v1/users answers).
    let r = scim(
        &app,
        "PATCH",
        &format!("/scim/v2/Users/{}", admin.user_id),
        &admin_token,
        Some(patch_op(json!([
        {"op": "replace", "path": "active", "value": false}]))),
    )
    .await;
    assert_scim_error(&r, 403);
}

async fn scim_delete_of_a_user_with_records_is_refused(app: TestApp) {
    let owner = app.signup().await;
    let user = app.user(&owner, "user", &[]).await;
    let token = scim_token(&app, &owner).await;
    let r = app.post("/v1/contacts").bearer(&user.token).json(json!({"first_name": "Mine"})).send().await;
    assert_eq!(r.status, 201);
    let r = scim(&app, "DELETE", &format!("/scim/v2/Users/{}", user.user_id), &token, None).await;
    let e = assert_scim_error(&r, 409);
    assert!(e["detail"].as_str().unwrap().contains("Deactivate"), "{e}");
    assert_eq!(app.get("/v1/me").bearer(&user.token).send().await.status, 200, "nothing happened");
}

async fn scim_errors_use_scims_shape(app: TestApp) {
    let owner = app.signup().await;
    let token = scim_token(&app, &owner).await;
    let r = app.get("/scim/v2/Users").send().await;
    assert_scim_error(&r, 401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    assert_scim_error(&scim(&app, "GET", "/scim/v2/Users", "crm_scim_forged", None).await, 401);
    // Another account's user is 404, like a missing one.
    let other = app.signup().await;
    assert_scim_error(&scim(&app, "GET", &format!("/scim/v2/Users/{}", other.user_id), &token, None).await, 404);
    let r = scim(
        &app,
        "PATCH",
        &format!("/scim/v2/Users/{}", other.user_id),
        &token,
        Some(patch_op(json!([
        {"op": "replace", "path": "active", "value": false}]))),
    )
    .await;
    assert_scim_error(&r, 404);
    assert_eq!(app.get("/v1/me").bearer(&other.token).send().await.status, 200);
    assert_scim_error(&scim(&app, "DELETE", &format!("/scim/v2/Users/{}", other.user_id), &token, None).await, 404);
    assert_scim_error(&scim(&app, "GET", "/scim/v2/Users/not-an-id", &token, None).await, 404);
    // Bodies and values.
    let r = app.post("/scim/v2/Users").bearer(&token).raw(SCIM, "{not json").send().await;
    assert_eq!(assert_scim_error(&r, 400)["scimType"], "invalidSyntax");
    let r = app.post("/scim/v2/Users").bearer(&token).raw("text/plain", "{}").send().await;
    assert_scim_error(&r, 400);
    for bad in [
        json!({"userName": "not-an-email"}),
        json!({"name": {"givenName": "x"}}),
        json!({"userName": "a\u{0}b@x.test"}),
        json!({"userName": unique_email("x"), "active": "maybe"}),
        json!({"userName": unique_email("x"), "password": "short"}),
    ] {
        let r = scim(&app, "POST", "/scim/v2/Users", &token, Some(bad.clone())).await;
        assert_scim_error(&r, 400);
    }
    let email = unique_email("dup");
    create(&app, &token, &email, &[]).await;
    let r = scim(&app, "POST", "/scim/v2/Users", &token, Some(new_user(&email.to_uppercase(), &[]))).await;
    assert_eq!(assert_scim_error(&r, 409)["scimType"], "uniqueness");
    let r = scim(&app, "POST", "/scim/v2/Users", &token, Some(new_user(&other.email, &[]))).await;
    assert_scim_error(&r, 409);
    let r = scim(&app, "GET", &format!("/scim/v2/Users?filter={}", urlencode("title eq \"x\"")), &token, None).await;
    assert_eq!(assert_scim_error(&r, 400)["scimType"], "invalidFilter");
    let r =
        scim(&app, "GET", &format!("/scim/v2/Users?filter={}", urlencode("userName eq \"open")), &token, None).await;
    assert_eq!(assert_scim_error(&r, 400)["scimType"], "invalidFilter");
    let id = create(&app, &token, &unique_email("p"), &[]).await["id"].as_str().unwrap().to_owned();
    for ops in [
        json!([{"op": "move", "path": "active", "value": true}]),
        json!([{"op": "remove"}]),
        json!("x"),
        json!([{"op": "remove", "path": "userName"}]),
        json!([{"op": "replace", "path": "active", "value": 3}]),
    ] {
        let r = scim(&app, "PATCH", &format!("/scim/v2/Users/{id}"), &token, Some(patch_op(ops))).await;
        assert_scim_error(&r, 400);
    }
    assert_scim_error(&scim(&app, "GET", "/scim/v2/Users?filter=%00", &token, None).await, 400);
    assert_scim_error(&scim(&app, "GET", "/scim/v2/Users?count=many", &token, None).await, 400);
    // Unknown SCIM paths and methods answer SCIM errors too.
    assert_scim_error(&scim(&app, "GET", "/scim/v2/Groups", &token, None).await, 404);
    let r = scim(&app, "POST", "/scim/v2/ServiceProviderConfig", &token, None).await;
    assert_scim_error(&r, 405);
    assert_eq!(r.header("allow").as_deref(), Some("GET"));
}

async fn scim_discovery_endpoints(app: TestApp) {
    let spc = app.get("/scim/v2/ServiceProviderConfig").send().await;
    assert_eq!(spc.status, 200);
    assert_eq!(spc.header("content-type").as_deref(), Some(SCIM));
    let spc = spc.json();
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["filter"]["supported"], true);
    assert_eq!(spc["bulk"]["supported"], false);
    let types = app.get("/scim/v2/ResourceTypes").send().await.json();
    assert_eq!(types["totalResults"], 1);
    assert_eq!(types["Resources"][0]["endpoint"], "/Users");
    assert_eq!(app.get("/scim/v2/ResourceTypes/User").send().await.json()["id"], "User");
    assert_scim_error(&app.get("/scim/v2/ResourceTypes/Group").send().await, 404);
    let schemas = app.get("/scim/v2/Schemas").send().await.json();
    let user_schema = &schemas["Resources"][0];
    assert_eq!(user_schema["id"], "urn:ietf:params:scim:schemas:core:2.0:User");
    let names: Vec<&str> =
        user_schema["attributes"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["userName", "name", "active", "emails", "roles"]);
    let one = app.get("/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User").send().await;
    assert_eq!(one.status, 200, "{}", one.text());
    assert_scim_error(&app.get("/scim/v2/Schemas/urn:x").send().await, 404);
}
