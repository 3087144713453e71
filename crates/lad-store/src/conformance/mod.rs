//! The conformance suite every backend runs: the contract of each role ([`crate::roles`])
//! checked from the outside, through [`crate::Store`]. A backend's test file implements
//! [`Harness`] (how to open, reopen and damage its storage) and expands
//! [`crate::conformance_tests!`] with the roles the backend has, into one `#[test]` per case in
//! one module per role. The cases panic on failure, like any test; this module is test support
//! (feature `test-support`) and must not be used by the daemon.

pub mod incident_store;
pub mod record_archive;
pub mod record_source;
pub mod sink_only;
pub mod state_store;
pub mod training_reader;
pub mod verdict_sink;

use serde_json::{json, Map, Value};

use crate::record::{AggregateDraft, ExportRow, NewFeedback, NewRecord, Record, RecordId, Verdict};
use crate::{Store, StoreError};

/// 2024-01-05T12:00:00Z: the base time of every case.
pub const T0: i64 = 1_704_456_000_000;
const S: i64 = 1000;

/// What a backend's tests provide to the suite.
pub trait Harness {
    /// The store under test.
    fn store(&mut self) -> &mut Store;
    /// Drops the store and opens it again over the same storage (a restart).
    fn reopen(&mut self);
    /// Adds to `source` one record of `host` at `time_ms` that the store must report as
    /// malformed (invalid UTF-8, a wrongly typed field, ...), bypassing `import`.
    fn inject_malformed(&mut self, source: &str, host: &str, time_ms: i64);
    /// For sinks: everything written so far.
    fn sink_output(&mut self) -> String {
        String::new()
    }
    /// `n` records of `source` to write verdicts for, with messages `m0`, `m1`, ...: a store
    /// imports them and reads them back as unscored; a sink without reads makes them up.
    fn records_to_judge(&mut self, source: &str, n: usize) -> Vec<Record> {
        let records: Vec<NewRecord> = (0..n)
            .map(|i| rec("a", T0 + i as i64 * S, &format!("m{i}")))
            .collect();
        ok(self.store().import(source, &records), "import");
        ok(self.store().next_unscored(source, &[], n), "next unscored").records
    }
}

fn ok<T>(result: Result<T, StoreError>, what: &str) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e}"),
    }
}

fn rec(host: &str, time: i64, message: &str) -> NewRecord {
    let mut extra = Map::new();
    extra.insert("tag".into(), json!(message));
    NewRecord {
        original_id: None,
        host: host.into(),
        time,
        message: message.into(),
        extra,
    }
}

fn import(h: &mut dyn Harness, source: &str, records: &[NewRecord]) {
    ok(h.store().import(source, records), "import");
}

fn rows(h: &mut dyn Harness, source: &str) -> Vec<ExportRow> {
    let (mut out, mut cursor) = (Vec::new(), None);
    loop {
        let page = ok(h.store().export_page(Some(source), cursor, 1000), "export");
        out.extend(page.rows);
        match page.next {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

fn messages(records: &[Record]) -> Vec<&str> {
    records.iter().map(|r| r.message.as_str()).collect()
}

fn verdicts(records: &[Record], anomaly: impl Fn(&Record) -> bool) -> Vec<Verdict> {
    records
        .iter()
        .map(|r| Verdict {
            id: r.id.clone(),
            is_anomaly: anomaly(r),
            score: (r.time - T0) as f64 / 1000.0,
        })
        .collect()
}

fn draft(message: &str, members: Vec<RecordId>) -> AggregateDraft {
    AggregateDraft {
        message: message.into(),
        total_logs: members.len() as u64,
        average_time_ms: T0,
        average_anomaly_score: 1.5,
        most_frequent_hostname: "a".into(),
        was_added_at_ms: T0 + 100 * S,
        member_ids: members,
    }
}

/// Expands into the `#[test]`s of the conformance suite for the roles a backend has, one module
/// per role: `$make` is an expression giving a fresh [`Harness`] (evaluated once per test), the
/// roles any of `record_source`, `training_reader`, `verdict_sink`, `state_store`,
/// `incident_store`, `record_archive` and `sink_only` (a backend with no role but the sink's).
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr; $($role:ident),+ $(,)?) => {
        $( $crate::conformance_tests!(@role $make; $role); )+
    };
    (@role $make:expr; record_source) => {
        $crate::conformance_tests!(@cases $make; record_source;
            unscored_order_and_late_insert, exactly_once, malformed_reported_and_skippable,
            sources_hosts_and_idempotent_import);
    };
    (@role $make:expr; training_reader) => {
        $crate::conformance_tests!(@cases $make; training_reader; training_window);
    };
    (@role $make:expr; verdict_sink) => {
        $crate::conformance_tests!(@cases $make; verdict_sink;
            verdicts_and_aggregates_are_idempotent);
    };
    (@role $make:expr; state_store) => {
        $crate::conformance_tests!(@cases $make; state_store;
            anomalies_window, aggregates_link_and_rerun, feedback_crud);
    };
    (@role $make:expr; incident_store) => {
        $crate::conformance_tests!(@cases $make; incident_store; incidents_and_links);
    };
    (@role $make:expr; record_archive) => {
        $crate::conformance_tests!(@cases $make; record_archive; export_pages_and_extra_fields);
    };
    (@role $make:expr; sink_only) => {
        $crate::conformance_tests!(@cases $make; sink_only;
            sink_rejects_reads_and_prints_anomalies_once);
    };
    (@cases $make:expr; $role:ident; $($case:ident),*) => {
        mod $role {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $case() {
                    let mut harness = $make;
                    $crate::conformance::$role::$case(&mut harness);
                }
            )*
        }
    };
}
