//! Configuration loading seen from outside: the example files, precedence of file over
//! environment, and the messages a user sees for each kind of mistake.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lad::config::{self, ConfigError, ConfigWarning, Origin, SinkKind, SourceKind};

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn no_env() -> HashMap<String, String> {
    HashMap::new()
}

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Loads `text` as if it were the file `name`.
fn load_text(
    name: &str,
    text: &str,
    env: &HashMap<String, String>,
) -> Result<(config::Config, Vec<ConfigWarning>), ConfigError> {
    config::load_str(Some(Path::new(name)), text, env)
}

fn expect_err(name: &str, text: &str, env: &HashMap<String, String>) -> ConfigError {
    match load_text(name, text, env) {
        Ok(_) => panic!("{name} should not load:\n{text}"),
        Err(e) => e,
    }
}

#[test]
fn every_example_parses_without_unknown_keys() {
    let mut seen = 0;
    for entry in std::fs::read_dir(examples_dir()).expect("examples/ exists") {
        let path = entry.expect("readable dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        seen += 1;
        let warnings = config::check_syntax(&path, &no_env())
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
        assert!(
            warnings
                .iter()
                .all(|w| !matches!(w, ConfigWarning::UnknownKey { .. })),
            "{}: {warnings:?}",
            path.display()
        );
        // Everything but multihost.yaml (whose CA file is on its author's machine) loads fully.
        match config::load(Some(&path), &no_env()) {
            Ok(_) => {}
            Err(ConfigError::UnreadableFile {
                key: "MG_CA_CERT", ..
            }) if path.ends_with("multihost.yaml") => {}
            Err(e) => panic!("{} does not load: {e}", path.display()),
        }
    }
    assert!(seen >= 4, "expected the four example files, found {seen}");
}

#[test]
fn old_multihost_config_loads_unchanged_but_for_its_ca_path() {
    let path = examples_dir().join("multihost.yaml");
    let err = config::load(Some(&path), &no_env()).expect_err("the CA file does not exist here");
    let text = err.to_string();
    assert!(
        text.contains("multihost.yaml line 7: MG_CA_CERT names"),
        "{text}"
    );

    let ca = tempfile::NamedTempFile::new().expect("temp file");
    let original = std::fs::read_to_string(&path).expect("readable");
    let patched = original.replace(
        "/home/nadzya/Apps/log-anomaly-detector/config_files/LAD_CA.crt",
        &ca.path().display().to_string(),
    );
    assert_ne!(patched, original);
    let (cfg, warnings) = load_text("multihost.yaml", &patched, &no_env()).expect("loads");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(cfg.storage_datasource, SourceKind::Mongo);
    assert_eq!(cfg.storage_datasink, SinkKind::Mongo);
    assert_eq!(cfg.mg.host, "172.17.18.83");
    assert_eq!(cfg.mg.port, 27017);
    assert_eq!(cfg.mg.db.as_deref(), Some("logstoredb"));
    assert!(cfg.mg.verify_cert);
    assert_eq!(cfg.train_max_entries, 100_000);
    assert_eq!(cfg.train_time_span.as_secs(), 2_592_000);
    let hosts: Vec<(&str, Vec<&str>)> = cfg
        .log_sources
        .iter()
        .map(|(k, v)| (k.as_str(), v.hostnames.iter().map(String::as_str).collect()))
        .collect();
    assert_eq!(
        hosts,
        vec![
            ("network_logs", vec!["cumulus", "EXOS-VM", "172.17.18.178"]),
            ("utm_logs", vec!["172.17.18.56", "172.17.31.10"]),
            ("web_logs", vec!["dataform"]),
        ]
    );
    assert!(cfg.detection_enabled());
    assert!(!cfg.aggregation_enabled());
    assert!(cfg.require_aggregation().is_err());
}

#[test]
fn old_aggregator_config_is_aggregation_only() {
    let path = examples_dir().join("aggregator.yaml");
    let (cfg, _) = config::load(Some(&path), &no_env()).expect("loads");
    let pairs: Vec<(&str, &str)> = cfg
        .aggregation_targets
        .iter()
        .map(|t| (t.input.as_str(), t.target.as_str()))
        .collect();
    assert_eq!(
        pairs,
        vec![
            ("web_logs", "web_aggregated"),
            ("utm_logs", "utm_aggregated"),
            ("network_logs", "network_aggregated"),
        ]
    );
    assert_eq!(cfg.aggr_eps, 0.01);
    assert_eq!(cfg.aggr_min_samples, 2);
    assert_eq!(cfg.mg.target_db.as_deref(), Some("logstoredb"));
    assert!(cfg.require_aggregation().is_ok());
    let err = cfg.require_detection().expect_err("no LOG_SOURCES");
    assert!(
        err.to_string().contains("aggregator.yaml: missing MG_DB"),
        "{err}"
    );
}

#[test]
fn documented_default_file_matches_embedded_default() {
    let path = examples_dir().join("lad.yaml");
    let (from_file, warnings) = config::load(Some(&path), &no_env()).expect("lad.yaml loads");
    assert!(warnings.is_empty(), "{warnings:?}");
    let embedded = config::Config::embedded_default().expect("default loads");
    let values = |c: &config::Config| -> Vec<(&'static str, String)> {
        c.described_keys()
            .iter()
            .map(|d| (d.key, d.value.clone()))
            .collect()
    };
    assert_eq!(values(&from_file), values(&embedded));
    assert_eq!(embedded.storage_datasource, SourceKind::Sqlite);
    assert_eq!(embedded.sqlite_path, Path::new("./lad.db"));
    assert!(embedded.log_sources.is_empty());
    assert!(embedded.detection_enabled() && embedded.aggregation_enabled());
    // Every key lad reads is documented in lad.yaml.
    let text = std::fs::read_to_string(&path).expect("readable");
    for key in config::known_keys() {
        assert!(
            text.contains(&format!("{key}:")),
            "{key} is not documented in lad.yaml"
        );
    }
}

#[test]
fn environment_fills_gaps_and_file_wins() {
    let text = "STORAGE_DATASOURCE: sqlite\nTRAIN_WINDOW: 7\n";
    let vars = env(&[
        ("LAD_TRAIN_WINDOW", "9"),
        ("LAD_TRAIN_VECTOR_LENGTH", "40"),
        ("LAD_STORAGE_DATASOURCE", "mg"),
        ("LAD_AGGR_EPS", "0.25"),
        ("LAD_MG_PASSWORD", "0123"),
        ("LAD_LOG_SOURCES", "{web: {HOSTNAMES: [a, b]}}"),
        ("PATH", "/usr/bin"),
    ]);
    let (cfg, warnings) = load_text("t.yaml", text, &vars).expect("loads");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(cfg.train_window, 7, "the file wins");
    assert_eq!(cfg.storage_datasource, SourceKind::Sqlite, "the file wins");
    assert_eq!(cfg.train_vector_length, 40);
    assert_eq!(cfg.aggr_eps, 0.25);
    // Secrets are taken verbatim, not as YAML numbers.
    assert_eq!(cfg.mg.password.as_ref().map(|s| s.expose()), Some("0123"));
    assert_eq!(cfg.log_sources["web"].hostnames, ["a", "b"]);
    let origin = |key: &str| {
        cfg.described_keys()
            .iter()
            .find(|d| d.key == key)
            .map(|d| d.origin.clone())
            .expect("described")
    };
    assert_eq!(
        origin("TRAIN_VECTOR_LENGTH"),
        Origin::Env {
            var: "LAD_TRAIN_VECTOR_LENGTH".into()
        }
    );
    assert_eq!(
        origin("TRAIN_WINDOW"),
        Origin::File {
            path: "t.yaml".into(),
            line: Some(2)
        }
    );
    assert_eq!(origin("TRAIN_MAX_ENTRIES"), Origin::Default);
}

#[test]
fn environment_alone_configures_lists() {
    let vars = env(&[
        ("LAD_STORAGE_DATASOURCE", "mg"),
        ("LAD_MG_INPUT_DB", "logs"),
        ("LAD_MG_INPUT_COLS", "[a, b]"),
        ("LAD_MG_TARGET_COLS", "[a_agg, b_agg]"),
        ("LAD_MG_PORT", "27018"),
    ]);
    let (cfg, _) = config::load(None, &vars).expect("loads");
    assert_eq!(cfg.mg.port, 27018);
    assert_eq!(cfg.aggregation_targets.len(), 2);
    assert_eq!(cfg.aggregation_targets[1].target, "b_agg");
}

#[test]
fn environment_wrong_type_names_the_variable() {
    let err = config::load(None, &env(&[("LAD_TRAIN_WINDOW", "five")])).expect_err("bad");
    assert_eq!(
        err.to_string(),
        "config error in environment variable LAD_TRAIN_WINDOW: TRAIN_WINDOW expects an integer, found \"five\""
    );
}

#[test]
fn environment_typos_warn_and_unrelated_variables_do_not() {
    let vars = env(&[
        ("LAD_TRAIN_WINDOWS", "3"),
        ("LAD_CONFIG", "x.yaml"),
        ("LAD_SOMETHING_ELSE_ENTIRELY", "1"),
    ]);
    let (_, warnings) = config::load(None, &vars).expect("loads");
    let texts: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        texts,
        vec![
            "config warning in environment variable LAD_TRAIN_WINDOWS: unknown key TRAIN_WINDOWS \
             is ignored; did you mean TRAIN_WINDOW?"
        ]
    );
}

#[test]
fn unknown_key_warns_with_line_and_suggestion() {
    let text = "# my config\nSTORAGE_DATASOURCE: sqlite\nTRAIN_WINDOWS: 5\nTOTALLY_NEW_THING: 1\n";
    let (cfg, warnings) = load_text("t.yaml", text, &no_env()).expect("unknown keys only warn");
    assert_eq!(cfg.train_window, 5, "the misspelt key is not applied");
    let texts: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        texts,
        vec![
            "config warning in t.yaml line 3: unknown key TRAIN_WINDOWS is ignored; did you mean TRAIN_WINDOW?",
            "config warning in t.yaml line 4: unknown key TOTALLY_NEW_THING is ignored",
        ]
    );
}

#[test]
fn unknown_nested_key_in_log_sources_warns() {
    let text = "LOG_SOURCES:\n  web:\n    HOSTNAME: [a]\n";
    let (_, warnings) = load_text("t.yaml", text, &no_env()).expect("loads");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(
        warnings[0].to_string(),
        "config warning in t.yaml line 3: unknown key LOG_SOURCES.web.HOSTNAME is ignored; did you mean HOSTNAMES?"
    );
}

#[test]
fn wrong_type_names_key_file_line_and_expected_type() {
    let text = "STORAGE_DATASOURCE: sqlite\n\n# training\nTRAIN_MAX_ENTRIES: 1000\n\nTRAIN_VECTOR_LENGTH: 25\nTRAIN_WINDOW: five\n";
    let err = expect_err("examples/bad.yaml", text, &no_env());
    assert_eq!(
        err.to_string(),
        "config error in examples/bad.yaml line 7: TRAIN_WINDOW expects an integer, found \"five\""
    );

    let err = expect_err("t.yaml", "MG_VERIFY_CERT: maybe\n", &no_env());
    assert_eq!(
        err.to_string(),
        "config error in t.yaml line 1: MG_VERIFY_CERT expects true or false, found \"maybe\""
    );
    let err = expect_err("t.yaml", "A: 1\nAGGR_EPS: [1]\n", &no_env());
    assert_eq!(
        err.to_string(),
        "config error in t.yaml line 2: AGGR_EPS expects a number, found a list"
    );
    let err = expect_err("t.yaml", "MG_HOST: [a, b]\n", &no_env());
    assert!(
        err.to_string()
            .contains("line 1: MG_HOST expects a string, found a list"),
        "{err}"
    );
}

#[test]
fn nested_wrong_type_points_at_the_nested_line() {
    let text = "LOG_SOURCES:\n  web:\n    HOSTNAMES: [a]\n  db:\n    HOSTNAMES: {x: y}\n";
    let err = expect_err("t.yaml", text, &no_env());
    assert_eq!(
        err.to_string(),
        "config error in t.yaml line 5: LOG_SOURCES.db.HOSTNAMES expects a list of names, found a mapping"
    );
}

#[test]
fn invalid_values_are_rejected_with_what_is_accepted() {
    let err = expect_err("t.yaml", "TRAIN_WINDOW: 0\n", &no_env());
    assert_eq!(
        err.to_string(),
        "config error in t.yaml line 1: TRAIN_WINDOW expects an integer of at least 1, found 0"
    );
    let err = expect_err("t.yaml", "STORAGE_DATASOURCE: postgres\n", &no_env());
    assert_eq!(
        err.to_string(),
        "config error in t.yaml line 1: STORAGE_DATASOURCE expects one of \"sqlite\", \"local\", \"mg\", \"mysql\", \"es\", \"kafka\", found \"postgres\""
    );
    let err = expect_err("t.yaml", "MG_PORT: 70000\n", &no_env());
    assert!(
        err.to_string().contains("MG_PORT expects a port number"),
        "{err}"
    );
    let err = expect_err(
        "t.yaml",
        "A: 1\nRETRAIN_SCHEDULE: \"0 25 * * *\"\n",
        &no_env(),
    );
    assert!(
        err.to_string()
            .starts_with("config error in t.yaml line 2: RETRAIN_SCHEDULE expects a cron schedule"),
        "{err}"
    );
    assert!(err.to_string().contains("hour field"), "{err}");
    let err = expect_err("t.yaml", "TIMEZONE: Europe/Minsk\n", &no_env());
    assert!(err.to_string().contains("named zones"), "{err}");
    let err = expect_err("t.yaml", "HTTP_ADDR: localhost:80\n", &no_env());
    assert!(
        err.to_string()
            .contains("HTTP_ADDR expects a socket address"),
        "{err}"
    );
}

#[test]
fn valid_scheduling_values_are_typed() {
    let text = "RETRAIN_SCHEDULE: \"30 2 * * 1-5\"\nTIMEZONE: \"+03:00\"\nPARALLELISM: 3\nTRAIN_WINDOW: \"6\"\n";
    let (cfg, _) = load_text("t.yaml", text, &no_env()).expect("loads");
    assert_eq!(cfg.retrain_schedule.as_str(), "30 2 * * 1-5");
    assert_eq!(cfg.aggr_schedule.as_str(), "0 15 * * *");
    assert_eq!(cfg.timezone.to_string(), "+03:00");
    assert_eq!(cfg.parallelism.get(), 3);
    assert_eq!(
        cfg.train_window, 6,
        "numeric strings are accepted, as before"
    );
}

#[test]
fn missing_required_keys_per_backend() {
    let cases: &[(&str, &str)] = &[
        ("STORAGE_DATASOURCE: local\n", "missing LS_INPUT_PATH"),
        (
            "STORAGE_DATASOURCE: local\nLS_INPUT_PATH: in.jsonl\nSTORAGE_DATASINK: local\n",
            "missing LS_OUTPUT_PATH",
        ),
        ("STORAGE_DATASOURCE: mg\n", "missing MG_DB"),
        (
            "STORAGE_DATASOURCE: mg\nLOG_SOURCES:\n  web:\n    HOSTNAMES: [a]\n",
            "missing MG_DB",
        ),
        (
            "STORAGE_DATASOURCE: mg\nMG_DB: logs\n",
            "missing LOG_SOURCES",
        ),
        (
            "STORAGE_DATASOURCE: mg\nMG_INPUT_COLS: [a]\nMG_TARGET_COLS: [b]\n",
            "missing MG_INPUT_DB",
        ),
        (
            "STORAGE_DATASOURCE: mg\nMG_INPUT_DB: logs\nMG_INPUT_COLS: [a]\n",
            "missing MG_TARGET_COLS",
        ),
        (
            "STORAGE_DATASOURCE: mysql\nLOG_SOURCES: {t: {}}\n",
            "missing MYSQL_INPUT_DB",
        ),
        (
            "STORAGE_DATASOURCE: mysql\nMYSQL_INPUT_DB: d\n",
            "missing LOG_SOURCES",
        ),
        (
            "STORAGE_DATASOURCE: mysql\nMYSQL_INPUT_DB: d\nLOG_SOURCES: {t: {}}\n",
            "missing MYSQL_TARGET_DB",
        ),
        ("STORAGE_DATASINK: mg\n", "missing MG_DB"),
    ];
    for (text, expected) in cases {
        let err = expect_err("backend.yaml", text, &no_env());
        assert!(
            matches!(err, ConfigError::MissingKey { .. }),
            "{text}: {err:?}"
        );
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("config error in backend.yaml: {expected}:")),
            "{text}: {message}"
        );
    }
    // Without a file, the message says where the settings came from instead.
    let err = config::load(None, &env(&[("LAD_STORAGE_DATASOURCE", "local")])).expect_err("bad");
    assert!(
        err.to_string().contains("no config file") && err.to_string().contains("LS_INPUT_PATH"),
        "{err}"
    );
    // A complete mysql config loads, and a lone MYSQL_INPUT_TABLE is one source.
    let text = "STORAGE_DATASOURCE: mysql\nMYSQL_INPUT_DB: d\nMYSQL_TARGET_DB: t\nMYSQL_INPUT_TABLE: logs\n";
    let (cfg, _) = load_text("m.yaml", text, &no_env()).expect("loads");
    assert!(cfg.log_sources.contains_key("logs"));
    assert_eq!(cfg.storage_datasink, SinkKind::Mysql);
}

#[test]
fn parallel_lists_must_have_equal_lengths() {
    let text = "STORAGE_DATASOURCE: mg\nMG_INPUT_DB: logs\nMG_INPUT_COLS:\n  - a\n  - b\n  - c\nMG_TARGET_COLS: [x, y]\n";
    let err = expect_err("agg.yaml", text, &no_env());
    assert_eq!(
        err.to_string(),
        "config error in agg.yaml line 3: MG_INPUT_COLS has 3 entries but MG_TARGET_COLS has 2; \
         entry i of MG_INPUT_COLS goes to entry i of MG_TARGET_COLS, so they must have the same length"
    );
    let text = "STORAGE_DATASOURCE: mysql\nMYSQL_INPUT_DB: d\nMYSQL_TARGET_DB: d\nMYSQL_INPUT_TABLES: [a]\nMYSQL_TARGET_TABLES: [x, y]\n";
    let err = expect_err("agg.yaml", text, &no_env());
    assert!(
        matches!(
            err,
            ConfigError::UnequalLists {
                first: "MYSQL_INPUT_TABLES",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn ca_file_must_be_readable() {
    let base = "STORAGE_DATASOURCE: mg\nMG_DB: logs\nLOG_SOURCES: {web: {HOSTNAMES: [a]}}\n";
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("nope.crt");
    let text = format!("{base}MG_CA_CERT: {}\n", missing.display());
    let err = expect_err("tls.yaml", &text, &no_env());
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "config error in tls.yaml line 4: MG_CA_CERT names {}, which cannot be read:",
            missing.display()
        )),
        "{message}"
    );
    // A directory is not a certificate.
    let text = format!("{base}MG_CA_CERT: {}\n", dir.path().display());
    let err = expect_err("tls.yaml", &text, &no_env());
    assert!(err.to_string().contains("not a regular file"), "{err}");
    // A readable file passes.
    let ca = dir.path().join("ca.crt");
    std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n").expect("write");
    let text = format!("{base}MG_CA_CERT: {}\n", ca.display());
    let (cfg, _) = load_text("tls.yaml", &text, &no_env()).expect("loads");
    assert_eq!(cfg.mg.ca_cert.as_deref(), Some(ca.as_path()));
}

#[test]
fn old_keys_warn_that_they_have_no_effect() {
    let text = "S3_KEY: abc\nTRAIN_ITERATIONS: 100\nSOMPY_INIT: pca\nMODEL_STORE: s3\nMG_COLLECTION: logs\n";
    let (_, warnings) = load_text("old.yaml", text, &no_env()).expect("loads");
    let keys: Vec<(&str, &Origin)> = warnings.iter().map(|w| (w.key(), w.origin())).collect();
    assert_eq!(keys.len(), 5, "{warnings:?}");
    for (i, w) in warnings.iter().enumerate() {
        assert!(matches!(w, ConfigWarning::NoEffect { .. }), "{w:?}");
        let text = w.to_string();
        assert!(
            text.starts_with(&format!("config warning in old.yaml line {}:", i + 1)),
            "{text}"
        );
        assert!(text.contains("has no effect"), "{text}");
    }
    assert!(warnings[4].to_string().contains("LOG_SOURCES"));
}

#[test]
fn fact_store_url_is_ignored_with_a_warning() {
    let text = "FACT_STORE_URL: http://factstore:5001\n";
    let (_, warnings) = load_text("f.yaml", text, &no_env()).expect("loads");
    assert_eq!(warnings.len(), 1);
    let message = warnings[0].to_string();
    assert!(
        message.starts_with("config warning in f.yaml line 1: FACT_STORE_URL has no effect"),
        "{message}"
    );
    assert!(message.contains("feedback is built into lad"), "{message}");
}

#[test]
fn secrets_are_redacted_in_debug_and_describe() {
    let secrets = ["mg-pass-Z9", "in-pass-Z9", "out-pass-Z9", "token-Z9"];
    let text = format!(
        "STORAGE_DATASOURCE: mysql\nMYSQL_INPUT_DB: d\nMYSQL_TARGET_DB: d\nLOG_SOURCES: {{t: {{}}}}\n\
         MG_PASSWORD: {}\nMYSQL_INPUT_PASSWORD: {}\nMYSQL_TARGET_PASSWORD: {}\nHTTP_TOKEN: {}\n\
         HTTP_ADDR: 0.0.0.0:9184\n",
        secrets[0], secrets[1], secrets[2], secrets[3]
    );
    let (cfg, _) = load_text("s.yaml", &text, &no_env()).expect("loads");
    let debug = format!("{cfg:?}");
    let described = cfg.describe();
    for secret in secrets {
        assert!(!debug.contains(secret), "Debug leaks {secret}");
        assert!(!described.contains(secret), "describe leaks {secret}");
    }
    assert!(described.contains("MG_PASSWORD"), "{described}");
    assert!(described.contains("***"), "{described}");
    assert_eq!(
        cfg.http_token.as_ref().map(|t| t.expose()),
        Some("token-Z9")
    );
    assert_eq!(
        cfg.mysql_input.password.as_ref().map(|t| t.expose()),
        Some("in-pass-Z9")
    );
    // Secrets from the environment are redacted too.
    let (cfg, _) =
        config::load(None, &env(&[("LAD_MG_PASSWORD", "env-secret-Z9")])).expect("loads");
    assert!(!format!("{cfg:?}").contains("env-secret-Z9"));
    assert!(!cfg.describe().contains("env-secret-Z9"));
}

#[test]
fn open_http_address_needs_a_token() {
    let err = expect_err("h.yaml", "HTTP_ADDR: 0.0.0.0:9184\n", &no_env());
    assert!(matches!(err, ConfigError::OpenHttpWithoutToken { .. }));
    assert!(err
        .to_string()
        .starts_with("config error in h.yaml line 1: HTTP_ADDR 0.0.0.0:9184"));
    let (cfg, _) = load_text("h.yaml", "HTTP_ADDR: \"[::1]:9000\"\n", &no_env()).expect("loopback");
    assert_eq!(cfg.http_addr.port(), 9000);
    let (cfg, _) = config::load(
        Some(&examples_dir().join("lad.yaml")),
        &env(&[("LAD_HTTP_TOKEN", "t")]),
    )
    .expect("loads");
    assert!(cfg.http_token.is_some());
}

#[test]
fn http_tokens_name_people_and_protect_an_open_address() {
    let text = "HTTP_ADDR: 0.0.0.0:9184\nHTTP_TOKENS: {alice: tok-A7, bob: \"0123\"}\n";
    let (cfg, warnings) = load_text("t.yaml", text, &no_env()).expect("loads");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(cfg.http_token.is_none());
    let names: Vec<(&str, &str)> = cfg
        .http_tokens
        .iter()
        .map(|(n, t)| (n.as_str(), t.expose()))
        .collect();
    assert_eq!(names, [("alice", "tok-A7"), ("bob", "0123")]);
    assert!(!format!("{cfg:?}").contains("tok-A7"));
    assert!(!cfg.describe().contains("tok-A7"));
    let (cfg, _) = config::load(
        None,
        &env(&[
            ("LAD_HTTP_ADDR", "0.0.0.0:9184"),
            ("LAD_HTTP_TOKENS", "{carol: \"s3cret\"}"),
        ]),
    )
    .expect("loads from the environment");
    assert_eq!(cfg.http_tokens.len(), 1);
    let err = expect_err("t.yaml", "HTTP_TOKENS: {alice: \"\"}\n", &no_env());
    assert!(err.to_string().contains("HTTP_TOKENS.alice"), "{err}");
    let err = expect_err("t.yaml", "HTTP_TOKENS: [alice]\n", &no_env());
    assert!(err.to_string().contains("HTTP_TOKENS"), "{err}");
}

#[test]
fn verify_cert_false_is_allowed_with_a_notice() {
    let text =
        "STORAGE_DATASOURCE: mg\nMG_DB: logs\nLOG_SOURCES: {web: {}}\nMG_VERIFY_CERT: false\n";
    let (cfg, warnings) = load_text("v.yaml", text, &no_env()).expect("loads");
    assert!(!cfg.mg.verify_cert);
    assert!(cfg.log_sources["web"].hostnames.is_empty());
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].to_string().contains("NOT verified"),
        "{}",
        warnings[0]
    );
}

#[test]
fn syntax_errors_and_odd_documents() {
    let err = expect_err("y.yaml", "A: 1\nB: [1, 2\nC: 3\n", &no_env());
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with("config error in y.yaml line"),
        "{err}"
    );
    let err = expect_err("y.yaml", "- a\n- b\n", &no_env());
    assert_eq!(
        err.to_string(),
        "config error in y.yaml line 1: the file must be a mapping of KEY: value lines, found a list"
    );
    // An empty file, or a key with no value, means the defaults.
    let (cfg, _) = load_text("y.yaml", "# nothing yet\n", &no_env()).expect("empty is fine");
    assert_eq!(cfg.train_window, 5);
    let (cfg, _) = load_text("y.yaml", "MG_USER:\nTRAIN_WINDOW:\n", &no_env()).expect("nulls");
    assert_eq!(cfg.mg.user, None);
    assert_eq!(cfg.train_window, 5);
}

/// Issue 19 item 12: a config nested 100,000 deep (47 s of CPU with the old YAML crate) is
/// refused as soon as the reader crosses 64 levels, naming the file and line; so are repeated
/// nested keys (at the repeat), a second document and aliases that expand without bound.
#[test]
fn hostile_yaml_is_refused_with_file_and_line() {
    for (open, close) in [("[", "]"), ("{a: ", "}")] {
        let text = format!(
            "TRAIN_WINDOW: 5\nLOG_SOURCES: {}1{}\n",
            open.repeat(100_000),
            close.repeat(100_000)
        );
        let err = expect_err("deep.yaml", &text, &no_env());
        assert_eq!(
            err.to_string(),
            "config error in deep.yaml line 2: invalid YAML: lists and mappings nest deeper \
             than 64 levels at line 2 (a config file needs a few)"
        );
    }
    let block = format!("TRAIN_WINDOW: 5\nHOSTS:\n{}x\n", "- ".repeat(100_000));
    let err = expect_err("deep.yaml", &block, &no_env());
    assert!(
        err.to_string()
            .starts_with("config error in deep.yaml line 3: invalid YAML: lists and mappings"),
        "{err}"
    );
    // A nesting a config can use still loads.
    let (cfg, _) = load_text(
        "ok.yaml",
        "LOG_SOURCES:\n  web:\n    HOSTNAMES:\n      - a\n      - b\n",
        &no_env(),
    )
    .expect("four levels load");
    assert_eq!(cfg.log_sources["web"].hostnames, ["a", "b"]);

    let err = expect_err(
        "dup.yaml",
        "LOG_SOURCES:\n  web:\n    HOSTNAMES: [a]\n  web:\n    HOSTNAMES: [b]\n",
        &no_env(),
    );
    assert_eq!(
        err.to_string(),
        "config error in dup.yaml line 4: invalid YAML: duplicate entry with key \"web\""
    );
    let err = expect_err(
        "two.yaml",
        "TRAIN_WINDOW: 5\n---\nTRAIN_WINDOW: 6\n",
        &no_env(),
    );
    assert_eq!(
        err.to_string(),
        "config error in two.yaml line 2: invalid YAML: a second document starts at line 2; a \
         config file holds one"
    );
    let mut bomb = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [{}]\n",
            vec![format!("*a{p}"); 10].join(", ")
        ));
    }
    let err = expect_err("bomb.yaml", &bomb, &no_env());
    assert!(
        err.to_string().starts_with(
            "config error in bomb.yaml line 6: invalid YAML: aliases expand to more than 1000000"
        ),
        "{err}"
    );
    // Aliases within bounds work: one host list for two sources.
    let (cfg, _) = load_text(
        "alias.yaml",
        "LOG_SOURCES:\n  web: &hosts\n    HOSTNAMES: [a, b]\n  db: *hosts\n",
        &no_env(),
    )
    .expect("aliases load");
    assert_eq!(cfg.log_sources["db"].hostnames, ["a", "b"]);
}

#[test]
fn unreadable_config_file_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("absent.yaml");
    let err = config::load(Some(&path), &no_env()).expect_err("no file");
    assert!(matches!(err, ConfigError::Read { .. }));
    assert!(err.to_string().contains("absent.yaml"), "{err}");
}

#[test]
fn describe_lists_every_key_with_its_origin() {
    let path = examples_dir().join("local.yaml");
    let (cfg, _) = config::load(Some(&path), &no_env()).expect("loads");
    let text = cfg.describe();
    for key in config::known_keys() {
        assert!(
            text.lines().any(|l| l.starts_with(key)),
            "{key} missing:\n{text}"
        );
    }
    let line = text
        .lines()
        .find(|l| l.starts_with("LS_INPUT_PATH"))
        .expect("listed");
    assert!(
        line.contains("./logs/") && line.contains("local.yaml line 7"),
        "{line}"
    );
    let line = text
        .lines()
        .find(|l| l.starts_with("TRAIN_WINDOW "))
        .expect("listed");
    assert!(line.contains("the built-in defaults"), "{line}");
}

#[test]
fn alert_addresses_are_checked_and_the_webhook_address_is_a_secret() {
    let text = "ALERTMANAGER_URL: http://127.0.0.1:9093\n\
                ALERT_WEBHOOK_URL: https://hooks.example/T1/B2/hook-Z9\n";
    let (cfg, warnings) = load_text("a.yaml", text, &no_env()).expect("loads");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        cfg.alertmanager_url.as_deref(),
        Some("http://127.0.0.1:9093")
    );
    assert_eq!(
        cfg.alert_webhook_url.as_ref().map(|u| u.expose()),
        Some("https://hooks.example/T1/B2/hook-Z9")
    );
    assert!(!cfg.describe().contains("hook-Z9"), "{}", cfg.describe());
    assert!(!format!("{cfg:?}").contains("hook-Z9"));
    let settings = lad::wiring::alerter_settings(&cfg)
        .expect("valid")
        .expect("two receivers");
    assert_eq!(settings.receivers.len(), 2);
    assert_eq!(settings.page_url, "http://127.0.0.1:9184/");
    assert!(settings.outbox_dir.ends_with("alerts"));
    // No receiver: no alerter.
    let (cfg, _) = load_text("a.yaml", "", &no_env()).expect("loads");
    assert!(lad::wiring::alerter_settings(&cfg)
        .expect("valid")
        .is_none());

    let err = expect_err("a.yaml", "ALERTMANAGER_URL: alertmanager:9093\n", &no_env());
    assert_eq!(
        err.to_string(),
        "config error in a.yaml line 1: ALERTMANAGER_URL expects an http:// or https:// address \
         such as http://host:9093 (it must start with http:// or https://), found \"alertmanager:9093\""
    );
    let err = expect_err(
        "a.yaml",
        "ALERT_WEBHOOK_URL: ftp://hooks.example/secret-Z9\n",
        &no_env(),
    );
    assert!(!err.to_string().contains("secret-Z9"), "{err}");
    let err = expect_err("a.yaml", "ALERT_PAGE_URL: \"https:///x\"\n", &no_env());
    assert!(err.to_string().contains("names no host"), "{err}");
    // From the environment, with a page address for an open HTTP_ADDR.
    let (cfg, warnings) = config::load(
        None,
        &env(&[
            ("LAD_ALERTMANAGER_URL", "http://am:9093/"),
            ("LAD_HTTP_ADDR", "0.0.0.0:9184"),
            ("LAD_HTTP_TOKEN", "t"),
        ]),
    )
    .expect("loads");
    assert!(
        warnings
            .iter()
            .any(|w| w.to_string().contains("set ALERT_PAGE_URL")),
        "{warnings:?}"
    );
    assert_eq!(
        lad::wiring::alerter_settings(&cfg)
            .expect("valid")
            .expect("one receiver")
            .page_url,
        "http://0.0.0.0:9184/"
    );
}

mod properties {
    use super::*;
    use lad::config::CronSchedule;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the file says, loading returns a config or an error; it never panics.
        #[test]
        fn loading_any_text_never_panics(text in "[A-Z_a-z0-9:\\[\\]{}, \\n\\t\"'#./*+-]{0,200}") {
            let _ = load_text("p.yaml", &text, &no_env());
        }

        #[test]
        fn loading_any_unicode_never_panics(text in "\\PC{0,120}") {
            let _ = load_text("p.yaml", &text, &no_env());
        }

        /// Any value for any key, through the environment, is accepted or rejected cleanly.
        #[test]
        fn any_env_value_for_any_key_never_panics(
            index in 0usize..64,
            value in "[A-Za-z0-9:\\[\\]{}, ./*+-]{0,40}",
        ) {
            let keys: Vec<&str> = config::known_keys().collect();
            let key = keys[index % keys.len()];
            let vars = env(&[(&format!("LAD_{key}"), &value)]);
            let _ = config::load(None, &vars);
        }

        #[test]
        fn cron_parse_never_panics(text in "[0-9*/,@a-zA-Z -]{0,40}") {
            let _ = CronSchedule::parse(&text);
        }

        /// A parsed schedule's next firing is later than the start and matches the schedule.
        #[test]
        fn cron_next_is_later_and_matches(
            minute in prop::sample::select(vec!["*", "0", "*/5", "10-20/3", "59"]),
            hour in prop::sample::select(vec!["*", "0", "23", "8-17", "*/6"]),
            dom in prop::sample::select(vec!["*", "1", "15", "31", "1-7"]),
            month in prop::sample::select(vec!["*", "2", "jan-mar", "*/4"]),
            dow in prop::sample::select(vec!["*", "0", "mon-fri", "6,7"]),
            start_minutes in 0i64..(60 * 24 * 365 * 3),
        ) {
            let expr = format!("{minute} {hour} {dom} {month} {dow}");
            let schedule = match CronSchedule::parse(&expr) {
                Ok(s) => s,
                // Only 31 February can never fire among these choices.
                Err(e) => {
                    prop_assert_eq!(e, lad::config::CronError::NeverFires);
                    prop_assert!(dom == "31" && month == "2", "{}", expr);
                    return Ok(());
                }
            };
            let start = time::macros::datetime!(2023-01-01 0:00)
                + time::Duration::minutes(start_minutes);
            let next = schedule.next_after(start).expect("fires");
            prop_assert!(next > start);
            prop_assert!(schedule.matches(next));
        }
    }
}

#[test]
fn old_elasticsearch_keys_load_and_credentials_never_show() {
    let text = "STORAGE_DATASOURCE: es\nSTORAGE_DATASINK: es\n\
                ES_ENDPOINT: 'https://lad:hunter2@es.example:9243'\nES_USE_SSL: true\n\
                ES_INPUT_INDEX: logstash-\nES_TARGET_INDEX: anomalies-\nES_QUERY: 'program:sshd'\n\
                ES_VERIFY_CERTS: false\nES_VERSION: '7.10'\nES_API_KEY: c2VjcmV0LWtleQ==\n";
    let (cfg, warnings) = load_text("es.yaml", text, &no_env()).expect("loads");
    assert_eq!(cfg.storage_datasource, SourceKind::Es);
    assert_eq!(cfg.storage_datasink, SinkKind::Es);
    assert_eq!(cfg.es.version, Some(7));
    assert!(
        cfg.log_sources.contains_key("logstash-"),
        "ES_INPUT_INDEX is a source"
    );
    assert!(
        warnings
            .iter()
            .all(|w| !matches!(w, ConfigWarning::UnknownKey { .. })),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.to_string().contains("NOT verified")),
        "{warnings:?}"
    );
    let described = cfg.describe();
    assert!(
        described.contains("https://***@es.example:9243"),
        "{described}"
    );
    for secret in ["hunter2", "c2VjcmV0LWtleQ"] {
        assert!(!described.contains(secret), "{described}");
        assert!(!format!("{cfg:?}").contains(secret));
    }
    let err = expect_err(
        "es.yaml",
        "STORAGE_DATASOURCE: es\nES_INPUT_INDEX: x-\n",
        &no_env(),
    );
    assert!(err.to_string().contains("ES_ENDPOINT"), "{err}");
    let err = expect_err(
        "es.yaml",
        "STORAGE_DATASOURCE: es\nES_ENDPOINT: h\n",
        &no_env(),
    );
    assert!(err.to_string().contains("LOG_SOURCES"), "{err}");
    let err = expect_err("es.yaml", "STORAGE_DATASINK: es\n", &no_env());
    assert!(err.to_string().contains("STORAGE_DATASOURCE"), "{err}");
    // lad's own indices are distinct and not read as sources (checked with the backend
    // settings, which `lad check-config` and every command run at load).
    let wired = |text: &str| {
        let (cfg, _) = load_text("es.yaml", text, &no_env()).expect("loads");
        lad::wiring::check(&cfg).map_err(|e| e.to_string())
    };
    let err = wired(
        "STORAGE_DATASOURCE: es\nES_ENDPOINT: h\nES_INPUT_INDEX: logs-\n\
         ES_INCIDENT_INDEX: lad-state\n",
    )
    .expect_err("two keys name one index");
    assert!(
        err.contains("ES_STATE_INDEX") && err.contains("ES_INCIDENT_INDEX"),
        "{err}"
    );
    let err = wired("STORAGE_DATASOURCE: es\nES_ENDPOINT: h\nLOG_SOURCES:\n  'lad-*':\n")
        .expect_err("a source pattern matches lad's own index");
    assert!(
        err.contains("ES_STATE_INDEX") && err.contains("lad-*"),
        "{err}"
    );
    let err = wired(
        "STORAGE_DATASOURCE: es\nES_ENDPOINT: h\nES_INPUT_INDEX: logs-\n\
         ES_TARGET_INDEX: logs-2024.01.05\n",
    )
    .expect_err("a daily index of the source");
    assert!(err.contains("ES_TARGET_INDEX"), "{err}");
    wired("STORAGE_DATASOURCE: es\nES_ENDPOINT: h\nES_INPUT_INDEX: lad\n")
        .expect("a source named like the start of lad's indices is not one of them");
}

#[test]
fn old_kafka_sink_keys_work_and_new_ones_are_typed() {
    // The old sink's keys are read (no "no effect" warning) and the sink defaults to a topic.
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n").expect("write CA");
    let text = format!(
        "STORAGE_DATASINK: kafka\nKF_BOOTSTRAP_SERVER: k1:9093,k2:9093\nKF_TOPIC: anomalies\n\
         KF_CACERT: '{}'\nKF_SASL_PASSWORD: hunter2\nKF_LIBRDKAFKA_OPTIONS: {{linger.ms: 10}}\n",
        ca.display()
    );
    let (c, warnings) = load_text("kf.yaml", &text, &no_env()).expect("loads");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(c.storage_datasink, SinkKind::Kafka);
    assert_eq!(c.kafka.bootstrap_server, "k1:9093,k2:9093");
    assert_eq!(c.kafka.topic, "anomalies");
    assert_eq!(
        c.kafka.security_protocol,
        config::KafkaProtocol::Ssl,
        "TLS with a CA"
    );
    assert_eq!(c.kafka.group_id, "lad");
    assert_eq!(c.kafka.verdicts, config::KafkaVerdicts::Anomalies);
    assert_eq!(c.kafka.librdkafka_options["linger.ms"], "10");
    assert!(
        !c.describe().contains("hunter2"),
        "the SASL password is redacted"
    );

    // A Kafka source needs its topics, sends verdicts to Kafka by default, and aggregates nothing.
    let err = expect_err("kf.yaml", "STORAGE_DATASOURCE: kafka\n", &no_env());
    assert!(
        matches!(err, ConfigError::MissingKey { ref key, .. } if key == "LOG_SOURCES"),
        "{err}"
    );
    let (c, _) = load_text(
        "kf.yaml",
        "STORAGE_DATASOURCE: kafka\nLOG_SOURCES:\n  syslog:\nKF_VERDICTS: all\n",
        &no_env(),
    )
    .expect("loads");
    assert_eq!(c.storage_datasource, SourceKind::Kafka);
    assert_eq!(c.storage_datasink, SinkKind::Kafka);
    assert_eq!(c.kafka.verdicts, config::KafkaVerdicts::All);
    assert!(c.detection_enabled() && !c.aggregation_enabled());

    let err = expect_err("kf.yaml", "KF_VERDICTS: some\n", &no_env());
    assert!(
        err.to_string().contains("KF_VERDICTS expects one of"),
        "{err}"
    );
    let err = expect_err("kf.yaml", "KF_SASL_MECHANISM: GSSAPI\n", &no_env());
    assert!(err.to_string().contains("SCRAM-SHA-512"), "{err}");
    let err = expect_err(
        "kf.yaml",
        "STORAGE_DATASINK: kafka\nKF_CACERT: /nonexistent/ca\n",
        &no_env(),
    );
    assert!(
        matches!(
            err,
            ConfigError::UnreadableFile {
                key: "KF_CACERT",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn variables_are_filled_in_from_the_environment() {
    let text = "STORAGE_DATASOURCE: mysql\nMYSQL_TARGET_DB: t\nMYSQL_INPUT_HOST: ${DB_HOST}\n\
                MYSQL_INPUT_PORT: ${DB_PORT}\nMYSQL_INPUT_DB: logs_${SITE}\n\
                MYSQL_INPUT_USER: ${DB_USER:-lad}\nMYSQL_INPUT_PASSWORD: pa$$w${PW}$\n\
                MODEL_BASE_DIR: ${UNSET_DIR:-/var/lib/lad/models}\n\
                LOG_SOURCES:\n  syslog:\n    HOSTNAMES: [\"${ROUTER}\", fw]\n\
                MYSQL_TARGET_TABLE: literal_$${not_a_var}\n";
    let vars = env(&[
        ("DB_HOST", "db.example"),
        ("DB_PORT", "3307"),
        ("SITE", "east"),
        ("PW", "0rd"),
        ("ROUTER", "r1"),
    ]);
    let (cfg, warnings) = load_text("v.yaml", text, &vars).expect("loads");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(cfg.mysql_input.host, "db.example");
    assert_eq!(
        cfg.mysql_input.port, 3307,
        "a whole ${{VAR}} of a number key is a number"
    );
    assert_eq!(cfg.mysql_input.db.as_deref(), Some("logs_east"));
    assert_eq!(cfg.mysql_input.user.as_deref(), Some("lad"), "the default");
    assert_eq!(
        cfg.mysql_input.password.as_ref().map(|p| p.expose()),
        Some("pa$$w0rd$"),
        "a $ not followed by {{ stays as written"
    );
    assert_eq!(cfg.model_base_dir, Path::new("/var/lib/lad/models"));
    assert_eq!(cfg.log_sources["syslog"].hostnames, ["r1", "fw"]);
    assert_eq!(
        cfg.mysql_target.table.as_deref(),
        Some("literal_${not_a_var}"),
        "$${{ is a literal ${{"
    );
    // An empty variable is a value; with :- it gives the default.
    let (cfg, _) = load_text(
        "e.yaml",
        "MODEL_BASE_DIR: ${DIR:-models}\nSQLITE_PATH: x${EMPTY}.db\n",
        &env(&[("DIR", ""), ("EMPTY", "")]),
    )
    .expect("loads");
    assert_eq!(cfg.model_base_dir, Path::new("models"));
    assert_eq!(cfg.sqlite_path, Path::new("x.db"));
}

#[test]
fn an_unset_variable_is_an_error_naming_key_file_and_line() {
    let text = "STORAGE_DATASOURCE: sqlite\nTRAIN_WINDOW: 5\nSQLITE_PATH: ${LAD_DATA}/lad.db\n";
    let err = expect_err("u.yaml", text, &no_env());
    assert_eq!(
        err.to_string(),
        "config error in u.yaml line 3: SQLITE_PATH: ${LAD_DATA} names the environment variable \
         LAD_DATA, which is not set (write ${LAD_DATA:-default} for a default, or $${ for a \
         literal ${)"
    );
    // Nested values point at their own line.
    let text = "LOG_SOURCES:\n  web:\n    HOSTNAMES:\n      - a\n      - ${NOPE}\n";
    let err = expect_err("n.yaml", text, &no_env());
    assert!(
        err.to_string()
            .starts_with("config error in n.yaml line 5: LOG_SOURCES: ${NOPE} names"),
        "{err}"
    );
    let err = expect_err("b.yaml", "SQLITE_PATH: ${OOPS\n", &no_env());
    assert!(
        err.to_string()
            .starts_with("config error in b.yaml line 1: SQLITE_PATH: \"${\" without a closing"),
        "{err}"
    );
    let err = expect_err("c.yaml", "SQLITE_PATH: ${1X}\n", &no_env());
    assert!(
        err.to_string()
            .contains("${1X} does not name an environment variable"),
        "{err}"
    );
    // A wrongly typed value that came from a variable still names the key and line.
    let err = expect_err("t.yaml", "\nTRAIN_WINDOW: ${W}\n", &env(&[("W", "five")]));
    assert_eq!(
        err.to_string(),
        "config error in t.yaml line 2: TRAIN_WINDOW expects an integer, found \"five\""
    );
    // Values of LAD_<KEY> variables are taken as they are.
    let (cfg, _) = config::load(None, &env(&[("LAD_SQLITE_PATH", "${X}.db")])).expect("loads");
    assert_eq!(cfg.sqlite_path, Path::new("${X}.db"));
}

#[test]
fn secrets_come_from_key_file_in_the_file_or_the_environment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write secret");
        p.display().to_string()
    };
    let in_pw = write("in", "in-secret\n");
    write("out", "out-secret");
    let token = write("token", "tok-secret\r\n");
    let base =
        "STORAGE_DATASOURCE: mysql\nMYSQL_INPUT_DB: d\nMYSQL_TARGET_DB: d\nLOG_SOURCES: {t: {}}\n";
    let text = format!(
        "{base}MYSQL_INPUT_PASSWORD_FILE: {in_pw}\nMYSQL_TARGET_PASSWORD_FILE: ${{CREDENTIALS_DIRECTORY}}/out\n"
    );
    let credentials = dir.path().display().to_string();
    let vars = env(&[
        ("CREDENTIALS_DIRECTORY", credentials.as_str()),
        ("LAD_HTTP_TOKEN_FILE", token.as_str()),
        // The file wins over the environment, in either form.
        ("LAD_MYSQL_INPUT_PASSWORD", "env-loses"),
    ]);
    let (cfg, warnings) = load_text("f.yaml", &text, &vars).expect("loads");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        cfg.mysql_input.password.as_ref().map(|p| p.expose()),
        Some("in-secret"),
        "one trailing line break is dropped; the file wins over LAD_MYSQL_INPUT_PASSWORD"
    );
    assert_eq!(
        cfg.mysql_target.password.as_ref().map(|p| p.expose()),
        Some("out-secret")
    );
    assert_eq!(
        cfg.http_token.as_ref().map(|p| p.expose()),
        Some("tok-secret")
    );
    let described = cfg.describe();
    assert!(!described.contains("secret"), "{described}");
    let origin = |key: &str| {
        cfg.described_keys()
            .iter()
            .find(|d| d.key == key)
            .map(|d| d.origin.clone())
            .expect("described")
    };
    assert_eq!(
        origin("MYSQL_INPUT_PASSWORD"),
        Origin::File {
            path: "f.yaml".into(),
            line: Some(5)
        }
    );
    assert_eq!(
        origin("HTTP_TOKEN"),
        Origin::Env {
            var: "LAD_HTTP_TOKEN_FILE".into()
        }
    );

    // A plain MYSQL_INPUT_PASSWORD in the file wins over LAD_MYSQL_INPUT_PASSWORD_FILE.
    let text = format!("{base}MYSQL_INPUT_PASSWORD: file-wins\n");
    let vars = env(&[("LAD_MYSQL_INPUT_PASSWORD_FILE", in_pw.as_str())]);
    let (cfg, _) = load_text("g.yaml", &text, &vars).expect("loads");
    assert_eq!(
        cfg.mysql_input.password.as_ref().map(|p| p.expose()),
        Some("file-wins")
    );
}

#[test]
fn secret_file_mistakes_are_errors_with_key_and_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "x\n").expect("write");
    let missing = dir.path().join("missing");
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").expect("write");
    let err = expect_err(
        "m.yaml",
        &format!("\nMG_PASSWORD_FILE: {}\n", missing.display()),
        &no_env(),
    );
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "config error in m.yaml line 2: MG_PASSWORD_FILE names {}, which cannot be read:",
            missing.display()
        )),
        "{text}"
    );
    let err = expect_err(
        "e.yaml",
        &format!("HTTP_TOKEN_FILE: {}\n", empty.display()),
        &no_env(),
    );
    assert!(
        err.to_string()
            .ends_with("which cannot be read: it is empty"),
        "{err}"
    );
    let err = expect_err(
        "t.yaml",
        &format!("MG_PASSWORD: a\nMG_PASSWORD_FILE: {}\n", pw.display()),
        &no_env(),
    );
    assert_eq!(
        err.to_string(),
        "config error in t.yaml line 2: MG_PASSWORD and MG_PASSWORD_FILE are both set in the \
         config file; set one of them (MG_PASSWORD_FILE reads the value from a file)"
    );
    let pw_path = pw.display().to_string();
    let err = config::load(
        None,
        &env(&[
            ("LAD_MG_PASSWORD", "a"),
            ("LAD_MG_PASSWORD_FILE", pw_path.as_str()),
        ]),
    )
    .expect_err("both in the environment");
    assert!(
        err.to_string().starts_with(
            "config error in environment variable LAD_MG_PASSWORD_FILE: MG_PASSWORD and"
        ),
        "{err}"
    );
    // _FILE is only for secrets: anything else is an unknown key.
    let (_, warnings) = load_text("w.yaml", "SQLITE_PATH_FILE: /x\n", &no_env()).expect("loads");
    assert!(
        matches!(&warnings[..], [ConfigWarning::UnknownKey { key, .. }] if key == "SQLITE_PATH_FILE"),
        "{warnings:?}"
    );
}

/// A secret file that is not a regular file is refused before it is read: `/dev/zero` reports no
/// length and never ends (it read until memory ran out), a FIFO would block start-up until a
/// writer came, a folder is not a secret.
#[test]
fn secret_files_that_are_not_regular_files_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo {}", fifo.display());
    let folder = dir.path().display().to_string();
    for path in ["/dev/zero", fifo.to_str().expect("UTF-8 path"), &folder] {
        let err = expect_err("s.yaml", &format!("MG_PASSWORD_FILE: {path}\n"), &no_env());
        assert_eq!(
            err.to_string(),
            format!(
                "config error in s.yaml line 1: MG_PASSWORD_FILE names {path}, which cannot be \
                 read: it is not a regular file"
            )
        );
    }
}

/// The binary fills `${VAR}` from its own environment (any variable, not only LAD_*) and says
/// where an unset one is, exiting 2 like every configuration error.
#[test]
fn the_binary_fills_variables_from_its_environment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("v.yaml");
    std::fs::write(&path, "SQLITE_PATH: ${LADTEST_DIR}/x.db\n").expect("write");
    let run = |vars: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_lad"));
        cmd.args(["check-config", "--config"]).arg(&path);
        cmd.env_remove("LADTEST_DIR");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd.output().expect("lad runs")
    };
    let out = run(&[("LADTEST_DIR", "/srv/lad")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("/srv/lad/x.db"), "{stdout}");
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("v.yaml line 1: SQLITE_PATH: ${LADTEST_DIR} names the environment variable LADTEST_DIR, which is not set"),
        "{stderr}"
    );
}
