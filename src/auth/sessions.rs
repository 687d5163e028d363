//! Refresh-token sessions: rotation on every use, and a reused (already rotated) token
//! revokes its whole family, since only a thief or a replay would present it again.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{random_token, token_digest};
use crate::db::schema::{refresh_tokens as rt, users};
use crate::db::DbConnection;
use crate::error::AppError;
use crate::http::{new_id, now};
use crate::state::AppState;
use crate::users::model::UserRow;

/// Access and refresh token pair.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Lifetime of the access token in seconds.
    pub expires_in: i64,
}

#[derive(Insertable)]
#[diesel(table_name = rt)]
struct NewRefreshToken {
    id: String,
    account_id: String,
    user_id: String,
    family_id: String,
    token_hash: String,
    expires_at: chrono::NaiveDateTime,
    created_at: chrono::NaiveDateTime,
}

/// Issues an access token and a refresh token, starting a new family unless one is given.
pub fn issue(
    conn: &mut DbConnection,
    state: &AppState,
    user_id: &str,
    account_id: &str,
    family_id: Option<String>,
) -> Result<Tokens, AppError> {
    let refresh = random_token();
    let created_at = now();
    let ttl = chrono::Duration::seconds(state.settings.refresh_token_ttl_secs as i64);
    diesel::insert_into(rt::table)
        .values(NewRefreshToken {
            id: new_id(),
            account_id: account_id.to_owned(),
            user_id: user_id.to_owned(),
            family_id: family_id.unwrap_or_else(new_id),
            token_hash: token_digest(&refresh),
            expires_at: created_at + ttl,
            created_at,
        })
        .execute(conn)?;
    Ok(Tokens {
        access_token: state.jwt.issue(user_id, account_id)?,
        refresh_token: refresh,
        token_type: "Bearer".into(),
        expires_in: state.jwt.ttl_secs,
    })
}

/// What presenting a refresh token led to. A reuse is not an `Err`: the revocation of
/// the family must be committed, and then the caller answers 401.
pub enum Rotation {
    Rotated(Tokens),
    Rejected,
    ReuseDetected,
}

type TokenRow =
    (String, String, String, chrono::NaiveDateTime, Option<chrono::NaiveDateTime>, Option<chrono::NaiveDateTime>);

pub fn rotate(conn: &mut DbConnection, state: &AppState, presented: &str) -> Result<Rotation, AppError> {
    let row: Option<TokenRow> = rt::table
        .filter(rt::token_hash.eq(token_digest(presented)))
        .select((rt::id, rt::user_id, rt::family_id, rt::expires_at, rt::used_at, rt::revoked_at))
        .first(conn)
        .optional()?;
    let Some((id, user_id, family_id, expires_at, used_at, revoked_at)) = row else {
        return Ok(Rotation::Rejected);
    };
    let at = now();
    if revoked_at.is_some() {
        return Ok(Rotation::Rejected);
    }
    if used_at.is_some() {
        revoke_family(conn, &family_id)?;
        return Ok(Rotation::ReuseDetected);
    }
    if expires_at <= at {
        return Ok(Rotation::Rejected);
    }
    let user: Option<UserRow> = users::table.filter(users::id.eq(&user_id)).first(conn).optional()?;
    let Some(user) = user.filter(|u| u.active) else {
        revoke_family(conn, &family_id)?;
        return Ok(Rotation::Rejected);
    };
    // `used_at IS NULL` in the update makes two concurrent refreshes of one token race
    // safely: only one of them rotates.
    let claimed = diesel::update(rt::table.filter(rt::id.eq(&id)).filter(rt::used_at.is_null()))
        .set(rt::used_at.eq(Some(at)))
        .execute(conn)?;
    if claimed == 0 {
        revoke_family(conn, &family_id)?;
        return Ok(Rotation::ReuseDetected);
    }
    let tokens = issue(conn, state, &user.id, &user.account_id, Some(family_id))?;
    Ok(Rotation::Rotated(tokens))
}

pub fn revoke_family(conn: &mut DbConnection, family_id: &str) -> Result<(), AppError> {
    diesel::update(rt::table.filter(rt::family_id.eq(family_id)).filter(rt::revoked_at.is_null()))
        .set(rt::revoked_at.eq(Some(now())))
        .execute(conn)?;
    Ok(())
}

/// Logout: revokes the family of the presented token if it belongs to the caller.
pub fn revoke_for_user(conn: &mut DbConnection, user_id: &str, presented: &str) -> Result<(), AppError> {
    let family: Option<String> = rt::table
        .filter(rt::token_hash.eq(token_digest(presented)))
        .filter(rt::user_id.eq(user_id))
        .select(rt::family_id)
        .first(conn)
        .optional()?;
    if let Some(family) = family {
        revoke_family(conn, &family)?;
    }
    Ok(())
}

/// Revokes every session of a user (deactivation, password change).
pub fn revoke_all_for_user(conn: &mut DbConnection, user_id: &str) -> Result<(), AppError> {
    diesel::update(rt::table.filter(rt::user_id.eq(user_id)).filter(rt::revoked_at.is_null()))
        .set(rt::revoked_at.eq(Some(now())))
        .execute(conn)?;
    Ok(())
}
