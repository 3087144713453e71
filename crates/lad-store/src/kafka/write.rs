//! The [`VerdictSink`] role of the Kafka backend: one JSON message per verdict on the verdict
//! topic, keyed by host, and one per aggregate on the aggregates topic.
//!
//! A verdict message is the record's document shape ([`codec::record_document`]: its fields under
//! the user's names, `_id`, `source`) plus `is_anomaly` (0/1) and `anomaly_score`; a record read
//! from Kafka also carries `lad_topic`, `lad_partition` and `lad_offset`. Only anomalies are
//! published unless `KF_VERDICTS: all`.
//!
//! Delivery rule: the input offsets are committed only after the brokers confirmed every
//! verdict message of the records before them (idempotent producer, so librdkafka's own retries
//! add no copies). A store that reads the records itself returns from a write once the messages
//! are queued and awaits the confirmations behind it (see the module docs); a sink for records
//! of another store waits for them before returning, since that store marks its records done
//! as soon as the write returns. A kill before the commit publishes the same verdicts again
//! on restart: a reader
//! deduplicates by (`lad_topic`, `lad_partition`, `lad_offset`), or by (`source`, `_id`) for
//! records from another store; the first message of a key stands and any later one is equal
//! (same model, same record). Kafka transactions are not used.

use std::collections::{HashMap, HashSet};

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
    /// Publishes the selected verdicts not published before by this process; returns how many
    /// were published. Waits for the brokers' confirmations only when the records are another
    /// store's (a consuming store awaits them before it commits, see `KafkaStore::settle`).
    fn write_verdicts(
        &mut self,
        source: &str,
        verdicts: &[Verdict],
        records: &[Record],
    ) -> Result<usize, StoreError> {
        for v in verdicts {
            check_score(super::BACKEND, v)?;
        }
        if self.published.values().map(HashSet::len).sum::<usize>() > MAX_REMEMBERED {
            self.published.clear();
        }
        let mut records = RecordFinder::new(records);
        let topic = self.config.verdict_topic.clone();
        let write = self.next_write();
        let mut sent: Vec<RecordId> = Vec::new();
        let mut seen: HashSet<&RecordId> = HashSet::new();
        // One buffer for every message: librdkafka copies the payload.
        let mut bytes = Vec::new();
        for v in verdicts {
            if self.config.verdicts == VerdictSelection::Anomalies && !v.is_anomaly {
                continue;
            }
            let published = self
                .published
                .get(source)
                .is_some_and(|p| p.contains(&v.id));
            if published || !seen.insert(&v.id) {
                continue;
            }
            bytes.clear();
            let record = records.find(&v.id);
            let encoded = match record {
                Some(r) => codec::write_verdict_document(
                    &mut bytes,
                    r,
                    &self.config.fields,
                    v.is_anomaly,
                    v.score,
                ),
                None => {
                    let mut m = serde_json::Map::new();
                    m.insert("_id".into(), Value::String(v.id.to_string()));
                    m.insert("source".into(), Value::String(source.to_owned()));
                    let payload = Value::Object(codec::with_verdict(m, v.is_anomaly, v.score));
                    serde_json::to_writer(&mut bytes, &payload)
                }
            };
            encoded.map_err(|e| {
                StoreError::invalid_record(
                    super::BACKEND,
                    &v.id,
                    "write verdicts",
                    format!("cannot encode the verdict as JSON: {e}"),
                )
            })?;
            self.send(
                &topic,
                record.map(|r| r.host.as_bytes()),
                &bytes,
                None,
                write,
                "publish verdicts",
            )?;
            sent.push(v.id.clone());
        }
        if sent.is_empty() {
            return Ok(0);
        }
        if self.scoring.is_none() {
            self.settle_all("publish verdicts")?;
        }
        let n = sent.len();
        match self.published.get_mut(source) {
            Some(p) => p.extend(sent),
            None => {
                self.published
                    .insert(source.to_string(), sent.into_iter().collect());
            }
        }
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
        let write = self.next_write();
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
                write,
                "publish aggregates",
            )?;
            ids.push(Some(id));
        }
        if !ids.is_empty() {
            self.settle_all("publish aggregates")?;
        }
        Ok(ids)
    }
}

/// Finds the record of a verdict: verdicts come in the order of their records (the scoring
/// pass makes them so), so the search goes on from the last record found; after the first miss
/// it uses a map by id.
struct RecordFinder<'a> {
    records: &'a [Record],
    next: usize,
    by_id: Option<HashMap<&'a RecordId, &'a Record>>,
}

impl<'a> RecordFinder<'a> {
    fn new(records: &'a [Record]) -> Self {
        RecordFinder {
            records,
            next: 0,
            by_id: None,
        }
    }

    fn find(&mut self, id: &RecordId) -> Option<&'a Record> {
        if self.by_id.is_none() {
            if let Some(i) = self.records[self.next..].iter().position(|r| &r.id == id) {
                self.next += i + 1;
                return Some(&self.records[self.next - 1]);
            }
        }
        let records = self.records;
        self.by_id
            .get_or_insert_with(|| records.iter().map(|r| (&r.id, r)).collect())
            .get(id)
            .copied()
    }
}
