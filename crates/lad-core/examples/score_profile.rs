//! Profiling aid: trains one host of a JSON Lines file and times scoring another, split into
//! tokenising alone and full scoring. Usage: `score_profile TRAIN TEST HOST [SEED]`.
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
    // An optional fourth argument seeds Word2Vec and the autoencoder, as `lad score --seed`.
    let mut params = DetectorParams::default();
    if let Some(seed) = a.get(4).and_then(|s| s.parse().ok()) {
        params.word2vec.seed = seed;
        params.autoencoder.seed = seed;
    }
    let model = HostModel::train(&train, &params).unwrap();
    println!(
        "train {} lines: {:.3}s, {} distinct",
        train.len(),
        t.elapsed().as_secs_f64(),
        model.distinct_sequences()
    );
    // Each phase runs ROUNDS times (a fresh scorer each round, so every round does the same
    // work) and the fastest round is reported: single 30 ms runs are too noisy to compare.
    let tok = model.tokenizer().clone();
    let mut joined = String::new();
    let tok_s = fastest(|| {
        for m in &test {
            tok.tokenize_joined(m, &mut joined);
        }
    });
    let sev_s = fastest(|| {
        for m in &test {
            std::hint::black_box(lad_core::severity::severity(m));
        }
    });
    let mut flagged = 0;
    let score_s = fastest(|| {
        let mut s = model.scorer();
        flagged = test.iter().filter(|m| s.score(m).is_anomaly).count();
    });
    let train_keys: std::collections::HashSet<String> = train
        .iter()
        .map(|m| {
            tok.tokenize_joined(m, &mut joined);
            joined.clone()
        })
        .collect();
    let mut novel = std::collections::HashSet::new();
    let mut novel_lines = Vec::new();
    for m in &test {
        tok.tokenize_joined(m, &mut joined);
        if !train_keys.contains(&joined) {
            novel_lines.push(m);
            novel.insert(joined.clone());
        }
    }
    let novel_s = fastest(|| {
        let mut s = model.scorer();
        for m in &novel_lines {
            std::hint::black_box(s.score(m));
        }
    });
    println!(
        "{} test lines have a sequence unseen in training ({} distinct), scored in {novel_s:.4}s",
        novel_lines.len(),
        novel.len()
    );
    println!(
        "score {} lines: {score_s:.4}s ({:.0} lines/s), of which tokenize {tok_s:.4}s, severity {sev_s:.4}s; flagged {flagged}",
        test.len(),
        test.len() as f64 / score_s
    );
}

const ROUNDS: usize = 20;

fn fastest(mut f: impl FnMut()) -> f64 {
    let times: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    if std::env::var_os("SCORE_PROFILE_ALL").is_some() {
        let ms: Vec<String> = times.iter().map(|t| format!("{:.1}", t * 1e3)).collect();
        eprintln!("rounds (ms): {}", ms.join(" "));
    }
    times.into_iter().fold(f64::INFINITY, f64::min)
}
