//! The conformance suite every backend runs: the contract of [`crate::Store`] checked from the
//! outside. A backend's test file implements [`Harness`] (how to open, reopen and damage its
//! storage) and expands [`crate::conformance_tests!`] (stores) or
//! [`crate::conformance_sink_tests!`] (sinks) into one `#[test]` per case. The cases panic on
//! failure, like any test; this module is test support and must not be used by the daemon.

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

/// Training windows: host filter, half-open bounds, newest-first cap returned oldest first,
/// fields and extra intact.
pub fn training_window(h: &mut dyn Harness) {
    let mut records: Vec<NewRecord> = (0..10)
        .map(|i| rec("a", T0 + i * S, &format!("a{i}")))
        .collect();
    records.extend((0..3).map(|i| rec("b", T0 + i * S, &format!("b{i}"))));
    import(h, "src", &records);
    let w = ok(
        h.store().training_window("src", "a", T0, T0 + 10 * S, 4),
        "training window",
    );
    assert_eq!(
        messages(&w.records),
        ["a6", "a7", "a8", "a9"],
        "newest 4, oldest first"
    );
    assert!(w.malformed.is_empty());
    let r = &w.records[0];
    assert_eq!(
        (r.source.as_str(), r.host.as_str(), r.time),
        ("src", "a", T0 + 6 * S)
    );
    assert_eq!(r.extra.get("tag"), Some(&json!("a6")));
    let w = ok(
        h.store()
            .training_window("src", "a", T0 + 2 * S, T0 + 5 * S, 100),
        "training window",
    );
    assert_eq!(
        messages(&w.records),
        ["a2", "a3", "a4"],
        "[from, to) bounds"
    );
    let w = ok(
        h.store().training_window("src", "b", 0, i64::MAX, 100),
        "training window",
    );
    assert_eq!(messages(&w.records), ["b0", "b1", "b2"]);
    let w = ok(
        h.store().training_window("other", "a", 0, i64::MAX, 100),
        "training window",
    );
    assert!(w.records.is_empty(), "sources are separate");
}

/// Unscored records come oldest first in (time, id) order, filtered by host, and a record
/// inserted late with an old time is still found.
pub fn unscored_order_and_late_insert(h: &mut dyn Harness) {
    let times = [5, 3, 3, 9, 1];
    let records: Vec<NewRecord> = times
        .iter()
        .enumerate()
        .map(|(i, t)| rec("a", T0 + t * S, &format!("m{i}")))
        .collect();
    import(h, "src", &records);
    import(h, "src", &[rec("b", T0, "other host")]);
    let hosts = ["a".to_owned()];
    let batch = ok(h.store().next_unscored("src", &hosts, 100), "next unscored");
    // Equal times keep import order (ids grow with insertion in every backend).
    assert_eq!(messages(&batch.records), ["m4", "m1", "m2", "m0", "m3"]);
    let all = ok(
        h.store().next_unscored("src", &[], 100),
        "next unscored, all hosts",
    );
    assert_eq!(messages(&all.records)[0], "other host");
    assert_eq!(all.records.len(), 6);
    let first = ok(h.store().next_unscored("src", &hosts, 2), "next unscored");
    assert_eq!(messages(&first.records), ["m4", "m1"], "limit");
    ok(
        h.store()
            .write_verdicts("src", &verdicts(&batch.records, |_| false), &batch.records),
        "verdicts",
    );
    import(h, "src", &[rec("a", T0 - 3600 * S, "late but old")]);
    let batch = ok(h.store().next_unscored("src", &hosts, 100), "next unscored");
    assert_eq!(messages(&batch.records), ["late but old"]);
}

/// Each record is scored once: verdicts written are not returned again, writing them again (even
/// different ones) changes nothing, and this survives a restart.
pub fn exactly_once(h: &mut dyn Harness) {
    let records: Vec<NewRecord> = (0..5)
        .map(|i| rec("a", T0 + i * S, &format!("m{i}")))
        .collect();
    import(h, "src", &records);
    let batch = ok(h.store().next_unscored("src", &[], 3), "next unscored");
    let first = verdicts(&batch.records, |r| r.message == "m1");
    assert_eq!(
        ok(
            h.store().write_verdicts("src", &first, &batch.records),
            "verdicts"
        ),
        3
    );
    assert_eq!(
        ok(
            h.store().write_verdicts("src", &first, &batch.records),
            "same verdicts"
        ),
        0
    );
    let flipped: Vec<Verdict> = first
        .iter()
        .map(|v| Verdict {
            is_anomaly: !v.is_anomaly,
            score: 99.0,
            ..v.clone()
        })
        .collect();
    assert_eq!(
        ok(
            h.store().write_verdicts("src", &flipped, &batch.records),
            "other verdicts"
        ),
        0
    );
    let rest = ok(h.store().next_unscored("src", &[], 100), "next unscored");
    assert_eq!(messages(&rest.records), ["m3", "m4"]);
    assert_eq!(ok(h.store().unscored_count("src"), "count"), 2);
    assert_eq!(
        ok(h.store().oldest_unscored_time("src"), "oldest"),
        Some(T0 + 3 * S)
    );
    h.reopen();
    let rest = ok(
        h.store().next_unscored("src", &[], 100),
        "next unscored after restart",
    );
    assert_eq!(
        messages(&rest.records),
        ["m3", "m4"],
        "verdicts survive a restart"
    );
    let scored: Vec<(String, Option<bool>, Option<f64>)> = rows(h, "src")
        .into_iter()
        .map(|r| (r.record.message, r.is_anomaly, r.anomaly_score))
        .collect();
    assert_eq!(scored[0], ("m0".into(), Some(false), Some(0.0)));
    assert_eq!(
        scored[1],
        ("m1".into(), Some(true), Some(1.0)),
        "the first verdict stands"
    );
    assert_eq!(scored[3], ("m3".into(), None, None));
    ok(
        h.store()
            .write_verdicts("src", &verdicts(&rest.records, |_| false), &rest.records),
        "verdicts",
    );
    assert!(ok(h.store().next_unscored("src", &[], 100), "next unscored").is_empty());
    assert_eq!(ok(h.store().unscored_count("src"), "count"), 0);
    assert_eq!(ok(h.store().oldest_unscored_time("src"), "oldest"), None);
}

/// A malformed record is reported next to good ones, does not block them, and once marked is
/// not reported again, also after a restart.
pub fn malformed_reported_and_skippable(h: &mut dyn Harness) {
    import(h, "src", &[rec("a", T0 + S, "before")]);
    h.inject_malformed("src", "a", T0 + 2 * S);
    import(h, "src", &[rec("a", T0 + 3 * S, "after")]);
    let batch = ok(h.store().next_unscored("src", &[], 100), "next unscored");
    assert_eq!(
        messages(&batch.records),
        ["before", "after"],
        "good records are not blocked"
    );
    assert_eq!(
        batch.malformed.len(),
        1,
        "the malformed record is reported: {batch:?}"
    );
    let bad = batch.malformed[0].clone();
    assert_eq!(bad.source, "src");
    assert!(!bad.reason.is_empty());
    ok(
        h.store().mark_malformed("src", &bad.id, &bad.reason),
        "mark malformed",
    );
    ok(
        h.store().mark_malformed("src", &bad.id, &bad.reason),
        "mark malformed twice",
    );
    let batch = ok(h.store().next_unscored("src", &[], 100), "next unscored");
    assert!(
        batch.malformed.is_empty(),
        "a marked record is not returned again"
    );
    assert_eq!(ok(h.store().unscored_count("src"), "count"), 2);
    ok(
        h.store()
            .write_verdicts("src", &verdicts(&batch.records, |_| false), &batch.records),
        "verdicts",
    );
    h.reopen();
    assert!(ok(
        h.store().next_unscored("src", &[], 100),
        "next unscored after restart"
    )
    .is_empty());
}

/// Anomalies of a window: only anomalies, half-open bounds, newest-first cap, scores.
pub fn anomalies_window(h: &mut dyn Harness) {
    let records: Vec<NewRecord> = (1..=6)
        .map(|i| rec("a", T0 + i * S, &format!("m{i}")))
        .collect();
    import(h, "src", &records);
    let batch = ok(h.store().next_unscored("src", &[], 100), "next unscored");
    let v = verdicts(&batch.records, |r| {
        ["m2", "m4", "m5", "m6"].contains(&r.message.as_str())
    });
    ok(
        h.store().write_verdicts("src", &v, &batch.records),
        "verdicts",
    );
    let a = ok(
        h.store().anomalies("src", T0 + 2 * S, T0 + 6 * S, 100),
        "anomalies",
    );
    let got: Vec<(&str, f64)> = a
        .iter()
        .map(|x| (x.record.message.as_str(), x.score))
        .collect();
    assert_eq!(got, [("m2", 2.0), ("m4", 4.0), ("m5", 5.0)]);
    assert!(a.iter().all(|x| x.aggregate_id.is_none()));
    let a = ok(h.store().anomalies("src", 0, i64::MAX, 2), "anomalies");
    assert_eq!(
        a.iter()
            .map(|x| x.record.message.as_str())
            .collect::<Vec<_>>(),
        ["m5", "m6"]
    );
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

/// Aggregates link their members, show up on anomalies and exports, are not duplicated by a
/// re-run, survive a restart, and their ids are never reused.
pub fn aggregates_link_and_rerun(h: &mut dyn Harness) {
    let records: Vec<NewRecord> = (1..=4)
        .map(|i| rec("a", T0 + i * S, &format!("m{i}")))
        .collect();
    import(h, "src", &records);
    let batch = ok(h.store().next_unscored("src", &[], 100), "next unscored");
    ok(
        h.store()
            .write_verdicts("src", &verdicts(&batch.records, |_| true), &batch.records),
        "verdicts",
    );
    let ids: Vec<RecordId> = batch.records.iter().map(|r| r.id.clone()).collect();
    let drafts = [
        draft("m *** x", vec![ids[0].clone(), ids[1].clone()]),
        draft("m3", vec![ids[2].clone()]),
    ];
    let created = ok(
        h.store().write_aggregates("src", "aggr", &drafts),
        "write aggregates",
    );
    let (Some(a1), Some(a2)) = (created[0].clone(), created[1].clone()) else {
        panic!("expected two new aggregates, got {created:?}")
    };
    assert_ne!(a1, a2);
    let stored = ok(h.store().aggregates(Some("src")), "aggregates");
    assert_eq!(stored.len(), 2);
    assert_eq!(
        (stored[0].id.clone(), stored[0].draft.member_ids.clone()),
        (a1.clone(), ids[..2].to_vec())
    );
    assert_eq!(stored[0].draft.message, "m *** x");
    assert_eq!(
        (stored[0].input_source.as_str(), stored[0].target.as_str()),
        ("src", "aggr")
    );
    assert_eq!(stored[0].draft.average_anomaly_score, 1.5);
    let linked: Vec<Option<RecordId>> =
        ok(h.store().anomalies("src", 0, i64::MAX, 100), "anomalies")
            .into_iter()
            .map(|a| a.aggregate_id)
            .collect();
    assert_eq!(
        linked,
        [Some(a1.clone()), Some(a1.clone()), Some(a2.clone()), None]
    );
    let again = ok(h.store().write_aggregates("src", "aggr", &drafts), "re-run");
    assert_eq!(again, [None, None], "a re-run creates nothing");
    assert_eq!(ok(h.store().aggregates(None), "aggregates").len(), 2);
    h.reopen();
    let more = ok(
        h.store().write_aggregates(
            "src",
            "aggr",
            &[draft("m", vec![ids[2].clone(), ids[3].clone()])],
        ),
        "more",
    );
    let Some(a3) = more[0].clone() else {
        panic!("expected a new aggregate, got {more:?}")
    };
    assert!(a3 != a1 && a3 != a2, "ids are never reused");
    let stored = ok(
        h.store().aggregates(Some("src")),
        "aggregates after restart",
    );
    assert_eq!(stored.len(), 3);
    assert_eq!(
        stored[2].draft.member_ids,
        vec![ids[3].clone()],
        "an already linked member stays with its first aggregate"
    );
    let exported: Vec<Option<RecordId>> =
        rows(h, "src").into_iter().map(|r| r.aggregate_id).collect();
    assert_eq!(exported, [Some(a1.clone()), Some(a1), Some(a2), Some(a3)]);
}

/// Export returns every record once across pages, with its extra fields exactly as imported.
pub fn export_pages_and_extra_fields(h: &mut dyn Harness) {
    let extra = json!({"nested": {"a": [1, 2.5, null, true]}, "unicode": "żółw ✓", "big": 9007199254740993_u64, "empty": ""});
    let records: Vec<NewRecord> = (0..5)
        .map(|i| {
            let mut r = rec("a", T0 + i * S, &format!("m{i}"));
            if let Value::Object(m) = extra.clone() {
                r.extra = m;
            }
            r
        })
        .collect();
    import(h, "src", &records);
    import(h, "elsewhere", &[rec("a", T0, "not here")]);
    let (mut seen, mut cursor, mut pages) = (Vec::new(), None, 0);
    loop {
        let page = ok(h.store().export_page(Some("src"), cursor, 2), "export");
        pages += 1;
        assert!(page.rows.len() <= 2);
        seen.extend(page.rows);
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(pages < 10, "export does not end");
    }
    assert_eq!(
        seen.iter()
            .map(|r| r.record.message.as_str())
            .collect::<Vec<_>>(),
        ["m0", "m1", "m2", "m3", "m4"]
    );
    for r in &seen {
        assert_eq!(
            Value::Object(r.record.extra.clone()),
            extra,
            "extra fields are kept"
        );
        assert_eq!(
            (r.is_anomaly, r.anomaly_score, r.aggregate_id.clone()),
            (None, None, None)
        );
    }
    let everything = ok(h.store().export_page(None, None, 100), "export all");
    assert_eq!(everything.rows.len(), 6);
}

/// Sources and hosts are listed, and importing documents with ids twice adds nothing.
pub fn sources_hosts_and_idempotent_import(h: &mut dyn Harness) {
    let with_id = |i: i64, host: &str| NewRecord {
        original_id: Some(RecordId::Text(format!("doc-{i}"))),
        ..rec(host, T0 + i * S, &format!("m{i}"))
    };
    let docs: Vec<NewRecord> = (0..4)
        .map(|i| with_id(i, if i % 2 == 0 { "h1" } else { "h2" }))
        .collect();
    let first = ok(h.store().import("s1", &docs), "import");
    assert_eq!((first.inserted, first.duplicates), (4, 0));
    let again = ok(h.store().import("s1", &docs), "import again");
    assert_eq!((again.inserted, again.duplicates), (0, 4));
    import(h, "s2", &[with_id(0, "h3")]);
    assert_eq!(rows(h, "s1").len(), 4);
    assert_eq!(ok(h.store().list_sources(), "sources"), ["s1", "s2"]);
    assert_eq!(ok(h.store().hosts("s1"), "hosts"), ["h1", "h2"]);
    assert_eq!(ok(h.store().hosts("s2"), "hosts"), ["h3"]);
}

/// Feedback marks are stored, listed, undone, and kept across a restart.
pub fn feedback_crud(h: &mut dyn Harness) {
    let mark = NewFeedback {
        source: "src".into(),
        host: "a".into(),
        record_id: Some(RecordId::Int(7)),
        message: "link down".into(),
        template: Some("link ***".into()),
        who: "alice".into(),
        at_ms: T0,
    };
    let id1 = ok(h.store().add_feedback(&mark), "add feedback");
    let id2 = ok(
        h.store().add_feedback(&NewFeedback {
            source: "other".into(),
            record_id: None,
            template: None,
            ..mark.clone()
        }),
        "add",
    );
    assert_ne!(id1, id2);
    let listed = ok(h.store().list_feedback(Some("src"), false), "list");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].id, &listed[0].mark, listed[0].undone_at_ms),
        (id1, &mark, None)
    );
    assert!(ok(h.store().undo_feedback(id1, T0 + S), "undo"));
    assert!(
        !ok(h.store().undo_feedback(id1, T0 + 2 * S), "undo twice"),
        "undoing twice does nothing"
    );
    h.reopen();
    assert!(ok(h.store().list_feedback(Some("src"), false), "list").is_empty());
    let all = ok(h.store().list_feedback(None, true), "list all");
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].undone_at_ms, Some(T0 + S));
}

/// A sink refuses reads with `Unsupported` and prints each anomaly once.
pub fn sink_rejects_reads_and_prints_anomalies_once(h: &mut dyn Harness) {
    assert!(h.store().is_sink());
    let err = h
        .store()
        .next_unscored("src", &[], 10)
        .expect_err("a sink cannot be read");
    assert!(err.is_unsupported(), "{err}");
    let err = h
        .store()
        .training_window("src", "a", 0, 1, 1)
        .expect_err("a sink cannot be read");
    assert!(err.is_unsupported(), "{err}");
    let records: Vec<Record> = (0..3)
        .map(|i| Record {
            id: RecordId::Int(i),
            source: "src".into(),
            host: "a".into(),
            time: T0 + i * S,
            message: format!("m{i}"),
            extra: Map::new(),
        })
        .collect();
    let v = verdicts(&records, |r| r.message != "m0");
    assert_eq!(
        ok(h.store().write_verdicts("src", &v, &records), "verdicts"),
        2
    );
    assert_eq!(
        ok(
            h.store().write_verdicts("src", &v, &records),
            "verdicts again"
        ),
        0
    );
    let out = h.sink_output();
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or(Value::Null))
        .collect();
    assert_eq!(lines.len(), 2, "one line per anomaly: {out}");
    assert_eq!(lines[0]["message"], json!("m1"));
    assert_eq!(lines[0]["anomaly_score"], json!(1.0));
    assert_eq!(lines[1]["_id"], json!("2"));
    let ids = ok(
        h.store()
            .write_aggregates("src", "aggr", &[draft("m ***", vec![RecordId::Int(1)])]),
        "aggregates",
    );
    assert!(ids[0].is_some());
    assert_eq!(h.sink_output().lines().count(), 3);
}

/// Expands into one `#[test]` per conformance case for a store; `$make` is an expression giving a
/// fresh [`Harness`] (evaluated once per test).
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@cases $make;
            training_window, unscored_order_and_late_insert, exactly_once,
            malformed_reported_and_skippable, anomalies_window, aggregates_link_and_rerun,
            export_pages_and_extra_fields, sources_hosts_and_idempotent_import, feedback_crud);
    };
    (@cases $make:expr; $($case:ident),*) => {
        $(
            #[test]
            fn $case() {
                let mut harness = $make;
                $crate::conformance::$case(&mut harness);
            }
        )*
    };
}

/// Expands into the `#[test]`s of the reduced suite for a sink.
#[macro_export]
macro_rules! conformance_sink_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@cases $make; sink_rejects_reads_and_prints_anomalies_once);
    };
}
