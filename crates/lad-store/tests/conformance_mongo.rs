//! Runs the shared conformance suite against the `mg` backend: one database per test on a
//! `secantusd-rs` server (see `lad_store::mongo::testserver` for where it comes from; without one
//! the tests fail unless `LAD_SKIP_MONGO=1`).
//!
//! The server reports version 8.2, so it cannot catch commands newer than MongoDB 5.0; the
//! backend restricts itself to the 5.0 command set by construction (no client-level bulkWrite).

use bson::{doc, DateTime};
use lad_store::conformance::Harness;
use lad_store::mongo::testserver;
use lad_store::{BackendConfig, MongoConfig, Store};

struct MongoHarness {
    config: BackendConfig,
    store: Option<Store>,
}

impl MongoHarness {
    /// `None` when the caller asked to skip MongoDB tests.
    fn new() -> Option<MongoHarness> {
        if testserver::skip_requested() {
            eprintln!("LAD_SKIP_MONGO=1: skipping a MongoDB test");
            return None;
        }
        let (host, port) = match testserver::shared_server() {
            Ok(hp) => hp,
            Err(e) => panic!("{e}"),
        };
        let config = BackendConfig::Mongo(MongoConfig {
            host,
            port,
            db: testserver::unique_db("lad_conf"),
            ..MongoConfig::default()
        });
        let store = Store::open(&config).unwrap_or_else(|e| panic!("open mg store: {e}"));
        Some(MongoHarness {
            config,
            store: Some(store),
        })
    }
}

impl Harness for MongoHarness {
    fn store(&mut self) -> &mut Store {
        self.store.as_mut().expect("store is open")
    }

    fn reopen(&mut self) {
        self.store = None;
        self.store = Some(Store::open(&self.config).expect("reopen mg store"));
    }

    fn inject_malformed(&mut self, source: &str, host: &str, time_ms: i64) {
        let Store::Mongo(s) = self.store() else {
            panic!("not mg")
        };
        // A message that is a number, not a string.
        s.database()
            .collection::<bson::Document>(source)
            .insert_one(doc! {
                "hostname": host,
                "received_at": DateTime::from_millis(time_ms),
                "message": 42,
            })
            .run()
            .expect("insert a malformed document");
    }
}

// Each case is skipped only on explicit request (`MongoHarness::new` gives `None`).
lad_store::conformance_tests!(
    match MongoHarness::new() {
        Some(h) => h,
        None => return,
    };
    record_source, training_reader, verdict_sink, state_store, incident_store, record_archive
);
