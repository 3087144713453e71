//! Writes of the `es` backend: the [`VerdictSink`] role. Verdicts are `_bulk` partial updates
//! conditioned on the sequence number of the unscored document (the first verdict stands; see
//! the module docs of [`super`]), copied to `ES_TARGET_INDEX` when set; aggregates are created in
//! the target index and their members linked the same way.

use super::*;
use crate::record::{check_score, AggregateDraft, Record, Verdict};
use crate::roles::VerdictSink;
use crate::timefmt::format_rfc3339_millis;

/// How many times a verdict whose document changed under it is checked and tried again.
const CONFLICT_ROUNDS: usize = 3;

/// The prefix of aggregate ids (so they never read back as an integer id).
pub(super) const AGGREGATE_PREFIX: &str = "agg-";

impl EsStore {
    /// `(seq_no, primary_term)` of documents that have none of `field`, by a real-time `_mget`;
    /// documents that have it or do not exist are left out.
    fn unmarked(
        &self,
        operation: &'static str,
        docs: &[(String, String)],
        field: &str,
    ) -> Result<HashMap<DocKey, SeqNo>, StoreError> {
        let mut out = HashMap::new();
        for hit in self.mget(operation, docs, &[field])? {
            let has = hit.source.as_ref().is_some_and(|s| s.contains_key(field));
            if hit.found == Some(true) && !has {
                if let (Some(s), Some(p)) = (hit.seq_no, hit.primary_term) {
                    out.insert((hit.index, hit.id), (s, p));
                }
            }
        }
        Ok(out)
    }

    /// Sets `doc` on each document, conditioned on its sequence number; a document that changed
    /// meanwhile is read again and written only if it still lacks `field`. Returns how many
    /// were written.
    fn conditional_updates(
        &mut self,
        operation: &'static str,
        mut todo: Vec<(DocKey, SeqNo, Value)>,
        field: &str,
    ) -> Result<usize, StoreError> {
        let mut written = 0;
        for _ in 0..CONFLICT_ROUNDS {
            if todo.is_empty() {
                break;
            }
            let items = todo
                .iter()
                .map(|((index, id), (seq, term), doc)| BulkItem {
                    action: json!({ "update": {
                        "_index": index, "_id": id, "if_seq_no": seq, "if_primary_term": term,
                    } }),
                    doc: Some(json!({ "doc": doc })),
                })
                .collect();
            let results = self.bulk(operation, items)?;
            // 404: the document was deleted; 409: it changed since it was read.
            self.bulk_failures(operation, &results, &[404, 409])?;
            let mut conflicts = Vec::new();
            for (item, r) in todo.into_iter().zip(&results) {
                match r.status {
                    200..=299 => written += 1,
                    409 => conflicts.push(item),
                    _ => {}
                }
            }
            if conflicts.is_empty() {
                break;
            }
            let keys: Vec<(String, String)> = conflicts.iter().map(|(k, _, _)| k.clone()).collect();
            let fresh = self.unmarked(operation, &keys, field)?;
            todo = conflicts
                .into_iter()
                .filter_map(|(k, _, doc)| fresh.get(&k).map(|v| (k.clone(), *v, doc)))
                .collect();
        }
        Ok(written)
    }

    /// Creates the verdict documents of `ES_TARGET_INDEX` (the old system's output).
    fn copy_verdicts(
        &mut self,
        target: &str,
        verdicts: &[(&Verdict, (String, String))],
        records: &[Record],
    ) -> Result<(), StoreError> {
        let operation = "write verdicts to ES_TARGET_INDEX";
        let mapping = self.records_mapping();
        self.ensure_index(operation, target, mapping)?;
        let by_id: HashMap<&RecordId, &Record> = records.iter().map(|r| (&r.id, r)).collect();
        let items: Vec<BulkItem> = verdicts
            .iter()
            .filter_map(|(v, _)| {
                let r = by_id.get(&v.id)?;
                let mut doc = crate::codec::with_verdict(
                    crate::codec::record_document(r, self.fields()),
                    v.is_anomaly,
                    v.score,
                );
                // `_id` is metadata in Elasticsearch, never a field of the document.
                doc.remove("_id");
                Some(BulkItem {
                    action: json!({ "create": { "_index": target, "_id": v.id.to_string() } }),
                    doc: Some(Value::Object(doc)),
                })
            })
            .collect();
        let results = self.bulk(operation, items)?;
        // 409: created by an earlier try; the first copy stands.
        self.bulk_failures(operation, &results, &[409])
    }

    /// The mapping of an aggregate target index.
    fn aggregates_mapping() -> Value {
        json!({ "properties": {
            "message": { "type": "text" },
            "total_logs": { "type": "long" },
            "average_datetime": { "type": "date" },
            "average_anomaly_score": { "type": "double" },
            "most_frequent_hostname": { "type": "keyword" },
            "was_added_at": { "type": "date" },
            "input_source": { "type": "keyword" },
            "lad_id": { "type": "keyword" },
        } })
    }
}

impl VerdictSink for EsStore {
    /// See [`crate::Store::write_verdicts`]: conditional `_bulk` updates of `is_anomaly` and
    /// `anomaly_score` (see the module docs of [`super`]).
    fn write_verdicts(
        &mut self,
        _source: &str,
        verdicts: &[Verdict],
        records: &[Record],
    ) -> Result<usize, StoreError> {
        let operation = "write verdicts";
        let mut keyed = Vec::with_capacity(verdicts.len());
        for v in verdicts {
            check_score(BACKEND, v)?;
            keyed.push((v, split_id(&v.id, operation)?));
        }
        // Sequence numbers from the read of the batch; the others from a real-time `_mget`.
        let mut known: HashMap<(String, String), (u64, u64)> = HashMap::new();
        let mut missing = Vec::new();
        for (_, key) in &keyed {
            match self.seq_nos.remove(key) {
                Some(seq) => {
                    known.insert(key.clone(), seq);
                }
                None => missing.push(key.clone()),
            }
        }
        if !missing.is_empty() {
            known.extend(self.unmarked(operation, &missing, "is_anomaly")?);
        }
        let pending: Vec<(&Verdict, (String, String))> = keyed
            .into_iter()
            .filter(|(_, key)| known.contains_key(key))
            .collect();
        if pending.is_empty() {
            return Ok(0);
        }
        if let Some(target) = self.config.target_index.clone() {
            self.copy_verdicts(&target, &pending, records)?;
        }
        let todo = pending
            .into_iter()
            .filter_map(|(v, key)| {
                let seq = known.remove(&key)?;
                Some((
                    key,
                    seq,
                    json!({ "is_anomaly": i32::from(v.is_anomaly), "anomaly_score": v.score }),
                ))
            })
            .collect();
        self.conditional_updates(operation, todo, "is_anomaly")
    }

    /// See [`crate::Store::write_aggregates`]. Creates the aggregate documents first and links
    /// members second, so a crash in between leaves an aggregate without members (harmless: the
    /// members are aggregated again) rather than members linked to nothing.
    fn write_aggregates(
        &mut self,
        input_source: &str,
        target: &str,
        drafts: &[AggregateDraft],
    ) -> Result<Vec<Option<RecordId>>, StoreError> {
        let operation = "write aggregates";
        let mut keys = Vec::new();
        for d in drafts {
            for id in &d.member_ids {
                keys.push(split_id(id, operation)?);
            }
        }
        // Which members exist, and which are linked already.
        let mut state: HashMap<(String, String), Option<(u64, u64)>> = HashMap::new();
        for hit in self.mget(operation, &keys, &[AGGREGATE_FIELD])? {
            if hit.found != Some(true) {
                continue;
            }
            let linked = hit
                .source
                .as_ref()
                .is_some_and(|s| s.contains_key(AGGREGATE_FIELD));
            let seq = match (hit.seq_no, hit.primary_term) {
                (Some(s), Some(p)) if !linked => Some((s, p)),
                _ => None,
            };
            state.insert((hit.index, hit.id), seq);
        }
        let mut out = Vec::with_capacity(drafts.len());
        let mut aggregates = Vec::new();
        let mut links = Vec::new();
        for d in drafts {
            let mut free = Vec::new();
            for id in &d.member_ids {
                let key = split_id(id, operation)?;
                match state.get_mut(&key) {
                    None => {
                        return Err(StoreError::invalid_record(
                            BACKEND,
                            id,
                            operation,
                            format!("no such document at {}", self.config.endpoint),
                        ))
                    }
                    Some(slot) => {
                        // Claimed now, so a later draft of this call does not take it too.
                        if let Some(seq) = slot.take() {
                            free.push((key, seq));
                        }
                    }
                }
            }
            if free.is_empty() {
                out.push(None);
                continue;
            }
            let id = format!("{AGGREGATE_PREFIX}{}", sortable_id());
            aggregates.push(BulkItem {
                action: json!({ "create": { "_index": target, "_id": id } }),
                doc: Some(json!({
                    "message": d.message,
                    "total_logs": d.total_logs,
                    "average_datetime": format_rfc3339_millis(d.average_time_ms),
                    "average_anomaly_score": d.average_anomaly_score,
                    "most_frequent_hostname": d.most_frequent_hostname,
                    "was_added_at": format_rfc3339_millis(d.was_added_at_ms),
                    "input_source": input_source,
                    "lad_id": id,
                })),
            });
            for (key, seq) in free {
                links.push((key, seq, json!({ AGGREGATE_FIELD: id })));
            }
            out.push(Some(RecordId::Text(id)));
        }
        if aggregates.is_empty() {
            return Ok(out);
        }
        self.register_target(input_source, target)?;
        self.ensure_index(operation, target, Self::aggregates_mapping())?;
        let results = self.bulk(operation, aggregates)?;
        self.bulk_failures(operation, &results, &[])?;
        self.conditional_updates("link aggregate members", links, AGGREGATE_FIELD)?;
        Ok(out)
    }
}
