//! The offline commands, `lad score` and `lad templates`: JSON Lines in, JSON Lines out, no
//! store and no saved models.
//!
//! Input objects have `message`, `hostname` and `received_at` and may hold anything else.
//! `received_at` is read as `lad import` reads a time (RFC 3339, with a space for the `T` or
//! without a zone, epoch seconds or milliseconds, `{"$date": ..}`); a UTF-8 byte order mark
//! before the first line is skipped. Every valid input line is written back in input order with
//! fields added; when the input object has none of the added fields already, the line's own
//! bytes are kept and the new fields are appended before its closing brace, so nothing the
//! user wrote is re-encoded. A line that is not UTF-8 or not a JSON object, has no `message`,
//! or has a `received_at` that does not parse is an error naming its line number, or, with
//! `skip_invalid`, is left out and counted.
//!
//! Input streams: it is read in chunks of whole lines ([`CHUNK_BYTES`], on a reader thread),
//! each chunk's lines are parsed, scored and written as JSON on every core (rayon), and the
//! output is handed to a writer thread in input order. At most four chunks are held at once
//! (one being read, one being worked on, two waiting to be written), so memory is bounded by
//! about 4 x [`CHUNK_BYTES`] (x 3 or so for the parsed lines and their output) plus the
//! longest line, whatever the input's length. Training input (`--train`) is held whole, as
//! the models need it: only its messages, grouped by host. `lad templates` reads its input
//! twice (a copy of standard input is kept in a temporary file for the second pass): first to
//! mine the patterns (the miner's own bound, `max_shapes`, bounds what is kept, with a few
//! member headers per pattern), then to write every line with its group; between the passes
//! each valid line's pattern is kept in a temporary file, 4 bytes a line. `--method dbscan`
//! clusters all messages at once and holds them.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use anyhow::{Context, Result};
use lad_core::aggregate::{group, pattern_group_text, AggregateParams};
use lad_core::detector::{DetectorParams, HostModel, Scored};
use lad_core::pattern::{Miner, PatternId, PatternValidParams, TemplateFormat};
use lad_core::syslog::{split, HeaderWitnesses};
use lad_store::parse::{LineChunk, LineChunks};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::Deserialize;
use serde_json::value::RawValue;

/// How many bytes of input are read, parsed and scored at a time.
pub const CHUNK_BYTES: usize = 4 << 20;

/// The chunk size: [`CHUNK_BYTES`], or the environment's `LAD_CHUNK_BYTES` (a knob for tests
/// and measurements: output never depends on it).
pub fn chunk_bytes(default: usize) -> usize {
    std::env::var("LAD_CHUNK_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(default)
}

/// Lines parsed or formatted by one rayon task (fewer tasks, less overhead).
const LINES_PER_TASK: usize = 1024;

/// A malformed input line, named by file and line number.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The line is not UTF-8.
    #[error("{file} line {line}: not valid UTF-8 (bad byte at column {column})")]
    NotUtf8 {
        /// Input name.
        file: String,
        /// 1-based line number.
        line: usize,
        /// 1-based byte column of the first bad byte.
        column: usize,
    },
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
    /// `received_at` is present but not a time.
    #[error("{file} line {line}: \"received_at\" is not a time: {reason}")]
    BadTime {
        /// Input name.
        file: String,
        /// 1-based line number.
        line: usize,
        /// What was expected and found.
        reason: String,
    },
    /// Reading failed (the I/O error's text is part of this message, not a separate cause, so
    /// it is written once).
    #[error("{file}: {error}")]
    Io {
        /// Input name.
        file: String,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The input changed between the two passes of `lad templates`.
    #[error("{file} changed while it was read (it has other lines on the second pass)")]
    Changed {
        /// Input name.
        file: String,
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
    received_at: Option<&'a RawValue>,
    is_anomaly: Option<serde::de::IgnoredAny>,
    anomaly_score: Option<serde::de::IgnoredAny>,
    group: Option<serde::de::IgnoredAny>,
    template: Option<serde::de::IgnoredAny>,
}

/// One valid input line, borrowed from its chunk.
pub struct Line<'a> {
    /// The line as read (without its newline, and without a byte order mark on line 1).
    pub raw: &'a str,
    /// Its `message`.
    pub message: Cow<'a, str>,
    /// Its `hostname` (empty when absent).
    pub host: Cow<'a, str>,
    /// Whether the object already holds a field lad adds (then it is re-encoded on output).
    pub has_output_fields: bool,
}

/// Invalid lines left out (only with `skip_invalid`): how many, and the first one.
#[derive(Debug, Default)]
pub struct Skipped {
    /// Lines left out.
    pub count: usize,
    /// The first one's error.
    pub first: Option<InputError>,
}

impl Skipped {
    fn add(&mut self, e: InputError) {
        self.count += 1;
        if self.first.is_none() {
            self.first = Some(e);
        }
    }

    /// Adds the lines `later` left out, counted after these.
    fn extend(&mut self, later: Skipped) {
        self.count += later.count;
        if self.first.is_none() {
            self.first = later.first;
        }
    }
}

/// Parses the lines of `chunk` on every core; blank lines are left out. Returns the valid
/// lines in order; an invalid line is the error (or, with `skip_invalid`, is counted in
/// `skipped`).
pub fn parse_chunk<'a>(
    chunk: &'a LineChunk,
    name: &str,
    skip_invalid: bool,
    skipped: &mut Skipped,
) -> Result<Vec<Line<'a>>, InputError> {
    let raw: Vec<(usize, &[u8])> = chunk.lines().collect();
    let parts: Vec<(Result<Vec<Line<'a>>, InputError>, Skipped)> = raw
        .par_chunks(LINES_PER_TASK)
        .map(|part| {
            let mut left_out = Skipped::default();
            (
                valid_lines(part, name, skip_invalid, &mut left_out),
                left_out,
            )
        })
        .collect();
    let mut lines = Vec::with_capacity(raw.len());
    for (part, left_out) in parts {
        skipped.extend(left_out);
        lines.extend(part?);
    }
    Ok(lines)
}

/// Parses the numbered lines `part` one after the other: the valid ones in order, blank ones
/// left out; an invalid line is the error (or, with `skip_invalid`, is counted in `skipped`).
fn valid_lines<'a>(
    part: &[(usize, &'a [u8])],
    name: &str,
    skip_invalid: bool,
    skipped: &mut Skipped,
) -> Result<Vec<Line<'a>>, InputError> {
    let mut lines = Vec::with_capacity(part.len());
    for &(number, bytes) in part {
        match parse_line(bytes, name, number) {
            None => {}
            Some(Ok(line)) => lines.push(line),
            Some(Err(e)) if skip_invalid => skipped.add(e),
            Some(Err(e)) => return Err(e),
        }
    }
    Ok(lines)
}

/// One line: `None` when blank.
fn parse_line<'a>(
    bytes: &'a [u8],
    file: &str,
    line: usize,
) -> Option<Result<Line<'a>, InputError>> {
    let raw = match std::str::from_utf8(bytes) {
        Ok(raw) => raw,
        Err(e) => {
            return Some(Err(InputError::NotUtf8 {
                file: file.to_string(),
                line,
                column: e.valid_up_to() + 1,
            }))
        }
    };
    let raw = if line == 1 {
        raw.strip_prefix('\u{feff}').unwrap_or(raw)
    } else {
        raw
    };
    if raw.trim().is_empty() {
        return None;
    }
    Some(parse_fields(raw, file, line))
}

fn parse_fields<'a>(raw: &'a str, file: &str, line: usize) -> Result<Line<'a>, InputError> {
    let f: Fields<'a> = serde_json::from_str(raw).map_err(|e| InputError::NotJson {
        file: file.to_string(),
        line,
        reason: e.to_string(),
    })?;
    let message = f.message.ok_or_else(|| InputError::NoMessage {
        file: file.to_string(),
        line,
    })?;
    if let Some(t) = f.received_at {
        check_time(t).map_err(|reason| InputError::BadTime {
            file: file.to_string(),
            line,
            reason,
        })?;
    }
    let has_output_fields = f.is_anomaly.is_some()
        || f.anomaly_score.is_some()
        || f.group.is_some()
        || f.template.is_some();
    Ok(Line {
        raw,
        message,
        host: f.hostname.unwrap_or_default(),
        has_output_fields,
    })
}

/// Reads a time as `lad import` does.
fn check_time(t: &RawValue) -> Result<(), String> {
    // The common case first: an RFC 3339 string with nothing escaped, read without a copy.
    let plain = t.get().strip_prefix('"').and_then(|s| s.strip_suffix('"'));
    if plain.is_some_and(|s| {
        !s.contains('\\')
            && time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .is_ok()
    }) {
        return Ok(());
    }
    if let Ok(s) = serde_json::from_str::<Cow<'_, str>>(t.get()) {
        return lad_store::timefmt::parse_time_str(&s).map(drop);
    }
    let v: serde_json::Value = serde_json::from_str(t.get()).map_err(|e| e.to_string())?;
    lad_store::timefmt::parse_time_value(&v).map(drop)
}

/// Reads `reader` in chunks on a thread of its own and calls `each` on every chunk in order
/// (one chunk is read ahead while `each` works).
pub fn for_each_chunk(
    reader: impl Read + Send + 'static,
    name: &str,
    mut each: impl FnMut(LineChunk) -> Result<()>,
) -> Result<()> {
    let (tx, rx) = sync_channel::<std::io::Result<LineChunk>>(1);
    // Not joined: when `each` fails the reader may be blocked on a pipe that never ends; it
    // stops at its next chunk (the channel is closed) or with the process.
    std::thread::spawn(move || {
        let mut chunks = LineChunks::new(reader, chunk_bytes(CHUNK_BYTES));
        loop {
            let next = chunks.next_chunk().transpose();
            let stop = !matches!(next, Some(Ok(_)));
            if next.is_some_and(|c| tx.send(c).is_err()) || stop {
                break;
            }
        }
    });
    for chunk in rx {
        let chunk = chunk.map_err(|error| InputError::Io {
            file: name.to_string(),
            error,
        })?;
        each(chunk)?;
    }
    Ok(())
}

/// Formatted output of a chunk: pieces to write one after the other.
type Pieces = Vec<Vec<u8>>;

/// Runs `work` with a writer thread that writes, in order, the buffers sent to it to `out`
/// (then flushes it). An error of the writer ends the work: sending fails, and the writer's
/// error is returned (a closed pipe stays an I/O error, for the caller to recognise).
pub fn with_writer<T>(
    out: &mut (dyn Write + Send),
    work: impl FnOnce(&SyncSender<Pieces>) -> Result<T>,
) -> Result<T> {
    std::thread::scope(|s| {
        let (tx, rx): (SyncSender<Pieces>, Receiver<Pieces>) = sync_channel(2);
        let writer = s.spawn(move || -> std::io::Result<()> {
            for bufs in rx {
                for buf in bufs {
                    out.write_all(&buf)?;
                }
            }
            out.flush()
        });
        let result = work(&tx);
        drop(tx);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the writer thread panicked")));
        match (result, written) {
            (_, Err(e)) => Err(e.into()),
            (r, Ok(())) => r,
        }
    })
}

/// Sends `buf` to the writer; a writer that stopped has its own error, returned by
/// [`with_writer`].
fn send(tx: &SyncSender<Pieces>, buf: Pieces) -> Result<()> {
    tx.send(buf)
        .map_err(|_| anyhow::anyhow!("the output writer stopped"))
}

/// A value added to an output line.
#[derive(Clone, Copy)]
pub enum Value<'a> {
    /// JSON text as it is (`null`, `1`, an encoded string).
    Json(&'a str),
    /// A number (`null` when not finite).
    Number(f64),
}

impl Value<'_> {
    fn write(self, out: &mut Vec<u8>) {
        match self {
            Value::Json(s) => out.extend_from_slice(s.as_bytes()),
            // As `wire::json_number`: shortest round-trip text, `null` when not finite (writing
            // into a Vec cannot fail).
            Value::Number(x) => {
                let _ = serde_json::to_writer(&mut *out, &x);
            }
        }
    }
}

/// Appends `line` with `fields` added, and a newline, to `out`.
pub fn write_with_fields(out: &mut Vec<u8>, line: &Line<'_>, fields: &[(&str, Value<'_>)]) {
    if !line.has_output_fields {
        if let Some(body) = line.raw.trim_end().strip_suffix('}') {
            let body = body.trim_end();
            out.extend_from_slice(body.as_bytes());
            let mut first = body.ends_with('{');
            for (k, v) in fields {
                if !first {
                    out.extend_from_slice(b", ");
                }
                first = false;
                out.push(b'"');
                out.extend_from_slice(k.as_bytes());
                out.extend_from_slice(b"\": ");
                v.write(out);
            }
            out.extend_from_slice(b"}\n");
            return;
        }
    }
    // Re-encode: replace the fields the object already had. The line parsed as an object, so
    // it does again.
    let mut obj: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(line.raw).unwrap_or_default();
    for (k, v) in fields {
        let mut text = Vec::new();
        v.write(&mut text);
        let v = serde_json::from_slice(&text).unwrap_or(serde_json::Value::Null);
        obj.insert((*k).to_string(), v);
    }
    // Writing a map of JSON values into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &obj);
    out.push(b'\n');
}

/// Formats `lines` on every core with `fields_of` giving each line's added fields, in order.
fn format_lines<'a, F>(lines: &[Line<'a>], fields_of: F) -> Pieces
where
    F: Fn(usize, &mut dyn FnMut(&[(&str, Value<'_>)])) + Sync,
{
    lines
        .par_chunks(LINES_PER_TASK)
        .enumerate()
        .map(|(c, part)| {
            let mut out = Vec::with_capacity(part.iter().map(|l| l.raw.len() + 48).sum());
            for (k, line) in part.iter().enumerate() {
                fields_of(c * LINES_PER_TASK + k, &mut |fields| {
                    write_with_fields(&mut out, line, fields);
                });
            }
            out
        })
        .collect()
}

/// The training input: every valid line's message, by host. Held whole, as the models need it.
#[derive(Default)]
pub struct TrainInput {
    /// By host, in order of first appearance: the host, its messages one after the other, and
    /// where each ends.
    hosts: Vec<(String, String, Vec<usize>)>,
    index: FxHashMap<String, usize>,
    /// Valid lines read.
    pub lines: usize,
    /// Invalid lines left out.
    pub skipped: Skipped,
}

impl TrainInput {
    /// Each host's messages.
    fn by_host(&self) -> impl Iterator<Item = (&str, Vec<&str>)> + '_ {
        self.hosts.iter().map(|(host, text, ends)| {
            let mut start = 0;
            let messages = ends
                .iter()
                .map(|&end| {
                    let m = text.get(start..end).unwrap_or_default();
                    start = end;
                    m
                })
                .collect();
            (host.as_str(), messages)
        })
    }
}

/// Reads the training lines of `reader`.
pub fn read_training(
    reader: impl Read + Send + 'static,
    name: &str,
    skip_invalid: bool,
) -> Result<TrainInput> {
    let mut input = TrainInput::default();
    for_each_chunk(reader, name, |chunk| {
        let lines = parse_chunk(&chunk, name, skip_invalid, &mut input.skipped)?;
        input.lines += lines.len();
        for l in lines {
            let i = match input.index.get(l.host.as_ref()) {
                Some(&i) => i,
                None => {
                    input.index.insert(l.host.to_string(), input.hosts.len());
                    input
                        .hosts
                        .push((l.host.to_string(), String::new(), Vec::new()));
                    input.hosts.len() - 1
                }
            };
            let (_, text, ends) = &mut input.hosts[i];
            text.push_str(&l.message);
            ends.push(text.len());
        }
        Ok(())
    })?;
    Ok(input)
}

/// Per-host models for `score`, trained in parallel (at most `parallelism` at once).
pub struct TrainedHosts {
    /// Models by hostname.
    pub models: BTreeMap<String, HostModel>,
    /// Hosts whose training failed, with the reason.
    pub failed: BTreeMap<String, String>,
}

/// Trains one model per hostname of `train`.
pub fn train_hosts(
    train: &TrainInput,
    params: &DetectorParams,
    parallelism: usize,
) -> TrainedHosts {
    let mut jobs: Vec<(&str, Vec<&str>)> = train.by_host().collect();
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

/// What [`score_stream`] did.
#[derive(Debug, Default)]
pub struct ScoreSummary {
    /// Valid lines written.
    pub lines: usize,
    /// Lines flagged anomalous.
    pub flagged: usize,
    /// Lines of hosts without a model (written with `null` verdicts).
    pub unscored: usize,
    /// Invalid lines left out.
    pub skipped: Skipped,
    /// Seconds spent scoring (the verdicts alone, not parsing or formatting): the threads'
    /// time in the scorers divided by the number of threads, an estimate of the wall time
    /// scoring took.
    pub score_s: f64,
}

/// Scores the lines of `reader` with their hosts' models and writes each with its verdict to
/// `out`, chunk by chunk, in input order.
///
/// Each chunk is cut into parts of `LINES_PER_TASK` (1,024) lines, and each part is parsed, scored
/// and formatted by one rayon task from start to end (no step waits for the whole chunk, and
/// a line stays in cache from its parsing to its output). A verdict does not depend on how
/// lines are cut into parts: a scorer only reads its model (see [`lad_core::scoring`]).
pub fn score_stream(
    reader: impl Read + Send + 'static,
    name: &str,
    skip_invalid: bool,
    hosts: &TrainedHosts,
    explain: bool,
    out: &mut (dyn Write + Send),
) -> Result<ScoreSummary> {
    let mut sum = ScoreSummary::default();
    let threads = rayon::current_num_threads().max(1) as f64;
    with_writer(out, |tx| {
        for_each_chunk(reader, name, |chunk| {
            let raw: Vec<(usize, &[u8])> = chunk.lines().collect();
            let parts: Vec<ScoredPart> = raw
                .par_chunks(LINES_PER_TASK)
                .map(|part| score_part(part, name, skip_invalid, hosts, explain))
                .collect();
            let mut buf = Vec::with_capacity(parts.len());
            for part in parts {
                if let Some(e) = part.error {
                    return Err(e.into());
                }
                sum.lines += part.lines;
                sum.unscored += part.unscored;
                sum.flagged += part.flagged;
                sum.score_s += part.score_s / threads;
                sum.skipped.extend(part.skipped);
                buf.push(part.out);
            }
            send(tx, buf)
        })
    })?;
    Ok(sum)
}

/// One part of a chunk, parsed, scored and formatted by [`score_part`].
#[derive(Default)]
struct ScoredPart {
    /// The part's output lines.
    out: Vec<u8>,
    /// Valid lines.
    lines: usize,
    unscored: usize,
    flagged: usize,
    /// Seconds spent scoring (the verdicts alone).
    score_s: f64,
    /// Invalid lines left out (with `skip_invalid`).
    skipped: Skipped,
    /// The first invalid line (without `skip_invalid`): the part's output is not written.
    error: Option<InputError>,
}

/// Parses, scores and formats the lines of `part` (numbered lines of one chunk).
fn score_part(
    part: &[(usize, &[u8])],
    name: &str,
    skip_invalid: bool,
    hosts: &TrainedHosts,
    explain: bool,
) -> ScoredPart {
    let mut done = ScoredPart::default();
    let lines = match valid_lines(part, name, skip_invalid, &mut done.skipped) {
        Ok(lines) => lines,
        Err(e) => {
            done.error = Some(e);
            return done;
        }
    };
    let started = std::time::Instant::now();
    // A scorer per host of the part (most parts hold a few hosts, read line after line).
    let mut scorers: FxHashMap<&str, Option<lad_core::detector::Scorer<'_>>> = FxHashMap::default();
    let verdicts: Vec<Option<Scored>> = lines
        .iter()
        .map(|line| {
            let scorer = scorers.entry(line.host.as_ref()).or_insert_with(|| {
                hosts.models.get(line.host.as_ref()).map(|model| {
                    if explain {
                        model.explaining_scorer()
                    } else {
                        model.scorer()
                    }
                })
            });
            scorer.as_mut().map(|s| s.score(&line.message))
        })
        .collect();
    done.score_s = started.elapsed().as_secs_f64();
    done.lines = lines.len();
    done.out = Vec::with_capacity(lines.iter().map(|l| l.raw.len() + 48).sum());
    for (line, verdict) in lines.iter().zip(verdicts) {
        done.unscored += usize::from(verdict.is_none());
        done.flagged += usize::from(verdict.is_some_and(|s| s.is_anomaly));
        let (fields, n) = verdict_fields(verdict, explain);
        write_with_fields(&mut done.out, line, &fields[..n]);
    }
    done
}

/// The fields `lad score` adds to a line, the first `n` of the array: its verdict (`null`s for
/// a host without a model), and with `explain` its components. An array, not a `Vec`: this
/// runs for every line.
fn verdict_fields(
    verdict: Option<Scored>,
    explain: bool,
) -> ([(&'static str, Value<'static>); 6], usize) {
    let null = Value::Json("null");
    let Some(s) = verdict else {
        let mut fields = [("", null); 6];
        fields[0] = ("is_anomaly", null);
        fields[1] = ("anomaly_score", null);
        return (fields, 2);
    };
    let fields = [
        (
            "is_anomaly",
            Value::Json(if s.is_anomaly { "1" } else { "0" }),
        ),
        ("anomaly_score", Value::Number(s.score)),
        ("lof_score", Value::Number(s.lof)),
        ("ae_error", Value::Number(s.ae_error)),
        ("novelty", Value::Number(s.novelty)),
        (
            "severity",
            s.severity.map_or(null, |v| Value::Number(f64::from(v))),
        ),
    ];
    (fields, if explain { 6 } else { 2 })
}

/// A pattern as first handed out during the first pass of `lad templates`, with what its
/// group's text needs.
struct Fold {
    id: PatternId,
    /// Position (among valid lines) of its first line.
    first_at: usize,
    /// That line's body, for a pattern the miner does not hold at the end.
    first_body: String,
    headers: HeaderWitnesses,
}

/// The first pass of `lad templates`: the miner after every line, the patterns handed out
/// and, in a temporary file, the index of each valid line's pattern among them.
pub struct Mined {
    miner: Miner,
    folds: Vec<Fold>,
    ids: std::fs::File,
    /// Valid lines read.
    pub lines: usize,
    /// Invalid lines left out.
    pub skipped: Skipped,
}

/// Mines the bodies of the lines of `reader` (their syslog headers cut off), as
/// [`lad_core::aggregate::group`] does; with `copy`, the input is also copied there for the
/// second pass.
pub fn mine_stream(
    reader: impl Read + Send + 'static,
    name: &str,
    skip_invalid: bool,
    params: &PatternValidParams,
    mut copy: Option<&mut std::fs::File>,
) -> Result<Mined> {
    let ids = tempfile::tempfile().context("cannot create a temporary file")?;
    let mut ids_out = BufWriter::with_capacity(1 << 20, ids);
    let mut miner = Miner::new(params.clone());
    let mut folds: Vec<Fold> = Vec::new();
    let mut fold_of: FxHashMap<PatternId, u32> = FxHashMap::default();
    let mut skipped = Skipped::default();
    let mut at = 0usize;
    for_each_chunk(reader, name, |chunk| {
        if let Some(copy) = copy.as_deref_mut() {
            copy.write_all(&chunk.bytes)
                .context("cannot write the temporary copy of standard input")?;
        }
        let lines = parse_chunk(&chunk, name, skip_invalid, &mut skipped)?;
        let splits: Vec<_> = lines
            .par_iter()
            .with_min_len(LINES_PER_TASK)
            .map(|l| split(&l.message))
            .collect();
        for (l, s) in lines.iter().zip(&splits) {
            let id = miner.observe(s.body, 0);
            let k = *fold_of.entry(id).or_insert_with(|| {
                folds.push(Fold {
                    id,
                    first_at: at,
                    first_body: s.body.to_string(),
                    headers: HeaderWitnesses::default(),
                });
                // At most one fold per pattern id the miner handed out, which its bound caps.
                (folds.len() - 1) as u32
            });
            folds[k as usize].headers.push(at, s.header, &l.message);
            ids_out.write_all(&k.to_le_bytes())?;
            at += 1;
        }
        Ok(())
    })?;
    let mut ids = ids_out.into_inner().map_err(|e| e.into_error())?;
    ids.rewind()?;
    Ok(Mined {
        miner,
        folds,
        ids,
        lines: at,
        skipped,
    })
}

/// Writes every line of the second pass over the input with its group and template, from
/// what [`mine_stream`] found.
pub fn write_groups(
    mined: Mined,
    reader: impl Read + Send + 'static,
    name: &str,
    skip_invalid: bool,
    format: TemplateFormat,
    out: &mut (dyn Write + Send),
) -> Result<()> {
    // The groups: the folds by the pattern their id resolves to at the end, numbered by their
    // first line; each fold's (group, template) as JSON.
    let mut groups: BTreeMap<PatternId, Vec<usize>> = BTreeMap::new();
    for (k, f) in mined.folds.iter().enumerate() {
        groups.entry(mined.miner.resolve(f.id)).or_default().push(k);
    }
    let mut ordered: Vec<(usize, PatternId, Vec<usize>)> = groups
        .into_iter()
        .map(|(id, ks)| {
            (
                ks.iter()
                    .map(|&k| mined.folds[k].first_at)
                    .min()
                    .unwrap_or(0),
                id,
                ks,
            )
        })
        .collect();
    ordered.sort_unstable_by_key(|(first, _, _)| *first);
    let mut json: Vec<(String, String)> = vec![(String::new(), String::new()); mined.folds.len()];
    for (label, (_, id, ks)) in ordered.into_iter().enumerate() {
        let mut headers = HeaderWitnesses::default();
        let mut first = &mined.folds[ks[0]];
        for &k in &ks {
            let f = &mined.folds[k];
            if f.first_at < first.first_at {
                first = f;
            }
            headers.merge(f.headers.clone());
        }
        let text = pattern_group_text(&mined.miner, id, &first.first_body, &headers.headers());
        let template = serde_json::to_string(&crate::wire::template_text(&text, format))?;
        for &k in &ks {
            json[k] = (format!("\"g{label}\""), template.clone());
        }
    }
    let mut ids = BufReader::with_capacity(1 << 20, mined.ids);
    let mut skipped = Skipped::default();
    let mut left = mined.lines;
    let changed = || InputError::Changed {
        file: name.to_string(),
    };
    with_writer(out, |tx| {
        for_each_chunk(reader, name, |chunk| {
            let lines = parse_chunk(&chunk, name, skip_invalid, &mut skipped)?;
            left = left.checked_sub(lines.len()).ok_or_else(changed)?;
            let mut raw = vec![0u8; lines.len() * 4];
            ids.read_exact(&mut raw).map_err(|_| changed())?;
            let ks: Vec<usize> = raw
                .chunks_exact(4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
                .collect();
            if ks.iter().any(|&k| k >= json.len()) {
                return Err(changed().into());
            }
            let buf = format_lines(&lines, |i, write| {
                let (g, t) = &json[ks[i]];
                write(&[("group", Value::Json(g)), ("template", Value::Json(t))]);
            });
            send(tx, buf)
        })?;
        if left != 0 {
            return Err(changed().into());
        }
        Ok(())
    })
}

/// `lad templates --method dbscan`: groups all messages at once (they are held) and writes
/// each line with its group and template.
pub fn group_whole(
    reader: impl Read + Send + 'static,
    name: &str,
    skip_invalid: bool,
    params: &AggregateParams,
    format: TemplateFormat,
    out: &mut (dyn Write + Send),
) -> Result<(usize, Skipped)> {
    let mut chunks = Vec::new();
    for_each_chunk(reader, name, |chunk| {
        chunks.push(chunk);
        Ok(())
    })?;
    let mut skipped = Skipped::default();
    let mut lines = Vec::new();
    for chunk in &chunks {
        lines.extend(parse_chunk(chunk, name, skip_invalid, &mut skipped)?);
    }
    let messages: Vec<&str> = lines.iter().map(|l| l.message.as_ref()).collect();
    let grouping = group(&messages, params)?;
    let templates: Vec<String> = grouping
        .templates
        .iter()
        .map(|t| serde_json::to_string(&crate::wire::template_text(t, format)))
        .collect::<Result<_, _>>()?;
    let buf = format_lines(&lines, |i, write| {
        let g = grouping.labels[i];
        let label = format!("\"g{g}\"");
        write(&[
            ("group", Value::Json(&label)),
            ("template", Value::Json(&templates[g])),
        ]);
    });
    for part in buf {
        out.write_all(&part)?;
    }
    out.flush()?;
    Ok((lines.len(), skipped))
}
