//! `lad score` and `lad templates` seen from outside: the built binary on small generated JSON
//! Lines. Output keeps input order and every input field; `-` reads standard input; invalid lines
//! stop the run naming their line, or are skipped and counted; usage errors exit 2; output is
//! deterministic and matches the reviewed golden files (`LAD_UPDATE_GOLDEN=1` rewrites them).

mod common;

use std::path::{Path, PathBuf};

use common::{docs, json_lines, lad_expect, stderr, write_json_lines};
use serde_json::Value;

/// A fixed end time, so generated inputs are the same on every run.
const END_MS: i64 = 1_735_732_800_000; // 2025-01-01T12:00:00Z

struct Files {
    _dir: tempfile::TempDir,
    train: PathBuf,
    input: PathBuf,
}

fn files() -> Files {
    let dir = tempfile::tempdir().expect("temp dir");
    let train = dir.path().join("train.jsonl");
    let input = dir.path().join("input.jsonl");
    write_json_lines(&train, &docs(1, &["alpha", "beta"], 150, 0, END_MS));
    write_json_lines(
        &input,
        &docs(2, &["alpha", "beta"], 40, 7, END_MS + 3_600_000),
    );
    Files {
        _dir: dir,
        train,
        input,
    }
}

fn p(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// Asserts `output` is `input` in order with exactly `added` fields added to each object.
fn assert_same_objects_plus(input: &[Value], output: &[Value], added: &[&str]) {
    assert_eq!(output.len(), input.len(), "one output line per input line");
    for (i, (inp, out)) in input.iter().zip(output).enumerate() {
        let mut out = out.as_object().expect("output lines are objects").clone();
        for key in added {
            assert!(
                out.remove(*key).is_some(),
                "line {}: no {key}: {out:?}",
                i + 1
            );
        }
        assert_eq!(&Value::Object(out), inp, "line {} changed", i + 1);
    }
}

#[test]
fn score_keeps_order_and_fields_and_adds_a_verdict() {
    let f = files();
    let out = lad_expect(
        &[
            "-q",
            "score",
            "--train",
            p(&f.train),
            "--input",
            p(&f.input),
        ],
        None,
        0,
    );
    let input = json_lines(&std::fs::read(&f.input).expect("input"));
    let output = json_lines(&out.stdout);
    assert_same_objects_plus(&input, &output, &["is_anomaly", "anomaly_score"]);
    for o in &output {
        assert!(
            o["is_anomaly"] == 0 || o["is_anomaly"] == 1,
            "is_anomaly is 0 or 1: {o}"
        );
        assert!(
            o["anomaly_score"].is_f64(),
            "anomaly_score is a number: {o}"
        );
    }

    // Standard input gives the same bytes as the file (and a second run the same bytes again).
    let bytes = std::fs::read(&f.input).expect("input");
    let piped = lad_expect(
        &["-q", "score", "--train", p(&f.train), "--input", "-"],
        Some(&bytes),
        0,
    );
    assert_eq!(piped.stdout, out.stdout, "stdin and file inputs differ");
    let train = std::fs::read(&f.train).expect("train");
    let piped_train = lad_expect(
        &["-q", "score", "--train", "-", "--input", p(&f.input)],
        Some(&train),
        0,
    );
    assert_eq!(piped_train.stdout, out.stdout, "stdin training differs");
}

#[test]
fn lines_of_a_host_without_a_model_get_null_and_the_others_keep_their_verdicts() {
    let f = files();
    // A third host, never seen in training, interleaved with the two known ones.
    let mixed = f.input.with_file_name("mixed.jsonl");
    let known = json_lines(&std::fs::read(&f.input).expect("input"));
    let stranger = docs(3, &["gamma"], 30, 5, END_MS + 3_600_000);
    let mut lines = Vec::new();
    for (i, doc) in known.iter().enumerate() {
        lines.push(doc.clone());
        if let Some(s) = stranger.get(i / 2).filter(|_| i % 2 == 1) {
            lines.push(s.clone());
        }
    }
    write_json_lines(&mixed, &lines);
    let score = |input: &Path| {
        let out = lad_expect(
            &["-q", "score", "--train", p(&f.train), "--input", p(input)],
            None,
            0,
        );
        json_lines(&out.stdout)
    };
    let alone = score(&f.input);
    let together = score(&mixed);
    assert_eq!(together.len(), lines.len());
    let mut alone = alone.iter();
    for out in &together {
        if out["hostname"] == "gamma" {
            assert!(out["is_anomaly"].is_null(), "{out}");
            assert!(out["anomaly_score"].is_null(), "{out}");
        } else {
            assert_eq!(Some(out), alone.next(), "a known host's verdict moved");
        }
    }
    assert!(alone.next().is_none());
}

#[test]
fn score_and_templates_are_deterministic() {
    let f = files();
    let args = [
        "-q",
        "score",
        "--train",
        p(&f.train),
        "--input",
        p(&f.input),
    ];
    let a = lad_expect(&args, None, 0);
    let b = lad_expect(&args, None, 0);
    assert!(!a.stdout.is_empty());
    assert_eq!(a.stdout, b.stdout, "two score runs differ");
    let args = ["-q", "templates", "--input", p(&f.input)];
    let a = lad_expect(&args, None, 0);
    let b = lad_expect(&args, None, 0);
    assert!(!a.stdout.is_empty());
    assert_eq!(a.stdout, b.stdout, "two templates runs differ");
}

#[test]
fn templates_keeps_order_and_fields_and_adds_group_and_template() {
    let f = files();
    let out = lad_expect(&["-q", "templates", "--input", p(&f.input)], None, 0);
    let input = json_lines(&std::fs::read(&f.input).expect("input"));
    let output = json_lines(&out.stdout);
    assert_same_objects_plus(&input, &output, &["group", "template"]);
    let mut template_of = std::collections::HashMap::new();
    for o in &output {
        let group = o["group"].as_str().expect("group is a string");
        let template = o["template"].as_str().expect("template is a string");
        let first = template_of.entry(group.to_string()).or_insert(template);
        assert_eq!(*first, template, "one template per group");
    }
    assert!(
        template_of.len() > 1 && template_of.len() < output.len(),
        "lines are grouped, into more than one group: {} groups for {} lines",
        template_of.len(),
        output.len()
    );
    let bytes = std::fs::read(&f.input).expect("input");
    let piped = lad_expect(&["-q", "templates", "--input", "-"], Some(&bytes), 0);
    assert_eq!(piped.stdout, out.stdout, "stdin and file inputs differ");
}

/// The input with line `at` (1-based) replaced by `bad`.
fn with_bad_line(f: &Files, at: usize, bad: &str) -> PathBuf {
    let text = std::fs::read_to_string(&f.input).expect("input");
    let mut lines: Vec<&str> = text.lines().collect();
    lines[at - 1] = bad;
    let path = f.input.with_extension(format!("bad{at}.jsonl"));
    std::fs::write(&path, lines.join("\n") + "\n").expect("write");
    path
}

#[test]
fn a_line_without_message_or_with_a_bad_time_fails_naming_the_line() {
    let f = files();
    let no_message = with_bad_line(
        &f,
        3,
        r#"{"hostname": "alpha", "received_at": "2025-01-01T12:00:00Z"}"#,
    );
    let bad_time = with_bad_line(
        &f,
        5,
        r#"{"hostname": "alpha", "received_at": "yesterday noon", "message": "hello"}"#,
    );
    for (file, line, what) in [
        (&no_message, 3, "\"message\""),
        (&bad_time, 5, "received_at"),
    ] {
        for cmd in [
            vec!["score", "--train", p(&f.train), "--input", p(file)],
            vec!["templates", "--input", p(file)],
        ] {
            let out = lad_expect(&cmd, None, 1);
            let err = stderr(&out);
            assert!(
                err.contains(&format!("line {line}")) && err.contains(what),
                "{cmd:?}: stderr should name line {line} and {what}: {err}"
            );
            assert!(out.stdout.is_empty(), "nothing is written on error");
        }
    }
    // An invalid training line is reported the same way.
    let out = lad_expect(
        &["score", "--train", p(&no_message), "--input", p(&f.input)],
        None,
        1,
    );
    assert!(stderr(&out).contains("line 3"), "{}", stderr(&out));
}

#[test]
fn skip_invalid_skips_and_counts() {
    let f = files();
    let one = with_bad_line(
        &f,
        2,
        r#"{"hostname": "alpha", "received_at": "2025-01-01T12:00:00Z"}"#,
    );
    let text = std::fs::read_to_string(&one).expect("input");
    let mut lines: Vec<&str> = text.lines().collect();
    lines[6] = "not json at all";
    std::fs::write(&one, lines.join("\n") + "\n").expect("write");
    let valid: Vec<Value> = json_lines(&std::fs::read(&f.input).expect("input"))
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != 1 && *i != 6)
        .map(|(_, v)| v)
        .collect();

    let out = lad_expect(
        &[
            "score",
            "--skip-invalid",
            "--train",
            p(&f.train),
            "--input",
            p(&one),
        ],
        None,
        0,
    );
    assert_same_objects_plus(
        &valid,
        &json_lines(&out.stdout),
        &["is_anomaly", "anomaly_score"],
    );
    let err = stderr(&out);
    assert!(err.contains("skipped=2") && err.contains("line 2"), "{err}");

    let out = lad_expect(
        &["templates", "--skip-invalid", "--input", p(&one)],
        None,
        0,
    );
    assert_same_objects_plus(&valid, &json_lines(&out.stdout), &["group", "template"]);
    assert!(stderr(&out).contains("skipped=2"), "{}", stderr(&out));
}

#[test]
fn usage_errors_exit_2() {
    let f = files();
    for args in [
        vec!["score", "--input", p(&f.input)],
        vec!["score", "--train", "-", "--input", "-"],
        vec!["templates"],
        vec![
            "score",
            "--train",
            p(&f.train),
            "--input",
            p(&f.input),
            "--rule",
            "magic",
        ],
        vec!["frobnicate"],
    ] {
        let out = lad_expect(&args, None, 2);
        assert!(
            !stderr(&out).trim().is_empty(),
            "{args:?}: says why on stderr"
        );
        assert!(out.stdout.is_empty(), "{args:?}: writes nothing");
    }
}

#[test]
fn a_host_with_fewer_lines_than_lof_neighbors_still_gets_a_model() {
    let dir = tempfile::tempdir().expect("temp dir");
    let train = dir.path().join("train.jsonl");
    let input = dir.path().join("input.jsonl");
    // LOF_NEIGHBORS defaults to 100: "tiny" has 30 training lines, "big" 150.
    let mut t = docs(3, &["big"], 150, 0, END_MS);
    t.extend(docs(4, &["tiny"], 30, 0, END_MS));
    write_json_lines(&train, &t);
    write_json_lines(&input, &docs(5, &["tiny", "big"], 20, 5, END_MS + 60_000));
    let out = lad_expect(
        &["score", "--train", p(&train), "--input", p(&input)],
        None,
        0,
    );
    let output = json_lines(&out.stdout);
    assert_eq!(output.len(), 40);
    for o in output.iter().filter(|o| o["hostname"] == "tiny") {
        assert!(
            o["is_anomaly"] == 0 || o["is_anomaly"] == 1,
            "tiny is scored: {o}"
        );
        assert!(o["anomaly_score"].is_f64(), "tiny is scored: {o}");
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Compares `actual` with the golden file, or rewrites it when `LAD_UPDATE_GOLDEN=1`.
fn check_golden(name: &str, actual: &[u8]) {
    let path = fixture(name);
    if std::env::var_os("LAD_UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with LAD_UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        let (e, a) = (
            String::from_utf8_lossy(&expected),
            String::from_utf8_lossy(actual),
        );
        let diff = e
            .lines()
            .zip(a.lines())
            .enumerate()
            .find(|(_, (x, y))| x != y)
            .map_or_else(
                || {
                    format!(
                        "line counts differ: {} vs {}",
                        e.lines().count(),
                        a.lines().count()
                    )
                },
                |(i, (x, y))| format!("first difference at line {}:\n- {x}\n+ {y}", i + 1),
            );
        panic!(
            "{} differs from the output ({diff}); if the change is intended, rerun with \
             LAD_UPDATE_GOLDEN=1 and review the diff",
            path.display()
        );
    }
}

#[test]
fn golden_score_and_templates() {
    // Trained on routine lines of both hosts; the input adds four rare, alarming lines.
    let train = fixture("offline_train.jsonl");
    let input = fixture("offline_input.jsonl");
    let out = lad_expect(
        &[
            "-q",
            "score",
            "--train",
            p(&train),
            "--input",
            p(&input),
            "--explain",
        ],
        None,
        0,
    );
    check_golden("offline_score.golden.jsonl", &out.stdout);
    let out = lad_expect(&["-q", "templates", "--input", p(&input)], None, 0);
    check_golden("offline_templates.golden.jsonl", &out.stdout);
}

#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    // `lad templates ... | head -1`: the reader closes the pipe after one line; lad stops
    // quietly with 0 instead of reporting a broken pipe.
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("many.jsonl");
    write_json_lines(&input, &docs(3, &["a", "b"], 20_000, 0, 1_767_225_600_000));
    let mut child = common::lad()
        .args(["templates", "--input", p(&input)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("lad starts");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut first = [0u8; 64];
    std::io::Read::read_exact(&mut stdout, &mut first).expect("some output");
    drop(stdout);
    let out = child.wait_with_output().expect("lad ends");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("Broken pipe"),
        "quiet on a closed pipe: {}",
        stderr(&out)
    );
}

#[test]
fn score_and_templates_read_their_config() {
    let f = files();
    let dir = tempfile::tempdir().expect("temp dir");
    let plain = dir.path().join("plain.yaml");
    std::fs::write(&plain, "LOF_NEIGHBORS: 20\n").expect("write");
    let legacy = dir.path().join("legacy.yaml");
    std::fs::write(&legacy, "LOF_NEIGHBORS: 20\nDETECTOR: legacy\n").expect("write");
    let score = |extra: &[&str]| {
        let mut args = vec!["score", "--train", p(&f.train), "--input", p(&f.input)];
        args.extend_from_slice(extra);
        lad_expect(&args, None, 0).stdout
    };
    // DETECTOR in the file is the same as --rule on the command line, and it matters.
    let by_file = score(&["--config", p(&legacy)]);
    assert_eq!(by_file, score(&["--config", p(&plain), "--rule", "legacy"]));
    assert_ne!(by_file, score(&["--config", p(&plain)]));
    // A config file that is missing is a usage error naming it, for both commands.
    let missing = dir.path().join("missing.yaml");
    for cmd in ["score", "templates"] {
        let mut args = vec![cmd, "--input", p(&f.input), "--config", p(&missing)];
        if cmd == "score" {
            args.extend(["--train", p(&f.train)]);
        }
        let out = lad_expect(&args, None, 2);
        assert!(stderr(&out).contains("missing.yaml"), "{}", stderr(&out));
    }
    // AGGR_METHOD in the file is the same as --method.
    let dbscan = dir.path().join("dbscan.yaml");
    std::fs::write(&dbscan, "AGGR_METHOD: dbscan\n").expect("write");
    let templates = |extra: &[&str]| {
        let mut args = vec!["templates", "--input", p(&f.input)];
        args.extend_from_slice(extra);
        lad_expect(&args, None, 0).stdout
    };
    assert_eq!(
        templates(&["--config", p(&dbscan)]),
        templates(&["--method", "dbscan"])
    );
}

#[test]
fn output_never_overwrites_an_input() {
    let f = files();
    let before = std::fs::read(&f.train).expect("read");
    let out = lad_expect(
        &[
            "score",
            "--train",
            p(&f.train),
            "--input",
            p(&f.input),
            "-o",
            p(&f.train),
        ],
        None,
        2,
    );
    assert!(stderr(&out).contains("also an input"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&f.train).expect("read"), before, "untouched");
    let out = lad_expect(
        &["templates", "--input", p(&f.input), "--output", p(&f.input)],
        None,
        2,
    );
    assert!(stderr(&out).contains("also an input"), "{}", stderr(&out));
}

#[test]
fn with_json_logs_every_line_on_stderr_is_json_the_fatal_error_included() {
    let f = files();
    let missing = f._dir.path().join("missing.jsonl");
    let out = lad_expect(
        &[
            "--log-format",
            "json",
            "score",
            "--train",
            p(&missing),
            "--input",
            p(&f.input),
        ],
        None,
        1,
    );
    let err = stderr(&out);
    assert!(!err.trim().is_empty(), "the failure is reported");
    for line in err.lines() {
        let value: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if value["level"] == "ERROR" {
            let message = value["fields"]["message"].as_str().unwrap_or_default();
            assert!(message.contains("missing.jsonl"), "names the file: {line}");
            assert_eq!(value["fields"]["exit_code"], 1, "{line}");
        }
    }
    assert!(
        err.contains("\"ERROR\""),
        "the fatal error is a JSON line: {err}"
    );
}

#[test]
fn version_names_the_commit_and_completions_and_manpage_are_generated() {
    let out = lad_expect(&["--version"], None, 0);
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(
        version.starts_with(&format!("lad {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    let out = lad_expect(&["completions", "bash"], None, 0);
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(
        script.contains("check-config") && script.contains("complete"),
        "{script}"
    );
    let out = lad_expect(&["manpage"], None, 0);
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH lad 1"),
        "{page}"
    );
    assert!(page.contains("check\\-config"), "lists the commands");
    lad_expect(&["completions", "tcsh"], None, 2);
}

/// `lad ARGS` with `LAD_CHUNK_BYTES=chunk`, expecting exit 0; feeds `stdin` when given.
fn lad_chunked(args: &[&str], chunk: &str, stdin: Option<&[u8]>) -> std::process::Output {
    let out = common::run(
        common::lad().args(args).env("LAD_CHUNK_BYTES", chunk),
        stdin,
    );
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    out
}

#[test]
fn output_is_the_same_whatever_the_chunk_size() {
    // The input streams in chunks of whole lines; chunks of one line or a few must give the
    // reviewed golden output, from a file and from standard input alike.
    let train = fixture("offline_train.jsonl");
    let input = fixture("offline_input.jsonl");
    let bytes = std::fs::read(&input).expect("input");
    for chunk in ["1", "97", "1000"] {
        let score = [
            "-q",
            "score",
            "--train",
            p(&train),
            "--input",
            p(&input),
            "--explain",
        ];
        check_golden(
            "offline_score.golden.jsonl",
            &lad_chunked(&score, chunk, None).stdout,
        );
        let templates = ["-q", "templates", "--input", p(&input)];
        check_golden(
            "offline_templates.golden.jsonl",
            &lad_chunked(&templates, chunk, None).stdout,
        );
        let from_stdin = ["-q", "templates", "--input", "-"];
        check_golden(
            "offline_templates.golden.jsonl",
            &lad_chunked(&from_stdin, chunk, Some(&bytes)).stdout,
        );
    }
    // A generated input of two hosts, lines of several chunks: same output either way.
    let f = files();
    let args = [
        "-q",
        "score",
        "--train",
        p(&f.train),
        "--input",
        p(&f.input),
    ];
    let whole = lad_chunked(&args, "100000000", None).stdout;
    assert!(!whole.is_empty());
    assert_eq!(lad_chunked(&args, "500", None).stdout, whole);
    let args = ["-q", "templates", "--input", p(&f.input)];
    let whole = lad_chunked(&args, "100000000", None).stdout;
    assert_eq!(lad_chunked(&args, "500", None).stdout, whole);
}

#[test]
fn verdicts_do_not_depend_on_how_a_chunk_is_cut_for_the_threads() {
    // Each chunk is cut into parts of 1,024 lines, each parsed, scored and written by one
    // thread: 3,000 lines of three hosts (one without a model), interleaved, must give the
    // same output whole, in chunks cutting through parts, and in chunks of one line; a bad
    // line in a later part is named by its number, and nothing after its chunk is written.
    let dir = tempfile::tempdir().expect("temp dir");
    let train = dir.path().join("train.jsonl");
    let input = dir.path().join("input.jsonl");
    write_json_lines(&train, &docs(1, &["alpha", "beta"], 300, 0, END_MS));
    let lines = docs(2, &["alpha", "beta", "gamma"], 1000, 7, END_MS + 3_600_000);
    write_json_lines(&input, &lines);
    let args = [
        "-q",
        "score",
        "--train",
        p(&train),
        "--input",
        p(&input),
        "--explain",
    ];
    let whole = lad_chunked(&args, "100000000", None).stdout;
    let out = String::from_utf8(whole.clone()).expect("UTF-8");
    assert_eq!(out.lines().count(), 3000);
    let unscored = out
        .lines()
        .filter(|l| l.contains("\"is_anomaly\": null"))
        .count();
    assert_eq!(unscored, 1000, "gamma has no model");
    for chunk in ["150000", "4099", "1"] {
        assert_eq!(
            lad_chunked(&args, chunk, None).stdout,
            whole,
            "chunk {chunk}"
        );
    }
    let text = std::fs::read_to_string(&input).expect("input");
    let mut lines: Vec<&str> = text.lines().collect();
    lines[2500] = "{\"message\": 7}";
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, lines.join("\n")).expect("write");
    let out = common::run(
        common::lad()
            .args(["-q", "score", "--train", p(&train), "--input", p(&bad)])
            .env("LAD_CHUNK_BYTES", "100000000"),
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("line 2501"), "{}", stderr(&out));
    assert!(
        out.stdout.is_empty(),
        "the chunk holding the bad line is not written"
    );
}

/// The input of `f` with line `at` (1-based) replaced by raw bytes.
fn with_bad_bytes(f: &Files, at: usize, bad: &[u8]) -> PathBuf {
    let text = std::fs::read(&f.input).expect("input");
    let mut lines: Vec<&[u8]> = text.split(|b| *b == b'\n').collect();
    lines[at - 1] = bad;
    let path = f.input.with_extension("latin1.jsonl");
    std::fs::write(&path, lines.join(&b'\n')).expect("write");
    path
}

#[test]
fn an_invalid_utf8_byte_fails_its_line_once_or_is_skipped() {
    let f = files();
    let bad = with_bad_bytes(
        &f,
        4,
        b"{\"hostname\": \"alpha\", \"received_at\": \"2025-01-01T12:00:00Z\", \"message\": \"caf\xe9 closed\"}",
    );
    let valid: Vec<Value> = json_lines(&std::fs::read(&f.input).expect("input"))
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != 3)
        .map(|(_, v)| v)
        .collect();
    for (cmd, added) in [
        (
            vec!["score", "--train", p(&f.train), "--input", p(&bad)],
            ["is_anomaly", "anomaly_score"],
        ),
        (vec!["templates", "--input", p(&bad)], ["group", "template"]),
    ] {
        let out = lad_expect(&cmd, None, 1);
        let err = stderr(&out);
        assert_eq!(err.matches("line 4").count(), 1, "{cmd:?}: {err}");
        assert_eq!(err.matches("UTF-8").count(), 1, "said once: {err}");
        assert!(err.contains("column 77"), "{err}");
        assert!(out.stdout.is_empty(), "nothing is written on error");

        let mut skip = cmd.clone();
        skip.insert(1, "--skip-invalid");
        let out = lad_expect(&skip, None, 0);
        assert_same_objects_plus(&valid, &json_lines(&out.stdout), &added);
        let err = stderr(&out);
        assert!(
            err.contains("skipped=1") && err.contains("line 4") && err.contains("UTF-8"),
            "{err}"
        );
    }
}

#[test]
fn a_byte_order_mark_and_other_time_forms_are_read_as_import_reads_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("bom.jsonl");
    let lines = [
        r#"{"hostname": "alpha", "received_at": "2024-01-05 00:00:00", "message": "disk ok"}"#,
        r#"{"hostname": "alpha", "received_at": "2024-01-05T00:00:01", "message": "disk ok"}"#,
        r#"{"hostname": "alpha", "received_at": 1704412802, "message": "disk ok"}"#,
        r#"{"hostname": "alpha", "received_at": "2024-01-05T00:00:03Z", "message": "disk ok"}"#,
    ];
    std::fs::write(&input, format!("\u{feff}{}\n", lines.join("\n"))).expect("write");
    let out = lad_expect(
        &["score", "--train", p(&input), "--input", p(&input)],
        None,
        0,
    );
    let expected: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    // The output starts with the first object, not the mark.
    assert!(out.stdout.starts_with(b"{"), "{:?}", &out.stdout[..8]);
    assert_same_objects_plus(
        &expected,
        &json_lines(&out.stdout),
        &["is_anomaly", "anomaly_score"],
    );
    let out = lad_expect(&["templates", "--input", p(&input)], None, 0);
    assert_same_objects_plus(&expected, &json_lines(&out.stdout), &["group", "template"]);

    // `lad import` takes the same file, every line.
    let config = dir.path().join("lad.yaml");
    std::fs::write(
        &config,
        format!("SQLITE_PATH: '{}'\n", dir.path().join("lad.db").display()),
    )
    .expect("config");
    let out = lad_expect(&["import", "--config", p(&config), p(&input)], None, 0);
    assert!(stderr(&out).contains("inserted=4"), "{}", stderr(&out));

    // A time neither reads is refused by both, naming the line.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        r#"{"hostname": "alpha", "received_at": "5 Jan 2024", "message": "disk ok"}"#,
    )
    .expect("write");
    let out = lad_expect(&["templates", "--input", p(&bad)], None, 1);
    assert!(stderr(&out).contains("line 1"), "{}", stderr(&out));
    let out = lad_expect(&["import", "--config", p(&config), p(&bad)], None, 1);
    assert!(stderr(&out).contains("bad.jsonl:1"), "{}", stderr(&out));
}

#[test]
fn output_is_refused_when_it_is_the_training_file_by_another_name() {
    let f = files();
    let before = std::fs::read(&f.train).expect("read");
    let hard = f.train.with_extension("hard.jsonl");
    std::fs::hard_link(&f.train, &hard).expect("hard link");
    let soft = f.train.with_extension("soft.jsonl");
    std::os::unix::fs::symlink(&f.train, &soft).expect("symlink");
    for alias in [&hard, &soft] {
        let out = lad_expect(
            &[
                "score",
                "--train",
                p(&f.train),
                "--input",
                p(&f.input),
                "-o",
                p(alias),
            ],
            None,
            2,
        );
        let err = stderr(&out);
        assert!(
            err.contains(&format!("--output {}", p(alias)))
                && err.contains(&format!("--train {}", p(&f.train))),
            "names both: {err}"
        );
        assert_eq!(std::fs::read(&f.train).expect("read"), before, "untouched");
    }
}
