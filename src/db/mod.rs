//! Connection, pool and migrations for both backends, chosen by the URL scheme; the query
//! pieces they share; transactions.

mod migrations;
mod pool;
mod query;
pub mod schema;
mod tx;

pub use migrations::run_migrations;
pub use pool::{
    build_pool, Backend, DbConnection, DbUrl, Manager, MultiBackend, Pool, PoolConn, PoolOptions, PooledConn,
};
pub use query::{bounded_total, lower, CountOf, Limit, Opaque, UnionAll, TOTAL_CAP};
pub(crate) use query::{id_page, insert_batch};
pub use tx::{blocking, mark_queued, run, write, write_tx};
