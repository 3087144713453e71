//! `lad run` retrains on RETRAIN_SCHEDULE while scoring goes on, and aggregates on
//! AGGR_SCHEDULE. Both schedules are "every minute", so the test waits up to two minutes for
//! each to fire (a liveness limit; what is checked does not depend on timing): records imported
//! while the daemon runs are scored before and after the retrained models take over, the model
//! files are rewritten, and aggregates appear.

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime};

use common::{docs, lad_expect, now_ms, scored, write_json_lines, Daemon};

const HOSTS: [&str; 2] = ["r1", "web"];

fn s(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

fn aggregates(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("open the store");
    conn.busy_timeout(Duration::from_secs(10))
        .expect("busy timeout");
    conn.query_row("SELECT count(*) FROM aggregates", [], |r| r.get(0))
        .expect("count aggregates")
}

fn modified(path: &Path) -> SystemTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .expect("model file exists")
}

#[test]
fn retrains_and_aggregates_on_schedule_while_scoring_goes_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("lad.db");
    let models = dir.path().join("models");
    let config = dir.path().join("lad.yaml");
    std::fs::write(
        &config,
        format!(
            "SQLITE_PATH: '{}'\nMODEL_BASE_DIR: '{}'\nLOF_NEIGHBORS: 20\nINFER_TIME_SPAN: 1\n\
             RETRAIN_SCHEDULE: '* * * * *'\nAGGR_SCHEDULE: '* * * * *'\nHTTP_ADDR: '127.0.0.1:0'\n",
            db.display(),
            models.display()
        ),
    )
    .expect("write config");
    let now = now_ms();
    let first = dir.path().join("first.jsonl");
    write_json_lines(&first, &docs(3, &HOSTS, 600, 50, now - 3_600_000));
    lad_expect(
        &["-q", "import", "--config", s(&config), s(&first)],
        None,
        0,
    );

    let mut daemon = Daemon::start(&config, dir.path().join("run.log"));
    let total = HOSTS.len() * 600;
    daemon.wait_for("the first backlog scored", Duration::from_secs(120), || {
        scored(&db) == total
    });
    let model = models.join("logs").join("r1").join("model.lad");
    let trained_at = modified(&model);

    daemon.wait_for("a scheduled retraining", Duration::from_secs(150), || {
        daemon_log_has(
            &dir.path().join("run.log"),
            "retrained models replace the old ones",
        )
    });
    assert!(
        modified(&model) > trained_at,
        "the retrained model was saved"
    );

    // Records arriving after the swap are scored by the new models.
    let second = dir.path().join("second.jsonl");
    write_json_lines(&second, &docs(4, &HOSTS, 100, 20, now_ms() - 1_000));
    lad_expect(
        &["-q", "import", "--config", s(&config), s(&second)],
        None,
        0,
    );
    let total = total + HOSTS.len() * 100;
    daemon.wait_for(
        "the second backlog scored",
        Duration::from_secs(120),
        || scored(&db) == total,
    );
    daemon.wait_for("a scheduled aggregation", Duration::from_secs(150), || {
        aggregates(&db) > 0
    });
    assert_eq!(daemon.terminate(), Some(0), "SIGTERM stops lad run cleanly");
}

fn daemon_log_has(log: &Path, text: &str) -> bool {
    std::fs::read_to_string(log).is_ok_and(|l| l.contains(text))
}
