//! The transactional outbox (SPEC §10): every write of a contact, deal, action, note, call or
//! organization, and every change of someone's access, queues its events in the write's own
//! transaction, so a committed change always has them and a rolled-back one never does.
//!
//! Each payload is the entity as the subscription's user sees it right after the change,
//! read through the same scoped queries as that user's GET (`seen_by` of each resource).
//! All subscribers are served by one statement per step whatever their number (a `UNION
//! ALL` of one scoped query each), and the deliveries are inserted in one batch, so a write
//! costs a constant number of round trips: one query when the account has no matching
//! subscription, about five when it has any.
//!
//! Who gets what, per subscriber (the rules the model test holds the API to):
//! - `*.created` / `*.updated`: when the user sees the entity afterwards. A contact that
//!   comes into view (a new owner, office or grant) arrives as `contact.updated`; an update
//!   that changes nothing the user sees (a `limited` contact's non-basic fields) is not sent.
//! - `contact.access_lost` `{id}`: the user saw the contact before the change and not after.
//! - `*.deleted` `{id}`: the user saw the entity before it went. Deleting a contact deletes
//!   its deals, actions, notes and calls first: each gets its own `*.deleted`, then the
//!   contact's.
//! - `access.changed` `{user_id, changed}`: the user's own role, privileges or office grants,
//!   or the account's default, changed; the user resynchronises.
//!
//! Only subscriptions that are active, of active users who may hold them (not focused), get
//! events. The worker checks both again, and the level, before every attempt.

use std::collections::HashMap;

use diesel::prelude::*;
use serde_json::{json, Value};

use super::model::{NewDelivery, WebhookRow};
use super::queries::envelope;
use crate::access::{Actor, ContactScope, Level};
use crate::db::schema::webhook_deliveries as wd;
use crate::db::DbConnection;
use crate::error::AppError;
use crate::http::{new_id, now};
use crate::interactions::model::Kind as InteractionKind;

/// What happened to the entities of one write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Created,
    Updated,
    Deleted,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Created => "created",
            Op::Updated => "updated",
            Op::Deleted => "deleted",
        }
    }
}

/// The resources that hang off a contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Derived {
    Deal,
    Action,
    Note,
    Call,
}

impl Derived {
    pub fn as_str(self) -> &'static str {
        match self {
            Derived::Deal => "deal",
            Derived::Action => "action",
            Derived::Note => "note",
            Derived::Call => "call",
        }
    }
}

impl From<InteractionKind> for Derived {
    fn from(kind: InteractionKind) -> Derived {
        match kind {
            InteractionKind::Note => Derived::Note,
            InteractionKind::Call => Derived::Call,
        }
    }
}

/// The subscriptions of one account that may receive an entity type's events, and the
/// actors they act as.
pub struct Subscribers {
    account_id: String,
    actors: Vec<Actor>,
    /// Each subscription with the index of its actor.
    hooks: Vec<(WebhookRow, usize)>,
    rows: Vec<NewDelivery>,
}

impl Subscribers {
    /// The account's active subscriptions naming an event with `prefix` (or `*`), of active
    /// users who may hold them, with their actors: one query.
    pub fn load(conn: &mut DbConnection, account_id: &str, prefix: &str) -> Result<Subscribers, AppError> {
        let mut out =
            Subscribers { account_id: account_id.to_owned(), actors: Vec::new(), hooks: Vec::new(), rows: Vec::new() };
        let wanted = |h: &WebhookRow| {
            h.event_list().iter().any(|e| e == "*" || e.strip_prefix(prefix).is_some_and(|r| r.starts_with('.')))
        };
        for (hook, actor) in crate::auth::subscriptions_with_actors(conn, account_id)? {
            if !wanted(&hook) || !actor.role().may_hold_tokens() {
                continue;
            }
            let who = match out.actors.iter().position(|a| a.user_id() == actor.user_id()) {
                Some(i) => i,
                None => {
                    out.actors.push(actor);
                    out.actors.len() - 1
                }
            };
            out.hooks.push((hook, who));
        }
        Ok(out)
    }

    pub fn is_empty(&self) -> bool {
        self.hooks.is_empty()
    }

    fn scopes(&self) -> Vec<ContactScope> {
        self.actors.iter().map(ContactScope::of).collect()
    }

    /// Queues `event` for every subscription of actor `who` that names it.
    fn queue(&mut self, who: usize, event: &str, entity: (&str, &str), level: Option<Level>, data: &Value) {
        let at = now();
        for (hook, _) in self.hooks.iter().filter(|(h, i)| *i == who && h.wants(event)) {
            let id = new_id();
            self.rows.push(NewDelivery {
                payload: envelope(&id, event, at, data.clone()),
                account_id: self.account_id.clone(),
                webhook_id: hook.id.clone(),
                event_type: event.to_owned(),
                entity_type: entity.0.to_owned(),
                entity_id: entity.1.to_owned(),
                level: level.map(Level::rank),
                status: super::model::DeliveryStatus::Pending.as_str().into(),
                attempts: 0,
                next_attempt_at: at,
                created_at: at,
                id,
            });
        }
    }

    /// Writes what was queued, in one batch, in the caller's transaction.
    fn write(self, conn: &mut DbConnection) -> Result<(), AppError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        crate::db::insert_batch!(conn, wd::table, &self.rows)?;
        crate::db::mark_queued();
        Ok(())
    }
}

/// Per actor (by index): what it sees of each contact, `(level, payload)` by contact id.
type Views = Vec<HashMap<String, (Level, Value)>>;

fn to_json<T: serde::Serialize>(value: &T) -> Result<Value, AppError> {
    serde_json::to_value(value).map_err(|e| AppError::Internal(format!("payload: {e}")))
}

/// Each subscriber's view of `ids`: `(level, payload)` by contact id, per actor.
fn contact_views(conn: &mut DbConnection, subs: &Subscribers, ids: &[String]) -> Result<Views, AppError> {
    let mut out = vec![HashMap::new(); subs.actors.len()];
    if subs.is_empty() || ids.is_empty() {
        return Ok(out);
    }
    for (who, row, level) in crate::contacts::queries::seen_by(conn, &subs.scopes(), ids, Level::Limited)? {
        let id = row.id.clone();
        let payload = to_json(&crate::contacts::model::ContactOut::from_row(row, level))?;
        out[who].insert(id, (level, payload));
    }
    Ok(out)
}

/// The subscribers' view of some contacts before a write that may change or delete them;
/// `emit` after the write compares it with the view afterwards.
pub struct ContactWatch {
    subs: Subscribers,
    /// `None`: the write leaves who sees what as it was (`watch_contact_fields`).
    before: Option<Views>,
    basic_changed: bool,
}

/// Call before writing `ids` (none for a create).
pub fn watch_contacts(conn: &mut DbConnection, account_id: &str, ids: &[String]) -> Result<ContactWatch, AppError> {
    let subs = Subscribers::load(conn, account_id, "contact")?;
    let before = contact_views(conn, &subs, ids)?;
    Ok(ContactWatch { subs, before: Some(before), basic_changed: true })
}

/// Call before a write that changes neither owner, office nor `private` of the contacts:
/// every subscriber's level stays what it is (SPEC §2 reads only those three and the
/// subscriber's own grants), so no view from before is needed. `basic_changed`: whether a
/// basic field changed, the only change a `limited` subscriber sees.
pub fn watch_contact_fields(
    conn: &mut DbConnection,
    account_id: &str,
    basic_changed: bool,
) -> Result<ContactWatch, AppError> {
    let subs = Subscribers::load(conn, account_id, "contact")?;
    Ok(ContactWatch { subs, before: None, basic_changed })
}

impl ContactWatch {
    /// Queues the events of the write just made to `ids`.
    pub fn emit(mut self, conn: &mut DbConnection, ids: &[String], op: Op) -> Result<(), AppError> {
        if self.subs.is_empty() {
            return Ok(());
        }
        let after = match op {
            Op::Deleted => vec![HashMap::new(); self.subs.actors.len()],
            _ => contact_views(conn, &self.subs, ids)?,
        };
        let Some(before) = &self.before else {
            for (who, after) in after.iter().enumerate() {
                for (id, (level, payload)) in after {
                    if *level == Level::Limited && !self.basic_changed {
                        continue;
                    }
                    let event = if op == Op::Created { "contact.created" } else { "contact.updated" };
                    self.subs.queue(who, event, ("contact", id), Some(*level), payload);
                }
            }
            return self.subs.write(conn);
        };
        for (who, after) in after.iter().enumerate() {
            for id in ids {
                let gone = json!({ "id": id });
                let (event, level, data) = match (before[who].get(id), after.get(id)) {
                    (Some(_), _) if op == Op::Deleted => ("contact.deleted", None, &gone),
                    (Some(_), None) => ("contact.access_lost", None, &gone),
                    (None, Some((level, payload))) if op == Op::Created => ("contact.created", Some(*level), payload),
                    (None, Some((level, payload))) => ("contact.updated", Some(*level), payload),
                    (Some((_, old)), Some((level, payload))) if old != payload => {
                        ("contact.updated", Some(*level), payload)
                    }
                    _ => continue,
                };
                self.subs.queue(who, event, ("contact", id), level, data);
            }
        }
        self.subs.write(conn)
    }
}

/// Queues `<kind>.created|updated` for deals, actions, notes or calls just written: to each
/// subscriber that sees them now, as it sees them.
pub fn derived_changed(
    conn: &mut DbConnection,
    account_id: &str,
    kind: Derived,
    ids: &[String],
    op: Op,
) -> Result<(), AppError> {
    let mut subs = Subscribers::load(conn, account_id, kind.as_str())?;
    if subs.is_empty() || ids.is_empty() {
        return Ok(());
    }
    let scopes = subs.scopes();
    let seen: Vec<(usize, String, Level, Value)> = match kind {
        Derived::Deal => crate::deals::queries::seen_by(conn, &scopes, ids)?
            .into_iter()
            .map(|(who, v)| Ok((who, v.id.clone(), v.access, to_json(&v)?)))
            .collect::<Result<_, AppError>>()?,
        Derived::Action => crate::actions::queries::seen_by(conn, &scopes, ids)?
            .into_iter()
            .map(|(who, v, level)| Ok((who, v.id.clone(), level, to_json(&v)?)))
            .collect::<Result<_, AppError>>()?,
        Derived::Note | Derived::Call => {
            let k = if kind == Derived::Note { InteractionKind::Note } else { InteractionKind::Call };
            crate::interactions::queries::seen_by(conn, &scopes, k, ids)?
                .into_iter()
                .map(|(who, v, level)| Ok((who, v.id().to_owned(), level, to_json(&v)?)))
                .collect::<Result<_, AppError>>()?
        }
    };
    let event = format!("{}.{}", kind.as_str(), op.as_str());
    for (who, id, level, payload) in &seen {
        subs.queue(*who, &event, (kind.as_str(), id), Some(*level), payload);
    }
    subs.write(conn)
}

/// Queues `<kind>.deleted` `{id}` for deals, actions, notes or calls being deleted, given as
/// `(id, contact id)`: to each subscriber that sees the contact at `view` (what it takes to
/// see them). Call while the contact still exists (a deleted contact's dependents go first).
pub fn derived_deleted(
    conn: &mut DbConnection,
    account_id: &str,
    kind: Derived,
    items: &[(String, String)],
) -> Result<(), AppError> {
    let mut subs = Subscribers::load(conn, account_id, kind.as_str())?;
    if subs.is_empty() || items.is_empty() {
        return Ok(());
    }
    let mut contacts: Vec<String> = items.iter().map(|(_, c)| c.clone()).collect();
    contacts.sort_unstable();
    contacts.dedup();
    // What hangs off a contact is seen at `view` on it (SPEC §3, §8).
    let seen = crate::contacts::queries::seen_by(conn, &subs.scopes(), &contacts, Level::View)?;
    let event = format!("{}.deleted", kind.as_str());
    for (who, contact, _) in seen {
        for (id, _) in items.iter().filter(|(_, c)| *c == contact.id) {
            subs.queue(who, &event, (kind.as_str(), id), None, &json!({ "id": id }));
        }
    }
    subs.write(conn)
}

/// Queues `organization.created|updated` (as each subscriber sees it) or
/// `organization.deleted` `{id}` (call before the row goes, to those who see it).
pub fn organizations(conn: &mut DbConnection, account_id: &str, ids: &[String], op: Op) -> Result<(), AppError> {
    let mut subs = Subscribers::load(conn, account_id, "organization")?;
    if subs.is_empty() || ids.is_empty() {
        return Ok(());
    }
    let seen = crate::organizations::queries::seen_by(conn, &subs.actors, ids)?;
    let event = format!("organization.{}", op.as_str());
    for (who, view) in seen {
        let (level, data) = match op {
            Op::Deleted => (None, json!({ "id": view.id })),
            _ => (Some(Level::View), to_json(&view)?),
        };
        subs.queue(who, &event, ("organization", &view.id), level, &data);
    }
    subs.write(conn)
}

/// What changed about a user's access, for `access.changed`.
pub const ROLE: &str = "role";
pub const PRIVILEGES: &str = "privileges";
pub const OFFICES: &str = "offices";
pub const DEFAULT_ACCESS: &str = "default_contact_access";

/// Queues `access.changed` `{user_id, changed}` to the subscriptions of `users` (all of the
/// account's when `None`: the account default changed), after the change.
pub fn access_changed(
    conn: &mut DbConnection,
    account_id: &str,
    users: Option<&[String]>,
    changed: &[&str],
) -> Result<(), AppError> {
    let mut subs = Subscribers::load(conn, account_id, "access")?;
    for who in 0..subs.actors.len() {
        let user = subs.actors[who].user_id().to_owned();
        if users.is_some_and(|list| !list.contains(&user)) {
            continue;
        }
        let data = json!({ "user_id": user, "changed": changed });
        subs.queue(who, "access.changed", ("user", &user), None, &data);
    }
    subs.write(conn)
}

/// The subscriber's level now on the entity a payload was made for (worker, before each
/// attempt): the contact's level for contacts and what hangs off them, `view` for a
/// visible organization, `hidden` when it is gone or out of sight.
pub fn level_now(conn: &mut DbConnection, actor: &Actor, entity_type: &str, id: &str) -> Result<Level, AppError> {
    let scope = ContactScope::of(actor);
    let found = |r: Result<Level, AppError>| match r {
        Ok(level) => Ok(level),
        Err(AppError::NotFound) => Ok(Level::Hidden),
        Err(e) => Err(e),
    };
    match entity_type {
        "contact" => Ok(scope.level_on(conn, id)?),
        "deal" => found(crate::deals::queries::find(conn, &scope, id).map(|(_, l)| l)),
        "action" => found(crate::actions::queries::find(conn, &scope, id).map(|(_, l)| l)),
        "note" => found(crate::interactions::queries::find(conn, &scope, InteractionKind::Note, id).map(|(_, l)| l)),
        "call" => found(crate::interactions::queries::find(conn, &scope, InteractionKind::Call, id).map(|(_, l)| l)),
        "organization" => found(crate::organizations::queries::find(conn, actor, id).map(|_| Level::View)),
        other => Err(AppError::Internal(format!("no access check for {other} deliveries"))),
    }
}
