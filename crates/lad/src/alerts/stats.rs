//! The alert receivers' counters: what `/metrics` exports as `lad_alerts_sent_total`,
//! `lad_alert_failures_total`, `lad_alerts_dropped_total` and `lad_alert_queue_length`, by
//! receiver. The alerter writes them; the daemon's [`crate::state::State`] holds them. A small
//! map behind a mutex: touched once per notice or request, never on the scoring path.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Counts of one alert receiver.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlertCounts {
    /// Notices delivered (answered 2xx).
    pub sent: u64,
    /// Failed requests (each retry counts; refused notices and failed re-posts too).
    pub failures: u64,
    /// Notices dropped because the queue was full.
    pub dropped: u64,
    /// Notices waiting now.
    pub queued: u64,
}

/// Counters per receiver (`alertmanager`, `webhook`).
#[derive(Debug, Default)]
pub struct AlertStats {
    receivers: Mutex<BTreeMap<&'static str, AlertCounts>>,
}

impl AlertStats {
    fn with(&self, receiver: &'static str, f: impl FnOnce(&mut AlertCounts)) {
        if let Ok(mut r) = self.receivers.lock() {
            f(r.entry(receiver).or_default());
        }
    }

    /// Declares a receiver, so its counters exist (at zero) from the start.
    pub fn register(&self, receiver: &'static str) {
        self.with(receiver, |_| {});
    }

    /// Counts a delivered notice.
    pub fn sent(&self, receiver: &'static str) {
        self.with(receiver, |c| c.sent += 1);
    }

    /// Counts a failed request.
    pub fn failure(&self, receiver: &'static str) {
        self.with(receiver, |c| c.failures += 1);
    }

    /// Counts a notice dropped from a full queue.
    pub fn dropped(&self, receiver: &'static str) {
        self.with(receiver, |c| c.dropped += 1);
    }

    /// Sets the number of notices waiting.
    pub fn queued(&self, receiver: &'static str, n: usize) {
        self.with(receiver, |c| c.queued = n as u64);
    }

    /// Every receiver's counts.
    pub fn counts(&self) -> BTreeMap<&'static str, AlertCounts> {
        self.receivers.lock().map(|r| r.clone()).unwrap_or_default()
    }
}
