//! MySQL-specific tests on the MariaDB at 127.0.0.1:3306: hostile log content round-trips through
//! bound parameters, bad identifiers in the config are refused, an unreachable server gives a
//! transient error naming it, the old table layouts are read and written without altering the
//! input table, and rows committed late below the scan mark are still scored.

mod mysql_common;

use lad_store::{
    AggregateDraft, BackendConfig, FieldNames, MysqlConfig, MysqlEndpoint, NewRecord, RecordId,
    Store, StoreError, Verdict,
};
use mysql_common::{server, MysqlHarness};
use serde_json::{json, Map};

const T0: i64 = 1_704_456_000_000;

fn rec(host: &str, time: i64, message: &str) -> NewRecord {
    NewRecord {
        original_id: None,
        host: host.into(),
        time,
        message: message.into(),
        extra: Map::new(),
    }
}

fn harness() -> Option<MysqlHarness> {
    MysqlHarness::new(false)
}

#[test]
fn hostile_log_lines_round_trip_unchanged() {
    let Some(mut h) = harness() else { return };
    let lines = [
        "it's a \"quote\"",
        "back\\slash \\' \\\\ end\\",
        "'; DROP TABLE x; --",
        "x'); DROP TABLE `src`; -- ",
        "nul\0byte\0",
        "emoji 🦀🔥 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
        "%s %d ? ?? :1 $1",
    ];
    let records: Vec<NewRecord> = lines
        .iter()
        .enumerate()
        .map(|(i, m)| rec("h'1🦀", T0 + i as i64, m))
        .collect();
    let store = h.store.as_mut().expect("open");
    store.import("src", &records).expect("import");
    let batch = store
        .next_unscored("src", &["h'1🦀".to_owned()], 100)
        .expect("next unscored");
    let got: Vec<&str> = batch.records.iter().map(|r| r.message.as_str()).collect();
    assert_eq!(got, lines);
    assert!(batch.records.iter().all(|r| r.host == "h'1🦀"));
    let mirrored = h
        .mysql()
        .query_raw("SELECT DISTINCT host FROM lad_records", true)
        .expect("read bookkeeping");
    assert_eq!(
        mirrored,
        [[Some("h'1🦀".to_owned())]],
        "the host filter sees the host"
    );
    let store = h.store.as_mut().expect("open");
    let verdicts: Vec<Verdict> = batch
        .records
        .iter()
        .map(|r| Verdict {
            id: r.id.clone(),
            is_anomaly: true,
            score: 2.5,
        })
        .collect();
    assert_eq!(
        store
            .write_verdicts("src", &verdicts, &batch.records)
            .expect("verdicts"),
        lines.len()
    );
    let anomalies = store.anomalies("src", 0, i64::MAX, 100).expect("anomalies");
    let got: Vec<&str> = anomalies
        .iter()
        .map(|a| a.record.message.as_str())
        .collect();
    assert_eq!(got, lines);
    // The copies in the anomaly table are byte-identical too.
    let stored = h
        .mysql()
        .query_raw("SELECT message FROM src_anomalies ORDER BY logid", true)
        .expect("read anomaly table");
    let stored: Vec<String> = stored
        .into_iter()
        .map(|r| r[0].clone().unwrap_or_default())
        .collect();
    assert_eq!(stored, lines);
    let tables = h
        .mysql()
        .query_raw(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() \
             AND TABLE_NAME = 'src'",
            false,
        )
        .expect("list tables");
    assert_eq!(tables.len(), 1, "the input table still exists");
}

#[test]
fn bad_identifiers_in_the_config_are_refused() {
    let mut config = MysqlConfig {
        input: server("test"),
        target: server("test"),
        fields: FieldNames::default(),
        anomaly_tables: [("logs".to_owned(), "logs; DROP TABLE x".to_owned())].into(),
        sources: vec!["logs".into()],
        aggregation_inputs: Vec::new(),
    };
    let err = Store::open(&BackendConfig::Mysql(Box::new(config.clone())))
        .expect_err("a bad table name is refused");
    assert!(matches!(err, StoreError::Config { .. }), "{err}");
    assert!(err.to_string().contains("MYSQL_TARGET_TABLE"), "{err}");
    assert!(err.to_string().contains("logs; DROP TABLE x"), "{err}");
    config.anomaly_tables.clear();
    config.fields.message = "msg`".into();
    let err = Store::open(&BackendConfig::Mysql(Box::new(config.clone())))
        .expect_err("a bad column name is refused");
    assert!(err.to_string().contains("MESSAGE_INDEX"), "{err}");
    config.fields = FieldNames::default();
    config.sources = vec!["logs; DROP TABLE x".into()];
    let err = Store::open(&BackendConfig::Mysql(Box::new(config)))
        .expect_err("a bad source name is refused");
    assert!(err.to_string().contains("LOG_SOURCES"), "{err}");
}

#[test]
fn a_bad_source_name_at_call_time_is_refused() {
    let Some(mut h) = harness() else { return };
    let store = h.store.as_mut().expect("open");
    let err = store
        .next_unscored("logs; DROP TABLE x", &[], 10)
        .expect_err("refused");
    assert!(matches!(err, StoreError::Config { .. }), "{err}");
    let err = store
        .write_aggregates("src", "aggr`x", &[])
        .expect_err("refused");
    assert!(err.to_string().contains("MYSQL_TARGET_TABLES"), "{err}");
}

#[test]
fn an_unreachable_server_is_a_transient_error_naming_it() {
    let mut endpoint = MysqlEndpoint::new("test");
    endpoint.host = "127.0.0.1".into();
    endpoint.port = 1; // nothing listens there
    let config = MysqlConfig {
        input: endpoint.clone(),
        target: endpoint,
        fields: FieldNames::default(),
        anomaly_tables: Default::default(),
        sources: Vec::new(),
        aggregation_inputs: Vec::new(),
    };
    let err = Store::open(&BackendConfig::Mysql(Box::new(config))).expect_err("no server");
    assert!(err.is_transient(), "{err:?}");
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
}

/// An rsyslog-style table made by someone else: unsigned key, other column names, extra columns.
#[test]
fn old_layout_is_read_and_the_input_table_is_not_altered() {
    let Some(mut h) = harness() else { return };
    let create = "CREATE TABLE SystemEvents (ID INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, \
                  ReceivedAt DATETIME NULL, FromHost VARCHAR(60) NULL, Message TEXT, Facility SMALLINT)";
    h.mysql().execute_raw(create, false).expect("create");
    h.mysql()
        .execute_raw(
            "INSERT INTO SystemEvents (ReceivedAt, FromHost, Message, Facility) VALUES \
             ('2024-01-05 12:00:02', 'r1', 'second', 3), ('2024-01-05 12:00:01', 'r1', 'first', 4), \
             (NULL, 'r1', 'no time', 5)",
            false,
        )
        .expect("insert");
    let shape = |h: &mut MysqlHarness| {
        h.mysql()
            .query_raw("SHOW CREATE TABLE SystemEvents", false)
            .expect("show create")
    };
    let before = shape(&mut h);
    let mut config = h.config.clone();
    config.fields = FieldNames {
        message: "Message".into(),
        time: "ReceivedAt".into(),
        host: "FromHost".into(),
    };
    config.anomaly_tables = [("SystemEvents".to_owned(), "Anomalies".to_owned())].into();
    h.store = Some(Store::open(&BackendConfig::Mysql(Box::new(config))).expect("open"));
    let store = h.store.as_mut().expect("open");
    let batch = store
        .next_unscored("SystemEvents", &[], 100)
        .expect("unscored");
    let got: Vec<(&str, i64)> = batch
        .records
        .iter()
        .map(|r| (r.message.as_str(), r.time))
        .collect();
    assert_eq!(got, [("first", T0 + 1000), ("second", T0 + 2000)]);
    assert_eq!(batch.records[0].extra.get("Facility"), Some(&json!(4)));
    assert_eq!(batch.malformed.len(), 1, "the NULL time is reported");
    let v: Vec<Verdict> = batch
        .records
        .iter()
        .map(|r| Verdict {
            id: r.id.clone(),
            is_anomaly: r.message == "second",
            score: 1.25,
        })
        .collect();
    store
        .write_verdicts("SystemEvents", &v, &batch.records)
        .expect("verdicts");
    let id = batch.records[1].id.clone();
    let made = store
        .write_aggregates(
            "SystemEvents",
            "AggregatedMessages",
            &[AggregateDraft {
                message: "second".into(),
                total_logs: 1,
                average_time_ms: T0 + 2000,
                average_anomaly_score: 1.25,
                most_frequent_hostname: "r1".into(),
                was_added_at_ms: T0 + 5000,
                member_ids: vec![id.clone()],
            }],
        )
        .expect("aggregate");
    let Some(RecordId::Int(aggr)) = made[0].clone() else {
        panic!("expected an aggregate, got {made:?}")
    };
    let anomalies = h
        .mysql()
        .query_raw(
            "SELECT CAST(logid AS CHAR), Message, CAST(ReceivedAt AS CHAR), FromHost, \
             CAST(anomaly_score AS CHAR), CAST(aggr_msg_id AS CHAR) FROM Anomalies",
            true,
        )
        .expect("read anomalies");
    assert_eq!(
        anomalies,
        [[
            Some(id.to_string()),
            Some("second".into()),
            Some("2024-01-05 12:00:02.000".into()),
            Some("r1".into()),
            Some("1.25".into()),
            Some(aggr.to_string()),
        ]]
    );
    let aggregated = h
        .mysql()
        .query_raw(
            "SELECT CAST(aggr_msg_id AS CHAR), message, CAST(total_logs AS CHAR), \
             CAST(average_datetime AS CHAR), hostname, CAST(was_added_at AS CHAR) FROM AggregatedMessages",
            true,
        )
        .expect("read aggregates");
    assert_eq!(
        aggregated,
        [[
            Some(aggr.to_string()),
            Some("second".into()),
            Some("1".into()),
            Some("2024-01-05 12:00:02.000".into()),
            Some("r1".into()),
            Some("2024-01-05 12:00:05.000".into()),
        ]]
    );
    assert_eq!(shape(&mut h), before, "the input table is not altered");
}

/// Auto-increment keys commit out of order: a row that appears below the scan mark is found by
/// the re-check of recent keys, and by the full count check of a new process.
#[test]
fn rows_committed_below_the_scan_mark_are_still_scored() {
    let Some(mut h) = harness() else { return };
    let store = h.store.as_mut().expect("open");
    store
        .import("src", &[rec("a", T0, "one"), rec("a", T0 + 1000, "two")])
        .expect("import");
    let first = store.next_unscored("src", &[], 100).expect("unscored");
    assert_eq!(first.records.len(), 2);
    let v: Vec<Verdict> = first
        .records
        .iter()
        .map(|r| Verdict {
            id: r.id.clone(),
            is_anomaly: false,
            score: 0.0,
        })
        .collect();
    store
        .write_verdicts("src", &v, &first.records)
        .expect("verdicts");
    // A key below the mark, as a transaction that took a low key and committed late would leave.
    h.mysql()
        .execute_raw(
            "INSERT INTO src (id, hostname, received_at, message) VALUES \
             (-1, 'a', '2024-01-01 00:00:00', 'late commit')",
            false,
        )
        .expect("insert late row");
    let store = h.store.as_mut().expect("open");
    let late = store.next_unscored("src", &[], 100).expect("unscored");
    let got: Vec<&str> = late.records.iter().map(|r| r.message.as_str()).collect();
    assert_eq!(got, ["late commit"]);
    // Another one, seen first by a fresh process (its first scan compares key counts).
    h.mysql()
        .execute_raw(
            "INSERT INTO src (id, hostname, received_at, message) VALUES \
             (-50000, 'a', '2024-01-01 00:00:00', 'much later commit')",
            false,
        )
        .expect("insert late row");
    lad_store::conformance::Harness::reopen(&mut h);
    let store = h.store.as_mut().expect("open");
    let late = store.next_unscored("src", &[], 100).expect("unscored");
    let got: Vec<&str> = late.records.iter().map(|r| r.message.as_str()).collect();
    assert_eq!(got, ["much later commit", "late commit"]);
    assert_eq!(store.unscored_count("src").expect("count"), 2);
}

/// A `TIMESTAMP` column written by a client in another time zone is read as UTC.
#[test]
fn timestamp_columns_are_read_as_utc() {
    let Some(mut h) = harness() else { return };
    let db = h.config.input.database.clone();
    let create = format!(
        "CREATE TABLE `{db}`.ts_logs (id BIGINT AUTO_INCREMENT PRIMARY KEY, \
         received_at TIMESTAMP(3) NULL, hostname VARCHAR(60), message TEXT)"
    );
    let insert = format!(
        "INSERT INTO `{db}`.ts_logs (received_at, hostname, message) \
         VALUES ('2024-01-05 17:00:00.250', 'a', 'five hours east')"
    );
    lad_store::mysql::execute_admin(
        &server(&db),
        &[&create, "SET time_zone = '+05:00'", &insert],
    )
    .expect("insert from a +05:00 session");
    let store = h.store.as_mut().expect("open");
    let batch = store.next_unscored("ts_logs", &[], 10).expect("unscored");
    assert_eq!(batch.records.len(), 1, "{batch:?}");
    assert_eq!(batch.records[0].time, T0 + 250);
}

/// Connections killed by the server (a restart, a timeout) are replaced without an error.
#[test]
fn killed_connections_are_replaced() {
    let Some(mut h) = harness() else { return };
    let store = h.store.as_mut().expect("open");
    store.import("src", &[rec("a", T0, "one")]).expect("import");
    let db = h.config.input.database.clone();
    let ids = h
        .mysql()
        .query_raw(
            &format!(
                "SELECT CAST(ID AS CHAR) FROM information_schema.PROCESSLIST WHERE DB = '{db}'"
            ),
            false,
        )
        .expect("list connections");
    assert!(!ids.is_empty());
    let kills: Vec<String> = ids
        .iter()
        .filter_map(|r| r[0].clone())
        .map(|id| format!("KILL CONNECTION {id}"))
        .collect();
    let refs: Vec<&str> = kills.iter().map(String::as_str).collect();
    lad_store::mysql::execute_admin(&server("test"), &refs).expect("kill connections");
    let store = h.store.as_mut().expect("open");
    let batch = store
        .next_unscored("src", &[], 10)
        .expect("works after reconnecting");
    assert_eq!(batch.records.len(), 1);
}

/// A MYSQL_TARGET_TABLE that exists but is no anomaly table is refused when the store opens,
/// naming the table, the key and the columns expected; the table is left as it was.
#[test]
fn a_target_table_that_is_not_an_anomaly_table_is_refused() {
    let Some(mut h) = harness() else { return };
    h.mysql()
        .execute_raw("CREATE TABLE notes (id INT PRIMARY KEY, body TEXT)", true)
        .expect("create");
    let mut config = h.config.clone();
    config.sources = vec!["src".into()];
    config.anomaly_tables = [("src".to_owned(), "notes".to_owned())].into();
    let err = Store::open(&BackendConfig::Mysql(Box::new(config))).expect_err("refused");
    let text = err.to_string();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(text.contains("table notes of"), "{text}");
    assert!(
        text.contains("MYSQL_TARGET_TABLE of source \"src\" names this table, which has no anomaly_score column"),
        "{text}"
    );
    let columns = h
        .mysql()
        .query_raw(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
             AND TABLE_NAME = 'notes' ORDER BY COLUMN_NAME",
            true,
        )
        .expect("columns");
    assert_eq!(
        columns,
        [[Some("body".to_owned())], [Some("id".to_owned())]]
    );
}

/// Stores opened at the same moment (a daemon's workers, another lad) over an anomaly table in
/// lad's earlier layout all open: one migrates it, the others find it migrated.
#[test]
fn stores_opened_together_migrate_an_earlier_table_once() {
    let Some(mut h) = harness() else { return };
    h.mysql()
        .execute_raw(
            "CREATE TABLE src_anomalies (logid BIGINT NOT NULL PRIMARY KEY, \
             message LONGTEXT NOT NULL, time DATETIME(3) NOT NULL, host VARCHAR(255) NOT NULL, \
             anomaly_score DOUBLE NOT NULL, aggr_msg_id BIGINT NULL, KEY lad_time (time))",
            true,
        )
        .expect("create");
    h.mysql()
        .execute_raw(
            "INSERT INTO src_anomalies VALUES (7, 'm', '2024-01-05 12:00:00', 'r1', 2.5, NULL)",
            true,
        )
        .expect("insert");
    let mut config = h.config.clone();
    config.sources = vec!["src".into()];
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let config = config.clone();
            std::thread::spawn(move || {
                Store::open(&BackendConfig::Mysql(Box::new(config))).map(|mut s| s.take_notices())
            })
        })
        .collect();
    let mut notices = Vec::new();
    for handle in handles {
        notices.extend(handle.join().expect("no panic").expect("every store opens"));
    }
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        notices[0].contains("renamed columns time -> received_at, host -> hostname"),
        "{notices:?}"
    );
    let rows = h
        .mysql()
        .query_raw(
            "SELECT CAST(logid AS CHAR), message, CAST(received_at AS CHAR), hostname \
             FROM src_anomalies",
            true,
        )
        .expect("migrated");
    assert_eq!(
        rows,
        [[
            Some("7".to_owned()),
            Some("m".to_owned()),
            Some("2024-01-05 12:00:00.000".to_owned()),
            Some("r1".to_owned())
        ]]
    );
}

/// A table only read for aggregation (an old aggregator.yaml's MYSQL_INPUT_TABLES) is read
/// directly, gets `aggr_msg_id` when it lacks one and no key column, and its rows are linked
/// by its own primary key.
#[test]
fn an_anomaly_table_read_for_aggregation_gets_only_aggr_msg_id() {
    let Some(mut h) = harness() else { return };
    h.mysql()
        .execute_raw(
            "CREATE TABLE anoms (logid INT NOT NULL AUTO_INCREMENT PRIMARY KEY, message TEXT, \
             received_at DATETIME, hostname VARCHAR(64), anomaly_score FLOAT)",
            false,
        )
        .expect("create");
    h.mysql()
        .execute_raw(
            "INSERT INTO anoms (message, received_at, hostname, anomaly_score) VALUES \
             ('a 1', '2024-01-05 12:00:01', 'r1', 3.5), ('a 2', '2024-01-05 12:00:02', 'r2', 4.5)",
            false,
        )
        .expect("insert");
    let mut config = h.config.clone();
    config.aggregation_inputs = vec!["anoms".into()];
    h.store = Some(Store::open(&BackendConfig::Mysql(Box::new(config))).expect("open"));
    let store = h.store.as_mut().expect("open");
    let notices = store.take_notices();
    assert!(
        matches!(&notices[..], [n] if n.contains("added column aggr_msg_id") && !n.contains("logid")),
        "{notices:?}"
    );
    let anomalies = store.anomalies("anoms", 0, i64::MAX, 10).expect("read");
    let got: Vec<(String, &str, f64)> = anomalies
        .iter()
        .map(|a| (a.record.id.to_string(), a.record.host.as_str(), a.score))
        .collect();
    assert_eq!(
        got,
        [("1".to_owned(), "r1", 3.5), ("2".to_owned(), "r2", 4.5)]
    );
    let made = store
        .write_aggregates(
            "anoms",
            "anoms_aggregated",
            &[AggregateDraft {
                message: "a ***".into(),
                total_logs: 2,
                average_time_ms: T0 + 1500,
                average_anomaly_score: 4.0,
                most_frequent_hostname: "r1".into(),
                was_added_at_ms: T0 + 5000,
                member_ids: anomalies.iter().map(|a| a.record.id.clone()).collect(),
            }],
        )
        .expect("aggregate");
    let Some(RecordId::Int(aggr)) = made[0].clone() else {
        panic!("expected an aggregate, got {made:?}")
    };
    let linked = h
        .mysql()
        .query_raw(
            "SELECT CAST(logid AS CHAR), CAST(aggr_msg_id AS CHAR) FROM anoms ORDER BY logid",
            false,
        )
        .expect("linked");
    let want = Some(aggr.to_string());
    assert_eq!(
        linked,
        [
            [Some("1".to_owned()), want.clone()],
            [Some("2".to_owned()), want]
        ]
    );
    let columns = h
        .mysql()
        .query_raw(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
             AND TABLE_NAME = 'anoms' AND COLUMN_NAME LIKE '%logid'",
            false,
        )
        .expect("columns");
    assert_eq!(columns, [[Some("logid".to_owned())]], "no lad_logid added");
}
