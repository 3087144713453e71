//! How the `es` backend fails, seen from outside, on an `osmem-server` clone (see
//! `conformance_es.rs` for what the stand-in covers): a mapping conflict and a refused write name
//! the endpoint, the index and the cause; a missing index reads as empty with a notice naming
//! it; an unreachable server is transient; no message or `Debug` output ever shows a password
//! or API key. 401, 403 and 429 cannot be produced by the stand-in (it has no security or
//! back-pressure): their hints are checked in the unit tests of `es::error`.

use lad_store::es::testserver;
use lad_store::{BackendConfig, EsConfig, NewRecord, RecordId, Store, StoreError, Verdict};
use serde_json::{json, Map};

const T0: i64 = 1_704_456_000_000;

fn clone() -> Option<testserver::Clone> {
    if testserver::skip_requested() {
        eprintln!("LAD_SKIP_ES=1: skipping an Elasticsearch test");
        return None;
    }
    Some(testserver::Clone::new().unwrap_or_else(|e| panic!("{e}")))
}

fn open(config: EsConfig) -> Result<Store, StoreError> {
    Store::open(&BackendConfig::Es(Box::new(config)))
}

fn record(i: i64) -> NewRecord {
    NewRecord {
        original_id: None,
        host: "h".into(),
        time: T0 + i,
        message: format!("m{i}"),
        extra: Map::new(),
    }
}

#[test]
fn a_mapping_conflict_names_endpoint_index_and_field() {
    let Some(server) = clone() else { return };
    // anomaly_score mapped as a boolean: a score cannot be written there.
    let mut reply = ureq::put(format!("{}/conflict", server.url))
        .send_json(json!({ "mappings": { "properties": {
            "anomaly_score": { "type": "boolean" },
            "hostname": { "type": "keyword" }, "received_at": { "type": "date" },
        } } }))
        .expect("create index");
    assert!(
        reply.status().is_success(),
        "{:?}",
        reply.body_mut().read_to_string()
    );
    let mut store = open(EsConfig {
        endpoint: server.url.clone(),
        ..EsConfig::default()
    })
    .expect("open");
    store.import("conflict", &[record(1)]).expect("import");
    let batch = store.next_unscored("conflict", &[], 10).expect("read");
    let verdicts: Vec<Verdict> = batch
        .records
        .iter()
        .map(|r| Verdict {
            id: r.id.clone(),
            is_anomaly: true,
            score: 2.5,
        })
        .collect();
    let err = store
        .write_verdicts("conflict", &verdicts, &batch.records)
        .expect_err("the score cannot be written");
    let text = err.to_string();
    for part in [
        server.url.as_str(),
        "conflict",
        "mapping conflict",
        "anomaly_score",
    ] {
        assert!(text.contains(part), "{part:?} missing from: {text}");
    }
    assert!(!err.is_transient(), "{text}");
    // The record is still unscored: nothing was half written.
    assert_eq!(store.unscored_count("conflict").expect("count"), 1);
}

#[test]
fn a_missing_index_reads_empty_and_says_so() {
    let Some(server) = clone() else { return };
    let mut store = open(EsConfig {
        endpoint: server.url.clone(),
        ..EsConfig::default()
    })
    .expect("open");
    store.take_notices();
    assert!(store
        .next_unscored("nowhere", &[], 10)
        .expect("read")
        .is_empty());
    assert_eq!(store.unscored_count("nowhere").expect("count"), 0);
    let notices = store.take_notices();
    assert!(
        notices
            .iter()
            .any(|n| n.contains("nowhere") && n.contains(&server.url)),
        "{notices:?}"
    );
    let err = store
        .import("logs-*", &[record(1)])
        .expect_err("a pattern is not an index");
    assert!(err.to_string().contains("logs-*"), "{err}");
    let err = store
        .write_verdicts(
            "x",
            &[Verdict {
                id: RecordId::Int(3),
                is_anomaly: false,
                score: 0.0,
            }],
            &[],
        )
        .expect_err("an id of another backend");
    assert!(err.to_string().contains("index/_id"), "{err}");
}

#[test]
fn credentials_never_show_and_an_unreachable_server_is_transient() {
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let config = EsConfig {
        endpoint: format!("http://127.0.0.1:{port}"),
        user: Some("lad".into()),
        password: Some("hunter2-secret".into()),
        api_key: Some("YXBpLWtleS1zZWNyZXQ=".into()),
        connect_timeout: std::time::Duration::from_millis(500),
        retry: lad_store::retry::RetryPolicy {
            retries: 1,
            first_delay: std::time::Duration::from_millis(10),
        },
        ..EsConfig::default()
    };
    assert!(!format!("{config:?}").contains("hunter2"));
    assert!(!format!("{config:?}").contains("YXBpLWtleS1zZWNyZXQ"));
    let err = open(config).expect_err("nothing listens");
    assert!(err.is_transient(), "{err}");
    let text = format!("{err} {err:?}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(
        !text.contains("hunter2") && !text.contains("YXBpLWtleS1zZWNyZXQ"),
        "{text}"
    );
}
