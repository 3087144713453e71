//! `lad run`, the service (SPEC section 4).
//!
//! One loop owns the store connection: it scores the backlog of unscored records batch by batch
//! (each batch's verdicts written in one transaction, so a kill at any moment loses no verdict
//! and scores nothing twice: a restart reads exactly the records that still have none), then
//! sleeps INFER_TIME_SPAN seconds. Hosts without a model are trained on start (PARALLELISM at a
//! time); a host with too little data waits and is retried every pass. Retraining on
//! RETRAIN_SCHEDULE runs on its own thread with its own store connection, so scoring goes on;
//! the new models replace the old ones when they are ready. Aggregation runs on AGGR_SCHEDULE.
//! A store that fails is reported and retried with exponential backoff; the daemon never exits
//! for it. SIGTERM or SIGINT stops the loop between batches.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use time::OffsetDateTime;
use tracing::{error, info, warn};

use crate::config::{Config, CronSchedule};
use crate::pipeline::{self, Models, Stores, TrainOutcome};
use crate::state::State;
use crate::stored::log_train_outcome;

/// Longest wait between two attempts to reach a failing store.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Runs the daemon until SIGTERM or SIGINT.
pub fn run(config: Config) -> Result<()> {
    config
        .require_detection()
        .map_err(|e| crate::commands::UsageError(e.to_string()))?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    let state = Arc::new(State::default());
    let http = crate::http::spawn(&config, Arc::clone(&state), Arc::clone(&stop))?;
    Daemon::new(config, state, stop).run();
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
    models: Models,
    stores: Option<Stores>,
    backoff: Duration,
    next_retrain: Option<OffsetDateTime>,
    next_aggregate: Option<OffsetDateTime>,
    retrained: Option<mpsc::Receiver<Models>>,
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
        Daemon {
            config,
            state,
            stop,
            models: Models::new(),
            stores: None,
            backoff: Duration::from_secs(1),
            next_retrain,
            next_aggregate,
            retrained: None,
        }
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
            match self.pass() {
                Ok(()) => {
                    self.backoff = Duration::from_secs(1);
                    self.state.set_store_ok(true);
                    self.sleep(self.config.infer_time_span);
                }
                Err(e) => {
                    self.state.count_error("store");
                    self.state.set_store_ok(false);
                    error!(error = %format!("{e:#}"), retry_in_s = self.backoff.as_secs(), "pass failed; retrying");
                    self.stores = None;
                    self.sleep(self.backoff);
                    self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Sleeps up to `d`, waking early to stop.
    fn sleep(&self, d: Duration) {
        let until = Instant::now() + d;
        while !self.stopping() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(100).min(until - Instant::now()));
        }
    }

    fn stores(&mut self) -> Result<&mut Stores> {
        if self.stores.is_none() {
            self.stores = Some(pipeline::open_stores(&self.config)?);
        }
        Ok(self.stores.as_mut().expect("just opened"))
    }

    /// One pass: adopt retrained models, train what is missing, score the backlog, run what
    /// is due.
    fn pass(&mut self) -> Result<()> {
        if let Some(rx) = &self.retrained {
            if let Ok(new) = rx.try_recv() {
                info!(models = new.len(), "retrained models replace the old ones");
                self.models.extend(new);
                self.retrained = None;
                self.state.set_models(&self.models);
            }
        }
        self.ensure_models()?;
        self.score_backlog()?;
        let now = OffsetDateTime::now_utc();
        if self.next_retrain.is_some_and(|t| now >= t) && self.retrained.is_none() {
            self.start_retrain();
            self.next_retrain = self
                .config
                .retrain_schedule
                .next_after_instant(now, self.config.timezone.offset());
        }
        if self.next_aggregate.is_some_and(|t| now >= t) {
            let now_ms = pipeline::now_ms();
            let config = self.config.clone();
            let outcomes = pipeline::aggregate(&config, self.stores()?, now_ms)?;
            for o in outcomes {
                info!(input = %o.input, target = %o.target, anomalies = o.anomalies, aggregates = o.created, "aggregated");
            }
            self.state.count_aggregation();
            self.next_aggregate = self
                .config
                .aggr_schedule
                .next_after_instant(now, self.config.timezone.offset());
        }
        let lag = self.lag_seconds()?.unwrap_or(0.0);
        self.state.set_lag(lag);
        Ok(())
    }

    /// Loads or trains a model for every configured host that has none.
    fn ensure_models(&mut self) -> Result<()> {
        let config = self.config.clone();
        let hosts = pipeline::host_pairs(&config, &mut self.stores()?.source)?;
        let wanted: Vec<(String, String)> = hosts
            .into_iter()
            .filter(|k| !self.models.contains_key(k))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let (loaded, missing) = pipeline::load_models(&config, &wanted);
        for k in loaded.keys() {
            info!(source = %k.0, host = %k.1, "model loaded");
        }
        self.models.extend(loaded);
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
            for (k, outcome, model) in results {
                if let TrainOutcome::Trained { seconds, .. } = &outcome {
                    self.state.record_training(&k, *seconds);
                }
                log_train_outcome(&k.0, &k.1, &outcome);
                if let Some(m) = model {
                    self.models.insert(k, m);
                }
            }
        }
        self.state.set_models(&self.models);
        Ok(())
    }

    /// Scores every unscored record of the modelled hosts, batch by batch.
    fn score_backlog(&mut self) -> Result<()> {
        let sources = pipeline::model_sources(&self.models);
        let config = self.config.clone();
        for source in sources {
            while !self.stopping() {
                let models = &self.models;
                let stores = self
                    .stores
                    .as_mut()
                    .map_or_else(|| Err(anyhow::anyhow!("store not open")), Ok)?;
                let stats = pipeline::detect_batch(&config, stores, &source, models)?;
                self.state.record_batch(&stats);
                if stats.read == 0 {
                    break;
                }
                info!(
                    source = %source,
                    read = stats.read,
                    scored = stats.scored,
                    flagged = stats.flagged,
                    malformed = stats.malformed,
                    "batch scored"
                );
            }
        }
        Ok(())
    }

    fn lag_seconds(&mut self) -> Result<Option<f64>> {
        let sources = pipeline::model_sources(&self.models);
        let now = pipeline::now_ms();
        let mut oldest: Option<i64> = None;
        for s in sources {
            if let Some(t) = self.stores()?.source.oldest_unscored_time(&s)? {
                oldest = Some(oldest.map_or(t, |o| o.min(t)));
            }
        }
        Ok(oldest.map(|t| (now - t).max(0) as f64 / 1000.0))
    }

    /// Retrains every modelled host on a thread of its own, with its own store connection.
    fn start_retrain(&mut self) {
        let config = self.config.clone();
        let hosts: Vec<(String, String)> = self.models.keys().cloned().collect();
        let state = Arc::clone(&self.state);
        let (tx, rx) = mpsc::channel();
        self.retrained = Some(rx);
        info!(hosts = hosts.len(), "scheduled retraining started");
        std::thread::spawn(move || {
            let result = pipeline::open_stores(&config).and_then(|mut stores| {
                pipeline::train(&config, &mut stores.source, &hosts, pipeline::now_ms())
            });
            match result {
                Ok(results) => {
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
                    let _ = tx.send(new);
                }
                Err(e) => {
                    state.count_error("retrain");
                    error!(error = %format!("{e:#}"), "scheduled retraining failed; the old models stay");
                    let _ = tx.send(Models::new());
                }
            }
        });
    }
}
