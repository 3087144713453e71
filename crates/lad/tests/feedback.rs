//! Feedback seen from the scoring passes (SPEC section 7): a "not an anomaly" mark stops lines
//! of the same template on that host from being flagged from the next pass on, joins the next
//! training, and undo brings the old verdicts back.

use lad::config::Config;
use lad::pipeline::{self, Models, TrainOutcome};
use lad_store::{NewFeedback, NewRecord, RecordId};

const SOURCE: &str = "syslog";
const NOW: i64 = 1_700_000_000_000;

fn record(host: &str, time: i64, message: &str) -> NewRecord {
    NewRecord {
        original_id: None,
        host: host.into(),
        time,
        message: message.into(),
        extra: serde_json::Map::new(),
    }
}

/// The verdict (is_anomaly) of the record with `message`.
fn verdict_of(stores: &mut lad::wiring::Stores, message: &str) -> Option<bool> {
    let page = stores
        .source
        .export_page(Some(SOURCE), None, 10_000)
        .expect("export");
    page.rows
        .iter()
        .find(|r| r.record.message == message)
        .and_then(|r| r.is_anomaly)
}

#[test]
fn a_mark_suppresses_the_template_of_its_host_until_undone() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut config = Config::embedded_default().expect("the embedded default is valid");
    config.sqlite_path = dir.path().join("lad.db");
    config.model_base_dir = dir.path().join("models");
    let mut stores = lad::wiring::open_for_scoring(&config).expect("the store opens");

    let routine = [
        "session opened for user alice by (uid=0)",
        "cron job 12 started",
        "connection from 10.0.0.5 port 2222 accepted",
        "session closed for user alice",
    ];
    let mut training = Vec::new();
    for i in 0..400i64 {
        for host in ["h1", "h2"] {
            training.push(record(
                host,
                NOW - 7_200_000 + i * 1000,
                routine[(i % 4) as usize],
            ));
        }
    }
    stores.source.import(SOURCE, &training).expect("import");
    let hosts = pipeline::host_pairs(&config, &mut stores.source).expect("hosts");
    let trained =
        pipeline::train(&config, &mut stores.source, &hosts, NOW - 3_600_000).expect("train");
    let models: Models = trained
        .iter()
        .filter_map(|(k, _, m)| m.clone().map(|m| (k.clone(), m)))
        .collect();
    assert_eq!(models.len(), 2);
    let detect = |stores: &mut lad::wiring::Stores| {
        let mut total = pipeline::DetectStats::default();
        loop {
            let s = pipeline::detect_batch(&config, stores, SOURCE, &models)
                .expect("detect")
                .stats;
            total.add(s);
            if s.read == 0 {
                return total;
            }
        }
    };
    assert_eq!(detect(&mut stores).flagged, 0, "routine lines are normal");

    let first = "kernel: Out of memory: killed process 4242 (java)";
    stores
        .source
        .import(SOURCE, &[record("h1", NOW - 60_000, first)])
        .expect("import");
    let s = detect(&mut stores);
    assert_eq!(
        (s.flagged, s.suppressed),
        (1, 0),
        "a never seen line is flagged"
    );

    let id: RecordId = stores
        .source
        .anomalies(SOURCE, 0, NOW, 10)
        .expect("anomalies")[0]
        .record
        .id
        .clone();
    let mark = stores
        .source
        .add_feedback(&NewFeedback {
            source: SOURCE.into(),
            host: "h1".into(),
            record_id: Some(id),
            message: first.into(),
            template: None,
            who: "test".into(),
            at_ms: NOW,
        })
        .expect("feedback");

    // Same template (another pid) on h1: not flagged. The same line on h2: still flagged.
    let same = "kernel: Out of memory: killed process 977 (java)";
    let other_host = "kernel: Out of memory: killed process 978 (java)";
    stores
        .source
        .import(
            SOURCE,
            &[
                record("h1", NOW - 50_000, same),
                record("h2", NOW - 50_000, other_host),
            ],
        )
        .expect("import");
    let s = detect(&mut stores);
    assert_eq!((s.flagged, s.suppressed), (1, 1));
    assert_eq!(verdict_of(&mut stores, same), Some(false));
    assert_eq!(verdict_of(&mut stores, other_host), Some(true));
    // The earlier verdict stays as written: feedback acts from the next pass on.
    assert_eq!(verdict_of(&mut stores, first), Some(true));

    // The marked line joins the next training once more.
    let window = stores
        .source
        .training_window(
            SOURCE,
            "h1",
            NOW - config.train_time_span.as_millis() as i64,
            NOW,
            usize::MAX,
        )
        .expect("window")
        .records
        .len();
    let retrained = pipeline::train(
        &config,
        &mut stores.source,
        &[(SOURCE.into(), "h1".into())],
        NOW,
    )
    .expect("train");
    match &retrained[0].1 {
        TrainOutcome::Trained { lines, .. } => assert_eq!(*lines, window + 1),
        other => panic!("expected a trained model, found {other:?}"),
    }

    assert!(stores.source.undo_feedback(mark, NOW).expect("undo"));
    let again = "kernel: Out of memory: killed process 31 (java)";
    stores
        .source
        .import(SOURCE, &[record("h1", NOW - 40_000, again)])
        .expect("import");
    let s = detect(&mut stores);
    assert_eq!(
        (s.flagged, s.suppressed),
        (1, 0),
        "undo restores the old behaviour"
    );
    assert_eq!(verdict_of(&mut stores, again), Some(true));
}
