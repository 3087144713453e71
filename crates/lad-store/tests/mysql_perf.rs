//! Throughput of the `mysql` backend's scoring path, measured not asserted (run with
//! `cargo test -p lad-store --release --test mysql_perf -- --ignored --nocapture`): import of
//! 10,000 rows over 8 hosts, one `next_unscored` batch of 10,000, one `write_verdicts` of 10,000
//! (1% anomalies), in one database and in two.

mod mysql_common;

use std::time::Instant;

use lad_store::{NewRecord, Verdict};
use mysql_common::MysqlHarness;
use serde_json::Map;

const N: usize = 10_000;

fn measure(split: bool) {
    let Some(mut h) = MysqlHarness::new(split) else {
        return;
    };
    let store = h.store.as_mut().expect("open");
    let records: Vec<NewRecord> = (0..N)
        .map(|i| NewRecord {
            original_id: None,
            host: format!("host{}", i % 8),
            time: 1_704_456_000_000 + (i as i64 * 7919) % 3_600_000,
            message: format!(
                "session {i} opened for user u{} from 10.0.{}.{}",
                i % 97,
                i % 256,
                i % 13
            ),
            extra: Map::new(),
        })
        .collect();
    let t = Instant::now();
    store.import("src", &records).expect("import");
    let import = t.elapsed();
    let t = Instant::now();
    let batch = store.next_unscored("src", &[], N).expect("read");
    let read = t.elapsed();
    assert_eq!(batch.records.len(), N);
    let verdicts: Vec<Verdict> = batch
        .records
        .iter()
        .enumerate()
        .map(|(i, r)| Verdict {
            id: r.id.clone(),
            is_anomaly: i % 100 == 0,
            score: i as f64 / 1000.0,
        })
        .collect();
    let t = Instant::now();
    let written = store
        .write_verdicts("src", &verdicts, &batch.records)
        .expect("write");
    let write = t.elapsed();
    assert_eq!(written, N);
    let t = Instant::now();
    let again = store.next_unscored("src", &[], N).expect("read");
    let empty = t.elapsed();
    assert!(again.is_empty());
    let rate = |d: std::time::Duration| N as f64 / d.as_secs_f64();
    println!(
        "mysql {}: import {N}: {import:?} ({:.0}/s); next_unscored {N} (first scan included): {read:?} \
         ({:.0}/s); write_verdicts {N}: {write:?} ({:.0}/s); empty next_unscored: {empty:?}",
        if split { "two databases" } else { "one database" },
        rate(import),
        rate(read),
        rate(write)
    );
}

#[test]
#[ignore = "a measurement; run by hand with --ignored --nocapture"]
fn batch_read_and_verdict_write_of_10000() {
    measure(false);
    measure(true);
}
