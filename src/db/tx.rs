//! Transactions and the blocking hop every request's database work takes.

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::prelude::*;

use super::{DbConnection, Pool};
use crate::error::AppError;

thread_local! {
    /// Set when the transaction running on this thread queued a webhook delivery.
    static QUEUED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Called by the outbox for each delivery it writes: once this thread's transaction
/// commits, `write` wakes the delivery worker.
pub fn mark_queued() {
    QUEUED.with(|q| q.set(true));
}

/// Runs `f` in one transaction. SQLite transactions start with `BEGIN IMMEDIATE`, so two
/// writers queue on the busy timeout instead of failing with "database is locked" when
/// a read lock would have to be upgraded.
pub fn write_tx<T, F>(conn: &mut DbConnection, f: F) -> Result<T, AppError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, AppError>,
{
    QUEUED.with(|q| q.set(false));
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
    let queued = pool.queued.clone();
    run(pool, move |conn| {
        let result = write_tx(conn, f);
        if result.is_ok() && QUEUED.with(|q| q.replace(false)) {
            queued.notify_one();
        }
        result
    })
    .await
}
