//! Connection, pool and migrations for both backends, chosen by the URL scheme.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::AppError;

pub mod schema;

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

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

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

/// One query code base for both databases: diesel builds the SQL for whichever variant
/// the pool handed out.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl DbConnection {
    pub fn backend(&self) -> Backend {
        match self {
            DbConnection::Pg(_) => Backend::Postgres,
            DbConnection::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// A database location parsed from `DATABASE_URL`. The scheme decides the backend, so a
/// mistyped URL is an error instead of an SQLite file named after it.
#[derive(Debug, Clone)]
pub enum DbUrl {
    Postgres(String),
    Sqlite(String),
}

impl DbUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DbUrl::Postgres(url.to_owned()))
        } else if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("sqlite:// URL needs a file path".into());
            }
            Ok(DbUrl::Sqlite(path.to_owned()))
        } else {
            Err("DATABASE_URL must start with sqlite:// or postgres://".into())
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            DbUrl::Postgres(_) => Backend::Postgres,
            DbUrl::Sqlite(_) => Backend::Sqlite,
        }
    }
}

#[derive(Debug)]
pub struct Manager {
    url: DbUrl,
}

/// A pooled connection and whether a query on it found the server gone. libpq does not
/// reconnect and diesel only knows about broken transactions, so without this flag a
/// connection from before a database restart would stay in the pool and fail forever.
pub struct PoolConn {
    conn: DbConnection,
    lost: bool,
}

impl Manager {
    fn open(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.url {
            DbUrl::Postgres(url) => {
                let mut conn = PgConnection::establish(url).map_err(r2d2::Error::ConnectionError)?;
                // Short OLTP queries: JIT compilation only adds latency.
                conn.batch_execute("SET jit = off").map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Pg(conn))
            }
            DbUrl::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(path).map_err(r2d2::Error::ConnectionError)?;
                // busy_timeout first: the other pragmas may already need the lock.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                )
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

impl ManageConnection for Manager {
    type Connection = PoolConn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<PoolConn, r2d2::Error> {
        Ok(PoolConn { conn: self.open()?, lost: false })
    }

    fn is_valid(&self, conn: &mut PoolConn) -> Result<(), r2d2::Error> {
        conn.conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut PoolConn) -> bool {
        conn.lost || std::thread::panicking() || conn.conn.is_broken()
    }
}

impl std::ops::Deref for PoolConn {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for PoolConn {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

pub type PooledConn = r2d2::PooledConnection<Manager>;

/// The connection pool and a gate with one permit per connection. A request waits for a
/// permit on the executor (bounded by the connection timeout) before it takes a blocking
/// thread, so at most `max_size` threads ever do database work: no thread piles up in
/// `r2d2`'s wait queue, and thread count (and with it memory) stays flat under load.
#[derive(Clone)]
pub struct Pool {
    inner: r2d2::Pool<Manager>,
    gate: std::sync::Arc<tokio::sync::Semaphore>,
    timeout: Duration,
    reach: std::sync::Arc<Reachability>,
}

/// Whether the database took new connections lately. While the last attempt to connect
/// failed and the pool holds no connection, requests answer 503 at once instead of each
/// waiting `DB_TIMEOUT_SECS` for a connection that will not come; one request a second
/// still goes through and tries, so the service notices the database coming back.
#[derive(Debug, Default)]
struct Reachability {
    failed_ms: AtomicU64,
    opened_ms: AtomicU64,
    probe_ms: AtomicU64,
}

const PROBE_EVERY_MS: u64 = 1000;

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Reachability {
    /// True when this request should not wait for a connection.
    fn refuse_now(&self, pooled: u32) -> bool {
        let failed = self.failed_ms.load(Ordering::Relaxed);
        if pooled > 0 || failed <= self.opened_ms.load(Ordering::Relaxed) {
            return false;
        }
        let now = now_ms();
        let probe = self.probe_ms.load(Ordering::Relaxed);
        // Let one request through per interval to find out whether it is back.
        let may_probe = now.saturating_sub(probe) >= PROBE_EVERY_MS
            && self.probe_ms.compare_exchange(probe, now, Ordering::Relaxed, Ordering::Relaxed).is_ok();
        !may_probe
    }
}

#[derive(Debug)]
struct ReachabilityHook(std::sync::Arc<Reachability>);

impl r2d2::HandleError<r2d2::Error> for ReachabilityHook {
    fn handle_error(&self, error: r2d2::Error) {
        self.0.failed_ms.store(now_ms(), Ordering::Relaxed);
        tracing::warn!(%error, "database connection failed");
    }
}

impl r2d2::HandleEvent for ReachabilityHook {
    fn handle_acquire(&self, _: r2d2::event::AcquireEvent) {
        self.0.opened_ms.store(now_ms(), Ordering::Relaxed);
    }
}

impl Pool {
    /// A connection straight from the pool (startup and CLI paths, off the executor).
    pub fn get(&self) -> Result<PooledConn, r2d2::PoolError> {
        self.inner.get()
    }
}

pub struct PoolOptions {
    pub max_size: u32,
    pub connect_timeout: Duration,
    /// Ping each connection as it leaves the pool (one round trip per checkout). Off, a
    /// connection that finds the server gone answers 503 once and is dropped (`PoolConn`).
    pub test_on_check_out: bool,
}

/// Builds the pool without connecting yet (the service starts and reports 503 until the
/// database answers).
pub fn build_pool(url: &DbUrl, opts: &PoolOptions) -> Result<Pool, String> {
    if let DbUrl::Sqlite(path) = url {
        if let Some(dir) = std::path::Path::new(path).parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
        }
    }
    let reach = std::sync::Arc::new(Reachability::default());
    let inner = r2d2::Pool::builder()
        .error_handler(Box::new(ReachabilityHook(reach.clone())))
        .event_handler(Box::new(ReachabilityHook(reach.clone())))
        .max_size(opts.max_size)
        .min_idle(Some(0))
        .connection_timeout(opts.connect_timeout)
        .test_on_check_out(opts.test_on_check_out)
        .build_unchecked(Manager { url: url.clone() });
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(opts.max_size as usize));
    Ok(Pool { inner, gate, timeout: opts.connect_timeout, reach })
}

pub fn run_migrations(conn: &mut DbConnection) -> Result<usize, String> {
    let applied = match conn {
        DbConnection::Pg(c) => c.run_pending_migrations(PG_MIGRATIONS).map(|v| v.len()),
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
    };
    applied.map_err(|e| format!("migrations failed: {e}"))
}

/// Runs `f` in one transaction. SQLite transactions start with `BEGIN IMMEDIATE`, so two
/// writers queue on the busy timeout instead of failing with "database is locked" when
/// a read lock would have to be upgraded.
pub fn write_tx<T, F>(conn: &mut DbConnection, f: F) -> Result<T, AppError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, AppError>,
{
    match conn {
        DbConnection::Pg(c) => <AnsiTransactionManager as TransactionManager<PgConnection>>::begin_transaction(c)?,
        DbConnection::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
    }
    let result = f(conn);
    let end = match (&result, &mut *conn) {
        (Ok(_), DbConnection::Pg(c)) => {
            <AnsiTransactionManager as TransactionManager<PgConnection>>::commit_transaction(c)
        }
        (Ok(_), DbConnection::Sqlite(c)) => {
            <AnsiTransactionManager as TransactionManager<SqliteConnection>>::commit_transaction(c)
        }
        (Err(_), DbConnection::Pg(c)) => {
            <AnsiTransactionManager as TransactionManager<PgConnection>>::rollback_transaction(c)
        }
        (Err(_), DbConnection::Sqlite(c)) => {
            <AnsiTransactionManager as TransactionManager<SqliteConnection>>::rollback_transaction(c)
        }
    };
    match (result, end) {
        (Ok(v), Ok(())) => Ok(v),
        (Ok(_), Err(e)) => Err(e.into()),
        (Err(e), _) => Err(e),
    }
}

/// Runs blocking database work on actix's blocking thread pool, never on the executor.
pub async fn run<T, F>(pool: &Pool, f: F) -> Result<T, AppError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
    T: Send + 'static,
{
    if pool.reach.refuse_now(pool.inner.state().connections) {
        return Err(AppError::Unavailable("the database is unreachable".into()));
    }
    let busy = || AppError::Unavailable("no database connection became free in time".into());
    let permit = tokio::time::timeout(pool.timeout, pool.gate.clone().acquire_owned())
        .await
        .map_err(|_| busy())?
        .map_err(|_| busy())?;
    let pool = pool.inner.clone();
    actix_web::web::block(move || {
        let _permit = permit;
        let mut conn = pool.get().map_err(|e| AppError::Unavailable(e.to_string()))?;
        let result = f(&mut conn.conn);
        // `Unavailable` from a query means the server closed the connection (or SQLite
        // stayed locked): drop it rather than hand it to the next request.
        if matches!(result, Err(AppError::Unavailable(_))) {
            conn.lost = true;
        }
        result
    })
    .await
    .map_err(|e| AppError::Internal(format!("blocking task failed: {e}")))?
}

/// CPU-heavy work (password hashing) on the blocking pool, without a connection.
pub async fn blocking<T, F>(f: F) -> Result<T, AppError>
where
    F: FnOnce() -> Result<T, AppError> + Send + 'static,
    T: Send + 'static,
{
    actix_web::web::block(f).await.map_err(|e| AppError::Internal(format!("blocking task failed: {e}")))?
}

/// `run` inside one write transaction (the audit entry rides in the same one).
pub async fn write<T, F>(pool: &Pool, f: F) -> Result<T, AppError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
    T: Send + 'static,
{
    run(pool, move |conn| write_tx(conn, f)).await
}
