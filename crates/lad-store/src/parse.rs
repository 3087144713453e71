//! Parsers for the input formats of the `local` backend and of `lad import`: JSON Lines, a JSON
//! array as written by `mongoexport` (Extended JSON), and plain syslog text (RFC 3164 and
//! RFC 5424 headers), told apart by [`detect_format`].
//!
//! Each parser turns bytes into [`ParsedRecord`]s and [`ParseError`]s, one per line or element,
//! so one bad line never stops a file; errors name the origin (a file name) and the 1-based line.
//! Fields are found by the names in [`FieldNames`]; `_id` becomes the record's `original_id`
//! (a line without one gets `origin:line`, so importing a file twice adds nothing); all other
//! fields go to `extra` untouched.
//!
//! Syslog lines: `<PRI>` is optional (files under /var/log have none) and gives `facility` and
//! `severity` in `extra`; RFC 3164 tags `app[pid]:` give `app_name` and `procid`; RFC 5424 gives
//! `app_name`, `procid`, `msgid` and the raw `structured_data`. The message is the text after the
//! header (after the tag for RFC 3164), as rsyslog's `msg` property. Lines starting with an
//! RFC 3339 time instead of an RFC 3164 stamp (rsyslog's file format) are read too. Syslog text
//! that is not valid UTF-8 is decoded lossily (U+FFFD) and flagged `invalid_utf8: true`, since
//! such lines are common (Latin-1 devices) and still worth scoring.
//!
//! This module reads files only in [`parse_file`] and knows nothing of stores.

use std::path::Path;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::record::{FieldNames, NewRecord, RecordId};
use crate::timefmt;
use crate::StoreError;

/// An input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// One JSON object per line.
    JsonLines,
    /// One JSON array of objects (`mongoexport --jsonArray`).
    JsonArray,
    /// Syslog text lines.
    Syslog,
}

/// How to read records.
#[derive(Debug, Clone)]
pub struct ParseOptions {
    /// Names of the message, time and host fields of JSON documents.
    pub fields: FieldNames,
    /// Names the input in ids and errors, usually the file name.
    pub origin: String,
    /// The time RFC 3164 stamps (which have no year) are read against, unix milliseconds.
    pub reference_time_ms: i64,
}

/// A record read from the input, with the line it started on.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedRecord {
    /// 1-based line of the input where the record starts.
    pub line: usize,
    /// The record.
    pub record: NewRecord,
}

/// A line or element that is not a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}:{line}: {reason}")]
pub struct ParseError {
    /// The input's name.
    pub origin: String,
    /// 1-based line.
    pub line: usize,
    /// What was expected and what was found.
    pub reason: String,
}

/// One parsed line or element.
pub type ParsedItem = Result<ParsedRecord, ParseError>;

/// Guesses the format from the first non-blank byte: `[` is a JSON array, `{` JSON Lines,
/// anything else syslog text.
pub fn detect_format(bytes: &[u8]) -> InputFormat {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => InputFormat::JsonArray,
        Some(b'{') => InputFormat::JsonLines,
        _ => InputFormat::Syslog,
    }
}

/// Reads a whole file, detecting its format.
pub fn parse_file(
    path: &Path,
    options: &ParseOptions,
) -> Result<(InputFormat, Vec<ParsedItem>), StoreError> {
    let bytes = std::fs::read(path).map_err(|source| StoreError::Io {
        backend: "parse",
        operation: "read input file",
        path: path.to_owned(),
        source,
    })?;
    Ok(parse_bytes(&bytes, options))
}

/// Reads a file in chunks of about `chunk_bytes` and hands each chunk's items to `each`, in
/// input order; the format is detected on the first chunk. JSON Lines and syslog text never
/// hold more than a chunk (and its longest line); a JSON array (`mongoexport --jsonArray`) is
/// one document, read whole and handed over at once. Returns the format.
///
/// # Errors
/// Reading the file ([`StoreError::Io`]), or the first error `each` returns.
pub fn parse_file_chunked<E: From<StoreError>>(
    path: &Path,
    options: &ParseOptions,
    chunk_bytes: usize,
    mut each: impl FnMut(Vec<ParsedItem>) -> Result<(), E>,
) -> Result<InputFormat, E> {
    let io = |source| StoreError::Io {
        backend: "parse",
        operation: "read input file",
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut chunks = LineChunks::new(file, chunk_bytes);
    let mut format = None;
    let mut whole = Vec::new();
    while let Some(chunk) = chunks.next_chunk().map_err(io)? {
        let f = *format.get_or_insert_with(|| detect_format(&chunk.bytes));
        match f {
            InputFormat::JsonLines => {
                each(parse_json_lines(&chunk.bytes, chunk.first_line, options))?
            }
            InputFormat::Syslog => {
                each(parse_syslog_lines(&chunk.bytes, chunk.first_line, options))?
            }
            InputFormat::JsonArray => whole.extend_from_slice(&chunk.bytes),
        }
    }
    let format = format.unwrap_or(InputFormat::Syslog);
    if format == InputFormat::JsonArray {
        each(parse_json_array(&whole, options))?;
    }
    Ok(format)
}

/// Parses bytes in the detected format.
pub fn parse_bytes(bytes: &[u8], options: &ParseOptions) -> (InputFormat, Vec<ParsedItem>) {
    let format = detect_format(bytes);
    let items = match format {
        InputFormat::JsonLines => parse_json_lines(bytes, 1, options),
        InputFormat::JsonArray => parse_json_array(bytes, options),
        InputFormat::Syslog => parse_syslog_lines(bytes, 1, options),
    };
    (format, items)
}

/// Whole lines of a reader in chunks of about `target` bytes, so a file of any size is read
/// with bounded memory: each chunk ends at the first line end after `target` bytes (or at the
/// end of the input), so memory is bounded by `target` plus the longest line. [`LineChunks::next_chunk`] numbers each chunk's first line.
pub struct LineChunks<R> {
    reader: R,
    target: usize,
    /// The bytes read after the last complete line.
    carry: Vec<u8>,
    next_line: usize,
    eof: bool,
}

/// One chunk of whole lines from [`LineChunks`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineChunk {
    /// 1-based number of the chunk's first line in the whole input.
    pub first_line: usize,
    /// The lines, each with its `\n` (the input's last line may have none).
    pub bytes: Vec<u8>,
}

impl LineChunk {
    /// The lines with their 1-based numbers, each without its `\n` or a trailing `\r`
    /// (blank lines included).
    pub fn lines(&self) -> impl Iterator<Item = (usize, &[u8])> + '_ {
        let body = self.bytes.strip_suffix(b"\n").unwrap_or(&self.bytes);
        let mut start = 0;
        let ends = memchr::memchr_iter(b'\n', body).chain(std::iter::once(body.len()));
        ends.enumerate().map(move |(i, end)| {
            let line = &body[start..end];
            start = end + 1;
            (
                self.first_line + i,
                line.strip_suffix(b"\r").unwrap_or(line),
            )
        })
    }

    /// The number of lines in the chunk.
    pub fn line_count(&self) -> usize {
        let body = self.bytes.strip_suffix(b"\n").unwrap_or(&self.bytes);
        memchr::memchr_iter(b'\n', body).count() + usize::from(!self.bytes.is_empty())
    }
}

impl<R: std::io::Read> LineChunks<R> {
    /// Chunks of about `target` bytes (at least 1) of `reader`.
    pub fn new(reader: R, target: usize) -> Self {
        Self {
            reader,
            target: target.max(1),
            carry: Vec::new(),
            next_line: 1,
            eof: false,
        }
    }

    /// The next chunk, or `None` at the end of the input.
    ///
    /// # Errors
    /// The reader's error.
    pub fn next_chunk(&mut self) -> std::io::Result<Option<LineChunk>> {
        let mut buf = std::mem::take(&mut self.carry);
        // The chunk ends at the first line end at or after `target` bytes; buf[..searched]
        // holds none there.
        let mut searched = 0;
        loop {
            let from = searched.max(self.target - 1).min(buf.len());
            if let Some(i) = memchr::memchr(b'\n', &buf[from..]) {
                self.carry = buf[from + i + 1..].to_vec();
                buf.truncate(from + i + 1);
                break;
            }
            if self.eof {
                break;
            }
            searched = buf.len();
            let want = self.target.saturating_sub(buf.len()).max(64 * 1024);
            let start = buf.len();
            buf.resize(start + want, 0);
            let n = loop {
                match self.reader.read(&mut buf[start..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        buf.truncate(start);
                        return Err(e);
                    }
                }
            };
            buf.truncate(start + n);
            self.eof = n == 0;
        }
        if buf.is_empty() {
            return Ok(None);
        }
        let chunk = LineChunk {
            first_line: self.next_line,
            bytes: buf,
        };
        self.next_line += chunk.line_count();
        Ok(Some(chunk))
    }
}

/// Splits into lines (without `\n` or a trailing `\r`), numbered from `first_line`, skipping blank ones.
fn lines(bytes: &[u8], first_line: usize) -> impl Iterator<Item = (usize, &[u8])> {
    bytes
        .split(|b| *b == b'\n')
        .enumerate()
        .map(move |(i, l)| (first_line + i, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
}

/// Parses JSON Lines; `first_line` numbers the first line of `bytes` (for reading a file in parts).
pub fn parse_json_lines(
    bytes: &[u8],
    first_line: usize,
    options: &ParseOptions,
) -> Vec<ParsedItem> {
    lines(bytes, first_line)
        .map(|(line, text)| {
            let text = if line == 1 {
                text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text)
            } else {
                text
            };
            let parsed = match serde_json::from_slice::<Value>(text) {
                Ok(Value::Object(map)) => record_from_json(map, &options.fields),
                Ok(other) => Err(format!("expected a JSON object, found {}", kind(&other))),
                Err(e) => Err(format!("invalid JSON: {e}")),
            };
            finish(parsed, line, options)
        })
        .collect()
}

/// Parses a JSON array of documents (`mongoexport --jsonArray`). Errors name the line where the
/// element starts; an array that is not valid JSON as a whole gives one error.
pub fn parse_json_array(bytes: &[u8], options: &ParseOptions) -> Vec<ParsedItem> {
    let elements: Vec<&RawValue> = match serde_json::from_slice(bytes) {
        Ok(elements) => elements,
        Err(e) => {
            return vec![Err(ParseError {
                origin: options.origin.clone(),
                line: e.line().max(1),
                reason: format!("expected a JSON array of objects: {e}"),
            })]
        }
    };
    let base = bytes.as_ptr() as usize;
    let (mut line, mut counted) = (1, 0);
    elements
        .into_iter()
        .map(|raw| {
            // RawValue borrows from `bytes`, so its address gives its offset and thus its line.
            let offset = (raw.get().as_ptr() as usize)
                .saturating_sub(base)
                .min(bytes.len());
            line += bytes[counted..offset]
                .iter()
                .filter(|b| **b == b'\n')
                .count();
            counted = offset;
            let parsed = match serde_json::from_str::<Value>(raw.get()) {
                Ok(Value::Object(map)) => record_from_json(map, &options.fields),
                Ok(other) => Err(format!("expected a JSON object, found {}", kind(&other))),
                Err(e) => Err(format!("invalid JSON: {e}")),
            };
            finish(parsed, line, options)
        })
        .collect()
}

/// Parses syslog text lines; `first_line` numbers the first line of `bytes`.
pub fn parse_syslog_lines(
    bytes: &[u8],
    first_line: usize,
    options: &ParseOptions,
) -> Vec<ParsedItem> {
    lines(bytes, first_line)
        .map(|(line, raw)| {
            let (text, lossy) = match std::str::from_utf8(raw) {
                Ok(t) => (std::borrow::Cow::Borrowed(t), false),
                Err(_) => (String::from_utf8_lossy(raw), true),
            };
            let parsed = parse_syslog_line(&text, options.reference_time_ms).map(|mut r| {
                if lossy {
                    r.extra.insert("invalid_utf8".into(), Value::Bool(true));
                }
                r
            });
            finish(parsed, line, options)
        })
        .collect()
}

fn finish(parsed: Result<NewRecord, String>, line: usize, options: &ParseOptions) -> ParsedItem {
    match parsed {
        Ok(mut record) => {
            if record.original_id.is_none() {
                record.original_id = Some(RecordId::Text(format!("{}:{line}", options.origin)));
            }
            Ok(ParsedRecord { line, record })
        }
        Err(reason) => Err(ParseError {
            origin: options.origin.clone(),
            line,
            reason,
        }),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Turns a JSON document into a record: `_id`, message, host and time by `fields`, the rest to `extra`.
pub fn record_from_json(
    mut map: Map<String, Value>,
    fields: &FieldNames,
) -> Result<NewRecord, String> {
    let original_id = match map.remove("_id") {
        None => None,
        // An empty id names no record (found by the mongoexport fuzz target): refused, as an id
        // of the wrong type is.
        Some(v) => Some(
            RecordId::from_json(&v)
                .filter(|id| !id.to_string().is_empty())
                .ok_or_else(|| {
                    format!(
                        "expected _id to be a non-empty string, integer or {{\"$oid\": ..}}, found {v}"
                    )
                })?,
        ),
    };
    let mut text_field = |name: &str, what: &str| match map.remove(name) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!(
            "expected field {name:?} ({what}) to be a string, found {}",
            kind(&other)
        )),
        None => Err(format!("missing field {name:?} ({what})")),
    };
    let message = text_field(&fields.message, "MESSAGE_INDEX")?;
    let host = text_field(&fields.host, "HOSTNAME_INDEX")?;
    let time = match map.remove(&fields.time) {
        Some(v) => timefmt::parse_time_value(&v)
            .map_err(|e| format!("field {:?} (DATETIME_INDEX): {e}", fields.time))?,
        None => return Err(format!("missing field {:?} (DATETIME_INDEX)", fields.time)),
    };
    Ok(NewRecord {
        original_id,
        host,
        time,
        message,
        extra: map,
    })
}

/// Parses one syslog line (RFC 5424, RFC 3164, or an RFC 3339 time followed by an RFC 3164 body).
pub fn parse_syslog_line(line: &str, reference_time_ms: i64) -> Result<NewRecord, String> {
    let mut extra = Map::new();
    let mut rest = line.trim_start_matches('\u{feff}');
    if let Some(after) = rest.strip_prefix('<') {
        let end = after
            .find('>')
            .filter(|e| (1..=3).contains(e))
            .ok_or_else(|| {
                format!(
                    "expected <PRI> with 1 to 3 digits at the start, found {:?}",
                    truncate(line)
                )
            })?;
        let pri: u16 = after[..end]
            .parse()
            .ok()
            .filter(|p| *p <= 191)
            .ok_or_else(|| format!("expected a PRI from 0 to 191, found {:?}", &after[..end]))?;
        extra.insert("facility".into(), Value::from(pri / 8));
        extra.insert("severity".into(), Value::from(pri % 8));
        rest = &after[end + 1..];
        if let Some(body) = rest.strip_prefix("1 ") {
            return parse_rfc5424(body, extra);
        }
    }
    let (time, body) = match rest
        .get(..15)
        .map(|s| timefmt::parse_rfc3164_stamp(s, reference_time_ms))
    {
        Some(Ok(t)) => (t, &rest[15..]),
        _ => {
            let (first, body) = rest.split_once(' ').unwrap_or((rest, ""));
            let t = timefmt::parse_time_str(first).map_err(|_| {
                format!(
                    "expected a syslog header (<PRI>1 TIMESTAMP ... or Mmm dd hh:mm:ss host ...), found {:?}",
                    truncate(line)
                )
            })?;
            (t, body)
        }
    };
    let body = body.trim_start_matches(' ');
    let (host, body) = body.split_once(' ').unwrap_or((body, ""));
    if host.is_empty() {
        return Err(format!(
            "missing host after the time in {:?}",
            truncate(line)
        ));
    }
    let message = match body.split_once(' ') {
        Some((tag, msg)) if tag.ends_with(':') && tag.len() > 1 => {
            let tag = &tag[..tag.len() - 1];
            match tag.split_once('[') {
                Some((app, pid)) if pid.ends_with(']') => {
                    extra.insert("app_name".into(), Value::from(app));
                    extra.insert("procid".into(), Value::from(&pid[..pid.len() - 1]));
                }
                _ => {
                    extra.insert("app_name".into(), Value::from(tag));
                }
            }
            msg
        }
        _ => body,
    };
    Ok(NewRecord {
        original_id: None,
        host: host.to_owned(),
        time,
        message: message.to_owned(),
        extra,
    })
}

fn parse_rfc5424(body: &str, mut extra: Map<String, Value>) -> Result<NewRecord, String> {
    let mut parts = body.splitn(6, ' ');
    let mut next = |what: &str| {
        parts
            .next()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| format!("RFC 5424 header: missing {what}"))
    };
    let stamp = next("TIMESTAMP")?;
    let host = next("HOSTNAME")?;
    let app = next("APP-NAME")?;
    let procid = next("PROCID")?;
    let msgid = next("MSGID")?;
    let rest = parts.next().unwrap_or("");
    if stamp == "-" {
        return Err("RFC 5424 header: TIMESTAMP is '-' (no time)".into());
    }
    let time = timefmt::parse_time_str(stamp).map_err(|e| format!("RFC 5424 TIMESTAMP: {e}"))?;
    if host == "-" {
        return Err("RFC 5424 header: HOSTNAME is '-' (no host)".into());
    }
    for (key, value) in [("app_name", app), ("procid", procid), ("msgid", msgid)] {
        if value != "-" {
            extra.insert(key.into(), Value::from(value));
        }
    }
    let (sd, msg) = split_structured_data(rest)?;
    if let Some(sd) = sd {
        extra.insert("structured_data".into(), Value::from(sd));
    }
    let message = msg.strip_prefix('\u{feff}').unwrap_or(msg);
    Ok(NewRecord {
        original_id: None,
        host: host.to_owned(),
        time,
        message: message.to_owned(),
        extra,
    })
}

/// Splits `SD MSG`: SD is `-` or one or more `[...]` elements whose quoted values may hold
/// escaped `]` and `"`.
fn split_structured_data(text: &str) -> Result<(Option<&str>, &str), String> {
    if let Some(msg) = text.strip_prefix('-') {
        return Ok((None, msg.strip_prefix(' ').unwrap_or(msg)));
    }
    if !text.starts_with('[') {
        return Err(format!(
            "RFC 5424: expected STRUCTURED-DATA ('-' or '[...]'), found {:?}",
            truncate(text)
        ));
    }
    let (mut in_element, mut in_quotes, mut escaped) = (false, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' if in_element => in_quotes = !in_quotes,
            '[' if !in_element => in_element = true,
            ']' if in_element && !in_quotes => in_element = false,
            _ if !in_element => {
                let msg = &text[i..];
                return Ok((
                    Some(text[..i].trim_end()),
                    msg.strip_prefix(' ').unwrap_or(msg),
                ));
            }
            _ => {}
        }
    }
    if in_element {
        return Err("RFC 5424: STRUCTURED-DATA is not closed by ']'".into());
    }
    Ok((Some(text), ""))
}

fn truncate(text: &str) -> &str {
    match text.char_indices().nth(80) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // 2024-01-05T12:00:00Z.
    const T: i64 = 1_704_456_000_000;

    fn chunks_of(bytes: &[u8], target: usize) -> Vec<LineChunk> {
        let mut c = LineChunks::new(bytes, target);
        std::iter::from_fn(|| c.next_chunk().expect("a slice reads")).collect()
    }

    #[test]
    fn line_chunks_cut_at_line_ends_and_number_every_line() {
        let text = b"a\r\nbb\n\nccc\nlast";
        for target in [1, 2, 3, 5, 8, 100] {
            let chunks = chunks_of(text, target);
            let joined: Vec<u8> = chunks.iter().flat_map(|c| c.bytes.clone()).collect();
            assert_eq!(joined, text, "target {target}: every byte once, in order");
            let lines: Vec<(usize, Vec<u8>)> = chunks
                .iter()
                .flat_map(|c| c.lines().map(|(n, l)| (n, l.to_vec())).collect::<Vec<_>>())
                .collect();
            let want: Vec<(usize, Vec<u8>)> = [&b"a"[..], b"bb", b"", b"ccc", b"last"]
                .iter()
                .enumerate()
                .map(|(i, l)| (i + 1, l.to_vec()))
                .collect();
            assert_eq!(lines, want, "target {target}");
            for c in &chunks[..chunks.len() - 1] {
                assert!(c.bytes.ends_with(b"\n"), "target {target}: whole lines");
            }
        }
        // A line longer than the target is one chunk; an empty input has none.
        let long = [vec![b'x'; 300_000], b"\ny\n".to_vec()].concat();
        let chunks = chunks_of(&long, 10);
        assert_eq!(chunks[0].bytes.len(), 300_001);
        assert_eq!(
            (chunks[1].first_line, chunks[1].bytes.as_slice()),
            (2, &b"y\n"[..])
        );
        assert!(chunks_of(b"", 10).is_empty());
    }

    #[test]
    fn a_file_read_in_chunks_parses_as_a_whole() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut text = String::from("\u{feff}");
        for i in 0..200 {
            text.push_str(&format!(
                "{{\"_id\": {i}, \"hostname\": \"h\", \"received_at\": \"2024-01-05 00:00:{:02}\", \"message\": \"line {i}\"}}\n",
                i % 60
            ));
            if i % 17 == 0 {
                text.push_str("not json\n\n");
            }
        }
        let path = dir.path().join("in.jsonl");
        std::fs::write(&path, &text).expect("write");
        let whole = parse_bytes(text.as_bytes(), &options());
        for chunk in [1, 100, 4096, 1 << 20] {
            let mut items = Vec::new();
            let format = parse_file_chunked::<StoreError>(&path, &options(), chunk, |part| {
                items.extend(part);
                Ok(())
            })
            .expect("reads");
            assert_eq!((format, items), whole.clone(), "chunks of {chunk} bytes");
        }
    }

    fn options() -> ParseOptions {
        ParseOptions {
            fields: FieldNames::default(),
            origin: "in.log".into(),
            reference_time_ms: T + 3_600_000,
        }
    }

    fn ok(item: &ParsedItem) -> &NewRecord {
        match item {
            Ok(p) => &p.record,
            Err(e) => panic!("expected a record, got {e}"),
        }
    }

    #[test]
    fn json_lines_with_extra_and_errors_by_line() {
        let text = b"{\"_id\": 7, \"message\": \"a b\", \"hostname\": \"h1\", \"received_at\": \"2024-01-05T12:00:00Z\", \"x\": {\"y\": [1]}}\n\n{\"message\": \"c\", \"hostname\": \"h2\"}\nnot json\r\n{\"message\": 3, \"hostname\": \"h\", \"received_at\": 1}\n[1]\n{\"message\": \"d\", \"hostname\": \"h3\", \"received_at\": 1704456000}";
        let (format, items) = parse_bytes(text, &options());
        assert_eq!(format, InputFormat::JsonLines);
        assert_eq!(items.len(), 6);
        let first = ok(&items[0]);
        assert_eq!(first.original_id, Some(RecordId::Int(7)));
        assert_eq!(
            (first.host.as_str(), first.time, first.message.as_str()),
            ("h1", T, "a b")
        );
        assert_eq!(Value::Object(first.extra.clone()), json!({"x": {"y": [1]}}));
        let lines: Vec<usize> = items
            .iter()
            .filter_map(|i| i.as_ref().err().map(|e| e.line))
            .collect();
        assert_eq!(lines, vec![3, 4, 5, 6]);
        let e = items[1].as_ref().expect_err("line 3 has no time");
        assert!(
            e.to_string()
                .starts_with("in.log:3: missing field \"received_at\""),
            "{e}"
        );
        let last = ok(&items[5]);
        assert_eq!(last.original_id, Some(RecordId::Text("in.log:7".into())));
        assert_eq!(last.time, T);
    }

    #[test]
    fn custom_field_names() {
        let opts = ParseOptions {
            fields: FieldNames {
                message: "msg".into(),
                time: "ts".into(),
                host: "src".into(),
            },
            ..options()
        };
        let items = parse_json_lines(
            br#"{"msg": "m", "ts": 1704456000000, "src": "s", "message": "kept"}"#,
            1,
            &opts,
        );
        let r = ok(&items[0]);
        assert_eq!((r.message.as_str(), r.host.as_str(), r.time), ("m", "s", T));
        assert_eq!(r.extra.get("message"), Some(&json!("kept")));
    }

    #[test]
    fn mongoexport_array_with_extended_json() {
        let text = br#"[
  {"_id": {"$oid": "65a1b2c3d4e5f60718293a4b"}, "message": "up", "hostname": "r1",
   "received_at": {"$date": "2024-01-05T12:00:00.000Z"}},
  {"_id": {"$oid": "65a1b2c3d4e5f60718293a4c"}, "message": "down", "hostname": "r1",
   "received_at": {"$date": {"$numberLong": "1704456000001"}}},
  {"_id": {"$oid": "65a1b2c3d4e5f60718293a4d"}, "hostname": "r2",
   "received_at": {"$date": 1704456000002}}
]"#;
        let (format, items) = parse_bytes(text, &options());
        assert_eq!(format, InputFormat::JsonArray);
        assert_eq!(
            ok(&items[0]).original_id,
            Some(RecordId::ObjectId("65a1b2c3d4e5f60718293a4b".into()))
        );
        assert_eq!(ok(&items[0]).time, T);
        assert_eq!(ok(&items[1]).time, T + 1);
        let e = items[2].as_ref().expect_err("third element has no message");
        assert_eq!(e.line, 6);
        assert!(e.reason.contains("missing field \"message\""), "{e}");
    }

    #[test]
    fn empty_ids_are_refused_by_line() {
        let text = b"{\"_id\": \"\", \"message\": \"m\", \"hostname\": \"h\", \"received_at\": 1}\n{\"_id\": {\"$oid\": \"\"}, \"message\": \"m\", \"hostname\": \"h\", \"received_at\": 1}\n";
        let items = parse_json_lines(text, 1, &options());
        let errors: Vec<String> = items
            .iter()
            .map(|i| i.as_ref().expect_err("an empty id").to_string())
            .collect();
        assert_eq!(
            errors,
            [
                "in.log:1: expected _id to be a non-empty string, integer or {\"$oid\": ..}, found \"\"",
                "in.log:2: expected _id to be a non-empty string, integer or {\"$oid\": ..}, found {\"$oid\":\"\"}",
            ]
        );
    }

    #[test]
    fn broken_array_gives_one_error_with_line() {
        let items = parse_json_array(b"[\n{\"a\": 1},\n{oops}\n]", &options());
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].as_ref().expect_err("broken").line, 3);
    }

    #[test]
    fn rfc3164_lines() {
        let text = b"<34>Jan  5 12:00:00 mymachine su[230]: 'su root' failed for lonvick on /dev/pts/8\nJan  5 11:00:01 gw kernel: eth0 link up\nJan  5 11:00:02 gw no tag here\ngarbage line\n";
        let (format, items) = parse_bytes(text, &options());
        assert_eq!(format, InputFormat::Syslog);
        let r = ok(&items[0]);
        assert_eq!((r.host.as_str(), r.time), ("mymachine", T));
        assert_eq!(r.message, "'su root' failed for lonvick on /dev/pts/8");
        assert_eq!(
            Value::Object(r.extra.clone()),
            json!({"facility": 4, "severity": 2, "app_name": "su", "procid": "230"})
        );
        assert_eq!(r.original_id, Some(RecordId::Text("in.log:1".into())));
        let r = ok(&items[1]);
        assert_eq!(
            (r.host.as_str(), r.message.as_str(), r.time),
            ("gw", "eth0 link up", T - 3_599_000)
        );
        assert_eq!(ok(&items[2]).message, "no tag here");
        let e = items[3].as_ref().expect_err("not syslog");
        assert_eq!(e.line, 4);
        assert!(
            e.to_string()
                .starts_with("in.log:4: expected a syslog header"),
            "{e}"
        );
    }

    #[test]
    fn rfc5424_lines() {
        let line = r#"<165>1 2024-01-05T12:00:00.000Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Appl\]ication"][x@1 a="b"] An application event"#;
        let r = parse_syslog_line(line, T).expect("valid RFC 5424");
        assert_eq!(
            (r.host.as_str(), r.time, r.message.as_str()),
            ("mymachine.example.com", T, "An application event")
        );
        assert_eq!(
            Value::Object(r.extra),
            json!({"facility": 20, "severity": 5, "app_name": "evntslog", "msgid": "ID47",
                   "structured_data": r#"[exampleSDID@32473 iut="3" eventSource="Appl\]ication"][x@1 a="b"]"#})
        );
        let r = parse_syslog_line(
            "<13>1 2024-01-05T13:00:00+01:00 h app 12 - - \u{feff}hello",
            T,
        )
        .expect("valid");
        assert_eq!((r.time, r.message.as_str()), (T, "hello"));
        assert_eq!(r.extra.get("procid"), Some(&json!("12")));
        assert!(parse_syslog_line("<13>1 - h app - - - msg", T).is_err());
        assert!(parse_syslog_line("<13>1 2024-01-05T12:00:00Z - app - - - msg", T).is_err());
        assert!(parse_syslog_line("<13>1 2024-01-05T12:00:00Z h app - - [unclosed", T).is_err());
    }

    #[test]
    fn rfc3339_prefixed_and_invalid_utf8_lines() {
        let items = parse_syslog_lines(
            b"2024-01-05T12:00:00Z host sshd: ok \xff\xfe\n",
            10,
            &options(),
        );
        let p = items[0].as_ref().expect("lossy line is a record");
        assert_eq!(p.line, 10);
        assert_eq!(p.record.time, T);
        assert_eq!(p.record.extra.get("invalid_utf8"), Some(&json!(true)));
        assert!(p.record.message.starts_with("ok "));
    }

    #[test]
    fn detect_formats() {
        assert_eq!(detect_format(b"\xef\xbb\xbf  [ ]"), InputFormat::JsonArray);
        assert_eq!(detect_format(b"\n{}"), InputFormat::JsonLines);
        assert_eq!(detect_format(b"<13>1 ..."), InputFormat::Syslog);
        assert_eq!(detect_format(b""), InputFormat::Syslog);
    }
}
