//! Several replicas on one database (SPEC §12): what must not depend on one process.

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, RunQueryDsl};

/// Replicas starting together apply the migrations once: on a database nobody migrated
/// yet, four concurrent `migrate` calls all succeed and the schema ends up complete.
/// PostgreSQL only (SQLite is one process by design); without TEST_DATABASE_URL it says so.
#[test]
fn concurrent_startups_migrate_once() {
    let Some(base) = std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!("TEST_DATABASE_URL is not set: PostgreSQL-only test not run");
        return;
    };
    let _ = crate::helpers::postgres_url(); // drops databases of finished test processes first
    let name = format!("crm_test_{}_{}", std::process::id(), uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::establish(&base).unwrap();
    admin.batch_execute(&format!("CREATE DATABASE \"{name}\"")).unwrap();
    let url = crate::helpers::database_url_named(&base, &name);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let (url, barrier) = (url.clone(), barrier.clone());
            std::thread::spawn(move || {
                let state = crm_api::app::state(crate::helpers::settings(url)).unwrap();
                barrier.wait();
                crm_api::app::migrate(&state)
            })
        })
        .collect();
    let results: Vec<Result<usize, String>> = runs.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let applied: usize = results.iter().map(|r| *r.as_ref().unwrap()).sum();
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres")).unwrap().count();
    assert_eq!(applied, migrations, "each migration applied by exactly one of them: {results:?}");
    let state = crm_api::app::state(crate::helpers::settings(url)).unwrap();
    assert_eq!(crm_api::app::migrate(&state), Ok(0), "nothing left to apply");
    let mut conn = PgConnection::establish(&crate::helpers::database_url_named(&base, &name)).unwrap();
    let versions: i64 =
        diesel::dsl::sql::<diesel::sql_types::BigInt>("SELECT COUNT(*) FROM __diesel_schema_migrations")
            .get_result(&mut conn)
            .unwrap();
    assert_eq!(versions as usize, applied, "each migration recorded once");
}
