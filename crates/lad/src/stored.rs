//! The one-shot commands over the configured store: `lad train`, `lad detect`,
//! `lad aggregate`, `lad import` and `lad export`. Each is a thin loop around the passes of
//! [`crate::pipeline`], with a summary on standard error.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use anyhow::{bail, Context, Result};
use lad_core::pattern::TemplateFormat;
use lad_store::parse::{parse_file_chunked, ParseError, ParseOptions, ParsedRecord};
use lad_store::{NewRecord, MAX_MESSAGE_BYTES};
use tracing::{info, warn};

use crate::config::Config;
use crate::error::UsageError;
use crate::models::ModelRepo;
use crate::patterns::PatternBook;
use crate::pipeline::{self, TrainOutcome};
use crate::runtime::{drain_sources, pattern_observer, Observer, Worker};
use crate::wire::{aggregate_json, open_output, record_json};
use crate::wiring;

/// `lad train`: trains and saves the model of every configured (source, host), or of one host.
pub fn train(config: &Config, only_host: Option<&str>, quiet: bool) -> Result<()> {
    config
        .require_detection()
        .map_err(|e| UsageError(e.to_string()))?;
    require_store(config, "train on")?;
    let mut stores = wiring::open_for_training(config)?;
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
    pipeline::TrainSummary::of(&results).log("training done");
    let mut failures = 0;
    for ((source, host), outcome, _) in &results {
        pipeline::log_train_outcome(source, host, outcome);
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

/// `lad detect`: scores every unscored record of the configured hosts with the saved models.
pub fn detect(config: &Config, quiet: bool) -> Result<()> {
    config
        .require_detection()
        .map_err(|e| UsageError(e.to_string()))?;
    require_store(config, "score")?;
    let mut workers = vec![Worker::open(config)?];
    let hosts = pipeline::host_pairs(config, &mut workers[0].stores().source)?;
    let repo = ModelRepo::new(&config.model_base_dir);
    let (_, missing) = repo.load(&hosts);
    warn_missing_models(&missing);
    let models = repo.snapshot();
    let sources = pipeline::model_sources(&models);
    let mut backlog = 0;
    for source in &sources {
        backlog += workers[0].stores().source.unscored_count(source)?;
    }
    let bar = crate::telemetry::progress(backlog, "scoring", quiet);
    let repo = std::sync::Arc::new(repo);
    let book = std::sync::Arc::new(PatternBook::new(
        &config.model_base_dir,
        std::sync::Arc::clone(&repo),
    ));
    let (follow, incidents) = pattern_observer(config, &book);
    if let Some(incidents) = &incidents {
        // Anomalies scored before (by an older lad, or before a kill) join incidents first.
        incidents.repair()?;
    }
    let observers = [Observer::Progress(bar.clone()), follow];
    let never = AtomicBool::new(false);
    let total = drain_sources(config, &mut workers, &sources, &models, &observers, &never)?;
    book.checkpoint();
    if let Some(incidents) = &incidents {
        info!(open = incidents.open_count(), "incidents");
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

/// Reports the hosts `lad detect` has no usable model for: a model that is there but unusable
/// (corrupt, unreadable) one line each; hosts that never got one (most often too little data to
/// train) one line for all of them, naming a few, each at debug level.
fn warn_missing_models(missing: &[(pipeline::HostKey, crate::models::ModelStoreError)]) {
    let mut never = Vec::new();
    for ((source, host), why) in missing {
        if matches!(why, crate::models::ModelStoreError::Missing(_)) {
            tracing::debug!(source, host, %why, "no model; its records stay unscored");
            never.push(format!("{source}/{host}"));
        } else {
            warn!(source, host, %why, "no usable model; run `lad train` (its records stay unscored)");
        }
    }
    if !never.is_empty() {
        let mut examples = never[..never.len().min(5)].join(", ");
        if never.len() > 5 {
            examples.push_str(", ...");
        }
        warn!(
            hosts = never.len(),
            examples = %examples,
            "hosts without a model (too little data when trained, or never trained: run `lad \
             train`); their records stay unscored; RUST_LOG=debug lists each"
        );
    }
}

/// `lad patterns`: the saved patterns of every modelled (source, host), or of one source or
/// host, most frequent first.
pub fn patterns(
    config: &Config,
    source: Option<&str>,
    host: Option<&str>,
    format: TemplateFormat,
    output: Option<&Path>,
) -> Result<()> {
    require_store(config, "list")?;
    let mut stores = wiring::open_for_state(config)?;
    let mut hosts = pipeline::host_pairs(config, &mut stores.source)?;
    hosts.retain(|(s, h)| source.is_none_or(|x| x == s) && host.is_none_or(|x| x == h));
    if hosts.is_empty() {
        return Err(UsageError("no configured (source, host) matches".into()).into());
    }
    let (rows, missing) = crate::patterns::saved_rows(&config.model_base_dir, &hosts, format);
    for ((source, host), why) in &missing {
        warn!(source, host, %why, "no saved patterns; run `lad train` or `lad run` first");
    }
    let mut out = open_output(output)?;
    for row in &rows {
        serde_json::to_writer(&mut out, row)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// `lad aggregate`: one aggregation pass.
pub fn aggregate(config: &Config) -> Result<()> {
    config
        .require_aggregation()
        .map_err(|e| UsageError(e.to_string()))?;
    require_store(config, "aggregate")?;
    let mut stores = wiring::open_for_state(config)?;
    for o in crate::aggregation::aggregate(config, &mut stores, pipeline::now_ms())? {
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
    let mut store = wiring::open_record_store(config)?;
    let mut invalid = 0usize;
    for file in files {
        let options = ParseOptions {
            fields: wiring::field_names(config),
            origin: file.display().to_string(),
            reference_time_ms: reference_time(file),
        };
        let (mut inserted, mut duplicates) = (0usize, 0usize);
        // The file is read, parsed and imported a chunk at a time, so memory does not grow with
        // its size (a mongoexport JSON array is the exception: one document, read whole).
        let chunk = crate::offline::chunk_bytes(IMPORT_CHUNK_BYTES);
        let format = parse_file_chunked(file, &options, chunk, |items| {
            let mut records: Vec<NewRecord> = Vec::with_capacity(items.len());
            for item in items {
                match item.and_then(|p| refuse_oversized(p, &options.origin)) {
                    // A record the backend cannot hold (a MySQL host over 255 characters) is one
                    // invalid line, like a line that does not parse.
                    Ok(parsed) => match store.import_limit(&parsed.record) {
                        None => records.push(parsed.record),
                        Some(reason) => {
                            invalid += 1;
                            if invalid <= 20 {
                                warn!("{}:{}: {reason}", file.display(), parsed.line);
                            }
                        }
                    },
                    Err(e) => {
                        invalid += 1;
                        if invalid <= 20 {
                            warn!("{e}");
                        }
                    }
                }
            }
            let summary = store
                .import(source, &records)
                .with_context(|| format!("importing {}", file.display()))?;
            inserted += summary.inserted;
            duplicates += summary.duplicates;
            anyhow::Ok(())
        })?;
        info!(
            file = %file.display(),
            format = ?format,
            inserted,
            already_present = duplicates,
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

/// How much of an input file `lad import` reads, parses and imports at a time.
const IMPORT_CHUNK_BYTES: usize = 4 << 20;

/// A message over [`MAX_MESSAGE_BYTES`] is refused at import, naming its line: every store
/// reader reports such a record as malformed and never scores it, so importing it would lose it
/// silently.
fn refuse_oversized(parsed: ParsedRecord, origin: &str) -> Result<ParsedRecord, ParseError> {
    let len = parsed.record.message.len();
    if len <= MAX_MESSAGE_BYTES {
        return Ok(parsed);
    }
    Err(ParseError {
        origin: origin.to_string(),
        line: parsed.line,
        reason: format!(
            "message is {len} bytes, over the limit of {MAX_MESSAGE_BYTES} bytes lad scores; \
             not imported (cut such lines before importing)"
        ),
    })
}

/// RFC 3164 stamps have no year: read them against the file's modification time.
fn reference_time(file: &Path) -> i64 {
    std::fs::metadata(file)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or_else(pipeline::now_ms, |d| d.as_millis() as i64)
}

/// What `lad export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportWhat {
    /// Every record with its verdict.
    Records,
    /// Only anomalies, each with its `incident_id`.
    Anomalies,
    /// The aggregates.
    Aggregates,
    /// The incidents.
    Incidents,
}

impl ExportWhat {
    /// From the flags of the command line (clap keeps them exclusive where they conflict).
    pub fn of(anomalies: bool, aggregates: bool, incidents: bool) -> ExportWhat {
        if incidents {
            ExportWhat::Incidents
        } else if aggregates {
            ExportWhat::Aggregates
        } else if anomalies {
            ExportWhat::Anomalies
        } else {
            ExportWhat::Records
        }
    }
}

/// Refuses to go on when the configured SQLite store does not exist: opening it would create an
/// empty `lad.db` wherever the command runs, and `what` (export, train, ...) has nothing to read.
/// Only `lad import`, `lad run` and `lad demo` create a store.
fn require_store(config: &Config, what: &str) -> Result<()> {
    if config.storage_datasource == crate::config::SourceKind::Sqlite
        && !config.sqlite_path.exists()
    {
        bail!(
            "no store at {} (SQLITE_PATH): nothing to {what}; run from the folder that holds \
             it, set SQLITE_PATH, or fill one with `lad import`",
            config.sqlite_path.display()
        );
    }
    Ok(())
}

/// `lad export`: records with their verdicts (anomalies with their incident), the aggregates,
/// or the incidents, as JSON Lines.
pub fn export(config: &Config, output: Option<&Path>, what: ExportWhat) -> Result<()> {
    require_store(config, "export")?;
    let mut stores = wiring::open_for_state(config)?;
    let mut out = open_output(output)?;
    let store = stores.sink();
    match what {
        ExportWhat::Aggregates => {
            for a in store.aggregates(None)? {
                serde_json::to_writer(&mut out, &aggregate_json(&a))?;
                out.write_all(b"\n")?;
            }
        }
        ExportWhat::Incidents => {
            let mut all = store.incidents(&lad_store::IncidentQuery::default())?;
            // Oldest first, like the other exports.
            all.sort_by(|a, b| (a.first_seen_ms, &a.id).cmp(&(b.first_seen_ms, &b.id)));
            let now = pipeline::now_ms();
            for i in &all {
                serde_json::to_writer(&mut out, &crate::wire::incident_json(i, now))?;
                out.write_all(b"\n")?;
            }
        }
        ExportWhat::Records | ExportWhat::Anomalies => {
            let anomalies_only = what == ExportWhat::Anomalies;
            // Each anomaly's incident, per source; a store without incidents has none.
            let mut links: std::collections::HashMap<
                String,
                std::collections::HashMap<String, String>,
            > = std::collections::HashMap::new();
            let mut cursor = None;
            loop {
                let page = store.export_page(None, cursor, 10_000)?;
                for row in &page.rows {
                    if anomalies_only && row.is_anomaly != Some(true) {
                        continue;
                    }
                    let mut json = record_json(row);
                    if anomalies_only {
                        let source = &row.record.source;
                        if !links.contains_key(source) {
                            let of_source = if store.has_incidents() {
                                store
                                    .incident_links(source, i64::MIN, i64::MAX)?
                                    .into_iter()
                                    .map(|l| (l.record_id.to_string(), l.incident_id))
                                    .collect()
                            } else {
                                std::collections::HashMap::new()
                            };
                            links.insert(source.clone(), of_source);
                        }
                        let incident = links
                            .get(source)
                            .and_then(|m| m.get(&row.record.id.to_string()));
                        if let serde_json::Value::Object(o) = &mut json {
                            o.insert("incident_id".into(), serde_json::json!(incident));
                        }
                    }
                    serde_json::to_writer(&mut out, &json)?;
                    out.write_all(b"\n")?;
                }
                match page.next {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
        }
    }
    out.flush()?;
    Ok(())
}
