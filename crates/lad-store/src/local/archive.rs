//! `lad import` and `lad export` on the `local` backend, the [`RecordArchive`] role: imports
//! append JSON Lines to `<folder>/<source>.jsonl`; exports page through the in-memory index.

use super::*;
use crate::roles::RecordArchive;

impl RecordArchive for LocalStore {
    /// See [`crate::Store::import`].
    fn import(&mut self, source: &str, records: &[NewRecord]) -> Result<ImportSummary, StoreError> {
        self.refresh()?;
        let input = self.config.input_path.clone();
        let target = if input.is_dir() {
            input.join(format!("{source}.jsonl"))
        } else {
            let file_source = self.source_of(&input);
            let format = self.files.first().and_then(|f| f.format);
            if file_source != source || format.is_some_and(|f| f != InputFormat::JsonLines) {
                return Err(StoreError::Config {
                    backend: BACKEND,
                    reason: format!(
                        "LS_INPUT_PATH {} is one file of source {file_source:?}; importing into source {source:?} \
                         needs a JSON Lines file of that source or a folder",
                        input.display()
                    ),
                });
            }
            input
        };
        let mut summary = ImportSummary::default();
        let mut seen = HashSet::new();
        let mut text = String::new();
        for r in records {
            if let Some(id) = &r.original_id {
                if self.by_id.contains_key(&(source.to_owned(), id.clone()))
                    || !seen.insert(id.clone())
                {
                    summary.duplicates += 1;
                    continue;
                }
            }
            let mut doc = r.extra.clone();
            if let Some(id) = &r.original_id {
                doc.insert("_id".into(), crate::codec::id_json(id));
            }
            let fields = &self.config.fields;
            doc.insert(fields.host.clone(), json!(r.host));
            doc.insert(fields.time.clone(), json!(format_rfc3339_millis(r.time)));
            doc.insert(fields.message.clone(), json!(r.message));
            text.push_str(&Value::Object(doc).to_string());
            text.push('\n');
            summary.inserted += 1;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&target)
            .map_err(io("open", &target))?;
        append(&mut file, &target, &text)?;
        self.refresh()?;
        Ok(summary)
    }

    /// See [`crate::Store::export_page`].
    fn export_page(
        &mut self,
        source: Option<&str>,
        cursor: Option<ExportCursor>,
        limit: usize,
    ) -> Result<ExportPage, StoreError> {
        self.refresh()?;
        let start = cursor.map_or(0, |c| usize::try_from(c.0).unwrap_or(usize::MAX));
        let mut page = ExportPage::default();
        let mut count = 0;
        let mut last = start;
        for (i, e) in self.entries.iter().enumerate().skip(start) {
            if count >= limit {
                break;
            }
            last = i + 1;
            if source.is_some_and(|s| s != e.source) {
                continue;
            }
            count += 1;
            match (&e.body, &e.mark) {
                (Ok(record), None) => page.rows.push(ExportRow {
                    record: record.clone(),
                    is_anomaly: e.verdict.map(|v| v.0),
                    anomaly_score: e.verdict.map(|v| v.1),
                    aggregate_id: e.aggregate.map(RecordId::Int),
                }),
                _ => page.malformed.push(self.malformed_of(i)),
            }
        }
        page.next = (last < self.entries.len())
            .then(|| ExportCursor(i64::try_from(last).unwrap_or(i64::MAX)));
        Ok(page)
    }
}
