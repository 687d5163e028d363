//! Liveness and readiness probes (public).

use actix_web::{get, web, HttpResponse};
use diesel::connection::SimpleConnection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db;
use crate::error::AppError;
use crate::state::AppState;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`
    pub status: String,
}

/// Liveness: the process answers. Never touches the database.
///
/// Public: no token. Answers 200 `{"status":"ok"}` while the process serves requests, whatever
/// the state of the database, so a liveness probe never restarts the service over a database
/// outage; `GET /readyz` reports that.
#[utoipa::path(tag = "health", responses((status = 200, body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok".into() })
}

/// Readiness: the database answers within `DB_TIMEOUT_SECS`.
///
/// Public: no token. Runs `SELECT 1` on a pooled connection: 200 `{"status":"ok"}` when it
/// answers, 503 problem+json when no connection can be had in time or the query fails, so a
/// load balancer can take the instance out of rotation.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, body = Health),
        (status = 503, description = "The database is unreachable"),
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    db::run(&state.pool, |conn| conn.batch_execute("SELECT 1").map_err(|e| AppError::Unavailable(e.to_string())))
        .await?;
    Ok(HttpResponse::Ok().json(Health { status: "ok".into() }))
}
