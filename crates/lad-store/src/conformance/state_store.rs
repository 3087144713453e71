//! Checks of the [`StateStore`](crate::StateStore) role: anomalies of a window, aggregates and
//! their links, feedback.

use super::*;

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
    // A whole history, as incident repair reads a source that has no incident yet.
    let a = ok(
        h.store().anomalies("src", i64::MIN, i64::MAX, 100),
        "anomalies of all time",
    );
    assert_eq!(a.len(), 4, "every anomaly");
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
