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
//! - `import` appends JSON Lines to `<folder>/<source>.jsonl` (or to the input file when it is a
//!   JSON Lines file of that source), skipping documents whose `_id` the source already has.
//!
//! Everything is held in memory; this backend is for files of up to a few million lines.
//! Each write is flushed and synced before the store's memory changes, so a crash loses nothing
//! that a call reported as written.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

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
    feedback: Vec<Feedback>,
    output: File,
    state: File,
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
            feedback: Vec::new(),
            output,
            state,
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
                if let Some(f) = self
                    .feedback
                    .iter_mut()
                    .find(|f| f.id == id && f.undone_at_ms.is_none())
                {
                    f.undone_at_ms = Some(undone_at_ms);
                }
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

    fn is_own_file(&self, path: &Path) -> bool {
        let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => a == b,
        };
        same(path, &self.config.output_path) || same(path, &self.state_path)
    }

    fn source_of(&self, path: &Path) -> String {
        if let Some(s) = &self.config.source {
            return s.clone();
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        name.split('.').next().unwrap_or_default().to_owned()
    }

    /// Picks up new files and appended lines.
    fn refresh(&mut self) -> Result<(), StoreError> {
        let input = self.config.input_path.clone();
        let meta = std::fs::metadata(&input).map_err(io("read", &input))?;
        let mut paths = Vec::new();
        if meta.is_dir() {
            for dirent in std::fs::read_dir(&input).map_err(io("list the input folder", &input))? {
                let dirent = dirent.map_err(io("list the input folder", &input))?;
                let path = dirent.path();
                let hidden = dirent.file_name().to_string_lossy().starts_with('.');
                if !hidden && path.is_file() && !self.is_own_file(&path) {
                    paths.push(path);
                }
            }
            paths.sort();
        } else {
            paths.push(input.clone());
        }
        for path in paths {
            if !self.files.iter().any(|f| f.path == path) {
                let origin = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let source = self.source_of(&path);
                self.files.push(InputFile {
                    path,
                    origin,
                    source,
                    format: None,
                    consumed: 0,
                    next_line: 1,
                    modified: None,
                });
            }
        }
        for i in 0..self.files.len() {
            self.refresh_file(i)?;
        }
        Ok(())
    }

    fn refresh_file(&mut self, i: usize) -> Result<(), StoreError> {
        let file = &self.files[i];
        let path = file.path.clone();
        let meta = std::fs::metadata(&path).map_err(io("read input file", &path))?;
        let modified = meta.modified().ok();
        if meta.len() == file.consumed && modified == file.modified {
            return Ok(());
        }
        let settled = modified.is_some_and(|m| m.elapsed().unwrap_or_default() >= SETTLE);
        let reference_time_ms = modified.map_or(0, unix_ms);
        let options = ParseOptions {
            fields: self.config.fields.clone(),
            origin: file.origin.clone(),
            reference_time_ms,
        };
        let (source, was_array) = (
            file.source.clone(),
            file.format == Some(InputFormat::JsonArray),
        );
        let start = if was_array || meta.len() < file.consumed {
            0
        } else {
            file.consumed
        };
        let mut handle = File::open(&path).map_err(io("open input file", &path))?;
        handle
            .seek(SeekFrom::Start(start))
            .map_err(io("read input file", &path))?;
        let mut bytes = Vec::new();
        handle
            .read_to_end(&mut bytes)
            .map_err(io("read input file", &path))?;
        let format = match self.files[i].format {
            Some(f) => f,
            None if bytes.iter().all(u8::is_ascii_whitespace) => return Ok(()),
            None => parse::detect_format(&bytes),
        };
        let (items, consumed, lines_read) = match format {
            InputFormat::JsonArray => (
                parse::parse_json_array(&bytes, &options),
                start + bytes.len() as u64,
                0,
            ),
            line_format => {
                let end = if bytes.ends_with(b"\n") || settled {
                    bytes.len()
                } else {
                    bytes.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1)
                };
                let chunk = &bytes[..end];
                let first = if start == 0 {
                    1
                } else {
                    self.files[i].next_line
                };
                let items = if line_format == InputFormat::JsonLines {
                    parse::parse_json_lines(chunk, first, &options)
                } else {
                    parse::parse_syslog_lines(chunk, first, &options)
                };
                let lines = chunk.iter().filter(|b| **b == b'\n').count()
                    + usize::from(!chunk.ends_with(b"\n") && !chunk.is_empty());
                (items, start + end as u64, lines)
            }
        };
        let f = &mut self.files[i];
        if start == 0 {
            f.next_line = 1;
        }
        f.format = Some(format);
        f.consumed = consumed;
        f.next_line += lines_read;
        f.modified = modified;
        let origin = f.origin.clone();
        let array = format == InputFormat::JsonArray;
        for item in items {
            self.add_item(&source, &origin, item, array);
        }
        Ok(())
    }

    fn add_item(&mut self, source: &str, origin: &str, item: ParsedItem, reread: bool) {
        let (id, body) = match item {
            Ok(p) => {
                let line_id = RecordId::Text(format!("{origin}:{}", p.line));
                let id = p
                    .record
                    .original_id
                    .clone()
                    .unwrap_or_else(|| line_id.clone());
                if self.by_id.contains_key(&(source.to_owned(), id.clone())) {
                    if reread {
                        return;
                    }
                    (
                        line_id,
                        Err((
                            Some(p.record.host),
                            format!("duplicate _id {id} in source {source:?}"),
                        )),
                    )
                } else {
                    let r = p.record;
                    let body = match check_message(&r.message) {
                        Ok(()) => Ok(Record {
                            id: id.clone(),
                            source: source.to_owned(),
                            host: r.host,
                            time: r.time,
                            message: r.message,
                            extra: r.extra,
                        }),
                        Err(reason) => Err((Some(r.host), reason)),
                    };
                    (id, body)
                }
            }
            Err(e) => (
                RecordId::Text(format!("{}:{}", e.origin, e.line)),
                Err((None, e.reason)),
            ),
        };
        let key = (source.to_owned(), id.clone());
        if self.by_id.contains_key(&key) {
            return;
        }
        let idx = self.entries.len();
        match &body {
            Ok(r) => {
                self.unscored
                    .entry(source.to_owned())
                    .or_default()
                    .insert((r.time, idx));
            }
            Err(_) => {
                self.bad_unmarked.insert(idx);
            }
        }
        self.by_id.insert(key, idx);
        self.entries.push(Entry {
            id,
            source: source.to_owned(),
            body,
            verdict: None,
            aggregate: None,
            mark: None,
        });
    }

    /// See [`crate::Store::import`].
    pub fn import(
        &mut self,
        source: &str,
        records: &[NewRecord],
    ) -> Result<ImportSummary, StoreError> {
        self.refresh()?;
        let input = self.config.input_path.clone();
        let target = if input.is_dir() {
            input.join(format!("{source}.jsonl"))
        } else {
            let file_source = self.source_of(&input);
            let format = self.files.first().and_then(|f| f.format);
            if file_source != source || format.is_some_and(|f| f != InputFormat::JsonLines) {
                return Err(StoreError::Config {
                    backend: BACKEND,
                    reason: format!(
                        "LS_INPUT_PATH {} is one file of source {file_source:?}; importing into source {source:?} \
                         needs a JSON Lines file of that source or a folder",
                        input.display()
                    ),
                });
            }
            input
        };
        let mut summary = ImportSummary::default();
        let mut seen = HashSet::new();
        let mut text = String::new();
        for r in records {
            if let Some(id) = &r.original_id {
                if self.by_id.contains_key(&(source.to_owned(), id.clone()))
                    || !seen.insert(id.clone())
                {
                    summary.duplicates += 1;
                    continue;
                }
            }
            let mut doc = r.extra.clone();
            if let Some(id) = &r.original_id {
                let id_json = match id {
                    RecordId::Int(n) => json!(n),
                    RecordId::ObjectId(h) => json!({ "$oid": h }),
                    RecordId::Text(t) => json!(t),
                };
                doc.insert("_id".into(), id_json);
            }
            let fields = &self.config.fields;
            doc.insert(fields.host.clone(), json!(r.host));
            doc.insert(fields.time.clone(), json!(format_rfc3339_millis(r.time)));
            doc.insert(fields.message.clone(), json!(r.message));
            text.push_str(&Value::Object(doc).to_string());
            text.push('\n');
            summary.inserted += 1;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&target)
            .map_err(io("open", &target))?;
        append(&mut file, &target, &text)?;
        self.refresh()?;
        Ok(summary)
    }

    /// See [`crate::Store::training_window`].
    pub fn training_window(
        &mut self,
        source: &str,
        host: &str,
        from_ms: i64,
        to_ms: i64,
        max: usize,
    ) -> Result<Batch, StoreError> {
        self.refresh()?;
        let mut hits: Vec<(i64, usize)> = self
            .entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match &e.body {
                Ok(r)
                    if e.mark.is_none()
                        && e.source == source
                        && r.host == host
                        && r.time >= from_ms
                        && r.time < to_ms =>
                {
                    Some((r.time, i))
                }
                _ => None,
            })
            .collect();
        hits.sort_unstable_by(|a, b| b.cmp(a));
        hits.truncate(max);
        hits.reverse();
        Ok(Batch {
            records: hits
                .into_iter()
                .filter_map(|(_, i)| self.entries[i].body.as_ref().ok().cloned())
                .collect(),
            malformed: Vec::new(),
        })
    }

    fn malformed_of(&self, idx: usize) -> Malformed {
        let e = &self.entries[idx];
        let (host, reason) = match (&e.body, &e.mark) {
            (_, Some(mark)) => (e.body.as_ref().ok().map(|r| r.host.clone()), mark.clone()),
            (Err((host, reason)), None) => (host.clone(), reason.clone()),
            (Ok(r), None) => (Some(r.host.clone()), String::new()),
        };
        Malformed {
            id: e.id.clone(),
            source: e.source.clone(),
            host,
            reason,
        }
    }

    /// See [`crate::Store::next_unscored`].
    pub fn next_unscored(
        &mut self,
        source: &str,
        hosts: &[String],
        limit: usize,
    ) -> Result<Batch, StoreError> {
        self.refresh()?;
        let wanted =
            |host: Option<&String>| hosts.is_empty() || host.is_none_or(|h| hosts.contains(h));
        let mut batch = Batch::default();
        for &idx in &self.bad_unmarked {
            if batch.malformed.len() >= limit {
                break;
            }
            let m = self.malformed_of(idx);
            if m.source == source && wanted(m.host.as_ref()) {
                batch.malformed.push(m);
            }
        }
        if let Some(set) = self.unscored.get(source) {
            for &(_, idx) in set {
                if batch.records.len() + batch.malformed.len() >= limit {
                    break;
                }
                if let Ok(r) = &self.entries[idx].body {
                    if wanted(Some(&r.host)) {
                        batch.records.push(r.clone());
                    }
                }
            }
        }
        Ok(batch)
    }

    fn lookup(
        &self,
        source: &str,
        id: &RecordId,
        operation: &'static str,
    ) -> Result<usize, StoreError> {
        self.by_id
            .get(&(source.to_owned(), id.clone()))
            .copied()
            .ok_or_else(|| StoreError::InvalidRecord {
                backend: BACKEND,
                operation,
                id: id.to_string(),
                reason: format!("no such record in source {source:?}"),
            })
    }

    /// See [`crate::Store::write_verdicts`].
    pub fn write_verdicts(
        &mut self,
        source: &str,
        verdicts: &[Verdict],
    ) -> Result<usize, StoreError> {
        let mut todo = Vec::with_capacity(verdicts.len());
        let mut seen = HashSet::with_capacity(verdicts.len());
        let mut text = String::new();
        for v in verdicts {
            if !v.score.is_finite() {
                return Err(StoreError::InvalidRecord {
                    backend: BACKEND,
                    operation: "write verdicts",
                    id: v.id.to_string(),
                    reason: format!("expected a finite score, found {}", v.score),
                });
            }
            let idx = self.lookup(source, &v.id, "write verdicts")?;
            let e = &self.entries[idx];
            let Ok(record) = &e.body else { continue };
            if e.verdict.is_some() || !seen.insert(idx) {
                continue;
            }
            let mut doc = record.to_json(&self.config.fields);
            doc.insert("is_anomaly".into(), json!(i64::from(v.is_anomaly)));
            doc.insert("anomaly_score".into(), json!(v.score));
            text.push_str(&Value::Object(doc).to_string());
            text.push('\n');
            todo.push((idx, v.is_anomaly, v.score));
        }
        append(&mut self.output, &self.config.output_path, &text)?;
        for &(idx, a, s) in &todo {
            self.apply_verdict(idx, a, s);
        }
        Ok(todo.len())
    }

    fn append_state(&mut self, lines: &[StateLine]) -> Result<(), StoreError> {
        let mut text = String::new();
        for line in lines {
            let json = serde_json::to_string(line).map_err(|e| StoreError::Corrupt {
                backend: BACKEND,
                location: self.state_path.display().to_string(),
                reason: format!("cannot encode a state line: {e}"),
            })?;
            text.push_str(&json);
            text.push('\n');
        }
        append(&mut self.state, &self.state_path, &text)
    }

    /// See [`crate::Store::mark_malformed`].
    pub fn mark_malformed(
        &mut self,
        source: &str,
        id: &RecordId,
        reason: &str,
    ) -> Result<(), StoreError> {
        let idx = self.lookup(source, id, "mark malformed")?;
        if self.entries[idx].mark.is_some() {
            return Ok(());
        }
        self.append_state(&[StateLine::Malformed {
            source: source.into(),
            id: id.clone(),
            reason: reason.into(),
        }])?;
        self.apply_mark(idx, reason.into());
        Ok(())
    }

    /// See [`crate::Store::anomalies`].
    pub fn anomalies(
        &mut self,
        source: &str,
        from_ms: i64,
        to_ms: i64,
        max: usize,
    ) -> Result<Vec<Anomaly>, StoreError> {
        let mut hits: Vec<(i64, usize)> = self
            .entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match (&e.body, e.verdict) {
                (Ok(r), Some((true, _)))
                    if e.source == source && r.time >= from_ms && r.time < to_ms =>
                {
                    Some((r.time, i))
                }
                _ => None,
            })
            .collect();
        hits.sort_unstable_by(|a, b| b.cmp(a));
        hits.truncate(max);
        hits.reverse();
        Ok(hits
            .into_iter()
            .filter_map(|(_, i)| {
                let e = &self.entries[i];
                Some(Anomaly {
                    record: e.body.as_ref().ok()?.clone(),
                    score: e.verdict.map_or(f64::NAN, |v| v.1),
                    aggregate_id: e.aggregate.map(RecordId::Int),
                })
            })
            .collect())
    }

    /// See [`crate::Store::write_aggregates`].
    pub fn write_aggregates(
        &mut self,
        input_source: &str,
        target: &str,
        drafts: &[AggregateDraft],
    ) -> Result<Vec<Option<RecordId>>, StoreError> {
        let mut next_id = self
            .aggregates
            .iter()
            .filter_map(|a| match a.id {
                RecordId::Int(n) => Some(n),
                _ => None,
            })
            .max()
            .unwrap_or(0)
            + 1;
        let mut taken = HashSet::new();
        let (mut lines, mut out) = (Vec::new(), Vec::new());
        for d in drafts {
            let mut members = Vec::new();
            for id in &d.member_ids {
                let idx = self.lookup(input_source, id, "write aggregates")?;
                if self.entries[idx].aggregate.is_none() && taken.insert(idx) {
                    members.push(id.clone());
                }
            }
            if members.is_empty() {
                out.push(None);
                continue;
            }
            lines.push(StateLine::Aggregate {
                id: next_id,
                input_source: input_source.into(),
                target: target.into(),
                message: d.message.clone(),
                total_logs: d.total_logs,
                average_time_ms: d.average_time_ms,
                average_anomaly_score: d.average_anomaly_score,
                most_frequent_hostname: d.most_frequent_hostname.clone(),
                was_added_at_ms: d.was_added_at_ms,
                member_ids: members,
            });
            out.push(Some(RecordId::Int(next_id)));
            next_id += 1;
        }
        self.append_state(&lines)?;
        for line in lines {
            self.apply_state(line);
        }
        Ok(out)
    }

    /// See [`crate::Store::aggregates`].
    pub fn aggregates(&mut self, input_source: Option<&str>) -> Result<Vec<Aggregate>, StoreError> {
        Ok(self
            .aggregates
            .iter()
            .filter(|a| input_source.is_none_or(|s| a.input_source == s))
            .cloned()
            .collect())
    }

    /// See [`crate::Store::export_page`].
    pub fn export_page(
        &mut self,
        source: Option<&str>,
        cursor: Option<ExportCursor>,
        limit: usize,
    ) -> Result<ExportPage, StoreError> {
        self.refresh()?;
        let start = cursor.map_or(0, |c| usize::try_from(c.0).unwrap_or(usize::MAX));
        let mut page = ExportPage::default();
        let mut count = 0;
        let mut last = start;
        for (i, e) in self.entries.iter().enumerate().skip(start) {
            if count >= limit {
                break;
            }
            last = i + 1;
            if source.is_some_and(|s| s != e.source) {
                continue;
            }
            count += 1;
            match (&e.body, &e.mark) {
                (Ok(record), None) => page.rows.push(ExportRow {
                    record: record.clone(),
                    is_anomaly: e.verdict.map(|v| v.0),
                    anomaly_score: e.verdict.map(|v| v.1),
                    aggregate_id: e.aggregate.map(RecordId::Int),
                }),
                _ => page.malformed.push(self.malformed_of(i)),
            }
        }
        page.next = (last < self.entries.len())
            .then(|| ExportCursor(i64::try_from(last).unwrap_or(i64::MAX)));
        Ok(page)
    }

    /// See [`crate::Store::list_sources`].
    pub fn list_sources(&mut self) -> Result<Vec<String>, StoreError> {
        self.refresh()?;
        let set: BTreeSet<String> = self.files.iter().map(|f| f.source.clone()).collect();
        Ok(set.into_iter().collect())
    }

    /// See [`crate::Store::hosts`].
    pub fn hosts(&mut self, source: &str) -> Result<Vec<String>, StoreError> {
        self.refresh()?;
        let set: BTreeSet<&str> = self
            .entries
            .iter()
            .filter(|e| e.source == source)
            .filter_map(|e| e.body.as_ref().ok().map(|r| r.host.as_str()))
            .collect();
        Ok(set.into_iter().map(str::to_owned).collect())
    }

    /// See [`crate::Store::unscored_count`].
    pub fn unscored_count(&mut self, source: &str) -> Result<u64, StoreError> {
        self.refresh()?;
        let good = self.unscored.get(source).map_or(0, BTreeSet::len);
        let bad = self
            .bad_unmarked
            .iter()
            .filter(|&&i| self.entries[i].source == source)
            .count();
        Ok((good + bad) as u64)
    }

    /// See [`crate::Store::oldest_unscored_time`].
    pub fn oldest_unscored_time(&mut self, source: &str) -> Result<Option<i64>, StoreError> {
        self.refresh()?;
        Ok(self
            .unscored
            .get(source)
            .and_then(|s| s.first())
            .map(|&(t, _)| t))
    }

    /// See [`crate::Store::add_feedback`].
    pub fn add_feedback(&mut self, mark: &NewFeedback) -> Result<i64, StoreError> {
        let id = self.feedback.iter().map(|f| f.id).max().unwrap_or(0) + 1;
        let f = Feedback {
            id,
            mark: mark.clone(),
            undone_at_ms: None,
        };
        self.append_state(&[StateLine::Feedback(f.clone())])?;
        self.feedback.push(f);
        Ok(id)
    }

    /// See [`crate::Store::list_feedback`].
    pub fn list_feedback(
        &mut self,
        source: Option<&str>,
        include_undone: bool,
    ) -> Result<Vec<Feedback>, StoreError> {
        Ok(self
            .feedback
            .iter()
            .filter(|f| {
                source.is_none_or(|s| f.mark.source == s)
                    && (include_undone || f.undone_at_ms.is_none())
            })
            .cloned()
            .collect())
    }

    /// See [`crate::Store::undo_feedback`].
    pub fn undo_feedback(&mut self, id: i64, at_ms: i64) -> Result<bool, StoreError> {
        if !self
            .feedback
            .iter()
            .any(|f| f.id == id && f.undone_at_ms.is_none())
        {
            return Ok(false);
        }
        let line = StateLine::FeedbackUndo {
            id,
            undone_at_ms: at_ms,
        };
        self.append_state(std::slice::from_ref(&line))?;
        self.apply_state(line);
        Ok(true)
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
