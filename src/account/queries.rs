//! The account row and its settings, which every resource reads.

use diesel::prelude::*;

use super::model::{AccountRow, AccountSettings};
use crate::db::schema::accounts;
use crate::db::DbConnection;
use crate::error::AppError;

/// The account's settings (statuses, sources, stages, the default contact access).
pub fn settings(conn: &mut DbConnection, account_id: &str) -> Result<AccountSettings, AppError> {
    let row: AccountRow = accounts::table.find(account_id).first(conn)?;
    Ok(row.settings())
}
