//! Runtime stages of scoring, shared by `lad run`, `lad detect` and the demo: a [`Worker`] owns
//! one connection for scoring (opened through [`crate::wiring::open_for_scoring`]) and drains
//! sources batch by batch — poll the unscored records, score them with the models of
//! [`crate::models::ModelRepo`], write the verdicts, acknowledge — and hands every scored batch
//! to the [`Observer`]s. Observers are where what follows scoring hooks in (counters and
//! progress, patterns, incidents), without the worker knowing them.
//!
//! Stage order is the delivery guarantee: a batch is acknowledged only after its verdicts are
//! written, and observers see it only after both, so whatever an observer does cannot lose or
//! repeat a verdict. Observers run on a thread beside the worker, one batch behind it, so that
//! following a batch overlaps reading and scoring the next ([`Worker::drain`]); the incident
//! book writes through a connection of its own, so its writes may overlap the worker's (the
//! backends take two writers: SQLite waits for the other up to its busy timeout). For the
//! database backends acknowledging is the verdict itself (a record with a verdict is no longer
//! unscored); a stream source (Kafka) that also publishes the verdicts holds the acknowledged
//! records until the brokers confirm their verdicts and commits their offsets then, while the
//! worker reads and scores the next batch.
//!
//! [`drain_sources`] spreads sources over workers: several at once where the backend takes
//! parallel writers to different sources (MongoDB collections), one elsewhere (SQLite has one
//! writer, the file backends share their outputs, MySQL keeps bookkeeping in shared tables).
//! This module never trains models and never reads the configuration beyond what the passes
//! of [`crate::pipeline`] need.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use lad_store::RecordId;
use tracing::info;

use crate::config::{Config, SinkKind, SourceKind};
use crate::incidents::IncidentBook;
use crate::models::Models;
use crate::patterns::PatternBook;
use crate::pipeline::{self, DetectStats, ScoredBatch};
use crate::state::State;
use crate::wiring::{self, Stores};

/// Something that follows scored batches. Called after the batch's verdicts are written and
/// acknowledged, in the order of the batches, from a thread that follows the draining worker
/// one batch behind (see [`Worker::drain`]; one per worker, so possibly from several threads
/// at once); it must not fail the batch and should not block for long.
pub trait BatchObserver {
    /// Sees one scored batch.
    fn observe(&self, batch: &ScoredBatch);
}

/// The closed set of observers, dispatched by `match`.
pub enum Observer {
    /// The daemon's counters (read by `/metrics` and `/readyz`).
    State(Arc<State>),
    /// A progress bar over records read.
    Progress(indicatif::ProgressBar),
    /// One log line per non-empty batch.
    Log,
    /// The live patterns of every host (fed every scored line).
    Patterns(Arc<PatternBook>),
    /// Incidents (which feed the live patterns themselves: use this or `Patterns`, not both).
    Incidents(Arc<IncidentBook>),
}

impl BatchObserver for Observer {
    fn observe(&self, batch: &ScoredBatch) {
        let s = &batch.stats;
        match self {
            Observer::State(state) => {
                state.record_batch(s);
                state.record_anomalies(batch);
            }
            Observer::Progress(bar) => bar.inc(s.read),
            Observer::Patterns(book) => book.observe(batch),
            Observer::Incidents(book) => book.observe(batch),
            Observer::Log => {
                if s.read > 0 {
                    info!(
                        source = %batch.source,
                        read = s.read,
                        scored = s.scored,
                        flagged = s.flagged,
                        malformed = s.malformed,
                        "batch scored"
                    );
                }
            }
        }
    }
}

/// A scoring worker: one connection for polling records and writing verdicts.
pub struct Worker {
    stores: Stores,
}

impl Worker {
    /// Opens the worker's connection.
    pub fn open(config: &Config) -> Result<Worker> {
        Ok(Worker {
            stores: wiring::open_for_scoring(config)?,
        })
    }

    /// The worker's connection, for the control work done between batches (listing hosts,
    /// training, the lag gauge).
    pub fn stores(&mut self) -> &mut Stores {
        &mut self.stores
    }

    /// One batch of `source`: poll, score, write, acknowledge.
    fn score_batch(
        &mut self,
        config: &Config,
        source: &str,
        models: &Models,
    ) -> Result<ScoredBatch> {
        let batch = pipeline::detect_batch(config, &mut self.stores, source, models)?;
        // Acknowledge only now that the verdicts are written: a stream source commits its
        // offsets here; for the database backends the written verdict is the mark (the record
        // is no longer unscored) and acknowledging does nothing.
        if !batch.records.is_empty() {
            let ids: Vec<RecordId> = batch.records.iter().map(|r| r.id.clone()).collect();
            self.stores
                .source
                .acknowledge(source, &ids)
                .with_context(|| format!("acknowledging a batch of {source}"))?;
        }
        Ok(batch)
    }

    /// Scores `source` batch by batch until its backlog is empty or `stop` is set.
    ///
    /// The observers follow on a thread of their own, one batch behind: the next batch is
    /// read, scored and written while they see the last one (the live patterns and incidents
    /// cost about as much as the scoring). They still see every batch after it was
    /// acknowledged, in order, and all of them before this returns, an error included. The
    /// incident book writes through its own connection, so its writes may overlap the
    /// worker's; a kill between the two loses no incident line (the book's repair on start
    /// links the anomalies stored without one).
    pub fn drain(
        &mut self,
        config: &Config,
        source: &str,
        models: &Models,
        observers: &[Observer],
        stop: &AtomicBool,
    ) -> Result<DetectStats> {
        std::thread::scope(|scope| {
            // One batch waits while the observers see another: memory for two batches at most.
            let (scored, to_observe) = std::sync::mpsc::sync_channel::<ScoredBatch>(1);
            let follower = std::thread::Builder::new()
                .name("lad-observe".into())
                .spawn_scoped(scope, move || {
                    for batch in to_observe {
                        for o in observers {
                            o.observe(&batch);
                        }
                    }
                })
                .context("starting the thread that follows scored batches")?;
            let mut total = DetectStats::default();
            let result = loop {
                if stop.load(Ordering::Relaxed) {
                    break Ok(total);
                }
                let batch = match self.score_batch(config, source, models) {
                    Ok(b) => b,
                    Err(e) => break Err(e),
                };
                let stats = batch.stats;
                total.add(stats);
                // Fails only when the follower is gone, i.e. an observer panicked: the join
                // below passes the panic on.
                if scored.send(batch).is_err() || stats.read == 0 {
                    break Ok(total);
                }
            };
            drop(scored);
            if let Err(panic) = follower.join() {
                std::panic::resume_unwind(panic);
            }
            result
        })
    }
}

/// How many workers may drain sources at once: up to four on MongoDB,
/// whose sources are separate collections with no shared bookkeeping (the test server wrote
/// 43,000 records/s to two collections at once against 27,000 to one); one elsewhere.
pub fn max_workers(config: &Config) -> usize {
    match (config.storage_datasource, config.storage_datasink) {
        (SourceKind::Mongo, SinkKind::Mongo) => MAX_CONCURRENT_SOURCES,
        _ => 1,
    }
}

/// See [`max_workers`].
const MAX_CONCURRENT_SOURCES: usize = 4;

/// Drains every source in `sources` with the workers in `workers`, opening more (up to
/// [`max_workers`], never more than there are sources) when the backend allows parallel
/// writers. Each source is drained by one worker, so every record is still scored once.
/// `workers` must hold at least one open worker.
pub fn drain_sources(
    config: &Config,
    workers: &mut Vec<Worker>,
    sources: &[String],
    models: &Models,
    observers: &[Observer],
    stop: &AtomicBool,
) -> Result<DetectStats> {
    let wanted = max_workers(config).min(sources.len()).max(1);
    while workers.len() < wanted {
        workers.push(Worker::open(config)?);
    }
    let mut total = DetectStats::default();
    if wanted == 1 {
        let worker = workers
            .first_mut()
            .ok_or_else(|| anyhow::anyhow!("no scoring worker is open"))?;
        for source in sources {
            total.add(worker.drain(config, source, models, observers, stop)?);
        }
        return Ok(total);
    }
    let next = AtomicUsize::new(0);
    let results: Vec<Result<DetectStats>> = std::thread::scope(|scope| {
        let handles: Vec<_> = workers[..wanted]
            .iter_mut()
            .map(|worker| {
                let next = &next;
                scope.spawn(move || -> Result<DetectStats> {
                    let mut total = DetectStats::default();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(source) = sources.get(i) else {
                            return Ok(total);
                        };
                        total.add(worker.drain(config, source, models, observers, stop)?);
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a scoring worker panicked")))
            })
            .collect()
    });
    for r in results {
        total.add(r?);
    }
    Ok(total)
}

/// Whether incidents are formed: `INCIDENTS` is on and the sink keeps them (every backend but
/// `stdout` and `kafka`, which have no [`lad_store::IncidentStore`] role).
pub fn keeps_incidents(config: &Config) -> bool {
    config.incidents
        && matches!(
            config.storage_datasink,
            SinkKind::Sqlite | SinkKind::Local | SinkKind::Mongo | SinkKind::Mysql | SinkKind::Es
        )
}

/// The observer that follows patterns, and incidents when [`keeps_incidents`]: `lad run` and
/// `lad detect` build theirs here, so both form incidents alike. Returns the incident book when
/// there is one (its anomalies without an incident are folded in by [`IncidentBook::repair`],
/// which the caller runs once the models are loaded).
pub fn pattern_observer(
    config: &Config,
    patterns: &Arc<PatternBook>,
) -> (Observer, Option<Arc<IncidentBook>>) {
    if keeps_incidents(config) {
        let book = Arc::new(IncidentBook::new(config, Arc::clone(patterns)));
        (Observer::Incidents(Arc::clone(&book)), Some(book))
    } else {
        (Observer::Patterns(Arc::clone(patterns)), None)
    }
}
