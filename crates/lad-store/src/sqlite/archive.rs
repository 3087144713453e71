//! `lad import` and `lad export` on the `sqlite` backend, the [`RecordArchive`] role: imports are
//! idempotent through the unique `(source, original_id)` index; exports page by rowid.

use super::read::record_from_row;
use super::*;
use crate::roles::RecordArchive;

impl RecordArchive for SqliteStore {
    /// See [`crate::Store::import`].
    fn import(&mut self, source: &str, records: &[NewRecord]) -> Result<ImportSummary, StoreError> {
        let path = self.path.clone();
        let fail = |source| sqlite_error(&path, "import records", source);
        let tx = self.conn.transaction().map_err(fail)?;
        let mut summary = ImportSummary::default();
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO records (source, host, time_ms, message, extra, original_id) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(fail)?;
            for r in records {
                let extra =
                    (!r.extra.is_empty()).then(|| Value::Object(r.extra.clone()).to_string());
                let original = r.original_id.as_ref().map(ToString::to_string);
                let n = insert
                    .execute(params![source, r.host, r.time, r.message, extra, original])
                    .map_err(fail)?;
                if n == 1 {
                    summary.inserted += 1;
                } else {
                    summary.duplicates += 1;
                }
            }
        }
        tx.commit().map_err(fail)?;
        Ok(summary)
    }

    /// See [`crate::Store::export_page`].
    fn export_page(
        &mut self,
        source: Option<&str>,
        cursor: Option<ExportCursor>,
        limit_n: usize,
    ) -> Result<ExportPage, StoreError> {
        let fail = self.fail("export records");
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {RECORD_COLUMNS}, is_anomaly, anomaly_score, aggregated_message_id, malformed, source \
                 FROM records WHERE id > ?1 AND (?2 IS NULL OR source = ?2) ORDER BY id LIMIT ?3"
            ))
            .map_err(&fail)?;
        let after = cursor.map_or(i64::MIN, |c| c.0);
        let mut rows = stmt
            .query(params![after, source, limit(limit_n)])
            .map_err(&fail)?;
        let (mut page, mut count, mut last) = (ExportPage::default(), 0, after);
        while let Some(row) = rows.next().map_err(&fail)? {
            count += 1;
            last = row.get(0).map_err(&fail)?;
            let row_source = match row.get_ref(9).map_err(&fail)? {
                ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                _ => String::new(),
            };
            let marked: Option<String> = row.get(8).ok().flatten();
            match (record_from_row(row, &row_source).map_err(&fail)?, marked) {
                (Ok(record), None) => page.rows.push(ExportRow {
                    record,
                    is_anomaly: row.get::<_, Option<i64>>(5).ok().flatten().map(|v| v != 0),
                    anomaly_score: row.get(6).ok().flatten(),
                    aggregate_id: row
                        .get::<_, Option<i64>>(7)
                        .ok()
                        .flatten()
                        .map(RecordId::Int),
                }),
                (Ok(record), Some(reason)) => page.malformed.push(Malformed {
                    id: record.id,
                    source: row_source,
                    host: Some(record.host),
                    reason,
                }),
                (Err(m), _) => page.malformed.push(m),
            }
        }
        page.next = (count == limit_n && count > 0).then_some(ExportCursor(last));
        Ok(page)
    }
}
