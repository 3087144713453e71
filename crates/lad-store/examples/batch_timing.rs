//! Measures the batch operations the daemon's throughput depends on: reading 10,000 unscored
//! records and writing their 10,000 verdicts, on sqlite and on local files.
//!
//! Run: `cargo run --release -p lad-store --example batch_timing [TOTAL_RECORDS]`

use std::time::Instant;

use lad_store::{BackendConfig, FieldNames, LocalConfig, NewRecord, SqliteConfig, Store, Verdict};
use serde_json::json;

const BATCH: usize = 10_000;

fn records(total: usize) -> Vec<NewRecord> {
    (0..total)
        .map(|i| {
            let mut extra = serde_json::Map::new();
            extra.insert("facility".into(), json!(i % 24));
            extra.insert("app_name".into(), json!("sshd"));
            NewRecord {
                original_id: None,
                host: format!("host{}", i % 4),
                time: 1_704_456_000_000 + i as i64 * 10,
                message: format!(
                    "Accepted publickey for user{} from 10.0.{}.{} port {}",
                    i % 50,
                    i % 7,
                    i % 250,
                    40000 + i % 20000
                ),
                extra,
            }
        })
        .collect()
}

fn measure(name: &str, store: &mut Store, total: usize) -> Result<(), lad_store::StoreError> {
    let data = records(total);
    let t = Instant::now();
    for chunk in data.chunks(50_000) {
        store.import("syslog", chunk)?;
    }
    println!(
        "{name}: import {total} records: {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let t = Instant::now();
    let window = store.training_window("syslog", "host0", 0, i64::MAX, 250_000)?;
    println!(
        "{name}: training window of {} records: {:.1} ms",
        window.records.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    let (mut read_ms, mut write_ms, mut batches) = (Vec::new(), Vec::new(), 0);
    let hosts: Vec<String> = (0..4).map(|h| format!("host{h}")).collect();
    loop {
        let t = Instant::now();
        let batch = store.next_unscored("syslog", &hosts, BATCH)?;
        read_ms.push(t.elapsed().as_secs_f64() * 1e3);
        if batch.records.is_empty() {
            break;
        }
        let verdicts: Vec<Verdict> = batch
            .records
            .iter()
            .map(|r| Verdict {
                id: r.id.clone(),
                is_anomaly: r.time % 97 == 0,
                score: 0.5,
            })
            .collect();
        let t = Instant::now();
        let n = store.write_verdicts("syslog", &verdicts, &batch.records)?;
        write_ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(n, batch.records.len());
        batches += 1;
    }
    read_ms.pop();
    let stats = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
        format!(
            "mean {mean:.1} ms, median {:.1} ms, max {:.1} ms",
            v[v.len() / 2],
            v[v.len() - 1]
        )
    };
    println!(
        "{name}: {batches} batches of {BATCH}: read {}; write {}",
        stats(&mut read_ms),
        stats(&mut write_ms)
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let total: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(200_000);
    let dir = tempfile::tempdir()?;
    let mut sqlite = Store::open(&BackendConfig::Sqlite(SqliteConfig {
        path: dir.path().join("lad.db"),
    }))?;
    measure("sqlite", &mut sqlite, total)?;
    let input = dir.path().join("in");
    std::fs::create_dir(&input)?;
    let mut local = Store::open(&BackendConfig::Local(LocalConfig {
        input_path: input,
        output_path: dir.path().join("out.jsonl"),
        fields: FieldNames::default(),
        source: None,
    }))?;
    measure("local", &mut local, total)?;
    Ok(())
}
