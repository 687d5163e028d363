//! The two embedded migration sets, one per backend, with the same versions.

use diesel::connection::SimpleConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::DbConnection;

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// The PostgreSQL advisory lock that serialises migrations of one database: replicas that
/// start together wait for the first to finish, then find nothing pending (SPEC §12).
const MIGRATION_LOCK: i64 = 0x63726d_6d6967; // "crm" "mig"

/// Applies pending migrations; returns how many. On PostgreSQL under a session advisory
/// lock (released even when a migration fails); SQLite has one writer at a time anyway.
pub fn run_migrations(conn: &mut DbConnection) -> Result<usize, String> {
    let failed = |e: &dyn std::fmt::Display| format!("migrations failed: {e}");
    let applied = match conn {
        DbConnection::Pg(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).map_err(|e| failed(&e))?;
            let applied = c.run_pending_migrations(PG_MIGRATIONS).map(|v| v.len());
            let unlocked = c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"));
            match (applied, unlocked) {
                (Ok(n), Ok(())) => Ok(n),
                (Err(e), _) => Err(e),
                (Ok(_), Err(e)) => return Err(failed(&e)),
            }
        }
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
    };
    applied.map_err(|e| failed(&e))
}
