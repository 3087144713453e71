//! The offline commands, `lad score` and `lad templates`: JSON Lines in, JSON Lines out, no
//! store and no saved models.
//!
//! Input objects have `message`, `hostname` and `received_at` (RFC 3339) and may hold anything
//! else. Every valid input line is written back in input order with fields added; when the
//! input object has none of the added fields already, the line's own bytes are kept and the new
//! fields are appended before its closing brace, so nothing the user wrote is re-encoded.
//! A line without `message`, or with a `received_at` that does not parse, is an error naming its
//! line number, or, with `skip_invalid`, is left out and counted.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use lad_core::aggregate::{group, AggregateParams};
use lad_core::detector::{DetectorParams, HostModel, Scored};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::Deserialize;

/// A malformed input line, named by file and line number.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The line is not a JSON object.
    #[error("{file} line {line}: not a JSON object: {reason}")]
    NotJson {
        /// Input name.
        file: String,
        /// 1-based line number.
        line: usize,
        /// Parser message.
        reason: String,
    },
    /// The object has no string `message`.
    #[error("{file} line {line}: no \"message\" string field")]
    NoMessage {
        /// Input name.
        file: String,
        /// 1-based line number.
        line: usize,
    },
    /// `received_at` is present but not an RFC 3339 time.
    #[error("{file} line {line}: \"received_at\" is not an RFC 3339 time: {value:?}")]
    BadTime {
        /// Input name.
        file: String,
        /// 1-based line number.
        line: usize,
        /// The value found.
        value: String,
    },
    /// Reading failed.
    #[error("{file}: {source}")]
    Io {
        /// Input name.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The fields lad reads from an input line; the rest is skipped without being decoded.
#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(borrow)]
    message: Option<Cow<'a, str>>,
    #[serde(borrow)]
    hostname: Option<Cow<'a, str>>,
    #[serde(borrow)]
    received_at: Option<Cow<'a, str>>,
    is_anomaly: Option<serde::de::IgnoredAny>,
    anomaly_score: Option<serde::de::IgnoredAny>,
    group: Option<serde::de::IgnoredAny>,
    template: Option<serde::de::IgnoredAny>,
}

/// One valid input line.
pub struct Line {
    /// The line as read (without its newline).
    pub raw: String,
    /// Where its `message` lies in [`Input::messages`].
    pub message: std::ops::Range<usize>,
    /// Index of its `hostname` (empty when absent) in [`Input::hosts`].
    pub host: u32,
    /// Whether the object already holds a field lad adds (then it is re-encoded on output).
    pub has_output_fields: bool,
}

/// Lines read and lines left out.
pub struct Input {
    /// Valid lines in input order.
    pub lines: Vec<Line>,
    /// The distinct hostnames, in order of first appearance: a line names its host by index,
    /// so grouping lines by host later reads no strings.
    pub hosts: Vec<String>,
    /// Invalid lines skipped (only with `skip_invalid`), with their errors.
    pub skipped: Vec<InputError>,
    /// Every line's `message`, one after the other: scoring reads them in order from one
    /// buffer instead of chasing one allocation per line (they are cold by then, after
    /// training).
    pub messages: String,
}

impl Input {
    /// The `message` of `line`.
    pub fn message(&self, line: &Line) -> &str {
        self.messages.get(line.message.clone()).unwrap_or_default()
    }

    /// Each host with the indices of its lines in input order, hosts by index.
    pub fn lines_by_host(&self) -> Vec<(&str, Vec<usize>)> {
        let mut groups: Vec<(&str, Vec<usize>)> = self
            .hosts
            .iter()
            .map(|h| (h.as_str(), Vec::new()))
            .collect();
        for (i, l) in self.lines.iter().enumerate() {
            groups[l.host as usize].1.push(i);
        }
        groups
    }
}

/// Reads JSON Lines from `reader`; `name` is used in error messages.
pub fn read_input(
    reader: impl BufRead,
    name: &str,
    skip_invalid: bool,
) -> Result<Input, InputError> {
    let mut lines = Vec::new();
    let mut skipped = Vec::new();
    let mut messages = String::new();
    let mut hosts: Vec<String> = Vec::new();
    let mut host_ids: FxHashMap<String, u32> = FxHashMap::default();
    for (i, raw) in reader.lines().enumerate() {
        let raw = raw.map_err(|source| InputError::Io {
            file: name.to_string(),
            source,
        })?;
        if raw.trim().is_empty() {
            continue;
        }
        match parse_line(&raw, name, i + 1) {
            Ok((message, hostname, has_output_fields)) => {
                let host = match host_ids.get(hostname.as_ref()) {
                    Some(&id) => id,
                    None => {
                        let id = u32::try_from(hosts.len()).map_err(|_| InputError::Io {
                            file: name.to_string(),
                            source: std::io::Error::other("more than 2^32 distinct hostnames"),
                        })?;
                        hosts.push(hostname.to_string());
                        host_ids.insert(hostname.into_owned(), id);
                        id
                    }
                };
                let at = messages.len();
                messages.push_str(&message);
                lines.push(Line {
                    raw,
                    message: at..messages.len(),
                    host,
                    has_output_fields,
                });
            }
            Err(e) if skip_invalid => skipped.push(e),
            Err(e) => return Err(e),
        }
    }
    Ok(Input {
        lines,
        skipped,
        hosts,
        messages,
    })
}

fn parse_line<'a>(
    raw: &'a str,
    file: &str,
    line: usize,
) -> Result<(Cow<'a, str>, Cow<'a, str>, bool), InputError> {
    let f: Fields<'_> = serde_json::from_str(raw).map_err(|e| InputError::NotJson {
        file: file.to_string(),
        line,
        reason: e.to_string(),
    })?;
    let message = f.message.ok_or_else(|| InputError::NoMessage {
        file: file.to_string(),
        line,
    })?;
    if let Some(t) = &f.received_at {
        if time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).is_err() {
            return Err(InputError::BadTime {
                file: file.to_string(),
                line,
                value: t.to_string(),
            });
        }
    }
    let has_output = f.is_anomaly.is_some()
        || f.anomaly_score.is_some()
        || f.group.is_some()
        || f.template.is_some();
    Ok((message, f.hostname.unwrap_or_default(), has_output))
}

/// Writes `line` back with `fields` (already JSON-encoded values) added.
pub fn write_with_fields(
    out: &mut impl Write,
    line: &Line,
    fields: &[(&str, String)],
) -> std::io::Result<()> {
    if !line.has_output_fields {
        if let Some(body) = line.raw.trim_end().strip_suffix('}') {
            let body = body.trim_end();
            out.write_all(body.as_bytes())?;
            let mut first = body.ends_with('{');
            for (k, v) in fields {
                if !first {
                    out.write_all(b", ")?;
                }
                first = false;
                write!(out, "\"{k}\": {v}")?;
            }
            return out.write_all(b"}\n");
        }
    }
    // Re-encode: replace the fields the object already had.
    let mut obj: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&line.raw).map_err(std::io::Error::other)?;
    for (k, v) in fields {
        let v: serde_json::Value = serde_json::from_str(v).map_err(std::io::Error::other)?;
        obj.insert((*k).to_string(), v);
    }
    serde_json::to_writer(&mut *out, &obj).map_err(std::io::Error::other)?;
    out.write_all(b"\n")
}

/// Per-host models for `score`, trained in parallel (at most `parallelism` at once).
pub struct TrainedHosts {
    /// Models by hostname.
    pub models: BTreeMap<String, HostModel>,
    /// Hosts whose training failed, with the reason.
    pub failed: BTreeMap<String, String>,
}

/// Trains one model per hostname of `train`.
pub fn train_hosts(train: &Input, params: &DetectorParams, parallelism: usize) -> TrainedHosts {
    let mut jobs: Vec<(&str, Vec<&str>)> = train
        .lines_by_host()
        .into_iter()
        .map(|(host, idx)| {
            let messages = idx.iter().map(|&i| train.message(&train.lines[i]));
            (host, messages.collect())
        })
        .collect();
    jobs.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let run = || {
        jobs.par_iter()
            .map(|(host, msgs)| (host.to_string(), HostModel::train(msgs, params)))
            .collect::<Vec<_>>()
    };
    let results = match rayon::ThreadPoolBuilder::new()
        .num_threads(parallelism.max(1))
        .build()
    {
        Ok(pool) => pool.install(run),
        Err(_) => run(),
    };
    let mut models = BTreeMap::new();
    let mut failed = BTreeMap::new();
    for (host, r) in results {
        match r {
            Ok(m) => {
                models.insert(host, m);
            }
            Err(e) => {
                failed.insert(host, e.to_string());
            }
        }
    }
    TrainedHosts { models, failed }
}

/// Verdicts of the lines of an [`Input`], kept by host as they were computed.
pub struct ScoredLines {
    /// By host index: the verdicts of that host's lines in input order, `None` where the
    /// host has no model.
    by_host: Vec<Option<Vec<Scored>>>,
}

impl ScoredLines {
    /// Each line's verdict in input order (`None` for a line whose host has no model):
    /// the k-th line of a host takes that host's k-th verdict, so nothing is copied.
    pub fn in_input_order<'a>(
        &'a self,
        input: &'a Input,
    ) -> impl Iterator<Item = (&'a Line, Option<&'a Scored>)> + 'a {
        let mut next = vec![0usize; self.by_host.len()];
        input.lines.iter().map(move |line| {
            let host = line.host as usize;
            let verdict = next.get_mut(host).and_then(|k| {
                *k += 1;
                self.by_host.get(host)?.as_ref()?.get(*k - 1)
            });
            (line, verdict)
        })
    }
}

/// Scores every input line with its host's model (in parallel over hosts).
pub fn score_lines(input: &Input, hosts: &TrainedHosts, explain: bool) -> ScoredLines {
    let groups = input.lines_by_host();
    let messages: Vec<&str> = input.lines.iter().map(|l| input.message(l)).collect();
    ScoredLines {
        by_host: lad_core::scoring::score_each_group(&groups, &messages, explain, |h| {
            hosts.models.get(h)
        }),
    }
}

/// Groups the messages of `input` (all hosts together) and returns each line's group id and
/// template.
pub fn template_lines(
    input: &Input,
    params: &AggregateParams,
) -> Result<Vec<(String, String)>, lad_core::aggregate::AggregateError> {
    let messages: Vec<&str> = input.lines.iter().map(|l| input.message(l)).collect();
    let grouping = group(&messages, params)?;
    Ok(grouping
        .labels
        .iter()
        .map(|&g| (format!("g{g}"), grouping.templates[g].clone()))
        .collect())
}
