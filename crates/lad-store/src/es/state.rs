//! lad's state in the `es` backend, the [`StateStore`] role: anomalies of a window with their
//! links, stored aggregates (found through the targets registered in lad's state index), and
//! feedback (documents `feedback-N` of the state index).

use super::codec::record;
use super::write::AGGREGATE_PREFIX;
use super::*;
use crate::record::{Aggregate, AggregateDraft, Anomaly, Feedback, NewFeedback};
use crate::roles::StateStore;
use crate::timefmt::parse_time_str;

/// Aggregates (or feedback marks) read at most per listing.
const MAX_LISTED: usize = 1_000_000;

impl EsStore {
    /// Creates lad's state index when missing.
    pub(super) fn ensure_state_index(&mut self) -> Result<(), StoreError> {
        let index = self.config.state_index.clone();
        let keyword = json!({ "type": "keyword" });
        let long = json!({ "type": "long" });
        self.ensure_index(
            "create lad's state index",
            &index,
            json!({ "properties": {
                "kind": keyword, "input_source": keyword, "target": keyword,
                "target_key": keyword, "feedback_id": long, "source": keyword,
                "host": keyword, "record_id": keyword, "message": { "type": "text" },
                "template": { "type": "text" }, "who": keyword, "at_ms": long,
                "undone_at_ms": long,
            } }),
        )
    }

    /// Remembers that `input_source` feeds `target` (idempotent).
    pub(super) fn register_target(
        &mut self,
        input_source: &str,
        target: &str,
    ) -> Result<(), StoreError> {
        let key = format!("{input_source}\u{1f}{target}");
        let state = self.config.state_index.clone();
        let results = self.bulk(
            "write aggregates",
            vec![BulkItem {
                action: json!({ "index": { "_index": state, "_id": format!("target-{}", hex(&key)) } }),
                doc: Some(json!({
                    "kind": "target", "input_source": input_source, "target": target,
                    "target_key": key,
                })),
            }],
        )?;
        self.bulk_failures("write aggregates", &results, &[])
    }

    /// The (input source, target) pairs aggregates were written for.
    pub(super) fn targets(
        &self,
        input_source: Option<&str>,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut filter = vec![json!({ "term": { "kind": "target" } })];
        if let Some(s) = input_source {
            filter.push(json!({ "term": { "input_source": s } }));
        }
        let hits = self.scan(
            "read aggregate targets",
            &self.config.state_index,
            json!({ "bool": { "filter": filter } }),
            json!([{ "target_key": "asc" }]),
            MAX_LISTED,
        )?;
        Ok(hits
            .iter()
            .filter_map(|h| {
                let s = h.source.as_ref()?;
                Some((
                    s.get("input_source")?.as_str()?.to_owned(),
                    s.get("target")?.as_str()?.to_owned(),
                ))
            })
            .collect())
    }

    fn feedback_hits(
        &self,
        filter: Vec<Value>,
        must_not: Vec<Value>,
    ) -> Result<Vec<Hit>, StoreError> {
        let mut filter = filter;
        filter.push(json!({ "term": { "kind": "feedback" } }));
        self.scan(
            "list feedback",
            &self.config.state_index,
            json!({ "bool": { "filter": filter, "must_not": must_not } }),
            json!([{ "feedback_id": "asc" }]),
            MAX_LISTED,
        )
    }
}

impl StateStore for EsStore {
    /// See [`crate::Store::anomalies`]: documents with `is_anomaly: 1` in the window.
    fn anomalies(
        &mut self,
        source: &str,
        from_ms: i64,
        to_ms: i64,
        max: usize,
    ) -> Result<Vec<Anomaly>, StoreError> {
        let operation = "read anomalies";
        let expr = self.window_expr(operation, source, from_ms, to_ms)?;
        if max == 0 || expr.is_empty() {
            return Ok(Vec::new());
        }
        let mut filter = self.user_filters();
        filter.push(json!({ "term": { "is_anomaly": 1 } }));
        filter.push(self.time_range(from_ms, to_ms));
        let sort = self.time_sort("desc");
        let hits = self.scan(
            operation,
            &expr,
            json!({ "bool": { "filter": filter } }),
            sort,
            max,
        )?;
        let mut out = Vec::with_capacity(hits.len());
        for hit in hits.iter().rev() {
            // A document that was scored was readable then; one that no longer is gets skipped.
            let Ok(record) = record(hit, source, self.fields(), true) else {
                continue;
            };
            let doc = hit.source.as_ref();
            let score = doc
                .and_then(|d| d.get("anomaly_score"))
                .and_then(Value::as_f64)
                .unwrap_or(f64::NAN);
            let aggregate_id = doc
                .and_then(|d| d.get(AGGREGATE_FIELD))
                .and_then(Value::as_str)
                .map(|s| RecordId::Text(s.to_owned()));
            out.push(Anomaly {
                record,
                score,
                aggregate_id,
            });
        }
        Ok(out)
    }

    /// See [`crate::Store::aggregates`], oldest first (ids sort by creation).
    fn aggregates(&mut self, input_source: Option<&str>) -> Result<Vec<Aggregate>, StoreError> {
        let mut out = Vec::new();
        for (source, target) in self.targets(input_source)? {
            let hits = match self.scan(
                "read aggregates",
                &target,
                json!({ "bool": { "filter": [{ "term": { "input_source": &source } }] } }),
                json!([{ "lad_id": "asc" }]),
                MAX_LISTED,
            ) {
                Ok(h) => h,
                // A target index deleted by hand holds no aggregates.
                Err(StoreError::Driver { source: e, .. })
                    if e.to_string().contains("index_not_found_exception") =>
                {
                    continue
                }
                Err(e) => return Err(e),
            };
            let mut found = Vec::new();
            for h in &hits {
                let Some(d) = h.source.as_ref() else { continue };
                let text = |k: &str| super::codec::text_field(d, k);
                let time = |k: &str| {
                    d.get(k)
                        .and_then(Value::as_str)
                        .and_then(|s| parse_time_str(s).ok())
                        .unwrap_or(0)
                };
                found.push((
                    h.id.clone(),
                    AggregateDraft {
                        message: text("message"),
                        total_logs: d.get("total_logs").and_then(Value::as_u64).unwrap_or(0),
                        average_time_ms: time("average_datetime"),
                        average_anomaly_score: d
                            .get("average_anomaly_score")
                            .and_then(Value::as_f64)
                            .unwrap_or(f64::NAN),
                        most_frequent_hostname: text("most_frequent_hostname"),
                        was_added_at_ms: time("was_added_at"),
                        member_ids: Vec::new(),
                    },
                ));
            }
            let mut members: HashMap<String, Vec<RecordId>> = HashMap::new();
            let ids: Vec<&String> = found.iter().map(|(id, _)| id).collect();
            for chunk in ids.chunks(PAGE) {
                let sort = self.time_sort("asc");
                let hits = self.scan(
                    "read aggregate members",
                    &self.expr(&source),
                    json!({ "bool": { "filter": [{ "terms": { AGGREGATE_FIELD: chunk } }] } }),
                    sort,
                    MAX_LISTED,
                )?;
                for h in hits {
                    if let Some(a) = h
                        .source
                        .as_ref()
                        .and_then(|s| s.get(AGGREGATE_FIELD))
                        .and_then(Value::as_str)
                    {
                        members
                            .entry(a.to_owned())
                            .or_default()
                            .push(record_id(&h.index, &h.id));
                    }
                }
            }
            for (id, mut draft) in found {
                draft.member_ids = members.remove(&id).unwrap_or_default();
                out.push(Aggregate {
                    id: RecordId::Text(id),
                    input_source: source.clone(),
                    target: target.clone(),
                    draft,
                });
            }
        }
        out.sort_by_key(|a| a.id.to_string());
        debug_assert!(out
            .iter()
            .all(|a| a.id.to_string().starts_with(AGGREGATE_PREFIX)));
        Ok(out)
    }

    /// See [`crate::Store::add_feedback`]: `feedback-N` created with the next free number.
    fn add_feedback(&mut self, mark: &NewFeedback) -> Result<i64, StoreError> {
        let operation = "add feedback";
        let state = self.config.state_index.clone();
        let (last, _) = self.search(
            operation,
            &state,
            &json!({
                "size": 1,
                "query": { "term": { "kind": "feedback" } },
                "sort": [{ "feedback_id": "desc" }],
            }),
        )?;
        let first = last
            .first()
            .and_then(|h| h.source.as_ref())
            .and_then(|s| s.get("feedback_id"))
            .and_then(Value::as_i64)
            .unwrap_or(0)
            + 1;
        // Taken by another writer meanwhile: the next number.
        for id in first..first + 100 {
            let results = self.bulk(
                operation,
                vec![BulkItem {
                    action: json!({ "create": { "_index": &state, "_id": format!("feedback-{id}") } }),
                    doc: Some(json!({
                        "kind": "feedback",
                        "feedback_id": id,
                        "source": mark.source,
                        "host": mark.host,
                        "record_id": mark.record_id.as_ref().map(ToString::to_string),
                        "message": mark.message,
                        "template": mark.template,
                        "who": mark.who,
                        "at_ms": mark.at_ms,
                        "undone_at_ms": null,
                    })),
                }],
            )?;
            self.bulk_failures(operation, &results, &[409])?;
            if results.first().is_some_and(|r| r.status < 300) {
                return Ok(id);
            }
        }
        Err(self.driver_error(
            operation,
            EsError::Reply {
                method: "POST",
                path: "/_bulk".into(),
                reason: "no free feedback id after 100 tries".into(),
            },
        ))
    }

    /// See [`crate::Store::list_feedback`].
    fn list_feedback(
        &mut self,
        source: Option<&str>,
        include_undone: bool,
    ) -> Result<Vec<Feedback>, StoreError> {
        let mut filter = Vec::new();
        if let Some(s) = source {
            filter.push(json!({ "term": { "source": s } }));
        }
        let mut must_not = Vec::new();
        if !include_undone {
            must_not.push(json!({ "exists": { "field": "undone_at_ms" } }));
        }
        let hits = self.feedback_hits(filter, must_not)?;
        Ok(hits
            .iter()
            .filter_map(|h| {
                let d = h.source.as_ref()?;
                let text = |k: &str| super::codec::text_field(d, k);
                let optional = |k: &str| d.get(k).and_then(Value::as_str).map(str::to_owned);
                Some(Feedback {
                    id: d.get("feedback_id")?.as_i64()?,
                    mark: NewFeedback {
                        source: text("source"),
                        host: text("host"),
                        record_id: optional("record_id").map(|s| RecordId::parse(&s)),
                        message: text("message"),
                        template: optional("template"),
                        who: text("who"),
                        at_ms: d.get("at_ms").and_then(Value::as_i64).unwrap_or(0),
                    },
                    undone_at_ms: d.get("undone_at_ms").and_then(Value::as_i64),
                })
            })
            .collect())
    }

    /// See [`crate::Store::undo_feedback`].
    fn undo_feedback(&mut self, id: i64, at_ms: i64) -> Result<bool, StoreError> {
        let operation = "undo feedback";
        let key = (self.config.state_index.clone(), format!("feedback-{id}"));
        let hits = self.mget(operation, std::slice::from_ref(&key), &["undone_at_ms"])?;
        let Some(hit) = hits.into_iter().next().filter(|h| h.found == Some(true)) else {
            return Ok(false);
        };
        let undone = hit
            .source
            .as_ref()
            .and_then(|s| s.get("undone_at_ms"))
            .is_some_and(|v| !v.is_null());
        let (Some(seq), Some(term)) = (hit.seq_no, hit.primary_term) else {
            return Ok(false);
        };
        if undone {
            return Ok(false);
        }
        let results = self.bulk(
            operation,
            vec![BulkItem {
                action: json!({ "update": {
                    "_index": key.0, "_id": key.1, "if_seq_no": seq, "if_primary_term": term,
                } }),
                doc: Some(json!({ "doc": { "undone_at_ms": at_ms } })),
            }],
        )?;
        self.bulk_failures(operation, &results, &[409])?;
        Ok(results.first().is_some_and(|r| r.status < 300))
    }
}

/// Lower-case hex of a text's bytes (a safe document id for any name).
fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}
