//! The [`VerdictSink`] role of the Kafka backend: one JSON message per verdict on the verdict
//! topic, keyed by host, and one per aggregate on the aggregates topic.
//!
//! A verdict message is the record's document shape ([`codec::record_document`]: its fields under
//! the user's names, `_id`, `source`) plus `is_anomaly` (0/1) and `anomaly_score`; a record read
//! from Kafka also carries `lad_topic`, `lad_partition` and `lad_offset`. Only anomalies are
//! published unless `KF_VERDICTS: all`.
//!
//! Delivery rule: a write returns only when the brokers confirmed every message (idempotent
//! producer, so librdkafka's own retries add no copies). The input offsets are committed after
//! that, so a kill between the two publishes the same verdicts again on restart: a reader
//! deduplicates by (`lad_topic`, `lad_partition`, `lad_offset`), or by (`source`, `_id`) for
//! records from another store; the first message of a key stands and any later one is equal
//! (same model, same record). Kafka transactions are not used.

use std::collections::HashSet;

use serde_json::Value;

use super::{KafkaStore, VerdictSelection};
use crate::codec;
use crate::record::{check_score, AggregateDraft, Record, RecordId, Verdict};
use crate::{StoreError, VerdictSink};

/// Past this many remembered verdicts (a sink whose source never acknowledges to it), the memory
/// of what was published is cleared; a repeated write then publishes duplicates, which the
/// documented rule removes.
const MAX_REMEMBERED: usize = 1_000_000;

impl VerdictSink for KafkaStore {
    /// Publishes the selected verdicts not published before by this process and waits for the
    /// brokers to confirm them; returns how many were published.
    fn write_verdicts(
        &mut self,
        source: &str,
        verdicts: &[Verdict],
        records: &[Record],
    ) -> Result<usize, StoreError> {
        for v in verdicts {
            check_score(super::BACKEND, v)?;
        }
        if self.published.len() > MAX_REMEMBERED {
            self.published.clear();
        }
        let by_id: std::collections::HashMap<&RecordId, &Record> =
            records.iter().map(|r| (&r.id, r)).collect();
        let topic = self.config.verdict_topic.clone();
        let mut sent: Vec<(String, RecordId)> = Vec::new();
        let mut seen: HashSet<&RecordId> = HashSet::new();
        for v in verdicts {
            if self.config.verdicts == VerdictSelection::Anomalies && !v.is_anomaly {
                continue;
            }
            let key = (source.to_string(), v.id.clone());
            if self.published.contains(&key) || !seen.insert(&v.id) {
                continue;
            }
            let (document, host) = match by_id.get(&v.id) {
                Some(r) => (
                    codec::record_document(r, &self.config.fields),
                    Some(r.host.as_str()),
                ),
                None => {
                    let mut m = serde_json::Map::new();
                    m.insert("_id".into(), Value::String(v.id.to_string()));
                    m.insert("source".into(), Value::String(source.to_owned()));
                    (m, None)
                }
            };
            let payload = Value::Object(codec::with_verdict(document, v.is_anomaly, v.score));
            let bytes = serde_json::to_vec(&payload).map_err(|e| {
                StoreError::invalid_record(
                    super::BACKEND,
                    &v.id,
                    "write verdicts",
                    format!("cannot encode the verdict as JSON: {e}"),
                )
            })?;
            self.send(
                &topic,
                host.map(str::as_bytes),
                &bytes,
                None,
                "publish verdicts",
            )?;
            sent.push(key);
        }
        if sent.is_empty() {
            return Ok(0);
        }
        self.flush("publish verdicts")?;
        let n = sent.len();
        self.published.extend(sent);
        Ok(n)
    }

    /// Publishes each aggregate (its draft, input source and target) to the aggregates topic,
    /// keyed by its id `<was_added_at_ms>-<n>`; nothing is stored, so every draft gets an id.
    fn write_aggregates(
        &mut self,
        input_source: &str,
        target: &str,
        drafts: &[AggregateDraft],
    ) -> Result<Vec<Option<RecordId>>, StoreError> {
        let topic = self.config.aggregates_topic.clone();
        let mut ids = Vec::with_capacity(drafts.len());
        for d in drafts {
            let id = RecordId::Text(format!(
                "{}-{}",
                d.was_added_at_ms, self.aggregates_published
            ));
            self.aggregates_published += 1;
            let value = codec::printed_aggregate_json(&id, input_source, target, d);
            let bytes = value.to_string().into_bytes();
            let key = id.to_string();
            self.send(
                &topic,
                Some(key.as_bytes()),
                &bytes,
                None,
                "publish aggregates",
            )?;
            ids.push(Some(id));
        }
        if !ids.is_empty() {
            self.flush("publish aggregates")?;
        }
        Ok(ids)
    }
}
