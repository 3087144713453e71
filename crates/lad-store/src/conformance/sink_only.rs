//! Checks of a backend with only the [`VerdictSink`](crate::VerdictSink) role: it refuses the
//! other roles' reads and prints each anomaly once.

use super::*;

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
    assert!(!h.store().has_incidents());
    let err = h
        .store()
        .incidents(&crate::IncidentQuery::default())
        .expect_err("a sink keeps no incidents");
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
