//! What the daemon knows about itself, shared with whoever reports it (logs now, the HTTP
//! metrics and health endpoints): counters of lines read, scored and flagged, batches, errors by
//! kind, scoring lag, per-host model state, aggregation runs. Plain atomics and small maps
//! behind mutexes; recording never blocks scoring for long and never fails.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::alerts::{AlertCounts, AlertStats};

use crate::incidents::IncidentBook;
use crate::models::Models;
use crate::pipeline::DetectStats;

/// Per-host model facts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostState {
    /// Whether a model is loaded.
    pub has_model: bool,
    /// Unix milliseconds when the model in use was trained here (None if loaded from disk).
    pub trained_at_ms: Option<i64>,
    /// Seconds the last training took.
    pub training_seconds: Option<f64>,
}

/// Counters and gauges of a running daemon.
#[derive(Debug, Default)]
pub struct State {
    /// Records read from the store.
    pub lines_read: AtomicU64,
    /// Verdicts written.
    pub lines_scored: AtomicU64,
    /// Verdicts that were anomalies.
    pub lines_flagged: AtomicU64,
    /// Malformed records marked.
    pub lines_malformed: AtomicU64,
    /// Would-be anomalies that feedback turned into normal verdicts.
    pub lines_suppressed: AtomicU64,
    /// Scoring batches.
    pub batches: AtomicU64,
    /// Aggregation passes.
    pub aggregation_runs: AtomicU64,
    /// Hosts with too little data to train, whose lines wait unscored.
    pub hosts_waiting: AtomicU64,
    /// The time of the oldest unscored record (ms), `None` when nothing waits.
    oldest_unscored_ms: Mutex<Option<i64>>,
    store_ok: AtomicBool,
    errors: Mutex<BTreeMap<&'static str, u64>>,
    hosts: Mutex<BTreeMap<(String, String), HostState>>,
    anomalies: Mutex<BTreeMap<(String, String), u64>>,
    /// The alert receivers' counters, shared with the [`crate::alerts::Alerter`].
    pub alerts: Arc<AlertStats>,
    /// The daemon's incidents, when it keeps them: the HTTP side reads and marks them through
    /// it, so a mark and the tracker never disagree.
    incidents: OnceLock<Arc<IncidentBook>>,
}

/// The error kinds the daemon counts, exported at zero from start-up so that `rate()` and
/// `increase()` see the first error.
pub const ERROR_KINDS: [&str; 2] = ["store", "retrain"];

/// The most (source, host) series of `lad_anomalies_total`; anomalies of hosts past it count
/// under the host [`OTHER_HOSTS`]. Only hosts with a model are scored, so the configured hosts
/// (`LOG_SOURCES`), or the hosts found in the store, bound the set first; this bound is for
/// sources that discover hosts as they go (a stream).
pub const MAX_ANOMALY_SERIES: usize = 10_000;

/// The `host` label of anomalies of hosts past [`MAX_ANOMALY_SERIES`].
pub const OTHER_HOSTS: &str = "(other)";

impl State {
    /// Hands the daemon's incident book to whoever reports state (set once).
    pub fn set_incidents(&self, book: Arc<IncidentBook>) {
        let _ = self.incidents.set(book);
    }

    /// The daemon's incident book, if it keeps incidents.
    pub fn incidents(&self) -> Option<&Arc<IncidentBook>> {
        self.incidents.get()
    }

    /// Incidents open: not resolved and not pending (0 without an incident book).
    pub fn incidents_open(&self) -> u64 {
        self.incidents().map_or(0, |b| b.open_count())
    }

    /// Adds a scoring batch's counts.
    pub fn record_batch(&self, s: &DetectStats) {
        self.lines_read.fetch_add(s.read, Ordering::Relaxed);
        self.lines_scored.fetch_add(s.scored, Ordering::Relaxed);
        self.lines_flagged.fetch_add(s.flagged, Ordering::Relaxed);
        self.lines_malformed
            .fetch_add(s.malformed, Ordering::Relaxed);
        self.batches.fetch_add(s.batches, Ordering::Relaxed);
        self.lines_suppressed
            .fetch_add(s.suppressed, Ordering::Relaxed);
    }

    /// Counts an error of a kind (a small fixed set: `store`, `retrain`, ...).
    pub fn count_error(&self, kind: &'static str) {
        if let Ok(mut e) = self.errors.lock() {
            *e.entry(kind).or_default() += 1;
        }
    }

    /// Errors by kind, every kind of [`ERROR_KINDS`] included (at zero when none happened).
    pub fn errors(&self) -> BTreeMap<&'static str, u64> {
        let mut e = self.errors.lock().map(|e| e.clone()).unwrap_or_default();
        for kind in ERROR_KINDS {
            e.entry(kind).or_default();
        }
        e
    }

    /// Counts an aggregation pass.
    pub fn count_aggregation(&self) {
        self.aggregation_runs.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets the time of the oldest unscored record (`None`: nothing waits). The daemon sets it
    /// before a pass scores and again after, so the lag keeps growing while a long pass runs.
    pub fn set_oldest_unscored(&self, time_ms: Option<i64>) {
        if let Ok(mut t) = self.oldest_unscored_ms.lock() {
            *t = time_ms;
        }
    }

    /// The age of the oldest unscored record at `now_ms`, in seconds (0 when nothing waits).
    pub fn lag_at(&self, now_ms: i64) -> f64 {
        let oldest = self.oldest_unscored_ms.lock().map(|t| *t).unwrap_or(None);
        oldest.map_or(0.0, |t| now_ms.saturating_sub(t).max(0) as f64 / 1000.0)
    }

    /// The age of the oldest unscored record now, in seconds.
    pub fn lag(&self) -> f64 {
        self.lag_at(crate::pipeline::now_ms())
    }

    /// Whether the last pass reached the store.
    pub fn set_store_ok(&self, ok: bool) {
        self.store_ok.store(ok, Ordering::Relaxed);
    }

    /// Whether the last pass reached the store.
    pub fn store_ok(&self) -> bool {
        self.store_ok.load(Ordering::Relaxed)
    }

    /// Notes that (source, host) was trained just now in `seconds`.
    pub fn record_training(&self, key: &(String, String), seconds: f64) {
        if let Ok(mut h) = self.hosts.lock() {
            let e = h.entry(key.clone()).or_default();
            e.trained_at_ms = Some(crate::pipeline::now_ms());
            e.training_seconds = Some(seconds);
        }
    }

    /// Marks which hosts have a model.
    pub fn set_models(&self, models: &Models) {
        if let Ok(mut h) = self.hosts.lock() {
            for k in models.keys() {
                h.entry(k.clone()).or_default().has_model = true;
            }
        }
    }

    /// Counts the anomalies of a scored batch per (source, host).
    pub fn record_anomalies(&self, batch: &crate::pipeline::ScoredBatch) {
        if batch.stats.flagged == 0 {
            return;
        }
        // Verdicts follow their records in order (records of hosts without a model have none).
        let mut per_host: BTreeMap<&str, u64> = BTreeMap::new();
        let mut records = batch.records.iter();
        for v in batch.verdicts.iter().filter(|v| v.is_anomaly) {
            if let Some(r) = records.by_ref().find(|r| r.id == v.id) {
                *per_host.entry(r.host.as_str()).or_default() += 1;
            }
        }
        let Ok(mut a) = self.anomalies.lock() else {
            return;
        };
        for (host, n) in per_host {
            let key = (batch.source.clone(), host.to_string());
            let key = if a.contains_key(&key) || a.len() < MAX_ANOMALY_SERIES {
                key
            } else {
                (batch.source.clone(), OTHER_HOSTS.to_string())
            };
            *a.entry(key).or_default() += n;
        }
    }

    /// Anomalies per (source, host), zero for every host with a model.
    pub fn anomalies(&self) -> BTreeMap<(String, String), u64> {
        let mut out = self.anomalies.lock().map(|a| a.clone()).unwrap_or_default();
        for key in self.hosts().into_keys() {
            if out.len() >= MAX_ANOMALY_SERIES {
                break;
            }
            out.entry(key).or_default();
        }
        out
    }

    /// Counts per alert receiver.
    pub fn alert_counts(&self) -> BTreeMap<&'static str, AlertCounts> {
        self.alerts.counts()
    }

    /// Every known (source, host) and its state.
    pub fn hosts(&self) -> BTreeMap<(String, String), HostState> {
        self.hosts.lock().map(|h| h.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_the_age_of_the_oldest_unscored_record_when_read() {
        let state = State::default();
        assert_eq!(state.lag_at(10_000), 0.0, "nothing waits: no lag");
        state.set_oldest_unscored(Some(4_000));
        assert_eq!(state.lag_at(10_000), 6.0);
        // A scrape later in the same pass sees a larger lag, not the value of the last pass.
        assert_eq!(state.lag_at(52_000), 48.0);
        // A record stamped in the future is no negative lag.
        assert_eq!(state.lag_at(1_000), 0.0);
        state.set_oldest_unscored(None);
        assert_eq!(state.lag_at(52_000), 0.0);
    }
}
