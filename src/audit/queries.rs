//! Audit queries: entries written in the caller's transaction, and read through the one
//! visibility fragment (`ContactScope::audit_entries`).

use diesel::prelude::*;

use super::{AuditFilter, AuditRow};
use crate::access::ContactScope;
use crate::db::schema::audit_log;
use crate::db::{insert_batch, DbConnection};
use crate::error::AppError;
use crate::http::{PageKeys, PageRows};

/// Appends entries in multi-row statements.
pub fn insert_all(conn: &mut DbConnection, rows: &[AuditRow]) -> Result<(), AppError> {
    insert_batch!(conn, audit_log::table, rows)?;
    Ok(())
}

/// One page, newest first, of the entries the scope may read (`/v1/audit` with `actor_id`
/// for non-managers, `/v1/activity` without), with the bounded total.
pub fn list(
    conn: &mut DbConnection,
    scope: &ContactScope,
    actor_id: Option<&str>,
    filter: &AuditFilter,
    keys: &PageKeys,
) -> Result<PageRows<AuditRow>, AppError> {
    let scoped = || {
        let mut q = scope.audit_entries();
        if let Some(a) = actor_id {
            q = q.filter(audit_log::actor_id.eq(a.to_owned()));
        }
        if let Some(t) = &filter.entity_type {
            q = q.filter(audit_log::entity_type.eq(t.clone()));
        }
        if let Some(id) = &filter.entity_id {
            q = q.filter(audit_log::entity_id.eq(id.clone()));
        }
        q
    };
    Ok(crate::db::id_page!(conn, keys, scoped, audit_log::id, desc, since = audit_log::created_at))
}

/// One page of a contact's own history, newest first (the caller has checked `manage`).
pub fn contact_history(
    conn: &mut DbConnection,
    scope: &ContactScope,
    contact_id: &str,
    keys: &PageKeys,
) -> Result<PageRows<AuditRow>, AppError> {
    let scoped = || {
        scope
            .audit_entries()
            .filter(audit_log::entity_type.eq("contact"))
            .filter(audit_log::entity_id.eq(contact_id.to_owned()))
    };
    Ok(crate::db::id_page!(conn, keys, scoped, audit_log::id, desc, since = audit_log::created_at))
}
