//! `lad import` and `lad export` on the `es` backend, the [`RecordArchive`] role: imports create
//! documents with `op_type: create` (an `_id` the index has is a duplicate, not an error);
//! exports page through sources in `(time, _id)` order with `search_after`.

use super::codec::{import_document, record};
use super::*;
use crate::record::{ExportCursor, ExportPage, ExportRow, ImportSummary, Malformed, NewRecord};
use crate::roles::{RecordArchive, RecordSource};

/// Why Elasticsearch would refuse `record` as `lad import` writes it, or `None` (see
/// [`crate::Store::import_limit`]): an `_id` over 512 bytes, or a host over the 32,766 bytes
/// of a `keyword` term.
pub fn import_limit(record: &NewRecord) -> Option<String> {
    const MAX_ID_BYTES: usize = 512;
    const MAX_KEYWORD_BYTES: usize = 32_766;
    if let Some(id) = &record.original_id {
        let bytes = id.to_string().len();
        if bytes > MAX_ID_BYTES {
            return Some(format!(
                "the record's id takes {bytes} bytes; an Elasticsearch _id holds at most \
                 {MAX_ID_BYTES}"
            ));
        }
    }
    let bytes = record.host.len();
    if bytes > MAX_KEYWORD_BYTES {
        return Some(format!(
            "the host name takes {bytes} bytes; an Elasticsearch keyword holds at most \
             {MAX_KEYWORD_BYTES}"
        ));
    }
    None
}

impl RecordArchive for EsStore {
    /// See [`crate::Store::import`]. Documents keep `original_id` as `_id`; others get an id
    /// that sorts in import order. A new index is created with lad's mapping (host `keyword`,
    /// time `date`).
    fn import(&mut self, source: &str, records: &[NewRecord]) -> Result<ImportSummary, StoreError> {
        let operation = "import records";
        if source.contains(['*', ',', '?']) || self.config.daily_sources.iter().any(|s| s == source)
        {
            return Err(config_error(format!(
                "import needs one index, not the pattern or daily prefix {source:?}"
            )));
        }
        let mapping = self.records_mapping();
        self.ensure_index(operation, source, mapping)?;
        let f = self.fields().clone();
        let items = records
            .iter()
            .map(|r| {
                let id = r
                    .original_id
                    .as_ref()
                    .map_or_else(sortable_id, ToString::to_string);
                BulkItem {
                    action: json!({ "create": { "_index": source, "_id": id } }),
                    doc: Some(Value::Object(import_document(r, &f))),
                }
            })
            .collect();
        let results = self.bulk(operation, items)?;
        self.bulk_failures(operation, &results, &[409])?;
        let duplicates = results.iter().filter(|r| r.status == 409).count();
        Ok(ImportSummary {
            inserted: results.len() - duplicates,
            duplicates,
        })
    }

    /// See [`crate::Store::export_page`]: sources in name order, documents in `(time, _id)`
    /// order; the cursor is kept by this store (valid for its lifetime).
    fn export_page(
        &mut self,
        source: Option<&str>,
        cursor: Option<ExportCursor>,
        limit: usize,
    ) -> Result<ExportPage, StoreError> {
        let sources = match source {
            Some(s) => vec![s.to_owned()],
            None => self.list_sources()?,
        };
        let (mut position, mut after) = match cursor {
            Some(c) => self.export_cursors.remove(&c.0).ok_or_else(|| {
                config_error("export cursor unknown to this connection (expired or reused)")
            })?,
            None => (0, Vec::new()),
        };
        let mut page = ExportPage::default();
        let mut taken = 0;
        while taken < limit && position < sources.len() {
            let name = sources[position].clone();
            let want = (limit - taken).min(PAGE);
            let mut body = json!({
                "query": { "match_all": {} },
                "sort": self.time_sort("asc"),
                "size": want,
            });
            if !after.is_empty() {
                body["search_after"] = Value::Array(after.clone());
            }
            let (hits, _) = self.search("export records", &self.expr(&name), &body)?;
            for h in &hits {
                self.export_row(h, &name, &mut page);
            }
            taken += hits.len();
            match hits.last().and_then(|h| h.sort.clone()) {
                Some(sort) if hits.len() == want => after = sort,
                _ => {
                    position += 1;
                    after = Vec::new();
                }
            }
        }
        if taken == limit && limit > 0 && position < sources.len() {
            let key = self.next_cursor;
            self.next_cursor += 1;
            self.export_cursors.insert(key, (position, after));
            page.next = Some(ExportCursor(key));
        }
        Ok(page)
    }
}

impl EsStore {
    fn export_row(&self, hit: &Hit, source: &str, page: &mut ExportPage) {
        let doc = hit.source.as_ref();
        let marked = doc.and_then(|d| d.get(MALFORMED_FIELD)).map(|v| match v {
            Value::String(s) => s.clone(),
            _ => "marked malformed".to_owned(),
        });
        match (record(hit, source, self.fields(), true), marked) {
            (Ok(record), None) => page.rows.push(ExportRow {
                is_anomaly: doc.and_then(|d| d.get("is_anomaly")).and_then(|v| match v {
                    Value::Bool(b) => Some(*b),
                    other => other.as_f64().map(|n| n != 0.0),
                }),
                anomaly_score: doc
                    .and_then(|d| d.get("anomaly_score"))
                    .and_then(Value::as_f64),
                aggregate_id: doc
                    .and_then(|d| d.get(AGGREGATE_FIELD))
                    .and_then(Value::as_str)
                    .map(|s| RecordId::Text(s.to_owned())),
                record,
            }),
            (Ok(record), Some(reason)) => page.malformed.push(Malformed {
                id: record.id,
                source: source.to_owned(),
                host: Some(record.host),
                reason,
            }),
            (Err(m), _) => page.malformed.push(m),
        }
    }
}
