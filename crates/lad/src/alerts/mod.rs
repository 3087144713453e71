//! Alerts: incident transitions sent to the receivers an operator configured — the Prometheus
//! Alertmanager v2 API (`ALERTMANAGER_URL`) and a generic JSON webhook (`ALERT_WEBHOOK_URL`,
//! Slack-compatible `text` plus the structured fields).
//!
//! The input is an [`AlertNotice`]: one transition (opened, grew, resolved) of one incident, as
//! the incident tracker emits it. [`Alerter::notify`] takes a notice without blocking its caller
//! (a scoring worker's observer): it appends the notice to each receiver's bounded intake under
//! a short lock and wakes that receiver's thread. Each receiver has its own thread
//! ([`sender`]), so a receiver that is down delays nobody else.
//!
//! Delivery rules, per receiver:
//! - Each notice is delivered once: a notice is accepted once (by its [`AlertNotice::key`]; the
//!   keys of the last [`outbox::RECENT_KEYS`] accepted notices are remembered, also across
//!   restarts), queued in order, and removed from the queue when the receiver answered 2xx.
//!   A transient failure (connection refused, timeout, 5xx, 408, 429) is retried with
//!   exponential backoff and jitter from a seeded generator, for as long as lad runs; another
//!   4xx answer is a permanent failure: logged, counted, and the notice is dropped.
//! - The queue is bounded ([`AlerterSettings::queue_capacity`]); when full, the oldest notice is
//!   dropped, logged and counted (`lad_alerts_dropped_total`).
//! - The queue is persisted in a small outbox file per receiver under the model directory
//!   ([`outbox`]), rewritten atomically whenever it changes, so a restart (or a kill -9 once the
//!   receiver thread has written it, normally within milliseconds) loses no pending notice.
//!   A kill between a receiver's 2xx answer and the rewrite sends that one notice again after
//!   the restart: Alertmanager merges a re-posted alert with the one it has, and webhook
//!   payloads carry the notice's `key` so a receiver can drop the repeat.
//! - Alertmanager forgets a firing alert that is not re-posted before its `endsAt`; the
//!   Alertmanager receiver keeps the set of firing alerts and re-posts them every
//!   [`AlerterSettings::resend_interval`] with `endsAt` three intervals ahead (Prometheus does
//!   the same with four), so a lad that stopped lets its alerts expire instead of firing for
//!   ever. The firing set is persisted in the outbox as well.
//!
//! This module knows nothing of how incidents are formed, of the store or of the config file:
//! [`crate::wiring::alerter_settings`] builds its [`AlerterSettings`].

mod error;
pub mod outbox;
pub mod payload;
pub mod sender;
mod stats;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::{error, warn};

pub use error::AlertError;
pub use stats::{AlertCounts, AlertStats};

/// Now, in unix milliseconds.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// What happened to an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transition {
    /// The incident was opened.
    Opened,
    /// It grew past a threshold (more lines, hosts or patterns).
    Grew,
    /// It was quiet for the quiet gap and is resolved.
    Resolved,
}

impl Transition {
    /// The lowercase name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Opened => "opened",
            Transition::Grew => "grew",
            Transition::Resolved => "resolved",
        }
    }
}

/// How urgent an incident is; the `severity` label of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Page someone.
    Critical,
    /// Look at it today.
    Warning,
    /// For the record.
    Info,
}

impl Severity {
    /// The lowercase name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// A pattern of an incident: its stable id and its template text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatternRef {
    /// The pattern's id (a content hash of the template).
    pub id: String,
    /// The template text, `<*>` or `***` where lines differ.
    pub template: String,
}

/// One transition of one incident, as the incident tracker reports it: the alerter's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertNotice {
    /// The incident's id.
    pub id: String,
    /// What happened.
    pub transition: Transition,
    /// The incident's state after the transition, as the tracker names it (`open`,
    /// `resolved`, `acknowledged`, `muted`).
    pub state: String,
    /// How urgent it is.
    pub severity: Severity,
    /// The log source (collection, table, topic) of its lines.
    pub source: String,
    /// The hosts its lines came from.
    pub hosts: Vec<String>,
    /// Its patterns, the main one first.
    pub patterns: Vec<PatternRef>,
    /// Why its lines are anomalous, in words.
    pub explanation: String,
    /// Time of its first line, unix milliseconds.
    pub first_seen_ms: i64,
    /// Time of its last line, unix milliseconds.
    pub last_seen_ms: i64,
    /// Lines in it.
    pub count: u64,
    /// The highest anomaly score among its lines.
    pub peak_score: f64,
}

impl AlertNotice {
    /// The identity of this notice: `<id>:opened`, `<id>:grew:<power of ten passed>` or
    /// `<id>:resolved`. An incident opens once, passes each power of ten once and resolves once,
    /// so a notice handed over again (the open incidents re-announced after a restart, a tracker
    /// replaying) has the key of the one sent before, whatever its count is by then.
    pub fn key(&self) -> String {
        match self.transition {
            Transition::Grew => {
                let mut power = 1u64;
                while power <= self.count / 10 {
                    power *= 10;
                }
                format!("{}:grew:{power}", self.id)
            }
            t => format!("{}:{}", self.id, t.as_str()),
        }
    }
}

/// The kind of a receiver; its name is the `receiver` label of the alert metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReceiverKind {
    /// The Alertmanager v2 API.
    Alertmanager,
    /// A generic JSON webhook.
    Webhook,
}

impl ReceiverKind {
    /// The metric label and outbox file name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiverKind::Alertmanager => "alertmanager",
            ReceiverKind::Webhook => "webhook",
        }
    }
}

/// One configured receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverSettings {
    /// Which API it speaks.
    pub kind: ReceiverKind,
    /// Where to post: the Alertmanager base address (`/api/v2/alerts` is appended unless
    /// given) or the webhook's full address.
    pub url: String,
}

/// Exponential backoff with jitter: the `n`-th retry (from 0) waits `first · 2ⁿ` capped at
/// `max`, times a factor drawn uniformly from `[1 − jitter, 1]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The wait before the first retry.
    pub first: Duration,
    /// The longest wait.
    pub max: Duration,
    /// The share of a wait that is random, in `[0, 1]`.
    pub jitter: f64,
}

impl Backoff {
    /// 1 s, doubled up to 30 s, up to half of it random: an Alertmanager back after a minute
    /// gets its alerts within 30 s, and many lads restarting together do not retry in step.
    pub const DEFAULT: Backoff = Backoff {
        first: Duration::from_secs(1),
        max: Duration::from_secs(30),
        jitter: 0.5,
    };

    /// The wait before retry number `retry` (0 for the first), with `unit` a uniform draw from
    /// `[0, 1)`.
    pub fn delay(&self, retry: u32, unit: f64) -> Duration {
        let base = self
            .first
            .saturating_mul(1u32 << retry.min(20))
            .min(self.max);
        let jitter = self.jitter.clamp(0.0, 1.0);
        base.mul_f64(1.0 - jitter * unit.clamp(0.0, 1.0))
    }
}

/// Everything the alerter needs, built from the configuration by
/// [`crate::wiring::alerter_settings`].
#[derive(Debug, Clone, PartialEq)]
pub struct AlerterSettings {
    /// The receivers; none means no alerter is started.
    pub receivers: Vec<ReceiverSettings>,
    /// The address of lad's page, linked from every alert.
    pub page_url: String,
    /// The folder of the outbox files (created when missing).
    pub outbox_dir: PathBuf,
    /// Notices kept per receiver before the oldest is dropped.
    pub queue_capacity: usize,
    /// Retry waits.
    pub backoff: Backoff,
    /// How often firing alerts are re-posted to Alertmanager.
    pub resend_interval: Duration,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
    /// Seed of the jitter generator (each receiver mixes in its kind).
    pub seed: u64,
    /// An opening or growth whose incident's last line is older than this when the notice
    /// arrives is history (a backlog being scored), not news: it pages nobody, and the
    /// resolution of an incident never announced is not sent either. `None`: every notice
    /// is news. lad sets the incident quiet gap.
    pub history_after: Option<Duration>,
}

impl AlerterSettings {
    /// Settings with lad's defaults for the given receivers.
    pub fn new(receivers: Vec<ReceiverSettings>, page_url: String, outbox_dir: PathBuf) -> Self {
        AlerterSettings {
            receivers,
            page_url,
            outbox_dir,
            queue_capacity: 10_000,
            backoff: Backoff::DEFAULT,
            resend_interval: Duration::from_secs(60),
            request_timeout: Duration::from_secs(10),
            seed: 1,
            history_after: None,
        }
    }
}

/// What a receiver thread and [`Alerter::notify`] share.
#[derive(Debug, Default)]
struct Shared {
    inner: Mutex<Intake>,
    wake: Condvar,
}

/// Notices not yet taken by the receiver thread, and the stop flag.
#[derive(Debug, Default)]
struct Intake {
    notices: VecDeque<AlertNotice>,
    stop: bool,
}

struct ReceiverHandle {
    kind: ReceiverKind,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// The running alerter: one thread per receiver. Share it with `Arc`; dropping it (or
/// [`Alerter::shutdown`]) stops the threads, leaving what is unsent in the outbox files.
pub struct Alerter {
    receivers: Vec<ReceiverHandle>,
    capacity: usize,
    stats: Arc<AlertStats>,
}

impl std::fmt::Debug for Alerter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kinds: Vec<&str> = self.receivers.iter().map(|r| r.kind.as_str()).collect();
        f.debug_struct("Alerter")
            .field("receivers", &kinds)
            .finish()
    }
}

impl Alerter {
    /// Starts one thread per receiver, after loading its outbox (pending notices of an earlier
    /// run are sent first). `Ok(None)` when no receiver is configured. Registers the receivers
    /// in `stats`, so their counters are exported from the start.
    pub fn start(
        settings: AlerterSettings,
        stats: Arc<AlertStats>,
    ) -> Result<Option<Alerter>, AlertError> {
        if settings.receivers.is_empty() {
            return Ok(None);
        }
        std::fs::create_dir_all(&settings.outbox_dir).map_err(|source| AlertError::Outbox {
            path: settings.outbox_dir.clone(),
            source,
        })?;
        let mut receivers = Vec::new();
        for r in &settings.receivers {
            stats.register(r.kind.as_str());
            let mut sender = sender::Sender::open(r, &settings, Arc::clone(&stats))?;
            let shared = Arc::new(Shared::default());
            let thread_shared = Arc::clone(&shared);
            let thread = std::thread::Builder::new()
                .name(format!("lad-alerts-{}", r.kind.as_str()))
                .spawn(move || sender.run(&thread_shared))
                .map_err(AlertError::Thread)?;
            receivers.push(ReceiverHandle {
                kind: r.kind,
                shared,
                thread: Some(thread),
            });
        }
        Ok(Some(Alerter {
            receivers,
            capacity: settings.queue_capacity.max(1),
            stats,
        }))
    }

    /// Hands a notice to every receiver. Never blocks beyond a short lock and never fails: a
    /// full intake drops its oldest notice (logged and counted).
    pub fn notify(&self, notice: AlertNotice) {
        for r in &self.receivers {
            let dropped = {
                let Ok(mut intake) = r.shared.inner.lock() else {
                    error!(
                        receiver = r.kind.as_str(),
                        "the alert intake lock was poisoned; notice lost"
                    );
                    continue;
                };
                intake.notices.push_back(notice.clone());
                if intake.notices.len() > self.capacity {
                    intake.notices.pop_front()
                } else {
                    None
                }
            };
            r.shared.wake.notify_one();
            if let Some(old) = dropped {
                self.stats.dropped(r.kind.as_str());
                warn!(receiver = r.kind.as_str(), dropped = %old.key(), "alert intake full; dropped the oldest notice");
            }
        }
    }

    /// Stops the receiver threads and waits for them (each finishes its current request, at
    /// most the request timeout). Unsent notices stay in the outbox files.
    pub fn shutdown(mut self) {
        self.stop_threads();
    }

    fn stop_threads(&mut self) {
        for r in &self.receivers {
            if let Ok(mut intake) = r.shared.inner.lock() {
                intake.stop = true;
            }
            r.shared.wake.notify_all();
        }
        for r in &mut self.receivers {
            if let Some(t) = r.thread.take() {
                if t.join().is_err() {
                    error!(
                        receiver = r.kind.as_str(),
                        "the alert sender thread panicked"
                    );
                }
            }
        }
    }
}

impl Drop for Alerter {
    fn drop(&mut self) {
        self.stop_threads();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_only_shortens() {
        let b = Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(30),
            jitter: 0.5,
        };
        let full: Vec<u64> = (0..7).map(|n| b.delay(n, 0.0).as_secs()).collect();
        assert_eq!(full, vec![1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(b.delay(3, 1.0), Duration::from_secs(4));
        assert_eq!(b.delay(3, 0.5), Duration::from_secs(6));
        assert_eq!(b.delay(u32::MAX, 0.0), Duration::from_secs(30));
    }

    #[test]
    fn notice_key_names_incident_transition_and_power_of_ten() {
        let mut n = payload::tests::notice("inc-1", Transition::Grew);
        assert_eq!(n.key(), "inc-1:grew:10");
        for (count, power) in [
            (10, 10),
            (99, 10),
            (100, 100),
            (1_234, 1_000),
            (u64::MAX, 10u64.pow(19)),
        ] {
            n.count = count;
            assert_eq!(n.key(), format!("inc-1:grew:{power}"), "count {count}");
        }
        n.transition = Transition::Opened;
        n.last_seen_ms += 60_000;
        assert_eq!(n.key(), "inc-1:opened");
        n.transition = Transition::Resolved;
        assert_eq!(n.key(), "inc-1:resolved");
    }
}
