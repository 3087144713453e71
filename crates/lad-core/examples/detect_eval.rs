//! Tuning aid: trains the detector on a labelled JSON Lines file, scores another, and prints
//! P/R/F1 and ROC-AUC against `label`. Usage:
//! `cargo run --release -p lad-core --example detect_eval -- TRAIN TEST [legacy|ensemble|nosev]`
#![allow(clippy::unwrap_used, missing_docs)]

use lad_core::detector::{DetectorParams, HostModel, Rule};

fn read(path: &str) -> Vec<(String, u8)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["message"].as_str().unwrap().to_string(),
                v["label"].as_u64().unwrap_or(0) as u8,
            )
        })
        .collect()
}

fn auc(scores: &[(f64, u8)]) -> f64 {
    let mut s = scores.to_vec();
    s.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Mann-Whitney with average ranks for ties.
    let (mut rank_sum, mut i) = (0.0, 0);
    while i < s.len() {
        let mut j = i;
        while j < s.len() && s[j].0 == s[i].0 {
            j += 1;
        }
        let avg = (i + j + 1) as f64 / 2.0;
        rank_sum += s[i..j].iter().filter(|x| x.1 == 1).count() as f64 * avg;
        i = j;
    }
    let pos = s.iter().filter(|x| x.1 == 1).count() as f64;
    let neg = s.len() as f64 - pos;
    (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let train = read(&args[1]);
    let test = read(&args[2]);
    let mut params = DetectorParams::default();
    match args.get(3).map(String::as_str) {
        Some("legacy") => params.rule = Rule::Legacy,
        Some("nosev") => params.ensemble.use_severity = false,
        _ => {}
    }
    for kv in args.iter().skip(4) {
        let (k, v) = kv.split_once('=').unwrap();
        let v: f64 = v.parse().unwrap();
        match k {
            "base" => params.ensemble.base = v,
            "threshold" => params.ensemble.threshold = v,
            "tail" => params.ensemble.tail = v,
            "common" => params.ensemble.common_share = v,
            "seed" => params.word2vec.seed = v as u64,
            _ => panic!("unknown knob {k}"),
        }
    }
    let msgs: Vec<&str> = train.iter().map(|x| x.0.as_str()).collect();
    let t = std::time::Instant::now();
    let model = HostModel::train(&msgs, &params).unwrap();
    let train_s = t.elapsed().as_secs_f64();
    let mut scorer = model.explaining_scorer();
    let scored: Vec<_> = test.iter().map(|(m, _)| scorer.score(m)).collect();
    let (mut tp, mut fp, mut fneg) = (0, 0, 0);
    for (s, (_, y)) in scored.iter().zip(&test) {
        match (s.is_anomaly, *y == 1) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fneg += 1,
            _ => {}
        }
    }
    let p = tp as f64 / (tp + fp).max(1) as f64;
    let r = tp as f64 / (tp + fneg).max(1) as f64;
    let f1 = if p + r > 0.0 {
        2.0 * p * r / (p + r)
    } else {
        0.0
    };
    let pairs: Vec<(f64, u8)> = scored
        .iter()
        .zip(&test)
        .map(|(s, (_, y))| (s.score, *y))
        .collect();
    println!(
        "distinct {} | P {p:.3} R {r:.3} F1 {f1:.3} AUC {:.3} flagged {} | train {train_s:.2}s",
        model.distinct_sequences(),
        auc(&pairs),
        tp + fp
    );
    if std::env::var("SHOW").is_ok() {
        for (s, (m, y)) in scored.iter().zip(&test) {
            if s.is_anomaly || *y == 1 {
                println!(
                    "{y} {} {:.3} nov {:.2} sev {:.1} lof {:.2} ae {:.4} | {}",
                    s.is_anomaly as u8,
                    s.score,
                    s.novelty,
                    s.severity.unwrap_or(f32::NAN),
                    s.lof,
                    s.ae_error,
                    &m[..m.len().min(110)]
                );
            }
        }
    }
}
