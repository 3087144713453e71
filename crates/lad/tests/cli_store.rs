//! The store commands seen from outside: `lad import` of every input format into a temporary
//! SQLite store, then `train`, `detect`, `aggregate` and `export` and the JSON shapes of SPEC
//! section 6; configuration mistakes and their messages; malformed records that are marked,
//! counted and never block the records behind them.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use common::{docs, json_lines, lad, lad_expect, messages, now_ms, run, stderr, write_json_lines};
use serde_json::{json, Value};

/// A temporary store and its configuration file.
struct Env {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    fn new(extra: &str) -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("lad.yaml");
        let text = format!(
            "SQLITE_PATH: '{}'\nMODEL_BASE_DIR: '{}'\nLOF_NEIGHBORS: 10\nPARALLELISM: 2\n\
             HTTP_ADDR: '127.0.0.1:0'\n{extra}",
            dir.path().join("lad.db").display(),
            dir.path().join("models").display()
        );
        std::fs::write(&config, text).expect("write config");
        Env { dir, config }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn db(&self) -> PathBuf {
        self.path("lad.db")
    }

    /// `lad CMD --config F ARGS...`, expecting exit `code`.
    fn lad(&self, cmd: &str, args: &[&str], code: i32) -> std::process::Output {
        let mut all = vec![cmd, "--config", s(&self.config)];
        all.extend_from_slice(args);
        lad_expect(&all, None, code)
    }

    fn export(&self, args: &[&str]) -> Vec<Value> {
        json_lines(&self.lad("export", args, 0).stdout)
    }
}

fn s(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

fn parse_time(text: &str) -> i64 {
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{text:?} is not RFC 3339: {e}"));
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn utc(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .expect("a representable time")
}

/// `Mmm dd hh:mm:ss`, as RFC 3164 writes it (UTC).
fn rfc3164_stamp(ms: i64) -> String {
    let t = utc(ms);
    let month = t.month().to_string();
    format!(
        "{} {:>2} {:02}:{:02}:{:02}",
        &month[..3],
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Every input format, routine lines only, one host each (two for JSON Lines); returns the
/// files and the expected (host → count).
fn write_inputs(env: &Env, end_ms: i64) -> (Vec<PathBuf>, BTreeMap<String, usize>) {
    let mut counts = BTreeMap::new();
    let jsonl = env.path("routine.jsonl");
    write_json_lines(&jsonl, &docs(10, &["jl-a", "jl-b"], 60, 0, end_ms));
    counts.insert("jl-a".to_string(), 60);
    counts.insert("jl-b".to_string(), 60);

    let mongo = env.path("mongoexport.json");
    let array: Vec<Value> = messages(11, 40, 0)
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            json!({
                "_id": {"$oid": format!("65a1b2c3d4e5f607182{i:05x}")},
                "hostname": "mg-1",
                "received_at": {"$date": common::rfc3339(end_ms - 80_000 + i as i64 * 1000)},
                "message": m,
                "severity": 6,
            })
        })
        .collect();
    std::fs::write(&mongo, serde_json::to_string_pretty(&array).expect("JSON")).expect("write");
    counts.insert("mg-1".to_string(), 40);

    let bsd = env.path("rfc3164.log");
    let text: String = messages(12, 40, 0)
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let stamp = rfc3164_stamp(end_ms - 3_600_000 + i as i64 * 1000);
            format!("<38>{stamp} bsd-1 sshd[{}]: {m}\n", 100 + i)
        })
        .collect();
    std::fs::write(&bsd, text).expect("write");
    counts.insert("bsd-1".to_string(), 40);

    let ietf = env.path("rfc5424.log");
    let text: String = messages(13, 40, 0)
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let stamp = common::rfc3339(end_ms - 3_000_000 + i as i64 * 1000);
            format!("<13>1 {stamp} ietf-1 app {i} ID7 - {m}\n")
        })
        .collect();
    std::fs::write(&ietf, text).expect("write");
    counts.insert("ietf-1".to_string(), 40);
    (vec![jsonl, mongo, bsd, ietf], counts)
}

fn assert_record_shape(r: &Value) {
    let o = r.as_object().expect("records are objects");
    assert!(o["_id"].is_string(), "_id is a string: {r}");
    assert_eq!(o["source"], "logs", "{r}");
    assert!(o["hostname"].is_string(), "{r}");
    parse_time(o["received_at"].as_str().expect("received_at is a string"));
    assert!(o["message"].is_string(), "{r}");
    for key in ["is_anomaly", "anomaly_score", "aggregated_message_id"] {
        assert!(o.contains_key(key), "{key} is present (null or not): {r}");
    }
}

#[test]
fn import_every_format_then_train_detect_aggregate_export() {
    let env = Env::new("");
    let now = now_ms();
    let (files, counts) = write_inputs(&env, now - 3_600_000);
    for f in &files {
        let out = env.lad("import", &[s(f)], 0);
        assert!(stderr(&out).contains("inserted="), "{}", stderr(&out));
    }
    // Importing again adds nothing: every record has an original id (`_id` or file:line).
    for f in &files {
        let out = env.lad("import", &[s(f)], 0);
        assert!(stderr(&out).contains("inserted=0"), "{}", stderr(&out));
    }

    let before = env.export(&[]);
    let total: usize = counts.values().sum();
    assert_eq!(before.len(), total);
    let mut by_host: BTreeMap<String, usize> = BTreeMap::new();
    for r in &before {
        assert_record_shape(r);
        assert_eq!(r["is_anomaly"], Value::Null, "unscored: {r}");
        assert_eq!(r["anomaly_score"], Value::Null, "unscored: {r}");
        assert_eq!(r["aggregated_message_id"], Value::Null, "{r}");
        *by_host
            .entry(r["hostname"].as_str().unwrap_or("").into())
            .or_default() += 1;
    }
    assert_eq!(by_host, counts, "every format gives its hosts");
    // Fields beyond lad's own survive: JSON extras, mongoexport extras, syslog header parts.
    let find = |host: &str| before.iter().find(|r| r["hostname"] == host).expect("host");
    assert_eq!(find("jl-a")["app"], "testgen");
    assert_eq!(find("mg-1")["severity"], 6);
    assert_eq!(find("bsd-1")["app_name"], "sshd");
    assert_eq!(find("ietf-1")["msgid"], "ID7");
    // Times are those of the input (the first JSON Lines record, the first mongoexport one).
    assert_eq!(
        parse_time(find("jl-a")["received_at"].as_str().unwrap_or("")),
        now - 3_600_000 - 120_000
    );
    assert_eq!(
        parse_time(find("mg-1")["received_at"].as_str().unwrap_or("")),
        now - 3_600_000 - 80_000
    );

    let out = env.lad("train", &[], 0);
    for host in counts.keys() {
        assert!(
            env.path("models")
                .join("logs")
                .join(host)
                .join("model.lad")
                .is_file(),
            "model of {host}: {}",
            stderr(&out)
        );
    }

    // New lines arrive, some of them unlike anything seen in training.
    let fresh = env.path("fresh.jsonl");
    write_json_lines(&fresh, &docs(20, &["jl-a", "jl-b"], 20, 4, now - 60_000));
    env.lad("import", &[s(&fresh)], 0);

    let out = env.lad("detect", &[], 0);
    assert!(
        stderr(&out).contains(&format!("scored={}", total + 40)),
        "{}",
        stderr(&out)
    );
    let scored = env.export(&[]);
    assert_eq!(scored.len(), total + 40);
    for r in &scored {
        assert_record_shape(r);
        assert!(r["is_anomaly"] == 0 || r["is_anomaly"] == 1, "scored: {r}");
        assert!(r["anomaly_score"].is_f64(), "scored: {r}");
    }
    let flagged: HashSet<String> = scored
        .iter()
        .filter(|r| r["is_anomaly"] == 1)
        .map(|r| r["_id"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(!flagged.is_empty(), "the rare error lines are flagged");

    // A second detect scores nothing and changes nothing.
    let out = env.lad("detect", &[], 0);
    assert!(stderr(&out).contains("scored=0"), "{}", stderr(&out));
    assert_eq!(env.export(&[]), scored);

    let anomalies = env.export(&["--anomalies"]);
    let ids: HashSet<String> = anomalies
        .iter()
        .map(|r| r["_id"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        ids, flagged,
        "--anomalies exports exactly the flagged records"
    );

    env.lad("aggregate", &[], 0);
    let aggregates = env.export(&["--aggregates"]);
    assert!(!aggregates.is_empty());
    let mut members = HashSet::new();
    for a in &aggregates {
        assert!(a["_id"].is_string(), "{a}");
        assert_eq!(a["source"], "logs");
        assert_eq!(a["target"], "logs_aggregated");
        assert!(a["message"].is_string(), "{a}");
        parse_time(a["average_datetime"].as_str().expect("average_datetime"));
        parse_time(a["was_added_at"].as_str().expect("was_added_at"));
        assert!(a["average_anomaly_score"].is_f64(), "{a}");
        assert!(a["most_frequent_hostname"].is_string(), "{a}");
        let m = a["members"].as_array().expect("members");
        assert_eq!(a["total_logs"], m.len(), "{a}");
        for id in m {
            assert!(
                members.insert(id.as_str().expect("string ids").to_string()),
                "one aggregate per record"
            );
        }
    }
    assert_eq!(
        members, flagged,
        "every anomaly is in exactly one aggregate"
    );
    let aggregate_ids: HashSet<&str> = aggregates
        .iter()
        .filter_map(|a| a["_id"].as_str())
        .collect();
    for r in env.export(&["--anomalies"]) {
        let link = r["aggregated_message_id"]
            .as_str()
            .expect("linked anomalies");
        assert!(aggregate_ids.contains(link), "{r}");
    }
    // Aggregating again creates nothing new.
    env.lad("aggregate", &[], 0);
    assert_eq!(env.export(&["--aggregates"]), aggregates);

    // --output writes the same as standard output.
    let file = env.path("out.jsonl");
    env.lad("export", &["--output", s(&file)], 0);
    assert_eq!(
        json_lines(&std::fs::read(&file).expect("export file")),
        env.export(&[])
    );
}

#[test]
fn export_adds_the_fields_of_a_syslog_header_kept_in_the_message() {
    // Messages that keep their syslog header (as a collector stored them): `lad export` shows
    // the header's fields under the names `lad import` gives a syslog file's; a field the
    // record has keeps its value, and a message without a header gets none.
    let env = Env::new("");
    let t = common::rfc3339(now_ms() - 60_000);
    let input = env.path("kept-headers.jsonl");
    write_json_lines(
        &input,
        &[
            json!({"hostname": "h", "received_at": t,
                   "message": "<86>Dec  7 10:00:01 h sudo[812]: pam_unix(sudo:session): session opened"}),
            json!({"hostname": "h", "received_at": t,
                   "message": "<13>1 2026-12-07T10:00:01Z h app - ID7 - started", "severity": "mine"}),
            json!({"hostname": "h", "received_at": t, "message": "no header here"}),
        ],
    );
    env.lad("import", &[s(&input)], 0);
    let rows = env.export(&[]);
    let ending = |end: &str| {
        rows.iter()
            .find(|r| r["message"].as_str().is_some_and(|m| m.ends_with(end)))
            .expect("exported")
    };
    let a = ending("session opened");
    assert_record_shape(a);
    assert_eq!(
        (&a["facility"], &a["severity"], &a["app_name"], &a["procid"]),
        (&json!(10), &json!(6), &json!("sudo"), &json!("812")),
        "{a}"
    );
    let b = ending("started");
    assert_eq!(
        (&b["facility"], &b["severity"], &b["app_name"], &b["msgid"]),
        (&json!(1), &json!("mine"), &json!("app"), &json!("ID7")),
        "{b}"
    );
    let c = ending("no header here");
    for key in ["facility", "severity", "app_name", "procid", "msgid"] {
        assert!(c.get(key).is_none(), "{key} without a header: {c}");
    }
}

#[test]
fn the_store_can_be_named_in_the_environment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("in.jsonl");
    write_json_lines(&input, &docs(30, &["h"], 12, 0, now_ms()));
    let db = dir.path().join("env.db");
    for args in [vec!["import", s(&input)], vec!["export"]] {
        let out = run(
            lad()
                .args(&args)
                .env("LAD_SQLITE_PATH", &db)
                .env("LAD_MODEL_BASE_DIR", dir.path().join("m"))
                .current_dir(dir.path()),
            None,
        );
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        if args[0] == "export" {
            assert_eq!(json_lines(&out.stdout).len(), 12);
        }
    }
    assert!(db.is_file(), "LAD_SQLITE_PATH names the store");
    assert!(!dir.path().join("lad.db").exists(), "not the default path");
}

#[test]
fn export_without_a_store_says_so_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Every command that only reads a store refuses to create one, naming the path.
    for cmd in [&["export"][..], &["patterns"], &["detect"], &["train"]] {
        let out = run(lad().args(cmd).current_dir(dir.path()), None);
        assert_eq!(out.status.code(), Some(1), "{cmd:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("no store at") && err.contains("lad.db"),
            "{cmd:?}: {err}"
        );
        assert!(
            !dir.path().join("lad.db").exists(),
            "{cmd:?}: no empty store left behind"
        );
    }
}

#[test]
fn a_message_over_64_kib_is_refused_at_import_naming_its_line() {
    let env = Env::new("");
    let file = env.path("long.jsonl");
    let mut d = docs(41, &["h"], 30, 0, now_ms() - 60_000);
    let long = "segfault at 0000 ip 0000 sp 0000 error 4 ".repeat(1_700); // 69,700 bytes
    d[4]["message"] = json!(long);
    write_json_lines(&file, &d);
    // Refused, loudly, with its line and the limit; nothing else of the file is lost.
    let out = env.lad("import", &[s(&file)], 1);
    let err = stderr(&out);
    assert!(
        err.contains("long.jsonl:5")
            && err.contains(&format!("{} bytes", long.len()))
            && err.contains("65536"),
        "{err}"
    );
    let out = env.lad("import", &["--skip-invalid", s(&file)], 0);
    assert!(stderr(&out).contains("invalid=1"), "{}", stderr(&out));
    assert!(stderr(&out).contains("long.jsonl:5"), "{}", stderr(&out));
    // End to end: every imported record is scored and exported; the long one never entered.
    env.lad("train", &[], 0);
    env.lad("detect", &[], 0);
    let exported = env.export(&[]);
    assert_eq!(exported.len(), 29);
    for r in &exported {
        assert!(r["is_anomaly"] == 0 || r["is_anomaly"] == 1, "scored: {r}");
        assert!(
            r["message"].as_str().is_some_and(|m| m.len() < 1_000),
            "{r}"
        );
    }
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("bad.yaml");
    std::fs::write(&path, text).expect("write config");
    path
}

#[test]
fn config_mistakes_name_the_key_file_and_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("SQLITE_PATH: '{}'\n", dir.path().join("x.db").display());

    // An unknown key warns with the closest known key, and the command still runs.
    let f = write_config(dir.path(), &format!("{db}MODEL_BASE_DIRR: ./m\n"));
    let out = lad_expect(&["check-config", "--config", s(&f)], None, 0);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{} line 2", f.display()))
            && err.contains("unknown key MODEL_BASE_DIRR")
            && err.contains("did you mean MODEL_BASE_DIR?"),
        "{err}"
    );

    // A wrong type stops every command with exit 2, naming key, file and line.
    let f = write_config(
        dir.path(),
        &format!("{db}PARALLELISM: 2\nINFER_MAX_ENTRIES: lots\n"),
    );
    for cmd in ["check-config", "detect", "train", "run", "export"] {
        let out = lad_expect(&[cmd, "--config", s(&f)], None, 2);
        let err = stderr(&out);
        assert!(
            err.contains(&format!("{} line 3", f.display())) && err.contains("INFER_MAX_ENTRIES"),
            "{cmd}: {err}"
        );
        assert!(
            err.contains("\"lots\"") || err.contains("lots"),
            "{cmd}: names the value: {err}"
        );
    }

    // The local backend without its input path.
    let f = write_config(dir.path(), "STORAGE_DATASOURCE: local\n");
    for cmd in ["detect", "check-config"] {
        let out = lad_expect(&[cmd, "--config", s(&f)], None, 2);
        let err = stderr(&out);
        assert!(
            err.contains("LS_INPUT_PATH") && err.contains(&f.display().to_string()),
            "{cmd}: {err}"
        );
    }

    // Checks that need more than one key or a backend's rules fail at load time, so
    // `check-config` refuses what `run` would refuse (nothing is connected to).
    let cases = [
        (
            "STORAGE_DATASOURCE: mysql\nSTORAGE_DATASINK: mg\nMYSQL_INPUT_DB: logs\n\
             MYSQL_INPUT_TABLE: syslog\nMG_DB: lad\n",
            "STORAGE_DATASINK mg with STORAGE_DATASOURCE mysql",
        ),
        (
            "STORAGE_DATASOURCE: mysql\nMYSQL_INPUT_DB: logs\nMYSQL_TARGET_DB: logs\n\
             MYSQL_INPUT_TABLE: 'sys log'\n",
            "LOG_SOURCES is \"sys log\"",
        ),
        (
            "STORAGE_DATASOURCE: mysql\nMYSQL_INPUT_DB: logs\nMYSQL_TARGET_DB: logs\n\
             MYSQL_INPUT_TABLE: syslog\n\
             MESSAGE_INDEX: 'msg;drop'\n",
            "MESSAGE_INDEX",
        ),
        (
            &format!("{db}LOF_METRIC: manhattan\n") as &str,
            "LOF_METRIC manhattan",
        ),
    ];
    for (text, expected) in cases {
        let f = write_config(dir.path(), text);
        for cmd in ["check-config", "run", "detect"] {
            let out = lad_expect(&[cmd, "--config", s(&f)], None, 2);
            let err = stderr(&out);
            assert!(err.contains(expected), "{cmd} on {text:?}: {err}");
        }
    }

    // --config-yaml is the old name of --config.
    let f = write_config(dir.path(), &db);
    lad_expect(&["check-config", "--config-yaml", s(&f)], None, 0);
    // A config file that does not exist is a configuration error.
    let out = lad_expect(
        &["detect", "--config", s(&dir.path().join("nope.yaml"))],
        None,
        2,
    );
    assert!(stderr(&out).contains("nope.yaml"), "{}", stderr(&out));
}

#[test]
fn invalid_import_lines_are_reported_by_line_and_skippable() {
    let env = Env::new("");
    let file = env.path("mixed.jsonl");
    let mut d = docs(40, &["h"], 10, 0, now_ms());
    d[3].as_object_mut().expect("object").remove("message");
    d[6]["message"] = json!(42);
    write_json_lines(&file, &d);
    let out = env.lad("import", &[s(&file)], 1);
    let err = stderr(&out);
    assert!(
        err.contains("mixed.jsonl:4") && err.contains("missing field \"message\""),
        "{err}"
    );
    assert!(
        err.contains("mixed.jsonl:7") && err.contains("to be a string"),
        "{err}"
    );
    let out = env.lad("import", &["--skip-invalid", s(&file)], 0);
    assert!(stderr(&out).contains("invalid=2"), "{}", stderr(&out));
    assert_eq!(env.export(&[]).len(), 8);
}

#[test]
fn malformed_records_are_marked_counted_and_never_block_the_rest() {
    // Small batches, so the bad rows sit inside batches with good ones behind them.
    let env = Env::new("INFER_MAX_ENTRIES: 7\n");
    let end = now_ms() - 60_000;
    let mut d = docs(50, &["h1"], 40, 0, end);
    // A message over the 64 KiB limit: `lad import` refuses it, so another writer puts it in
    // the table (below) in place of this line.
    d.remove(20);
    let file = env.path("good.jsonl");
    write_json_lines(&file, &d);
    env.lad("import", &[s(&file)], 0);
    env.lad("train", &[], 0);

    // Rows no well-behaved writer produces, with times among the good ones. SQLite converts
    // numbers stored into TEXT columns to text, so wrong types are blobs (kept as they are), and
    // invalid UTF-8 is a blob cast to TEXT, as a careless C writer would leave it.
    let conn = rusqlite::Connection::open(env.db()).expect("open the store");
    let t = |i: i64| end - 40_000 + i * 1000 + 500;
    let long = format!("'{}'", "x".repeat(70_000));
    for (host, message, time) in [
        ("'h1'", long.as_str(), t(20).to_string()),
        ("'h1'", "X'6869'", t(2).to_string()),
        ("'h1'", "CAST(X'6869FFFE' AS TEXT)", t(9).to_string()),
        ("X'6831'", "'host is a blob'", t(15).to_string()),
        ("'h1'", "'time is text'", "'yesterday'".to_string()),
    ] {
        conn.execute(
            &format!(
                "INSERT INTO records (source, host, time_ms, message) VALUES ('logs', {host}, {time}, {message})"
            ),
            [],
        )
        .expect("insert a bad row");
    }
    drop(conn);

    let out = env.lad("detect", &[], 0);
    let err = stderr(&out);
    assert!(
        err.contains("malformed=5") && err.contains("scored=39"),
        "{err}"
    );

    let conn = rusqlite::Connection::open(env.db()).expect("open the store");
    let rows: Vec<(i64, Option<i64>, Option<String>)> = conn
        .prepare("SELECT id, is_anomaly, malformed FROM records ORDER BY id")
        .and_then(|mut st| {
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()
        })
        .expect("read back");
    assert_eq!(rows.len(), 44);
    let reasons: Vec<&str> = rows.iter().filter_map(|r| r.2.as_deref()).collect();
    assert_eq!(reasons.len(), 5, "{rows:?}");
    for needle in [
        "over the limit",
        "message has type blob",
        "not valid UTF-8",
        "host has type blob",
        "time_ms has type text",
    ] {
        assert!(
            reasons.iter().any(|r| r.contains(needle)),
            "a reason says {needle:?}: {reasons:?}"
        );
    }
    for (id, verdict, malformed) in &rows {
        assert!(
            verdict.is_some() != malformed.is_some(),
            "record {id} has a verdict or a malformed mark, not both or neither: {verdict:?} {malformed:?}"
        );
    }
    drop(conn);

    let out = env.lad("detect", &[], 0);
    let err = stderr(&out);
    assert!(
        err.contains("malformed=0") && err.contains("scored=0"),
        "marked once: {err}"
    );
    assert_eq!(
        env.export(&[]).len(),
        39,
        "export leaves malformed records out"
    );
}

#[test]
fn local_files_with_malformed_records_are_scored_around_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("in.jsonl");
    let output = dir.path().join("out.jsonl");
    let mut d = docs(60, &["h1"], 60, 0, now_ms() - 60_000);
    d[20].as_object_mut().expect("object").remove("message");
    d[30]["message"] = json!(7);
    d[40]["message"] = json!("x".repeat(70_000));
    write_json_lines(&input, &d);
    let config = dir.path().join("lad.yaml");
    std::fs::write(
        &config,
        format!(
            "STORAGE_DATASOURCE: local\nSTORAGE_DATASINK: local\nLS_INPUT_PATH: '{}'\n\
             LS_OUTPUT_PATH: '{}'\nMODEL_BASE_DIR: '{}'\nLOF_NEIGHBORS: 10\nINFER_MAX_ENTRIES: 7\n",
            input.display(),
            output.display(),
            dir.path().join("models").display()
        ),
    )
    .expect("write config");
    lad_expect(&["train", "--config", s(&config)], None, 0);
    let out = lad_expect(&["detect", "--config", s(&config)], None, 0);
    let err = stderr(&out);
    assert!(
        err.contains("scored=57") && err.contains("malformed=3"),
        "{err}"
    );
    let verdicts = json_lines(&std::fs::read(&output).expect("verdicts written"));
    assert_eq!(verdicts.len(), 57);
    let good: Vec<&Value> = d
        .iter()
        .enumerate()
        .filter(|(i, _)| ![20, 30, 40].contains(i))
        .map(|(_, v)| v)
        .collect();
    for (v, doc) in verdicts.iter().zip(good) {
        assert_eq!(v["message"], doc["message"], "in input order");
        assert!(v["is_anomaly"] == 0 || v["is_anomaly"] == 1, "{v}");
    }
    // The malformed records are remembered: a second pass reads nothing.
    let out = lad_expect(&["detect", "--config", s(&config)], None, 0);
    assert!(stderr(&out).contains("read=0"), "{}", stderr(&out));
    assert_eq!(
        json_lines(&std::fs::read(&output).expect("verdicts")).len(),
        57
    );
}

#[test]
fn a_model_that_cannot_be_saved_fails_only_its_host() {
    let env = Env::new("");
    let input = env.path("in.jsonl");
    write_json_lines(
        &input,
        &docs(40, &["ok-host", "blocked"], 60, 0, now_ms() - 600_000),
    );
    env.lad("import", &[s(&input)], 0);
    // A file where the model folder of `blocked` goes.
    let logs = env.path("models").join("logs");
    std::fs::create_dir_all(&logs).expect("mkdir");
    std::fs::write(logs.join("blocked"), "in the way").expect("write");
    let out = env.lad("train", &[], 1);
    let err = stderr(&out);
    assert!(
        err.contains("blocked") && err.contains("could not be saved"),
        "{err}"
    );
    assert!(logs.join("ok-host").join("model.lad").is_file(), "{err}");
    // The other host is scored.
    env.lad("detect", &[], 0);
    let scored = env
        .export(&[])
        .iter()
        .filter(|r| r["hostname"] == "ok-host" && !r["is_anomaly"].is_null())
        .count();
    assert_eq!(scored, 60);
}
