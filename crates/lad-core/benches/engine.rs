//! Criterion benchmarks of the engine on seeded synthetic syslog: tokenising, training a host
//! model, and scoring known and never-seen lines. Run with `cargo bench -p lad-core`.
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lad_core::detector::{DetectorParams, HostModel};
use lad_core::tokenizer::{Tokenizer, TokenizerMode};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const TEMPLATES: &[&str] = &[
    "<86>Dec  1 17:15:01 cumulus CRON[{pid}]: pam_unix(cron:session): session opened for user {user} by (uid=0)",
    "<86>Dec  1 17:15:01 cumulus CRON[{pid}]: pam_unix(cron:session): session closed for user {user}",
    "<38>Dec  1 17:15:02 bastion sshd[{pid}]: Accepted publickey for {user} from 192.0.2.{n} port {port} ssh2",
    "<38>Dec  1 17:15:03 bastion sshd[{pid}]: Disconnected from user {user} 192.0.2.{n} port {port}",
    "<4>Dec  1 17:15:04 fw-edge kernel: [{n}.{pid}] DROP IN=eth0 OUT= SRC=198.51.100.{n} DST=203.0.113.{n} PROTO=TCP SPT={port} DPT=22",
    "<190>Dec  1 17:15:05 web-01 nginx: 203.0.113.{n} - - \"GET /static/{user}/{n}.js HTTP/1.1\" 200 {port} \"-\" \"Mozilla/5.0\"",
    "<30>Dec  1 17:15:06 cumulus ospfd[{pid}]: Neighbor 10.0.0.{n} state changed from Loading to Full",
    "<134>Dec  1 17:15:07 db-01 postgres[{pid}]: LOG:  checkpoint complete: wrote {n} buffers ({port} ms)",
];
const USERS: &[&str] = &["root", "alice", "bob", "deploy", "backup"];

fn lines(n: usize, seed: u64) -> Vec<String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            // Skewed: the first templates dominate, as in real logs.
            let t = TEMPLATES[(rng.random::<f64>().powi(3) * TEMPLATES.len() as f64) as usize];
            t.replace("{pid}", &rng.random_range(1000..40000).to_string())
                .replace("{user}", USERS[rng.random_range(0..USERS.len())])
                .replace("{n}", &rng.random_range(1..255).to_string())
                .replace("{port}", &rng.random_range(1024..65535).to_string())
        })
        .collect()
}

fn tokenize(c: &mut Criterion) {
    let data = lines(10_000, 1);
    let mut g = c.benchmark_group("tokenize");
    g.throughput(Throughput::Elements(data.len() as u64));
    for mode in [TokenizerMode::Masked, TokenizerMode::LettersOnly] {
        let t = Tokenizer::new(mode);
        let mut out = Vec::new();
        g.bench_function(BenchmarkId::from_parameter(format!("{mode:?}")), |b| {
            b.iter(|| {
                for l in &data {
                    t.tokenize_into(l, &mut out);
                }
            })
        });
    }
    g.finish();
}

fn train(c: &mut Criterion) {
    let mut g = c.benchmark_group("train_host");
    g.sample_size(10);
    for n in [5_000usize, 50_000] {
        let data = lines(n, 2);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &data, |b, data| {
            b.iter(|| HostModel::train(data, &DetectorParams::default()).unwrap())
        });
    }
    g.finish();
}

fn score(c: &mut Criterion) {
    let model = HostModel::train(&lines(20_000, 3), &DetectorParams::default()).unwrap();
    let mut g = c.benchmark_group("score");
    let known = lines(10_000, 4);
    let novel: Vec<String> = (0..1_000)
        .map(|i| format!("<3>Dec  1 17:16:{:02} db-01 kernel: EXT4-fs error (device sda{i}): unexpected inode {i} checksum mismatch", i % 60))
        .collect();
    for (name, data) in [("mostly_known", &known), ("never_seen", &novel)] {
        g.throughput(Throughput::Elements(data.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(name), data, |b, data| {
            b.iter(|| {
                let mut s = model.scorer();
                data.iter().filter(|l| s.score(l).is_anomaly).count()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, tokenize, train, score);
criterion_main!(benches);
