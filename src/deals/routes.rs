//! `/v1/deals` handlers.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use uuid::Uuid;

use super::model::*;
use super::queries;
use crate::access::{Actor, ContactScope, Privilege};
use crate::auth::Caller;
use crate::db;
use crate::error::AppError;
use crate::http::{created, if_match, new_id, ok_with_etag, page_by_id, Page, PageParams, Query, ValidJson};
use crate::state::AppState;

/// Deals whose contact the caller sees at `view` or above, oldest first.
///
/// Filter with `contact_id`, `organization_id`, `stage`, `status`, `owner_id` and
/// `cf.<key>` (and `.gte`/`.lte` for number and date fields) as on the contact list. Deals of
/// contacts the caller sees at `limited` or not at all are never listed or counted. Pass
/// `next_cursor` back as `cursor` for the next page.
#[utoipa::path(
    tag = "deals",
    params(DealFilter, PageParams),
    responses(
        (status = 200, body = Page<DealView>),
        (status = 400, description = "Malformed query or cursor"),
        (status = 401, description = "Missing or invalid token"),
    ),
    security(("bearer" = []))
)]
#[get("/deals")]
pub async fn list_deals(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    filter: Query<DealFilter>,
    page: Query<PageParams>,
) -> Result<HttpResponse, AppError> {
    let keys = page.keys()?;
    let mut filter = filter.into_inner();
    let raw = crate::custom_fields::queries::parse_conditions(req.query_string())?;
    let out = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        let entity = crate::custom_fields::model::Entity::Deal;
        filter.custom = crate::custom_fields::queries::resolve(conn, actor.account_id(), entity, &raw)?;
        let (rows, total) = queries::list(conn, &ContactScope::of(&actor), &filter, &keys)?;
        Ok(page_by_id(queries::views(conn, rows)?, keys.limit, total, |d: &DealView| &d.id))
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Creates a deal on a contact the caller may edit.
///
/// Answers 201 with `Location` and `ETag`. 403 when the contact is visible below `edit`; 422
/// when it is hidden or missing, so its existence is not revealed. `stage` defaults to the
/// account's first deal stage, `status` to `pending`, `owner_id` to the caller; `amount` is an
/// integer in minor units.
#[utoipa::path(
    tag = "deals",
    request_body = NewDeal,
    responses(
        (status = 201, body = DealView, headers(("Location" = String), ("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "The contact is visible but below edit"),
        (status = 422, description = "Invalid fields; contact_id not a contact the caller can see; stage not in deal_stages"),
        crate::http::BodyErrors,
    ),
    security(("bearer" = []))
)]
#[post("/deals")]
pub async fn create_deal(
    state: web::Data<AppState>,
    actor: Actor,
    body: ValidJson<NewDeal>,
) -> Result<HttpResponse, AppError> {
    let input = body.0;
    let view = db::write(&state.pool, move |conn| queries::create(conn, &actor, input)).await?;
    Ok(created(format!("/v1/deals/{}", view.id), Some(view.version), &view))
}

/// One deal (404 unless the caller sees its contact at `view` or above).
///
/// With its line items. Send the `ETag` back as `If-Match` on `PATCH /v1/deals/{id}`.
#[utoipa::path(
    tag = "deals",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = DealView, headers(("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 404, description = "Missing, not visible or another account's"),
    ),
    security(("bearer" = []))
)]
#[get("/deals/{id}")]
pub async fn get_deal(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    let view = db::run(&state.pool, move |conn| {
        let actor = caller.load(conn)?;
        let (row, level) = queries::find(conn, &ContactScope::of(&actor), &id)?;
        queries::view(conn, &row, level)
    })
    .await?;
    Ok(ok_with_etag(view.version, &view))
}

/// Changes a deal (edit on its contact; moving it needs edit on the new contact too).
///
/// Partial: `null` clears a nullable field. `stage` must be one of the account's `deal_stages`
/// (422). 403 below `edit` on the contact; 412 when `If-Match` is stale or the deal changed
/// meanwhile.
#[utoipa::path(
    tag = "deals",
    request_body = DealPatch,
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "ETag from GET")),
    responses(
        (status = 200, body = DealView, headers(("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Visible, but the contact is below edit"),
        (status = 404, description = "Missing, not visible or another account's"),
        (status = 412, description = "If-Match does not match"),
        (status = 422, description = "Invalid or unknown fields"),
        crate::http::BodyErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/deals/{id}")]
pub async fn patch_deal(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<Uuid>,
    body: ValidJson<DealPatch>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    let wanted = if_match(&req)?;
    let patch = body.0;
    let view = db::write(&state.pool, move |conn| queries::update(conn, &actor, &id, patch, wanted)).await?;
    Ok(ok_with_etag(view.version, &view))
}

/// Deletes a deal: owner/admin, or `delete_deals` with edit on its contact.
///
/// Answers 204; its line items go with it. 403 when the caller sees it but lacks `delete_deals`
/// or `edit` on its contact.
#[utoipa::path(
    tag = "deals",
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Visible, but not deletable by the caller"),
        (status = 404, description = "Missing, not visible or another account's"),
    ),
    security(("bearer" = []))
)]
#[delete("/deals/{id}")]
pub async fn delete_deal(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    db::write(&state.pool, move |conn| queries::delete(conn, &actor, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Count and sum of amounts per stage and currency over exactly the deals the caller can
/// see, in one SQL query (owner/admin or `view_pipeline`).
///
/// One row per stage and currency with `count` and `amount` (the sum, in minor units), stages
/// in the order of the account's `deal_stages`, retired stages after them. Deals of contacts
/// the caller sees below `view` are not counted. 403 for callers without `view_pipeline`.
#[utoipa::path(
    tag = "deals",
    responses(
        (status = 200, body = Pipeline),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Needs owner/admin or view_pipeline"),
    ),
    security(("bearer" = []))
)]
#[get("/deals/pipeline")]
pub async fn pipeline(state: web::Data<AppState>, actor: Actor) -> Result<HttpResponse, AppError> {
    if !actor.has(Privilege::ViewPipeline) {
        return Err(AppError::forbidden("The pipeline needs the view_pipeline privilege."));
    }
    let out = db::run(&state.pool, move |conn| queries::pipeline(conn, &actor)).await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Adds a line item (`edit_deal_items` and edit on the contact); answers the whole deal.
///
/// Answers 201 with the whole deal (its `version` goes up) and the item's `Location`. Audited
/// as a change of the deal.
#[utoipa::path(
    tag = "deals",
    request_body = NewItem,
    params(("id" = Uuid, Path)),
    responses(
        (status = 201, body = DealView, headers(("Location" = String), ("ETag" = String))),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "No edit_deal_items, or the contact is below edit"),
        (status = 404, description = "Missing, not visible or another account's"),
        (status = 422, description = "Invalid fields"),
        crate::http::BodyErrors,
    ),
    security(("bearer" = []))
)]
#[post("/deals/{id}/items")]
pub async fn add_item(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<Uuid>,
    body: ValidJson<NewItem>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner().to_string();
    let input = body.0;
    let item_id = new_id();
    let iid = item_id.clone();
    let view = db::write(&state.pool, move |conn| queries::add_item(conn, &actor, &id, &iid, &input)).await?;
    Ok(created(format!("/v1/deals/{}/items/{item_id}", view.id), Some(view.version), &view))
}

/// Changes a line item; answers the whole deal.
///
/// Partial: `name`, `quantity`, `unit_price`. Needs `edit_deal_items` and `edit` on the deal's
/// contact; the deal's `version` goes up.
#[utoipa::path(
    tag = "deals",
    request_body = ItemPatch,
    params(("id" = Uuid, Path), ("item_id" = Uuid, Path)),
    responses(
        (status = 200, body = DealView),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "No edit_deal_items, or the contact is below edit"),
        (status = 404, description = "Deal or item missing or not visible"),
        (status = 422, description = "Invalid or unknown fields"),
        crate::http::BodyErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/deals/{id}/items/{item_id}")]
pub async fn patch_item(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<(Uuid, Uuid)>,
    body: ValidJson<ItemPatch>,
) -> Result<HttpResponse, AppError> {
    let (id, item_id) = path.into_inner();
    let (id, item_id) = (id.to_string(), item_id.to_string());
    let p = body.0;
    let view = db::write(&state.pool, move |conn| queries::patch_item(conn, &actor, &id, &item_id, &p)).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Removes a line item.
///
/// Answers 204. Needs `edit_deal_items` and `edit` on the deal's contact; the deal's `version`
/// goes up.
#[utoipa::path(
    tag = "deals",
    params(("id" = Uuid, Path), ("item_id" = Uuid, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "No edit_deal_items, or the contact is below edit"),
        (status = 404, description = "Deal or item missing or not visible"),
    ),
    security(("bearer" = []))
)]
#[delete("/deals/{id}/items/{item_id}")]
pub async fn delete_item(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, AppError> {
    let (id, item_id) = path.into_inner();
    let (id, item_id) = (id.to_string(), item_id.to_string());
    db::write(&state.pool, move |conn| queries::delete_item(conn, &actor, &id, &item_id)).await?;
    Ok(HttpResponse::NoContent().finish())
}
