//! Actions (next steps / tasks): visible with `view` on the contact, created with `view`,
//! updated or completed by the assignee or with `edit`, deleted with `edit`.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};

use crate::http::Date;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::access::{Actor, ContactScope, Level, Member, Role};
use crate::audit::{self, AuditCtx};
use crate::auth::Caller;
use crate::db::schema::{actions, contacts};
use crate::db::{self, DbConnection};
use crate::error::AppError;
use crate::http::{
    created, double_option, if_match, new_id, now, ok_with_etag, page_by_id, utc, Page, PageParams, ValidJson,
};
use crate::state::AppState;

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = actions)]
pub struct ActionRow {
    pub id: String,
    pub account_id: String,
    pub contact_id: String,
    pub assignee_id: Option<String>,
    pub text: String,
    pub due_date: Option<String>,
    pub status: String,
    pub completed_at: Option<chrono::NaiveDateTime>,
    pub version: i64,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    Open,
    Done,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ActionView {
    pub id: String,
    pub contact_id: String,
    pub assignee_id: Option<String>,
    pub text: String,
    pub due_date: Option<Date>,
    pub status: ActionStatus,
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::http::rfc3339")]
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl From<&ActionRow> for ActionView {
    fn from(r: &ActionRow) -> Self {
        ActionView {
            id: r.id.clone(),
            contact_id: r.contact_id.clone(),
            assignee_id: r.assignee_id.clone(),
            text: r.text.clone(),
            due_date: r.due_date.as_deref().and_then(Date::parse),
            status: if r.status == "done" { ActionStatus::Done } else { ActionStatus::Open },
            completed_at: r.completed_at.map(utc),
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
            version: r.version,
        }
    }
}

/// Body of `POST /v1/actions`; `assignee_id` defaults to the caller.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAction {
    pub contact_id: Uuid,
    pub assignee_id: Option<Uuid>,
    #[schema(min_length = 1, max_length = 2000)]
    #[validate(length(min = 1, max = 2000, message = "must be 1 to 2000 characters long"))]
    pub text: String,
    pub due_date: Option<Date>,
}

#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionPatch {
    pub assignee_id: Option<Uuid>,
    #[schema(min_length = 1, max_length = 2000)]
    #[validate(length(min = 1, max = 2000, message = "must be 1 to 2000 characters long"))]
    pub text: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub due_date: Option<Option<Date>>,
    pub status: Option<ActionStatus>,
}

#[derive(Debug, Deserialize, IntoParams, validator::Validate)]
#[into_params(parameter_in = Query)]
pub struct ActionFilter {
    pub contact_id: Option<Uuid>,
    pub assignee_id: Option<Uuid>,
    pub status: Option<ActionStatus>,
    /// Only actions due before this date.
    pub due_before: Option<Date>,
}

fn status_text(s: ActionStatus) -> &'static str {
    match s {
        ActionStatus::Open => "open",
        ActionStatus::Done => "done",
    }
}

/// Actions whose contact the scope sees at `view` or above, with the level on it.
fn find(conn: &mut DbConnection, scope: &ContactScope, id: &str) -> Result<(ActionRow, Level), AppError> {
    let (row, rank): (ActionRow, i32) = actions::table
        .inner_join(contacts::table.on(contacts::id.eq(actions::contact_id)))
        .filter(actions::account_id.eq(scope.account_id().to_owned()))
        .filter(scope.at_least(Level::View))
        .filter(actions::id.eq(id))
        .select((actions::all_columns, scope.level()))
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound)?;
    Ok((row, Level::from_rank(rank)))
}

/// SPEC §3: the assignee is an active user of the account, and a focused assignee must
/// own the contact (asked of the assignee's own scope: a focused user sees exactly the
/// contacts they own).
fn check_assignee(conn: &mut DbConnection, actor: &Actor, assignee: &str, contact_id: &str) -> Result<(), AppError> {
    let Some(member) = Member::load(conn, actor, assignee)?.filter(|m| m.active) else {
        return Err(AppError::field("assignee_id", "must be an active user of this account"));
    };
    if member.role == Role::Focused && member.level_on(conn, contact_id)? < Level::View {
        return Err(AppError::field("assignee_id", "a focused user can only be assigned actions on contacts they own"));
    }
    Ok(())
}

/// Actions whose contact the caller sees at `view` or above, oldest first.
///
/// Filter with `contact_id`, `assignee_id`, `status` and `due_before`. Actions of contacts the
/// caller sees at `limited` or not at all are never listed or counted. Pass `next_cursor` back
/// as `cursor` for the next page.
#[utoipa::path(
    tag = "actions",
    params(ActionFilter, PageParams),
    responses(
        (status = 200, body = Page<ActionView>),
        (status = 400, description = "Malformed query or cursor"),
        (status = 401, description = "Missing or invalid token"),
    ),
    security(("bearer" = []))
)]
#[get("/actions")]
pub async fn list_actions(
    state: web::Data<AppState>,
    caller: Caller,
    filter: crate::http::Query<ActionFilter>,
    page: crate::http::Query<PageParams>,
) -> Result<HttpResponse, AppError> {
    let (limit, after, with_total) = (page.limit(), page.after_id()?, page.with_total.unwrap_or(false));
    let f = filter.into_inner();
    let out = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        let scope = ContactScope::of(&actor);
        let filtered = || {
            let mut q = actions::table
                .filter(actions::account_id.eq(actor.account_id().to_owned()))
                .filter(scope.contact_in(actions::contact_id, Level::View))
                .into_boxed();
            if let Some(v) = f.contact_id {
                q = q.filter(actions::contact_id.eq(v.to_string()));
            }
            if let Some(v) = f.assignee_id {
                q = q.filter(actions::assignee_id.eq(v.to_string()));
            }
            if let Some(v) = f.status {
                q = q.filter(actions::status.eq(status_text(v)));
            }
            if let Some(v) = f.due_before {
                q = q.filter(actions::due_date.lt(v.to_string()));
            }
            q
        };
        let total = with_total.then(|| crate::db::bounded_total(conn, filtered().select(actions::id))).transpose()?;
        let mut q = filtered();
        if let Some(after) = after {
            q = q.filter(actions::id.gt(crate::db::Opaque::new(after)));
        }
        let rows: Vec<ActionRow> = crate::db::Limit(q.order(actions::id.asc()), limit + 1).load(conn)?;
        Ok(page_by_id(rows.iter().map(ActionView::from).collect(), limit, total, |a: &ActionView| &a.id))
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Creates an action on a contact the caller sees at `view` or above.
///
/// Answers 201 with `Location`. Without `assignee_id` the caller is the assignee. The assignee
/// must be an active user of the account, and a focused assignee must own the contact (422). A
/// hidden or missing `contact_id` answers 422, so its existence is not revealed.
#[utoipa::path(
    tag = "actions",
    request_body = NewAction,
    responses(
        (status = 201, body = ActionView, headers(("Location" = String))),
        (status = 400, description = "Malformed JSON"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "The contact is visible at limited only"),
        (status = 413, description = "Body too large"),
        (status = 415, description = "Body is not JSON"),
        (status = 422, description = "Invalid fields; contact not visible; assignee inactive, foreign, or focused without owning the contact"),
    ),
    security(("bearer" = []))
)]
#[post("/actions")]
pub async fn create_action(
    state: web::Data<AppState>,
    actor: Actor,
    body: ValidJson<NewAction>,
) -> Result<HttpResponse, AppError> {
    let input = body.0;
    let view = db::write(&state.pool, move |conn| {
        let scope = ContactScope::of(&actor);
        let contact_id = input.contact_id.to_string();
        if crate::deals::queries::contact_level(conn, &scope, &contact_id, "contact_id")? < Level::View {
            return Err(AppError::forbidden("Creating an action needs view access to the contact."));
        }
        let assignee = input.assignee_id.map(|u| u.to_string()).unwrap_or_else(|| actor.user_id().to_owned());
        check_assignee(conn, &actor, &assignee, &contact_id)?;
        let at = now();
        let row = ActionRow {
            id: new_id(),
            account_id: actor.account_id().to_owned(),
            contact_id,
            assignee_id: Some(assignee),
            text: input.text,
            due_date: input.due_date.map(|d| d.to_string()),
            status: "open".into(),
            completed_at: None,
            version: 1,
            created_at: at,
            updated_at: at,
        };
        diesel::insert_into(actions::table).values(&row).execute(conn)?;
        let view = ActionView::from(&row);
        audit::record(conn, &AuditCtx::from(&actor), "action", &row.id, None, Some(&view))?;
        Ok(view)
    })
    .await?;
    Ok(created(format!("/v1/actions/{}", view.id), &view))
}

/// One action (404 unless the caller sees its contact at `view` or above).
///
/// Send the `ETag` back as `If-Match` on `PATCH /v1/actions/{id}`.
#[utoipa::path(
    tag = "actions",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = ActionView, headers(("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 404, description = "Missing, not visible or another account's"),
    ),
    security(("bearer" = []))
)]
#[get("/actions/{id}")]
pub async fn get_action(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    let (row, _) = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        find(conn, &ContactScope::of(&actor), &id)
    })
    .await?;
    Ok(ok_with_etag(row.version, &ActionView::from(&row)))
}

/// Changes an action: the assignee, or edit on its contact. The rule is in the `UPDATE`
/// itself (`WHERE id AND version AND <assignee or edit on the contact>`), so a grant lost
/// between the read and the write changes nothing.
fn change(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    expected: Option<i64>,
    apply: impl Fn(&mut ActionRow),
) -> Result<ActionView, AppError> {
    let scope = ContactScope::of(actor);
    crate::http::optimistic(expected, || {
        let (before, level) = find(conn, &scope, id)?;
        if expected.is_some_and(|v| v != before.version) {
            return Err(AppError::PreconditionFailed);
        }
        let is_assignee = before.assignee_id.as_deref() == Some(actor.user_id());
        if !is_assignee && level < Level::Edit {
            return Err(AppError::forbidden(
                "Only the assignee or a user with edit access to the contact may change it.",
            ));
        }
        let mut next = before.clone();
        apply(&mut next);
        if next.assignee_id != before.assignee_id {
            if let Some(a) = &next.assignee_id {
                check_assignee(conn, actor, a, &next.contact_id)?;
            }
        }
        let unchanged = (&next.assignee_id, &next.text, &next.due_date, &next.status)
            == (&before.assignee_id, &before.text, &before.due_date, &before.status);
        if unchanged {
            return Ok(Some(ActionView::from(&before)));
        }
        next.version += 1;
        next.updated_at = now();
        let may_change =
            actions::assignee_id.eq(actor.user_id().to_owned()).or(scope.contact_in(actions::contact_id, Level::Edit));
        let n = diesel::update(
            actions::table
                .filter(actions::id.eq(&before.id))
                .filter(actions::account_id.eq(scope.account_id().to_owned()))
                .filter(actions::version.eq(before.version))
                .filter(scope.contact_in(actions::contact_id, Level::View))
                .filter(may_change),
        )
        .set((
            actions::assignee_id.eq(&next.assignee_id),
            actions::text.eq(&next.text),
            actions::due_date.eq(&next.due_date),
            actions::status.eq(&next.status),
            actions::completed_at.eq(next.completed_at),
            actions::version.eq(next.version),
            actions::updated_at.eq(next.updated_at),
        ))
        .execute(conn)?;
        if n == 0 {
            return Ok(None);
        }
        let (old, new) = (ActionView::from(&before), ActionView::from(&next));
        audit::record(conn, &AuditCtx::from(actor), "action", &next.id, Some(&old), Some(&new))?;
        Ok(Some(new))
    })
}

fn set_status(row: &mut ActionRow, status: ActionStatus) {
    match (status, row.status.as_str()) {
        (ActionStatus::Done, "open") => row.completed_at = Some(now()),
        (ActionStatus::Open, "done") => row.completed_at = None,
        _ => {}
    }
    row.status = status_text(status).into();
}

/// Changes an action (the assignee, or edit on the contact).
///
/// Partial. `status: done` stamps `completed_at`, back to `open` clears it. A new assignee gets
/// the same checks as on create (422). 412 when `If-Match` is stale or the action changed
/// meanwhile.
#[utoipa::path(
    tag = "actions",
    request_body = ActionPatch,
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "ETag from GET")),
    responses(
        (status = 200, body = ActionView, headers(("ETag" = String))),
        (status = 400, description = "Malformed JSON"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Neither the assignee nor edit on the contact"),
        (status = 404, description = "Missing, not visible or another account's"),
        (status = 412, description = "If-Match does not match"),
        (status = 413, description = "Body too large"),
        (status = 415, description = "Body is not JSON"),
        (status = 422, description = "Invalid fields or assignee"),
    ),
    security(("bearer" = []))
)]
#[patch("/actions/{id}")]
pub async fn patch_action(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<Uuid>,
    body: ValidJson<ActionPatch>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    let wanted = if_match(&req)?;
    let p = body.0;
    let view = db::write(&state.pool, move |conn| {
        change(conn, &actor, &id, wanted, |row| {
            if let Some(a) = p.assignee_id {
                row.assignee_id = Some(a.to_string());
            }
            if let Some(t) = &p.text {
                row.text = t.clone();
            }
            if let Some(d) = p.due_date {
                row.due_date = d.map(|d| d.to_string());
            }
            if let Some(s) = p.status {
                set_status(row, s);
            }
        })
    })
    .await?;
    Ok(ok_with_etag(view.version, &view))
}

/// Marks an action done (the assignee, or edit on the contact); idempotent.
///
/// Answers the action with `status: done`; `completed_at` is kept when it was done already. 403
/// for a caller who is neither the assignee nor at `edit` on the contact.
#[utoipa::path(
    tag = "actions",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = ActionView),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Neither the assignee nor edit on the contact"),
        (status = 404, description = "Missing, not visible or another account's"),
    ),
    security(("bearer" = []))
)]
#[post("/actions/{id}/complete")]
pub async fn complete_action(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    let view =
        db::write(&state.pool, move |conn| change(conn, &actor, &id, None, |row| set_status(row, ActionStatus::Done)))
            .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Deletes an action (edit on the contact).
///
/// Answers 204. Being the assignee is not enough: it needs `edit` on the contact (403
/// otherwise).
#[utoipa::path(
    tag = "actions",
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Visible, but below edit on the contact"),
        (status = 404, description = "Missing, not visible or another account's"),
    ),
    security(("bearer" = []))
)]
#[delete("/actions/{id}")]
pub async fn delete_action(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    db::write(&state.pool, move |conn| {
        let scope = ContactScope::of(&actor);
        let (row, level) = find(conn, &scope, &id)?;
        if level < Level::Edit {
            return Err(AppError::forbidden("Deleting an action needs edit access to its contact."));
        }
        let n = diesel::delete(
            actions::table
                .filter(actions::id.eq(&row.id))
                .filter(actions::account_id.eq(scope.account_id().to_owned()))
                .filter(scope.contact_in(actions::contact_id, Level::Edit)),
        )
        .execute(conn)?;
        if n == 0 {
            // Gone, or out of reach, since it was read: nothing changed, nothing to audit.
            return Err(AppError::NotFound);
        }
        audit::record::<ActionView>(
            conn,
            &AuditCtx::from(&actor),
            "action",
            &row.id,
            Some(&ActionView::from(&row)),
            None,
        )
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// How many open actions of the scope (the whole account, for owner/admin) are assigned
/// to `user_id`.
pub fn count_open_assigned(conn: &mut DbConnection, scope: &ContactScope, user_id: &str) -> Result<i64, AppError> {
    Ok(actions::table
        .filter(actions::account_id.eq(scope.account_id().to_owned()))
        .filter(scope.contact_in(actions::contact_id, Level::View))
        .filter(actions::assignee_id.eq(user_id))
        .filter(actions::status.eq("open"))
        .count()
        .get_result(conn)?)
}

/// Assigns every action of `from` (open or done) to `to`, each with a new version and its
/// own audit entry (SPEC §3: a deleted user's actions never change silently).
pub fn move_assigned(conn: &mut DbConnection, actor: &Actor, from: &str, to: Option<&str>) -> Result<usize, AppError> {
    let scope = ContactScope::of(actor);
    let moved: Vec<(String, String)> = diesel::update(actions::table)
        .filter(actions::account_id.eq(scope.account_id().to_owned()))
        .filter(scope.contact_in(actions::contact_id, Level::Edit))
        .filter(actions::assignee_id.eq(from))
        .set((actions::assignee_id.eq(to), actions::version.eq(actions::version + 1), actions::updated_at.eq(now())))
        .returning((actions::id, actions::contact_id))
        .get_results(conn)?;
    let rows: Vec<(String, Option<String>)> = moved.into_iter().map(|(id, c)| (id, Some(c))).collect();
    audit::record_moves(conn, &AuditCtx::from(actor), "action", &rows, "assignee_id", Some(from), to)?;
    Ok(rows.len())
}

/// Deletes the actions of a contact that is being deleted (the caller may delete the
/// contact), each with its own audit entry.
pub fn delete_for_contact(conn: &mut DbConnection, actor: &Actor, contact_id: &str) -> Result<(), AppError> {
    let scope = ContactScope::of(actor);
    let rows: Vec<ActionRow> = diesel::delete(
        actions::table
            .filter(actions::account_id.eq(scope.account_id().to_owned()))
            .filter(actions::contact_id.eq(contact_id))
            .filter(scope.contact_in(actions::contact_id, Level::Edit)),
    )
    .returning(actions::all_columns)
    .get_results(conn)?;
    let ctx = AuditCtx::from(actor);
    let mut entries = Vec::with_capacity(rows.len());
    for row in &rows {
        entries.extend(audit::entry::<ActionView>(&ctx, "action", &row.id, Some(&ActionView::from(row)), None)?);
    }
    crate::db::insert_batch!(conn, crate::db::schema::audit_log::table, &entries)?;
    Ok(())
}
