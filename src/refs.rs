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
    known: HashMap<(Ref, String), bool>,
}

/// The kinds of reference a body can make, each with the field that names it, what the
/// 422 says and how the database is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Ref {
    Owner,
    Office,
    Organization,
}

impl Ref {
    fn field_and_message(self) -> (&'static str, &'static str) {
        match self {
            Ref::Owner => ("owner_id", "must be an active user of this account"),
            Ref::Office => ("office_id", "must be an office of this account"),
            Ref::Organization => ("organization_id", "must be an organization of this account"),
        }
    }

    fn exists(self, conn: &mut DbConnection, account_id: &str, id: &str) -> QueryResult<i64> {
        match self {
            Ref::Owner => users::table
                .filter(users::account_id.eq(account_id))
                .filter(users::id.eq(id))
                .filter(users::active.eq(true))
                .count()
                .get_result(conn),
            Ref::Office => offices::table
                .filter(offices::account_id.eq(account_id))
                .filter(offices::id.eq(id))
                .count()
                .get_result(conn),
            Ref::Organization => organizations::table
                .filter(organizations::account_id.eq(account_id))
                .filter(organizations::id.eq(id))
                .count()
                .get_result(conn),
        }
    }
}

impl RefCache {
    /// Adds the 422 of `kind` to `errors` unless `id` (when given) is one of the account's.
    fn check(
        &mut self,
        conn: &mut DbConnection,
        kind: Ref,
        account_id: &str,
        id: Option<&str>,
        errors: &mut FieldErrors,
    ) -> Result<(), AppError> {
        let Some(id) = id else { return Ok(()) };
        let ok = match self.known.get(&(kind, id.to_owned())) {
            Some(ok) => *ok,
            None => {
                let ok = kind.exists(conn, account_id, id)? > 0;
                self.known.insert((kind, id.to_owned()), ok);
                ok
            }
        };
        if !ok {
            let (field, message) = kind.field_and_message();
            errors.insert(field.into(), vec![message.into()]);
        }
        Ok(())
    }

    /// `owner_id` must be an active user of the account (422 `owner_id` otherwise).
    pub fn owner(
        &mut self,
        conn: &mut DbConnection,
        account: &str,
        id: Option<&str>,
        errors: &mut FieldErrors,
    ) -> Result<(), AppError> {
        self.check(conn, Ref::Owner, account, id, errors)
    }

    /// `office_id` must be an office of the account.
    pub fn office(
        &mut self,
        conn: &mut DbConnection,
        account: &str,
        id: Option<&str>,
        errors: &mut FieldErrors,
    ) -> Result<(), AppError> {
        self.check(conn, Ref::Office, account, id, errors)
    }

    /// `organization_id` must be an organization of the account.
    pub fn organization(
        &mut self,
        conn: &mut DbConnection,
        account: &str,
        id: Option<&str>,
        errors: &mut FieldErrors,
    ) -> Result<(), AppError> {
        self.check(conn, Ref::Organization, account, id, errors)
    }
}
