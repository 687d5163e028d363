//! The two embedded migration sets, one per backend, with the same versions.

use diesel::connection::SimpleConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::DbConnection;

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// The PostgreSQL advisory lock that serialises migrations of one database: replicas that
/// start together wait for the first to finish, then find nothing pending (SPEC §12).
const MIGRATION_LOCK: i64 = 0x63726d_6d6967; // "crm" "mig"

/// `jit = off` for every session of this database (or, without the right to alter the
/// database, of this role): a stored setting, applied by the server to each new session,
/// so it holds behind a transaction-pooling proxy where a `SET` would only change whichever
/// server connection ran it. The service's queries are short; JIT compilation only adds
/// latency to them. Run at every start-up (a restored dump loses database settings), under
/// the migration lock, and only written when missing.
const JIT_OFF: &str = r#"
DO $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_db_role_setting s
    WHERE 'jit=off' = ANY (s.setconfig)
      AND ((s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()) AND s.setrole = 0)
        OR (s.setdatabase = 0 AND s.setrole = (SELECT oid FROM pg_roles WHERE rolname = current_user)))
  ) THEN
    BEGIN
      EXECUTE format('ALTER DATABASE %I SET jit = off', current_database());
    EXCEPTION WHEN insufficient_privilege THEN
      BEGIN
        EXECUTE 'ALTER ROLE CURRENT_USER SET jit = off';
      EXCEPTION WHEN insufficient_privilege THEN
        RAISE WARNING 'crm-api: cannot store jit = off for this database or role; set it yourself';
      END;
    END;
  END IF;
END $$;
SET jit = off;
"#;

/// Applies pending migrations; returns how many. On PostgreSQL under a session advisory
/// lock (released even when a migration fails); SQLite has one writer at a time anyway.
pub fn run_migrations(conn: &mut DbConnection) -> Result<usize, String> {
    let failed = |e: &dyn std::fmt::Display| format!("migrations failed: {e}");
    let applied = match conn {
        DbConnection::Pg(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).map_err(|e| failed(&e))?;
            let applied = c.run_pending_migrations(PG_MIGRATIONS).map(|v| v.len());
            let applied = match applied {
                Ok(n) => c.batch_execute(JIT_OFF).map(|()| n).map_err(Into::into),
                Err(e) => Err(e),
            };
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
