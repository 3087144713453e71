//! Runs the shared conformance suite against the `local` backend on a temporary folder.

use std::io::Write;

use lad_store::conformance::Harness;
use lad_store::{BackendConfig, FieldNames, LocalConfig, Store};

struct LocalHarness {
    dir: tempfile::TempDir,
    config: BackendConfig,
    store: Option<Store>,
}

impl LocalHarness {
    fn new() -> LocalHarness {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let input = dir.path().join("in");
        std::fs::create_dir(&input).expect("create the input folder");
        let config = BackendConfig::Local(LocalConfig {
            input_path: input,
            output_path: dir.path().join("out.jsonl"),
            fields: FieldNames::default(),
            source: None,
        });
        let store = Store::open(&config).expect("open local store");
        LocalHarness {
            dir,
            config,
            store: Some(store),
        }
    }
}

impl Harness for LocalHarness {
    fn store(&mut self) -> &mut Store {
        self.store.as_mut().expect("store is open")
    }

    fn reopen(&mut self) {
        self.store = None;
        self.store = Some(Store::open(&self.config).expect("reopen local store"));
    }

    fn inject_malformed(&mut self, source: &str, host: &str, time_ms: i64) {
        let path = self.dir.path().join("in").join(format!("{source}.jsonl"));
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("open input");
        // The message has the wrong type.
        writeln!(
            file,
            r#"{{"message": 42, "hostname": "{host}", "received_at": {time_ms}}}"#
        )
        .expect("append");
    }
}

lad_store::conformance_tests!(
    LocalHarness::new();
    record_source, training_reader, verdict_sink, state_store, incident_store, record_archive
);
