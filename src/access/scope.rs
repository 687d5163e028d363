//! SPEC §2 as SQL. `ContactScope` is the only way to query contacts: it is built from an
//! authenticated `Actor` (or, for the explain endpoint, from a user loaded by id) and
//! yields the visibility predicate and the level expression that every select, count,
//! update and delete of contacts uses, and the `IN (…)` join that every other table
//! (notifications, audit, deals, actions) uses to reach contacts. The reference model in
//! `model.rs` states the same rule in plain Rust; the tests hold the two together.
//!
//! The fragments are written by hand once, generic over the backend, so that they work
//! in top-level queries and in subqueries alike on both databases.
//!
//! The subject's office grants are read once per request (with the user row) and bound
//! into the SQL as `office_id IN (…)` lists, so the level is a plain `CASE` over the
//! row's own columns: no per-row membership lookup, and the planner sees constants. A
//! grant changed during a request applies from the next request, like a role change.

use diesel::backend::Backend;
use diesel::expression::{is_aggregate, AppearsOnTable, Expression, SelectableExpression, ValidGrouping};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{Bool, HasSqlType, Integer, Text};

use super::{Actor, DefaultContactAccess, Level, Role};
use crate::db::schema::{audit_log, contacts};
use crate::db::MultiBackend;

/// Whose view of the contacts a query takes.
#[derive(Debug, Clone)]
pub struct ContactScope {
    account_id: String,
    user_id: String,
    role: Role,
    default_access: DefaultContactAccess,
    grants: Grants,
}

/// A `user`'s office grants, grouped the way the SQL uses them.
#[derive(Debug, Clone, Default)]
struct Grants {
    /// Offices with `manage`: an owned contact there is at manage, else edit (2.3.2).
    manage: Vec<String>,
    /// `(level, offices)` for each level above the account default, highest first: a
    /// contact of someone else in those offices is at that level (2.3.4). Under the
    /// default `hidden` these are all offices with a grant, the ones it makes visible.
    above_default: Vec<(i32, Vec<String>)>,
}

impl Grants {
    fn new(grants: &[(String, i32)], default_access: DefaultContactAccess) -> Grants {
        let d = Level::from(default_access).rank();
        let mut out = Grants::default();
        for level in (d + 1..=Level::Manage.rank()).rev() {
            let offices: Vec<String> =
                grants.iter().filter(|(_, l)| (*l).min(4) == level).map(|(o, _)| o.clone()).collect();
            if !offices.is_empty() {
                out.above_default.push((level, offices));
            }
        }
        out.manage = grants.iter().filter(|(_, l)| *l >= Level::Manage.rank()).map(|(o, _)| o.clone()).collect();
        out
    }
}

impl ContactScope {
    pub fn of(actor: &Actor) -> Self {
        Self::new(&actor.account_id, &actor.user_id, actor.role, actor.default_access, &actor.grants)
    }

    /// Another user's view (`access::Member`, loaded from the database for an actor of the
    /// same account): `grants` are that user's `(office_id, level)` memberships.
    pub(super) fn new(
        account_id: &str,
        user_id: &str,
        role: Role,
        default_access: DefaultContactAccess,
        grants: &[(String, i32)],
    ) -> Self {
        let grants = match role {
            Role::User => Grants::new(grants, default_access),
            _ => Grants::default(),
        };
        ContactScope { account_id: account_id.into(), user_id: user_id.into(), role, default_access, grants }
    }

    /// The level on a contact named in a request body, for writes that attach something to
    /// it: a missing or hidden contact is a 422 naming `field` (its existence is not
    /// revealed), like a foreign one.
    pub fn level_or_422(
        &self,
        conn: &mut crate::db::DbConnection,
        contact_id: &str,
        field: &str,
    ) -> Result<Level, crate::error::AppError> {
        match self.level_on(conn, contact_id)? {
            Level::Hidden => Err(crate::error::AppError::field(field, "must be a contact you can see")),
            level => Ok(level),
        }
    }

    /// The subject's level on one contact of the account; `hidden` when it is missing,
    /// another account's or not visible.
    pub fn level_on(&self, conn: &mut crate::db::DbConnection, contact_id: &str) -> QueryResult<Level> {
        let rank: Option<i32> = self
            .contacts()
            .filter(contacts::id.eq(contact_id.to_owned()))
            .select(self.level())
            .first(conn)
            .optional()?;
        Ok(rank.map(Level::from_rank).unwrap_or(Level::Hidden))
    }

    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// Contacts the subject sees at `limited` or above, in its account only.
    pub fn visible(&self) -> AtLeast {
        self.at_least(Level::Limited)
    }

    /// Visible and at `min` or above (writes, full reads, exports, joins).
    pub fn at_least(&self, min: Level) -> AtLeast {
        AtLeast { scope: self.clone(), min }
    }

    /// The subject's level on each contact row, as `Level::rank` (hidden 0 … manage 4).
    pub fn level(&self) -> LevelOf {
        LevelOf { scope: self.clone() }
    }

    /// The subject's contacts query: `FROM contacts WHERE <visible>`, boxed for filters.
    pub fn contacts(&self) -> contacts::BoxedQuery<'static, MultiBackend> {
        contacts::table.filter(self.visible()).into_boxed()
    }

    /// `column IN (SELECT id FROM contacts WHERE <at least min>)`: how rows of other tables
    /// that point at a contact are scoped.
    pub fn contact_in<C>(&self, column: C, min: Level) -> ContactIn<C> {
        ContactIn { column, select: "contacts.id", inner: self.at_least(min) }
    }

    /// `column IN (SELECT organization_id FROM contacts WHERE <at least min>)`: the
    /// organizations that have at least one such contact.
    pub fn organization_in<C>(&self, column: C, min: Level) -> ContactIn<C> {
        ContactIn { column, select: "contacts.organization_id", inner: self.at_least(min) }
    }

    /// The audit entries the subject may read in lists (`/v1/audit`, `/v1/activity`; the
    /// timeline later): the one rule for every entry about a contact or a record hanging
    /// off it (deals, actions), which follows that contact at `view`. Entries about no
    /// contact (users, offices, the account) pass; an entry of a contact type whose contact
    /// is unknown does not; saved filters' entries only their author. Owner and admin read
    /// the whole account's log.
    pub fn audit_entries(&self) -> audit_log::BoxedQuery<'static, MultiBackend> {
        let q = audit_log::table.filter(audit_log::account_id.eq(self.account_id.clone())).into_boxed();
        if self.role.is_manager() {
            return q;
        }
        q.filter(
            audit_log::contact_id
                .is_null()
                .and(audit_log::entity_type.ne_all(crate::audit::CONTACT_ENTITIES))
                .or(self.contact_in(audit_log::contact_id, Level::View)),
        )
        // A saved filter may be private: its entries are for its author (and owner/admin).
        .filter(audit_log::entity_type.ne("saved_filter").or(audit_log::actor_id.eq(self.user_id.clone())))
    }

    fn walk_visible<'b, DB>(&'b self, out: &mut AstPass<'_, 'b, DB>) -> QueryResult<()>
    where
        DB: Backend + HasSqlType<Text>,
        String: ToSql<Text, DB>,
    {
        out.push_sql("(contacts.account_id = ");
        out.push_bind_param::<Text, _>(&self.account_id)?;
        match self.role {
            Role::Owner | Role::Admin => {}
            // 2.2: a focused user sees only what they own.
            Role::Focused => {
                out.push_sql(" AND contacts.owner_id = ");
                out.push_bind_param::<Text, _>(&self.user_id)?;
            }
            // 2.3.1: never someone else's private contact; with the account default
            // `hidden`, only owned (2.3.2), unassigned (2.3.3) or granted offices (2.3.4).
            Role::User => {
                out.push_sql(" AND (NOT contacts.private OR contacts.owner_id = ");
                out.push_bind_param::<Text, _>(&self.user_id)?;
                out.push_sql(")");
                if self.default_access == DefaultContactAccess::Hidden {
                    out.push_sql(" AND (contacts.owner_id = ");
                    out.push_bind_param::<Text, _>(&self.user_id)?;
                    out.push_sql(" OR (contacts.owner_id IS NULL AND contacts.office_id IS NULL)");
                    if !self.grants.above_default.is_empty() {
                        out.push_sql(" OR ");
                        office_in(out, self.grants.above_default.iter().flat_map(|(_, offices)| offices))?;
                    }
                    out.push_sql(")");
                }
            }
        }
        out.push_sql(")");
        Ok(())
    }

    fn walk_level<'b, DB>(&'b self, out: &mut AstPass<'_, 'b, DB>) -> QueryResult<()>
    where
        DB: Backend + HasSqlType<Text>,
        String: ToSql<Text, DB>,
    {
        match self.role {
            // 2.1
            Role::Owner | Role::Admin => out.push_sql("4"),
            // 2.2
            Role::Focused => {
                out.push_sql("(CASE WHEN contacts.owner_id = ");
                out.push_bind_param::<Text, _>(&self.user_id)?;
                out.push_sql(" THEN 3 ELSE 0 END)");
            }
            Role::User => {
                let d = Level::from(self.default_access).rank();
                // 2.3.1 private and owned by someone else (or by nobody) -> hidden
                out.push_sql("(CASE WHEN contacts.private AND (contacts.owner_id IS NULL OR contacts.owner_id <> ");
                out.push_bind_param::<Text, _>(&self.user_id)?;
                // 2.3.2 owner -> max(edit, office level): only `manage` beats edit
                out.push_sql(") THEN 0 WHEN contacts.owner_id = ");
                out.push_bind_param::<Text, _>(&self.user_id)?;
                out.push_sql(" THEN ");
                if self.grants.manage.is_empty() {
                    out.push_sql("3");
                } else {
                    out.push_sql("(CASE WHEN ");
                    office_in(out, &self.grants.manage)?;
                    out.push_sql(" THEN 4 ELSE 3 END)");
                }
                // 2.3.3 neither owner nor office -> edit
                out.push_sql(" WHEN contacts.owner_id IS NULL AND contacts.office_id IS NULL THEN 3 ELSE ");
                // 2.3.4 max(account default, office level; not a member -> default)
                if self.grants.above_default.is_empty() {
                    out.push_sql(&d.to_string());
                } else {
                    out.push_sql("(CASE");
                    for (level, offices) in &self.grants.above_default {
                        out.push_sql(" WHEN ");
                        office_in(out, offices)?;
                        out.push_sql(&format!(" THEN {level}"));
                    }
                    out.push_sql(&format!(" ELSE {d} END)"));
                }
                out.push_sql(" END)");
            }
        }
        Ok(())
    }
}

/// `contacts.office_id IN ($1, $2, …)`; `offices` is never empty.
fn office_in<'b, DB>(out: &mut AstPass<'_, 'b, DB>, offices: impl IntoIterator<Item = &'b String>) -> QueryResult<()>
where
    DB: Backend + HasSqlType<Text>,
    String: ToSql<Text, DB>,
{
    out.push_sql("contacts.office_id IN (");
    for (i, office) in offices.into_iter().enumerate() {
        if i > 0 {
            out.push_sql(", ");
        }
        out.push_bind_param::<Text, _>(office)?;
    }
    out.push_sql(")");
    Ok(())
}

/// `<visible> [AND <level> >= min]`.
#[derive(Debug, Clone)]
pub struct AtLeast {
    scope: ContactScope,
    min: Level,
}

/// The level expression.
#[derive(Debug, Clone)]
pub struct LevelOf {
    scope: ContactScope,
}

/// `column IN (SELECT contacts.id FROM contacts WHERE <at least>)`.
#[derive(Debug, Clone)]
pub struct ContactIn<C> {
    column: C,
    select: &'static str,
    inner: AtLeast,
}

impl<DB> QueryFragment<DB> for AtLeast
where
    DB: Backend + HasSqlType<Text>,
    String: ToSql<Text, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.scope.walk_visible(&mut out)?;
        // Owner and admin are at manage everywhere; a focused user at edit on all they see.
        let implied = match self.scope.role {
            Role::Owner | Role::Admin => Level::Manage,
            Role::Focused => Level::Edit,
            Role::User => Level::Limited,
        };
        if self.min > implied {
            out.push_sql(" AND ");
            self.scope.walk_level(&mut out)?;
            out.push_sql(&format!(" >= {}", self.min.rank()));
        }
        Ok(())
    }
}

impl<DB> QueryFragment<DB> for LevelOf
where
    DB: Backend + HasSqlType<Text>,
    String: ToSql<Text, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.scope.walk_level(&mut out)
    }
}

impl<DB, C> QueryFragment<DB> for ContactIn<C>
where
    DB: Backend + HasSqlType<Text>,
    String: ToSql<Text, DB>,
    C: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(" IN (SELECT ");
        out.push_sql(self.select);
        out.push_sql(" FROM contacts WHERE ");
        self.inner.walk_ast(out.reborrow())?;
        out.push_sql(")");
        Ok(())
    }
}

/// The expression plumbing diesel needs for a hand-written fragment.
macro_rules! fragment_expression {
    ($ty:ty, $sql_type:ty) => {
        impl Expression for $ty {
            type SqlType = $sql_type;
        }
        // The fragments name `contacts.*` columns, so they compile only into a query whose
        // FROM has `contacts` (alone or joined): `actions::table.filter(scope.at_least(..))`
        // without the join is a type error, not a runtime one.
        impl<QS> AppearsOnTable<QS> for $ty where contacts::id: AppearsOnTable<QS> {}
        impl<QS> SelectableExpression<QS> for $ty where contacts::id: SelectableExpression<QS> {}
        impl<GB> ValidGrouping<GB> for $ty {
            type IsAggregate = is_aggregate::Never;
        }
        impl QueryId for $ty {
            type QueryId = ();
            const HAS_STATIC_QUERY_ID: bool = false;
        }
    };
}

fragment_expression!(AtLeast, Bool);
fragment_expression!(LevelOf, Integer);

impl<C> Expression for ContactIn<C> {
    type SqlType = Bool;
}
impl<QS, C: AppearsOnTable<QS>> AppearsOnTable<QS> for ContactIn<C> {}
impl<QS, C: SelectableExpression<QS>> SelectableExpression<QS> for ContactIn<C> {}
impl<GB, C> ValidGrouping<GB> for ContactIn<C> {
    type IsAggregate = is_aggregate::Never;
}
impl<C> QueryId for ContactIn<C> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}
