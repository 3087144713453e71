//! Checks of the [`VerdictSink`](crate::VerdictSink) role, run on every backend (stores and
//! sinks alike): writing the same verdicts twice changes nothing the second time, and each
//! aggregate draft with members not linked before gets an id.

use super::*;

/// Verdicts written twice count once; a fresh aggregate gets an id.
pub fn verdicts_and_aggregates_are_idempotent(h: &mut dyn Harness) {
    let records = h.records_to_judge("src", 3);
    assert_eq!(records.len(), 3, "three records to judge");
    let v = verdicts(&records, |r| r.message != "m0");
    let first = ok(h.store().write_verdicts("src", &v, &records), "verdicts");
    // A store counts every first verdict (3), a printing sink every anomaly printed (2).
    assert!((2..=3).contains(&first), "first write took {first}");
    assert_eq!(
        ok(
            h.store().write_verdicts("src", &v, &records),
            "same verdicts"
        ),
        0,
        "writing the same verdicts again changes nothing"
    );
    let ids = ok(
        h.store().write_aggregates(
            "src",
            "aggr",
            &[draft("m ***", vec![records[1].id.clone()])],
        ),
        "aggregates",
    );
    assert_eq!(ids.len(), 1);
    assert!(ids[0].is_some(), "a draft with a free member gets an id");
}
