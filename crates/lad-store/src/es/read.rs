//! Reads of the `es` backend: the [`RecordSource`] and [`TrainingReader`] roles, the index
//! expression of a source (daily indices of the old `ES_INPUT_INDEX`), the field hosts are
//! matched on, and the query every read of records shares. Writes only the `lad_malformed` mark.

use super::codec::record;
use super::*;
use crate::record::Batch;
use crate::roles::{RecordSource, TrainingReader};

/// Windows longer than this many days read `prefix*` instead of listing each daily index.
const MAX_LISTED_DAYS: i64 = 400;

impl EsStore {
    /// The index expression reads of `source` go to (outside a time window).
    pub(super) fn expr(&self, source: &str) -> String {
        if self.is_daily(source) {
            format!("{source}*")
        } else {
            source.to_owned()
        }
    }

    fn is_daily(&self, source: &str) -> bool {
        self.config.daily_sources.iter().any(|s| s == source)
    }

    /// The index expression of `source` for `[from_ms, to_ms)`: for a daily source, the daily
    /// indices of the window that exist (empty when none does).
    pub(super) fn window_expr(
        &self,
        operation: &'static str,
        source: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<String, StoreError> {
        if !self.is_daily(source) {
            return Ok(source.to_owned());
        }
        let days = daily_names(source, from_ms, to_ms);
        match days {
            Some(names) => {
                let existing: HashSet<String> = self
                    .indices(operation, &format!("{source}*"))?
                    .into_iter()
                    .collect();
                Ok(names
                    .into_iter()
                    .filter(|n| existing.contains(n))
                    .collect::<Vec<_>>()
                    .join(","))
            }
            None => Ok(format!("{source}*")),
        }
    }

    /// The filter of records with `from_ms <= time < to_ms`. An end at `i64::MIN` or `i64::MAX`
    /// (a whole history, as incident repair reads it) is left open: a `date` field refuses to
    /// parse such numbers.
    pub(super) fn time_range(&self, from_ms: i64, to_ms: i64) -> Value {
        let mut range = Map::new();
        if from_ms != i64::MIN {
            range.insert("gte".into(), json!(from_ms));
        }
        if to_ms != i64::MAX {
            range.insert("lt".into(), json!(to_ms));
        }
        range.insert("format".into(), json!("epoch_millis"));
        json!({ "range": { &self.fields().time: range } })
    }

    /// The filters every read of records applies: `ES_QUERY`, when set.
    pub(super) fn user_filters(&self) -> Vec<Value> {
        match &self.config.query {
            Some(q) if !q.trim().is_empty() => vec![json!({ "query_string": { "query": q } })],
            _ => Vec::new(),
        }
    }

    /// The field the host is matched and grouped on: the host field when it is a `keyword`,
    /// its `.keyword` sub-field when the host is `text` (dynamic mapping).
    pub(super) fn host_field(&mut self, source: &str) -> Result<String, StoreError> {
        if let Some(f) = self.host_fields.get(source) {
            return Ok(f.clone());
        }
        let host = self.fields().host.clone();
        let sub = format!("{host}.keyword");
        let (status, reply) = self.request(
            "read the host field's mapping",
            "GET",
            &format!(
                "/{}/_mapping/field/{},{}",
                path_part(&self.expr(source)),
                path_part(&host),
                path_part(&sub)
            ),
            None,
            &[404],
        )?;
        if status == 404 {
            return Ok(host);
        }
        let leaf = |name: &str| name.rsplit('.').next().unwrap_or(name).to_owned();
        let (mut keyword, mut has_sub) = (false, false);
        if let Some(indices) = reply.as_object() {
            for index in indices.values() {
                let m = &index["mappings"];
                if m[&host]["mapping"][leaf(&host)]["type"] == "keyword" {
                    keyword = true;
                }
                if m[&sub]["mapping"]["keyword"]["type"] == "keyword" {
                    has_sub = true;
                }
            }
        }
        let field = if !keyword && has_sub { sub } else { host };
        if reply.as_object().is_some_and(|m| !m.is_empty()) {
            self.host_fields.insert(source.to_owned(), field.clone());
        }
        Ok(field)
    }

    /// The time sort of record reads, with `_id` as the tie-break.
    pub(super) fn time_sort(&self, order: &str) -> Value {
        json!([
            { &self.fields().time: { "order": order } },
            { "_id": { "order": order } },
        ])
    }

    fn unscored_query(&mut self, source: &str, hosts: &[String]) -> Result<Value, StoreError> {
        let mut filter = self.user_filters();
        if !hosts.is_empty() {
            let field = self.host_field(source)?;
            // Documents without a host are returned for any filter, to be reported.
            filter.push(json!({ "bool": {
                "should": [
                    { "terms": { field: hosts } },
                    { "bool": { "must_not": { "exists": { "field": &self.fields().host } } } },
                ],
                "minimum_should_match": 1,
            } }));
        }
        Ok(json!({ "bool": {
            "filter": filter,
            "must_not": [
                { "exists": { "field": "is_anomaly" } },
                { "exists": { "field": MALFORMED_FIELD } },
            ],
        } }))
    }

    /// Decodes hits into a batch.
    pub(super) fn batch(&self, hits: &[Hit], source: &str, sorted_by_time: bool) -> Batch {
        let mut batch = Batch::default();
        for hit in hits {
            match record(hit, source, self.fields(), sorted_by_time) {
                Ok(r) => batch.records.push(r),
                Err(m) => batch.malformed.push(m),
            }
        }
        batch
    }
}

impl RecordSource for EsStore {
    /// See [`crate::Store::next_unscored`]: documents without `is_anomaly` and without the
    /// malformed mark, in `(time, _id)` order.
    fn next_unscored(
        &mut self,
        source: &str,
        hosts: &[String],
        limit: usize,
    ) -> Result<Batch, StoreError> {
        let query = self.unscored_query(source, hosts)?;
        let sort = self.time_sort("asc");
        let hits = self.scan("read records", &self.expr(source), query, sort, limit)?;
        self.seq_nos.clear();
        for h in &hits {
            if let (Some(s), Some(p)) = (h.seq_no, h.primary_term) {
                self.seq_nos.insert((h.index.clone(), h.id.clone()), (s, p));
            }
        }
        Ok(self.batch(&hits, source, true))
    }

    /// See [`crate::Store::mark_malformed`]: sets `lad_malformed: reason` unless already set.
    fn mark_malformed(
        &mut self,
        _source: &str,
        id: &RecordId,
        reason: &str,
    ) -> Result<(), StoreError> {
        let operation = "mark a record malformed";
        let (index, doc) = split_id(id, operation)?;
        let current = self.mget(
            operation,
            &[(index.clone(), doc.clone())],
            &[MALFORMED_FIELD],
        )?;
        let Some(hit) = current.into_iter().next().filter(|h| h.found == Some(true)) else {
            return Err(StoreError::invalid_record(
                BACKEND,
                id,
                operation,
                format!("no such document at {}", self.config.endpoint),
            ));
        };
        if hit
            .source
            .as_ref()
            .is_some_and(|s| s.contains_key(MALFORMED_FIELD))
        {
            return Ok(());
        }
        let mut action = json!({ "_index": index, "_id": doc });
        if let (Some(s), Some(p)) = (hit.seq_no, hit.primary_term) {
            action["if_seq_no"] = json!(s);
            action["if_primary_term"] = json!(p);
        }
        let results = self.bulk(
            operation,
            vec![BulkItem {
                action: json!({ "update": action }),
                doc: Some(json!({ "doc": { MALFORMED_FIELD: reason } })),
            }],
        )?;
        // 409: changed since read (marked by another writer): the first reason stands.
        self.bulk_failures(operation, &results, &[409])
    }

    /// See [`crate::Store::list_sources`]: open indices, less those starting with `.`, lad's
    /// state and incident indices, `ES_TARGET_INDEX` and aggregate targets.
    fn list_sources(&mut self) -> Result<Vec<String>, StoreError> {
        let targets: HashSet<String> = self.targets(None)?.into_iter().map(|(_, t)| t).collect();
        Ok(self
            .indices("list sources", "*")?
            .into_iter()
            .filter(|n| {
                !n.starts_with('.')
                    && *n != self.config.state_index
                    && *n != self.config.incident_index
                    && Some(n) != self.config.target_index.as_ref()
                    && !targets.contains(n)
            })
            .collect())
    }

    /// See [`crate::Store::hosts`]: a `terms` aggregation (at most 10,000 hosts).
    fn hosts(&mut self, source: &str) -> Result<Vec<String>, StoreError> {
        let field = self.host_field(source)?;
        let body = json!({
            "size": 0,
            "query": { "bool": { "filter": self.user_filters() } },
            "aggs": { "hosts": { "terms": { "field": field, "size": PAGE } } },
        });
        let (_, aggs) = self.search("list hosts", &self.expr(source), &body)?;
        let mut out: Vec<String> = aggs
            .and_then(|a| a["hosts"]["buckets"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|b| b["key"].as_str().map(str::to_owned))
            .collect();
        out.sort();
        Ok(out)
    }

    /// See [`crate::Store::unscored_count`].
    fn unscored_count(&mut self, source: &str) -> Result<u64, StoreError> {
        let query = self.unscored_query(source, &[])?;
        let expr = self.expr(source);
        let (status, reply) = self.call(
            "count unscored records",
            "POST",
            &format!("/{}/_count", path_part(&expr)),
            &json!({ "query": query }),
            &[404],
        )?;
        if self.index_missing(status, &reply, &expr) {
            return Ok(0);
        }
        if status == 404 {
            return Err(self.status_error(
                "count unscored records",
                "POST",
                &format!("/{expr}/_count"),
                status,
                reply.to_string().as_bytes(),
            ));
        }
        Ok(reply["count"].as_u64().unwrap_or(0))
    }

    /// See [`crate::Store::oldest_unscored_time`].
    fn oldest_unscored_time(&mut self, source: &str) -> Result<Option<i64>, StoreError> {
        let mut query = self.unscored_query(source, &[])?;
        if let Some(filter) = query["bool"]["filter"].as_array_mut() {
            filter.push(json!({ "exists": { "field": &self.fields().time } }));
        }
        let body = json!({
            "size": 1,
            "_source": false,
            "query": query,
            "sort": self.time_sort("asc"),
        });
        let (hits, _) =
            self.search("find the oldest unscored record", &self.expr(source), &body)?;
        Ok(hits
            .first()
            .and_then(|h| h.sort.as_ref())
            .and_then(|s| s.first())
            .and_then(Value::as_i64)
            .filter(|t| *t != i64::MAX && *t != i64::MIN))
    }
}

impl TrainingReader for EsStore {
    /// See [`crate::Store::training_window`]: the newest `max` documents of the host in the
    /// window (for a daily source, from the daily indices of the window), oldest first.
    fn training_window(
        &mut self,
        source: &str,
        host: &str,
        from_ms: i64,
        to_ms: i64,
        max: usize,
    ) -> Result<Batch, StoreError> {
        let operation = "read a training window";
        let expr = self.window_expr(operation, source, from_ms, to_ms)?;
        if expr.is_empty() || from_ms >= to_ms {
            return Ok(Batch::default());
        }
        let field = self.host_field(source)?;
        let mut filter = self.user_filters();
        filter.push(json!({ "term": { field: host } }));
        filter.push(self.time_range(from_ms, to_ms));
        let query = json!({ "bool": {
            "filter": filter,
            "must_not": [{ "exists": { "field": MALFORMED_FIELD } }],
        } });
        let sort = self.time_sort("desc");
        let hits = self.scan(operation, &expr, query, sort, max)?;
        let mut batch = self.batch(&hits, source, true);
        batch.records.reverse();
        batch.malformed.reverse();
        Ok(batch)
    }
}

/// The daily index names `prefix` + `YYYY.MM.DD` of the days `[from_ms, to_ms)` touches (UTC);
/// `None` when the window spans more than [`MAX_LISTED_DAYS`].
pub(super) fn daily_names(prefix: &str, from_ms: i64, to_ms: i64) -> Option<Vec<String>> {
    const DAY: i64 = 86_400_000;
    if to_ms <= from_ms {
        return Some(Vec::new());
    }
    let first = from_ms.div_euclid(DAY);
    let last = (to_ms - 1).div_euclid(DAY);
    if last - first >= MAX_LISTED_DAYS {
        return None;
    }
    Some(
        (first..=last)
            .map(|d| {
                let date = crate::timefmt::format_rfc3339_millis(d * DAY);
                // "YYYY-MM-DDT..." → "YYYY.MM.DD".
                format!(
                    "{prefix}{}",
                    date.get(..10).unwrap_or_default().replace('-', ".")
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_names_cover_the_window() {
        let t0 = 1_704_456_000_000; // 2024-01-05T12:00:00Z
        assert_eq!(
            daily_names("logstash-", t0 - 86_400_000, t0),
            Some(vec![
                "logstash-2024.01.04".to_owned(),
                "logstash-2024.01.05".to_owned()
            ])
        );
        // Midnight is the next day's first instant, outside a window ending there.
        let midnight = 1_704_412_800_000; // 2024-01-05T00:00:00Z
        assert_eq!(
            daily_names("x-", midnight - 1, midnight),
            Some(vec!["x-2024.01.04".to_owned()])
        );
        assert_eq!(daily_names("x-", 0, 500 * 86_400_000), None);
        assert_eq!(daily_names("x-", 5, 5), Some(Vec::new()));
    }
}
