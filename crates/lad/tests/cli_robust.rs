//! Hard to break (issue 19): the real `lad` binary given what a careless or hostile setting
//! gives it. Many tiny hosts cost one summary line, not one per host; `/metrics` and `/readyz`
//! answer at once while the database hangs (a TCP listener that accepts and never answers
//! stands in for a hung MySQL server); `demo --serve` refuses a public address before its work;
//! a read-only or full disk is named as such; no error repeats its cause.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{docs, lad, lad_expect, now_ms, run, scored, stderr, write_json_lines, Daemon};
use serde_json::Value;

fn s(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

fn sqlite_config(dir: &Path, extra: &str) -> PathBuf {
    let config = dir.join("lad.yaml");
    let text = format!(
        "SQLITE_PATH: '{}'\nMODEL_BASE_DIR: '{}'\nLOF_NEIGHBORS: 10\nPARALLELISM: 2\n\
         HTTP_ADDR: '127.0.0.1:0'\n{extra}",
        dir.join("lad.db").display(),
        dir.join("models").display()
    );
    std::fs::write(&config, text).expect("write config");
    config
}

/// Lines of `text` that mention `needle`.
fn lines_with(text: &str, needle: &str) -> usize {
    text.lines().filter(|l| l.contains(needle)).count()
}

#[test]
fn many_tiny_hosts_cost_one_summary_line_and_the_others_are_scored() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = sqlite_config(dir.path(), "");
    let end = now_ms() - 60_000;
    // 600 hosts with one line each (below the minimum), two with enough to train.
    let tiny: Vec<String> = (0..600).map(|i| format!("tiny-{i:04}")).collect();
    let tiny_refs: Vec<&str> = tiny.iter().map(String::as_str).collect();
    let mut all = docs(7, &tiny_refs, 1, 0, end);
    all.extend(docs(8, &["big-1", "big-2"], 150, 40, end));
    let input = dir.path().join("logs.jsonl");
    write_json_lines(&input, &all);
    lad_expect(&["import", "--config", s(&config), s(&input)], None, 0);

    let out = lad_expect(&["train", "--config", s(&config)], None, 0);
    let err = stderr(&out);
    assert_eq!(
        lines_with(&err, "waiting_for_data=600"),
        1,
        "one summary line counts all the waiting hosts:\n{err}"
    );
    assert_eq!(
        lines_with(&err, "tiny-"),
        1,
        "only the summary names a tiny host:\n{err}"
    );
    assert!(err.lines().count() < 20, "bounded output:\n{err}");
    let models = dir.path().join("models");
    let model_dirs = walk_files(&models)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "model.lad"))
        .count();
    assert_eq!(model_dirs, 2, "only the two big hosts get a model");

    let out = lad_expect(&["detect", "--config", s(&config)], None, 0);
    let err = stderr(&out);
    assert_eq!(
        lines_with(&err, "without a model"),
        1,
        "one line for the hosts without a model:\n{err}"
    );
    assert!(err.contains("hosts=600"), "{err}");
    assert!(err.lines().count() < 20, "bounded output:\n{err}");
    assert_eq!(
        scored(&dir.path().join("lad.db")),
        300,
        "every line of the modelled hosts is scored, the tiny hosts' wait"
    );

    // The daemon says how many hosts wait (their lines keep lad_scoring_lag_seconds up).
    let port = free_port();
    let run_config = sqlite_config(dir.path(), "INFER_TIME_SPAN: 1\n");
    let text = std::fs::read_to_string(&run_config)
        .expect("config")
        .replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    std::fs::write(&run_config, text).expect("config");
    let mut daemon = Daemon::start(&run_config, dir.path().join("run.log"));
    let metrics = || {
        get(port, "/metrics")
            .map(|(_, body, _)| body)
            .unwrap_or_default()
    };
    daemon.wait_for("lad_hosts_waiting 600", Duration::from_secs(60), || {
        metrics().contains("\nlad_hosts_waiting 600\n")
    });
    assert!(metrics().contains("\nlad_models_loaded 2\n"));
    assert_eq!(daemon.terminate(), Some(0));
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk_files(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A server that accepts connections and never says a word (a hung database). The accepted
/// connections are kept open until the process ends.
fn hung_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

/// GET `path` on 127.0.0.1:`port` with a plain HTTP/1.0 request; returns the status, the body
/// and how long the answer took.
fn get(port: u16, path: &str) -> Option<(u16, String, Duration)> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let elapsed = started.elapsed();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body, elapsed))
}

#[test]
fn metrics_and_health_answer_at_once_while_the_database_hangs() {
    let db_port = hung_server();
    let http_port = free_port();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("lad.yaml");
    std::fs::write(
        &config,
        format!(
            "STORAGE_DATASOURCE: mysql\nSTORAGE_DATASINK: mysql\n\
             MYSQL_INPUT_HOST: '127.0.0.1'\nMYSQL_INPUT_PORT: {db_port}\nMYSQL_INPUT_DB: logs\n\
             MYSQL_INPUT_USER: root\nMYSQL_TARGET_HOST: '127.0.0.1'\nMYSQL_TARGET_PORT: {db_port}\n\
             MYSQL_TARGET_DB: logs\nMYSQL_TARGET_USER: root\n\
             LOG_SOURCES:\n  syslog:\n    HOSTNAMES: [web-1]\n\
             MODEL_BASE_DIR: '{}'\nHTTP_ADDR: '127.0.0.1:{http_port}'\nINFER_TIME_SPAN: 1\n",
            dir.path().join("models").display()
        ),
    )
    .expect("write config");
    let mut daemon = Daemon::start(&config, dir.path().join("run.log"));
    daemon.wait_for("the HTTP server", Duration::from_secs(30), || {
        get(http_port, "/healthz").is_some()
    });
    // Scrape for longer than one store attempt takes (13.4 s when this was filed): every
    // answer within 2 s, with the store reported down.
    let started = Instant::now();
    let mut scrapes = 0;
    while started.elapsed() < Duration::from_secs(16) {
        let (status, body, took) = get(http_port, "/metrics").expect("/metrics answers");
        assert_eq!(status, 200, "{body}");
        assert!(
            took < Duration::from_secs(2),
            "/metrics took {took:?} while the store hangs"
        );
        assert!(
            body.lines().any(|l| l == "lad_store_up 0"),
            "lad_store_up 0 while the store hangs:\n{body}"
        );
        let (status, body, took) = get(http_port, "/readyz").expect("/readyz answers");
        assert_eq!(status, 503, "{body}");
        assert!(took < Duration::from_secs(2), "/readyz took {took:?}");
        let ready: Value = serde_json::from_str(&body).expect("/readyz answers JSON");
        assert_eq!(ready["ready"], false, "{body}");
        scrapes += 1;
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(scrapes >= 8, "{scrapes} scrapes in 16 s");
    // The API waits a bounded time, then says the store is away, as JSON.
    let (status, body, took) = get(http_port, "/api/anomalies").expect("the API answers");
    assert_eq!(status, 503, "{body}");
    assert!(
        took < Duration::from_secs(7),
        "/api/anomalies took {took:?}"
    );
    let error: Value = serde_json::from_str(&body).expect("a JSON error");
    assert!(
        error["error"].as_str().is_some_and(|e| e.contains("store")),
        "{body}"
    );
    assert_eq!(daemon.terminate(), Some(0), "SIGTERM stops lad run cleanly");
}

#[test]
fn demo_serve_refuses_a_public_address_before_its_work() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = dir.path().join("demo");
    let started = Instant::now();
    let out = run(
        lad()
            .args(["demo", "--serve", "--dir", s(&demo)])
            .env("LAD_HTTP_ADDR", "0.0.0.0:0"),
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("0.0.0.0:0") && err.contains("HTTP_TOKEN"),
        "names the address and the key:\n{err}"
    );
    assert!(
        !demo.join("lad.db").exists(),
        "no demo store was built before refusing"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refused at once, not after the demo's work ({:?})",
        started.elapsed()
    );
    let out = run(
        lad()
            .args(["demo", "--serve", "--dir", s(&demo)])
            .env("LAD_HTTP_ADDR", "not an address"),
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("LAD_HTTP_ADDR"), "{}", stderr(&out));
}

/// No error line says the same thing twice in a row ("X: X").
fn assert_no_repeat(err: &str) {
    for line in err.lines() {
        let parts: Vec<&str> = line.split(": ").collect();
        for w in parts.windows(2) {
            assert!(
                w[0].trim() != w[1].trim() || w[0].trim().is_empty(),
                "{:?} is said twice in: {line}",
                w[0]
            );
        }
    }
}

#[test]
fn errors_say_their_cause_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A store in a folder that does not exist, and a model folder that is a file.
    let config = dir.path().join("lad.yaml");
    std::fs::write(
        &config,
        format!(
            "SQLITE_PATH: '{}'\nMODEL_BASE_DIR: '{}'\n",
            dir.path().join("missing/lad.db").display(),
            dir.path().join("models").display()
        ),
    )
    .expect("write config");
    let out = lad_expect(&["train", "--config", s(&config)], None, 1);
    let err = stderr(&out);
    assert!(err.contains("missing/lad.db"), "names the file:\n{err}");
    assert_no_repeat(&err);
    // A config file that cannot be read.
    let out = lad_expect(
        &["check-config", "--config", s(&dir.path().join("nope.yaml"))],
        None,
        2,
    );
    assert_no_repeat(&stderr(&out));
}

/// Runs `f` with a small tmpfs mounted at `at` (`options` such as `size=64k` or `ro`), or says
/// why it cannot and skips (mounting needs root).
fn with_tmpfs(at: &Path, options: &str, f: impl FnOnce()) -> bool {
    std::fs::create_dir_all(at).expect("mount point");
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", options, "tmpfs", s(at)])
        .status()
        .is_ok_and(|st| st.success());
    if !ok {
        eprintln!(
            "\n*** SKIPPED part of {}: cannot mount a tmpfs (needs root)\n",
            module_path!()
        );
        return false;
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    let _ = std::process::Command::new("umount").arg(s(at)).status();
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
    true
}

#[test]
fn a_full_or_read_only_disk_is_named_as_such() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("logs.jsonl");
    write_json_lines(&input, &docs(3, &["h1"], 50, 0, now_ms() - 60_000));
    let config = |db: &Path| {
        let c = dir.path().join("store.yaml");
        std::fs::write(
            &c,
            format!(
                "SQLITE_PATH: '{}'\nMODEL_BASE_DIR: '{}'\n",
                db.display(),
                dir.path().join("models").display()
            ),
        )
        .expect("write config");
        c
    };

    // Full: a 64 KiB file system filled to the last byte.
    let full = dir.path().join("full");
    let mounted = with_tmpfs(&full, "size=64k", || {
        let mut filler = std::fs::File::create(full.join("filler")).expect("filler");
        let block = vec![0u8; 4096];
        while filler.write_all(&block).is_ok() {}
        let _ = filler.flush();
        let db = full.join("lad.db");
        let out = run(
            lad().args(["import", "--config", s(&config(&db)), s(&input)]),
            None,
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(s(&db)), "names the file:\n{err}");
        assert!(
            err.contains("full"),
            "says the disk is full, not that the file is not sqlite:\n{err}"
        );
        assert!(!err.contains("is it an sqlite file"), "{err}");
        assert_no_repeat(&err);
    });

    // Read-only: a file system mounted read-only.
    let ro = dir.path().join("ro");
    let mounted_ro = with_tmpfs(&ro, "ro,size=64k", || {
        let db = ro.join("lad.db");
        let out = run(
            lad().args(["import", "--config", s(&config(&db)), s(&input)]),
            None,
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(s(&db)), "names the file:\n{err}");
        assert!(
            err.to_lowercase().contains("read-only")
                || err.to_lowercase().contains("permission denied"),
            "says it cannot write there:\n{err}"
        );
        assert!(!err.contains("is it an sqlite file"), "{err}");
        assert_no_repeat(&err);
    });
    if !(mounted && mounted_ro) {
        eprintln!("a_full_or_read_only_disk_is_named_as_such: checked only what could be mounted");
    }

    // Not a database: says so.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![b'x'; 8192]).expect("junk");
    let out = run(
        lad().args(["import", "--config", s(&config(&junk)), s(&input)]),
        None,
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("not an sqlite database"), "{err}");
    assert_no_repeat(&err);
}
