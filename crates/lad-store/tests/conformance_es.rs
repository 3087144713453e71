//! Runs the shared conformance suite against the `es` backend: one clone of an `osmem-server`
//! per test (see `lad_store::es::testserver` for where the server comes from; without one the
//! tests fail unless `LAD_SKIP_ES=1`).
//!
//! # What the stand-in proves, and what it cannot
//!
//! `osmem-server` is an in-memory server that speaks the OpenSearch REST API (it reports
//! OpenSearch 3.8). The backend keeps to the APIs Elasticsearch 7.10+ and OpenSearch 2+ share:
//! `GET /`, `_search` (bool, term, terms, range, exists, query_string, sort, `search_after`,
//! `seq_no_primary_term`, terms aggregation), `_count`, `_mget`, `_bulk` (create, index, update
//! with `if_seq_no`/`if_primary_term`), `PUT index` with mappings, `_mapping/field`,
//! `_cat/indices?format=json`, and a point in time, whose endpoints differ by server
//! (`_pit` on Elasticsearch, `_search/point_in_time` on OpenSearch; lad picks by `GET /`).
//! Probed on osmem-server 0.1.6, it lacks: Elasticsearch's `_pit` (so only the OpenSearch
//! point in time is exercised here), scripted updates (`_update_by_query` with a script, which
//! lad does not use), and real refresh and replica behaviour (every write is visible at once).
//! What a real cluster does differently (shards, refresh intervals, Elasticsearch 8's refusal
//! to sort on `_id` unless `indices.id_field_data.enabled`) is not covered by these tests.

use lad_store::conformance::Harness;
use lad_store::es::testserver;
use lad_store::{BackendConfig, EsConfig, Store};

struct EsHarness {
    config: BackendConfig,
    store: Option<Store>,
    // Dropped last: the clone is deleted when the test ends.
    _clone: testserver::Clone,
}

impl EsHarness {
    /// `None` when the caller asked to skip the Elasticsearch tests.
    fn new() -> Option<EsHarness> {
        if testserver::skip_requested() {
            eprintln!("LAD_SKIP_ES=1: skipping an Elasticsearch test");
            return None;
        }
        let clone = testserver::Clone::new().unwrap_or_else(|e| panic!("{e}"));
        let config = BackendConfig::Es(Box::new(EsConfig {
            endpoint: clone.url.clone(),
            ..EsConfig::default()
        }));
        let store = Store::open(&config).unwrap_or_else(|e| panic!("open es store: {e}"));
        Some(EsHarness {
            config,
            store: Some(store),
            _clone: clone,
        })
    }
}

impl Harness for EsHarness {
    fn store(&mut self) -> &mut Store {
        self.store.as_mut().expect("store is open")
    }

    fn reopen(&mut self) {
        self.store = None;
        self.store = Some(Store::open(&self.config).expect("reopen es store"));
    }

    fn inject_malformed(&mut self, source: &str, host: &str, time_ms: i64) {
        let BackendConfig::Es(c) = &self.config else {
            panic!("not es")
        };
        // A message that is a number, not a string (the index maps it as text, which takes it).
        let time = lad_store::timefmt::format_rfc3339_millis(time_ms);
        let body = format!(
            "{{\"index\":{{\"_index\":\"{source}\"}}}}\n{{\"hostname\":\"{host}\",\"received_at\":\"{time}\",\"message\":42}}\n"
        );
        let mut reply = ureq::post(format!("{}/_bulk?refresh=true", c.endpoint))
            .header("Content-Type", "application/x-ndjson")
            .send(body)
            .expect("bulk insert of a malformed document");
        let text = reply.body_mut().read_to_string().expect("reply");
        assert!(text.contains("\"errors\":false"), "{text}");
    }
}

// Each case is skipped only on explicit request (`EsHarness::new` gives `None`).
lad_store::conformance_tests!(
    match EsHarness::new() {
        Some(h) => h,
        None => return,
    };
    record_source, training_reader, verdict_sink, state_store, incident_store, record_archive
);
