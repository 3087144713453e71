//! `lad run`, the service (SPEC section 4).
//!
//! One loop drives the scoring workers of [`crate::runtime`]: they score the backlog of unscored
//! records batch by batch (each batch's verdicts written in one transaction, so a kill at any
//! moment loses no verdict and scores nothing twice: a restart reads exactly the records that
//! still have none) and hand each scored batch to the observers (the daemon's counters, a log
//! line); then the loop sleeps INFER_TIME_SPAN seconds (except after a stream's pass that saw
//! hosts come which it had no model for yet: the next pass, which gives them one, starts at
//! once). Hosts without a model are trained on start (PARALLELISM at a
//! time); a host with too little data waits and is retried every pass (one summary line per
//! pass names how many wait). Retraining on
//! RETRAIN_SCHEDULE runs on its own thread with its own connection for training, so scoring goes
//! on; the new models replace the old ones in the [`crate::models::ModelRepo`] when they are
//! ready. Aggregation runs on AGGR_SCHEDULE.
//! A store that fails is reported and retried with exponential backoff; the daemon never exits
//! for it. Its log says so in one line (the error chain on one line, without repeats); while the
//! same error repeats, each retry is a short line without it, and the pass that works again
//! says how long the store was away. A pass that reads no record is quiet: after
//! [`QUIET_PASSES`] quiet passes in a row the log says so once, then again every
//! [`QUIET_REMINDER`] while no record comes, and once more when records come back.
//! Per-host routine (a model loaded or trained, a host waiting for data) is at debug level, with
//! one summary line per pass that had any. SIGTERM or SIGINT stops the loop between batches.
//! When ALERTMANAGER_URL or ALERT_WEBHOOK_URL is set, an [`Alerter`] is started before the loop
//! ([`Daemon::alerter`] hands it to whoever reports incident transitions) and stopped after
//! it, leaving unsent notices in its outbox.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use time::OffsetDateTime;
use tracing::{debug, error, info, warn};

use crate::alerts::Alerter;
use crate::config::{Config, CronSchedule};
use crate::incidents::IncidentBook;
use crate::models::{ModelRepo, Models};
use crate::patterns::PatternBook;
use crate::pipeline::{self, log_train_outcome, TrainOutcome};
use crate::runtime::{drain_sources, Observer, Worker};
use crate::state::State;
use crate::wiring::{self, Stores};

/// Longest wait between two attempts to reach a failing store.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Quiet passes in a row (no record read) before the log says that no data comes.
pub const QUIET_PASSES: u64 = 10;

/// How often the log repeats that no data comes, while it stays so.
pub const QUIET_REMINDER: Duration = Duration::from_secs(3600);

/// What the daemon remembers of a failing store, so a repeated error is not logged again.
struct Outage {
    /// The error as logged, on one line.
    error: String,
    /// Failed passes so far.
    failures: u64,
    /// When the first one failed.
    since: Instant,
}

/// Passes in a row that read no record.
#[derive(Default)]
struct Quiet {
    passes: u64,
    since: Option<Instant>,
    /// When the log last said so; `None` until it has.
    told: Option<Instant>,
}

/// Runs the daemon until SIGTERM or SIGINT.
pub fn run(config: Config) -> Result<()> {
    config
        .require_detection()
        .map_err(|e| crate::error::UsageError(e.to_string()))?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    let state = Arc::new(State::default());
    let alerter = match crate::wiring::alerter_settings(&config)? {
        Some(settings) => Alerter::start(settings, Arc::clone(&state.alerts))?.map(Arc::new),
        None => None,
    };
    let http = crate::http::spawn(&config, Arc::clone(&state), Arc::clone(&stop))?;
    let mut daemon = Daemon::new(config, state, stop);
    if let Some(a) = alerter {
        daemon = daemon.with_alerter(a);
    }
    daemon.run();
    // Stops the alert senders once the daemon no longer holds them; what is unsent stays in
    // the outbox for the next start.
    drop(daemon);
    if http.join().is_err() {
        error!("the HTTP server thread panicked");
    }
    info!("stopped");
    Ok(())
}

/// The daemon's loop state.
pub struct Daemon {
    config: Config,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
    models: Arc<ModelRepo>,
    patterns: Arc<PatternBook>,
    /// Incidents, when they are kept (see [`crate::runtime::keeps_incidents`]).
    incidents: Option<Arc<IncidentBook>>,
    observers: Vec<Observer>,
    /// Scoring workers; the first also does the control work between batches. Empty after a
    /// store failure, so the next pass reopens them.
    workers: Vec<Worker>,
    backoff: Duration,
    next_retrain: Option<OffsetDateTime>,
    next_aggregate: Option<OffsetDateTime>,
    retraining: Option<std::thread::JoinHandle<()>>,
    /// Where incident transitions are sent, when a receiver is configured.
    alerter: Option<Arc<Alerter>>,
    /// The store's failure, while passes fail.
    outage: Option<Outage>,
    /// Passes without a record.
    quiet: Quiet,
    /// Hosts that waited for more training data in the last pass (logged when it changes).
    waiting: usize,
    /// The (source, host) pairs the last pass found to model (with a model or waiting).
    known_hosts: usize,
}

impl Daemon {
    /// A daemon that has not started yet.
    pub fn new(config: Config, state: Arc<State>, stop: Arc<AtomicBool>) -> Self {
        let now = OffsetDateTime::now_utc();
        let next = |s: &CronSchedule| s.next_after_instant(now, config.timezone.offset());
        let next_retrain = next(&config.retrain_schedule);
        let next_aggregate = if config.aggregation_enabled() {
            next(&config.aggr_schedule)
        } else {
            None
        };
        let models = Arc::new(ModelRepo::new(&config.model_base_dir));
        let patterns = Arc::new(PatternBook::new(
            &config.model_base_dir,
            Arc::clone(&models),
        ));
        let (follow, incidents) = crate::runtime::pattern_observer(&config, &patterns);
        if let Some(book) = &incidents {
            state.set_incidents(Arc::clone(book));
        }
        let observers = vec![Observer::State(Arc::clone(&state)), follow, Observer::Log];
        Daemon {
            config,
            state,
            stop,
            models,
            patterns,
            incidents,
            observers,
            workers: Vec::new(),
            backoff: Duration::from_secs(1),
            next_retrain,
            next_aggregate,
            retraining: None,
            alerter: None,
            outage: None,
            quiet: Quiet::default(),
            waiting: 0,
            known_hosts: 0,
        }
    }

    /// The daemon with an alerter for incident transitions.
    pub fn with_alerter(mut self, alerter: Arc<Alerter>) -> Self {
        info!(alerter = ?alerter, "alerts enabled");
        self.alerter = Some(alerter);
        self
    }

    /// The alerter, when alerts are configured (what incident observers hand notices to).
    pub fn alerter(&self) -> Option<&Arc<Alerter>> {
        self.alerter.as_ref()
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Runs until asked to stop.
    pub fn run(&mut self) {
        info!(
            infer_every_s = self.config.infer_time_span.as_secs(),
            retrain = self.config.retrain_schedule.as_str(),
            "lad run started"
        );
        while !self.stopping() {
            let result = self.pass();
            self.patterns.checkpoint();
            match result {
                Ok(read) => {
                    if let Some(o) = self.outage.take() {
                        info!(
                            failed_passes = o.failures,
                            down_s = o.since.elapsed().as_secs(),
                            "the store works again"
                        );
                    }
                    self.note_quiet(read);
                    self.backoff = Duration::from_secs(1);
                    self.state.set_store_ok(true);
                    if !self.new_hosts_came(read) {
                        self.sleep(self.config.infer_time_span);
                    }
                }
                Err(e) => {
                    self.state.count_error("store");
                    self.state.set_store_ok(false);
                    self.note_failure(&e);
                    self.workers.clear();
                    self.sleep(self.backoff);
                    self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Logs a failed pass: the error once, in one line; while the same error repeats, a short
    /// line per retry.
    fn note_failure(&mut self, e: &anyhow::Error) {
        let line = crate::telemetry::error_line(e);
        let retry_in_s = self.backoff.as_secs();
        match &mut self.outage {
            Some(o) if o.error == line => {
                o.failures += 1;
                warn!(
                    failed_passes = o.failures,
                    failing_for_s = o.since.elapsed().as_secs(),
                    retry_in_s,
                    "the store still fails with the same error; retrying"
                );
            }
            _ => {
                error!(error = %line, retry_in_s, "pass failed; retrying");
                let since = self.outage.as_ref().map_or_else(Instant::now, |o| o.since);
                let failures = self.outage.as_ref().map_or(0, |o| o.failures) + 1;
                self.outage = Some(Outage {
                    error: line,
                    failures,
                    since,
                });
            }
        }
    }

    /// Counts a pass that read `read` records, and says when no data has come for long.
    fn note_quiet(&mut self, read: u64) {
        let now = Instant::now();
        if read > 0 {
            if self.quiet.told.is_some() {
                info!(
                    quiet_passes = self.quiet.passes,
                    quiet_s = self.quiet.since.map_or(0, |t| t.elapsed().as_secs()),
                    records = read,
                    "new records again"
                );
            }
            self.quiet = Quiet::default();
            return;
        }
        self.quiet.passes += 1;
        let since = *self.quiet.since.get_or_insert(now);
        let due = match self.quiet.told {
            None => self.quiet.passes >= QUIET_PASSES,
            Some(t) => now.duration_since(t) >= QUIET_REMINDER,
        };
        if due {
            self.quiet.told = Some(now);
            warn!(
                quiet_passes = self.quiet.passes,
                quiet_s = now.duration_since(since).as_secs(),
                infer_every_s = self.config.infer_time_span.as_secs(),
                "no new records in the last passes; is anything still sending logs?"
            );
        }
    }

    /// Whether a pass that read `read` records from a stream saw hosts come that its models do
    /// not cover yet (partitions assigned, or first read, while it scored): their records are
    /// buffered, so the next pass, which gives them their models, starts at once instead of
    /// after INFER_TIME_SPAN. Hosts that wait for training data are not new: they wait as before.
    fn new_hosts_came(&mut self, read: u64) -> bool {
        if read == 0 || self.stopping() {
            return false;
        }
        let config = self.config.clone();
        let Ok(stores) = self.stores() else {
            return false;
        };
        if !stores.source.is_stream() {
            return false;
        }
        // An error here shows in the next pass, which reads the same way.
        let hosts = pipeline::host_pairs(&config, &mut stores.source).map_or(0, |h| h.len());
        hosts > self.known_hosts
    }

    /// Sleeps up to `d`, waking early to stop.
    fn sleep(&self, d: Duration) {
        let until = Instant::now() + d;
        while !self.stopping() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(100).min(until - Instant::now()));
        }
    }

    /// The connection for control work between batches: the first worker's.
    fn stores(&mut self) -> Result<&mut Stores> {
        if self.workers.is_empty() {
            self.workers.push(Worker::open(&self.config)?);
        }
        Ok(self.workers[0].stores())
    }

    /// One pass: adopt retrained models, train what is missing, score the backlog, run what
    /// is due. Returns the records read.
    fn pass(&mut self) -> Result<u64> {
        if self.retraining.as_ref().is_some_and(|h| h.is_finished()) {
            if let Some(h) = self.retraining.take() {
                if h.join().is_err() {
                    error!("the retraining thread panicked; the old models stay");
                }
            }
        }
        self.ensure_models()?;
        if let Some(book) = &self.incidents {
            // Once, with the models loaded: anomalies a kill left without an incident.
            book.repair()?;
        }
        // The lag is the age of the oldest unscored record as a scrape sees it: set before the
        // pass scores, so it grows while a long pass runs (it read 0 through a 42 s pass before).
        let oldest = self.oldest_unscored()?;
        self.state.set_oldest_unscored(oldest);
        let read = self.score_backlog()?;
        if let Some(book) = &self.incidents {
            // The backlog is scored: nothing older is coming, so quiet incidents resolve.
            book.tick(pipeline::now_ms());
        }
        self.forward_notices();
        let now = OffsetDateTime::now_utc();
        if self.next_retrain.is_some_and(|t| now >= t) && self.retraining.is_none() {
            self.start_retrain();
            self.next_retrain = self
                .config
                .retrain_schedule
                .next_after_instant(now, self.config.timezone.offset());
        }
        if self.next_aggregate.is_some_and(|t| now >= t) {
            let now_ms = pipeline::now_ms();
            let config = self.config.clone();
            let outcomes = crate::aggregation::aggregate(&config, self.stores()?, now_ms)?;
            for o in outcomes {
                info!(input = %o.input, target = %o.target, anomalies = o.anomalies, aggregates = o.created, "aggregated");
            }
            self.state.count_aggregation();
            self.next_aggregate = self
                .config
                .aggr_schedule
                .next_after_instant(now, self.config.timezone.offset());
        }
        let oldest = self.oldest_unscored()?;
        self.state.set_oldest_unscored(oldest);
        Ok(read)
    }

    /// Hands the incident transitions of this pass to the alerter, oldest first. Without an
    /// alerter they are dropped here (the book's queue is bounded either way).
    fn forward_notices(&self) {
        let Some(book) = &self.incidents else {
            return;
        };
        let notices = book.take_notices();
        let Some(alerter) = &self.alerter else {
            return;
        };
        for notice in &notices {
            if let Some(alert) = crate::incidents::alert_notice(notice) {
                alerter.notify(alert);
            }
        }
    }

    /// Loads or trains a model for every configured host that has none.
    fn ensure_models(&mut self) -> Result<()> {
        let config = self.config.clone();
        let hosts = pipeline::host_pairs(&config, &mut self.stores()?.source)?;
        self.known_hosts = hosts.len();
        if self.stores()?.source.is_stream() {
            // A stream's instance scores the hosts of its partitions: a rebalance moved the
            // others to another instance, which loads their models from MODEL_BASE_DIR.
            let given: std::collections::HashSet<&(String, String)> = hosts.iter().collect();
            let dropped = self.models.retain(|k| given.contains(k));
            if dropped > 0 {
                info!(
                    models = dropped,
                    "models of hosts now scored elsewhere dropped"
                );
                self.state.set_models(&self.models.snapshot());
            }
        }
        let wanted: Vec<(String, String)> = hosts
            .into_iter()
            .filter(|k| !self.models.contains(k))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let (loaded, missing) = self.models.load(&wanted);
        for k in &loaded {
            debug!(source = %k.0, host = %k.1, "model loaded");
        }
        if !loaded.is_empty() {
            info!(models = loaded.len(), "saved models loaded");
        }
        let to_train: Vec<(String, String)> = missing
            .into_iter()
            .map(|(k, why)| {
                if !matches!(why, crate::models::ModelStoreError::Missing(_)) {
                    warn!(source = %k.0, host = %k.1, %why, "saved model unusable; retraining");
                }
                k
            })
            .collect();
        if !to_train.is_empty() {
            let results = pipeline::train(
                &config,
                &mut self.stores()?.source,
                &to_train,
                pipeline::now_ms(),
            )?;
            let summary = pipeline::TrainSummary::of(&results);
            // Hosts that wait for data are retried every pass: say so when their number changes.
            if summary.trained + summary.failed > 0 || summary.waiting != self.waiting {
                summary.log("models trained");
            }
            self.waiting = summary.waiting;
            self.state
                .hosts_waiting
                .store(summary.waiting as u64, Ordering::Relaxed);
            self.models.put(adopt(&self.state, results));
        }
        self.state.set_models(&self.models.snapshot());
        Ok(())
    }

    /// Scores every unscored record of the modelled hosts, batch by batch; returns the records
    /// read.
    fn score_backlog(&mut self) -> Result<u64> {
        let models = self.models.snapshot();
        let sources = pipeline::model_sources(&models);
        if sources.is_empty() {
            return Ok(0);
        }
        self.stores()?;
        let stats = drain_sources(
            &self.config,
            &mut self.workers,
            &sources,
            &models,
            &self.observers,
            &self.stop,
        )?;
        Ok(stats.read)
    }

    /// The time of the oldest unscored record of the modelled hosts' sources, if any.
    fn oldest_unscored(&mut self) -> Result<Option<i64>> {
        let sources = pipeline::model_sources(&self.models.snapshot());
        let mut oldest: Option<i64> = None;
        for s in sources {
            if let Some(t) = self.stores()?.source.oldest_unscored_time(&s)? {
                oldest = Some(oldest.map_or(t, |o| o.min(t)));
            }
        }
        Ok(oldest)
    }

    /// Retrains every modelled host on a thread of its own, with its own connection for
    /// training; the new models go into use as soon as they are ready.
    fn start_retrain(&mut self) {
        let config = self.config.clone();
        let hosts: Vec<(String, String)> = self.models.snapshot().keys().cloned().collect();
        let state = Arc::clone(&self.state);
        let models = Arc::clone(&self.models);
        info!(hosts = hosts.len(), "scheduled retraining started");
        self.retraining = Some(std::thread::spawn(move || {
            let result = wiring::open_for_training(&config).and_then(|mut stores| {
                pipeline::train(&config, &mut stores.source, &hosts, pipeline::now_ms())
            });
            match result {
                Ok(results) => {
                    pipeline::TrainSummary::of(&results).log("scheduled retraining done");
                    let new = adopt(&state, results);
                    info!(models = new.len(), "retrained models replace the old ones");
                    models.put(new);
                    state.set_models(&models.snapshot());
                }
                Err(e) => {
                    state.count_error("retrain");
                    error!(error = %crate::error::chain(&e), "scheduled retraining failed; the old models stay");
                }
            }
        }));
    }
}

/// Logs and records the outcome of a training pass; returns the models it trained.
fn adopt(state: &State, results: Vec<pipeline::TrainResult>) -> Models {
    let mut new = Models::new();
    for (k, outcome, model) in results {
        if let TrainOutcome::Trained { seconds, .. } = &outcome {
            state.record_training(&k, *seconds);
        }
        log_train_outcome(&k.0, &k.1, &outcome);
        if let Some(m) = model {
            new.insert(k, m);
        }
    }
    new
}
