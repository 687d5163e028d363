//! Model-based test of the webhook payload rules (SPEC §10 over §2): a random account in
//! which every user who may subscribe has a webhook taking all events, to a real receiver
//! that verifies every signature. After each write of a random sequence (contacts created,
//! changed, handed over by a focused user, bulk, import, deleted with their deals; deals;
//! office grants; roles; the account default), the events each receiver got are compared
//! with what a reference model written here from the spec's text says that user may see:
//! the same events (none missing, none extra), at the model's level, with exactly the
//! fields that level shows. Set WEBHOOK_MODEL_SEED to replay a run; the seed is printed
//! with every failure.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::helpers::{Session, TestApp};
use crate::webhooks::{deliver, subscribe, Receiver};

crate::both_backends!(webhook_model_from_hidden, webhook_model_from_limited);

const LEVELS: [&str; 5] = ["hidden", "limited", "view", "edit", "manage"];
const BASIC: [&str; 6] = ["access", "email", "first_name", "id", "last_name", "phone"];
const PERMISSIONS: [(&str, usize); 4] = [("none", 0), ("view", 2), ("edit", 3), ("manage", 4)];

struct User {
    session: Session,
    role: &'static str,
    /// office id -> rank (0 none, 2 view, 3 edit, 4 manage)
    offices: HashMap<String, usize>,
    /// The receiver endpoint of this user's webhook (users who may hold one).
    hook: Option<String>,
    received: usize,
}

#[derive(Clone)]
struct Contact {
    id: String,
    owner: Option<String>,
    office: Option<String>,
    private: bool,
    first_name: String,
}

struct Deal {
    id: String,
    contact: String,
}

struct World {
    app: TestApp,
    rx: Receiver,
    users: Vec<User>,
    offices: Vec<String>,
    contacts: Vec<Contact>,
    deals: Vec<Deal>,
    default_rank: usize,
    names: usize,
}

/// SPEC §2, as its text reads.
fn level(u: &User, c: &Contact, default_rank: usize) -> usize {
    let owns = c.owner.as_deref() == Some(u.session.user_id.as_str());
    let office_rank = c.office.as_ref().and_then(|o| u.offices.get(o)).copied().unwrap_or(0);
    match u.role {
        "owner" | "admin" => 4,
        "focused" => {
            if owns {
                3
            } else {
                0
            }
        }
        _ => {
            if c.private && !owns {
                0
            } else if owns {
                office_rank.max(3)
            } else if c.owner.is_none() && c.office.is_none() {
                3
            } else {
                default_rank.max(office_rank)
            }
        }
    }
}

/// An expected or received event: type, entity id, the level its payload shows.
type Event = (String, String, Option<usize>);

impl World {
    fn owner(&self) -> &Session {
        &self.users[0].session
    }

    fn name(&mut self) -> String {
        self.names += 1;
        format!("N{}x{}", self.names, uuid::Uuid::new_v4().simple())
    }

    fn levels(&self, c: &Contact) -> Vec<usize> {
        self.users.iter().map(|u| level(u, c, self.default_rank)).collect()
    }

    fn none(&self) -> Vec<Vec<Event>> {
        vec![Vec::new(); self.users.len()]
    }

    /// The events of a change of one contact from `before` to `after` (the model's levels
    /// for each user), SPEC §10: lost, came into view, or changed as that user sees it.
    fn contact_change(&self, want: &mut [Vec<Event>], before: &Contact, after: &Contact, basic_changed: bool) {
        let (b, a) = (self.levels(before), self.levels(after));
        for (i, events) in want.iter_mut().enumerate() {
            let ev = |t: &str, l: Option<usize>| (t.to_owned(), after.id.clone(), l);
            match (b[i], a[i]) {
                (0, 0) => {}
                (_, 0) => events.push(ev("contact.access_lost", None)),
                (0, l) => events.push(ev("contact.updated", Some(l))),
                // Both limited: only a change of the basic fields shows.
                (1, 1) if !basic_changed => {}
                (_, l) => events.push(ev("contact.updated", Some(l))),
            }
        }
    }
}

async fn drain(w: &World) {
    for _ in 0..200 {
        if deliver(&w.app, w.owner()).await == 0 {
            return;
        }
    }
    panic!("deliveries never ran out");
}

/// What each subscriber received since the last call, checked field by field against the
/// model's level, as comparable events.
async fn received(w: &mut World, seed: u64, op: &str) -> Vec<Vec<Event>> {
    let mut out = Vec::new();
    for i in 0..w.users.len() {
        let Some(name) = w.users[i].hook.clone() else {
            out.push(Vec::new());
            continue;
        };
        let got = w.rx.received(&name).await;
        let mut events = Vec::new();
        for g in &got[w.users[i].received..] {
            assert_eq!(g["verified"], true, "seed {seed}, {op}: {g}");
            let (kind, data) = (g["body"]["type"].as_str().unwrap().to_owned(), &g["body"]["data"]);
            let (id, shown) = match kind.as_str() {
                "access.changed" => (data["user_id"].as_str().unwrap().to_owned(), None),
                _ => (data["id"].as_str().unwrap().to_owned(), data.get("access").map(|a| a.as_str().unwrap())),
            };
            let level = shown.map(|a| LEVELS.iter().position(|l| *l == a).unwrap());
            if kind.starts_with("contact.") {
                check_contact_fields(w, seed, op, &kind, data, level);
            }
            if kind.ends_with(".deleted") || kind == "contact.access_lost" {
                assert_eq!(data, &json!({"id": id}), "seed {seed}, {op}: an id only");
            }
            events.push((kind, id, level));
        }
        w.users[i].received = got.len();
        events.sort();
        out.push(events);
    }
    out
}

/// A contact payload shows exactly its level's fields, with the current values.
fn check_contact_fields(w: &World, seed: u64, op: &str, kind: &str, data: &Value, level: Option<usize>) {
    let Some(level) = level else { return };
    let keys: Vec<&str> = {
        let mut k: Vec<&str> = data.as_object().unwrap().keys().map(String::as_str).collect();
        k.sort_unstable();
        k
    };
    if level == 1 {
        assert_eq!(keys, BASIC, "seed {seed}, {op}: {kind} at limited shows only basic fields: {data}");
    } else {
        assert!(keys.contains(&"owner_id") && keys.contains(&"private"), "seed {seed}, {op}: full at {level}: {data}");
    }
    if let Some(c) = w.contacts.iter().find(|c| json!(c.id) == data["id"]) {
        assert_eq!(data["first_name"], json!(c.first_name), "seed {seed}, {op}: the payload is current: {data}");
    }
}

async fn check(w: &mut World, seed: u64, op: &str, mut want: Vec<Vec<Event>>) {
    drain(w).await;
    let got = received(w, seed, op).await;
    for (i, events) in want.iter_mut().enumerate() {
        if w.users[i].hook.is_none() {
            events.clear();
        }
        events.sort();
        assert_eq!(
            got[i], *events,
            "seed {seed}, after {op}: what {} ({}) received (left) differs from the model (right)",
            w.users[i].session.user_id, w.users[i].role
        );
    }
}

async fn build(app: TestApp, rng: &mut StdRng, default_access: &str) -> World {
    let owner = app.signup().await;
    let r = app
        .patch("/v1/account")
        .bearer(&owner.token)
        .json(json!({"settings": {"default_contact_access": default_access}}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut offices = Vec::new();
    for i in 0..3 {
        offices.push(app.office(&owner, &format!("Office {i}")).await);
    }
    let mut users =
        vec![User { session: owner.clone(), role: "owner", offices: HashMap::new(), hook: None, received: 0 }];
    for role in ["admin", "user", "user", "user", "focused", "focused"] {
        let session = app.user(&owner, role, &[]).await;
        let mut user = User { session, role, offices: HashMap::new(), hook: None, received: 0 };
        for office in &offices {
            if rng.random_bool(0.4) {
                continue;
            }
            let (permission, rank) = PERMISSIONS[rng.random_range(0..4usize)];
            let path = format!("/v1/users/{}/offices/{office}", user.session.user_id);
            let r = app.put(&path).bearer(&owner.token).json(json!({"permission": permission})).send().await;
            assert_eq!(r.status, 201, "{}", r.text());
            user.offices.insert(office.clone(), rank);
        }
        users.push(user);
    }
    let rx = Receiver::start();
    for (i, user) in users.iter_mut().enumerate() {
        if user.role == "focused" {
            continue;
        }
        let name = format!("u{i}");
        let hook = subscribe(&app, &user.session, &rx.url(&name), json!(["*"])).await;
        rx.secret(&name, hook["secret"].as_str().unwrap()).await;
        user.hook = Some(name);
    }
    let default_rank = LEVELS.iter().position(|l| *l == default_access).unwrap();
    World { app, rx, users, offices, contacts: Vec::new(), deals: Vec::new(), default_rank, names: 0 }
}

fn pick_owner(w: &World, rng: &mut StdRng) -> Option<String> {
    if rng.random_bool(0.2) {
        None
    } else {
        Some(w.users[rng.random_range(0..w.users.len())].session.user_id.clone())
    }
}

fn pick_office(w: &World, rng: &mut StdRng) -> Option<String> {
    if rng.random_bool(0.3) {
        None
    } else {
        Some(w.offices[rng.random_range(0..w.offices.len())].clone())
    }
}

async fn create_contact(w: &mut World, rng: &mut StdRng, seed: u64) {
    let c = Contact {
        id: String::new(),
        owner: pick_owner(w, rng),
        office: pick_office(w, rng),
        private: rng.random_bool(0.2),
        first_name: w.name(),
    };
    let body = json!({"first_name": c.first_name, "last_name": "Hook", "owner_id": c.owner,
                      "office_id": c.office, "private": c.private});
    let r = w.app.post("/v1/contacts").bearer(&w.owner().token).json(body).send().await;
    assert_eq!(r.status, 201, "{}", r.text());
    let c = Contact { id: r.json()["id"].as_str().unwrap().to_owned(), ..c };
    let mut want = w.none();
    for (i, l) in w.levels(&c).into_iter().enumerate() {
        if l > 0 {
            want[i].push(("contact.created".into(), c.id.clone(), Some(l)));
        }
    }
    w.contacts.push(c);
    check(w, seed, "create a contact", want).await;
}

/// One change of one contact: its owner, office, private flag, a basic or another field.
fn change_of(w: &mut World, rng: &mut StdRng, c: &Contact) -> Option<(Value, Contact, bool, &'static str)> {
    let mut next = c.clone();
    let (body, basic, what) = match rng.random_range(0..5u32) {
        0 => {
            next.owner = pick_owner(w, rng);
            (json!({"owner_id": next.owner}), false, "owner")
        }
        1 => {
            next.office = pick_office(w, rng);
            (json!({"office_id": next.office}), false, "office")
        }
        2 => {
            next.private = !c.private;
            (json!({"private": next.private}), false, "private")
        }
        3 => {
            next.first_name = w.name();
            (json!({"first_name": next.first_name}), true, "first_name")
        }
        _ => (json!({"job_title": w.name()}), false, "job_title"),
    };
    // A PATCH that changes nothing writes nothing and sends nothing: not a step.
    if matches!(what, "owner" | "office") && (&next.owner, &next.office) == (&c.owner, &c.office) {
        return None;
    }
    Some((body, next, basic, what))
}

async fn patch_contact(w: &mut World, rng: &mut StdRng, seed: u64) {
    if w.contacts.is_empty() {
        return;
    }
    let i = rng.random_range(0..w.contacts.len());
    let before = w.contacts[i].clone();
    let Some((body, after, basic, what)) = change_of(w, rng, &before) else { return };
    let r = w.app.patch(&format!("/v1/contacts/{}", before.id)).bearer(&w.owner().token).json(body).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut want = w.none();
    w.contact_change(&mut want, &before, &after, basic);
    w.contacts[i] = after;
    check(w, seed, &format!("PATCH {what}"), want).await;
}

/// A focused user hands one of their contacts to someone else (and loses it).
async fn hand_over(w: &mut World, rng: &mut StdRng, seed: u64) {
    let focused: Vec<usize> = (0..w.users.len()).filter(|&i| w.users[i].role == "focused").collect();
    let f = focused[rng.random_range(0..focused.len())];
    let uid = w.users[f].session.user_id.clone();
    let Some(i) = w.contacts.iter().position(|c| c.owner.as_deref() == Some(uid.as_str())) else {
        // Give them one first (a create by the owner, checked like any other).
        let c = Contact {
            id: String::new(),
            owner: Some(uid.clone()),
            office: pick_office(w, rng),
            private: false,
            first_name: w.name(),
        };
        let body = json!({"first_name": c.first_name, "last_name": "Hook", "owner_id": uid, "office_id": c.office});
        let r = w.app.post("/v1/contacts").bearer(&w.owner().token).json(body).send().await;
        assert_eq!(r.status, 201, "{}", r.text());
        let c = Contact { id: r.json()["id"].as_str().unwrap().to_owned(), ..c };
        let mut want = w.none();
        for (i, l) in w.levels(&c).into_iter().enumerate() {
            if l > 0 {
                want[i].push(("contact.created".into(), c.id.clone(), Some(l)));
            }
        }
        w.contacts.push(c);
        return check(w, seed, "create a focused user's contact", want).await;
    };
    let before = w.contacts[i].clone();
    let others: Vec<String> =
        w.users.iter().filter(|u| u.session.user_id != uid).map(|u| u.session.user_id.clone()).collect();
    let to = others[rng.random_range(0..others.len())].clone();
    let after = Contact { owner: Some(to.clone()), ..before.clone() };
    let token = w.users[f].session.token.clone();
    let r =
        w.app.patch(&format!("/v1/contacts/{}", before.id)).bearer(&token).json(json!({"owner_id": to})).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut want = w.none();
    w.contact_change(&mut want, &before, &after, false);
    w.contacts[i] = after;
    check(w, seed, "a focused user's hand-over", want).await;
}

async fn bulk_owner(w: &mut World, rng: &mut StdRng, seed: u64) {
    if w.contacts.len() < 3 {
        return;
    }
    let to = pick_owner(w, rng);
    let mut picked: Vec<usize> = (0..w.contacts.len()).collect();
    for k in 0..3 {
        let j = rng.random_range(k..picked.len());
        picked.swap(k, j);
    }
    picked.truncate(3);
    let ids: Vec<String> = picked.iter().map(|&i| w.contacts[i].id.clone()).collect();
    let r = w
        .app
        .post("/v1/contacts/bulk")
        .bearer(&w.owner().token)
        .json(json!({"ids": ids, "op": "set_owner", "value": to}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut want = w.none();
    for &i in &picked {
        let before = w.contacts[i].clone();
        if before.owner == to {
            continue; // unchanged: no write, no event
        }
        let after = Contact { owner: to.clone(), ..before.clone() };
        w.contact_change(&mut want, &before, &after, false);
        w.contacts[i] = after;
    }
    check(w, seed, "bulk set_owner", want).await;
}

async fn import(w: &mut World, rng: &mut StdRng, seed: u64) {
    let rows: Vec<(String, Option<String>)> = (0..2).map(|_| (w.name(), pick_owner(w, rng))).collect();
    let mut csv = String::from("first_name,last_name,owner_id\n");
    for (name, owner) in &rows {
        csv.push_str(&format!("{name},Hook,{}\n", owner.clone().unwrap_or_default()));
    }
    let r = w.app.post("/v1/contacts/import").bearer(&w.owner().token).raw("text/csv", csv).send().await;
    assert_eq!((r.status, r.json()["created"].clone()), (200, json!(2)), "{}", r.text());
    let mut want = w.none();
    for (name, owner) in rows {
        let found = w.app.get(&format!("/v1/contacts?q={name}")).bearer(&w.owner().token).send().await.json();
        let id = found["data"][0]["id"].as_str().unwrap().to_owned();
        // An empty cell imports as the importer's own contact, as a create without one does.
        let owner = owner.or_else(|| Some(w.owner().user_id.clone()));
        let c = Contact { id, owner, office: None, private: false, first_name: name };
        for (i, l) in w.levels(&c).into_iter().enumerate() {
            if l > 0 {
                want[i].push(("contact.created".into(), c.id.clone(), Some(l)));
            }
        }
        w.contacts.push(c);
    }
    check(w, seed, "import", want).await;
}

async fn delete_contact(w: &mut World, rng: &mut StdRng, seed: u64) {
    if w.contacts.is_empty() {
        return;
    }
    let c = w.contacts.remove(rng.random_range(0..w.contacts.len()));
    let r = w.app.delete(&format!("/v1/contacts/{}", c.id)).bearer(&w.owner().token).send().await;
    assert_eq!(r.status, 204, "{}", r.text());
    let mut want = w.none();
    let levels = w.levels(&c);
    let deals: Vec<String> = w.deals.iter().filter(|d| d.contact == c.id).map(|d| d.id.clone()).collect();
    w.deals.retain(|d| d.contact != c.id);
    for (i, l) in levels.into_iter().enumerate() {
        if l > 0 {
            want[i].push(("contact.deleted".into(), c.id.clone(), None));
        }
        if l >= 2 {
            want[i].extend(deals.iter().map(|d| ("deal.deleted".to_owned(), d.clone(), None)));
        }
    }
    check(w, seed, "delete a contact", want).await;
}

async fn create_deal(w: &mut World, rng: &mut StdRng, seed: u64) {
    if w.contacts.is_empty() {
        return;
    }
    let c = w.contacts[rng.random_range(0..w.contacts.len())].clone();
    let body = json!({"contact_id": c.id, "name": "Deal", "amount": 10, "currency": "EUR"});
    let r = w.app.post("/v1/deals").bearer(&w.owner().token).json(body).send().await;
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let mut want = w.none();
    for (i, l) in w.levels(&c).into_iter().enumerate() {
        if l >= 2 {
            want[i].push(("deal.created".into(), id.clone(), Some(l)));
        }
    }
    w.deals.push(Deal { id, contact: c.id });
    check(w, seed, "create a deal", want).await;
}

async fn grant(w: &mut World, rng: &mut StdRng, seed: u64) {
    let u = rng.random_range(1..w.users.len());
    let office = w.offices[rng.random_range(0..w.offices.len())].clone();
    let path = format!("/v1/users/{}/offices/{office}", w.users[u].session.user_id);
    let owner = w.owner().token.clone();
    let changed = if w.users[u].offices.contains_key(&office) && rng.random_bool(0.3) {
        let r = w.app.delete(&path).bearer(&owner).send().await;
        assert_eq!(r.status, 204, "{}", r.text());
        w.users[u].offices.remove(&office);
        true
    } else {
        let (permission, rank) = PERMISSIONS[rng.random_range(0..4usize)];
        let r = w.app.put(&path).bearer(&owner).json(json!({"permission": permission})).send().await;
        assert!(r.status == 200 || r.status == 201, "{}", r.text());
        w.users[u].offices.insert(office, rank) != Some(rank)
    };
    let mut want = w.none();
    if changed {
        want[u].push(("access.changed".into(), w.users[u].session.user_id.clone(), None));
    }
    check(w, seed, "an office grant", want).await;
}

async fn set_default(w: &mut World, rng: &mut StdRng, seed: u64) {
    let rank = [0, 1, 2, 3][rng.random_range(0..4usize)];
    if rank == w.default_rank {
        return;
    }
    let body = json!({"settings": {"default_contact_access": LEVELS[rank]}});
    let r = w.app.patch("/v1/account").bearer(&w.owner().token).json(body).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    w.default_rank = rank;
    let mut want = w.none();
    for (i, u) in w.users.iter().enumerate() {
        want[i].push(("access.changed".into(), u.session.user_id.clone(), None));
    }
    check(w, seed, "the account default", want).await;
}

/// A user becomes admin or an admin user again (subscribers stay non-focused).
async fn role(w: &mut World, rng: &mut StdRng, seed: u64) {
    let candidates: Vec<usize> = (1..w.users.len()).filter(|&i| matches!(w.users[i].role, "user" | "admin")).collect();
    let u = candidates[rng.random_range(0..candidates.len())];
    let next = if w.users[u].role == "admin" { "user" } else { "admin" };
    let path = format!("/v1/users/{}", w.users[u].session.user_id);
    let r = w.app.patch(&path).bearer(&w.owner().token).json(json!({"role": next})).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    w.users[u].role = next;
    let mut want = w.none();
    want[u].push(("access.changed".into(), w.users[u].session.user_id.clone(), None));
    check(w, seed, "a role change", want).await;
}

fn seed() -> u64 {
    std::env::var("WEBHOOK_MODEL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| rand::rng().random())
}

async fn run(app: TestApp, default_access: &str) {
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut w = build(app, &mut rng, default_access).await;
    // What the setup sent (none of it is about contacts): start from here.
    drain(&w).await;
    received(&mut w, seed, "setup").await;
    for _ in 0..6 {
        create_contact(&mut w, &mut rng, seed).await;
    }
    for _ in 0..60 {
        match rng.random_range(0..20u32) {
            0..=2 => create_contact(&mut w, &mut rng, seed).await,
            3..=7 => patch_contact(&mut w, &mut rng, seed).await,
            8..=9 => hand_over(&mut w, &mut rng, seed).await,
            10 => bulk_owner(&mut w, &mut rng, seed).await,
            11 => import(&mut w, &mut rng, seed).await,
            12 => delete_contact(&mut w, &mut rng, seed).await,
            13..=14 => create_deal(&mut w, &mut rng, seed).await,
            15..=16 => grant(&mut w, &mut rng, seed).await,
            17 => set_default(&mut w, &mut rng, seed).await,
            _ => role(&mut w, &mut rng, seed).await,
        }
    }
}

async fn webhook_model_from_hidden(app: TestApp) {
    run(app, "hidden").await;
}

async fn webhook_model_from_limited(app: TestApp) {
    run(app, "limited").await;
}
