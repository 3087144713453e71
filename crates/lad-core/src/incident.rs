//! Incidents: scored anomalies, rate jumps and silent heartbeats grouped into the few things a
//! person acts on. Main items: [`Tracker`] (takes [`Signal`]s, returns [`Event`]s), [`Incident`],
//! [`Transition`], [`IncidentParams`] checked into [`IncidentValidParams`], and the pure rules
//! [`rate_jump`] and [`silence`] over a pattern's counts per time bucket.
//!
//! The rules (see [`IncidentParams`] for the defaults named here):
//! - **Grouping.** Incidents are per source. A signal joins the open incident of the same source
//!   that already holds its pattern (on any host: the same template on several hosts is one
//!   incident that lists them); failing that, the open incident that holds its host and whose
//!   last line is at most `together_ms` (default 120 s) before it (patterns that fire together on a
//!   host). Several candidates: the one seen last, then the smallest id. Otherwise a new
//!   incident opens.
//! - **Pending.** An incident whose only evidence is one flagged line without an alarming word
//!   (severity `info`) is *pending*: kept, linked to its line and joinable, but not reported as
//!   opened (no alert, not counted open), as an alert rule waits out its pending period. It
//!   opens (and is reported opened) when a second line joins it, or a line with an alarming
//!   word, a rate jump or a silence; quiet for the quiet gap while pending it *expires* and is
//!   never reported. One rare line of a routine kind (a command an admin runs once a month)
//!   is thus seen on the anomalies and among pending incidents but pages nobody.
//! - **Quiet gap.** An incident whose last line is more than `quiet_gap_ms` (default 600 s) older than
//!   its source's clock is resolved and never joined again. The clock of a source is the newest
//!   time seen of it (event time, not the wall clock: the caller may move it on with
//!   [`Tracker::advance`] when it knows the source is caught up).
//! - **Growth.** An incident's line count passing 10, 100, 1,000, ... (each power of ten) is
//!   reported once per power.
//! - **Rate** ([`rate_jump`]): a known pattern whose lines in the current bucket (an hour) reach
//!   `rate_min_lines` (default 50) and `rate_factor` (default 10) times its usual lines per bucket (the mean over
//!   every bucket of its history before the current one, empty buckets included, at least 1) is
//!   a signal, when that history spans `rate_min_history_ms` (default 24 h). The lines are counted into
//!   the incident as the bucket grows (each line once).
//! - **Silence** ([`silence`]): a pattern logged in at least `silence_coverage` (default 90 %) of the
//!   buckets of a history of at least `silence_min_history_ms` (default 24 h) that has not been seen for
//!   `silence_after_ms` (default 2 h) is a signal, once per silence, when the silence is unlikely
//!   even in its quietest hours: the lines it would log in the silence at its low rate (the 10th
//!   percentile of its full buckets' counts) are at least `silence_min_expected` (default 6, so a
//!   Poisson stream at that rate is silent that long with probability e^-6, about 0.25 %). A
//!   pattern that follows people (web requests, logins) and thins out at night is thus no
//!   heartbeat at 1 a.m.; a job logging every 5 minutes is one after 2 h.
//!
//! An incident's id is the 64-bit FNV-1a hash of its source, first host, first pattern and first
//! time, as 16 hex digits: the same signals in the same order give the same ids in every run.
//! The tracker keeps only incidents that are not resolved; a resolved one is handed out a last
//! time by [`Tracker::take_changed`] and dropped.
//!
//! This module does no I/O and reads no clock: every time is a parameter. It knows nothing of
//! how incidents are stored, shown or sent.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::pattern::{fnv1a, PatternId, PatternStats};

/// Settings of a [`Tracker`], checked once by [`IncidentParams::check`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct IncidentParams {
    /// An incident with no line for this long (ms) is resolved. Above 0.
    pub quiet_gap_ms: i64,
    /// Patterns of one host within this many ms of an incident's last line join it. At least 0.
    pub together_ms: i64,
    /// Example lines kept per pattern of an incident. At least 1.
    pub max_examples: usize,
    /// Patterns listed per incident (lines of further patterns are still counted). At least 1.
    pub max_patterns: usize,
    /// A bucket with this many times the usual lines is a rate jump. Above 1.
    pub rate_factor: f64,
    /// ... and at least this many lines. At least 1.
    pub rate_min_lines: u64,
    /// History (ms) a pattern needs before its rate is judged.
    pub rate_min_history_ms: i64,
    /// History (ms) a pattern needs before its silence is judged.
    pub silence_min_history_ms: i64,
    /// Share of the buckets of its history a pattern must be seen in to count as a heartbeat.
    /// In (0, 1].
    pub silence_coverage: f64,
    /// A heartbeat not seen for this long (ms) is silent. Above 0.
    pub silence_after_ms: i64,
    /// Lines a silence must have missed at the pattern's low rate (see the module docs) to
    /// count. Above 0.
    pub silence_min_expected: f64,
}

impl Default for IncidentParams {
    fn default() -> Self {
        Self {
            quiet_gap_ms: 600_000,
            together_ms: 120_000,
            max_examples: 3,
            max_patterns: 20,
            rate_factor: 10.0,
            rate_min_lines: 50,
            rate_min_history_ms: 24 * 3_600_000,
            silence_min_history_ms: 24 * 3_600_000,
            silence_coverage: 0.9,
            silence_after_ms: 2 * 3_600_000,
            silence_min_expected: 6.0,
        }
    }
}

/// Why [`IncidentParams::check`] refused its settings.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("incident parameter {name}: expected {expected}, found {found}")]
pub struct IncidentParamError {
    /// The parameter's name.
    pub name: &'static str,
    /// What was expected.
    pub expected: &'static str,
    /// The value given.
    pub found: String,
}

impl IncidentParams {
    /// Checks every setting.
    ///
    /// # Errors
    /// [`IncidentParamError`] naming the first setting out of range.
    pub fn check(&self) -> Result<IncidentValidParams, IncidentParamError> {
        let bad = |name, expected, found: String| {
            Err(IncidentParamError {
                name,
                expected,
                found,
            })
        };
        if self.quiet_gap_ms <= 0 {
            return bad("quiet_gap_ms", "above 0", self.quiet_gap_ms.to_string());
        }
        if self.together_ms < 0 {
            return bad("together_ms", "at least 0", self.together_ms.to_string());
        }
        if self.max_examples == 0 {
            return bad("max_examples", "at least 1", "0".into());
        }
        if self.max_patterns == 0 {
            return bad("max_patterns", "at least 1", "0".into());
        }
        if !(self.rate_factor.is_finite() && self.rate_factor > 1.0) {
            return bad("rate_factor", "above 1", self.rate_factor.to_string());
        }
        if self.rate_min_lines == 0 {
            return bad("rate_min_lines", "at least 1", "0".into());
        }
        if !(self.silence_coverage > 0.0 && self.silence_coverage <= 1.0) {
            return bad(
                "silence_coverage",
                "in (0, 1]",
                self.silence_coverage.to_string(),
            );
        }
        if self.silence_after_ms <= 0 {
            return bad(
                "silence_after_ms",
                "above 0",
                self.silence_after_ms.to_string(),
            );
        }
        if !(self.silence_min_expected > 0.0 && self.silence_min_expected.is_finite()) {
            return bad(
                "silence_min_expected",
                "above 0",
                self.silence_min_expected.to_string(),
            );
        }
        Ok(IncidentValidParams(self.clone()))
    }
}

/// [`IncidentParams`] that passed [`IncidentParams::check`] (the default ones did).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct IncidentValidParams(IncidentParams);

impl IncidentValidParams {
    /// The checked settings.
    pub fn params(&self) -> &IncidentParams {
        &self.0
    }
}

/// Why a signal is anomalous.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// The detector flagged the line. `novel_since_ms`: the start of the host's training window
    /// when the line's pattern was not seen in it.
    Scored {
        /// See the variant.
        novel_since_ms: Option<i64>,
    },
    /// A known pattern's lines in the current bucket jumped (see [`rate_jump`]).
    Rate {
        /// Lines of the pattern in the bucket so far.
        lines_in_bucket: u64,
        /// Its usual lines per bucket.
        usual_per_bucket: f64,
        /// The bucket's width in ms.
        bucket_ms: i64,
    },
    /// A heartbeat pattern stopped (see [`silence`]).
    Silent {
        /// When the pattern was last seen.
        last_seen_ms: i64,
        /// Its usual lines per bucket.
        usual_per_bucket: f64,
    },
}

/// One piece of evidence for the tracker: a flagged line, a rate jump or a silence.
#[derive(Clone, Debug, PartialEq)]
pub struct Signal {
    /// The source of the lines.
    pub source: String,
    /// The host.
    pub host: String,
    /// When (ms): the line's time, or the time the jump or silence was seen.
    pub time_ms: i64,
    /// The pattern (the host's pattern miner's id).
    pub pattern: PatternId,
    /// Its template text.
    pub template: String,
    /// An example line (the flagged line itself; empty for a silence).
    pub message: String,
    /// The line's anomaly score (0 for a rate jump or a silence).
    pub score: f64,
    /// Why.
    pub reason: Reason,
}

/// Where an incident is in its life. `Acknowledged` and `Muted` are open incidents a person
/// marked; see [`Incident::state_at`]. `Pending` and `Expired` are the incidents that never
/// opened (see the module docs).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    /// Lines still arrive (or arrived within the quiet gap).
    Open,
    /// Open, and a person said they are on it.
    Acknowledged,
    /// Open, and a person muted it until a time.
    Muted,
    /// Quiet for longer than the quiet gap.
    Resolved,
    /// One flagged line of severity `info` so far: not reported, not counted open.
    Pending,
    /// Pending and then quiet for the quiet gap: it never opened and is never reported.
    Expired,
}

impl IncidentState {
    /// The lower-case name (`open`, `acknowledged`, `muted`, `resolved`, `pending`, `expired`).
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentState::Open => "open",
            IncidentState::Acknowledged => "acknowledged",
            IncidentState::Muted => "muted",
            IncidentState::Resolved => "resolved",
            IncidentState::Pending => "pending",
            IncidentState::Expired => "expired",
        }
    }

    /// Whether an incident in this state is over (`Resolved` or `Expired`): never joined again.
    pub fn is_over(self) -> bool {
        matches!(self, IncidentState::Resolved | IncidentState::Expired)
    }

    /// Whether an incident in this state has not opened (`Pending`) or never will (`Expired`):
    /// nothing of it was sent.
    pub fn never_opened(self) -> bool {
        matches!(self, IncidentState::Pending | IncidentState::Expired)
    }

    /// Reads [`IncidentState::as_str`]'s names.
    pub fn parse(text: &str) -> Option<IncidentState> {
        Some(match text {
            "open" => IncidentState::Open,
            "acknowledged" => IncidentState::Acknowledged,
            "muted" => IncidentState::Muted,
            "resolved" => IncidentState::Resolved,
            "pending" => IncidentState::Pending,
            "expired" => IncidentState::Expired,
            _ => return None,
        })
    }
}

/// How alarming an incident is, from its words and how it was found.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Nothing alarming in its words.
    Info,
    /// A warning word, a rate jump or a silent heartbeat.
    Warning,
    /// An error word (error, failed, denied, ...).
    Error,
    /// A fatal word (panic, fatal, critical, oom, ...).
    Critical,
}

impl Severity {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }

    fn of_prior(prior: f32) -> Severity {
        if prior >= 0.9 {
            Severity::Critical
        } else if prior >= 0.8 {
            Severity::Error
        } else if prior >= 0.6 {
            Severity::Warning
        } else {
            Severity::Info
        }
    }
}

/// One pattern of an incident.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct IncidentPattern {
    /// The pattern's id (16 hex digits in serde formats: JSON numbers lose 64-bit integers).
    #[serde(with = "hex_id")]
    pub id: PatternId,
    /// Its template.
    pub template: String,
    /// Lines of it in the incident.
    pub count: u64,
    /// Hosts it fired on.
    pub hosts: BTreeSet<String>,
    /// The first few lines.
    pub examples: Vec<String>,
}

/// An incident: what a person looks at. See the module docs for how signals join one.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Incident {
    /// Stable id: 16 hex digits.
    pub id: String,
    /// The source of its lines.
    pub source: String,
    /// `Open`, `Resolved`, `Pending` or `Expired` (marks are apart: see
    /// [`Incident::state_at`]).
    pub state: IncidentState,
    /// Time of its first signal, ms.
    pub first_seen_ms: i64,
    /// Time of its last signal, ms.
    pub last_seen_ms: i64,
    /// Lines in it.
    pub count: u64,
    /// Hosts it touched.
    pub hosts: BTreeSet<String>,
    /// Its patterns in order of appearance, at most `max_patterns`.
    pub patterns: Vec<IncidentPattern>,
    /// Lines of patterns beyond `max_patterns`.
    pub other_lines: u64,
    /// Highest anomaly score of its lines.
    pub peak_score: f64,
    /// Strongest severity prior of its lines (see [`crate::severity`]).
    pub alarm: f32,
    /// Alarming words of its lines, at most 8.
    pub alarming_words: BTreeSet<String>,
    /// Hosts whose training window never saw one of its patterns, with the window's start.
    pub novel_since: BTreeMap<String, i64>,
    /// Largest rate jump: (factor over the usual, lines in the bucket, usual per bucket).
    pub rate: Option<(f64, u64, f64)>,
    /// Silent heartbeats: (host, template, last seen ms).
    pub silent: Vec<(String, String, i64)>,
    /// The largest power of ten its count has passed and been reported for.
    pub reported_count: u64,
    /// Who acknowledged it (`Some("")` when the person is unknown).
    pub acknowledged_by: Option<String>,
    /// Muted until this time (ms).
    pub muted_until_ms: Option<i64>,
}

impl Incident {
    /// Its state at `now_ms` with people's marks: `Resolved`, `Pending` or `Expired` as it is,
    /// else `Muted` while muted, else `Acknowledged` when acknowledged, else `Open`.
    pub fn state_at(&self, now_ms: i64) -> IncidentState {
        if self.state != IncidentState::Open {
            self.state
        } else if self.muted_until_ms.is_some_and(|t| t > now_ms) {
            IncidentState::Muted
        } else if self.acknowledged_by.is_some() {
            IncidentState::Acknowledged
        } else {
            IncidentState::Open
        }
    }

    /// How alarming it is.
    pub fn severity(&self) -> Severity {
        let by_words = Severity::of_prior(self.alarm);
        if self.rate.is_some() || !self.silent.is_empty() {
            by_words.max(Severity::Warning)
        } else {
            by_words
        }
    }

    /// Why these lines are anomalous, in words: how many patterns on which hosts, patterns never
    /// seen on a host since its training window began, rate jumps, silent heartbeats, alarming
    /// words.
    pub fn explanation(&self) -> String {
        let mut out = String::new();
        let hosts: Vec<&str> = self.hosts.iter().map(String::as_str).collect();
        let n = self.patterns.len();
        let _ = write!(
            out,
            "{} line{} of {} pattern{} on {}",
            self.count,
            plural(self.count),
            n,
            plural(n as u64),
            list(&hosts, 5)
        );
        if let Some(p) = self.patterns.first() {
            let _ = write!(out, " (first: {})", clip(&p.template, 80));
        }
        out.push('.');
        if !self.novel_since.is_empty() {
            let mut by_since: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
            for (h, &since) in &self.novel_since {
                by_since.entry(since).or_default().push(h);
            }
            for (since, hosts) in by_since {
                let _ = write!(
                    out,
                    " Never seen on {} since {}.",
                    list(&hosts, 5),
                    format_utc_minute(since)
                );
            }
        }
        if let Some((factor, lines, usual)) = self.rate {
            let _ = write!(
                out,
                " Rate {:.0} times the usual ({lines} lines in an hour, usually {usual:.1}).",
                factor
            );
        }
        for (host, template, last) in self.silent.iter().take(3) {
            let _ = write!(
                out,
                " Heartbeat silent on {host} since {}: {}.",
                format_utc_minute(*last),
                clip(template, 60)
            );
        }
        if !self.alarming_words.is_empty() {
            let words: Vec<&str> = self.alarming_words.iter().map(String::as_str).collect();
            let _ = write!(out, " Alarming words: {}.", words.join(", "));
        }
        out
    }

    /// Whether a pending incident has what it takes to open: a second line, an alarming word, a
    /// rate jump or a silence.
    fn qualifies(&self) -> bool {
        self.count >= 2 || self.severity() > Severity::Info
    }

    fn new(id: String, s: &Signal) -> Incident {
        Incident {
            id,
            source: s.source.clone(),
            state: IncidentState::Pending,
            first_seen_ms: s.time_ms,
            last_seen_ms: s.time_ms,
            count: 0,
            hosts: BTreeSet::new(),
            patterns: Vec::new(),
            other_lines: 0,
            peak_score: 0.0,
            alarm: 0.0,
            alarming_words: BTreeSet::new(),
            novel_since: BTreeMap::new(),
            rate: None,
            silent: Vec::new(),
            reported_count: 0,
            acknowledged_by: None,
            muted_until_ms: None,
        }
    }

    /// Adds `lines` lines of signal `s`.
    fn add(&mut self, s: &Signal, lines: u64, params: &IncidentParams) {
        self.first_seen_ms = self.first_seen_ms.min(s.time_ms);
        self.last_seen_ms = self.last_seen_ms.max(s.time_ms);
        self.count += lines;
        self.hosts.insert(s.host.clone());
        if s.score.is_finite() {
            self.peak_score = self.peak_score.max(s.score);
        }
        let room = self.patterns.len() < params.max_patterns;
        match self.patterns.iter_mut().find(|p| p.id == s.pattern) {
            Some(p) => {
                p.count += lines;
                p.hosts.insert(s.host.clone());
                if p.examples.len() < params.max_examples && !s.message.is_empty() {
                    p.examples.push(s.message.clone());
                }
            }
            None if room => {
                self.patterns.push(IncidentPattern {
                    id: s.pattern,
                    template: s.template.clone(),
                    count: lines,
                    hosts: BTreeSet::from([s.host.clone()]),
                    examples: if s.message.is_empty() {
                        Vec::new()
                    } else {
                        vec![s.message.clone()]
                    },
                });
            }
            None => self.other_lines += lines,
        }
        if !s.message.is_empty() {
            self.alarm = self.alarm.max(crate::severity::severity(&s.message));
            for w in alarming_words(&s.message) {
                if self.alarming_words.len() < 8 {
                    self.alarming_words.insert(w);
                }
            }
        }
        match &s.reason {
            Reason::Scored {
                novel_since_ms: Some(since),
            } => {
                self.novel_since.entry(s.host.clone()).or_insert(*since);
            }
            Reason::Scored { .. } => {}
            Reason::Rate {
                lines_in_bucket,
                usual_per_bucket,
                ..
            } => {
                let factor = *lines_in_bucket as f64 / usual_per_bucket.max(1.0);
                if self.rate.is_none_or(|(f, _, _)| factor > f) {
                    self.rate = Some((factor, *lines_in_bucket, *usual_per_bucket));
                }
            }
            Reason::Silent { last_seen_ms, .. } => {
                self.silent
                    .push((s.host.clone(), s.template.clone(), *last_seen_ms));
            }
        }
    }
}

/// What happened to an incident, to be sent at most once. The tracker reports each transition
/// once per incident: `Opened` when its first signal arrives (for a pending incident: when it
/// opens; one that expires is never reported), `Grew` each time its line count
/// passes a power of ten (10, 100, ...; once per power, remembered across restarts in
/// [`Incident::reported_count`]), `Resolved` when it has been quiet for the quiet gap. The
/// transitions of acknowledged or muted incidents are reported too; the sender decides whether
/// to deliver them (a muted incident's should not page anyone).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case", tag = "transition")]
pub enum Transition {
    /// A new incident.
    Opened,
    /// Its line count passed `count` (a power of ten).
    Grew {
        /// The power of ten passed.
        count: u64,
    },
    /// Quiet for the quiet gap; it will not be joined again.
    Resolved,
}

impl Transition {
    /// The lower-case name (`opened`, `grew`, `resolved`).
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Opened => "opened",
            Transition::Grew { .. } => "grew",
            Transition::Resolved => "resolved",
        }
    }
}

/// A transition of one incident.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The incident's id.
    pub id: String,
    /// What happened.
    pub transition: Transition,
}

/// Groups signals into incidents. See the module docs for the rules.
#[derive(Clone, Debug, Default)]
pub struct Tracker {
    params: IncidentValidParams,
    /// Incidents not resolved, by id.
    open: BTreeMap<String, Incident>,
    /// Per source, the newest time seen.
    clocks: BTreeMap<String, i64>,
    /// Per source, at most the oldest `last_seen_ms` of its open incidents (a lower bound, so
    /// resolution is only looked for when something may be due).
    oldest_seen: BTreeMap<String, i64>,
    /// Lines of a rate jump already counted: (source, host, pattern, bucket start) -> lines.
    rate_counted: BTreeMap<(String, String, PatternId, i64), u64>,
    /// Silences already reported: (source, host, pattern, last seen).
    silences: BTreeSet<(String, String, PatternId, i64)>,
    /// Ids changed since [`Tracker::take_changed`].
    changed: BTreeSet<String>,
    /// Resolved incidents not yet handed out.
    resolved: Vec<Incident>,
}

impl Tracker {
    /// An empty tracker.
    pub fn new(params: IncidentValidParams) -> Self {
        Tracker {
            params,
            ..Tracker::default()
        }
    }

    /// The settings.
    pub fn params(&self) -> &IncidentParams {
        self.params.params()
    }

    /// Takes back incidents that were open when the last run stopped (as stored); resolved ones
    /// are ignored. Each source's clock starts at its newest `last_seen_ms`.
    pub fn restore(&mut self, incidents: impl IntoIterator<Item = Incident>) {
        for i in incidents {
            if i.state.is_over() {
                continue;
            }
            let clock = self.clocks.entry(i.source.clone()).or_insert(i64::MIN);
            *clock = (*clock).max(i.last_seen_ms);
            let oldest = self
                .oldest_seen
                .entry(i.source.clone())
                .or_insert(i.last_seen_ms);
            *oldest = (*oldest).min(i.last_seen_ms);
            self.open.insert(i.id.clone(), i);
        }
    }

    /// The incidents not resolved (pending ones included), by id.
    pub fn open(&self) -> impl Iterator<Item = &Incident> + '_ {
        self.open.values()
    }

    /// How many incidents are open: not resolved and not pending.
    pub fn open_count(&self) -> usize {
        self.open
            .values()
            .filter(|i| i.state == IncidentState::Open)
            .count()
    }

    /// An open incident.
    pub fn get(&self, id: &str) -> Option<&Incident> {
        self.open.get(id)
    }

    /// The clock of `source`: the newest time seen of it.
    pub fn clock(&self, source: &str) -> Option<i64> {
        self.clocks.get(source).copied()
    }

    /// Marks an open incident acknowledged by `who` (`None` takes the mark back); false when it
    /// is not open.
    pub fn acknowledge(&mut self, id: &str, who: Option<&str>) -> bool {
        match self.open.get_mut(id) {
            Some(i) => {
                i.acknowledged_by = who.map(str::to_string);
                self.changed.insert(id.to_string());
                true
            }
            None => false,
        }
    }

    /// Mutes an open incident until `until_ms` (`None` unmutes); false when it is not open.
    pub fn mute(&mut self, id: &str, until_ms: Option<i64>) -> bool {
        match self.open.get_mut(id) {
            Some(i) => {
                i.muted_until_ms = until_ms;
                self.changed.insert(id.to_string());
                true
            }
            None => false,
        }
    }

    /// Moves the clock of `source` to `now_ms` (never back) and resolves its incidents quiet for
    /// longer than the quiet gap.
    pub fn advance(&mut self, source: &str, now_ms: i64) -> Vec<Event> {
        let clock = self.clocks.entry(source.to_string()).or_insert(now_ms);
        *clock = (*clock).max(now_ms);
        let now = *clock;
        let gap = self.params.params().quiet_gap_ms;
        match self.oldest_seen.get(source) {
            Some(&oldest) if now.saturating_sub(oldest) > gap => {}
            _ => return Vec::new(),
        }
        let oldest = self
            .open
            .values()
            .filter(|i| i.source == source && now.saturating_sub(i.last_seen_ms) <= gap)
            .map(|i| i.last_seen_ms)
            .min();
        match oldest {
            Some(t) => self.oldest_seen.insert(source.to_string(), t),
            None => self.oldest_seen.remove(source),
        };
        let quiet: Vec<String> = self
            .open
            .values()
            .filter(|i| i.source == source && now.saturating_sub(i.last_seen_ms) > gap)
            .map(|i| i.id.clone())
            .collect();
        let mut events = Vec::new();
        for id in quiet {
            if let Some(mut i) = self.open.remove(&id) {
                let opened = i.state == IncidentState::Open;
                i.state = if opened {
                    IncidentState::Resolved
                } else {
                    IncidentState::Expired
                };
                self.changed.remove(&id);
                self.resolved.push(i);
                if opened {
                    events.push(Event {
                        id,
                        transition: Transition::Resolved,
                    });
                }
            }
        }
        // Rate counts of buckets long gone are not needed any more.
        let horizon = now.saturating_sub(2 * gap.max(3_600_000) + 2 * 3_600_000);
        self.rate_counted
            .retain(|(s, _, _, bucket), _| s != source || *bucket >= horizon);
        events
    }

    /// Adds one signal: it joins or opens an incident. Returns the incident's id (`None` when
    /// the signal adds nothing: a rate jump whose lines were all counted, a silence reported
    /// before) and the transitions it caused, resolutions of quiet incidents first.
    pub fn observe(&mut self, s: &Signal) -> (Option<String>, Vec<Event>) {
        let mut events = self.advance(&s.source, s.time_ms);
        let lines = match &s.reason {
            Reason::Scored { .. } => 1,
            Reason::Rate {
                lines_in_bucket,
                bucket_ms,
                ..
            } => {
                let bucket = s.time_ms.div_euclid((*bucket_ms).max(1)) * bucket_ms;
                let key = (s.source.clone(), s.host.clone(), s.pattern, bucket);
                let counted = self.rate_counted.entry(key).or_insert(0);
                let new = lines_in_bucket.saturating_sub(*counted);
                *counted = (*counted).max(*lines_in_bucket);
                if new == 0 {
                    return (None, events);
                }
                new
            }
            Reason::Silent { last_seen_ms, .. } => {
                let key = (s.source.clone(), s.host.clone(), s.pattern, *last_seen_ms);
                if !self.silences.insert(key) {
                    return (None, events);
                }
                0
            }
        };
        let params = self.params.params().clone();
        let id = match self.find(s, &params) {
            Some(id) => id,
            None => {
                let id = incident_id(&s.source, &s.host, s.pattern, s.time_ms);
                self.open.insert(id.clone(), Incident::new(id.clone(), s));
                let oldest = self
                    .oldest_seen
                    .entry(s.source.clone())
                    .or_insert(s.time_ms);
                *oldest = (*oldest).min(s.time_ms);
                id
            }
        };
        if let Some(i) = self.open.get_mut(&id) {
            i.add(s, lines, &params);
            let opened = i.state == IncidentState::Pending && i.qualifies();
            if opened {
                i.state = IncidentState::Open;
                events.push(Event {
                    id: id.clone(),
                    transition: Transition::Opened,
                });
            }
            // Only the largest power of ten passed is reported, and not in the step that
            // opened the incident (the opening says it all).
            let mut power = i.reported_count.max(1).saturating_mul(10);
            let mut passed = None;
            while i.count >= power {
                passed = Some(power);
                power = power.saturating_mul(10);
            }
            if let Some(count) = passed {
                i.reported_count = count;
                if !opened {
                    events.push(Event {
                        id: id.clone(),
                        transition: Transition::Grew { count },
                    });
                }
            }
        }
        self.changed.insert(id.clone());
        (Some(id), events)
    }

    /// The open incident `s` joins: one holding its pattern, else (not for a silence) one holding
    /// its host whose last line is within `together_ms`.
    fn find(&self, s: &Signal, params: &IncidentParams) -> Option<String> {
        let best = |it: &mut dyn Iterator<Item = &Incident>| {
            it.max_by(|a, b| {
                a.last_seen_ms
                    .cmp(&b.last_seen_ms)
                    .then_with(|| b.id.cmp(&a.id))
            })
            .map(|i| i.id.clone())
        };
        let same_source = || self.open.values().filter(|i| i.source == s.source);
        if let Some(id) =
            best(&mut same_source().filter(|i| i.patterns.iter().any(|p| p.id == s.pattern)))
        {
            return Some(id);
        }
        if matches!(s.reason, Reason::Silent { .. }) {
            return None;
        }
        best(&mut same_source().filter(|i| {
            i.hosts.contains(&s.host) && (s.time_ms - i.last_seen_ms).abs() <= params.together_ms
        }))
    }

    /// The incidents changed since the last call (open ones as they are now, then those resolved
    /// since, which the tracker forgets). Write them where they are kept.
    pub fn take_changed(&mut self) -> Vec<Incident> {
        let ids = std::mem::take(&mut self.changed);
        let mut out: Vec<Incident> = ids
            .iter()
            .filter_map(|id| self.open.get(id).cloned())
            .collect();
        out.append(&mut self.resolved);
        out
    }
}

/// An incident's id: 16 hex digits of the FNV-1a hash of its first signal.
pub fn incident_id(source: &str, host: &str, pattern: PatternId, time_ms: i64) -> String {
    let key = format!("{source}\n{host}\n{pattern}\n{time_ms}");
    format!("{:016x}", fnv1a(key.as_bytes()))
}

/// A rate jump: lines of the current bucket and the usual lines per bucket.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateJump {
    /// Lines in the bucket of `now`.
    pub lines_in_bucket: u64,
    /// Mean lines per bucket before it (empty buckets included).
    pub usual_per_bucket: f64,
}

/// Whether `stats` (a pattern's counts per bucket of `bucket_ms`) jumped in the bucket of
/// `now_ms`: see the module docs for the rule.
pub fn rate_jump(
    stats: &PatternStats,
    now_ms: i64,
    bucket_ms: i64,
    params: &IncidentValidParams,
) -> Option<RateJump> {
    let p = params.params();
    if bucket_ms <= 0 {
        return None;
    }
    let current = now_ms.div_euclid(bucket_ms) * bucket_ms;
    let &(last_start, lines) = stats.buckets.last()?;
    if last_start != current || lines < p.rate_min_lines {
        return None;
    }
    let first = stats.buckets.first()?.0;
    let history = current - first;
    if history < p.rate_min_history_ms.max(bucket_ms) {
        return None;
    }
    let before: u64 = stats.buckets[..stats.buckets.len() - 1]
        .iter()
        .map(|b| b.1)
        .sum();
    let usual = before as f64 / (history / bucket_ms) as f64;
    (lines as f64 >= p.rate_factor * usual.max(1.0)).then_some(RateJump {
        lines_in_bucket: lines,
        usual_per_bucket: usual,
    })
}

/// Whether a heartbeat pattern went silent by `now_ms`: see the module docs for the rule.
/// Returns its usual lines per bucket.
pub fn silence(
    stats: &PatternStats,
    now_ms: i64,
    bucket_ms: i64,
    params: &IncidentValidParams,
) -> Option<f64> {
    let p = params.params();
    if bucket_ms <= 0 || stats.count == 0 {
        return None;
    }
    if now_ms.saturating_sub(stats.last_ms) < p.silence_after_ms.max(bucket_ms) {
        return None;
    }
    let first = stats.buckets.first()?.0;
    let last = stats.buckets.last()?.0;
    let span = last - first + bucket_ms;
    if span < p.silence_min_history_ms {
        return None;
    }
    let buckets = (span / bucket_ms) as f64;
    let seen = stats.buckets.iter().filter(|b| b.1 > 0).count() as f64;
    if seen / buckets < p.silence_coverage {
        return None;
    }
    // The low rate: the 10th percentile of the counts of the full buckets (all but the first
    // and the last; empty ones count as 0), in lines per bucket.
    let mut full: Vec<u64> = Vec::new();
    let mut at = first + bucket_ms;
    let mut i = 1;
    while at < last {
        let n = match stats.buckets.get(i) {
            Some(&(start, n)) if start == at => {
                i += 1;
                n
            }
            _ => 0,
        };
        full.push(n);
        at += bucket_ms;
    }
    full.sort_unstable();
    let low = full.get(full.len() / 10).copied().unwrap_or(0) as f64;
    let silent_buckets = now_ms.saturating_sub(stats.last_ms) as f64 / bucket_ms as f64;
    if low * silent_buckets < p.silence_min_expected {
        return None;
    }
    let lines: u64 = stats.buckets.iter().map(|b| b.1).sum();
    Some(lines as f64 / buckets)
}

/// The alarming words of a message (lower case, severity prior at least 0.6), in order, once.
pub fn alarming_words(message: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in message.split(|c: char| !c.is_ascii_alphabetic()) {
        if !(3..=11).contains(&word.len()) {
            continue;
        }
        let lower = word.to_ascii_lowercase();
        if crate::severity::severity(&lower) >= 0.6 && !out.contains(&lower) {
            out.push(lower);
        }
    }
    out
}

/// `YYYY-MM-DD HH:MM UTC` of a time in ms.
pub fn format_utc_minute(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn list(items: &[&str], max: usize) -> String {
    if items.len() <= max {
        items.join(", ")
    } else {
        format!("{} and {} more", items[..max].join(", "), items.len() - max)
    }
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(max).collect();
        s.push('…');
        s
    }
}

/// Serde of a [`PatternId`] as its 16 hex digits.
mod hex_id {
    use super::PatternId;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(id: &PatternId, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(id)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PatternId, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(|_| {
            serde::de::Error::custom(format!("expected 16 hex digits, found {text:?}"))
        })
    }
}

#[cfg(test)]
mod tests;
