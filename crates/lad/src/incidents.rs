//! Incidents as the running system keeps them (issue 15): [`IncidentBook`], the observer of
//! scored batches that turns anomalies, rate jumps and silent heartbeats into incidents with
//! [`lad_core::incident::Tracker`] and keeps them in the store's
//! [`IncidentStore`](lad_store::IncidentStore) role, one write per batch: the incidents the
//! batch changed and the link of each of its anomalies to its incident, in one transaction
//! (sqlite, MySQL), one journal line (`local`), or links first (MongoDB, Elasticsearch).
//!
//! It feeds the host patterns itself ([`PatternBook::observe_each`]), so a runtime uses either
//! `Observer::Patterns` or `Observer::Incidents`, never both. Per batch and host: each flagged
//! line is a signal (its pattern, whether the pattern was in the host's training window, its
//! score); each pattern the batch touched is checked for a rate jump
//! ([`lad_core::incident::rate_jump`]); at most every [`SILENCE_CHECK_MS`] of a host's event
//! time, every pattern of the host is checked for silence ([`lad_core::incident::silence`]).
//!
//! Restarts and kills: the tracker starts from the incidents stored as open, then
//! [`IncidentBook::repair`] folds in the anomalies stored without a link (scored, but the
//! process died before their incident was written, or scored before incidents existed), so no
//! anomaly is lost and none is counted twice. A failed write is kept and retried with the next
//! batch; what a kill loses of it, repair finds again. Transitions go to a bounded queue of
//! [`Notice`]s for an alert sender ([`IncidentBook::take_notices`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use lad_core::incident::{
    rate_jump, silence, Event, Incident, IncidentParams, IncidentState, IncidentValidParams,
    Reason, Severity, Signal, Tracker, Transition,
};
use lad_core::pattern::PatternId;
use lad_core::syslog;
use lad_store::{IncidentLink, IncidentQuery, RecordId, StoredIncident};
use serde_json::{json, Value};
use tracing::{info, warn};

use crate::config::Config;
use crate::patterns::{HostPatterns, PatternBook};
use crate::pipeline::ScoredBatch;
use crate::wiring::{self, Stores};

/// How often (event time, per host) every pattern of a host is checked for silence.
pub const SILENCE_CHECK_MS: i64 = 600_000;
/// Most anomalies of a source folded in by [`IncidentBook::repair`] (the newest).
pub const REPAIR_MAX: usize = 200_000;
/// Most notices kept for a sender that does not take them (the oldest are dropped).
pub const NOTICE_QUEUE: usize = 10_000;

/// One transition of one incident, with what an alert needs: the input of an alert sender.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// The incident's id.
    pub id: String,
    /// What happened.
    pub transition: Transition,
    /// Its state now (a muted incident's notices should not page anyone).
    pub state: IncidentState,
    /// How alarming it is.
    pub severity: Severity,
    /// The source of its lines.
    pub source: String,
    /// Its hosts.
    pub hosts: Vec<String>,
    /// Its patterns: (id as 16 hex digits, template).
    pub patterns: Vec<(String, String)>,
    /// Why it is anomalous, in words.
    pub explanation: String,
    /// First line, unix ms.
    pub first_seen_ms: i64,
    /// Last line, unix ms.
    pub last_seen_ms: i64,
    /// Lines.
    pub count: u64,
    /// Highest score.
    pub peak_score: f64,
}

impl Notice {
    fn new(i: &Incident, transition: Transition, now_ms: i64) -> Notice {
        Notice {
            id: i.id.clone(),
            transition,
            state: i.state_at(now_ms),
            severity: i.severity(),
            source: i.source.clone(),
            hosts: i.hosts.iter().cloned().collect(),
            patterns: i
                .patterns
                .iter()
                .map(|p| (p.id.to_string(), p.template.clone()))
                .collect(),
            explanation: i.explanation(),
            first_seen_ms: i.first_seen_ms,
            last_seen_ms: i.last_seen_ms,
            count: i.count,
            peak_score: i.peak_score,
        }
    }
}

/// The alert for an incident's transition, or `None` when nobody should be paged: the
/// opening or growth of a muted incident (its resolution is still sent, so that an alert that
/// fired before the mute ends). Severity: `critical` for fatal words, `warning` for error and
/// warning words, rate jumps and silent heartbeats, `info` otherwise.
pub fn alert_notice(n: &Notice) -> Option<crate::alerts::AlertNotice> {
    use crate::alerts::{AlertNotice, PatternRef, Severity as AlertSeverity, Transition as Sent};
    let transition = match n.transition {
        Transition::Opened => Sent::Opened,
        Transition::Grew { .. } => Sent::Grew,
        Transition::Resolved => Sent::Resolved,
    };
    if n.state == IncidentState::Muted && transition != Sent::Resolved {
        return None;
    }
    let severity = match n.severity {
        Severity::Critical => AlertSeverity::Critical,
        Severity::Error | Severity::Warning => AlertSeverity::Warning,
        Severity::Info => AlertSeverity::Info,
    };
    Some(AlertNotice {
        id: n.id.clone(),
        transition,
        state: n.state.as_str().to_string(),
        severity,
        source: n.source.clone(),
        hosts: n.hosts.clone(),
        patterns: n
            .patterns
            .iter()
            .map(|(id, template)| PatternRef {
                id: id.clone(),
                template: template.clone(),
            })
            .collect(),
        explanation: n.explanation.clone(),
        first_seen_ms: n.first_seen_ms,
        last_seen_ms: n.last_seen_ms,
        count: n.count,
        peak_score: n.peak_score,
    })
}

/// The incident settings of a configuration (`INCIDENT_QUIET_GAP`; the other rules keep the
/// defaults documented in [`lad_core::incident`]).
pub fn params(config: &Config) -> IncidentValidParams {
    let quiet_gap_ms = i64::try_from(config.incident_quiet_gap.as_millis()).unwrap_or(i64::MAX);
    IncidentParams {
        quiet_gap_ms,
        ..IncidentParams::default()
    }
    .check()
    .unwrap_or_default()
}

struct Inner {
    tracker: Tracker,
    stores: Option<Stores>,
    /// Incidents and links not yet written (a write failed).
    pending: BTreeMap<String, Incident>,
    pending_links: Vec<IncidentLink>,
    /// Per (source, host): the event time of the last silence check.
    silence_checked: HashMap<(String, String), i64>,
    restored: bool,
    repaired: bool,
}

/// The incidents of every source, fed by scored batches. See the module docs.
pub struct IncidentBook {
    config: Config,
    params: IncidentValidParams,
    patterns: Arc<PatternBook>,
    inner: Mutex<Inner>,
    notices: Mutex<VecDeque<Notice>>,
    open: AtomicU64,
}

impl std::fmt::Debug for IncidentBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncidentBook")
            .field("open", &self.open_count())
            .finish_non_exhaustive()
    }
}

impl IncidentBook {
    /// A book over `patterns` that keeps incidents in the store of `config` (opened on first
    /// use, through [`wiring::open_for_state`]).
    pub fn new(config: &Config, patterns: Arc<PatternBook>) -> Self {
        IncidentBook {
            config: config.clone(),
            params: params(config),
            patterns,
            inner: Mutex::new(Inner {
                tracker: Tracker::new(params(config)),
                stores: None,
                pending: BTreeMap::new(),
                pending_links: Vec::new(),
                silence_checked: HashMap::new(),
                restored: false,
                repaired: false,
            }),
            notices: Mutex::new(VecDeque::new()),
            open: AtomicU64::new(0),
        }
    }

    /// The patterns this book feeds.
    pub fn patterns(&self) -> &Arc<PatternBook> {
        &self.patterns
    }

    /// Incidents open: not resolved and not pending (the `lad_incidents_open` gauge).
    pub fn open_count(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    /// Takes the notices of transitions since the last call, oldest first.
    pub fn take_notices(&self) -> Vec<Notice> {
        self.notices
            .lock()
            .map(|mut q| q.drain(..).collect())
            .unwrap_or_default()
    }

    /// Takes back the incidents stored as open and folds in the anomalies of every source it
    /// scores that have no incident yet (see the module docs). Done once; later calls do
    /// nothing. Call it after the models are loaded, before scoring.
    pub fn repair(&self) -> Result<()> {
        let Ok(mut inner) = self.inner.lock() else {
            return Ok(());
        };
        if inner.repaired {
            return Ok(());
        }
        self.restore(&mut inner)?;
        let gap = inner.tracker.params().quiet_gap_ms;
        let stores = self.stores(&mut inner)?;
        // The sources this instance scores, named as its batches name them (so as its incidents
        // and links do): an Elasticsearch source such as `syslog-*` lists as its indices.
        let sources: Vec<String> = if self.config.log_sources.is_empty() {
            stores.source.list_sources()?
        } else {
            self.config.log_sources.keys().cloned().collect()
        };
        let mut signals: Vec<(RecordId, Signal)> = Vec::new();
        for source in &sources {
            let stored = stores.sink().incidents(&IncidentQuery {
                source: Some(source.clone()),
                max: 1,
                ..IncidentQuery::default()
            })?;
            // Anomalies older than the newest incident's quiet gap were linked then, unless
            // written late; a source with no incident yet is read whole (the newest REPAIR_MAX).
            let from = stored
                .first()
                .map_or(i64::MIN, |i| i.last_seen_ms.saturating_sub(gap));
            let anomalies = stores
                .sink()
                .anomalies(source, from, i64::MAX, REPAIR_MAX)?;
            if anomalies.is_empty() {
                continue;
            }
            let linked: HashSet<RecordId> = stores
                .sink()
                .incident_links(source, from, i64::MAX)?
                .into_iter()
                .map(|l| l.record_id)
                .collect();
            for a in anomalies
                .into_iter()
                .filter(|a| !linked.contains(&a.record.id))
            {
                let r = &a.record;
                let signal = self
                    .patterns
                    .with_host(source, &r.host, |hp| {
                        let body = syslog::split(&r.message).body;
                        line_signal(hp, r, hp.live.classify(body), a.score)
                    })
                    .unwrap_or_else(|| {
                        // No model for the host any more: the pattern of the line on its own.
                        let mut miner = lad_core::pattern::Miner::default();
                        let body = syslog::split(&r.message).body;
                        let id = miner.observe(body, r.time);
                        Signal {
                            source: source.clone(),
                            host: r.host.clone(),
                            time_ms: r.time,
                            pattern: id,
                            template: miner
                                .get(id)
                                .map_or_else(|| body.to_string(), |v| v.text.to_string()),
                            message: r.message.clone(),
                            score: a.score,
                            reason: Reason::Scored {
                                novel_since_ms: None,
                            },
                        }
                    });
                signals.push((r.id.clone(), signal));
            }
        }
        inner.repaired = true;
        if !signals.is_empty() {
            info!(
                anomalies = signals.len(),
                "folding anomalies without an incident into incidents"
            );
            signals.sort_by(|a, b| {
                (a.1.source.as_str(), a.1.time_ms).cmp(&(b.1.source.as_str(), b.1.time_ms))
            });
            self.fold(&mut inner, signals, crate::pipeline::now_ms());
        }
        Ok(())
    }

    /// Reads the open incidents back once.
    fn restore(&self, inner: &mut Inner) -> Result<()> {
        if inner.restored {
            return Ok(());
        }
        let mut stored = Vec::new();
        for state in [IncidentState::Open, IncidentState::Pending] {
            stored.extend(self.stores(inner)?.sink().incidents(&IncidentQuery {
                state: Some(state.as_str().into()),
                ..IncidentQuery::default()
            })?);
        }
        let mut open = Vec::new();
        for s in stored {
            match serde_json::from_value::<Incident>(s.body.clone()) {
                Ok(i) => open.push(i),
                Err(e) => {
                    warn!(id = %s.id, error = %e, "stored incident unreadable; it stays as stored")
                }
            }
        }
        // Each open incident is announced again: an opening whose notice a kill lost (stored,
        // not yet in the alert outbox) is sent now; one sent before has the same key and the
        // sender skips it.
        let now_ms = crate::pipeline::now_ms();
        if let Ok(mut q) = self.notices.lock() {
            for i in open.iter().filter(|i| i.state == IncidentState::Open) {
                q.push_back(Notice::new(i, Transition::Opened, now_ms));
            }
            while q.len() > NOTICE_QUEUE {
                q.pop_front();
            }
        }
        inner.tracker.restore(open);
        inner.restored = true;
        self.open
            .store(inner.tracker.open_count() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn stores<'a>(&self, inner: &'a mut Inner) -> Result<&'a mut Stores> {
        if inner.stores.is_none() {
            inner.stores = Some(wiring::open_for_state(&self.config)?);
        }
        inner
            .stores
            .as_mut()
            .context("the incident store is not open")
    }

    /// Feeds one scored batch: see the module docs. Never fails the batch: a store failure is
    /// logged and the write retried with the next batch.
    pub fn observe(&self, batch: &ScoredBatch) {
        let anomalies: HashMap<&RecordId, f64> = batch
            .verdicts
            .iter()
            .filter(|v| v.is_anomaly)
            .map(|v| (&v.id, v.score))
            .collect();
        let valid = &self.params;
        let mut signals: Vec<(RecordId, Signal)> = Vec::new();
        let mut rate_and_silence: Vec<Signal> = Vec::new();
        let mut silence_due: Vec<(String, i64)> = Vec::new();
        let checked: HashMap<(String, String), i64> = self
            .inner
            .lock()
            .map(|i| i.silence_checked.clone())
            .unwrap_or_default();
        self.patterns.observe_each(batch, |hp, records, ids| {
            let mut touched: BTreeSet<PatternId> = BTreeSet::new();
            let mut newest = i64::MIN;
            for (r, &id) in records.iter().zip(ids) {
                touched.insert(id);
                newest = newest.max(r.time);
                if let Some(&score) = anomalies.get(&r.id) {
                    signals.push((r.id.clone(), line_signal(hp, r, id, score)));
                }
            }
            let bucket_ms = hp.live.params().bucket_ms;
            for id in touched {
                let Some(view) = hp.live.get(id) else {
                    continue;
                };
                if view.overflow {
                    continue;
                }
                if let Some(jump) = rate_jump(view.stats, newest, bucket_ms, valid) {
                    rate_and_silence.push(Signal {
                        source: hp.source.to_string(),
                        host: hp.host.to_string(),
                        time_ms: newest,
                        pattern: view.id,
                        template: view.text.to_string(),
                        message: String::new(),
                        score: 0.0,
                        reason: Reason::Rate {
                            lines_in_bucket: jump.lines_in_bucket,
                            usual_per_bucket: jump.usual_per_bucket,
                            bucket_ms,
                        },
                    });
                }
            }
            let key = (hp.source.to_string(), hp.host.to_string());
            let last = checked.get(&key).copied().unwrap_or(i64::MIN);
            if newest.saturating_sub(last) >= SILENCE_CHECK_MS {
                silence_due.push((hp.host.to_string(), newest));
                for view in hp.live.patterns().filter(|v| !v.overflow) {
                    if let Some(usual) = silence(view.stats, newest, bucket_ms, valid) {
                        rate_and_silence.push(Signal {
                            source: hp.source.to_string(),
                            host: hp.host.to_string(),
                            time_ms: newest,
                            pattern: view.id,
                            template: view.text.to_string(),
                            message: String::new(),
                            score: 0.0,
                            reason: Reason::Silent {
                                last_seen_ms: view.stats.last_ms,
                                usual_per_bucket: usual,
                            },
                        });
                    }
                }
            }
        });
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        for (host, t) in silence_due {
            inner
                .silence_checked
                .insert((batch.source.clone(), host), t);
        }
        if signals.is_empty() && rate_and_silence.is_empty() && inner.pending.is_empty() {
            return;
        }
        if let Err(e) = self.restore(&mut inner) {
            warn!(error = %crate::error::chain(&e), "cannot read the stored incidents; retrying with the next batch");
            inner.stores = None;
        }
        // Time order, so that the same lines give the same incidents however hosts were cut.
        signals.sort_by_key(|(_, s)| s.time_ms);
        let mut all: Vec<(Option<RecordId>, Signal)> =
            signals.into_iter().map(|(id, s)| (Some(id), s)).collect();
        all.extend(rate_and_silence.into_iter().map(|s| (None, s)));
        all.sort_by_key(|(_, s)| s.time_ms);
        self.fold_mixed(&mut inner, all, crate::pipeline::now_ms());
    }

    /// Moves the clock of every source to `now_ms` (the daemon does when the backlog is empty:
    /// nothing older is coming) and writes what that resolved.
    pub fn tick(&self, now_ms: i64) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let sources: BTreeSet<String> = inner.tracker.open().map(|i| i.source.clone()).collect();
        let mut events = Vec::new();
        for s in sources {
            events.extend(inner.tracker.advance(&s, now_ms));
        }
        if events.is_empty() && inner.pending.is_empty() {
            return;
        }
        self.write(&mut inner, Vec::new(), events, now_ms);
    }

    fn fold(&self, inner: &mut Inner, signals: Vec<(RecordId, Signal)>, now_ms: i64) {
        let all = signals.into_iter().map(|(id, s)| (Some(id), s)).collect();
        self.fold_mixed(inner, all, now_ms);
    }

    fn fold_mixed(&self, inner: &mut Inner, signals: Vec<(Option<RecordId>, Signal)>, now_ms: i64) {
        let mut links = Vec::new();
        let mut events = Vec::new();
        for (record, s) in signals {
            let (id, ev) = inner.tracker.observe(&s);
            events.extend(ev);
            if let (Some(record_id), Some(incident_id)) = (record, id) {
                links.push(IncidentLink {
                    source: s.source.clone(),
                    record_id,
                    incident_id,
                    host: s.host.clone(),
                    time_ms: s.time_ms,
                });
            }
        }
        self.write(inner, links, events, now_ms);
    }

    /// Writes the changed incidents and `links` (with what an earlier failed write left), and
    /// queues the notices of `events`.
    fn write(&self, inner: &mut Inner, links: Vec<IncidentLink>, events: Vec<Event>, now_ms: i64) {
        for i in inner.tracker.take_changed() {
            inner.pending.insert(i.id.clone(), i);
        }
        inner.pending_links.extend(links);
        self.open
            .store(inner.tracker.open_count() as u64, Ordering::Relaxed);
        if !events.is_empty() {
            if let Ok(mut q) = self.notices.lock() {
                for e in &events {
                    let incident = inner
                        .pending
                        .get(&e.id)
                        .or_else(|| inner.tracker.get(&e.id));
                    if let Some(i) = incident {
                        q.push_back(Notice::new(i, e.transition, now_ms));
                    }
                }
                while q.len() > NOTICE_QUEUE {
                    q.pop_front();
                }
            }
        }
        let rows: Vec<StoredIncident> = inner.pending.values().map(stored).collect();
        let links = std::mem::take(&mut inner.pending_links);
        let result = self
            .stores(inner)
            .and_then(|s| Ok(s.sink().write_incidents(&rows, &links)?));
        match result {
            Ok(()) => inner.pending.clear(),
            Err(e) => {
                warn!(error = %crate::error::chain(&e), incidents = rows.len(), links = links.len(), "cannot write incidents; retrying with the next batch");
                inner.pending_links = links;
                inner.stores = None;
            }
        }
    }

    /// Acknowledges an incident (`who`: the person; `None` takes it back). Open incidents are
    /// changed in the tracker (so its next write keeps the mark), others in the store.
    /// Returns the incident as stored after the change, `None` when there is no such incident.
    pub fn acknowledge(&self, id: &str, who: Option<&str>) -> Result<Option<StoredIncident>> {
        self.mark(
            id,
            |t| t.acknowledge(id, who),
            |i| i.acknowledged_by = who.map(str::to_string),
        )
    }

    /// Mutes an incident until `until_ms` (`None` unmutes); see [`IncidentBook::acknowledge`].
    pub fn mute(&self, id: &str, until_ms: Option<i64>) -> Result<Option<StoredIncident>> {
        self.mark(
            id,
            |t| t.mute(id, until_ms),
            |i| i.muted_until_ms = until_ms,
        )
    }

    fn mark(
        &self,
        id: &str,
        in_tracker: impl FnOnce(&mut Tracker) -> bool,
        in_store: impl FnOnce(&mut Incident),
    ) -> Result<Option<StoredIncident>> {
        let mut inner = self
            .inner
            .lock()
            .map_err(|_| anyhow::anyhow!("the incident book is poisoned"))?;
        self.restore(&mut inner)?;
        if in_tracker(&mut inner.tracker) {
            self.write(
                &mut inner,
                Vec::new(),
                Vec::new(),
                crate::pipeline::now_ms(),
            );
            if !inner.pending.is_empty() {
                anyhow::bail!("the incident store refused the write; see the log");
            }
            return Ok(self.stores(&mut inner)?.sink().incident(id)?);
        }
        mark_stored(self.stores(&mut inner)?, id, in_store)
    }
}

/// Changes a stored incident with `f` and writes it back; the incident as stored after, `None`
/// when there is none. For incidents no running tracker holds (resolved ones, or any when no
/// daemon runs here): a daemon's open incident must be marked through its [`IncidentBook`].
pub fn mark_stored(
    stores: &mut Stores,
    id: &str,
    f: impl FnOnce(&mut Incident),
) -> Result<Option<StoredIncident>> {
    let Some(s) = stores.sink().incident(id)? else {
        return Ok(None);
    };
    let mut i: Incident = serde_json::from_value(s.body)
        .with_context(|| format!("stored incident {id} is unreadable"))?;
    f(&mut i);
    stores.sink().write_incidents(&[stored(&i)], &[])?;
    Ok(stores.sink().incident(id)?)
}

/// The signal of one flagged line of `hp`'s host with pattern `id`.
fn line_signal(hp: &HostPatterns<'_>, r: &lad_store::Record, id: PatternId, score: f64) -> Signal {
    let body = syslog::split(&r.message).body;
    let template = hp
        .live
        .get(id)
        .map_or_else(|| body.to_string(), |v| v.text.to_string());
    let novel = hp.trained.get(hp.trained.classify(body)).is_none();
    Signal {
        source: hp.source.to_string(),
        host: hp.host.to_string(),
        time_ms: r.time,
        pattern: id,
        template,
        message: r.message.clone(),
        score,
        reason: Reason::Scored {
            novel_since_ms: if novel { hp.window_start_ms } else { None },
        },
    }
}

/// An incident as the store keeps it: the indexed fields and the whole incident (plus its
/// explanation and severity, for tools that read the store) as the body.
pub fn stored(i: &Incident) -> StoredIncident {
    let mut body = serde_json::to_value(i).unwrap_or_else(|_| json!({}));
    if let Value::Object(o) = &mut body {
        o.insert("explanation".into(), json!(i.explanation()));
        o.insert("severity".into(), json!(i.severity().as_str()));
    }
    StoredIncident {
        id: i.id.clone(),
        source: i.source.clone(),
        state: i.state.as_str().into(),
        first_seen_ms: i.first_seen_ms,
        last_seen_ms: i.last_seen_ms,
        hosts: i.hosts.iter().cloned().collect(),
        body,
    }
}

/// The incident of a stored row, when its body is readable.
pub fn from_stored(s: &StoredIncident) -> Option<Incident> {
    serde_json::from_value(s.body.clone()).ok()
}

/// The state shown for a stored incident at `now_ms` (marks and mute expiry applied).
pub fn shown_state(s: &StoredIncident, now_ms: i64) -> String {
    from_stored(s).map_or_else(
        || s.state.clone(),
        |i| i.state_at(now_ms).as_str().to_string(),
    )
}

#[cfg(test)]
mod alert_tests {
    use super::*;
    use crate::alerts::{Severity as AlertSeverity, Transition as Sent};

    fn notice(transition: Transition, state: IncidentState, severity: Severity) -> Notice {
        Notice {
            id: "abc".into(),
            transition,
            state,
            severity,
            source: "syslog".into(),
            hosts: vec!["web-1".into(), "web-2".into()],
            patterns: vec![("00112233aabbccdd".into(), "Failed password for ***".into())],
            explanation: "never seen on this host".into(),
            first_seen_ms: 1_000,
            last_seen_ms: 2_000,
            count: 12,
            peak_score: 0.9,
        }
    }

    #[test]
    fn transitions_become_alerts_with_their_fields() {
        let a = alert_notice(&notice(
            Transition::Grew { count: 10 },
            IncidentState::Open,
            Severity::Error,
        ))
        .expect("an open incident's growth is sent");
        assert_eq!(a.transition, Sent::Grew);
        assert_eq!(
            a.severity,
            AlertSeverity::Warning,
            "error words warn, not page"
        );
        assert_eq!(a.state, "open");
        assert_eq!(a.hosts, ["web-1", "web-2"]);
        assert_eq!(a.patterns[0].id, "00112233aabbccdd");
        assert_eq!(
            (a.count, a.first_seen_ms, a.last_seen_ms),
            (12, 1_000, 2_000)
        );
        let a = alert_notice(&notice(
            Transition::Opened,
            IncidentState::Open,
            Severity::Critical,
        ))
        .expect("sent");
        assert_eq!(a.severity, AlertSeverity::Critical);
    }

    #[test]
    fn a_muted_incident_pages_nobody_but_its_alert_still_ends() {
        for t in [Transition::Opened, Transition::Grew { count: 100 }] {
            assert!(alert_notice(&notice(t, IncidentState::Muted, Severity::Critical)).is_none());
        }
        let a = alert_notice(&notice(
            Transition::Resolved,
            IncidentState::Muted,
            Severity::Critical,
        ))
        .expect("the resolution is sent");
        assert_eq!(a.transition, Sent::Resolved);
    }
}
