//! Runs the shared conformance suite against the `sqlite` backend on a temporary file.

use lad_store::conformance::Harness;
use lad_store::{BackendConfig, SqliteConfig, Store};

struct SqliteHarness {
    _dir: tempfile::TempDir,
    config: BackendConfig,
    store: Option<Store>,
}

impl SqliteHarness {
    fn new() -> SqliteHarness {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let config = BackendConfig::Sqlite(SqliteConfig {
            path: dir.path().join("lad.db"),
        });
        let store = Store::open(&config).expect("open sqlite store");
        SqliteHarness {
            _dir: dir,
            config,
            store: Some(store),
        }
    }
}

impl Harness for SqliteHarness {
    fn store(&mut self) -> &mut Store {
        self.store.as_mut().expect("store is open")
    }

    fn reopen(&mut self) {
        self.store = None;
        self.store = Some(Store::open(&self.config).expect("reopen sqlite store"));
    }

    fn inject_malformed(&mut self, source: &str, host: &str, time_ms: i64) {
        let Store::Sqlite(s) = self.store() else {
            panic!("not sqlite")
        };
        // Invalid UTF-8 stored as text: SQLite accepts it, a reader must not.
        s.execute_raw(&format!(
            "INSERT INTO records (source, host, time_ms, message) VALUES ('{source}', '{host}', {time_ms}, CAST(X'C328FF' AS TEXT))"
        ))
        .expect("insert a malformed row");
    }
}

lad_store::conformance_tests!(
    SqliteHarness::new();
    record_source, training_reader, verdict_sink, state_store, incident_store, record_archive
);
