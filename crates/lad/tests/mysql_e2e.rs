//! The `lad` binary against MariaDB with an old-style configuration and an old-style input table
//! (integer auto-increment key, `message`, `received_at`, `hostname` and a column lad does not
//! know): `train`, `detect`, `aggregate` leave the input table as it was, write each anomaly
//! once to `MYSQL_TARGET_TABLE`, group them into the aggregation table with ids that are never
//! reused, score rows inserted late with old times, and score nothing twice. A `lad run` killed
//! with SIGKILL and restarted ends with the verdicts of an uninterrupted `lad detect`.
//!
//! Each test uses fresh databases (random suffix) on the MariaDB at 127.0.0.1:3306 (root, no
//! password; `scripts/mysql-test-server.sh`), dropped at the end. SQL goes through the `mariadb`
//! command-line client, which keeps the tests synchronous. An unreachable server fails the test
//! unless `LAD_SKIP_MYSQL=1`.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{docs, lad_expect, now_ms, Daemon};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

const HOSTS: [&str; 4] = ["r1", "r2", "fw", "web"];
const TABLE: &str = "syslog";
const ANOMALIES: &str = "syslog_anomalies";
const AGGREGATED: &str = "syslog_aggr";

fn s(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

fn host() -> String {
    std::env::var("LAD_TEST_MYSQL_HOST").unwrap_or_else(|_| "127.0.0.1".into())
}

fn port() -> String {
    std::env::var("LAD_TEST_MYSQL_PORT").unwrap_or_else(|_| "3306".into())
}

/// Runs `sql` with the `mariadb` client in `db` (or none); `Err` holds the client's complaint.
fn try_sql(db: Option<&str>, sql: &str) -> Result<String, String> {
    let mut cmd = Command::new("mariadb");
    cmd.args(["-h", &host(), "-P", &port(), "-uroot", "-N", "-B"]);
    if let Some(db) = db {
        cmd.arg(db);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the mariadb client: {e}"))?;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(sql.as_bytes())
        .map_err(|e| format!("cannot write to the mariadb client: {e}"))?;
    let out = child
        .wait_with_output()
        .map_err(|e| format!("the mariadb client did not finish: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Runs `sql` in `db`; panics with the statement and the server's message on failure.
fn sql(db: &str, sql: &str) -> String {
    try_sql(Some(db), sql)
        .unwrap_or_else(|e| panic!("SQL failed in {db}: {e}\n{}", &sql[..sql.len().min(400)]))
}

/// Tab-separated rows of a query.
fn rows(db: &str, query: &str) -> Vec<Vec<String>> {
    sql(db, query)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

fn count(db: &str, query: &str) -> i64 {
    sql(db, query)
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{query} did not give a count: {e}"))
}

/// Fresh databases, dropped when this goes out of scope.
struct Databases(Vec<String>);

impl Databases {
    /// `None` when the server does not answer and `LAD_SKIP_MYSQL=1`.
    fn create(n: usize) -> Option<Databases> {
        if let Err(e) = try_sql(None, "SELECT 1") {
            if std::env::var("LAD_SKIP_MYSQL").as_deref() == Ok("1") {
                eprintln!("skipped: MariaDB not reachable and LAD_SKIP_MYSQL=1: {e}");
                return None;
            }
            panic!(
                "the MySQL end-to-end tests need a MariaDB at {}:{} (root, no password) and the \
                 `mariadb` client; run scripts/mysql-test-server.sh, or set LAD_SKIP_MYSQL=1 to \
                 skip them: {e}",
                host(),
                port()
            );
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let names: Vec<String> = (0..n)
            .map(|i| format!("lad_e2e_{}_{nanos}_{i}", std::process::id()))
            .collect();
        for name in &names {
            sql(
                "mysql",
                &format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4"),
            );
        }
        Some(Databases(names))
    }
}

impl Drop for Databases {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = try_sql(None, &format!("DROP DATABASE IF EXISTS `{name}`"));
        }
    }
}

/// The old system's input table: its own key, the three known columns, one lad does not know.
fn create_input(db: &str) {
    sql(
        db,
        &format!(
            "CREATE TABLE `{TABLE}` (
                id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                message TEXT,
                received_at DATETIME,
                hostname VARCHAR(64),
                facility VARCHAR(16)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        ),
    );
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of the RFC 3339 UTC times `docs()` writes.
fn datetime(rfc3339: &str) -> String {
    format!("{} {}", &rfc3339[..10], &rfc3339[11..19])
}

/// Inserts the documents as rows, in order (so keys follow the documents).
fn insert(db: &str, docs: &[Value]) {
    for chunk in docs.chunks(500) {
        let values: Vec<String> = chunk
            .iter()
            .map(|d| {
                let text = |k: &str| {
                    d[k].as_str()
                        .expect("docs() fields are strings")
                        .replace('\\', "\\\\")
                        .replace('\'', "''")
                };
                format!(
                    "('{}','{}','{}','local{}')",
                    text("message"),
                    datetime(d["received_at"].as_str().expect("a time")),
                    text("hostname"),
                    d["seq"].as_u64().expect("a sequence number") % 8
                )
            })
            .collect();
        sql(
            db,
            &format!(
                "INSERT INTO `{TABLE}` (message, received_at, hostname, facility) VALUES {}",
                values.join(",")
            ),
        );
    }
}

/// An old-style configuration reading `db` and writing verdicts and aggregates into it.
fn config(dir: &Path, db: &str, models: &Path, batch: usize) -> PathBuf {
    let path = dir.join(format!("{db}.yaml"));
    let hosts = HOSTS.join(", ");
    let text = format!(
        "STORAGE_DATASOURCE: mysql\nSTORAGE_DATASINK: mysql\n\
         MYSQL_INPUT_HOST: '{h}'\nMYSQL_INPUT_PORT: {p}\nMYSQL_INPUT_DB: {db}\nMYSQL_INPUT_USER: root\n\
         MYSQL_TARGET_HOST: '{h}'\nMYSQL_TARGET_PORT: {p}\nMYSQL_TARGET_DB: {db}\nMYSQL_TARGET_USER: root\n\
         MYSQL_TARGET_TABLE: {ANOMALIES}\n\
         LOG_SOURCES:\n  {TABLE}:\n    HOSTNAMES: [{hosts}]\n\
         MYSQL_INPUT_TABLES: [{TABLE}]\nMYSQL_TARGET_TABLES: [{AGGREGATED}]\n\
         MODEL_BASE_DIR: '{m}'\nHTTP_ADDR: '127.0.0.1:0'\n\
         LOF_NEIGHBORS: 20\nPARALLELISM: 2\nTRAIN_MAX_ENTRIES: 2000\n\
         INFER_TIME_SPAN: 1\nINFER_MAX_ENTRIES: {batch}\nAGGR_MIN_SAMPLES: 2\n\
         RETRAIN_SCHEDULE: '0 0 1 1 *'\nAGGR_SCHEDULE: '0 0 1 1 *'\n",
        h = host(),
        p = port(),
        m = models.display(),
    );
    std::fs::write(&path, text).expect("write config");
    path
}

fn lad_ok(cmd: &str, config: &Path) -> String {
    let out = lad_expect(&["-q", cmd, "--config", s(config)], None, 0);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// (logid, state, score) of lad's bookkeeping, by key.
fn verdicts(db: &str) -> Vec<Vec<String>> {
    rows(
        db,
        "SELECT logid, state, anomaly_score FROM lad_records WHERE source = 'syslog' ORDER BY logid",
    )
}

/// Every column of the anomaly table, by key.
fn anomalies(db: &str) -> Vec<Vec<String>> {
    rows(
        db,
        &format!(
            "SELECT logid, message, received_at, hostname, anomaly_score, aggr_msg_id \
             FROM `{ANOMALIES}` ORDER BY logid"
        ),
    )
}

fn input_snapshot(db: &str) -> (String, Vec<Vec<String>>) {
    (
        sql(db, &format!("SHOW CREATE TABLE `{TABLE}`")),
        rows(db, &format!("SELECT * FROM `{TABLE}` ORDER BY id")),
    )
}

/// The anomaly table holds exactly the records lad judged anomalous, each once, with the input
/// row's message, time and host and the bookkept score; every record has a verdict.
fn check_anomalies(db: &str, total: i64) {
    assert_eq!(count(db, &format!("SELECT count(*) FROM `{TABLE}`")), total);
    assert_eq!(
        count(
            db,
            "SELECT count(*) FROM lad_records WHERE source = 'syslog' AND state IN (1, 4) \
             AND anomaly_score IS NOT NULL"
        ),
        total,
        "every input row has a verdict"
    );
    let flagged = count(
        db,
        "SELECT count(*) FROM lad_records WHERE source = 'syslog' AND state = 4",
    );
    assert!(
        flagged > 0 && flagged < total,
        "{flagged} of {total} flagged"
    );
    assert_eq!(
        count(db, &format!("SELECT count(*) FROM `{ANOMALIES}`")),
        flagged,
        "one anomaly row per anomalous record"
    );
    let matching = count(
        db,
        &format!(
            "SELECT count(*) FROM `{ANOMALIES}` a
             JOIN `{TABLE}` i ON i.id = a.logid
             JOIN lad_records r ON r.source = 'syslog' AND r.logid = a.logid AND r.state = 4
             WHERE a.message = i.message AND a.received_at = i.received_at
               AND a.hostname = i.hostname
               AND a.anomaly_score = r.anomaly_score"
        ),
    );
    assert_eq!(
        matching, flagged,
        "anomaly rows carry their input row's message, time, host and score"
    );
}

/// Aggregates of the aggregation table: id → (total_logs, hostname).
fn aggregates(db: &str) -> BTreeMap<i64, (i64, String)> {
    rows(
        db,
        &format!("SELECT aggr_msg_id, total_logs, hostname FROM `{AGGREGATED}`"),
    )
    .into_iter()
    .map(|r| {
        (
            r[0].parse().expect("an integer id"),
            (r[1].parse().expect("an integer count"), r[2].clone()),
        )
    })
    .collect()
}

/// Every anomaly's aggr_msg_id names an aggregate whose total_logs counts its anomalies and
/// whose hostname is the most frequent host among them.
fn check_links(db: &str) {
    let aggr = aggregates(db);
    let mut per_id: BTreeMap<i64, BTreeMap<String, i64>> = BTreeMap::new();
    for r in rows(
        db,
        &format!(
            "SELECT aggr_msg_id, hostname, count(*) FROM `{ANOMALIES}` \
             WHERE aggr_msg_id IS NOT NULL GROUP BY aggr_msg_id, hostname"
        ),
    ) {
        let id: i64 = r[0].parse().expect("an integer id");
        let n: i64 = r[2].parse().expect("a count");
        per_id.entry(id).or_default().insert(r[1].clone(), n);
    }
    assert!(!per_id.is_empty(), "some anomalies were aggregated");
    for (id, hosts) in &per_id {
        let (total, host) = aggr
            .get(id)
            .unwrap_or_else(|| panic!("aggr_msg_id {id} is not in {AGGREGATED}: {aggr:?}"));
        assert_eq!(
            *total,
            hosts.values().sum::<i64>(),
            "total_logs of aggregate {id}"
        );
        let most = hosts.values().max().expect("not empty");
        assert_eq!(
            hosts.get(host),
            Some(most),
            "aggregate {id} names its most frequent host: {hosts:?}"
        );
    }
}

#[test]
fn old_style_tables_train_detect_aggregate_and_late_rows() {
    let Some(dbs) = Databases::create(1) else {
        return;
    };
    let db = dbs.0[0].as_str();
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(dir.path(), db, &dir.path().join("models"), 10_000);
    create_input(db);
    let now = now_ms();
    // Routine lines to train on (two hours ago), then a backlog with a rare line now and then.
    insert(db, &docs(11, &HOSTS, 250, 0, now - 7_200_000));
    insert(db, &docs(12, &HOSTS, 250, 40, now - 600_000));
    let mut total = 2000;
    let before = input_snapshot(db);

    lad_ok("train", &cfg);
    lad_ok("detect", &cfg);
    check_anomalies(db, total);
    assert_eq!(
        input_snapshot(db),
        before,
        "detect leaves the input table alone"
    );
    // The anomaly table lad creates has the old system's columns, named by the *_INDEX keys.
    assert_eq!(
        column_names(db, ANOMALIES),
        [
            "aggr_msg_id",
            "anomaly_score",
            "hostname",
            "logid",
            "message",
            "received_at"
        ]
    );

    // The aggregation table has the old columns.
    let columns = rows(
        db,
        &format!(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = '{db}' \
             AND table_name = '{AGGREGATED}' ORDER BY column_name"
        ),
    );
    assert!(columns.is_empty(), "no aggregation table before aggregate");
    lad_ok("aggregate", &cfg);
    let columns: Vec<String> = rows(
        db,
        &format!(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = '{db}' \
             AND table_name = '{AGGREGATED}' ORDER BY column_name"
        ),
    )
    .into_iter()
    .map(|r| r[0].clone())
    .collect();
    let mut expected = vec![
        "aggr_msg_id",
        "message",
        "total_logs",
        "average_datetime",
        "hostname",
        "average_anomaly_score",
        "was_added_at",
    ];
    expected.sort_unstable();
    assert_eq!(columns, expected);
    let first = aggregates(db);
    assert!(!first.is_empty(), "aggregate wrote groups");
    check_links(db);
    check_anomalies(db, total);
    assert_eq!(
        input_snapshot(db),
        before,
        "aggregate leaves the input table alone"
    );

    // A second aggregate adds nothing and links nothing new.
    let linked = anomalies(db);
    lad_ok("aggregate", &cfg);
    assert_eq!(aggregates(db), first, "a second aggregate adds nothing");
    assert_eq!(anomalies(db), linked);

    // Rows inserted late with old times (before everything scored so far), and a new batch.
    insert(db, &docs(13, &HOSTS, 40, 7, now - 10_800_000));
    insert(db, &docs(14, &HOSTS, 100, 30, now - 60_000));
    total += 4 * 40 + 4 * 100;
    let before = input_snapshot(db);
    lad_ok("detect", &cfg);
    check_anomalies(db, total);
    let late_flagged = count(
        db,
        &format!(
            "SELECT count(*) FROM `{ANOMALIES}` a JOIN `{TABLE}` i ON i.id = a.logid \
             WHERE i.received_at < NOW() - INTERVAL 150 MINUTE"
        ),
    );
    assert!(
        late_flagged > 0,
        "late rows with old times were scored and some flagged"
    );
    assert_eq!(input_snapshot(db), before);

    // A second detect scores nothing.
    let (v, a) = (verdicts(db), anomalies(db));
    lad_ok("detect", &cfg);
    assert_eq!(
        (verdicts(db), anomalies(db)),
        (v, a),
        "a second detect changes nothing"
    );

    // The next aggregation's ids are all above the first's; old links stay.
    lad_ok("aggregate", &cfg);
    let second = aggregates(db);
    let old_max = *first.keys().max().expect("not empty");
    let new: Vec<i64> = second
        .keys()
        .copied()
        .filter(|id| !first.contains_key(id))
        .collect();
    assert!(!new.is_empty(), "the new anomalies were aggregated");
    assert!(
        new.iter().all(|&id| id > old_max),
        "new ids {new:?} are above {old_max}"
    );
    for (id, agg) in &first {
        assert_eq!(second.get(id), Some(agg), "aggregate {id} is unchanged");
    }
    check_links(db);
    assert_eq!(
        input_snapshot(db),
        before,
        "the input table is never altered"
    );
}

#[test]
fn killed_daemon_ends_with_the_verdicts_of_an_uninterrupted_detect() {
    let Some(dbs) = Databases::create(2) else {
        return;
    };
    let (a, b) = (dbs.0[0].as_str(), dbs.0[1].as_str());
    let dir = tempfile::tempdir().expect("temp dir");
    let models = dir.path().join("models");
    const BATCH: usize = 100;
    let config_a = config(dir.path(), a, &models, BATCH);
    let config_b = config(dir.path(), b, &models, BATCH);
    let now = now_ms();
    let training = docs(21, &HOSTS, 250, 0, now - 7_200_000);
    let backlog = docs(22, &HOSTS, 1_000, 97, now - 60_000);
    for db in [a, b] {
        create_input(db);
        insert(db, &training);
        insert(db, &backlog);
    }
    let total = (training.len() + backlog.len()) as i64;
    lad_ok("train", &config_a);
    let scored = || {
        try_sql(
            Some(a),
            "SELECT count(*) FROM lad_records WHERE source = 'syslog' AND state <> 0",
        )
        .ok()
        .and_then(|t| t.trim().parse::<i64>().ok())
        .unwrap_or(0)
    };

    let mut rng = ChaCha8Rng::seed_from_u64(20_251_125);
    for round in 0..4 {
        let before = scored();
        if before == total {
            break;
        }
        let mut daemon = Daemon::start(&config_a, dir.path().join(format!("run{round}.log")));
        daemon.wait_for("new verdicts", Duration::from_secs(120), || {
            std::thread::sleep(Duration::from_millis(10));
            scored() > before
        });
        std::thread::sleep(Duration::from_millis(rng.random_range(0..60)));
        daemon.kill9();
        let after = scored();
        eprintln!("round {round}: {before} -> {after} scored");
        assert_eq!(
            after % BATCH as i64,
            0,
            "a partial batch survived a kill: {after}"
        );
    }

    // Finish the backlog, then SIGTERM the idle daemon: a clean stop, exit 0.
    let mut daemon = Daemon::start(&config_a, dir.path().join("last.log"));
    daemon.wait_for("an empty backlog", Duration::from_secs(300), || {
        std::thread::sleep(Duration::from_millis(20));
        scored() == total
    });
    let log = daemon.log.clone();
    let code = daemon.terminate();
    assert_eq!(
        code,
        Some(0),
        "{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );

    lad_ok("detect", &config_b);
    check_anomalies(a, total);
    check_anomalies(b, total);
    let (killed, calm) = (verdicts(a), verdicts(b));
    assert_eq!(killed.len() as i64, total);
    let differ: Vec<_> = killed.iter().zip(&calm).filter(|(x, y)| x != y).collect();
    assert!(
        differ.is_empty(),
        "{} of {total} verdicts differ from the uninterrupted run, e.g. {:?}",
        differ.len(),
        &differ[..differ.len().min(5)]
    );
    assert_eq!(anomalies(a), anomalies(b), "the same anomaly rows");
}

/// The column names of a table, sorted.
fn column_names(db: &str, table: &str) -> Vec<String> {
    rows(
        db,
        &format!(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = '{db}' \
             AND table_name = '{table}' ORDER BY column_name"
        ),
    )
    .into_iter()
    .map(|r| r[0].clone())
    .collect()
}

/// The old system's `aggregator.yaml` for MySQL, unchanged but for the server: it reads the
/// anomaly table the detector wrote and writes groups into `old_aggregated`.
fn old_aggregator_config(dir: &Path, db: &str) -> PathBuf {
    let path = dir.join(format!("{db}-aggregator.yaml"));
    let text = format!(
        "STORAGE_DATASOURCE: mysql\nSTORAGE_DATASINK: mysql\n\
         MYSQL_INPUT_HOST: '{h}'\nMYSQL_INPUT_PORT: {p}\nMYSQL_INPUT_USER: root\n\
         MYSQL_INPUT_DB: {db}\n\
         MYSQL_TARGET_HOST: '{h}'\nMYSQL_TARGET_PORT: {p}\nMYSQL_TARGET_USER: root\n\
         MYSQL_TARGET_DB: {db}\n\
         MYSQL_INPUT_TABLES:\n  - {ANOMALIES}\nMYSQL_TARGET_TABLES:\n  - old_aggregated\n\
         MESSAGE_INDEX: message\nDATETIME_INDEX: received_at\nHOSTNAME_INDEX: hostname\n\
         AGGR_TIME_SPAN: 86400\nAGGR_EPS: 0.01\nAGGR_MIN_SAMPLES: 2\n\
         AGGR_VECTOR_LENGTH: 25\nAGGR_WINDOW: 5\n",
        h = host(),
        p = port(),
    );
    std::fs::write(&path, text).expect("write config");
    path
}

/// `lad CMD --config CONFIG` at the default log level; returns stderr (the log).
fn lad_logged(cmd: &str, config: &Path) -> String {
    let out = lad_expect(&[cmd, "--config", s(config)], None, 0);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Rows the table held before lad came, found by their `old` marker in the message.
fn old_rows(db: &str) -> Vec<Vec<String>> {
    rows(
        db,
        &format!(
            "SELECT message, anomaly_score FROM `{ANOMALIES}` WHERE message LIKE 'old %' \
             ORDER BY message"
        ),
    )
}

/// Old anomalies from an hour ago: two groups of lines a person would read as one each.
fn old_values() -> String {
    let t = datetime(&common::rfc3339(now_ms() - 3_600_000));
    (0..6)
        .map(|i| {
            let (host, text) = if i % 2 == 0 {
                ("r1", format!("old kernel: link down after {i}00 ms"))
            } else {
                ("fw", format!("old sshd: refused connect from 10.0.0.{i}"))
            };
            format!("('{text}', '{t}', '{host}', {}.5)", 10 + i)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Detection with a new-style config writes into an anomaly table that existed before lad (made
/// by `ddl`, holding old rows); then the old system's `aggregator.yaml` groups old and new rows
/// alike, twice without duplicates. `notice` is what the first lad command must log about the
/// table.
fn old_table_scenario(db: &str, ddl: &str, insert_old: &str, notice: &str, key: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(dir.path(), db, &dir.path().join("models"), 10_000);
    create_input(db);
    let now = now_ms();
    insert(db, &docs(11, &HOSTS, 250, 0, now - 7_200_000));
    insert(db, &docs(12, &HOSTS, 250, 40, now - 600_000));
    sql(db, ddl);
    sql(db, insert_old);
    let before = old_rows(db);
    assert_eq!(before.len(), 6);

    let log = lad_logged("train", &cfg);
    assert!(
        log.contains(notice),
        "expected {notice:?} in the log:\n{log}"
    );
    let log = lad_logged("detect", &cfg);
    assert!(
        !log.contains("anomaly table"),
        "the table is changed once, not again:\n{log}"
    );
    assert_eq!(old_rows(db), before, "rows already there are unchanged");
    let flagged = count(
        db,
        "SELECT count(*) FROM lad_records WHERE source = 'syslog' AND state = 4",
    );
    assert!(flagged > 0, "detection flagged something; its log:\n{log}");
    let matching = count(
        db,
        &format!(
            "SELECT count(*) FROM `{ANOMALIES}` a JOIN `{TABLE}` i ON i.id = a.`{key}`
             JOIN lad_records r ON r.source = 'syslog' AND r.logid = a.`{key}` AND r.state = 4
             WHERE a.message = i.message AND a.received_at = i.received_at
               AND a.hostname = i.hostname"
        ),
    );
    assert_eq!(
        matching, flagged,
        "each anomaly written once, keyed by {key}"
    );

    let agg = old_aggregator_config(dir.path(), db);
    lad_ok("aggregate", &agg);
    let unlinked = count(
        db,
        &format!("SELECT count(*) FROM `{ANOMALIES}` WHERE aggr_msg_id IS NULL"),
    );
    assert_eq!(
        unlinked, 0,
        "every anomaly of the window, old or new, is grouped"
    );
    let totals = rows(
        db,
        &format!(
            "SELECT g.aggr_msg_id, g.total_logs, count(a.aggr_msg_id) FROM old_aggregated g \
             LEFT JOIN `{ANOMALIES}` a ON a.aggr_msg_id = g.aggr_msg_id \
             GROUP BY g.aggr_msg_id, g.total_logs"
        ),
    );
    assert!(!totals.is_empty());
    for t in &totals {
        assert_eq!(
            t[1], t[2],
            "total_logs of aggregate {} counts its rows",
            t[0]
        );
    }
    let old_groups = count(
        db,
        &format!(
            "SELECT count(DISTINCT aggr_msg_id) FROM `{ANOMALIES}` WHERE message LIKE 'old %'"
        ),
    );
    assert_eq!(old_groups, 2, "the old rows form their two groups");
    let snapshot = (
        rows(db, "SELECT * FROM old_aggregated ORDER BY aggr_msg_id"),
        rows(db, &format!("SELECT * FROM `{ANOMALIES}` ORDER BY message")),
    );
    lad_ok("aggregate", &agg);
    assert_eq!(
        (
            rows(db, "SELECT * FROM old_aggregated ORDER BY aggr_msg_id"),
            rows(db, &format!("SELECT * FROM `{ANOMALIES}` ORDER BY message")),
        ),
        snapshot,
        "a second aggregation changes nothing"
    );
}

#[test]
fn old_aggregator_config_reads_a_table_the_old_system_created() {
    let Some(dbs) = Databases::create(2) else {
        return;
    };
    // The old detector's table: its own key, the *_INDEX columns, a score; no logid.
    old_table_scenario(
        &dbs.0[0],
        &format!(
            "CREATE TABLE `{ANOMALIES}` (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, \
             message TEXT, received_at DATETIME, hostname VARCHAR(64), anomaly_score FLOAT)"
        ),
        &format!(
            "INSERT INTO `{ANOMALIES}` (message, received_at, hostname, anomaly_score) VALUES {}",
            old_values()
        ),
        &format!(
            "extended anomaly table {ANOMALIES} of {}:{}/{} (made by the old system): added \
             column logid",
            host(),
            port(),
            dbs.0[0]
        ),
        "logid",
    );
    // The table the old aggregator read: logid is its own counter, aggr_msg_id is there.
    old_table_scenario(
        &dbs.0[1],
        &format!(
            "CREATE TABLE `{ANOMALIES}` (logid INT NOT NULL AUTO_INCREMENT PRIMARY KEY, \
             message TEXT, received_at DATETIME, hostname VARCHAR(64), anomaly_score FLOAT, \
             aggr_msg_id INT NULL)"
        ),
        &format!(
            "INSERT INTO `{ANOMALIES}` (message, received_at, hostname, anomaly_score) VALUES {}",
            old_values()
        ),
        "added column lad_logid",
        "lad_logid",
    );
}

#[test]
fn old_aggregator_config_reads_a_table_lad_made_in_its_earlier_layout() {
    let Some(dbs) = Databases::create(1) else {
        return;
    };
    let db = dbs.0[0].as_str();
    // lad's earlier anomaly layout, with rows it wrote then (keys beyond the input's).
    let values: String = old_values()
        .split("), (")
        .enumerate()
        .map(|(i, v)| {
            let v = v.trim_start_matches('(').trim_end_matches(')');
            format!("({}, {v})", 1_000_000 + i)
        })
        .collect::<Vec<_>>()
        .join(", ");
    old_table_scenario(
        db,
        &format!(
            "CREATE TABLE `{ANOMALIES}` (logid BIGINT NOT NULL PRIMARY KEY, \
             message LONGTEXT NOT NULL, time DATETIME(3) NOT NULL, host VARCHAR(255) NOT NULL, \
             anomaly_score DOUBLE NOT NULL, aggr_msg_id BIGINT NULL, KEY lad_time (time), \
             KEY lad_aggr (aggr_msg_id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 \
             COLLATE=utf8mb4_bin"
        ),
        &format!(
            "INSERT INTO `{ANOMALIES}` (logid, message, time, host, anomaly_score) VALUES {values}"
        ),
        &format!(
            "migrated anomaly table {ANOMALIES} of {}:{}/{db} from lad's earlier layout: renamed \
             columns time -> received_at, host -> hostname",
            host(),
            port()
        ),
        "logid",
    );
    assert_eq!(
        column_names(db, ANOMALIES),
        [
            "aggr_msg_id",
            "anomaly_score",
            "hostname",
            "logid",
            "message",
            "received_at"
        ]
    );
}

/// Issue 19 item 11: one host name over the 255 characters of a MySQL input table is one
/// invalid line of `lad import`, reported with its file and line; the other lines are imported
/// (the whole import used to fail, 0 of 77 lines). Without `--skip-invalid` the command fails
/// after importing the rest; with it, it succeeds.
#[test]
fn an_overlong_hostname_is_one_invalid_line_of_an_import() {
    let Some(dbs) = Databases::create(1) else {
        return;
    };
    let db = &dbs.0[0];
    let dir = tempfile::tempdir().expect("temp dir");
    let models = dir.path().join("models");
    let cfg = config(dir.path(), db, &models, 500);
    let mut lines = docs(11, &["r1", "r2"], 38, 0, now_ms());
    assert_eq!(lines.len(), 76);
    let mut long = lines[0].clone();
    long["hostname"] = Value::String("h".repeat(300));
    // Line 40 of the file.
    lines.insert(39, long);
    let input = dir.path().join("in.jsonl");
    common::write_json_lines(&input, &lines);

    let out = lad_expect(
        &[
            "import",
            "--config",
            s(&cfg),
            "--source",
            "imported",
            "--skip-invalid",
            s(&input),
        ],
        None,
        0,
    );
    let log = String::from_utf8_lossy(&out.stderr);
    let at = format!("{}:40: the host name has 300 characters", input.display());
    assert!(log.contains(&at), "{log}");
    assert!(log.contains("at most 255"), "{log}");
    assert_eq!(count(db, "SELECT COUNT(*) FROM imported"), 76);
    assert_eq!(
        count(db, "SELECT MAX(CHAR_LENGTH(hostname)) FROM imported"),
        2,
        "only the short host names went in"
    );

    // Without --skip-invalid: the same line is named and the command fails; nothing is doubled.
    let out = lad_expect(
        &[
            "import",
            "--config",
            s(&cfg),
            "--source",
            "imported",
            s(&input),
        ],
        None,
        1,
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains(&at), "{log}");
    assert!(log.contains("1 invalid lines were not imported"), "{log}");
    assert_eq!(count(db, "SELECT COUNT(*) FROM imported"), 76);
}
