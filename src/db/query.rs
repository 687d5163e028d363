//! Query pieces both backends share: counts, literal limits, opaque binds, batch inserts.

use diesel::prelude::*;

use super::DbConnection;

diesel::define_sql_function!(
    /// SQL `lower()`, on both backends (ASCII-only on SQLite).
    fn lower(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>
);

/// `SELECT COUNT(*) FROM (<query>) t`: counts a (limited) query's rows in the database
/// instead of sending them over.
#[derive(Debug, Clone)]
pub struct CountOf<Q>(pub Q);

impl<Q> diesel::query_builder::QueryId for CountOf<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q> diesel::query_builder::Query for CountOf<Q> {
    type SqlType = diesel::sql_types::BigInt;
}

impl<Q, DB> diesel::query_builder::QueryFragment<DB> for CountOf<Q>
where
    DB: diesel::backend::Backend,
    Q: diesel::query_builder::QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: diesel::query_builder::AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("SELECT COUNT(*) FROM (");
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(") counted");
        Ok(())
    }
}

impl<Q, Conn> RunQueryDsl<Conn> for CountOf<Q> {}

/// `<q1> UNION ALL <q2> …`: one statement for a list of queries of one shape, built at run
/// time (the outbox: the same scoped query once per subscriber, one round trip for all).
/// The parts carry no ORDER BY or LIMIT (SQLite allows neither inside a compound select).
/// Never empty.
#[derive(Debug, Clone)]
pub struct UnionAll<Q>(pub Vec<Q>);

impl<Q> diesel::query_builder::QueryId for UnionAll<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: diesel::query_builder::Query> diesel::query_builder::Query for UnionAll<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, DB> diesel::query_builder::QueryFragment<DB> for UnionAll<Q>
where
    DB: diesel::backend::Backend,
    Q: diesel::query_builder::QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: diesel::query_builder::AstPass<'_, 'b, DB>) -> QueryResult<()> {
        for (i, part) in self.0.iter().enumerate() {
            if i > 0 {
                out.push_sql(" UNION ALL ");
            }
            part.walk_ast(out.reborrow())?;
        }
        Ok(())
    }
}

impl<Q, Conn> RunQueryDsl<Conn> for UnionAll<Q> {}

/// Above this many matching rows a list's `total` is this cap, flagged
/// `total_is_estimate: true`, so `with_total=true` never counts more rows than this.
pub const TOTAL_CAP: i64 = 10_000;

/// `total` and `total_is_estimate` of a list: `ids` (the list's query selecting one
/// column, unordered) counted in the database up to `TOTAL_CAP`.
pub fn bounded_total<Q>(conn: &mut DbConnection, ids: Q) -> QueryResult<(i64, bool)>
where
    for<'a> CountOf<Limit<Q>>: diesel::query_dsl::LoadQuery<'a, DbConnection, i64>,
{
    let n: i64 = CountOf(Limit(ids, TOTAL_CAP + 1)).get_result(conn)?;
    Ok(if n > TOTAL_CAP { (TOTAL_CAP, true) } else { (n, false) })
}

/// `<query> LIMIT n` with `n` written into the SQL instead of bound. PostgreSQL plans a
/// bound LIMIT as if it kept 10 % of the rows, so the generic plan of a prepared page query
/// always looks worse than a custom one and every execution would be planned again
/// (a third of PostgreSQL's time on the contact list). `n` comes from a validated page
/// size, so the statement cache holds one entry per size in use.
#[derive(Debug, Clone)]
pub struct Limit<Q>(pub Q, pub i64);

impl<Q> diesel::query_builder::QueryId for Limit<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: diesel::query_builder::Query> diesel::query_builder::Query for Limit<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, DB> diesel::query_builder::QueryFragment<DB> for Limit<Q>
where
    DB: diesel::backend::Backend,
    Q: diesel::query_builder::QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: diesel::query_builder::AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(&format!(" LIMIT {}", self.1));
        Ok(())
    }
}

impl<Q, Conn> RunQueryDsl<Conn> for Limit<Q> {}

/// `(SELECT $n)`: a bound value the planner cannot look at. PostgreSQL then estimates a
/// comparison with it the same way in a custom plan and in the generic one, so a prepared
/// statement settles on its generic plan instead of being planned on every execution.
/// For a keyset page's cursor bound: bound directly, `k <= $v` gets the default 1/3
/// selectivity in the generic plan only, that plan is costed ~3–5× the custom one
/// (`EXPLAIN EXECUTE` at 1M contacts: 57 against 11), and every deep page was planned
/// again (0.27 ms of planning against 0.15 ms of execution; BENCHMARKS.md). The plan is
/// the same index range scan either way; SQLite uses the index for it too.
#[derive(Debug, Clone)]
pub struct Opaque<ST, T>(T, std::marker::PhantomData<ST>);

impl<ST, T> Opaque<ST, T> {
    pub fn new(value: T) -> Self {
        Opaque(value, std::marker::PhantomData)
    }
}

impl<ST, T> diesel::query_builder::QueryId for Opaque<ST, T> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<ST: diesel::sql_types::SqlType + diesel::expression::TypedExpressionType, T> Expression for Opaque<ST, T> {
    type SqlType = ST;
}

impl<ST, T, QS> diesel::expression::AppearsOnTable<QS> for Opaque<ST, T> where Self: Expression {}

impl<ST, T, QS> diesel::expression::SelectableExpression<QS> for Opaque<ST, T> where Self: Expression {}

impl<ST, T, GB> diesel::expression::ValidGrouping<GB> for Opaque<ST, T> {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

impl<ST, T, DB> diesel::query_builder::QueryFragment<DB> for Opaque<ST, T>
where
    DB: diesel::backend::Backend + diesel::sql_types::HasSqlType<ST>,
    T: diesel::serialize::ToSql<ST, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: diesel::query_builder::AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("(SELECT ");
        out.push_bind_param::<ST, T>(&self.0)?;
        out.push_sql(")");
        Ok(())
    }
}

/// Multi-row `INSERT`s of `$rows` (a slice of insertables) into `$table`, 1,000 rows a
/// statement (a contact row binds 18 values: 18,000 stays under both databases' limits
/// on bound parameters). diesel builds a multi-row insert per backend, not through
/// `MultiConnection`, hence the match. Evaluates to a `QueryResult<()>`.
macro_rules! insert_batch {
    ($conn:expr, $table:expr, $rows:expr) => {
        (|| -> diesel::QueryResult<()> {
            for chunk in $rows.chunks(1000) {
                match &mut *$conn {
                    $crate::db::DbConnection::Pg(c) => diesel::insert_into($table).values(chunk).execute(c),
                    $crate::db::DbConnection::Sqlite(c) => diesel::insert_into($table).values(chunk).execute(c),
                }?;
            }
            Ok(())
        })()
    };
}
pub(crate) use insert_batch;

/// One page by id of the query `$query()` builds (called twice: for the bounded total when
/// the keys ask for it, then for the rows), `asc` or `desc`: evaluates to `(rows, total)`
/// for `http::page_by_id`. `since` names the column (or `since_by` builds the condition) `updated_since` compares (SPEC §10:
/// rows changed at or after it; required, so that no list can forget it). The one way
/// every id-keyed list pages (the contacts list has its own keyset over other sort keys).
macro_rules! id_page {
    ($conn:expr, $keys:expr, $query:expr, $id:expr, $dir:ident, since = $since:expr) => {
        $crate::db::id_page!($conn, $keys, $query, $id, $dir, since_by = |t: chrono::NaiveDateTime| $since.ge(t))
    };
    ($conn:expr, $keys:expr, $query:expr, $id:expr, asc, since_by = $since:expr) => {
        $crate::db::id_page!(@page $conn, $keys, $query, $id, $since, gt, asc)
    };
    ($conn:expr, $keys:expr, $query:expr, $id:expr, desc, since_by = $since:expr) => {
        $crate::db::id_page!(@page $conn, $keys, $query, $id, $since, lt, desc)
    };
    (@page $conn:expr, $keys:expr, $query:expr, $id:expr, $since:expr, $after:ident, $order:ident) => {{
        let keys: &$crate::http::PageKeys = $keys;
        let query = || {
            let q = ($query)();
            match keys.since {
                Some(since) => q.filter(($since)(since)),
                None => q,
            }
        };
        let total = if keys.with_total { Some($crate::db::bounded_total($conn, query().select($id))?) } else { None };
        let mut q = query();
        if let Some(after) = keys.after.clone() {
            q = q.filter($id.$after($crate::db::Opaque::new(after)));
        }
        let rows = $crate::db::Limit(q.order($id.$order()), keys.limit + 1).load($conn)?;
        (rows, total)
    }};
}
pub(crate) use id_page;
