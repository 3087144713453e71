//! `lad import` and `lad export` on the `mysql` backend, the [`RecordArchive`] role: imports create
//! a missing input table (with `lad_original_id` for idempotence); exports page by key across
//! sources.

use super::*;
use crate::roles::RecordArchive;

/// Why a record cannot be stored in an input table lad creates, or `None`: the limits of its
/// columns (`VARCHAR(255)` host and original id, a `DATETIME` of the years 1000 to 9999).
/// `lad import` asks before sending each record (see [`crate::Store::import_limit`]), so such a
/// record is one invalid line, not a failed import.
pub fn import_limit(record: &NewRecord) -> Option<String> {
    let host_chars = record.host.chars().count();
    if host_chars > MAX_HOST_CHARS {
        return Some(format!(
            "the host name has {host_chars} characters; a MySQL input table holds at most \
             {MAX_HOST_CHARS}"
        ));
    }
    if !(MIN_DATETIME_MS..=MAX_DATETIME_MS).contains(&record.time) {
        return Some(format!(
            "time {} ms is outside the years 1000 to 9999 a MySQL DATETIME holds",
            record.time
        ));
    }
    if let Some(id) = &record.original_id {
        let id_chars = id.to_string().chars().count();
        if id_chars > MAX_HOST_CHARS {
            return Some(format!(
                "the record's id has {id_chars} characters; a MySQL input table keeps at most \
                 {MAX_HOST_CHARS}"
            ));
        }
    }
    None
}

impl RecordArchive for MysqlStore {
    /// See [`crate::Store::import`]. Creates the input table when missing. A record beyond the
    /// table's limits ([`import_limit`]) fails the call before anything is written.
    fn import(&mut self, source: &str, records: &[NewRecord]) -> Result<ImportSummary, StoreError> {
        validate_identifier(source, "the source (MySQL table) name")?;
        for r in records {
            if let Some(reason) = import_limit(r) {
                let id = r
                    .original_id
                    .clone()
                    .unwrap_or(RecordId::Text("new".into()));
                return Err(invalid(&id, "import records", reason));
            }
        }
        // Not retried as a whole: rows without an original id would be inserted twice.
        let result = {
            let ctx = &mut self.ctx;
            self.rt.block_on(ctx.import(source, records))
        };
        result.map_err(|f| self.ctx.error("import records", f))
    }

    /// See [`crate::Store::export_page`]. Across all sources the cursor packs the source's
    /// position (in `list_sources` order) above bit 40 and the key below it.
    fn export_page(
        &mut self,
        source: Option<&str>,
        cursor: Option<ExportCursor>,
        limit: usize,
    ) -> Result<ExportPage, StoreError> {
        if let Some(s) = source {
            validate_identifier(s, "the source (MySQL table) name")?;
        }
        run!(self, "export records", |ctx| ctx
            .export_page(source, cursor, limit)
            .await)
    }
}

impl Ctx {
    pub(super) async fn import(
        &mut self,
        source: &str,
        records: &[NewRecord],
    ) -> Res<ImportSummary> {
        let f = self.config.fields.clone();
        for name in [&f.message, &f.time, &f.host] {
            if name == "id" || name.starts_with("lad_") {
                return Err(Fail::Store(StoreError::Config {
                    backend: BACKEND,
                    reason: format!(
                        "field name {name:?} collides with a column lad creates in input tables"
                    ),
                }));
            }
        }
        let ddl = format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                {host} VARCHAR(255) NOT NULL,
                {time} DATETIME(3) NOT NULL,
                {msg} LONGTEXT NOT NULL,
                lad_original_id VARCHAR(255) NULL,
                lad_extra LONGTEXT NULL,
                UNIQUE KEY lad_original_id (lad_original_id),
                KEY lad_host_time ({host}, {time})
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            table = quote(source),
            host = quote(&f.host),
            time = quote(&f.time),
            msg = quote(&f.message),
        );
        self.input
            .execute(AssertSqlSafe(ddl))
            .await
            .map_err(Fail::Input)?;
        self.tables.remove(source);
        let Some(info) = self.table(source).await? else {
            return Err(Fail::Store(StoreError::Corrupt {
                backend: BACKEND,
                location: format!("table {source}"),
                reason: "the table was created but cannot be found".into(),
            }));
        };
        self.register(source).await?;
        let mut columns = vec![quote(&f.host), quote(&f.time), quote(&f.message)];
        let mut row_sql = format!("(?, {FROM_MICROS}, ?");
        if info.has_original_id {
            columns.push("lad_original_id".into());
            row_sql.push_str(", ?");
        }
        if info.has_lad_extra {
            columns.push("lad_extra".into());
            row_sql.push_str(", ?");
        }
        row_sql.push(')');
        let mut summary = ImportSummary::default();
        let mut tx = self.input.begin().await.map_err(Fail::Input)?;
        for chunk in records.chunks(INSERT_CHUNK) {
            let sql = format!(
                "INSERT IGNORE INTO {} ({}) VALUES {}",
                info.table,
                columns.join(", "),
                vec![row_sql.as_str(); chunk.len()].join(", ")
            );
            let mut query = q(sql);
            for r in chunk {
                if !info.has_lad_extra && !r.extra.is_empty() {
                    return Err(Fail::Store(StoreError::Config {
                        backend: BACKEND,
                        reason: format!(
                            "table {source} has no lad_extra column to keep the record's other \
                             fields ({}); import into a table lad creates",
                            r.extra.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    }));
                }
                query = query.bind(&r.host).bind(micros(r.time)).bind(&r.message);
                if info.has_original_id {
                    query = query.bind(r.original_id.as_ref().map(ToString::to_string));
                }
                if info.has_lad_extra {
                    query = query.bind(
                        (!r.extra.is_empty()).then(|| Value::Object(r.extra.clone()).to_string()),
                    );
                }
            }
            let n = query
                .execute(&mut *tx)
                .await
                .map_err(Fail::Input)?
                .rows_affected();
            let n = usize::try_from(n).unwrap_or(chunk.len());
            summary.inserted += n;
            summary.duplicates += chunk.len().saturating_sub(n);
        }
        tx.commit().await.map_err(Fail::Input)?;
        Ok(summary)
    }

    pub(super) async fn export_page(
        &mut self,
        source: Option<&str>,
        cursor: Option<ExportCursor>,
        limit: usize,
    ) -> Res<ExportPage> {
        const SHIFT: i64 = 40;
        let mut page = ExportPage::default();
        let Some(source) = source else {
            let sources = self.list_sources().await?;
            let packed = cursor.map_or(0, |c| c.0);
            let (mut index, mut after) = (packed >> SHIFT, (packed & ((1 << SHIFT) - 1)) - 1);
            while let Some(s) = usize::try_from(index).ok().and_then(|i| sources.get(i)) {
                let want = limit - page.rows.len() - page.malformed.len();
                if want == 0 {
                    break;
                }
                let (part, last, full) = self.export_source(s, after, want).await?;
                page.rows.extend(part.rows);
                page.malformed.extend(part.malformed);
                if full {
                    if !(-1..(1 << SHIFT) - 1).contains(&last) {
                        return Err(Fail::Store(StoreError::InvalidRecord {
                            backend: BACKEND,
                            operation: "export all sources",
                            id: last.to_string(),
                            reason: "keys above 2^40 can only be exported one source at a time"
                                .into(),
                        }));
                    }
                    page.next = Some(ExportCursor((index << SHIFT) | (last + 1)));
                    return Ok(page);
                }
                index += 1;
                after = -1;
            }
            return Ok(page);
        };
        let after = cursor.map_or(i64::MIN, |c| c.0);
        let (part, last, full) = self.export_source(source, after, limit).await?;
        page = part;
        page.next = full.then_some(ExportCursor(last));
        Ok(page)
    }

    /// One source's rows with key > `after`; the last key seen and whether `limit` was reached.
    pub(super) async fn export_source(
        &mut self,
        source: &str,
        after: i64,
        limit: usize,
    ) -> Res<(ExportPage, i64, bool)> {
        let mut page = ExportPage::default();
        let Some(info) = self.table(source).await? else {
            return Ok((page, after, false));
        };
        let (select, keys) = self.record_select(&info);
        let sql = format!(
            "{select} WHERE t.{pk} > ? ORDER BY t.{pk} LIMIT ?",
            pk = info.pk
        );
        let mut query = q(sql);
        for k in keys {
            query = query.bind(k);
        }
        let rows = query
            .bind(after)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.input)
            .await
            .map_err(Fail::Input)?;
        let decoded = rows
            .iter()
            .map(|r| self.decode(r, source))
            .collect::<Result<Vec<_>, _>>()
            .map_err(Fail::Input)?;
        let ids: Vec<i64> = rows
            .iter()
            .map(|r| r.try_get::<i64, _>(0))
            .collect::<Result<_, _>>()
            .map_err(Fail::Input)?;
        let marks: HashMap<i64, Marks> = q(
            "SELECT r.logid, r.state, r.anomaly_score, r.malformed, l.aggr_msg_id \
               FROM lad_records r JOIN JSON_TABLE(?, '$[*]' COLUMNS (k BIGINT PATH '$')) j \
               ON r.logid = j.k LEFT JOIN lad_links l ON l.source = r.source AND l.logid = r.logid \
               WHERE r.source = ?"
                .into(),
        )
        .bind(ids_json(&ids))
        .bind(source)
        .fetch_all(&self.target)
        .await
        .map_err(Fail::Target)?
        .iter()
        .map(|r| {
            Ok((
                r.try_get::<i64, _>(0)?,
                (r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?),
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Fail::Target)?;
        for (id, r) in ids.iter().zip(decoded) {
            let mark = marks.get(id);
            match (r, mark.and_then(|m| m.2.clone())) {
                (Ok(record), None) => page.rows.push(ExportRow {
                    record,
                    is_anomaly: match mark.and_then(|m| m.0) {
                        Some(STATE_NORMAL) => Some(false),
                        Some(STATE_ANOMALY) => Some(true),
                        _ => None,
                    },
                    anomaly_score: mark.and_then(|m| m.1),
                    aggregate_id: mark.and_then(|m| m.3).map(RecordId::Int),
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
        let last = ids.last().copied().unwrap_or(after);
        Ok((page, last, ids.len() == limit && limit > 0))
    }
}
