//! Checks of the [`RecordSource`](crate::RecordSource) role: unscored order, exactly-once scoring
//! (with the sink of the same backend), malformed records, sources and hosts.

use super::*;

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
