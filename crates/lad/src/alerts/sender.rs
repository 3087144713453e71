//! One receiver's thread: takes notices from the intake, turns each into what the receiver is
//! posted ([`super::payload`]), queues it in the [`Outbox`] (saved before anything is sent),
//! and delivers the queue in order over HTTP with `ureq` (blocking, on this thread only). The
//! head of the queue is retried after transient failures with [`super::Backoff`] waits whose
//! jitter comes from a `ChaCha8Rng` seeded from the settings; nothing behind it is sent before
//! it, so a receiver sees an incident's transitions in order. For Alertmanager, when the queue
//! is empty the firing alerts are re-posted every resend interval.
//!
//! Every delivered notice counts in `lad_alerts_sent_total`, every failed request (a notice or
//! a re-post) in `lad_alert_failures_total`, both labelled with the receiver.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use tracing::{debug, error, info, warn};

use super::outbox::{Outbox, Payload, Pending};
use super::payload::{self, AmAlert};
use super::{
    now_ms, AlertError, AlertNotice, AlertStats, AlerterSettings, Backoff, ReceiverKind,
    ReceiverSettings, Shared, Transition,
};

/// Alerts per request when the firing set is re-posted.
const KEEPALIVE_CHUNK: usize = 500;

/// Bytes of an error answer quoted in the log.
const ANSWER_QUOTED: u64 = 512;

/// A receiver's sending side, owned by its thread.
pub struct Sender {
    kind: ReceiverKind,
    url: String,
    page_url: String,
    agent: ureq::Agent,
    outbox: Outbox,
    capacity: usize,
    backoff: Backoff,
    resend: Duration,
    history_after: Option<Duration>,
    rng: ChaCha8Rng,
    stats: Arc<AlertStats>,
    /// Consecutive failed attempts of the current head (or re-post).
    retries: u32,
    next_attempt: Instant,
    next_keepalive: Instant,
}

/// The address notices are posted to: for Alertmanager the v2 alerts endpoint under the base.
pub fn post_url(kind: ReceiverKind, url: &str) -> String {
    match kind {
        ReceiverKind::Webhook => url.to_string(),
        ReceiverKind::Alertmanager => {
            let base = url.trim_end_matches('/');
            if base.ends_with("/api/v2/alerts") {
                base.to_string()
            } else {
                format!("{base}/api/v2/alerts")
            }
        }
    }
}

impl Sender {
    /// The sender of `receiver`, with its outbox loaded.
    pub fn open(
        receiver: &ReceiverSettings,
        settings: &AlerterSettings,
        stats: Arc<AlertStats>,
    ) -> Result<Sender, AlertError> {
        let path = settings
            .outbox_dir
            .join(format!("{}.outbox.json", receiver.kind.as_str()));
        let outbox = Outbox::load(&path)?;
        if !outbox.pending.is_empty() || !outbox.firing.is_empty() {
            info!(
                receiver = receiver.kind.as_str(),
                pending = outbox.pending.len(),
                firing_incidents = outbox.firing.len(),
                "alert outbox of an earlier run loaded; sending it first"
            );
        }
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(settings.request_timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("lad/", env!("CARGO_PKG_VERSION")))
            .build();
        let now = Instant::now();
        let sender = Sender {
            kind: receiver.kind,
            url: post_url(receiver.kind, &receiver.url),
            page_url: settings.page_url.clone(),
            agent: ureq::Agent::new_with_config(config),
            outbox,
            capacity: settings.queue_capacity.max(1),
            backoff: settings.backoff,
            resend: settings.resend_interval.max(Duration::from_millis(100)),
            history_after: settings.history_after,
            rng: ChaCha8Rng::seed_from_u64(settings.seed ^ (receiver.kind as u64 + 1)),
            stats,
            retries: 0,
            next_attempt: now,
            next_keepalive: now,
        };
        sender
            .stats
            .queued(sender.name(), sender.outbox.pending.len());
        Ok(sender)
    }

    fn name(&self) -> &'static str {
        self.kind.as_str()
    }

    /// The thread's loop: until the intake says stop.
    pub(super) fn run(&mut self, shared: &Shared) {
        loop {
            let (notices, stop) = match shared.inner.lock() {
                Ok(mut intake) => (std::mem::take(&mut intake.notices), intake.stop),
                Err(_) => {
                    error!(
                        receiver = self.name(),
                        "the alert intake lock was poisoned; sender stops"
                    );
                    return;
                }
            };
            if !notices.is_empty() {
                self.accept(notices);
                self.save();
            }
            if stop {
                return;
            }
            let now = Instant::now();
            let wake_at = if !self.outbox.pending.is_empty() {
                if now >= self.next_attempt {
                    self.deliver_head();
                    continue;
                }
                self.next_attempt
            } else if self.kind == ReceiverKind::Alertmanager && !self.outbox.firing.is_empty() {
                let due = self.next_keepalive.max(self.next_attempt);
                if now >= due {
                    self.keepalive();
                    continue;
                }
                due
            } else {
                now + Duration::from_secs(3600)
            };
            let Ok(mut intake) = shared.inner.lock() else {
                return;
            };
            while intake.notices.is_empty() && !intake.stop {
                let now = Instant::now();
                if now >= wake_at {
                    break;
                }
                match shared.wake.wait_timeout(intake, wake_at - now) {
                    Ok((guard, _)) => intake = guard,
                    Err(_) => return,
                }
            }
        }
    }

    /// Whether `n` is history rather than news (see [`AlerterSettings::history_after`]).
    fn is_history(&self, n: &AlertNotice, now_ms: i64) -> bool {
        let Some(after) = self.history_after else {
            return false;
        };
        let after = i64::try_from(after.as_millis()).unwrap_or(i64::MAX);
        match n.transition {
            Transition::Opened | Transition::Grew => {
                n.last_seen_ms.saturating_add(after) < now_ms && !self.outbox.announced(&n.id)
            }
            Transition::Resolved => !self.outbox.announced(&n.id),
        }
    }

    /// Queues the notices not seen before.
    fn accept(&mut self, notices: std::collections::VecDeque<AlertNotice>) {
        let now_ms = now_ms();
        let mut history = 0usize;
        for n in notices {
            let key = n.key();
            if self.outbox.seen(&key) {
                debug!(
                    receiver = self.name(),
                    key, "notice already accepted; not sent again"
                );
                continue;
            }
            if self.is_history(&n, now_ms) {
                debug!(
                    receiver = self.name(),
                    key, "incident over before lad saw it; not sent"
                );
                history += 1;
                continue;
            }
            let payload = match self.kind {
                ReceiverKind::Webhook => {
                    Payload::Webhook(payload::webhook_body(&n, &self.page_url))
                }
                ReceiverKind::Alertmanager => {
                    let firing = self.outbox.firing.get(&n.id).map_or(&[][..], Vec::as_slice);
                    let (post, still) =
                        payload::alertmanager_alerts(&n, firing, &self.page_url, now_ms);
                    if still.is_empty() {
                        self.outbox.firing.remove(&n.id);
                    } else {
                        self.outbox.firing.insert(n.id.clone(), still);
                    }
                    Payload::Alertmanager(post)
                }
            };
            if let Some(old) = self.outbox.push(Pending { key, payload }, self.capacity) {
                self.stats.dropped(self.name());
                warn!(receiver = self.name(), dropped = %old.key, capacity = self.capacity, "alert queue full; dropped the oldest notice");
            }
        }
        if history > 0 {
            info!(
                receiver = self.name(),
                notices = history,
                "notices of incidents that were over before lad scored their lines (a backlog) not sent"
            );
        }
    }

    fn save(&mut self) {
        self.stats.queued(self.name(), self.outbox.pending.len());
        if let Err(e) = self.outbox.save() {
            error!(receiver = self.name(), error = %e, "saving the alert outbox failed; pending alerts live in memory only");
        }
    }

    /// When a firing alert posted now stops firing unless re-posted.
    fn firing_until_ms(&self) -> i64 {
        let ttl = i64::try_from(self.resend.as_millis().saturating_mul(3)).unwrap_or(i64::MAX / 2);
        now_ms().saturating_add(ttl)
    }

    fn body(&self, payload: &Payload) -> Vec<u8> {
        match payload {
            Payload::Alertmanager(alerts) => {
                payload::alertmanager_body(alerts, self.firing_until_ms())
            }
            Payload::Webhook(doc) => serde_json::to_vec(doc).unwrap_or_default(),
        }
    }

    /// One attempt at the oldest pending notice.
    fn deliver_head(&mut self) {
        let Some(head) = self.outbox.pending.front() else {
            return;
        };
        let key = head.key.clone();
        let body = self.body(&head.payload);
        match self.post(&body) {
            Ok(()) => {
                self.outbox.pending.pop_front();
                self.stats.sent(self.name());
                self.retries = 0;
                info!(receiver = self.name(), key, "alert delivered");
                self.save();
            }
            Err(e @ AlertError::Refused { .. }) => {
                if let Some(Pending {
                    payload: Payload::Alertmanager(refused),
                    ..
                }) = self.outbox.pending.pop_front()
                {
                    // What the receiver refused is not re-posted as firing either: it would
                    // be refused again on every re-post, and hold back the alerts beside it.
                    self.forget_firing(&refused);
                }
                self.stats.failure(self.name());
                self.retries = 0;
                error!(receiver = self.name(), key, error = %e, "alert refused; dropped");
                self.save();
            }
            Err(e) => self.failed(&e, &key),
        }
    }

    /// Drops `alerts` (by labels) from the firing set.
    fn forget_firing(&mut self, alerts: &[AmAlert]) {
        self.outbox.firing.retain(|_, firing| {
            firing.retain(|f| !alerts.iter().any(|a| a.labels == f.labels));
            !firing.is_empty()
        });
    }

    /// Re-posts every firing alert so Alertmanager keeps them. A request the receiver refuses
    /// for good is re-sent an alert at a time, and the alerts refused alone leave the firing
    /// set (logged and counted once), so one bad alert does not keep the others from firing.
    fn keepalive(&mut self) {
        let alerts: Vec<AmAlert> = self.outbox.firing.values().flatten().cloned().collect();
        let until = self.firing_until_ms();
        for chunk in alerts.chunks(KEEPALIVE_CHUNK) {
            match self.post(&payload::alertmanager_body(chunk, until)) {
                Ok(()) => {}
                Err(AlertError::Refused { .. }) => {
                    let mut refused = Vec::new();
                    for alert in chunk {
                        match self.post(&payload::alertmanager_body(
                            std::slice::from_ref(alert),
                            until,
                        )) {
                            Ok(()) => {}
                            Err(e @ AlertError::Refused { .. }) => {
                                self.stats.failure(self.name());
                                error!(receiver = self.name(), labels = ?alert.labels, error = %e, "firing alert refused on re-post; no longer re-posted");
                                refused.push(alert.clone());
                            }
                            Err(e) => {
                                self.forget_firing(&refused);
                                self.save();
                                self.failed(&e, "re-post of firing alerts");
                                return;
                            }
                        }
                    }
                    self.forget_firing(&refused);
                    self.save();
                }
                Err(e) => {
                    self.failed(&e, "re-post of firing alerts");
                    return;
                }
            }
        }
        debug!(
            receiver = self.name(),
            alerts = alerts.len(),
            "firing alerts re-posted"
        );
        self.retries = 0;
        self.next_keepalive = Instant::now() + self.resend;
    }

    fn failed(&mut self, e: &AlertError, what: &str) {
        self.stats.failure(self.name());
        let wait = self.backoff.delay(self.retries, self.rng.random::<f64>());
        self.retries = self.retries.saturating_add(1);
        self.next_attempt = Instant::now() + wait;
        warn!(receiver = self.name(), what, error = %e, attempt = self.retries, retry_in_ms = wait.as_millis() as u64, "alert delivery failed");
    }

    fn post(&self, body: &[u8]) -> Result<(), AlertError> {
        let transient = |reason: String| AlertError::Transient {
            receiver: self.name(),
            url: self.url.clone(),
            reason,
        };
        let mut response = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json")
            .send(body)
            .map_err(|e| transient(e.to_string()))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let answer = response
            .body_mut()
            .with_config()
            .limit(ANSWER_QUOTED)
            .read_to_string()
            .unwrap_or_default();
        let reason = format!("HTTP {status}: {}", answer.trim());
        if status == 408 || status == 429 || status >= 500 {
            Err(transient(reason))
        } else {
            Err(AlertError::Refused {
                receiver: self.name(),
                url: self.url.clone(),
                reason,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alertmanager_address_gets_the_v2_path_once() {
        let am = ReceiverKind::Alertmanager;
        assert_eq!(
            post_url(am, "http://am:9093"),
            "http://am:9093/api/v2/alerts"
        );
        assert_eq!(
            post_url(am, "http://am:9093/"),
            "http://am:9093/api/v2/alerts"
        );
        assert_eq!(
            post_url(am, "http://am/x/api/v2/alerts"),
            "http://am/x/api/v2/alerts"
        );
        assert_eq!(
            post_url(ReceiverKind::Webhook, "http://h/hook/"),
            "http://h/hook/"
        );
    }
}
