//! Times the phases of scoring a backlog (store read, scoring, verdict write, and the observer
//! that mines every scored line's pattern and forms incidents) the way `lad detect` runs them,
//! batch by batch, and prints where the time went. For `scripts/bench-daemon.sh PHASES=1` and
//! `FRESH=1`.
//!
//! Usage: `detect_phases CONFIG.yaml [--no-observer]` (`--no-observer`: the batch loop without
//! the pattern/incident observer, to compare with and without it on the same backlog)

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use lad::models::ModelRepo;
use lad::patterns::PatternBook;
use lad::pipeline::{self, ScoredBatch};
use lad::runtime::{pattern_observer, BatchObserver};

fn main() -> Result<()> {
    let path = std::env::args()
        .nth(1)
        .context("usage: detect_phases CONFIG.yaml")?;
    let observe = !std::env::args().skip(2).any(|a| a == "--no-observer");
    let (config, _) = lad::config::load_with_process_env(Some(path.as_ref()))?;
    let mut stores = lad::wiring::open_for_scoring(&config)?;
    let hosts = pipeline::host_pairs(&config, &mut stores.source)?;
    let repo = ModelRepo::new(&config.model_base_dir);
    repo.load(&hosts);
    let models = repo.snapshot();
    let book = Arc::new(PatternBook::new(&config.model_base_dir, Arc::new(repo)));
    let (observer, incidents) = pattern_observer(&config, &book);
    if let (Some(incidents), true) = (&incidents, observe) {
        incidents.repair()?;
    }
    let mut sources: Vec<String> = models.keys().map(|(s, _)| s.clone()).collect();
    sources.dedup();
    let (mut read, mut score, mut write) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let mut watch = Duration::ZERO;
    let mut n = 0usize;
    let started = Instant::now();
    for source in &sources {
        let host_names: Vec<String> = models
            .keys()
            .filter(|(s, _)| s == source)
            .map(|(_, h)| h.clone())
            .collect();
        loop {
            let t = Instant::now();
            let batch =
                stores
                    .source
                    .next_unscored(source, &host_names, config.infer_max_entries)?;
            read += t.elapsed();
            if batch.records.is_empty() {
                break;
            }
            let t = Instant::now();
            let verdicts = pipeline::score_records(&config, source, &batch.records, &models);
            score += t.elapsed();
            let t = Instant::now();
            stores
                .sink()
                .write_verdicts(source, &verdicts, &batch.records)?;
            write += t.elapsed();
            n += batch.records.len();
            if observe {
                let t = Instant::now();
                let scored = ScoredBatch {
                    source: source.clone(),
                    records: batch.records,
                    verdicts,
                    stats: Default::default(),
                };
                observer.observe(&scored);
                watch += t.elapsed();
            }
        }
    }
    if observe {
        let t = Instant::now();
        book.checkpoint();
        watch += t.elapsed();
    }
    let total = started.elapsed().as_secs_f64();
    let pct = |d: Duration| 100.0 * d.as_secs_f64() / total;
    println!(
        "{n} records in {total:.2} s ({:.0}/s): store read {:.2} s ({:.0}%), scoring {:.2} s ({:.0}%), \
         verdict write {:.2} s ({:.0}%), observer {:.2} s ({:.0}%){}",
        n as f64 / total,
        read.as_secs_f64(),
        pct(read),
        score.as_secs_f64(),
        pct(score),
        write.as_secs_f64(),
        pct(write),
        watch.as_secs_f64(),
        pct(watch),
        if observe { "" } else { " (observer off)" }
    );
    Ok(())
}
