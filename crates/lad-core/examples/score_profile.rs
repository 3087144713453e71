//! Profiling aid: trains one host of a JSON Lines file and times scoring another, split into
//! tokenising alone and full scoring. Usage: `score_profile TRAIN TEST HOST`.
#![allow(clippy::unwrap_used, missing_docs)]

use lad_core::detector::{DetectorParams, HostModel};
use std::time::Instant;

fn read(path: &str, host: &str) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["hostname"] == host).then(|| v["message"].as_str().unwrap().to_string())
        })
        .collect()
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let train = read(&a[1], &a[3]);
    let test = read(&a[2], &a[3]);
    let t = Instant::now();
    let model = HostModel::train(&train, &DetectorParams::default()).unwrap();
    println!(
        "train {} lines: {:.3}s, {} distinct",
        train.len(),
        t.elapsed().as_secs_f64(),
        model.distinct_sequences()
    );
    let tok = model.tokenizer().clone();
    let mut out = Vec::new();
    let t = Instant::now();
    for m in &test {
        tok.tokenize_into(m, &mut out);
    }
    let tok_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for m in &test {
        std::hint::black_box(lad_core::severity::severity(m));
    }
    let sev_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut s = model.scorer();
    let flagged = test.iter().filter(|m| s.score(m).is_anomaly).count();
    let score_s = t.elapsed().as_secs_f64();
    println!(
        "score {} lines: {score_s:.4}s ({:.0} lines/s), of which tokenize {tok_s:.4}s, severity {sev_s:.4}s; flagged {flagged}",
        test.len(),
        test.len() as f64 / score_s
    );
}
