//! `lad run` killed with SIGKILL at seeded random moments, restarted each time, until the
//! backlog is scored: every record ends with exactly one verdict, the same verdict an
//! uninterrupted `lad detect` gives on a copy of the store, none is skipped, and a kill never
//! leaves part of a batch written; every anomaly ends in exactly one incident, counted once.
//! SIGTERM stops the daemon with exit code 0, in the middle of a backlog and when idle.
//!
//! A batch takes about a millisecond, so each kill comes 0 to 40 ms after that run's first
//! verdicts (a fixed delay after start would mostly land before scoring or after the end).
//!
//! The models are trained once up front, so verdicts do not depend on when the daemon started.
//! Only liveness depends on time (generous limits); what is checked does not.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{docs, lad_expect, now_ms, scored, write_json_lines, Daemon};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const HOSTS: [&str; 4] = ["r1", "r2", "fw", "web"];
const PER_HOST: usize = 10_000;
/// Routine lines per host the models are trained on, before the backlog arrives.
const TRAIN_PER_HOST: usize = 1_000;
/// INFER_MAX_ENTRIES: small, so that batches are many.
const BATCH: usize = 100;
const TOTAL: usize = HOSTS.len() * (PER_HOST + TRAIN_PER_HOST);

fn s(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// Writes the configuration of a store in `dir` whose models live in `models`.
fn config(dir: &Path, models: &Path) -> PathBuf {
    let path = dir.join("lad.yaml");
    let text = format!(
        "SQLITE_PATH: '{}'\nMODEL_BASE_DIR: '{}'\nLOF_NEIGHBORS: 20\nPARALLELISM: 2\n\
         TRAIN_MAX_ENTRIES: 2000\nINFER_TIME_SPAN: 1\nINFER_MAX_ENTRIES: {BATCH}\n\
         RETRAIN_SCHEDULE: '0 0 1 1 *'\nAGGR_SCHEDULE: '0 0 1 1 *'\nHTTP_ADDR: '127.0.0.1:0'\n",
        dir.join("lad.db").display(),
        models.display()
    );
    std::fs::write(&path, text).expect("write config");
    path
}

/// (id, is_anomaly, anomaly_score bits, malformed) of every record, by id.
type Row = (i64, Option<i64>, Option<u64>, Option<String>);

fn rows(db: &Path) -> Vec<Row> {
    let conn = rusqlite::Connection::open(db).expect("open the store");
    conn.busy_timeout(Duration::from_secs(10))
        .expect("busy timeout");
    conn.prepare("SELECT id, is_anomaly, anomaly_score, malformed FROM records ORDER BY id")
        .and_then(|mut st| {
            st.query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get::<_, Option<f64>>(2)?.map(f64::to_bits),
                    r.get(3)?,
                ))
            })?
            .collect::<Result<_, _>>()
        })
        .expect("read the records")
}

#[test]
fn killed_daemon_scores_every_record_exactly_once_like_an_uninterrupted_run() {
    let a = tempfile::tempdir().expect("temp dir");
    let b = tempfile::tempdir().expect("temp dir");
    let models = a.path().join("models");
    let config_a = config(a.path(), &models);
    let config_b = config(b.path(), &models);

    // Routine lines to train on, then a backlog of 40,000 lines over four hosts: mostly the
    // same templates, with a rare line now and then.
    let now = now_ms();
    let routine = a.path().join("routine.jsonl");
    write_json_lines(
        &routine,
        &docs(6, &HOSTS, TRAIN_PER_HOST, 0, now - 7_200_000),
    );
    lad_expect(
        &["-q", "import", "--config", s(&config_a), s(&routine)],
        None,
        0,
    );
    lad_expect(&["-q", "train", "--config", s(&config_a)], None, 0);
    let backlog = a.path().join("backlog.jsonl");
    write_json_lines(&backlog, &docs(7, &HOSTS, PER_HOST, 97, now - 60_000));
    lad_expect(
        &["-q", "import", "--config", s(&config_a), s(&backlog)],
        None,
        0,
    );
    // The same store, unscored, for the uninterrupted run (lad has closed it: no WAL is left
    // behind, but copy one if there is).
    for f in ["lad.db", "lad.db-wal", "lad.db-shm"] {
        if a.path().join(f).exists() {
            std::fs::copy(a.path().join(f), b.path().join(f)).expect("copy the store");
        }
    }
    let db = a.path().join("lad.db");
    assert_eq!(scored(&db), 0);

    let mut rng = ChaCha8Rng::seed_from_u64(20_240_105);
    let mut kills_mid_backlog = 0;
    for round in 0..5 {
        let before = scored(&db);
        if before == TOTAL {
            break;
        }
        let mut daemon = Daemon::start(&config_a, a.path().join(format!("run{round}.log")));
        // Kill at a random moment once this run has written verdicts, so kills land mid-work.
        daemon.wait_for("new verdicts", Duration::from_secs(120), || {
            scored(&db) > before
        });
        std::thread::sleep(Duration::from_millis(rng.random_range(0..40)));
        daemon.kill9();
        let after = scored(&db);
        eprintln!("round {round}: {before} -> {after} scored");
        // Verdicts are committed a whole batch at a time: a kill never leaves half a batch.
        assert_eq!(
            after % BATCH,
            0,
            "a partial batch survived a kill: {after} scored"
        );
        kills_mid_backlog += usize::from(scored(&db) < TOTAL);
    }
    eprintln!("{kills_mid_backlog} of 5 SIGKILLs landed with records left to score");

    // SIGTERM in the middle of a backlog (if any is left): a clean stop, exit 0.
    let before = scored(&db);
    if before < TOTAL {
        let mut daemon = Daemon::start(&config_a, a.path().join("term.log"));
        daemon.wait_for("new verdicts", Duration::from_secs(120), || {
            scored(&db) > before
        });
        std::thread::sleep(Duration::from_millis(rng.random_range(0..5)));
        let log = daemon.log.clone();
        let code = daemon.terminate();
        assert_eq!(
            code,
            Some(0),
            "{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }

    // Finish the backlog, then SIGTERM the idle daemon.
    let mut daemon = Daemon::start(&config_a, a.path().join("last.log"));
    daemon.wait_for("an empty backlog", Duration::from_secs(300), || {
        scored(&db) == TOTAL
    });
    let log = daemon.log.clone();
    let code = daemon.terminate();
    let log = std::fs::read_to_string(log).unwrap_or_default();
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("stopped"), "says it stopped: {log}");

    lad_expect(&["-q", "detect", "--config", s(&config_b)], None, 0);
    let killed = rows(&db);
    let calm = rows(&b.path().join("lad.db"));
    assert_eq!(killed.len(), TOTAL, "no record was lost or added");
    for r in &killed {
        assert!(
            r.1.is_some() && r.2.is_some() && r.3.is_none(),
            "record {} has one verdict: {r:?}",
            r.0
        );
    }
    let differ: Vec<(&Row, &Row)> = killed.iter().zip(&calm).filter(|(x, y)| x != y).collect();
    assert!(
        differ.is_empty(),
        "{} of {TOTAL} verdicts differ from the uninterrupted run, e.g. {:?}",
        differ.len(),
        &differ[..differ.len().min(5)]
    );
    let flagged = killed.iter().filter(|r| r.1 == Some(1)).count();
    assert!(flagged > 0 && flagged < TOTAL, "{flagged} flagged");

    // Incidents: every anomaly is linked to one incident and the incidents count each anomaly
    // once, wherever the kills fell (a kill between the verdicts and the incidents of a batch
    // is repaired on the next start). The data is too short for rate or silence incidents, so
    // every counted line is a linked anomaly.
    let conn = rusqlite::Connection::open(&db).expect("open the store");
    let count = |sql: &str| -> usize {
        conn.query_row(sql, [], |r| r.get::<_, Option<i64>>(0))
            .expect("count")
            .unwrap_or(0) as usize
    };
    let linked = count(
        "SELECT count(*) FROM records r JOIN lad_incident_links l \
         ON l.source = r.source AND l.record_id = CAST(r.id AS TEXT) WHERE r.is_anomaly = 1",
    );
    assert_eq!(linked, flagged, "every anomaly has an incident");
    assert_eq!(count("SELECT count(*) FROM lad_incident_links"), flagged);
    assert_eq!(
        count("SELECT sum(json_extract(body, '$.count')) FROM lad_incidents"),
        flagged,
        "no anomaly is counted twice or lost"
    );
    eprintln!(
        "{flagged} anomalies in {} incidents",
        count("SELECT count(*) FROM lad_incidents")
    );
}
