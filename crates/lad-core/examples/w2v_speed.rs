//! Times Word2Vec training on the LogHub 2k samples, by hand:
//! `cargo run --release -p lad-core --example w2v_speed [RAW_DIR]`.
//!
//! Tokens are runs of ASCII letters (the old tokenizer). For each system it trains on the
//! distinct lines with their counts; then on a host-sized corpus (all 16 systems, every count
//! doubled: about 64,000 lines) both compressed and expanded to one entry per line, the cost
//! gensim-style training would pay. RAW_DIR defaults to `../shared/data/loghub/raw` above the
//! workspace.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use lad_core::word2vec::{Architecture, Word2Vec, Word2VecParams};

fn letters_only(line: &str) -> Vec<String> {
    line.split(|c: char| !c.is_ascii_alphabetic())
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Distinct token sequences in first-seen order, with counts.
fn distinct(lines: impl Iterator<Item = Vec<String>>) -> Vec<(Vec<String>, u64)> {
    let mut index: HashMap<Vec<String>, usize> = HashMap::new();
    let mut out: Vec<(Vec<String>, u64)> = Vec::new();
    for tokens in lines {
        match index.get(&tokens) {
            Some(&i) => out[i].1 += 1,
            None => {
                index.insert(tokens.clone(), out.len());
                out.push((tokens, 1));
            }
        }
    }
    out
}

/// CPU time of this thread in milliseconds (Linux), so that timings on a shared machine
/// are not inflated by waiting for a core; wall-clock time elsewhere.
fn thread_ms(start: Instant) -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or_else(|| start.elapsed().as_secs_f64() * 1e3, |ns| ns / 1e6)
}

/// Best of `runs` runs as `wall ms/CPU ms` (see [`thread_ms`]; CPU time is counted in
/// scheduler ticks, so a few ms is noise), and the model.
fn time_train(
    corpus: &[(Vec<String>, u64)],
    arch: Architecture,
    runs: usize,
) -> (String, Word2Vec) {
    let params = Word2VecParams {
        architecture: arch,
        ..Word2VecParams::default()
    }
    .check()
    .expect("default parameters are valid");
    let (mut best, mut best_cpu) = (f64::INFINITY, f64::INFINITY);
    let mut model = None;
    for _ in 0..runs {
        let origin = Instant::now();
        let before = thread_ms(origin);
        let m = Word2Vec::train(corpus, &params);
        best_cpu = best_cpu.min(thread_ms(origin) - before);
        best = best.min(origin.elapsed().as_secs_f64() * 1e3);
        model = Some(m);
    }
    (
        format!("{best:.1}/{best_cpu:.0}"),
        model.expect("runs is at least 1"),
    )
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/loghub/raw")
        });
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("skipping: {} is not readable", dir.display());
        return;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();

    println!(
        "{:<22} {:>6} {:>8} {:>6} {:>9} {:>9}",
        "corpus", "lines", "distinct", "vocab", "cbow wall/cpu ms", "sg wall/cpu ms"
    );
    let mut all: Vec<Vec<String>> = Vec::new();
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            eprintln!("skipping unreadable {}", file.display());
            continue;
        };
        let lines: Vec<Vec<String>> = text.lines().map(letters_only).collect();
        let corpus = distinct(lines.iter().cloned());
        let (cbow, model) = time_train(&corpus, Architecture::Cbow, 3);
        let (sg, _) = time_train(&corpus, Architecture::SkipGram, 3);
        let name = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        println!(
            "{name:<22} {:>6} {:>8} {:>6} {cbow:>17} {sg:>17}",
            lines.len(),
            corpus.len(),
            model.vocab_len()
        );
        all.extend(lines);
    }

    // A host-sized window: every line twice.
    let host: Vec<(Vec<String>, u64)> = distinct(all.iter().cloned())
        .into_iter()
        .map(|(t, c)| (t, c * 2))
        .collect();
    let lines: u64 = host.iter().map(|(_, c)| c).sum();
    let (cbow, model) = time_train(&host, Architecture::Cbow, 3);
    let (sg, _) = time_train(&host, Architecture::SkipGram, 3);
    println!(
        "{:<22} {lines:>6} {:>8} {:>6} {cbow:>17} {sg:>17}",
        "all x2 (distinct)",
        host.len(),
        model.vocab_len()
    );

    let expanded: Vec<(Vec<String>, u64)> = host
        .iter()
        .flat_map(|(t, c)| std::iter::repeat_n((t.clone(), 1), *c as usize))
        .collect();
    let (cbow, _) = time_train(&expanded, Architecture::Cbow, 1);
    let (sg, _) = time_train(&expanded, Architecture::SkipGram, 1);
    println!(
        "{:<22} {lines:>6} {:>8} {:>6} {cbow:>17} {sg:>17}",
        "all x2 (every line)",
        expanded.len(),
        model.vocab_len()
    );
}
