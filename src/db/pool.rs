//! The connection type for both backends, the pool and its reachability gate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};

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
    pub(super) conn: DbConnection,
    pub(super) lost: bool,
}

impl Manager {
    fn open(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.url {
            DbUrl::Postgres(url) => {
                // `jit = off` is a database (or role) setting, stored at start-up
                // (`migrations::JIT_OFF`), not session state.
                let conn = PgConnection::establish(url).map_err(r2d2::Error::ConnectionError)?;
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
    pub(super) inner: r2d2::Pool<Manager>,
    pub(super) gate: std::sync::Arc<tokio::sync::Semaphore>,
    pub(super) timeout: Duration,
    pub(super) reach: std::sync::Arc<Reachability>,
    /// Woken after a committed write queued webhook deliveries (`tx::mark_queued`): a hint
    /// to this process's delivery worker, which also polls (any replica may take them).
    pub(super) queued: std::sync::Arc<tokio::sync::Notify>,
}

/// Whether the database took new connections lately. While the last attempt to connect
/// failed and the pool holds no connection, requests answer 503 at once instead of each
/// waiting `DB_TIMEOUT_SECS` for a connection that will not come; one request a second
/// still goes through and tries, so the service notices the database coming back.
#[derive(Debug, Default)]
pub(super) struct Reachability {
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
    pub(super) fn refuse_now(&self, pooled: u32) -> bool {
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

    /// Connections open, of them idle, and the pool's size (for `/metrics`).
    pub fn usage(&self) -> (u32, u32, u32) {
        let state = self.inner.state();
        (state.connections, state.idle_connections, self.inner.max_size())
    }

    /// Notified after a committed write queued deliveries.
    pub fn queued(&self) -> &tokio::sync::Notify {
        &self.queued
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
    let queued = std::sync::Arc::new(tokio::sync::Notify::new());
    Ok(Pool { inner, gate, timeout: opts.connect_timeout, reach, queued })
}
