//! The passes every command and the daemon share: train the models of (source, host) pairs and
//! score one batch of unscored records (with feedback applied). Each pass takes the time as a
//! parameter, reads and writes through a [`Stores`] pair, and returns what it did, so the same
//! code runs once from the CLI and on a schedule in the daemon. Aggregation is
//! [`crate::aggregation`]; the parallel scoring of many hosts is [`lad_core::scoring`]; the
//! workers that drive batches are [`crate::runtime`].
//!
//! Reads and writes go through one store connection at a time; training and scoring of
//! different hosts run in parallel (PARALLELISM at a time) between them.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use lad_core::detector::HostModel;
use lad_core::pattern::{Miner, PatternValidParams};
use lad_core::syslog;
use lad_store::{Record, Store, Verdict};
use rayon::prelude::*;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::models;
use crate::wiring::{detector_params, log_notices, pattern_params, tokenizer_mode, Stores};

/// A host needs at least this many training lines for a model; with fewer it waits (its records
/// stay unscored until its training window holds this many), costing no model and no memory
/// beyond its name in a pass. Such hosts are reported as one summary line per training pass
/// ([`TrainSummary`]), each of them only at debug level.
pub const MIN_TRAINING_LINES: usize = 10;

/// The (source, hosts) pairs to model: LOG_SOURCES, or every source and host in the store
/// when it is empty (sqlite and local only); a source listed without hosts means all of its
/// hosts. A stream source (Kafka) always names its hosts itself: those of the partitions this
/// instance is given, within LOG_SOURCES `HOSTNAMES`.
pub fn targets(config: &Config, store: &mut Store) -> Result<Vec<(String, Vec<String>)>> {
    let sources: Vec<(String, Vec<String>)> = if config.log_sources.is_empty() {
        store
            .list_sources()?
            .into_iter()
            .map(|s| (s, Vec::new()))
            .collect()
    } else {
        config
            .log_sources
            .iter()
            .map(|(s, l)| (s.clone(), l.hostnames.clone()))
            .collect()
    };
    let mut out = Vec::new();
    for (source, hosts) in sources {
        let hosts = if hosts.is_empty() || store.is_stream() {
            store.hosts(&source)?
        } else {
            hosts
        };
        out.push((source, hosts));
    }
    Ok(out)
}

pub use crate::models::{HostKey, Models};

/// One host's training: what happened, and the model if one was trained.
pub type TrainResult = (HostKey, TrainOutcome, Option<Arc<HostModel>>);

/// What happened to one host in a training pass.
#[derive(Debug)]
pub enum TrainOutcome {
    /// A model was trained and saved.
    Trained {
        /// Training lines used.
        lines: usize,
        /// Malformed records skipped in the window.
        malformed: usize,
        /// Seconds spent training.
        seconds: f64,
        /// Notes from the model (e.g. a reduced k).
        notes: Vec<String>,
    },
    /// Too little data: the host waits.
    TooLittleData {
        /// Lines in the window.
        lines: usize,
    },
    /// Training failed.
    Failed(String),
}

/// Trains and saves the model of every (source, host) in `hosts`, reading each training window
/// `[now - TRAIN_TIME_SPAN, now)`; the models that were trained are returned with the outcome
/// of every host. One host's failure (too little data, training or saving failed) is in its
/// outcome and never stops the others; an error is a failure of the store.
pub fn train(
    config: &Config,
    store: &mut Store,
    hosts: &[(String, String)],
    now_ms: i64,
) -> Result<Vec<TrainResult>> {
    let params = detector_params(config)?;
    let patterns = pattern_params();
    let from = window_start(now_ms, config.train_time_span);
    // Read sequentially (one connection), train in parallel, PARALLELISM windows at a time so
    // that memory stays bounded by that many windows.
    let mut results = Vec::new();
    for chunk in hosts.chunks(config.parallelism.get()) {
        let mut windows = Vec::new();
        for (source, host) in chunk {
            let mut batch = store
                .training_window(source, host, from, now_ms, config.train_max_entries)
                .with_context(|| format!("reading the training window of {source}/{host}"))?;
            add_feedback_lines(store, source, host, now_ms, &mut batch)?;
            windows.push(((source.clone(), host.clone()), batch));
        }
        let trained: Vec<_> = pool(config).install(|| {
            windows
                .into_par_iter()
                .map(|(key, batch)| {
                    let lines = batch.records.len();
                    if lines < MIN_TRAINING_LINES {
                        return (key, TrainOutcome::TooLittleData { lines }, None);
                    }
                    let started = std::time::Instant::now();
                    let messages: Vec<&str> =
                        batch.records.iter().map(|r| r.message.as_str()).collect();
                    match HostModel::train(&messages, &params) {
                        Ok(mut model) => {
                            model.set_patterns(mine_patterns(&batch.records, &patterns));
                            let outcome = TrainOutcome::Trained {
                                lines,
                                malformed: batch.malformed.len(),
                                seconds: started.elapsed().as_secs_f64(),
                                notes: model.notes().to_vec(),
                            };
                            (key, outcome, Some(Arc::new(model)))
                        }
                        Err(e) => (key, TrainOutcome::Failed(e.to_string()), None),
                    }
                })
                .collect()
        });
        for (key, outcome, model) in trained {
            // A model that cannot be saved (a full disk, a file where its folder goes) is that
            // host's failure alone: the others are saved, and this one is still returned, so a
            // running daemon scores with it until a later training saves one.
            let outcome = match &model {
                Some(m) => match models::save(&config.model_base_dir, &key.0, &key.1, m) {
                    Ok(_) => outcome,
                    Err(e) => TrainOutcome::Failed(format!(
                        "trained, but the model could not be saved: {e}"
                    )),
                },
                None => outcome,
            };
            results.push((key, outcome, model));
        }
    }
    Ok(results)
}

/// The patterns of `records`' message bodies (syslog headers split off), each line counted at
/// its own time.
pub fn mine_patterns(records: &[Record], params: &PatternValidParams) -> Miner {
    let mut miner = Miner::new(params.clone());
    for r in records {
        miner.observe(syslog::split(&r.message).body, r.time);
    }
    miner
}

/// Logs what happened to one host's training: at debug level, as it is routine for every
/// host of a fleet (a pass's [`TrainSummary`] is the info line), except a failure, which is a
/// warning of its own.
pub fn log_train_outcome(source: &str, host: &str, outcome: &TrainOutcome) {
    match outcome {
        TrainOutcome::Trained {
            lines,
            malformed,
            seconds,
            notes,
        } => {
            debug!(source, host, lines, malformed, seconds, "model trained");
            for n in notes {
                debug!(source, host, "{n}");
            }
        }
        TrainOutcome::TooLittleData { lines } => debug!(
            source,
            host,
            lines,
            needed = MIN_TRAINING_LINES,
            "too little data in the training window to train; waiting for more"
        ),
        TrainOutcome::Failed(reason) => warn!(source, host, %reason, "training failed"),
    }
}

/// What one training pass did, for one log line instead of one per host.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TrainSummary {
    /// Models trained.
    pub trained: usize,
    /// Of which with notes (e.g. fewer neighbours than asked for).
    pub with_notes: usize,
    /// Hosts with too little data, waiting for more.
    pub waiting: usize,
    /// Hosts whose training failed (each also has a warning of its own).
    pub failed: usize,
    /// Up to [`TrainSummary::NAMED`] hosts that wait, as `source/host`.
    pub waiting_hosts: Vec<String>,
}

impl TrainSummary {
    /// How many waiting hosts the line names.
    pub const NAMED: usize = 5;

    /// Counts the outcomes of a pass.
    pub fn of(results: &[TrainResult]) -> TrainSummary {
        let mut s = TrainSummary::default();
        for ((source, host), outcome, _) in results {
            match outcome {
                TrainOutcome::Trained { notes, .. } => {
                    s.trained += 1;
                    s.with_notes += usize::from(!notes.is_empty());
                }
                TrainOutcome::TooLittleData { .. } => {
                    s.waiting += 1;
                    if s.waiting_hosts.len() < Self::NAMED {
                        s.waiting_hosts.push(format!("{source}/{host}"));
                    }
                }
                TrainOutcome::Failed(_) => s.failed += 1,
            }
        }
        s
    }

    /// Logs the summary as one info line (nothing when the pass had no host).
    pub fn log(&self, what: &str) {
        if self.trained + self.waiting + self.failed == 0 {
            return;
        }
        info!(
            trained = self.trained,
            with_notes = self.with_notes,
            waiting_for_data = self.waiting,
            failed = self.failed,
            waiting = %self.waiting_hosts.join(", "),
            needed_lines = MIN_TRAINING_LINES,
            "{what} (per host at debug level: RUST_LOG=debug)"
        );
    }
}

/// Feedback says these lines are normal: each active mark of (source, host) adds its message
/// to the training lines once more, so it is learnt even when it fell out of the window.
fn add_feedback_lines(
    store: &mut Store,
    source: &str,
    host: &str,
    now_ms: i64,
    batch: &mut lad_store::Batch,
) -> Result<()> {
    let marks = store
        .list_feedback(Some(source), false)
        .with_context(|| format!("reading the feedback of {source}"))?;
    for f in marks.into_iter().filter(|f| f.mark.host == host) {
        batch.records.push(Record {
            id: lad_store::RecordId::Text(format!("feedback:{}", f.id)),
            source: source.to_string(),
            host: host.to_string(),
            time: now_ms,
            message: f.mark.message,
            extra: serde_json::Map::new(),
        });
    }
    Ok(())
}

/// The worker pool that trains and scores hosts, PARALLELISM threads, built once per process
/// (the daemon scores batch after batch; a pool per batch would start threads every time).
/// The first configuration seen sizes it.
fn pool(config: &Config) -> &'static rayon::ThreadPool {
    static POOL: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(config.parallelism.get())
            .build()
            .unwrap_or_else(|_| {
                rayon::ThreadPoolBuilder::new()
                    .build()
                    .expect("a default thread pool can always be built")
            })
    })
}

/// Counts from scoring passes.
#[derive(Debug, Default, Clone, Copy)]
pub struct DetectStats {
    /// Records read.
    pub read: u64,
    /// Verdicts written.
    pub scored: u64,
    /// Of which anomalous.
    pub flagged: u64,
    /// Malformed records marked.
    pub malformed: u64,
    /// Batches processed.
    pub batches: u64,
    /// Would-be anomalies marked normal because of feedback.
    pub suppressed: u64,
}

impl DetectStats {
    /// Adds another pass's counts.
    pub fn add(&mut self, o: DetectStats) {
        self.read += o.read;
        self.scored += o.scored;
        self.flagged += o.flagged;
        self.malformed += o.malformed;
        self.batches += o.batches;
        self.suppressed += o.suppressed;
    }
}

/// One batch a scoring pass read, scored and wrote: what observers of scored batches see.
#[derive(Debug, Default)]
pub struct ScoredBatch {
    /// The source the records came from.
    pub source: String,
    /// The records scored, in the order they were read.
    pub records: Vec<Record>,
    /// Their verdicts (records of a host without a model have none).
    pub verdicts: Vec<Verdict>,
    /// The counts of this batch.
    pub stats: DetectStats,
}

/// Scores one batch of at most INFER_MAX_ENTRIES unscored records of `source` whose host has a
/// model, and writes the verdicts in one batch. `stats.read == 0` means the backlog of this
/// source is empty.
pub fn detect_batch(
    config: &Config,
    stores: &mut Stores,
    source: &str,
    models: &Models,
) -> Result<ScoredBatch> {
    let hosts: Vec<String> = models
        .keys()
        .filter(|(s, _)| s == source)
        .map(|(_, h)| h.clone())
        .collect();
    if hosts.is_empty() {
        return Ok(ScoredBatch {
            source: source.to_string(),
            ..ScoredBatch::default()
        });
    }
    let started = std::time::Instant::now();
    let batch = stores
        .source
        .next_unscored(source, &hosts, config.infer_max_entries)
        .with_context(|| format!("reading unscored records of {source}"))?;
    let read_s = started.elapsed().as_secs_f64();
    let mut stats = DetectStats {
        read: (batch.records.len() + batch.malformed.len()) as u64,
        batches: 1,
        ..DetectStats::default()
    };
    for bad in &batch.malformed {
        stores
            .source
            .mark_malformed(source, &bad.id, &bad.reason)
            .with_context(|| format!("marking malformed record {} of {source}", bad.id))?;
        stats.malformed += 1;
    }
    let mut verdicts = score_records(config, source, &batch.records, models);
    stats.suppressed = apply_feedback(
        config,
        &mut stores.source,
        source,
        &batch.records,
        &mut verdicts,
    )?;
    stats.flagged = verdicts.iter().filter(|v| v.is_anomaly).count() as u64;
    let scored_at = started.elapsed().as_secs_f64();
    stats.scored = stores
        .sink()
        .write_verdicts(source, &verdicts, &batch.records)
        .with_context(|| format!("writing verdicts of {source}"))? as u64;
    tracing::debug!(
        source,
        records = batch.records.len(),
        read_s,
        score_s = scored_at - read_s,
        write_s = started.elapsed().as_secs_f64() - scored_at,
        "batch timings"
    );
    log_notices(stores);
    Ok(ScoredBatch {
        source: source.to_string(),
        records: batch.records,
        verdicts,
        stats,
    })
}

/// Turns the anomalies among `verdicts` that active feedback of `source` covers into normal
/// verdicts (SPEC section 7); returns how many. The marks are read from `store` every batch,
/// so a mark or an undo counts from the next batch on.
pub fn apply_feedback(
    config: &Config,
    store: &mut Store,
    source: &str,
    records: &[Record],
    verdicts: &mut [Verdict],
) -> Result<u64> {
    if !verdicts.iter().any(|v| v.is_anomaly) {
        return Ok(0);
    }
    let marks = store
        .list_feedback(Some(source), false)
        .with_context(|| format!("reading the feedback of {source}"))?;
    let suppressions = crate::feedback::Suppressions::new(&marks, tokenizer_mode(config));
    if suppressions.is_empty() {
        return Ok(0);
    }
    let by_id: HashMap<&lad_store::RecordId, &Record> =
        records.iter().map(|r| (&r.id, r)).collect();
    let mut n = 0;
    for v in verdicts.iter_mut().filter(|v| v.is_anomaly) {
        if let Some(r) = by_id.get(&v.id) {
            if suppressions.suppresses(&r.host, &r.message) {
                v.is_anomaly = false;
                n += 1;
            }
        }
    }
    Ok(n)
}

/// Scores records with their host's model, in parallel over hosts; the verdicts come back in
/// the order of `records`. Records of a host without a model are left out.
pub fn score_records(
    config: &Config,
    source: &str,
    records: &[Record],
    models: &Models,
) -> Vec<Verdict> {
    let hosts: Vec<&str> = records.iter().map(|r| r.host.as_str()).collect();
    let messages: Vec<&str> = records.iter().map(|r| r.message.as_str()).collect();
    let scored = pool(config).install(|| {
        lad_core::scoring::score_by_host(&hosts, &messages, false, |host| {
            models
                .get(&(source.to_string(), host.to_string()))
                .map(|m| m.as_ref())
        })
    });
    records
        .iter()
        .zip(scored)
        .filter_map(|(r, s)| {
            s.map(|s| Verdict {
                id: r.id.clone(),
                is_anomaly: s.is_anomaly,
                score: s.score,
            })
        })
        .collect()
}

/// The sources that have at least one model, each once, in order.
pub fn model_sources(models: &Models) -> Vec<String> {
    let mut sources: Vec<String> = models.keys().map(|(s, _)| s.clone()).collect();
    sources.dedup();
    sources
}

/// Loads the saved model of each (source, host); the ones that are missing or unusable are
/// returned separately with the reason, for training.
pub fn load_models(
    config: &Config,
    hosts: &[(String, String)],
) -> (Models, Vec<(HostKey, models::ModelStoreError)>) {
    let repo = models::ModelRepo::new(&config.model_base_dir);
    let (_, missing) = repo.load(hosts);
    (repo.snapshot(), missing)
}

/// The start of a window of length `span` that ends at `now_ms`. A span longer than the time
/// since the epoch (up to `TRAIN_TIME_SPAN: 9223372036854775807`) reaches back to the oldest
/// representable time: the window holds everything, it never wraps into an empty one.
pub fn window_start(now_ms: i64, span: std::time::Duration) -> i64 {
    now_ms.saturating_sub(i64::try_from(span.as_millis()).unwrap_or(i64::MAX))
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The (source, host) pairs of [`targets`], flattened.
pub fn host_pairs(config: &Config, store: &mut Store) -> Result<Vec<(String, String)>> {
    Ok(targets(config, store)?
        .into_iter()
        .flat_map(|(s, hosts)| hosts.into_iter().map(move |h| (s.clone(), h)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::window_start;
    use std::time::Duration;

    #[test]
    fn a_huge_window_holds_everything_instead_of_wrapping() {
        let now = 1_767_225_600_000;
        assert_eq!(window_start(now, Duration::from_secs(60)), now - 60_000);
        for secs in [u64::MAX, i64::MAX as u64, (i64::MAX / 1000) as u64 + 1] {
            let from = window_start(now, Duration::from_secs(secs));
            assert!(from < 0 && from <= now, "{secs} s gives {from}");
        }
    }
}
