//! The one-shot commands over the configured store: `lad train`, `lad detect`,
//! `lad aggregate`, `lad import` and `lad export`. Each is a thin loop around the passes of
//! [`crate::pipeline`], with a summary on standard error.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use lad_store::parse::{parse_file, ParseOptions};
use lad_store::NewRecord;
use tracing::{info, warn};

use crate::commands::{open_output, UsageError};
use crate::config::Config;
use crate::pipeline::{self, TrainOutcome};

/// `lad train`: trains and saves the model of every configured (source, host), or of one host.
pub fn train(config: &Config, only_host: Option<&str>, quiet: bool) -> Result<()> {
    config
        .require_detection()
        .map_err(|e| UsageError(e.to_string()))?;
    let mut stores = pipeline::open_stores(config)?;
    let mut hosts = pipeline::host_pairs(config, &mut stores.source)?;
    if let Some(h) = only_host {
        hosts.retain(|(_, host)| host == h);
        if hosts.is_empty() {
            return Err(UsageError(format!("host {h} is not among the configured hosts")).into());
        }
    }
    if hosts.is_empty() {
        bail!("nothing to train: the store holds no records (import some with `lad import`)");
    }
    let bar = crate::telemetry::progress(hosts.len() as u64, "training", quiet);
    let mut results = Vec::new();
    for chunk in hosts.chunks(config.parallelism.get()) {
        results.extend(pipeline::train(
            config,
            &mut stores.source,
            chunk,
            pipeline::now_ms(),
        )?);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    let mut failures = 0;
    for ((source, host), outcome, _) in &results {
        log_train_outcome(source, host, outcome);
        failures += usize::from(matches!(outcome, TrainOutcome::Failed(_)));
    }
    if failures > 0 {
        bail!(
            "{failures} of {} models could not be trained",
            results.len()
        );
    }
    Ok(())
}

/// Logs what happened to one host's training.
pub fn log_train_outcome(source: &str, host: &str, outcome: &TrainOutcome) {
    match outcome {
        TrainOutcome::Trained {
            lines,
            malformed,
            seconds,
            notes,
        } => {
            info!(source, host, lines, malformed, seconds, "model trained");
            for n in notes {
                info!(source, host, "{n}");
            }
        }
        TrainOutcome::TooLittleData { lines } => warn!(
            source,
            host,
            lines,
            needed = pipeline::MIN_TRAINING_LINES,
            "too little data in the training window to train; waiting for more"
        ),
        TrainOutcome::Failed(reason) => warn!(source, host, %reason, "training failed"),
    }
}

/// `lad detect`: scores every unscored record of the configured hosts with the saved models.
pub fn detect(config: &Config, quiet: bool) -> Result<()> {
    config
        .require_detection()
        .map_err(|e| UsageError(e.to_string()))?;
    let mut stores = pipeline::open_stores(config)?;
    let hosts = pipeline::host_pairs(config, &mut stores.source)?;
    let (models, missing) = pipeline::load_models(config, &hosts);
    for ((source, host), why) in &missing {
        warn!(source, host, %why, "no usable model; run `lad train` (its records stay unscored)");
    }
    let sources = pipeline::model_sources(&models);
    let mut backlog = 0;
    for source in &sources {
        backlog += stores.source.unscored_count(source)?;
    }
    let bar = crate::telemetry::progress(backlog, "scoring", quiet);
    let drain = |stores: &mut pipeline::Stores, source: &str| -> Result<pipeline::DetectStats> {
        let mut total = pipeline::DetectStats::default();
        loop {
            let stats = pipeline::detect_batch(config, stores, source, &models)?;
            total.add(stats);
            bar.inc(stats.read);
            if stats.read == 0 {
                return Ok(total);
            }
        }
    };
    let workers = concurrent_sources(config, sources.len());
    let mut total = pipeline::DetectStats::default();
    if workers <= 1 {
        for source in &sources {
            total.add(drain(&mut stores, source)?);
        }
    } else {
        // Database servers take writes to different collections or tables in parallel (the
        // MongoDB test server wrote 43,000 records/s to two collections at once against
        // 27,000 to one), so sources are drained by a few workers, each with its own
        // connection. Every record is still scored once: sources are disjoint.
        drop(stores);
        let next = std::sync::atomic::AtomicUsize::new(0);
        let work = || -> Result<pipeline::DetectStats> {
            let mut stores = pipeline::open_stores(config)?;
            let mut total = pipeline::DetectStats::default();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(source) = sources.get(i) else {
                    return Ok(total);
                };
                total.add(drain(&mut stores, source)?);
            }
        };
        let results: Vec<Result<pipeline::DetectStats>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers).map(|_| scope.spawn(work)).collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("a detect worker panicked")))
                })
                .collect()
        });
        for r in results {
            total.add(r?);
        }
    }
    bar.finish_and_clear();
    info!(
        read = total.read,
        scored = total.scored,
        flagged = total.flagged,
        malformed = total.malformed,
        batches = total.batches,
        "detect done"
    );
    Ok(())
}

/// Sources drained at once by `lad detect`: up to [`MAX_CONCURRENT_SOURCES`] on MongoDB, whose
/// sources are separate collections with no shared bookkeeping; one elsewhere. SQLite has one
/// writer, the file backends share outputs, and the MySQL backend keeps its bookkeeping in
/// shared tables (`lad_records`), where concurrent writers were not tested.
fn concurrent_sources(config: &Config, sources: usize) -> usize {
    use crate::config::{SinkKind, SourceKind};
    match (config.storage_datasource, config.storage_datasink) {
        (SourceKind::Mongo, SinkKind::Mongo) => sources.min(MAX_CONCURRENT_SOURCES),
        _ => 1,
    }
}

/// See [`concurrent_sources`].
const MAX_CONCURRENT_SOURCES: usize = 4;

/// `lad aggregate`: one aggregation pass.
pub fn aggregate(config: &Config) -> Result<()> {
    config
        .require_aggregation()
        .map_err(|e| UsageError(e.to_string()))?;
    let mut stores = pipeline::open_stores(config)?;
    for o in pipeline::aggregate(config, &mut stores, pipeline::now_ms())? {
        info!(
            input = %o.input,
            target = %o.target,
            anomalies = o.anomalies,
            aggregates = o.created,
            "aggregated"
        );
    }
    Ok(())
}

/// `lad import`: loads files into `source` of the store.
pub fn import(config: &Config, source: &str, files: &[PathBuf], skip_invalid: bool) -> Result<()> {
    let mut stores = pipeline::open_stores(config)?;
    let mut invalid = 0usize;
    for file in files {
        let options = ParseOptions {
            fields: pipeline::field_names(config),
            origin: file.display().to_string(),
            reference_time_ms: reference_time(file),
        };
        let (format, items) = parse_file(file, &options)?;
        let mut records: Vec<NewRecord> = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Ok(parsed) => records.push(parsed.record),
                Err(e) => {
                    invalid += 1;
                    if invalid <= 20 {
                        warn!("{e}");
                    }
                }
            }
        }
        let summary = stores
            .source
            .import(source, &records)
            .with_context(|| format!("importing {}", file.display()))?;
        info!(
            file = %file.display(),
            format = ?format,
            inserted = summary.inserted,
            already_present = summary.duplicates,
            "imported"
        );
    }
    if invalid > 0 {
        if skip_invalid {
            warn!(invalid, "invalid lines were skipped");
        } else {
            bail!("{invalid} invalid lines were not imported (see above; --skip-invalid accepts the rest silently)");
        }
    }
    Ok(())
}

/// RFC 3164 stamps have no year: read them against the file's modification time.
fn reference_time(file: &Path) -> i64 {
    std::fs::metadata(file)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or_else(pipeline::now_ms, |d| d.as_millis() as i64)
}

/// `lad export`: records with their verdicts, or the aggregates, as JSON Lines.
pub fn export(
    config: &Config,
    output: Option<&Path>,
    anomalies_only: bool,
    aggregates: bool,
) -> Result<()> {
    let mut stores = pipeline::open_stores(config)?;
    let mut out = open_output(output)?;
    let store = stores.sink();
    if aggregates {
        for a in store.aggregates(None)? {
            serde_json::to_writer(&mut out, &aggregate_json(&a))?;
            out.write_all(b"\n")?;
        }
    } else {
        let mut cursor = None;
        loop {
            let page = store.export_page(None, cursor, 10_000)?;
            for row in &page.rows {
                if anomalies_only && row.is_anomaly != Some(true) {
                    continue;
                }
                serde_json::to_writer(&mut out, &record_json(row))?;
                out.write_all(b"\n")?;
            }
            match page.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// The export shapes of a record and an aggregate live in lad-store's codec, shared with its
/// sinks.
pub use lad_store::codec::{aggregate_json, record_json};
