use serde_json::{json, Value};

use crate::helpers::{Session, TestApp};

crate::both_backends!(
    contact_crud_validation_and_etag,
    focused_user_owns_and_hands_over,
    private_contacts_and_their_privilege,
    search_sort_and_keyset_pages,
    filters_do_not_reveal_limited_contacts,
    import_reports_rows_and_hides_what_it_must,
    import_writes_many_rows_in_batches,
    totals_are_exact_up_to_the_cap_then_flagged,
    export_neutralises_formulas_and_needs_privilege,
    vcard_needs_privilege_and_escapes,
    focused_duplicate_email_notifies_the_owner,
    another_accounts_contact_is_404_everywhere,
    bulk_privileges_and_values,
    audit_hides_contacts_the_user_lost,
);

async fn contact(app: &TestApp, by: &Session, body: Value) -> Value {
    let r = app.post("/v1/contacts").bearer(&by.token).json(body).send().await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

async fn contact_crud_validation_and_etag(app: TestApp) {
    let owner = app.signup().await;
    let user = app.user(&owner, "user", &[]).await;
    let r = app
        .post("/v1/contacts")
        .bearer(&user.token)
        .json(json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.test", "status": "lead",
                     "tags": ["vip", "math", "vip"]}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let c = r.json();
    let id = c["id"].as_str().unwrap().to_owned();
    assert_eq!(r.header("location").unwrap(), format!("/v1/contacts/{id}"));
    assert_eq!(c["owner_id"], user.user_id.as_str(), "the creator owns it by default");
    assert_eq!(c["access"], "edit");
    assert_eq!(c["tags"], json!(["math", "vip"]));
    assert_eq!(c["version"], 1);
    for (body, field) in [
        (json!({"first_name": "X", "status": "alien"}), "status"),
        (json!({"first_name": "X", "lead_source": "tv"}), "lead_source"),
        (json!({"first_name": "X", "office_id": uuid::Uuid::now_v7()}), "office_id"),
        (json!({"first_name": "X", "organization_id": uuid::Uuid::now_v7()}), "organization_id"),
        (json!({"first_name": "X", "owner_id": uuid::Uuid::now_v7()}), "owner_id"),
        (json!({"first_name": ""}), "first_name"),
        (json!({"first_name": "X", "email": "nope"}), "email"),
        (json!({"first_name": "X", "colour": "red"}), "colour"),
        (json!({"first_name": "X", "tags": [" padded "]}), "tags"),
    ] {
        let r = app.post("/v1/contacts").bearer(&user.token).json(body).send().await;
        assert!(r.assert_problem(422)["errors"][field].is_array(), "{field}: {}", r.text());
    }
    let got = app.get(&format!("/v1/contacts/{id}")).bearer(&user.token).send().await;
    let etag = got.header("etag").unwrap();
    let path = format!("/v1/contacts/{id}");
    let r = app
        .patch(&path)
        .bearer(&user.token)
        .header("If-Match", &etag)
        .json(json!({"email": null, "phone": "+1 555"}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["email"], Value::Null);
    assert_eq!(r.json()["phone"], "+1 555");
    assert_eq!(r.json()["last_name"], "Lovelace");
    app.patch(&path)
        .bearer(&user.token)
        .header("If-Match", &etag)
        .json(json!({"phone": "1"}))
        .send()
        .await
        .assert_problem(412);
    app.patch(&path).bearer(&user.token).json(json!({"status": "martian"})).send().await.assert_problem(422);
    // The owner reads the history; the user (edit) may not.
    app.get(&format!("{path}/history")).bearer(&user.token).send().await.assert_problem(403);
    let h = app.get(&format!("{path}/history")).bearer(&owner.token).send().await.json();
    let entries = h["data"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["changes"]["email"], json!({"old": "ada@example.test", "new": null}));
    assert_eq!(entries[1]["action"], "create");
    // Users never delete; owner/admin do.
    app.delete(&path).bearer(&user.token).send().await.assert_problem(403);
    assert_eq!(app.delete(&path).bearer(&owner.token).send().await.status, 204);
    app.get(&path).bearer(&owner.token).send().await.assert_problem(404);
    app.delete(&path).bearer(&owner.token).send().await.assert_problem(404);
}

async fn focused_user_owns_and_hands_over(app: TestApp) {
    let owner = app.signup().await;
    let focused = app.user(&owner, "focused", &[]).await;
    let colleague = app.user(&owner, "user", &[]).await;
    let theirs = contact(&app, &owner, json!({"first_name": "Not", "last_name": "Yours"})).await;
    // A focused user's new contact is theirs whatever owner_id says.
    let mine = contact(&app, &focused, json!({"first_name": "Mine", "owner_id": colleague.user_id})).await;
    assert_eq!(mine["owner_id"], focused.user_id.as_str());
    assert_eq!(mine["access"], "edit");
    let list = app.get("/v1/contacts").bearer(&focused.token).send().await.json();
    let ids: Vec<&str> = list["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![mine["id"].as_str().unwrap()]);
    app.get(&format!("/v1/contacts/{}", theirs["id"].as_str().unwrap()))
        .bearer(&focused.token)
        .send()
        .await
        .assert_problem(404);
    // Handing it over loses it at once.
    let path = format!("/v1/contacts/{}", mine["id"].as_str().unwrap());
    let r = app.patch(&path).bearer(&focused.token).json(json!({"owner_id": colleague.user_id})).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"id": mine["id"], "access": "hidden"}));
    app.get(&path).bearer(&focused.token).send().await.assert_problem(404);
    app.delete(&path).bearer(&focused.token).send().await.assert_problem(404);
    assert_eq!(app.get(&path).bearer(&colleague.token).send().await.json()["access"], "edit");
    // A focused user deletes their own contacts.
    let another = contact(&app, &focused, json!({"first_name": "Gone"})).await;
    let r =
        app.delete(&format!("/v1/contacts/{}", another["id"].as_str().unwrap())).bearer(&focused.token).send().await;
    assert_eq!(r.status, 204);
}

async fn private_contacts_and_their_privilege(app: TestApp) {
    let owner = app.signup().await;
    let plain = app.user(&owner, "user", &[]).await;
    let trusted = app.user(&owner, "user", &["own_private_contacts"]).await;
    let admin = app.user(&owner, "admin", &[]).await;
    app.post("/v1/contacts")
        .bearer(&plain.token)
        .json(json!({"first_name": "P", "private": true}))
        .send()
        .await
        .assert_problem(403);
    let secret = contact(&app, &trusted, json!({"first_name": "Secret", "private": true})).await;
    let path = format!("/v1/contacts/{}", secret["id"].as_str().unwrap());
    app.get(&path).bearer(&plain.token).send().await.assert_problem(404);
    assert_eq!(app.get(&path).bearer(&admin.token).send().await.json()["access"], "manage");
    assert_eq!(app.get(&path).bearer(&trusted.token).send().await.json()["private"], true);
    // Someone else's contact cannot be made private by a user, even with the privilege.
    let open = contact(&app, &plain, json!({"first_name": "Open"})).await;
    let r = app
        .patch(&format!("/v1/contacts/{}", open["id"].as_str().unwrap()))
        .bearer(&trusted.token)
        .json(json!({"private": true}))
        .send()
        .await;
    r.assert_problem(403);
    // The owner of the account may.
    let r = app
        .patch(&format!("/v1/contacts/{}", open["id"].as_str().unwrap()))
        .bearer(&owner.token)
        .json(json!({"private": true}))
        .send()
        .await;
    assert_eq!(r.status, 200);
    // It stays visible to its owner (rule 2.3.2), hidden from the rest.
    assert_eq!(
        app.get(&format!("/v1/contacts/{}", open["id"].as_str().unwrap())).bearer(&plain.token).send().await.status,
        200
    );
    app.get(&format!("/v1/contacts/{}", open["id"].as_str().unwrap()))
        .bearer(&trusted.token)
        .send()
        .await
        .assert_problem(404);
    let explain = app
        .get(&format!("/v1/contacts/{}/access?user_id={}", open["id"].as_str().unwrap(), trusted.user_id))
        .bearer(&owner.token)
        .send()
        .await
        .json();
    assert_eq!(explain["level"], "hidden");
    assert_eq!(explain["reasons"][0]["code"], "private");
    app.get(&format!("/v1/contacts/{}/access?user_id={}", open["id"].as_str().unwrap(), owner.user_id))
        .bearer(&plain.token)
        .send()
        .await
        .assert_problem(403);
}

async fn search_sort_and_keyset_pages(app: TestApp) {
    let owner = app.signup().await;
    for (first, last, email, phone) in [
        ("Anna", "Zeta", "anna@x.test", "1"),
        ("Bob", "Alpha", "bob_1@x.test", "2"),
        ("Carl", "Mid", "carl@x.test", "100%"),
        ("Dora", "Beta", "dora@x.test", "3"),
        ("Émile", "Gamma", "emile@x.test", "4"),
        ("Fay", "Delta", "fay@x.test", "a\\b"),
    ] {
        contact(&app, &owner, json!({"first_name": first, "last_name": last, "email": email, "phone": phone})).await;
    }
    let names = |v: &Value| -> Vec<String> {
        v["data"].as_array().unwrap().iter().map(|c| c["last_name"].as_str().unwrap().to_owned()).collect()
    };
    let q = |s: &str| format!("/v1/contacts?q={}", urlencode(s));
    let get = |p: String| {
        let app = &app;
        let token = owner.token.clone();
        async move { app.get(&p).bearer(&token).send().await }
    };
    assert_eq!(names(&get(q("ANNA")).await.json()), vec!["Zeta"]);
    assert_eq!(names(&get(q("_")).await.json()), vec!["Alpha"], "_ is literal");
    assert_eq!(names(&get(q("%")).await.json()), vec!["Mid"], "% is literal");
    assert_eq!(names(&get(q("\\")).await.json()), vec!["Delta"], "\\ is literal");
    assert_eq!(names(&get(q("émile")).await.json()), vec!["Gamma"], "non-ASCII case folding");
    assert_eq!(names(&get(q("' OR 1=1 --")).await.json()), Vec::<String>::new());
    // Keyset pages in both directions cover everything once, in order.
    for (sort, want) in [
        ("last_name", vec!["Alpha", "Beta", "Delta", "Gamma", "Mid", "Zeta"]),
        ("-last_name", vec!["Zeta", "Mid", "Gamma", "Delta", "Beta", "Alpha"]),
    ] {
        let mut seen = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = get(format!("/v1/contacts?sort={sort}&limit=4{cursor}")).await.json();
            seen.extend(names(&page));
            match page["next_cursor"].as_str() {
                Some(c) => cursor = format!("&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(seen, want, "{sort}");
    }
    let first = get("/v1/contacts?sort=-created_at&limit=2".into()).await.json();
    assert_eq!(names(&first), vec!["Delta", "Gamma"]);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let second = get(format!("/v1/contacts?sort=-created_at&limit=2&cursor={cursor}")).await.json();
    assert_eq!(names(&second), vec!["Beta", "Mid"]);
    // A cursor of another sort, a tampered one, an unknown sort: 400.
    get(format!("/v1/contacts?sort=last_name&cursor={cursor}")).await.assert_problem(400);
    get("/v1/contacts?cursor=eyJoYWNrIjoxfQ".into()).await.assert_problem(400);
    get(format!("/v1/contacts?sort=-created_at&cursor={}x", &cursor[..cursor.len() - 1])).await.assert_problem(400);
    get("/v1/contacts?sort=password".into()).await.assert_problem(400);
    get("/v1/contacts?limit=-5".into()).await;
    assert_eq!(get("/v1/contacts?limit=-5".into()).await.json()["data"].as_array().unwrap().len(), 1);
    assert_eq!(get("/v1/contacts?limit=100000".into()).await.json()["data"].as_array().unwrap().len(), 6);
    let total = get("/v1/contacts?with_total=true&limit=1".into()).await.json();
    assert_eq!((total["total"].clone(), total["total_is_estimate"].clone()), (json!(6), json!(false)));
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn filters_do_not_reveal_limited_contacts(app: TestApp) {
    let owner = app.signup().await;
    app.patch("/v1/account")
        .bearer(&owner.token)
        .json(json!({"settings": {"default_contact_access": "limited"}}))
        .send()
        .await;
    let user = app.user(&owner, "user", &[]).await;
    let other = app.user(&owner, "user", &[]).await;
    let c = contact(&app, &other, json!({"first_name": "Lim", "status": "customer", "tags": ["gold"]})).await;
    let list = app.get("/v1/contacts").bearer(&user.token).send().await.json();
    assert_eq!(
        list["data"][0],
        json!({"id": c["id"], "first_name": "Lim", "last_name": "", "email": null, "phone": null, "access": "limited"})
    );
    for filter in ["status=customer", "tag=gold", &format!("owner_id={}", other.user_id)] {
        let r = app.get(&format!("/v1/contacts?{filter}")).bearer(&user.token).send().await.json();
        assert_eq!(r["data"], json!([]), "{filter} must not reveal a limited contact");
    }
    let r = app.get("/v1/contacts?q=lim").bearer(&user.token).send().await.json();
    assert_eq!(r["data"].as_array().unwrap().len(), 1, "basic fields stay searchable");
    app.patch(&format!("/v1/contacts/{}", c["id"].as_str().unwrap()))
        .bearer(&user.token)
        .json(json!({"first_name": "X"}))
        .send()
        .await
        .assert_problem(403);
}

async fn import_reports_rows_and_hides_what_it_must(app: TestApp) {
    let owner = app.signup().await;
    let focused = app.user(&owner, "focused", &[]).await;
    let visible = contact(&app, &owner, json!({"first_name": "Known", "email": "known@x.test"})).await;
    let csv = "first_name,last_name,email,status,tags,private\n\
               Ann,One,ann@x.test,lead,a;b,false\n\
               Bad,Two,not-an-email,lead,,\n\
               Cy,Three,cy@x.test,alien,,\n\
               Dup,Four,ann@x.test,,,\n\
               ,Five,five@x.test,,,\n\
               Kay,Six,KNOWN@x.test,,,\n\
               \"Quote, Inc\",Seven,q@x.test,,,yes\n";
    let r = app.post("/v1/contacts/import").bearer(&owner.token).raw("text/csv", csv).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let out = r.json();
    assert_eq!(out["created"], 2, "{out}");
    let failed: Vec<(u64, String)> = out["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["row"].as_u64().unwrap(), f["errors"].as_object().unwrap().keys().next().unwrap().clone()))
        .collect();
    assert_eq!(
        failed,
        vec![
            (3, "email".into()),
            (4, "status".into()),
            (5, "email".into()),
            (6, "first_name".into()),
            (7, "email".into())
        ]
    );
    assert!(out.to_string().contains(visible["id"].as_str().unwrap()), "a visible duplicate is named");
    let ann = app.get("/v1/contacts?q=ann%40x").bearer(&owner.token).send().await.json();
    assert_eq!(ann["data"][0]["tags"], json!(["a", "b"]));
    // A focused user's import never names contacts they cannot see.
    let r = app
        .post("/v1/contacts/import")
        .bearer(&focused.token)
        .raw("text/csv", "first_name,email\nMine,known@x.test\n")
        .send()
        .await;
    assert_eq!(r.json(), json!({"created": 1, "failed": []}));
    // ...but the owner of the contact with that email hears of it (SPEC §2), as after
    // POST /v1/contacts, with the email as the file wrote it.
    let notes = app.get("/v1/notifications").bearer(&owner.token).send().await.json();
    assert_eq!(notes["data"].as_array().unwrap().len(), 1, "{notes}");
    assert_eq!(notes["data"][0]["kind"], "duplicate_email");
    assert_eq!(notes["data"][0]["entity_id"], visible["id"]);
    assert!(notes["data"][0]["message"].as_str().unwrap().contains("known@x.test"));
    // Every imported contact has its create entry, tags included.
    let audit = app.get("/v1/audit?entity_type=contact&with_total=true").bearer(&owner.token).send().await.json();
    assert_eq!(audit["total"], 4, "Known, two imported by the owner, one by the focused user: {audit}");
    let ann_id = ann["data"][0]["id"].as_str().unwrap();
    let entry = audit["data"].as_array().unwrap().iter().find(|e| e["entity_id"] == ann_id).unwrap();
    assert_eq!(entry["action"], "create");
    assert_eq!(entry["actor_id"], owner.user_id.as_str());
    assert_eq!(entry["changes"]["tags"]["new"], json!(["a", "b"]));
    // Header and format errors.
    app.post("/v1/contacts/import")
        .bearer(&owner.token)
        .raw("text/csv", "first_name,password\nA,b\n")
        .send()
        .await
        .assert_problem(422);
    app.post("/v1/contacts/import")
        .bearer(&owner.token)
        .raw("text/csv", "last_name\nA\n")
        .send()
        .await
        .assert_problem(422);
    app.post("/v1/contacts/import").bearer(&owner.token).raw("application/json", "{}").send().await.assert_problem(415);
    let r = app
        .post("/v1/contacts/import")
        .bearer(&owner.token)
        .raw("text/csv", "first_name,last_name\n\"Broken,x\nok,y\n")
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["created"], 0);
    let r = app
        .post("/v1/contacts/import")
        .bearer(&owner.token)
        .raw("text/csv", "first_name,last_name\nA,B,C\nD,E\n")
        .send()
        .await;
    assert_eq!(r.json()["created"], 1);
    assert_eq!(r.json()["failed"][0]["row"], 2);
}

/// More rows than one multi-row statement holds (1,000): every row, tag and audit entry
/// is written, and a failing row in the middle changes nothing for the others.
async fn import_writes_many_rows_in_batches(app: TestApp) {
    let owner = app.signup().await;
    let mut csv = String::from("first_name,email,tags\n");
    for i in 0..2_345 {
        let tags = if i % 2 == 0 { "even;all" } else { "all" };
        let email = if i == 1_500 { "broken".to_owned() } else { format!("p{i}@x.test") };
        csv.push_str(&format!("P{i},{email},{tags}\n"));
    }
    let r = app.post("/v1/contacts/import").bearer(&owner.token).raw("text/csv", csv).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let out = r.json();
    assert_eq!(out["created"], 2_344);
    assert_eq!(out["failed"][0]["row"], 1_502, "header is line 1, row i is line i + 2");
    let count = |path: String| {
        let (app, token) = (&app, owner.token.clone());
        async move { app.get(&path).bearer(&token).send().await.json()["total"].clone() }
    };
    assert_eq!(count("/v1/contacts?with_total=true&limit=1".into()).await, 2_344);
    assert_eq!(count("/v1/contacts?with_total=true&limit=1&tag=all".into()).await, 2_344);
    assert_eq!(count("/v1/contacts?with_total=true&limit=1&tag=even".into()).await, 1_172);
    assert_eq!(count("/v1/audit?entity_type=contact&with_total=true&limit=1".into()).await, 2_344);
    let last = app.get("/v1/contacts?q=p2344%40x").bearer(&owner.token).send().await.json();
    assert_eq!(last["data"][0]["tags"], json!(["all", "even"]));
    assert_eq!(last["data"][0]["owner_id"], owner.user_id.as_str());
}

/// `with_total=true` counts at most 10,000 rows (SPEC §5: "bounded or estimated figure
/// for very large ones, which the response then says"), on contacts and on id-keyset lists.
async fn totals_are_exact_up_to_the_cap_then_flagged(app: TestApp) {
    let owner = app.signup().await;
    let mut csv = String::from("first_name,tags\n");
    for i in 0..10_001 {
        csv.push_str(if i < 3 { "Few,few\n" } else { "Many,\n" });
    }
    let r = app.post("/v1/contacts/import").bearer(&owner.token).raw("text/csv", csv).send().await;
    assert_eq!(r.json()["created"], 10_001, "{}", r.text());
    let total = |path: &'static str| {
        let (app, token) = (&app, owner.token.clone());
        async move {
            let page = app.get(path).bearer(&token).send().await.json();
            (page["total"].clone(), page["total_is_estimate"].clone())
        }
    };
    assert_eq!(total("/v1/contacts?limit=1&with_total=true").await, (json!(10_000), json!(true)));
    assert_eq!(total("/v1/contacts?limit=1&with_total=true&tag=few").await, (json!(3), json!(false)));
    assert_eq!(total("/v1/contacts?limit=1").await, (Value::Null, json!(false)));
    assert_eq!(total("/v1/audit?limit=1&with_total=true&entity_type=contact").await, (json!(10_000), json!(true)));
    assert_eq!(total("/v1/audit?limit=1&with_total=true&entity_type=account").await, (json!(1), json!(false)));
    assert_eq!(total("/v1/users?with_total=true").await, (json!(1), json!(false)));
}

async fn export_neutralises_formulas_and_needs_privilege(app: TestApp) {
    let owner = app.signup().await;
    let user = app.user(&owner, "user", &[]).await;
    let exporter = app.user(&owner, "user", &["export"]).await;
    contact(&app, &owner, json!({"first_name": "=cmd|' /C calc'!A0", "last_name": "+1", "tags": ["@x"]})).await;
    contact(&app, &owner, json!({"first_name": "Plain", "last_name": "Row, with comma"})).await;
    app.get("/v1/contacts/export").bearer(&user.token).send().await.assert_problem(403);
    let r = app.get("/v1/contacts/export").bearer(&exporter.token).send().await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/csv"));
    let mut reader = csv::Reader::from_reader(r.body.as_slice());
    let rows: Vec<csv::StringRecord> = reader.records().map(|x| x.unwrap()).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(&rows[0][1], "'=cmd|' /C calc'!A0");
    assert_eq!(&rows[0][2], "'+1");
    assert_eq!(&rows[0][9], "'@x");
    assert_eq!(&rows[1][2], "Row, with comma");
    let filtered = app.get("/v1/contacts/export?q=plain").bearer(&exporter.token).send().await;
    assert_eq!(filtered.text().lines().count(), 2);
    app.get("/v1/contacts/export?sort=bogus").bearer(&exporter.token).send().await.assert_problem(400);
}

async fn vcard_needs_privilege_and_escapes(app: TestApp) {
    let owner = app.signup().await;
    let user = app.user(&owner, "user", &[]).await;
    let c = contact(
        &app,
        &owner,
        json!({"first_name": "Jo;hn", "last_name": "Doe, Jr", "email": "jd@x.test", "phone": "+1 555"}),
    )
    .await;
    let path = format!("/v1/contacts/{}/vcard", c["id"].as_str().unwrap());
    app.get(&path).bearer(&user.token).send().await.assert_problem(403);
    let r = app.get(&path).bearer(&owner.token).send().await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/vcard"));
    let text = r.text();
    assert!(text.starts_with("BEGIN:VCARD\r\nVERSION:4.0\r\n"), "{text}");
    assert!(text.contains("EMAIL:jd@x.test"), "{text}");
    assert!(text.contains("N:Doe\\, Jr;Jo\\;hn;;;"), "{text}");
    assert!(text.trim_end().ends_with("END:VCARD"));
}

async fn focused_duplicate_email_notifies_the_owner(app: TestApp) {
    let owner = app.signup().await;
    let seller = app.user(&owner, "user", &[]).await;
    let focused = app.user(&owner, "focused", &[]).await;
    let existing = contact(&app, &seller, json!({"first_name": "Orig", "email": "Shared@X.test"})).await;
    let r = app
        .post("/v1/contacts")
        .bearer(&focused.token)
        .json(json!({"first_name": "Copy", "email": "shared@x.TEST"}))
        .send()
        .await;
    assert_eq!(r.status, 201, "the create still succeeds");
    let list = app.get("/v1/notifications").bearer(&seller.token).send().await.json();
    let n = &list["data"][0];
    assert_eq!(n["kind"], "duplicate_email");
    assert_eq!(n["entity_id"], existing["id"]);
    assert_eq!(n["read_at"], Value::Null);
    assert_eq!(app.get("/v1/notifications").bearer(&owner.token).send().await.json()["data"], json!([]));
    let id = n["id"].as_str().unwrap();
    app.post(&format!("/v1/notifications/{id}/read")).bearer(&owner.token).send().await.assert_problem(404);
    let r = app.post(&format!("/v1/notifications/{id}/read")).bearer(&seller.token).send().await;
    assert!(r.json()["read_at"].is_string());
    assert_eq!(app.get("/v1/notifications?unread=true").bearer(&seller.token).send().await.json()["data"], json!([]));
    // A non-focused creator triggers nothing; once the seller loses the contact, its
    // notification is gone from their list too.
    contact(&app, &owner, json!({"first_name": "Third", "email": "shared@x.test"})).await;
    assert_eq!(
        app.get("/v1/notifications").bearer(&seller.token).send().await.json()["data"].as_array().unwrap().len(),
        1
    );
    app.patch(&format!("/v1/contacts/{}", existing["id"].as_str().unwrap()))
        .bearer(&owner.token)
        .json(json!({"private": true, "owner_id": owner.user_id}))
        .send()
        .await;
    assert_eq!(app.get("/v1/notifications").bearer(&seller.token).send().await.json()["data"], json!([]));
}

async fn another_accounts_contact_is_404_everywhere(app: TestApp) {
    let mine = app.signup().await;
    let theirs = app.signup().await;
    let c = contact(&app, &theirs, json!({"first_name": "Theirs", "email": "t@x.test"})).await;
    let id = c["id"].as_str().unwrap();
    let missing = uuid::Uuid::now_v7().to_string();
    for target in [id, missing.as_str()] {
        let p = format!("/v1/contacts/{target}");
        let answers = vec![
            app.get(&p).bearer(&mine.token).send().await,
            app.patch(&p).bearer(&mine.token).json(json!({"first_name": "X"})).send().await,
            app.delete(&p).bearer(&mine.token).send().await,
            app.get(&format!("{p}/history")).bearer(&mine.token).send().await,
            app.get(&format!("{p}/vcard")).bearer(&mine.token).send().await,
            app.get(&format!("{p}/access")).bearer(&mine.token).send().await,
        ];
        for a in answers {
            assert_eq!(
                a.assert_problem(404),
                app.get(&format!("/v1/contacts/{missing}")).bearer(&mine.token).send().await.json()
            );
        }
        let bulk = app
            .post("/v1/contacts/bulk")
            .bearer(&mine.token)
            .json(json!({"ids": [target], "op": "add_tags", "value": ["x"]}))
            .send()
            .await;
        assert_eq!(bulk.json()["results"][0]["result"], "not_found");
    }
    for path in ["/v1/contacts", "/v1/contacts/export", "/v1/contacts?q=theirs"] {
        let r = app.get(path).bearer(&mine.token).send().await;
        assert!(!r.text().contains(id), "{path} leaks another account's contact");
    }
    let r = app
        .post("/v1/contacts/import")
        .bearer(&mine.token)
        .raw("text/csv", "first_name,email\nA,t@x.test\n")
        .send()
        .await;
    assert_eq!(r.json()["created"], 1, "another account's email is no duplicate");
    let r = app
        .post("/v1/contacts")
        .bearer(&mine.token)
        .json(json!({"first_name": "A", "owner_id": theirs.user_id}))
        .send()
        .await;
    r.assert_problem(422);
    let after = app.get(&format!("/v1/contacts/{id}")).bearer(&theirs.token).send().await.json();
    assert_eq!(after["tags"], json!([]));
    assert_eq!(after["version"], 1);
}

async fn bulk_privileges_and_values(app: TestApp) {
    let owner = app.signup().await;
    let user = app.user(&owner, "user", &[]).await;
    let focused = app.user(&owner, "focused", &["bulk_update_owner"]).await;
    let a = contact(&app, &user, json!({"first_name": "A"})).await;
    let f = contact(&app, &focused, json!({"first_name": "F"})).await;
    let ids = json!([a["id"], f["id"]]);
    app.post("/v1/contacts/bulk")
        .bearer(&user.token)
        .json(json!({"ids": ids, "op": "set_status", "value": "customer"}))
        .send()
        .await
        .assert_problem(403);
    app.post("/v1/contacts/bulk")
        .bearer(&user.token)
        .json(json!({"ids": ids, "op": "set_owner", "value": null}))
        .send()
        .await
        .assert_problem(403);
    let r = app
        .post("/v1/contacts/bulk")
        .bearer(&owner.token)
        .json(json!({"ids": ids, "op": "set_status", "value": "alien"}))
        .send()
        .await;
    assert!(r.assert_problem(422)["errors"]["status"].is_array());
    assert_eq!(
        app.get(&format!("/v1/contacts/{}", a["id"].as_str().unwrap())).bearer(&owner.token).send().await.json()
            ["version"],
        1,
        "a failed bulk changes nothing"
    );
    app.post("/v1/contacts/bulk")
        .bearer(&owner.token)
        .json(json!({"ids": ids, "op": "explode", "value": 1}))
        .send()
        .await
        .assert_problem(422);
    let r = app
        .post("/v1/contacts/bulk")
        .bearer(&owner.token)
        .json(json!({"ids": ids, "op": "add_tags", "value": "x"}))
        .send()
        .await;
    assert!(r.assert_problem(422)["errors"]["value"].is_array());
    // A focused user with bulk_update_owner hands over and loses the contact.
    let r = app
        .post("/v1/contacts/bulk")
        .bearer(&focused.token)
        .json(json!({"ids": ids, "op": "set_owner", "value": user.user_id}))
        .send()
        .await;
    assert_eq!(r.json()["results"], json!([{"id": a["id"], "result": "not_found"}, {"id": f["id"], "result": "ok"}]));
    assert_eq!(app.get("/v1/contacts").bearer(&focused.token).send().await.json()["data"], json!([]));
    let r = app
        .post("/v1/contacts/bulk")
        .bearer(&user.token)
        .json(json!({"ids": ids, "op": "remove_tags", "value": ["none"]}))
        .send()
        .await;
    assert_eq!(r.json()["results"][1]["result"], "ok");
}

async fn audit_hides_contacts_the_user_lost(app: TestApp) {
    let owner = app.signup().await;
    let focused = app.user(&owner, "focused", &[]).await;
    let colleague = app.user(&owner, "user", &[]).await;
    let c = contact(&app, &focused, json!({"first_name": "Trail"})).await;
    let mine = app.get("/v1/audit?entity_type=contact").bearer(&focused.token).send().await.json();
    assert_eq!(mine["data"].as_array().unwrap().len(), 1);
    app.patch(&format!("/v1/contacts/{}", c["id"].as_str().unwrap()))
        .bearer(&focused.token)
        .json(json!({"owner_id": colleague.user_id}))
        .send()
        .await;
    let after = app.get("/v1/audit?entity_type=contact").bearer(&focused.token).send().await.json();
    assert_eq!(after["data"], json!([]), "entries about a contact the user can no longer see are not shown");
    let all = app.get("/v1/audit?entity_type=contact").bearer(&owner.token).send().await.json();
    assert_eq!(all["data"].as_array().unwrap().len(), 2);
}

/// The hand-written timestamp serializer on the hot paths writes what chrono writes, for
/// every fraction width, both ends of the four-digit years and beyond them.
#[test]
fn timestamps_serialize_exactly_like_chrono() {
    #[derive(serde::Serialize)]
    struct Fast(#[serde(serialize_with = "crm_api::http::rfc3339")] chrono::DateTime<chrono::Utc>);
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let fractions = [0, 1, 999_999_999, 123_000_000, 123_456_000, 123_456_789, 1_000, 1_000_000, 500];
    let mut seconds: Vec<i64> = vec![0, -62_167_219_200, 253_402_300_799, 253_402_300_800, -62_167_219_201];
    seconds.extend((0..2_000).map(|_| (next() % 4_000_000_000) as i64));
    for (i, secs) in seconds.into_iter().enumerate() {
        for nanos in fractions.iter().copied().chain([(next() % 1_000_000_000) as u32, (i as u32 % 1_000) * 1_000]) {
            let ts = chrono::DateTime::from_timestamp(secs, nanos).unwrap();
            assert_eq!(
                serde_json::to_string(&Fast(ts)).unwrap(),
                serde_json::to_string(&ts).unwrap(),
                "{secs} {nanos}"
            );
        }
    }
}

/// Deep keyset pages settle on PostgreSQL's generic plan (the cursor bound is
/// `db::Opaque`): bound directly, the bound's default selectivity made the generic plan
/// look ~5× dearer than a custom one on an analyzed table, and every deep page was planned
/// again. Checked on the one pooled connection after walking pages of 5,000 contacts, in a
/// database of its own: next to many small accounts, the custom plan's knowledge that this
/// account is big makes PostgreSQL keep custom plans anyway (first pages too), which is
/// its call to make.
#[actix_web::test]
async fn deep_pages_use_a_generic_plan() {
    use diesel::prelude::*;
    use diesel::sql_types::{BigInt, Text};
    let Some(url) = crate::helpers::fresh_postgres_url() else {
        eprintln!("TEST_DATABASE_URL is not set: PostgreSQL-only test not run");
        return;
    };
    let mut settings = crate::helpers::settings(url);
    settings.db_pool_size = 1;
    let state = crm_api::app::state(settings).expect("state");
    let app = TestApp::with_state(state.clone()).await;
    let owner = app.signup().await;
    {
        let mut conn = state.pool.get().expect("the one pooled connection");
        let conn: &mut crm_api::db::DbConnection = &mut conn;
        diesel::sql_query(
            "INSERT INTO contacts (id, account_id, first_name, last_name, owner_id, private, search_text, \
             created_at, updated_at) \
             SELECT gen_random_uuid()::text, $1, 'N' || i, 'Deep', $2, FALSE, 'n' || i || ' deep', \
             now() - i * interval '1 minute', now() - i * interval '1 minute' FROM generate_series(1, 5000) i",
        )
        .bind::<Text, _>(&owner.account_id)
        .bind::<Text, _>(&owner.user_id)
        .execute(conn)
        .unwrap();
        diesel::sql_query("ANALYZE contacts").execute(conn).unwrap();
    }
    let mut path = "/v1/contacts?limit=50".to_owned();
    for _ in 0..10 {
        let page = app.get(&path).bearer(&owner.token).send().await;
        assert_eq!(page.status, 200, "{}", page.text());
        let cursor = page.json()["next_cursor"].as_str().expect("more pages").to_owned();
        path = format!("/v1/contacts?limit=50&cursor={cursor}");
    }
    #[derive(QueryableByName)]
    struct Plans {
        #[diesel(sql_type = BigInt)]
        generic: i64,
        #[diesel(sql_type = BigInt)]
        custom: i64,
    }
    let mut conn = state.pool.get().expect("the one pooled connection");
    let conn: &mut crm_api::db::DbConnection = &mut conn;
    let plans: Plans = diesel::sql_query(
        "SELECT COALESCE(SUM(generic_plans), 0)::bigint AS generic, COALESCE(SUM(custom_plans), 0)::bigint AS custom \
         FROM pg_prepared_statements WHERE statement LIKE '%\"contacts\".\"updated_at\" <= %'",
    )
    .get_result(conn)
    .unwrap();
    assert_eq!(plans.generic + plans.custom, 9, "nine deep pages, one statement");
    assert!(plans.generic >= 4, "deep pages planned each time: {} custom, {} generic", plans.custom, plans.generic);
}
