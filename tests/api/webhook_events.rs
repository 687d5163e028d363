//! The outbox (SPEC §10): each write's events, made for each subscriber as that user sees
//! the entity, delivered to a real receiver that verifies every signature; access lost and
//! access changed; bulk, import and reassigning deletes; revocation at the attempt; nothing
//! for a rolled-back write.

use serde_json::{json, Value};

use crate::helpers::{Session, TestApp};
use crate::webhooks::{deliver, deliveries, subscribe, Receiver};

crate::both_backends!(
    contact_events_follow_each_subscribers_view,
    derived_resources_send_their_events,
    bulk_import_and_reassigning_deletes_send_events,
    an_event_is_revoked_when_access_drops_before_its_attempt,
    a_rolled_back_write_queues_nothing
);

/// Every worker round until nothing is due (one round sends one delivery per entity).
async fn drain(app: &TestApp, by: &Session) {
    for _ in 0..100 {
        if deliver(app, by).await == 0 {
            return;
        }
    }
    panic!("deliveries never ran out");
}

/// A receiver endpoint for `who`, subscribed to everything; returns the endpoint name.
async fn hook_for(app: &TestApp, rx: &Receiver, who: &Session, name: &str) -> String {
    let hook = subscribe(app, who, &rx.url(name), json!(["*"])).await;
    rx.secret(name, hook["secret"].as_str().unwrap()).await;
    hook["id"].as_str().unwrap().to_owned()
}

/// What `name` received since the last call: `(type, data)`, each verified, in the order
/// of arrival (ordered per entity only: one round attempts several entities at once).
async fn take(rx: &Receiver, name: &str, seen: &mut usize) -> Vec<(String, Value)> {
    let got = rx.received(name).await;
    let new: Vec<(String, Value)> = got[*seen..]
        .iter()
        .map(|g| {
            assert_eq!(g["verified"], true, "{g}");
            (g["body"]["type"].as_str().unwrap().to_owned(), g["body"]["data"].clone())
        })
        .collect();
    *seen = got.len();
    new
}

fn types(got: &[(String, Value)]) -> Vec<&str> {
    got.iter().map(|(t, _)| t.as_str()).collect()
}

/// The event types, sorted (for a drain over several entities).
fn sorted(got: &[(String, Value)]) -> Vec<&str> {
    let mut t = types(got);
    t.sort_unstable();
    t
}

/// The data of the one event of `kind` in `got`.
fn one<'a>(got: &'a [(String, Value)], kind: &str) -> &'a Value {
    let mut it = got.iter().filter(|(t, _)| t == kind);
    let found = it.next().unwrap_or_else(|| panic!("no {kind} in {got:?}"));
    assert!(it.next().is_none(), "two {kind} in {got:?}");
    &found.1
}

async fn set_default(app: &TestApp, owner: &Session, level: &str) {
    let body = json!({"settings": {"default_contact_access": level}});
    let r = app.patch("/v1/account").bearer(&owner.token).json(body).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
}

async fn create_contact(app: &TestApp, by: &Session, body: Value) -> String {
    let r = app.post("/v1/contacts").bearer(&by.token).json(body).send().await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["id"].as_str().unwrap().to_owned()
}

async fn patch_contact(app: &TestApp, by: &Session, id: &str, body: Value) {
    let r = app.patch(&format!("/v1/contacts/{id}")).bearer(&by.token).json(body).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
}

async fn contact_events_follow_each_subscribers_view(app: TestApp) {
    let rx = Receiver::start();
    let owner = app.signup().await;
    let seller = app.user(&owner, "user", &[]).await;
    hook_for(&app, &rx, &owner, "o").await;
    hook_for(&app, &rx, &seller, "s").await;
    let (mut o, mut s) = (0, 0);

    set_default(&app, &owner, "hidden").await;
    drain(&app, &owner).await;
    let got = take(&rx, "s", &mut s).await;
    assert_eq!(types(&got), ["access.changed"]);
    assert_eq!(got[0].1, json!({"user_id": seller.user_id, "changed": ["default_contact_access"]}));
    assert_eq!(types(&take(&rx, "o", &mut o).await), ["access.changed"]);

    // Owned by the owner, default hidden: the seller hears nothing of it.
    let c =
        create_contact(&app, &owner, json!({"first_name": "Ada", "last_name": "L", "owner_id": owner.user_id})).await;
    drain(&app, &owner).await;
    let got = take(&rx, "o", &mut o).await;
    assert_eq!(types(&got), ["contact.created"]);
    assert_eq!((got[0].1["id"].clone(), got[0].1["access"].clone()), (json!(c), json!("manage")));
    assert!(take(&rx, "s", &mut s).await.is_empty(), "a hidden contact sends nothing");

    // Handed to the seller: it comes into view as an update, in full; handed back: lost.
    patch_contact(&app, &owner, &c, json!({"owner_id": seller.user_id})).await;
    drain(&app, &owner).await;
    let got = take(&rx, "s", &mut s).await;
    assert_eq!(types(&got), ["contact.updated"]);
    assert_eq!((got[0].1["access"].clone(), got[0].1["owner_id"].clone()), (json!("edit"), json!(seller.user_id)));
    patch_contact(&app, &owner, &c, json!({"owner_id": owner.user_id})).await;
    drain(&app, &owner).await;
    let got = take(&rx, "s", &mut s).await;
    assert_eq!(got, [("contact.access_lost".to_owned(), json!({"id": c}))]);
    assert_eq!(types(&take(&rx, "o", &mut o).await), ["contact.updated", "contact.updated"]);

    // At `limited`: basic fields only, and only when they change.
    set_default(&app, &owner, "limited").await;
    drain(&app, &owner).await;
    assert_eq!(types(&take(&rx, "s", &mut s).await), ["access.changed"]);
    patch_contact(&app, &owner, &c, json!({"job_title": "Countess"})).await;
    drain(&app, &owner).await;
    assert!(take(&rx, "s", &mut s).await.is_empty(), "nothing the seller sees changed");
    let got = take(&rx, "o", &mut o).await;
    assert_eq!(sorted(&got), ["access.changed", "contact.updated"]);
    assert_eq!(one(&got, "contact.updated")["job_title"], "Countess");
    patch_contact(&app, &owner, &c, json!({"first_name": "Augusta"})).await;
    drain(&app, &owner).await;
    let got = take(&rx, "s", &mut s).await;
    assert_eq!(types(&got), ["contact.updated"]);
    let mut keys: Vec<&String> = got[0].1.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["access", "email", "first_name", "id", "last_name", "phone"], "basic fields: {}", got[0].1);
    assert_eq!((got[0].1["first_name"].clone(), got[0].1["access"].clone()), (json!("Augusta"), json!("limited")));

    // Deleted: both saw it, both hear it, with the id only.
    let r = app.delete(&format!("/v1/contacts/{c}")).bearer(&owner.token).send().await;
    assert_eq!(r.status, 204, "{}", r.text());
    drain(&app, &owner).await;
    assert_eq!(take(&rx, "s", &mut s).await, [("contact.deleted".to_owned(), json!({"id": c}))]);
    let got = take(&rx, "o", &mut o).await;
    assert_eq!(types(&got), ["contact.updated", "contact.deleted"]);
    assert_eq!(got[1].1, json!({"id": c}));
}

async fn derived_resources_send_their_events(app: TestApp) {
    let rx = Receiver::start();
    let owner = app.signup().await;
    let seller = app.user(&owner, "user", &[]).await;
    hook_for(&app, &rx, &owner, "o").await;
    hook_for(&app, &rx, &seller, "s").await;
    let (mut o, mut s) = (0, 0);
    set_default(&app, &owner, "limited").await;
    let mine = create_contact(&app, &seller, json!({"first_name": "Own", "last_name": "S"})).await;
    let theirs =
        create_contact(&app, &owner, json!({"first_name": "Not", "last_name": "S", "owner_id": owner.user_id})).await;
    drain(&app, &owner).await;
    take(&rx, "o", &mut o).await;
    let got = take(&rx, "s", &mut s).await;
    // The seller sees the owner's contact at limited: its creation shows basic fields.
    assert_eq!(sorted(&got), ["access.changed", "contact.created", "contact.created"]);

    let mut ids = Vec::new();
    for contact in [&mine, &theirs] {
        let r = app
            .post("/v1/deals")
            .bearer(&owner.token)
            .json(json!({"contact_id": contact, "name": "D", "amount": 100, "currency": "EUR"}))
            .send()
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        let deal = r.json()["id"].as_str().unwrap().to_owned();
        let r = app
            .post("/v1/actions")
            .bearer(&owner.token)
            .json(json!({"contact_id": contact, "text": "Call"}))
            .send()
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        let action = r.json()["id"].as_str().unwrap().to_owned();
        let r =
            app.post("/v1/notes").bearer(&owner.token).json(json!({"contact_id": contact, "body": "Hi"})).send().await;
        assert_eq!(r.status, 201, "{}", r.text());
        let note = r.json()["id"].as_str().unwrap().to_owned();
        let body = json!({"contact_id": contact, "direction": "outbound"});
        let r = app.post("/v1/calls").bearer(&owner.token).json(body).send().await;
        assert_eq!(r.status, 201, "{}", r.text());
        let call = r.json()["id"].as_str().unwrap().to_owned();
        ids.push((deal, action, note, call));
    }
    let r = app.post("/v1/organizations").bearer(&owner.token).json(json!({"name": "Org"})).send().await;
    assert_eq!(r.status, 201, "{}", r.text());
    let org = r.json()["id"].as_str().unwrap().to_owned();
    drain(&app, &owner).await;
    let want = ["action.created", "call.created", "deal.created", "note.created"];
    let mut all: Vec<&str> = want.iter().flat_map(|t| [*t, *t]).collect();
    all.push("organization.created");
    assert_eq!(sorted(&take(&rx, "o", &mut o).await), all);
    // Only what hangs off the seller's own contact, and the organization.
    let got = take(&rx, "s", &mut s).await;
    assert_eq!(
        sorted(&got),
        ["action.created", "call.created", "deal.created", "note.created", "organization.created"]
    );
    let deal = one(&got, "deal.created");
    assert_eq!((deal["id"].clone(), deal["access"].clone()), (json!(ids[0].0), json!("edit")));
    assert_eq!(one(&got, "note.created")["body"], "Hi");
    assert!(got.iter().filter(|(t, _)| t != "organization.created").all(|(_, d)| d["contact_id"] == json!(mine)));

    // Updates and deletes of each.
    let (deal, action, note, call) = &ids[0];
    let patches = [
        (format!("/v1/deals/{deal}"), json!({"name": "D2"})),
        (format!("/v1/actions/{action}"), json!({"text": "Call back"})),
        (format!("/v1/notes/{note}"), json!({"body": "Hello"})),
        (format!("/v1/calls/{call}"), json!({"body": "Talked"})),
        (format!("/v1/organizations/{org}"), json!({"name": "Org 2"})),
    ];
    for (path, body) in &patches {
        let r = app.patch(path).bearer(&owner.token).json(body.clone()).send().await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
    }
    drain(&app, &owner).await;
    let got = take(&rx, "s", &mut s).await;
    assert_eq!(
        sorted(&got),
        ["action.updated", "call.updated", "deal.updated", "note.updated", "organization.updated"]
    );
    assert_eq!(
        (one(&got, "deal.updated")["name"].clone(), one(&got, "organization.updated")["name"].clone()),
        (json!("D2"), json!("Org 2"))
    );
    for (path, _) in &patches {
        let r = app.delete(path).bearer(&owner.token).send().await;
        assert_eq!(r.status, 204, "{path}: {}", r.text());
    }
    drain(&app, &owner).await;
    let mut got = take(&rx, "s", &mut s).await;
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        [
            ("action.deleted".to_owned(), json!({"id": action})),
            ("call.deleted".to_owned(), json!({"id": call})),
            ("deal.deleted".to_owned(), json!({"id": deal})),
            ("note.deleted".to_owned(), json!({"id": note})),
            ("organization.deleted".to_owned(), json!({"id": org})),
        ]
    );
    take(&rx, "o", &mut o).await;
    // Deleting a contact deletes what hangs off it first, each with its event.
    let r = app.delete(&format!("/v1/contacts/{theirs}")).bearer(&owner.token).send().await;
    assert_eq!(r.status, 204, "{}", r.text());
    drain(&app, &owner).await;
    let got = take(&rx, "o", &mut o).await;
    assert_eq!(sorted(&got), ["action.deleted", "call.deleted", "contact.deleted", "deal.deleted", "note.deleted"]);
    assert_eq!(types(&take(&rx, "s", &mut s).await), ["contact.deleted"], "the seller saw it at limited only");
}

async fn bulk_import_and_reassigning_deletes_send_events(app: TestApp) {
    let rx = Receiver::start();
    let owner = app.signup().await;
    let seller = app.user(&owner, "user", &[]).await;
    let leaver = app.user(&owner, "user", &[]).await;
    hook_for(&app, &rx, &seller, "s").await;
    let mut s = 0;
    set_default(&app, &owner, "hidden").await;
    let north = app.office(&owner, "North").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            create_contact(
                &app,
                &owner,
                json!({"first_name": format!("C{i}"), "last_name": "B", "owner_id": owner.user_id}),
            )
            .await,
        );
    }
    drain(&app, &owner).await;
    assert_eq!(types(&take(&rx, "s", &mut s).await), ["access.changed"]);

    // Bulk: three contacts handed to the seller, three events.
    let r = app
        .post("/v1/contacts/bulk")
        .bearer(&owner.token)
        .json(json!({"ids": ids, "op": "set_owner", "value": seller.user_id}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    drain(&app, &owner).await;
    let got = take(&rx, "s", &mut s).await;
    assert_eq!(types(&got), ["contact.updated"; 3]);
    let mut seen: Vec<&str> = got.iter().map(|(_, d)| d["id"].as_str().unwrap()).collect();
    seen.sort_unstable();
    let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(seen, want);

    // Import: a created event per contact the seller sees (theirs), none for the rest.
    let csv = format!("first_name,last_name,owner_id\nImp,One,{}\nImp,Two,{}\n", seller.user_id, owner.user_id);
    let r = app.post("/v1/contacts/import").bearer(&owner.token).raw("text/csv", csv).send().await;
    assert_eq!((r.status, r.json()["created"].clone()), (200, json!(2)), "{}", r.text());
    drain(&app, &owner).await;
    let got = take(&rx, "s", &mut s).await;
    assert_eq!(types(&got), ["contact.created"]);
    assert_eq!(got[0].1["last_name"], "One");

    // A grant: access.changed for that user only.
    let r = app
        .put(&format!("/v1/users/{}/offices/{north}", seller.user_id))
        .bearer(&owner.token)
        .json(json!({"permission": "view"}))
        .send()
        .await;
    assert!(r.status == 200 || r.status == 201, "{}", r.text());
    drain(&app, &owner).await;
    assert_eq!(
        take(&rx, "s", &mut s).await,
        [("access.changed".to_owned(), json!({"user_id": seller.user_id, "changed": ["offices"]}))]
    );

    // A deleted user's contacts handed to the seller, an office's contacts moved away.
    let l =
        create_contact(&app, &owner, json!({"first_name": "L", "last_name": "B", "owner_id": leaver.user_id})).await;
    let r = app
        .delete(&format!("/v1/users/{}?reassign_to={}", leaver.user_id, seller.user_id))
        .bearer(&owner.token)
        .send()
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    drain(&app, &owner).await;
    let got = take(&rx, "s", &mut s).await;
    assert_eq!((types(&got), got[0].1["id"].clone()), (vec!["contact.updated"], json!(l)));
    let n = create_contact(
        &app,
        &owner,
        json!({"first_name": "N", "last_name": "B", "owner_id": owner.user_id, "office_id": north}),
    )
    .await;
    drain(&app, &owner).await;
    let got = take(&rx, "s", &mut s).await;
    assert_eq!(
        (types(&got), got[0].1["access"].clone()),
        (vec!["contact.created"], json!("view")),
        "seen through the grant"
    );
    let r = app.delete(&format!("/v1/offices/{north}?move_contacts_to=none")).bearer(&owner.token).send().await;
    assert_eq!(r.status, 204, "{}", r.text());
    drain(&app, &owner).await;
    let mut got = take(&rx, "s", &mut s).await;
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        [
            ("access.changed".to_owned(), json!({"user_id": seller.user_id, "changed": ["offices"]})),
            ("contact.access_lost".to_owned(), json!({"id": n})),
        ]
    );
}

async fn an_event_is_revoked_when_access_drops_before_its_attempt(app: TestApp) {
    let rx = Receiver::start();
    let owner = app.signup().await;
    let seller = app.user(&owner, "user", &[]).await;
    let hook = hook_for(&app, &rx, &seller, "s").await;
    set_default(&app, &owner, "limited").await;
    drain(&app, &owner).await;
    let c =
        create_contact(&app, &owner, json!({"first_name": "R", "last_name": "V", "owner_id": seller.user_id})).await;
    // Made at edit; before it is sent the contact goes to the owner (seller: limited).
    patch_contact(&app, &owner, &c, json!({"owner_id": owner.user_id})).await;
    drain(&app, &owner).await;
    let log = deliveries(&app, &seller, &hook).await;
    let by_type = |t: &str| log.iter().find(|d| d["event_type"] == t).cloned().unwrap();
    let created = by_type("contact.created");
    assert_eq!(created["status"], "revoked", "{created}");
    assert!(created["error"].as_str().unwrap().contains("limited"), "{created}");
    let updated = by_type("contact.updated");
    assert_eq!(updated["status"], "delivered", "the basic view, made at limited, is sent: {updated}");
    let mut n = 0;
    let got = take(&rx, "s", &mut n).await;
    assert_eq!(sorted(&got), ["access.changed", "contact.updated"]);
    let basic = one(&got, "contact.updated");
    assert_eq!(basic["access"], "limited");
    assert!(basic.get("owner_id").is_none(), "{basic}");
}

async fn a_rolled_back_write_queues_nothing(app: TestApp) {
    let owner = app.signup().await;
    let rx = Receiver::start();
    let hook = hook_for(&app, &rx, &owner, "o").await;
    let (user, account, id) = (owner.user_id.clone(), owner.account_id.clone(), hook.clone());
    let out = crm_api::db::write(&app.state.pool, move |conn| {
        let actor = crm_api::auth::actor_of_user(conn, &user, &account)?;
        let input = serde_json::from_value(json!({"first_name": "Gone", "last_name": "Soon"})).unwrap();
        crm_api::contacts::queries::create(conn, &actor, input)?;
        let queued: i64 = {
            use crm_api::db::schema::webhook_deliveries as wd;
            use diesel::prelude::*;
            wd::table.filter(wd::webhook_id.eq(&id)).count().get_result(conn)?
        };
        assert!(queued > 0, "queued inside the transaction");
        Err::<(), _>(crm_api::error::AppError::Conflict("changed my mind".into()))
    })
    .await;
    assert!(out.is_err());
    assert!(deliveries(&app, &owner, &hook).await.is_empty(), "the rollback took the events with it");
    let r = app.get("/v1/contacts?q=Gone").bearer(&owner.token).send().await;
    assert_eq!(r.json()["data"], json!([]));
}
