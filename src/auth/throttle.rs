//! Login throttling in the database (SPEC §12): replicas share one budget per email and
//! per client address, so N replicas allow the limit, not N times it. Each key is a token
//! bucket (capacity: the per-minute limit, refilled over a minute), taken from with one
//! `INSERT … ON CONFLICT DO UPDATE … RETURNING` per attempt; a refused attempt takes
//! nothing, so the bucket refills while an attacker keeps trying. Rows whose bucket has
//! refilled say nothing any more and are deleted by the next attempt, so spraying random
//! emails cannot grow the table beyond two minutes of attempts.
//!
//! The time is the process's clock (replicas' clocks agree to well under a second, which
//! moves a bucket by a fraction of a token).

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Double, Text};

use crate::db::DbConnection;
use crate::error::AppError;

/// A bucket untouched this long is full again: its row can go.
const FORGET_MS: i64 = 120_000;

#[derive(QueryableByName)]
struct Taken {
    #[diesel(sql_type = Bool)]
    allowed: bool,
}

/// `$1` key, `$2` capacity, `$3` now (ms), `$4` tokens per ms. The refilled level is
/// `min(capacity, tokens + elapsed × rate)`; the attempt takes a token when one is there.
const TAKE: &str = "INSERT INTO login_throttle (key, tokens, updated_ms, allowed) VALUES ($1, $2 - 1, $3, TRUE) \
     ON CONFLICT (key) DO UPDATE SET \
     tokens = CASE WHEN {R} >= 1 THEN {R} - 1 ELSE {R} END, allowed = {R} >= 1, updated_ms = $3 \
     RETURNING allowed";
const REFILLED: &str = "(CASE WHEN login_throttle.tokens + ($3 - login_throttle.updated_ms) * $4 > $2 THEN $2 \
     ELSE login_throttle.tokens + ($3 - login_throttle.updated_ms) * $4 END)";

fn take(conn: &mut DbConnection, key: &str, capacity: f64, now_ms: i64) -> Result<bool, AppError> {
    let sql = TAKE.replace("{R}", REFILLED);
    let sql = match conn {
        DbConnection::Pg(_) => sql,
        DbConnection::Sqlite(_) => sql.replace('$', "?"),
    };
    let taken: Taken = diesel::sql_query(sql)
        .bind::<Text, _>(key)
        .bind::<Double, _>(capacity)
        .bind::<BigInt, _>(now_ms)
        .bind::<Double, _>(capacity / 60_000.0)
        .get_result(conn)?;
    Ok(taken.allowed)
}

/// Counts one login attempt for `email` from `ip`: `false` when either budget is spent
/// (`per_minute` for the email, three times that for the address). Run in its own
/// transaction, before the password is checked.
pub fn allow(conn: &mut DbConnection, per_minute: u32, email: &str, ip: &str) -> Result<bool, AppError> {
    use crate::db::schema::login_throttle as lt;
    let now = chrono::Utc::now().timestamp_millis();
    let per_minute = f64::from(per_minute.max(1));
    diesel::delete(lt::table.filter(lt::updated_ms.lt(now - FORGET_MS))).execute(conn)?;
    let by_email = take(conn, &format!("email:{}", email.trim().to_lowercase()), per_minute, now)?;
    let by_ip = take(conn, &format!("ip:{ip}"), 3.0 * per_minute, now)?;
    Ok(by_email && by_ip)
}
