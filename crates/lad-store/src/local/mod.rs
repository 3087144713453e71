//! The `local` backend: records come from files under `LS_INPUT_PATH`, verdicts go to
//! `LS_OUTPUT_PATH` as JSON Lines.
//!
//! - Input: one file, or every non-hidden file of a folder (not its sub-folders), each in any
//!   format of [`crate::parse`] (detected per file). A record's source is the configured `source`
//!   when set, else the file name up to its first dot (`syslog.jsonl` → `syslog`). Its id is the
//!   document's `_id`, else `file:line`. Files are expected to grow by appending: on every read
//!   the store parses what was appended since the last one (a JSON array is re-read whole when it
//!   changes, keeping records already known); a last line without a newline is read once the file
//!   has not changed for 2 seconds, so a line being written is not cut in two. RFC 3164 stamps are
//!   read against the file's modification time.
//! - Output: each scored record is appended to `LS_OUTPUT_PATH` once, as its document with `_id`,
//!   `source`, `is_anomaly` (0/1) and `anomaly_score`. On open the output is read back, so a
//!   restart does not score anything twice. A torn last line (a crash mid-write) is cut off.
//! - State that is not a verdict (malformed marks, aggregates with their members, feedback) is
//!   appended to `<LS_OUTPUT_PATH>.lad-state.jsonl`, one tagged JSON object per line.
//! - Incidents and the links of anomalies to them are appended to
//!   `<LS_OUTPUT_PATH>.lad-incidents.jsonl`, one line per write (`{"incidents": [..], "links":
//!   [..]}`), so a write is whole or, torn by a crash, ignored; the file is read on first use and
//!   what other processes appended since is read before every call.
//! - `import` appends JSON Lines to `<folder>/<source>.jsonl` (or to the input file when it is a
//!   JSON Lines file of that source), skipping documents whose `_id` the source already has.
//!
//! Everything is held in memory; this backend is for files of up to a few million lines.
//! Each write is flushed and synced before the store's memory changes, so a crash loses nothing
//! that a call reported as written.
//!
//! Files: this one holds the config, the in-memory index, opening and replaying the journals;
//! `input` reads the input files, `read` the [`RecordSource`](crate::RecordSource) and
//! [`TrainingReader`](crate::TrainingReader) roles, `write` the
//! [`VerdictSink`](crate::VerdictSink), `state` the [`StateStore`](crate::StateStore) and the
//! state journal, `archive` the [`RecordArchive`](crate::RecordArchive).

mod archive;
mod input;
mod read;
mod state;
mod write;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::feedback::FeedbackLog;
use crate::parse::{self, InputFormat, ParseOptions, ParsedItem};
use crate::record::{
    check_message, Aggregate, AggregateDraft, Anomaly, Batch, ExportCursor, ExportPage, ExportRow,
    Feedback, FieldNames, ImportSummary, Malformed, NewFeedback, NewRecord, Record, RecordId,
    Verdict,
};
use crate::timefmt::format_rfc3339_millis;
use crate::StoreError;

const BACKEND: &str = "local";
/// How long a file must stay unchanged before its unterminated last line is read.
const SETTLE: Duration = Duration::from_secs(2);

/// Settings of the `local` backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalConfig {
    /// `LS_INPUT_PATH`: a file or a folder of files.
    pub input_path: PathBuf,
    /// `LS_OUTPUT_PATH`: the JSON Lines file verdicts are appended to (created when missing).
    pub output_path: PathBuf,
    /// Field names of JSON documents (`*_INDEX`).
    pub fields: FieldNames,
    /// The source every input record belongs to; `None`: the file name up to its first dot.
    pub source: Option<String>,
}

#[derive(Debug)]
struct InputFile {
    path: PathBuf,
    origin: String,
    source: String,
    format: Option<InputFormat>,
    /// Bytes consumed so far (line formats) or the size last parsed (arrays).
    consumed: u64,
    next_line: usize,
    modified: Option<SystemTime>,
}

#[derive(Debug)]
struct Entry {
    id: RecordId,
    source: String,
    /// The record, or its host (if known) and why it cannot be read.
    body: Result<Record, (Option<String>, String)>,
    verdict: Option<(bool, f64)>,
    aggregate: Option<i64>,
    mark: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum StateLine {
    Malformed {
        source: String,
        id: RecordId,
        reason: String,
    },
    Aggregate {
        id: i64,
        input_source: String,
        target: String,
        message: String,
        total_logs: u64,
        average_time_ms: i64,
        average_anomaly_score: f64,
        most_frequent_hostname: String,
        was_added_at_ms: i64,
        member_ids: Vec<RecordId>,
    },
    Feedback(Feedback),
    FeedbackUndo {
        id: i64,
        undone_at_ms: i64,
    },
}

/// The `local` backend over its input files and output file.
#[derive(Debug)]
pub struct LocalStore {
    config: LocalConfig,
    state_path: PathBuf,
    files: Vec<InputFile>,
    entries: Vec<Entry>,
    by_id: HashMap<(String, RecordId), usize>,
    /// Per source: good, unscored, unmarked entries by (time, entry index).
    unscored: HashMap<String, BTreeSet<(i64, usize)>>,
    /// Unreadable entries not yet marked.
    bad_unmarked: BTreeSet<usize>,
    aggregates: Vec<Aggregate>,
    feedback: FeedbackLog,
    output: File,
    state: File,
    /// Incidents and links, read from their journal on first use.
    incidents: state::IncidentJournal,
}

fn io<'a>(
    operation: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        backend: BACKEND,
        operation,
        path: path.to_owned(),
        source,
    }
}

fn unix_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// Opens a JSON Lines file for appending after cutting a torn last line; returns its complete lines.
fn open_journal(path: &Path) -> Result<(File, Vec<u8>), StoreError> {
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(io("open", path))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io("read", path))?;
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        let keep = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
        bytes.truncate(keep);
        file.set_len(keep as u64)
            .map_err(io("cut the torn last line of", path))?;
    }
    Ok((file, bytes))
}

fn append(file: &mut File, path: &Path, text: &str) -> Result<(), StoreError> {
    if text.is_empty() {
        return Ok(());
    }
    file.write_all(text.as_bytes())
        .map_err(io("append to", path))?;
    file.sync_data().map_err(io("sync", path))
}

impl LocalStore {
    /// Opens the input and output, reading back verdicts and state of earlier runs.
    pub fn open(config: &LocalConfig) -> Result<LocalStore, StoreError> {
        if !config.input_path.exists() {
            return Err(StoreError::Config {
                backend: BACKEND,
                reason: format!(
                    "LS_INPUT_PATH {} does not exist",
                    config.input_path.display()
                ),
            });
        }
        let mut name = config
            .output_path
            .file_name()
            .unwrap_or_default()
            .to_os_string();
        name.push(".lad-state.jsonl");
        let state_path = config.output_path.with_file_name(name);
        let mut name = config
            .output_path
            .file_name()
            .unwrap_or_default()
            .to_os_string();
        name.push(".lad-incidents.jsonl");
        let incidents = state::IncidentJournal::new(config.output_path.with_file_name(name));
        let (output, output_bytes) = open_journal(&config.output_path)?;
        let (state, state_bytes) = open_journal(&state_path)?;
        let mut store = LocalStore {
            config: config.clone(),
            state_path,
            files: Vec::new(),
            entries: Vec::new(),
            by_id: HashMap::new(),
            unscored: HashMap::new(),
            bad_unmarked: BTreeSet::new(),
            aggregates: Vec::new(),
            feedback: FeedbackLog::default(),
            output,
            state,
            incidents,
        };
        store.refresh()?;
        store.replay_output(&output_bytes)?;
        store.replay_state(&state_bytes)?;
        Ok(store)
    }

    fn corrupt(path: &Path, line: usize, reason: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt {
            backend: BACKEND,
            location: format!("{}:{line}", path.display()),
            reason: reason.to_string(),
        }
    }

    fn replay_output(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            let bad = |r: String| Self::corrupt(&self.config.output_path, i + 1, r);
            let v: Value = serde_json::from_slice(line)
                .map_err(|e| bad(format!("expected a JSON object: {e}")))?;
            let id = v
                .get("_id")
                .and_then(RecordId::from_json)
                .ok_or_else(|| bad("missing _id".into()))?;
            let source = v
                .get("source")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("missing source".into()))?;
            let is_anomaly = v
                .get("is_anomaly")
                .and_then(Value::as_i64)
                .ok_or_else(|| bad("missing is_anomaly".into()))?;
            let score = v
                .get("anomaly_score")
                .and_then(Value::as_f64)
                .ok_or_else(|| bad("missing anomaly_score".into()))?;
            // A verdict for a record no longer in the input (a rotated file) is kept in the output only.
            if let Some(&idx) = self.by_id.get(&(source.to_owned(), id)) {
                self.apply_verdict(idx, is_anomaly != 0, score);
            }
        }
        Ok(())
    }

    fn replay_state(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            let parsed: StateLine = serde_json::from_slice(line).map_err(|e| {
                Self::corrupt(
                    &self.state_path,
                    i + 1,
                    format!("expected a lad state line: {e}"),
                )
            })?;
            self.apply_state(parsed);
        }
        Ok(())
    }

    fn apply_state(&mut self, line: StateLine) {
        match line {
            StateLine::Malformed { source, id, reason } => {
                if let Some(&idx) = self.by_id.get(&(source, id)) {
                    self.apply_mark(idx, reason);
                }
            }
            StateLine::Aggregate {
                id,
                input_source,
                target,
                message,
                total_logs,
                average_time_ms,
                average_anomaly_score,
                most_frequent_hostname,
                was_added_at_ms,
                member_ids,
            } => {
                for m in &member_ids {
                    if let Some(&idx) = self.by_id.get(&(input_source.clone(), m.clone())) {
                        self.entries[idx].aggregate = Some(id);
                    }
                }
                self.aggregates.push(Aggregate {
                    id: RecordId::Int(id),
                    input_source,
                    target,
                    draft: AggregateDraft {
                        message,
                        total_logs,
                        average_time_ms,
                        average_anomaly_score,
                        most_frequent_hostname,
                        was_added_at_ms,
                        member_ids,
                    },
                });
            }
            StateLine::Feedback(f) => self.feedback.push(f),
            StateLine::FeedbackUndo { id, undone_at_ms } => {
                self.feedback.undo(id, undone_at_ms);
            }
        }
    }

    fn apply_verdict(&mut self, idx: usize, is_anomaly: bool, score: f64) {
        let e = &mut self.entries[idx];
        if e.verdict.is_some() {
            return;
        }
        e.verdict = Some((is_anomaly, score));
        if let Ok(r) = &e.body {
            if let Some(set) = self.unscored.get_mut(&e.source) {
                set.remove(&(r.time, idx));
            }
        }
    }

    fn apply_mark(&mut self, idx: usize, reason: String) {
        let e = &mut self.entries[idx];
        if let Ok(r) = &e.body {
            if let Some(set) = self.unscored.get_mut(&e.source) {
                set.remove(&(r.time, idx));
            }
        }
        self.bad_unmarked.remove(&idx);
        e.mark = Some(reason);
    }

    /// The file `import` appends to for `source` when the input is a folder.
    pub fn import_path(&self, source: &str) -> PathBuf {
        self.config.input_path.join(format!("{source}.jsonl"))
    }

    /// The state file next to the output.
    pub fn state_path(&self) -> &Path {
        &self.state_path
    }
}
