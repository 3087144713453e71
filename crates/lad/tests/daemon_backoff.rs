//! `lad run` does not exit when its store cannot be opened: it reports the failure, retries
//! with backoff, and scores the records once the store is there. Here the store is a folder of
//! log files (`local`) that does not exist when the daemon starts.

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
    assert_eq!(daemon.terminate(), Some(0), "SIGTERM stops lad run cleanly");
}
