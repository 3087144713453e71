//! The `mg` backend end to end through the `lad` binary, against a MongoDB wire-protocol test
//! server (`LAD_TEST_MONGO_URI`, else a `secantusd-rs` started here; `LAD_SKIP_MONGO=1` skips):
//! seeded multi-host documents in two collections, configured like the seed README's
//! `multihost.yaml` and `aggregator.yaml`, go through `lad train`, `lad detect`, `lad aggregate`,
//! and are then checked with the driver itself: verdict fields and types, nothing else touched,
//! the aggregate documents' exact shape and links, and an idempotent second `lad aggregate`.
//! A second test kills `lad run` with SIGKILL at seeded moments mid-backlog and compares its
//! verdicts with an uninterrupted `lad detect` on a copy database.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bson::oid::ObjectId;
use bson::{doc, Bson, DateTime, Document};
use common::{lad_expect, messages, now_ms, Daemon};
use lad_store::mongo::testserver;
use mongodb::sync::{Client, Database};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Collections and the hosts whose logs they hold.
const SOURCES: [(&str, &[&str]); 2] = [("network_logs", &["r1", "fw"]), ("web_logs", &["web"])];
const TARGETS: [&str; 2] = ["network_aggregated", "web_aggregated"];

fn s(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// Host and port of the test server, or `None` when the caller asked to skip.
fn server() -> Option<(String, u16)> {
    match testserver::shared_server() {
        Ok(hp) => Some(hp),
        Err(_) if testserver::skip_requested() => {
            eprintln!("LAD_SKIP_MONGO=1: MongoDB end-to-end test skipped");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

fn client(host: &str, port: u16) -> Client {
    Client::with_uri_str(format!("mongodb://{host}:{port}")).expect("connect to the test server")
}

/// A deterministic id, the same in every database the documents are copied into.
fn oid(n: u64) -> ObjectId {
    let mut bytes = [0u8; 12];
    bytes[4..].copy_from_slice(&n.to_be_bytes());
    ObjectId::from_bytes(bytes)
}

/// Seeded documents per collection: `per_host` per host, interleaved, one second apart and
/// ending at `end_ms`, with a rare line every `rare_every` (0: none) and an extra field `app`
/// and `seq`. Ids start at `first_id`.
fn seed_docs(
    seed: u64,
    per_host: usize,
    rare_every: usize,
    end_ms: i64,
    first_id: u64,
) -> BTreeMap<&'static str, Vec<Document>> {
    let mut out = BTreeMap::new();
    let mut id = first_id;
    for (c, (collection, hosts)) in SOURCES.iter().enumerate() {
        let per: Vec<Vec<String>> = (0..hosts.len())
            .map(|h| messages(seed + 10 * c as u64 + h as u64, per_host, rare_every))
            .collect();
        let total = hosts.len() * per_host;
        let docs = (0..total)
            .map(|i| {
                let h = i % hosts.len();
                id += 1;
                doc! {
                    "_id": oid(id),
                    "received_at": DateTime::from_millis(end_ms - (total - i) as i64 * 1000),
                    "hostname": hosts[h],
                    "message": &per[h][i / hosts.len()],
                    "app": "testgen",
                    "seq": i as i32,
                }
            })
            .collect();
        out.insert(*collection, docs);
    }
    out
}

fn insert(db: &Database, docs: &BTreeMap<&'static str, Vec<Document>>) {
    for (collection, docs) in docs {
        db.collection::<Document>(collection)
            .insert_many(docs)
            .run()
            .expect("insert the seeded documents");
    }
}

/// Every document of `collection`, by id.
fn all(db: &Database, collection: &str) -> Vec<Document> {
    db.collection::<Document>(collection)
        .find(doc! {})
        .sort(doc! { "_id": 1 })
        .run()
        .expect("find")
        .collect::<Result<Vec<_>, _>>()
        .expect("read the documents")
}

/// Documents with a verdict, over the source collections.
fn scored(db: &Database) -> u64 {
    SOURCES
        .iter()
        .map(|(c, _)| {
            db.collection::<Document>(c)
                .count_documents(doc! { "is_anomaly": { "$exists": true } })
                .run()
                .expect("count")
        })
        .sum()
}

fn multihost_yaml(dir: &Path, host: &str, port: u16, db: &str, extra: &str) -> PathBuf {
    let mut sources = String::new();
    for (collection, hosts) in SOURCES {
        sources.push_str(&format!("  {collection}:\n    HOSTNAMES:\n"));
        for h in hosts {
            sources.push_str(&format!("      - \"{h}\"\n"));
        }
    }
    let text = format!(
        "STORAGE_DATASOURCE: mg\nSTORAGE_DATASINK: mg\nMG_HOST: {host}\nMG_PORT: {port}\n\
         MODEL_BASE_DIR: '{}'\nMG_DB: \"{db}\"\nLOG_SOURCES:\n{sources}\
         MESSAGE_INDEX: \"message\"\nDATETIME_INDEX: \"received_at\"\nHOSTNAME_INDEX: \"hostname\"\n\
         TRAIN_MAX_ENTRIES: 2000\nTRAIN_TIME_SPAN: 2592000\nLOF_NEIGHBORS: 20\n\
         HTTP_ADDR: '127.0.0.1:0'\n{extra}",
        dir.join("models").display()
    );
    let path = dir.join(format!("multihost-{db}.yaml"));
    std::fs::write(&path, text).expect("write multihost.yaml");
    path
}

fn aggregator_yaml(dir: &Path, host: &str, port: u16, db: &str) -> PathBuf {
    let list = |items: &[&str]| -> String { items.iter().map(|i| format!("  - {i}\n")).collect() };
    let inputs: Vec<&str> = SOURCES.iter().map(|(c, _)| *c).collect();
    let text = format!(
        "STORAGE_DATASOURCE: mg\nSTORAGE_DATASINK: mg\nMG_HOST: {host}\nMG_PORT: {port}\n\
         MG_INPUT_DB: {db}\nMG_INPUT_COLS:\n{}MG_TARGET_COLS:\n{}MG_TARGET_DB: {db}\n\
         MESSAGE_INDEX: message\nDATETIME_INDEX: received_at\nHOSTNAME_INDEX: hostname\n\
         AGGR_TIME_SPAN: 86400\nAGGR_EPS: 0.01\nAGGR_MIN_SAMPLES: 2\nAGGR_VECTOR_LENGTH: 25\n\
         AGGR_WINDOW: 5\nMODEL_BASE_DIR: '{}'\nHTTP_ADDR: '127.0.0.1:0'\n",
        list(&inputs),
        list(&TARGETS),
        dir.join("models").display()
    );
    let path = dir.join("aggregator.yaml");
    std::fs::write(&path, text).expect("write aggregator.yaml");
    path
}

#[test]
fn train_detect_aggregate_on_two_collections_touch_only_their_fields() {
    let Some((host, port)) = server() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let db_name = testserver::unique_db("lad_e2e");
    let client = client(&host, port);
    let db = client.database(&db_name);
    // Routine lines to train on, then newer lines with a rare one now and then to judge.
    let now = now_ms();
    let routine = seed_docs(11, 300, 0, now - 7_200_000, 0);
    insert(&db, &routine);
    let multihost = multihost_yaml(dir.path(), &host, port, &db_name, "");
    let aggregator = aggregator_yaml(dir.path(), &host, port, &db_name);
    lad_expect(&["-q", "train", "--config", s(&multihost)], None, 0);
    let fresh = seed_docs(12, 400, 53, now - 60_000, 1_000_000);
    insert(&db, &fresh);
    let mut seeded = routine;
    for (collection, docs) in fresh {
        seeded.entry(collection).or_default().extend(docs);
    }
    lad_expect(&["-q", "detect", "--config", s(&multihost)], None, 0);
    lad_expect(&["-q", "aggregate", "--config", s(&aggregator)], None, 0);

    // The aggregates, by target collection and id.
    let mut aggregates: HashMap<ObjectId, (&str, Document)> = HashMap::new();
    for target in TARGETS {
        for a in all(&db, target) {
            let mut keys: Vec<&str> = a.keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(
                keys,
                [
                    "_id",
                    "average_anomaly_score",
                    "average_datetime",
                    "message",
                    "most_frequent_hostname",
                    "total_logs",
                    "was_added_at"
                ],
                "{target}: {a}"
            );
            assert!(
                matches!(a.get("average_datetime"), Some(Bson::DateTime(_))),
                "{a}"
            );
            assert!(
                matches!(a.get("was_added_at"), Some(Bson::DateTime(_))),
                "{a}"
            );
            assert!(
                matches!(a.get("average_anomaly_score"), Some(Bson::Double(_))),
                "{a}"
            );
            assert!(matches!(a.get("message"), Some(Bson::String(_))), "{a}");
            assert!(
                matches!(a.get("most_frequent_hostname"), Some(Bson::String(_))),
                "{a}"
            );
            let id = a.get_object_id("_id").expect("an ObjectId _id");
            aggregates.insert(id, (target, a));
        }
    }
    assert!(!aggregates.is_empty(), "some anomalies were aggregated");

    let mut members: HashMap<ObjectId, i64> = HashMap::new();
    let (mut anomalies, mut total) = (0, 0);
    for ((collection, originals), target) in
        seeded.iter().zip(["network_aggregated", "web_aggregated"])
    {
        let stored = all(&db, collection);
        assert_eq!(
            stored.len(),
            originals.len(),
            "{collection}: no document added or lost"
        );
        for (mut d, original) in stored.into_iter().zip(originals) {
            total += 1;
            let flag = match d.remove("is_anomaly") {
                Some(Bson::Int32(f @ (0 | 1))) => f,
                other => panic!("{collection}: is_anomaly is an int 0/1, found {other:?} in {d}"),
            };
            assert!(
                matches!(d.remove("anomaly_score"), Some(Bson::Double(x)) if x.is_finite()),
                "{collection}: anomaly_score is a double in {d}"
            );
            match d.remove("aggregated_message_id") {
                Some(Bson::ObjectId(link)) => {
                    assert_eq!(flag, 1, "only anomalies are aggregated: {d}");
                    let (t, _) = aggregates
                        .get(&link)
                        .unwrap_or_else(|| panic!("{link} names no aggregate: {d}"));
                    assert_eq!(*t, target, "{collection} aggregates go to {target}");
                    *members.entry(link).or_default() += 1;
                }
                None => assert_eq!(flag, 0, "every anomaly is aggregated: {d}"),
                Some(other) => panic!("aggregated_message_id is an ObjectId, found {other:?}"),
            }
            anomalies += i32::from(flag == 1);
            assert_eq!(&d, original, "{collection}: nothing else changed");
        }
    }
    assert!(
        anomalies > 0 && anomalies < total,
        "{anomalies} of {total} flagged"
    );
    for (id, (_, a)) in &aggregates {
        let count = match a.get("total_logs") {
            Some(Bson::Int32(n)) => i64::from(*n),
            Some(Bson::Int64(n)) => *n,
            other => panic!("total_logs is an integer, found {other:?}"),
        };
        assert_eq!(
            members.get(id).copied().unwrap_or(0),
            count,
            "{a}: total_logs is its member count"
        );
    }

    // A second aggregation finds nothing new to add.
    let before: Vec<Vec<Document>> = TARGETS.iter().map(|t| all(&db, t)).collect();
    lad_expect(&["-q", "aggregate", "--config", s(&aggregator)], None, 0);
    let after: Vec<Vec<Document>> = TARGETS.iter().map(|t| all(&db, t)).collect();
    assert_eq!(before, after, "a second lad aggregate adds nothing");
    db.drop().run().expect("drop the test database");
}

#[test]
fn killed_daemon_on_mongo_scores_like_an_uninterrupted_detect() {
    let Some((host, port)) = server() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let (name_a, name_b) = (
        testserver::unique_db("lad_e2e_kill"),
        testserver::unique_db("lad_e2e_calm"),
    );
    let client = client(&host, port);
    let (a, b) = (client.database(&name_a), client.database(&name_b));
    // Small batches so that a backlog is many of them; no retraining or aggregation while it runs.
    let extra = "INFER_TIME_SPAN: 1\nINFER_MAX_ENTRIES: 100\nPARALLELISM: 2\n\
                 RETRAIN_SCHEDULE: '0 0 1 1 *'\nAGGR_SCHEDULE: '0 0 1 1 *'\n";
    let config_a = multihost_yaml(dir.path(), &host, port, &name_a, extra);
    let config_b = multihost_yaml(dir.path(), &host, port, &name_b, extra);

    // Models from routine lines only, trained once, before the backlog arrives.
    let now = now_ms();
    let routine = seed_docs(21, 300, 0, now - 7_200_000, 0);
    insert(&a, &routine);
    lad_expect(&["-q", "train", "--config", s(&config_a)], None, 0);
    let backlog = seed_docs(22, 1_500, 97, now - 60_000, 1_000_000);
    insert(&a, &backlog);
    insert(&b, &routine);
    insert(&b, &backlog);
    let total: u64 = routine
        .values()
        .chain(backlog.values())
        .map(|d| d.len() as u64)
        .sum();
    assert_eq!(scored(&a), 0);

    let mut rng = ChaCha8Rng::seed_from_u64(20_251_125);
    for round in 0..4 {
        let before = scored(&a);
        if before == total {
            break;
        }
        let mut daemon = Daemon::start(&config_a, dir.path().join(format!("run{round}.log")));
        daemon.wait_for("new verdicts", Duration::from_secs(120), || {
            scored(&a) > before
        });
        std::thread::sleep(Duration::from_millis(rng.random_range(0..40)));
        daemon.kill9();
        eprintln!("round {round}: {before} -> {} scored", scored(&a));
    }
    let mut daemon = Daemon::start(&config_a, dir.path().join("last.log"));
    daemon.wait_for("an empty backlog", Duration::from_secs(300), || {
        scored(&a) == total
    });
    let log = daemon.log.clone();
    let code = daemon.terminate();
    assert_eq!(
        code,
        Some(0),
        "{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );

    lad_expect(&["-q", "detect", "--config", s(&config_b)], None, 0);
    let mut differ = Vec::new();
    let mut flagged = 0;
    for (collection, _) in SOURCES {
        let (killed, calm) = (all(&a, collection), all(&b, collection));
        assert_eq!(
            killed.len(),
            calm.len(),
            "{collection}: no document lost or added"
        );
        for (x, y) in killed.iter().zip(&calm) {
            let verdict = |d: &Document| {
                (
                    d.get_object_id("_id").ok(),
                    d.get("is_anomaly").cloned(),
                    d.get_f64("anomaly_score").ok().map(f64::to_bits),
                )
            };
            let (vx, vy) = (verdict(x), verdict(y));
            assert!(
                vx.1.is_some() && vx.2.is_some(),
                "{collection}: a verdict on {x}"
            );
            flagged += usize::from(vx.1 == Some(Bson::Int32(1)));
            if vx != vy {
                differ.push((vx, vy));
            }
        }
    }
    assert!(
        differ.is_empty(),
        "{} of {total} verdicts differ from the uninterrupted run, e.g. {:?}",
        differ.len(),
        &differ[..differ.len().min(5)]
    );
    assert!(flagged > 0 && (flagged as u64) < total, "{flagged} flagged");
    a.drop().run().expect("drop");
    b.drop().run().expect("drop");
}
