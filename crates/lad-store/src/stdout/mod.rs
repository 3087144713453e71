//! The `stdout` sink: prints each anomaly once as a JSON Lines object (the record's fields under
//! the user's field names, `_id`, `source`, `is_anomaly` and `anomaly_score`) and each aggregate
//! as one object. It has only the [`VerdictSink`] role and stores nothing (so [`crate::Store`]
//! answers [`StoreError::Unsupported`] to every read), and it
//! remembers which anomalies it printed only for the life of the process (so writing the same
//! verdicts twice prints nothing new, but a restarted process starts afresh).

use std::collections::HashSet;
use std::io::Write;

use serde_json::Value;

use crate::codec;
use crate::record::{AggregateDraft, FieldNames, Record, RecordId, Verdict};
use crate::{StoreError, VerdictSink};

const BACKEND: &str = "stdout";

/// Settings of the `stdout` sink.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StdoutConfig {
    /// Field names used for host, time and message in printed objects.
    pub fields: FieldNames,
}

/// A sink printing JSON Lines to standard output or to a given writer.
pub struct StdoutSink {
    out: Box<dyn Write + Send>,
    fields: FieldNames,
    printed: HashSet<(String, RecordId)>,
}

impl std::fmt::Debug for StdoutSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdoutSink")
            .field("fields", &self.fields)
            .field("printed", &self.printed.len())
            .finish()
    }
}

impl StdoutSink {
    /// A sink writing to standard output.
    pub fn open(config: &StdoutConfig) -> StdoutSink {
        StdoutSink::with_writer(config, Box::new(std::io::stdout()))
    }

    /// A sink writing to `out` (tests, or a file the binary opened).
    pub fn with_writer(config: &StdoutConfig, out: Box<dyn Write + Send>) -> StdoutSink {
        StdoutSink {
            out,
            fields: config.fields.clone(),
            printed: HashSet::new(),
        }
    }

    fn print(&mut self, value: &Value) -> Result<(), StoreError> {
        let io = |source| StoreError::Io {
            backend: BACKEND,
            operation: "write to",
            path: "standard output".into(),
            source,
        };
        serde_json::to_writer(&mut self.out, value).map_err(|e| io(e.into()))?;
        self.out.write_all(b"\n").map_err(io)
    }
}

impl VerdictSink for StdoutSink {
    /// Prints the anomalies among `verdicts` not printed before, taking their fields from
    /// `records`; returns how many it printed.
    fn write_verdicts(
        &mut self,
        source: &str,
        verdicts: &[Verdict],
        records: &[Record],
    ) -> Result<usize, StoreError> {
        let mut printed = 0;
        for v in verdicts.iter().filter(|v| v.is_anomaly) {
            if !self.printed.insert((source.to_owned(), v.id.clone())) {
                continue;
            }
            let object = match records.iter().find(|r| r.id == v.id) {
                Some(r) => codec::record_document(r, &self.fields),
                None => {
                    let mut m = serde_json::Map::new();
                    m.insert("_id".into(), Value::String(v.id.to_string()));
                    m.insert("source".into(), Value::String(source.to_owned()));
                    m
                }
            };
            self.print(&Value::Object(codec::with_verdict(object, true, v.score)))?;
            printed += 1;
        }
        self.out.flush().map_err(|source| StoreError::Io {
            backend: BACKEND,
            operation: "flush",
            path: "standard output".into(),
            source,
        })?;
        Ok(printed)
    }

    /// Prints each aggregate; its id is `<was_added_at_ms>-<index>` since nothing is stored.
    fn write_aggregates(
        &mut self,
        input_source: &str,
        target: &str,
        drafts: &[AggregateDraft],
    ) -> Result<Vec<Option<RecordId>>, StoreError> {
        let mut ids = Vec::with_capacity(drafts.len());
        for (i, d) in drafts.iter().enumerate() {
            let id = RecordId::Text(format!("{}-{i}", d.was_added_at_ms));
            self.print(&codec::printed_aggregate_json(&id, input_source, target, d))?;
            ids.push(Some(id));
        }
        Ok(ids)
    }
}
