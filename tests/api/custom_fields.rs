//! Custom fields (SPEC §9): definitions, every type × valid/invalid value × entry path,
//! the `cf.` filters, and a `limited` contact never revealing one.

use serde_json::{json, Value};

use crate::helpers::{Session, TestApp};

/// (type, options, valid body value, what is stored, invalid body value, valid CSV cell,
/// invalid CSV cell)
fn table() -> Vec<(&'static str, Value, Value, Value, Value, &'static str, String)> {
    vec![
        ("text", json!([]), json!("Hello"), json!("Hello"), json!(42), "Hello", "x".repeat(501)),
        ("number", json!([]), json!(12.5), json!(12.5), json!("12"), "12.5", "twelve".into()),
        (
            "date",
            json!([]),
            json!("2026-12-01"),
            json!("2026-12-01"),
            json!("2026-13-01"),
            "2026-12-01",
            "2026-02-30".into(),
        ),
        ("boolean", json!([]), json!(true), json!(true), json!("yes please"), "true", "maybe".into()),
        ("select", json!(["a", "b"]), json!("b"), json!("b"), json!("z"), "b", "z".into()),
        (
            "multi_select",
            json!(["a", "b", "c"]),
            json!(["c", "a", "c"]),
            json!(["c", "a"]),
            json!(["a", "z"]),
            "c;a",
            "a;z".into(),
        ),
        (
            "url",
            json!([]),
            json!("https://example.test/x"),
            json!("https://example.test/x"),
            json!("ftp://example.test"),
            "https://example.test/x",
            "not a url".into(),
        ),
        (
            "email",
            json!([]),
            json!("ada@example.test"),
            json!("ada@example.test"),
            json!("nope"),
            "ada@example.test",
            "nope@".into(),
        ),
    ]
}

async fn define(app: &TestApp, by: &Session, key: &str, kind: &str, options: Value) -> Value {
    let r = app
        .post("/v1/custom-fields")
        .bearer(&by.token)
        .json(json!({"entity": "contact", "key": key, "label": key.to_uppercase(), "type": kind, "options": options}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

async fn contact(app: &TestApp, by: &Session, body: Value) -> Value {
    let r = app.post("/v1/contacts").bearer(&by.token).json(body).send().await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

async fn definitions_are_managed_by_owner_and_admin(app: TestApp) {
    let owner = app.signup().await;
    let admin = app.user(&owner, "admin", &[]).await;
    let user = app.user(&owner, "user", &[]).await;
    let focused = app.user(&owner, "focused", &[]).await;
    let field = define(&app, &admin, "industry", "select", json!(["software", "retail"])).await;
    let id = field["id"].as_str().unwrap();
    for who in [&user, &focused] {
        let listed = app.get("/v1/custom-fields?entity=contact").bearer(&who.token).send().await;
        assert_eq!(listed.json().as_array().unwrap().len(), 1, "everyone reads the definitions");
        app.post("/v1/custom-fields")
            .bearer(&who.token)
            .json(json!({"entity": "contact", "key": "x", "label": "X", "type": "text"}))
            .send()
            .await
            .assert_problem(403);
        app.patch(&format!("/v1/custom-fields/{id}"))
            .bearer(&who.token)
            .json(json!({"label": "Y"}))
            .send()
            .await
            .assert_problem(403);
        app.delete(&format!("/v1/custom-fields/{id}")).bearer(&who.token).send().await.assert_problem(403);
    }
    // Key rules, uniqueness per entity, options only for the select types.
    for (body, status) in [
        (json!({"entity": "contact", "key": "Industry", "label": "I", "type": "text"}), 422),
        (json!({"entity": "contact", "key": "9lives", "label": "I", "type": "text"}), 422),
        (json!({"entity": "contact", "key": "a".repeat(41), "label": "I", "type": "text"}), 422),
        (json!({"entity": "contact", "key": "industry", "label": "I", "type": "text"}), 409),
        (json!({"entity": "contact", "key": "tier", "label": "T", "type": "select"}), 422),
        (json!({"entity": "contact", "key": "note", "label": "N", "type": "text", "options": ["a"]}), 422),
        (json!({"entity": "contact", "key": "tier", "label": "T", "type": "colour"}), 422),
        (json!({"entity": "deal", "key": "industry", "label": "I", "type": "text"}), 201),
    ] {
        let r = app.post("/v1/custom-fields").bearer(&owner.token).json(body.clone()).send().await;
        assert_eq!(r.status, status, "{body}: {}", r.text());
    }
    // The key and type never change.
    app.patch(&format!("/v1/custom-fields/{id}"))
        .bearer(&owner.token)
        .json(json!({"key": "other"}))
        .send()
        .await
        .assert_problem(422);
    let r = app
        .patch(&format!("/v1/custom-fields/{id}"))
        .bearer(&owner.token)
        .json(json!({"label": "Sector"}))
        .send()
        .await;
    assert_eq!((r.status, r.json()["label"].clone()), (200, json!("Sector")));
    // Another account sees none of it.
    let stranger = app.signup().await;
    app.get(&format!("/v1/custom-fields/{id}")).bearer(&stranger.token).send().await.assert_problem(404);
    assert_eq!(app.get("/v1/custom-fields").bearer(&stranger.token).send().await.json(), json!([]));
}

async fn every_type_on_every_entry_path(app: TestApp) {
    let owner = app.signup().await;
    for (kind, options, valid, stored, invalid, cell, bad_cell) in table() {
        let key = format!("f_{kind}");
        define(&app, &owner, &key, kind, options).await;
        let name = format!("custom_fields.{key}");
        // Create.
        let made = contact(&app, &owner, json!({"first_name": "V", "custom_fields": {&key: valid}})).await;
        assert_eq!(made["custom_fields"][&key], stored, "{kind} create");
        let r = app
            .post("/v1/contacts")
            .bearer(&owner.token)
            .json(json!({"first_name": "I", "custom_fields": {&key: invalid}}))
            .send()
            .await;
        assert!(r.assert_problem(422)["errors"][&name].is_array(), "{kind} create invalid");
        // PATCH: invalid changes nothing; valid lands; null clears.
        let id = made["id"].as_str().unwrap();
        let path = format!("/v1/contacts/{id}");
        let r = app.patch(&path).bearer(&owner.token).json(json!({"custom_fields": {&key: invalid}})).send().await;
        assert!(r.assert_problem(422)["errors"][&name].is_array(), "{kind} PATCH invalid");
        let now = app.get(&path).bearer(&owner.token).send().await.json();
        assert_eq!((now["custom_fields"][&key].clone(), now["version"].clone()), (stored.clone(), json!(1)));
        let r = app.patch(&path).bearer(&owner.token).json(json!({"custom_fields": {&key: null}})).send().await;
        assert_eq!(r.status, 200);
        assert!(r.json()["custom_fields"].get(&key).is_none(), "{kind} null clears");
        let r = app.patch(&path).bearer(&owner.token).json(json!({"custom_fields": {&key: valid}})).send().await;
        assert_eq!(r.json()["custom_fields"][&key], stored, "{kind} PATCH valid");
        // Bulk: an invalid value fails the whole request; a valid one lands on each.
        let other = contact(&app, &owner, json!({"first_name": "B"})).await;
        let ids = json!([id, other["id"]]);
        let r = app
            .post("/v1/contacts/bulk")
            .bearer(&owner.token)
            .json(json!({"ids": ids, "op": "set_custom_fields", "value": {&key: invalid}}))
            .send()
            .await;
        assert!(r.assert_problem(422)["errors"][&name].is_array(), "{kind} bulk invalid");
        let untouched = app
            .get(&format!("/v1/contacts/{}", other["id"].as_str().unwrap()))
            .bearer(&owner.token)
            .send()
            .await
            .json();
        assert!(untouched["custom_fields"].get(&key).is_none(), "{kind}: a failed bulk wrote nothing");
        let r = app
            .post("/v1/contacts/bulk")
            .bearer(&owner.token)
            .json(json!({"ids": ids, "op": "set_custom_fields", "value": {&key: valid}}))
            .send()
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let done = app
            .get(&format!("/v1/contacts/{}", other["id"].as_str().unwrap()))
            .bearer(&owner.token)
            .send()
            .await
            .json();
        assert_eq!(done["custom_fields"][&key], stored, "{kind} bulk valid");
        // Import: the `cf.` column; a bad cell fails its row, naming the column.
        let csv = format!("first_name,cf.{key}\nGood,\"{cell}\"\nBad,\"{bad_cell}\"\n");
        let r = app.post("/v1/contacts/import").bearer(&owner.token).raw("text/csv", csv).send().await;
        assert_eq!(r.status, 200, "{}", r.text());
        let out = r.json();
        assert_eq!(out["created"], 1, "{kind} import: {out}");
        assert!(out["failed"][0]["errors"][format!("cf.{key}")].is_array(), "{kind} import: {out}");
        // The filter finds exactly the contacts holding the value (three so far).
        let filter_value = match &stored {
            Value::Array(items) => items[0].as_str().unwrap().to_owned(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let query = format!("/v1/contacts?with_total=true&cf.{key}={}", urlencode(&filter_value));
        let found = app.get(&query).bearer(&owner.token).send().await.json();
        assert_eq!(found["total"], 3, "{kind} filter {query}: {found}");
        // The export carries the column and the value as import reads it.
        let text = app.get("/v1/contacts/export").bearer(&owner.token).send().await.text();
        let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
        assert!(header.contains(&format!("cf.{key}").as_str()), "{kind} export header");
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn filters_compare_by_type(app: TestApp) {
    let owner = app.signup().await;
    define(&app, &owner, "score", "number", json!([])).await;
    define(&app, &owner, "since", "date", json!([])).await;
    define(&app, &owner, "city", "text", json!([])).await;
    define(&app, &owner, "langs", "multi_select", json!(["en", "fr", "de"])).await;
    for (i, (score, since, city, langs)) in [
        (5, "2026-01-10", "Paris", json!(["fr", "en"])),
        (50, "2026-06-01", "Berlin", json!(["de"])),
        (500, "2025-12-31", "paris", json!([])),
    ]
    .into_iter()
    .enumerate()
    {
        contact(
            &app,
            &owner,
            json!({"first_name": format!("C{i}"), "custom_fields": {"score": score, "since": since, "city": city, "langs": langs}}),
        )
        .await;
    }
    let total = |q: &'static str| {
        let (app, token) = (&app, owner.token.clone());
        async move {
            let r = app.get(&format!("/v1/contacts?with_total=true&{q}")).bearer(&token).send().await;
            assert_eq!(r.status, 200, "{q}: {}", r.text());
            r.json()["total"].as_i64().unwrap()
        }
    };
    assert_eq!(total("cf.score.gte=50").await, 2);
    assert_eq!(total("cf.score.gte=6&cf.score.lte=499.5").await, 1);
    assert_eq!(total("cf.score=50.0").await, 1, "numbers compare as numbers");
    assert_eq!(total("cf.since.lte=2026-01-10").await, 2);
    assert_eq!(total("cf.city=PARIS").await, 2, "text is case-insensitive");
    assert_eq!(total("cf.langs=en").await, 1);
    assert_eq!(total("cf.langs=fr&cf.city=paris").await, 1);
    for bad in ["cf.nope=1", "cf.city.gte=a", "cf.score=ten", "cf.since=2026-02-30", "cf.langs.lte=en"] {
        app.get(&format!("/v1/contacts?{bad}")).bearer(&owner.token).send().await.assert_problem(400);
    }
}

async fn limited_contacts_never_reveal_custom_fields(app: TestApp) {
    let owner = app.signup().await;
    let r = app
        .patch("/v1/account")
        .bearer(&owner.token)
        .json(json!({"settings": {"default_contact_access": "limited"}}))
        .send()
        .await;
    assert_eq!(r.status, 200);
    let viewer = app.user(&owner, "user", &["export"]).await;
    define(&app, &owner, "secret", "text", json!([])).await;
    let office = app.office(&owner, "HQ").await;
    let c = contact(
        &app,
        &owner,
        json!({"first_name": "Guarded", "office_id": office, "custom_fields": {"secret": "zebra"}}),
    )
    .await;
    let id = c["id"].as_str().unwrap();
    let got = app.get(&format!("/v1/contacts/{id}")).bearer(&viewer.token).send().await.json();
    assert_eq!(got["access"], "limited");
    assert!(got.get("custom_fields").is_none(), "{got}");
    let list = app.get("/v1/contacts").bearer(&viewer.token).send().await.json();
    let item = list["data"].as_array().unwrap().iter().find(|c| c["id"] == json!(id)).unwrap().clone();
    assert!(item.get("custom_fields").is_none(), "{item}");
    let found = app.get("/v1/contacts?with_total=true&cf.secret=zebra").bearer(&viewer.token).send().await.json();
    assert_eq!(found["total"], 0, "not findable by the value");
    let found = app.get("/v1/contacts?with_total=true&q=zebra").bearer(&viewer.token).send().await.json();
    assert_eq!(found["total"], 0, "q does not search custom fields");
    let export = app.get("/v1/contacts/export").bearer(&viewer.token).send().await.text();
    assert!(!export.contains("zebra") && !export.contains(id), "{export}");
    // With view on the office the same user sees and finds it.
    let r = app
        .put(&format!("/v1/users/{}/offices/{office}", viewer.user_id))
        .bearer(&owner.token)
        .json(json!({"permission": "view"}))
        .send()
        .await;
    assert_eq!(r.status, 201);
    let found = app.get("/v1/contacts?with_total=true&cf.secret=zebra").bearer(&viewer.token).send().await.json();
    assert_eq!(found["total"], 1);
    assert_eq!(found["data"][0]["custom_fields"]["secret"], "zebra");
}

async fn definition_changes_leave_no_invalid_value(app: TestApp) {
    let owner = app.signup().await;
    let tier = define(&app, &owner, "tier", "select", json!(["gold", "silver"])).await;
    let langs = define(&app, &owner, "langs", "multi_select", json!(["en", "fr"])).await;
    let notes = define(&app, &owner, "notes", "text", json!([])).await;
    let c = contact(
        &app,
        &owner,
        json!({"first_name": "X", "custom_fields": {"tier": "gold", "langs": ["en", "fr"], "notes": "hi"}}),
    )
    .await;
    let path = format!("/v1/contacts/{}", c["id"].as_str().unwrap());
    let untouched = contact(&app, &owner, json!({"first_name": "Y", "custom_fields": {"tier": "silver"}})).await;
    let r = app
        .patch(&format!("/v1/custom-fields/{}", tier["id"].as_str().unwrap()))
        .bearer(&owner.token)
        .json(json!({"options": ["silver", "bronze"]}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = app
        .patch(&format!("/v1/custom-fields/{}", langs["id"].as_str().unwrap()))
        .bearer(&owner.token)
        .json(json!({"options": ["en"]}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let now = app.get(&path).bearer(&owner.token).send().await.json();
    assert_eq!(now["custom_fields"], json!({"langs": ["en"], "notes": "hi"}), "{now}");
    assert_eq!(now["version"], 3, "each clean-up is a new version");
    let other = app
        .get(&format!("/v1/contacts/{}", untouched["id"].as_str().unwrap()))
        .bearer(&owner.token)
        .send()
        .await
        .json();
    assert_eq!((other["custom_fields"]["tier"].clone(), other["version"].clone()), (json!("silver"), json!(1)));
    let found = app.get("/v1/contacts?with_total=true&cf.tier=gold").bearer(&owner.token).send().await;
    assert_eq!(found.status, 200);
    assert_eq!(found.json()["total"], 0);
    assert_eq!(
        app.get("/v1/contacts?with_total=true&cf.langs=fr").bearer(&owner.token).send().await.json()["total"],
        0
    );
    // Deleting a definition removes its values and its filter.
    let r =
        app.delete(&format!("/v1/custom-fields/{}", notes["id"].as_str().unwrap())).bearer(&owner.token).send().await;
    assert_eq!(r.status, 204);
    let now = app.get(&path).bearer(&owner.token).send().await.json();
    assert_eq!((now["custom_fields"].clone(), now["version"].clone()), (json!({"langs": ["en"]}), json!(4)));
    app.get("/v1/contacts?cf.notes=hi").bearer(&owner.token).send().await.assert_problem(400);
    // A new definition with the old key starts empty.
    define(&app, &owner, "notes", "text", json!([])).await;
    assert_eq!(
        app.get("/v1/contacts?with_total=true&cf.notes=hi").bearer(&owner.token).send().await.json()["total"],
        0
    );
}

async fn required_fields_on_create(app: TestApp) {
    let owner = app.signup().await;
    let r = app
        .post("/v1/custom-fields")
        .bearer(&owner.token)
        .json(json!({"entity": "contact", "key": "region", "label": "Region", "type": "text", "required": true}))
        .send()
        .await;
    assert_eq!(r.status, 201);
    let r = app.post("/v1/contacts").bearer(&owner.token).json(json!({"first_name": "No"})).send().await;
    assert!(r.assert_problem(422)["errors"]["custom_fields.region"].is_array());
    let c = contact(&app, &owner, json!({"first_name": "Yes", "custom_fields": {"region": "North"}})).await;
    let path = format!("/v1/contacts/{}", c["id"].as_str().unwrap());
    app.patch(&path)
        .bearer(&owner.token)
        .json(json!({"custom_fields": {"region": null}}))
        .send()
        .await
        .assert_problem(422);
    let r = app.patch(&path).bearer(&owner.token).json(json!({"job_title": "CEO"})).send().await;
    assert_eq!(r.status, 200, "other fields change freely");
    let r = app.patch(&path).bearer(&owner.token).json(json!({"custom_fields": {"unknown": 1}})).send().await;
    assert!(r.assert_problem(422)["errors"]["custom_fields.unknown"].is_array());
}

async fn deals_and_organizations_carry_their_own_fields(app: TestApp) {
    let owner = app.signup().await;
    for (entity, key, kind) in [("deal", "probability", "number"), ("organization", "segment", "select")] {
        let options = if kind == "select" { json!(["smb", "enterprise"]) } else { json!([]) };
        let r = app
            .post("/v1/custom-fields")
            .bearer(&owner.token)
            .json(json!({"entity": entity, "key": key, "label": key, "type": kind, "options": options}))
            .send()
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let c = contact(&app, &owner, json!({"first_name": "Buyer"})).await;
    // A contact field is not a deal field.
    let r = app
        .post("/v1/deals")
        .bearer(&owner.token)
        .json(json!({"contact_id": c["id"], "name": "D", "amount": 1, "currency": "EUR", "custom_fields": {"segment": "smb"}}))
        .send()
        .await;
    assert!(r.assert_problem(422)["errors"]["custom_fields.segment"].is_array());
    let r = app
        .post("/v1/deals")
        .bearer(&owner.token)
        .json(json!({"contact_id": c["id"], "name": "D", "amount": 1, "currency": "EUR", "custom_fields": {"probability": "high"}}))
        .send()
        .await;
    assert!(r.assert_problem(422)["errors"]["custom_fields.probability"].is_array());
    let mut deals = Vec::new();
    for p in [10, 90] {
        let r = app
            .post("/v1/deals")
            .bearer(&owner.token)
            .json(json!({"contact_id": c["id"], "name": "D", "amount": 1, "currency": "EUR", "custom_fields": {"probability": p}}))
            .send()
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(r.json()["custom_fields"]["probability"], p);
        deals.push(r.json()["id"].as_str().unwrap().to_owned());
    }
    let listed = app.get("/v1/deals?with_total=true&cf.probability.gte=50").bearer(&owner.token).send().await.json();
    assert_eq!((listed["total"].clone(), listed["data"][0]["id"].clone()), (json!(1), json!(deals[1])));
    let r = app
        .patch(&format!("/v1/deals/{}", deals[0]))
        .bearer(&owner.token)
        .json(json!({"custom_fields": {"probability": 75}}))
        .send()
        .await;
    assert_eq!((r.status, r.json()["version"].clone()), (200, json!(2)));
    assert_eq!(
        app.get("/v1/deals?with_total=true&cf.probability.gte=50").bearer(&owner.token).send().await.json()["total"],
        2
    );
    app.patch(&format!("/v1/deals/{}", deals[0]))
        .bearer(&owner.token)
        .json(json!({"custom_fields": {"probability": []}}))
        .send()
        .await
        .assert_problem(422);
    // Organizations.
    let r = app
        .post("/v1/organizations")
        .bearer(&owner.token)
        .json(json!({"name": "Acme", "custom_fields": {"segment": "mid"}}))
        .send()
        .await;
    assert!(r.assert_problem(422)["errors"]["custom_fields.segment"].is_array());
    let r = app
        .post("/v1/organizations")
        .bearer(&owner.token)
        .json(json!({"name": "Acme", "custom_fields": {"segment": "smb"}}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let org = r.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get("/v1/organizations?with_total=true&cf.segment=smb").bearer(&owner.token).send().await.json()["total"],
        1
    );
    let r = app
        .patch(&format!("/v1/organizations/{org}"))
        .bearer(&owner.token)
        .json(json!({"custom_fields": {"segment": "enterprise"}}))
        .send()
        .await;
    assert_eq!(r.json()["custom_fields"]["segment"], "enterprise");
    assert_eq!(
        app.get("/v1/organizations?with_total=true&cf.segment=smb").bearer(&owner.token).send().await.json()["total"],
        0
    );
    app.get("/v1/organizations?cf.probability=1").bearer(&owner.token).send().await.assert_problem(400);
}

crate::both_backends!(
    deals_and_organizations_carry_their_own_fields,
    definitions_are_managed_by_owner_and_admin,
    every_type_on_every_entry_path,
    filters_compare_by_type,
    limited_contacts_never_reveal_custom_fields,
    definition_changes_leave_no_invalid_value,
    required_fields_on_create
);
