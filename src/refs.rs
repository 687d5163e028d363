//! Reference checks shared by the resources that point at others (contacts, deals): is an
//! id one of the account's users, offices, organizations? Each answered once per request.

use std::collections::HashMap;

use diesel::prelude::*;

use crate::db::schema::{offices, organizations, users};
use crate::db::DbConnection;
use crate::error::{AppError, FieldErrors};

/// Answers of "is this id one of the account's" already asked in this request, so an
/// import asks the database once per distinct id.
#[derive(Default)]
pub struct RefCache {
    known: HashMap<(&'static str, String), bool>,
}

impl RefCache {
    fn check(
        &mut self,
        kind: &'static str,
        id: &str,
        ask: impl FnOnce() -> Result<i64, diesel::result::Error>,
    ) -> Result<bool, AppError> {
        if let Some(ok) = self.known.get(&(kind, id.to_owned())) {
            return Ok(*ok);
        }
        let ok = ask()? > 0;
        self.known.insert((kind, id.to_owned()), ok);
        Ok(ok)
    }

    /// `owner_id` must be an active user of the account (422 `owner_id` otherwise).
    pub fn owner(
        &mut self,
        conn: &mut DbConnection,
        account_id: &str,
        id: Option<&str>,
        errors: &mut FieldErrors,
    ) -> Result<(), AppError> {
        let Some(id) = id else { return Ok(()) };
        let ok = self.check("user", id, || {
            users::table
                .filter(users::account_id.eq(account_id))
                .filter(users::id.eq(id))
                .filter(users::active.eq(true))
                .count()
                .get_result(conn)
        })?;
        if !ok {
            errors.insert("owner_id".into(), vec!["must be an active user of this account".into()]);
        }
        Ok(())
    }

    /// `office_id` must be an office of the account.
    pub fn office(
        &mut self,
        conn: &mut DbConnection,
        account_id: &str,
        id: Option<&str>,
        errors: &mut FieldErrors,
    ) -> Result<(), AppError> {
        let Some(id) = id else { return Ok(()) };
        let ok = self.check("office", id, || {
            offices::table
                .filter(offices::account_id.eq(account_id))
                .filter(offices::id.eq(id))
                .count()
                .get_result(conn)
        })?;
        if !ok {
            errors.insert("office_id".into(), vec!["must be an office of this account".into()]);
        }
        Ok(())
    }

    /// `organization_id` must be an organization of the account.
    pub fn organization(
        &mut self,
        conn: &mut DbConnection,
        account_id: &str,
        id: Option<&str>,
        errors: &mut FieldErrors,
    ) -> Result<(), AppError> {
        let Some(id) = id else { return Ok(()) };
        let ok = self.check("organization", id, || {
            organizations::table
                .filter(organizations::account_id.eq(account_id))
                .filter(organizations::id.eq(id))
                .count()
                .get_result(conn)
        })?;
        if !ok {
            errors.insert("organization_id".into(), vec!["must be an organization of this account".into()]);
        }
        Ok(())
    }
}
