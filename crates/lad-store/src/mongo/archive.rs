//! `lad import` and `lad export` on the `mg` backend, the [`RecordArchive`] role: imports skip
//! documents whose `_id` the collection has; exports page through collections by offset.

use super::*;
use crate::roles::{RecordArchive, RecordSource};

/// The most a MongoDB document may hold (the server's `maxBsonObjectSize`).
const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

/// The document `lad import` inserts for `r`, or why there can be none: an `_id` that is not
/// one, a field name BSON cannot hold (a NUL byte), or more than 16 MiB in all.
fn import_document(r: &NewRecord, f: &FieldNames) -> Result<Document, String> {
    let mut d = Document::new();
    let id = match &r.original_id {
        Some(id) => id_to_bson(id)?,
        None => Bson::ObjectId(ObjectId::new()),
    };
    d.insert("_id", id);
    for (k, v) in &r.extra {
        if is_record_field(k, f) {
            continue;
        }
        d.insert(k.clone(), json_to_bson(v.clone()));
    }
    d.insert(f.host.clone(), r.host.clone());
    d.insert(f.time.clone(), DateTime::from_millis(r.time));
    d.insert(f.message.clone(), r.message.clone());
    let bytes = bson::to_vec(&d)
        .map_err(|e| format!("the document cannot be written as BSON: {e}"))?
        .len();
    if bytes > MAX_DOCUMENT_BYTES {
        return Err(format!(
            "the document takes {bytes} bytes; MongoDB holds at most {MAX_DOCUMENT_BYTES}"
        ));
    }
    Ok(d)
}

impl MongoStore {
    /// Why `record` cannot be imported into this database, or `None` (see
    /// [`crate::Store::import_limit`]).
    pub fn import_limit(&self, record: &NewRecord) -> Option<String> {
        import_document(record, self.fields()).err()
    }
}

impl RecordArchive for MongoStore {
    /// See [`crate::Store::import`]. Documents keep `original_id` as `_id` (an ObjectId, integer or
    /// string); a duplicate `_id` is counted, not an error.
    fn import(&mut self, source: &str, records: &[NewRecord]) -> Result<ImportSummary, StoreError> {
        self.prepare(source)?;
        let f = self.fields().clone();
        let mut docs = Vec::with_capacity(records.len());
        for r in records {
            let d = import_document(r, &f).map_err(|reason| StoreError::InvalidRecord {
                backend: BACKEND,
                operation: "import",
                id: r
                    .original_id
                    .as_ref()
                    .map_or_else(|| "new".to_string(), ToString::to_string),
                reason,
            })?;
            docs.push(Bson::Document(d));
        }
        let mut summary = ImportSummary::default();
        for chunk in chunks(docs) {
            let n = chunk.len();
            let reply = self
                .db
                .run_command(doc! { "insert": source, "documents": chunk, "ordered": false })
                .run()
                .map_err(self.fail("import records"))?;
            let errors = write_errors(&reply);
            let duplicates = errors.iter().filter(|(code, _)| *code == 11000).count();
            if let Some((code, message)) = errors.iter().find(|(code, _)| *code != 11000) {
                return Err(self.command_error(
                    "import records",
                    format!("insert refused (code {code}): {message}"),
                ));
            }
            summary.inserted += n - duplicates;
            summary.duplicates += duplicates;
        }
        Ok(summary)
    }

    /// See [`crate::Store::export_page`]: collections in name order, documents in `_id` order.
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
        let packed = cursor.map_or(0, |c| c.0.max(0));
        let mut index = usize::try_from(packed >> OFFSET_BITS).unwrap_or(usize::MAX);
        let mut offset = u64::try_from(packed & ((1 << OFFSET_BITS) - 1)).unwrap_or(0);
        let mut page = ExportPage::default();
        let mut taken = 0;
        while taken < limit && index < sources.len() {
            let name = &sources[index];
            let want = limit - taken;
            let docs = self
                .coll(name)
                .find(doc! {})
                .sort(doc! { "_id": 1 })
                .skip(offset)
                .limit(i64::try_from(want).unwrap_or(i64::MAX))
                .run()
                .map_err(self.fail("export records"))?;
            let mut got = 0;
            for doc in docs {
                let doc = doc.map_err(self.fail("export records"))?;
                got += 1;
                self.export_row(&doc, name, &mut page);
            }
            taken += got;
            if got < want {
                index += 1;
                offset = 0;
            } else {
                offset += got as u64;
            }
        }
        page.next = (taken == limit && limit > 0 && index < sources.len()).then_some(ExportCursor(
            ((index as i64) << OFFSET_BITS) | (offset as i64 & ((1 << OFFSET_BITS) - 1)),
        ));
        Ok(page)
    }
}

impl MongoStore {
    pub(super) fn export_row(&mut self, doc: &RawDocument, source: &str, page: &mut ExportPage) {
        let marked = match doc.get(MALFORMED_FIELD) {
            Ok(Some(RawBsonRef::String(s))) => Some(s.to_owned()),
            Ok(Some(_)) => Some("marked malformed".to_owned()),
            _ => None,
        };
        match (self.record(doc, source), marked) {
            (Ok(record), None) => page.rows.push(ExportRow {
                is_anomaly: doc.get("is_anomaly").ok().flatten().and_then(|v| match v {
                    RawBsonRef::Boolean(b) => Some(b),
                    other => raw_number(other).map(|n| n != 0.0),
                }),
                anomaly_score: doc.get("anomaly_score").ok().flatten().and_then(raw_number),
                aggregate_id: doc.get(AGGREGATE_FIELD).ok().flatten().map(raw_to_id),
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
