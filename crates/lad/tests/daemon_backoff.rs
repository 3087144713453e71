//! `lad run` does not exit when its store cannot be opened: it reports the failure, retries
//! with backoff, and scores the records once the store is there. Here the store is a folder of
//! log files (`local`) that does not exist when the daemon starts. Its log (standard error) says
//! each thing once, each on one line: the error once, then short lines while it repeats; that
//! the store works again; one summary of the models trained (per host only at debug level);
//! that no records came for 10 passes; that they came again.

mod common;

use std::time::Duration;

use common::{docs, now_ms, write_json_lines, Daemon};

#[test]
fn an_unreachable_store_is_retried_until_it_answers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("incoming");
    let output = dir.path().join("verdicts.jsonl");
    let config = dir.path().join("lad.yaml");
    std::fs::write(
        &config,
        format!(
            "STORAGE_DATASOURCE: local\nSTORAGE_DATASINK: local\nLS_INPUT_PATH: '{}'\n\
             LS_OUTPUT_PATH: '{}'\nMODEL_BASE_DIR: '{}'\nLOF_NEIGHBORS: 20\n\
             INFER_TIME_SPAN: 1\nHTTP_ADDR: '127.0.0.1:0'\n",
            input.display(),
            output.display(),
            dir.path().join("models").display()
        ),
    )
    .expect("write config");
    let mut daemon = Daemon::start(&config, dir.path().join("run.log"));
    let log = daemon.log.clone();
    let log_has = |text: &str| std::fs::read_to_string(&log).is_ok_and(|l| l.contains(text));
    daemon.wait_for("a reported store failure", Duration::from_secs(60), || {
        log_has("pass failed; retrying")
    });
    assert!(log_has("does not exist"), "the failure names its cause");
    daemon.wait_for("a repeated store failure", Duration::from_secs(60), || {
        log_has("the store still fails with the same error")
    });

    std::fs::create_dir(&input).expect("create the input folder");
    write_json_lines(
        &input.join("logs.jsonl"),
        &docs(5, &["r1", "r2"], 200, 40, now_ms() - 60_000),
    );
    let verdicts = || {
        std::fs::read_to_string(&output)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    daemon.wait_for("every record scored", Duration::from_secs(120), || {
        verdicts() == 400
    });

    // Ten passes of INFER_TIME_SPAN (1 s) without a record: one warning.
    daemon.wait_for("the quiet warning", Duration::from_secs(60), || {
        log_has("no new records in the last passes")
    });
    write_json_lines(
        // The same source (`logs`: the file name up to its first dot).
        &input.join("logs.more.jsonl"),
        &docs(6, &["r1", "r2"], 5, 0, now_ms()),
    );
    daemon.wait_for("the new records", Duration::from_secs(60), || {
        verdicts() == 410 && log_has("new records again")
    });
    let text = daemon.log();
    assert_eq!(daemon.terminate(), Some(0), "SIGTERM stops lad run cleanly");

    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let count = |needle: &str| lines.iter().filter(|l| l.contains(needle)).count();
    // Every line is a log line of its own (a timestamp first): no multi-line driver dumps.
    for l in &lines {
        assert!(
            l.starts_with(|c: char| c.is_ascii_digit()),
            "{l:?} in\n{text}"
        );
    }
    assert_eq!(count("pass failed; retrying"), 1, "{text}");
    assert!(
        count("the store still fails with the same error") >= 1,
        "{text}"
    );
    assert_eq!(count("the store works again"), 1, "{text}");
    // Per-host training lines are at debug level; one summary line says what was trained.
    assert_eq!(count("model trained"), 0, "{text}");
    let summary: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("models trained"))
        .collect();
    assert_eq!(summary.len(), 1, "{text}");
    assert!(summary[0].contains("trained=2"), "{text}");
    assert_eq!(count("no new records in the last passes"), 1, "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("no new records") && l.contains("quiet_passes=10")),
        "{text}"
    );
    assert_eq!(count("new records again"), 1, "{text}");
}

/// A MongoDB that refuses connections: the driver's answer is a dump of its whole topology, with
/// label sets in a random order. The log has it once, as the server's error on one line, and
/// then one short line per retry, never the dump.
#[test]
fn a_driver_error_is_one_readable_line_logged_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let config = dir.path().join("lad.yaml");
    std::fs::write(
        &config,
        format!(
            "STORAGE_DATASOURCE: mg\nSTORAGE_DATASINK: mg\nMG_HOST: 127.0.0.1\nMG_PORT: {port}\n\
             MG_DB: logs\nLOG_SOURCES: {{web: {{}}}}\nMODEL_BASE_DIR: '{}'\n\
             INFER_TIME_SPAN: 1\nHTTP_ADDR: '127.0.0.1:0'\n",
            dir.path().join("models").display()
        ),
    )
    .expect("write config");
    let mut daemon = Daemon::start(&config, dir.path().join("run.log"));
    let log = daemon.log.clone();
    let log_has = |text: &str| std::fs::read_to_string(&log).is_ok_and(|l| l.contains(text));
    daemon.wait_for("two repeated failures", Duration::from_secs(90), || {
        std::fs::read_to_string(&log).is_ok_and(|l| {
            l.matches("the store still fails with the same error")
                .count()
                >= 2
        })
    });
    assert!(log_has("Connection refused"), "the cause is named");
    let text = daemon.log();
    assert_eq!(daemon.terminate(), Some(0), "SIGTERM stops lad run cleanly");
    assert_eq!(text.matches("pass failed; retrying").count(), 1, "{text}");
    assert!(!text.contains("Topology"), "no driver dump:\n{text}");
    for l in text.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            l.starts_with(|c: char| c.is_ascii_digit()),
            "{l:?} in\n{text}"
        );
        assert!(l.chars().count() < 700, "a long line: {l}");
    }
}
