//! The data model shared by every backend: record ids, records, verdicts, malformed-record
//! reports, aggregates, export rows and feedback. Plain data with no I/O; JSON shapes are
//! [`crate::codec`]'s.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Messages longer than this many bytes are reported as malformed instead of being returned for
/// scoring: such lines are almost always binary dumps, and one of them must not stall a batch.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// The id of a record in its backend: an sqlite rowid or MySQL key, a MongoDB ObjectId, or a
/// textual id (a document's string `_id`, or `file:line` for a line of a `local` input file).
///
/// The text form ([`fmt::Display`]) round-trips through [`RecordId::parse`]: digits give `Int`,
/// 24 hex digits give `ObjectId`, anything else `Text`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordId {
    /// An integer key (sqlite rowid, MySQL primary key).
    Int(i64),
    /// A MongoDB ObjectId as 24 lower-case hex digits.
    ObjectId(String),
    /// Any other textual id.
    Text(String),
}

impl RecordId {
    /// Reads the text form of an id (see the type's docs). Never fails: unknown shapes are `Text`.
    pub fn parse(text: &str) -> RecordId {
        // Only the canonical form is an integer, so "007" stays text and the round trip holds.
        if let Ok(n) = text.parse::<i64>() {
            if n.to_string() == text {
                return RecordId::Int(n);
            }
        }
        if text.len() == 24 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return RecordId::ObjectId(text.to_ascii_lowercase());
        }
        RecordId::Text(text.to_owned())
    }

    /// Reads an id from a JSON value: `{"$oid": hex}`, an integer, or a string.
    pub fn from_json(value: &Value) -> Option<RecordId> {
        match value {
            Value::String(s) => Some(RecordId::parse(s)),
            Value::Number(n) => n.as_i64().map(RecordId::Int),
            Value::Object(map) => match map.get("$oid") {
                Some(Value::String(hex)) => Some(RecordId::parse(hex)),
                _ => None,
            },
            _ => None,
        }
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordId::Int(n) => write!(f, "{n}"),
            RecordId::ObjectId(s) | RecordId::Text(s) => f.write_str(s),
        }
    }
}

impl Serialize for RecordId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RecordId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        RecordId::from_json(&value).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "expected a record id (string, integer or {{\"$oid\": ..}}), found {value}"
            ))
        })
    }
}

/// Names of the message, time and host fields in the user's documents
/// (`MESSAGE_INDEX`, `DATETIME_INDEX`, `HOSTNAME_INDEX`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldNames {
    /// The field holding the log line; default `message`.
    pub message: String,
    /// The field holding the event time; default `received_at`.
    pub time: String,
    /// The field holding the host name; default `hostname`.
    pub host: String,
}

impl Default for FieldNames {
    fn default() -> Self {
        FieldNames {
            message: "message".into(),
            time: "received_at".into(),
            host: "hostname".into(),
        }
    }
}

/// A log record as read from a store.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Its id in the backend.
    pub id: RecordId,
    /// The source (collection, table or sqlite stream) it belongs to.
    pub source: String,
    /// The host that sent it.
    pub host: String,
    /// Event time, unix milliseconds UTC.
    pub time: i64,
    /// The log line.
    pub message: String,
    /// Every other field of the document, kept as is and never lost.
    pub extra: Map<String, Value>,
}

impl Record {
    /// The record's document shape, see [`crate::codec::record_document`].
    pub fn to_json(&self, fields: &FieldNames) -> Map<String, Value> {
        crate::codec::record_document(self, fields)
    }
}

/// A record to be stored by `import`: the store assigns the id (sqlite) or keeps `original_id`
/// (`local`). A record whose `original_id` is already in the source is skipped, so importing the
/// same file twice adds nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecord {
    /// The id the document had in its file (`_id`, or `file:line`), if any.
    pub original_id: Option<RecordId>,
    /// The host that sent it.
    pub host: String,
    /// Event time, unix milliseconds UTC.
    pub time: i64,
    /// The log line.
    pub message: String,
    /// Every other field of the document.
    pub extra: Map<String, Value>,
}

/// A record that could not be returned for scoring, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Malformed {
    /// Its id in the backend.
    pub id: RecordId,
    /// The source it belongs to.
    pub source: String,
    /// Its host when that much could be read.
    pub host: Option<String>,
    /// What was expected and what was found.
    pub reason: String,
}

/// The result of a read: good records, and malformed ones reported next to them so the caller
/// can mark them ([`crate::Store::mark_malformed`]) and go on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// Records ready to use, in the order the operation documents.
    pub records: Vec<Record>,
    /// Records that could not be read.
    pub malformed: Vec<Malformed>,
}

impl Batch {
    /// True when the batch holds neither good nor malformed records.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.malformed.is_empty()
    }
}

/// The verdict on one record.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The record.
    pub id: RecordId,
    /// Whether it was flagged.
    pub is_anomaly: bool,
    /// Its anomaly score (finite).
    pub score: f64,
}

/// A scored anomaly, as read for aggregation.
#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    /// The record.
    pub record: Record,
    /// Its anomaly score.
    pub score: f64,
    /// The aggregate it is already linked to, if any.
    pub aggregate_id: Option<RecordId>,
}

/// An aggregate computed by the aggregator, to be stored by `write_aggregates`.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateDraft {
    /// The template text, `***` where members differ.
    pub message: String,
    /// Number of member records.
    pub total_logs: u64,
    /// Mean member time, unix milliseconds UTC.
    pub average_time_ms: i64,
    /// Mean member anomaly score.
    pub average_anomaly_score: f64,
    /// The host seen most often among the members.
    pub most_frequent_hostname: String,
    /// When the aggregate was made, unix milliseconds UTC.
    pub was_added_at_ms: i64,
    /// The member records.
    pub member_ids: Vec<RecordId>,
}

/// A stored aggregate with its members.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// Its id (never reused).
    pub id: RecordId,
    /// The source whose anomalies it groups.
    pub input_source: String,
    /// The target it was written to (Mongo collection, MySQL table, or a name for sqlite/local).
    pub target: String,
    /// The stored draft; `member_ids` are the records actually linked to this aggregate.
    pub draft: AggregateDraft,
}

/// One record with its verdict and aggregate, as exported.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRow {
    /// The record.
    pub record: Record,
    /// Its verdict, `None` while unscored.
    pub is_anomaly: Option<bool>,
    /// Its score, `None` while unscored.
    pub anomaly_score: Option<f64>,
    /// The aggregate it is linked to.
    pub aggregate_id: Option<RecordId>,
}

/// Where an export continues; opaque, only valid for the store that returned it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportCursor(pub(crate) i64);

/// One page of an export.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportPage {
    /// Records in storage order.
    pub rows: Vec<ExportRow>,
    /// Records of this page that could not be read, or that were marked malformed.
    pub malformed: Vec<Malformed>,
    /// Pass this to get the next page; `None` when this was the last one.
    pub next: Option<ExportCursor>,
}

/// What `import` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Records added.
    pub inserted: usize,
    /// Records skipped because their `original_id` was already in the source.
    pub duplicates: usize,
}

/// A "not an anomaly" mark made by a person, to be stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewFeedback {
    /// The source of the marked line.
    pub source: String,
    /// Its host.
    pub host: String,
    /// The marked record, if a single line was marked.
    pub record_id: Option<RecordId>,
    /// The marked message.
    pub message: String,
    /// Its template, when known (marks equivalent messages too).
    pub template: Option<String>,
    /// Who marked it.
    pub who: String,
    /// When, unix milliseconds UTC.
    pub at_ms: i64,
}

/// A stored feedback mark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feedback {
    /// Its id.
    pub id: i64,
    /// What was marked.
    #[serde(flatten)]
    pub mark: NewFeedback,
    /// When it was undone, if it was.
    pub undone_at_ms: Option<i64>,
}

/// The fields of a record as a backend decoded them from a row or document.
pub(crate) struct Decoded {
    /// The host.
    pub host: String,
    /// Event time, unix milliseconds UTC.
    pub time: i64,
    /// The log line (checked by [`check_message`]).
    pub message: String,
    /// Every other field.
    pub extra: Map<String, Value>,
}

/// The record a backend read, or the report of why it cannot be scored: `host` is what could be
/// read of the host (kept in the report), `decoded` every field or the first reason one could not
/// be read. Every backend builds its records here, so records and reports agree.
pub(crate) fn record_or_malformed(
    id: RecordId,
    source: &str,
    host: Option<String>,
    decoded: Result<Decoded, String>,
) -> Result<Record, Malformed> {
    match decoded {
        Ok(d) => Ok(Record {
            id,
            source: source.to_owned(),
            host: d.host,
            time: d.time,
            message: d.message,
            extra: d.extra,
        }),
        Err(reason) => Err(Malformed {
            id,
            source: source.to_owned(),
            host,
            reason,
        }),
    }
}

/// A text column's bytes as UTF-8, or what is wrong with them.
pub(crate) fn utf8_column(bytes: Vec<u8>, column: &str) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "column {column} is not valid UTF-8 (bad byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// Refuses a verdict whose score is not finite; every sink checks each verdict before it writes.
pub(crate) fn check_score(backend: &'static str, v: &Verdict) -> Result<(), crate::StoreError> {
    if v.score.is_finite() {
        return Ok(());
    }
    Err(crate::StoreError::invalid_record(
        backend,
        &v.id,
        "write verdicts",
        format!("expected a finite score, found {}", v.score),
    ))
}

/// The integer key of an id, for backends whose ids are integers (`what` names the key).
pub(crate) fn int_key(
    backend: &'static str,
    id: &RecordId,
    operation: &'static str,
    what: &str,
) -> Result<i64, crate::StoreError> {
    match id {
        RecordId::Int(n) => Ok(*n),
        other => Err(crate::StoreError::invalid_record(
            backend,
            other,
            operation,
            format!("expected {what}"),
        )),
    }
}

/// The keys of each draft's members, for backends whose ids are keys: every id is checked
/// before anything is written.
pub(crate) fn member_keys<K>(
    drafts: &[AggregateDraft],
    key: impl Fn(&RecordId) -> Result<K, crate::StoreError>,
) -> Result<Vec<Vec<K>>, crate::StoreError> {
    drafts
        .iter()
        .map(|d| d.member_ids.iter().map(&key).collect())
        .collect()
}

/// Checks a message for the limits every backend applies when reading.
pub(crate) fn check_message(message: &str) -> Result<(), String> {
    if message.len() > MAX_MESSAGE_BYTES {
        return Err(format!(
            "message is {} bytes, over the limit of {MAX_MESSAGE_BYTES}",
            message.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_id_text_form_round_trips() {
        for id in [
            RecordId::Int(42),
            RecordId::Int(-7),
            RecordId::ObjectId("65a1b2c3d4e5f60718293a4b".into()),
            RecordId::Text("syslog.log:12".into()),
            RecordId::Text("007".into()),
        ] {
            assert_eq!(RecordId::parse(&id.to_string()), id);
        }
    }

    #[test]
    fn record_id_from_extended_json() {
        let v: Value = serde_json::json!({"$oid": "65A1B2C3D4E5F60718293A4B"});
        assert_eq!(
            RecordId::from_json(&v),
            Some(RecordId::ObjectId("65a1b2c3d4e5f60718293a4b".into()))
        );
        assert_eq!(
            RecordId::from_json(&serde_json::json!(5)),
            Some(RecordId::Int(5))
        );
        assert_eq!(RecordId::from_json(&serde_json::json!([1])), None);
    }
}
