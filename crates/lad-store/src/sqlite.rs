//! The `sqlite` backend, lad's embedded default: one file holding records, verdicts, aggregates
//! and feedback, created on first use.
//!
//! Schema (version kept in `PRAGMA user_version`, migrated in one transaction on open; a file of
//! a newer version is refused): `records` (`id` = rowid, `source`, `host`, `time_ms`, `message`,
//! `extra` JSON text or NULL, `original_id` (unique per source, makes imports idempotent),
//! `is_anomaly` NULL/0/1, `anomaly_score`, `aggregated_message_id`, `malformed` reason),
//! `aggregates` (AUTOINCREMENT ids, never reused) and `feedback`. A partial index over unscored,
//! unmarked records ordered by `(source, time_ms, rowid)` makes "next unscored" cheap however many
//! records are scored; `(source, host, time_ms)` serves training windows.
//!
//! Rows may have been written by other tools, and SQLite does not enforce column types, so every
//! read checks types and UTF-8 and reports bad rows as [`Malformed`] instead of failing.
//! Connection pragmas: WAL, `synchronous=NORMAL` (durable at checkpoints, never corrupt),
//! `busy_timeout` 5 s so `lad import` can run next to the daemon.

use std::path::{Path, PathBuf};

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::{Map, Value};

use crate::record::{
    check_message, Aggregate, AggregateDraft, Anomaly, Batch, ExportCursor, ExportPage, ExportRow,
    Feedback, ImportSummary, Malformed, NewFeedback, NewRecord, Record, RecordId, Verdict,
};
use crate::StoreError;

const BACKEND: &str = "sqlite";
const SCHEMA_VERSION: i64 = 1;
const SCHEMA_V1: &str = "
CREATE TABLE records (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    host TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    message TEXT NOT NULL,
    extra TEXT,
    original_id TEXT,
    is_anomaly INTEGER,
    anomaly_score REAL,
    aggregated_message_id INTEGER,
    malformed TEXT
);
CREATE INDEX records_unscored ON records(source, time_ms) WHERE is_anomaly IS NULL AND malformed IS NULL;
CREATE INDEX records_host_time ON records(source, host, time_ms);
CREATE INDEX records_anomalies ON records(source, time_ms) WHERE is_anomaly = 1;
CREATE INDEX records_aggregate ON records(aggregated_message_id) WHERE aggregated_message_id IS NOT NULL;
CREATE UNIQUE INDEX records_original_id ON records(source, original_id) WHERE original_id IS NOT NULL;
CREATE TABLE aggregates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    input_source TEXT NOT NULL,
    target TEXT NOT NULL,
    message TEXT NOT NULL,
    total_logs INTEGER NOT NULL,
    average_time_ms INTEGER NOT NULL,
    average_anomaly_score REAL NOT NULL,
    most_frequent_hostname TEXT NOT NULL,
    was_added_at_ms INTEGER NOT NULL
);
CREATE INDEX aggregates_source ON aggregates(input_source, id);
CREATE TABLE feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    host TEXT NOT NULL,
    record_id TEXT,
    message TEXT NOT NULL,
    template TEXT,
    who TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    undone_at_ms INTEGER
);
CREATE INDEX feedback_source_host ON feedback(source, host);
";

/// Settings of the `sqlite` backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteConfig {
    /// The database file (`SQLITE_PATH`, default `./lad.db`); created when missing.
    pub path: PathBuf,
}

/// An open sqlite database.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

/// The columns every record read selects, in this order.
const RECORD_COLUMNS: &str = "id, host, time_ms, message, extra";

impl SqliteStore {
    /// Opens (creating if needed) the database and brings its schema up to date.
    pub fn open(config: &SqliteConfig) -> Result<SqliteStore, StoreError> {
        let path = config.path.clone();
        let fail = |operation| {
            let path = path.clone();
            move |source| StoreError::Sqlite {
                path,
                operation,
                source,
            }
        };
        let mut conn = Connection::open(&path).map_err(fail("open the database file"))?;
        conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))
            .map_err(fail("open the database (is it an sqlite file?)"))?;
        conn.execute_batch(
            "PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000; PRAGMA temp_store=MEMORY; \
             PRAGMA cache_size=-32768;",
        )
        .map_err(fail("set pragmas"))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(fail("read the schema version"))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                path,
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if version < 1 {
            let tx = conn.transaction().map_err(fail("migrate the schema"))?;
            tx.execute_batch(SCHEMA_V1)
                .map_err(fail("create the schema"))?;
            tx.execute_batch(&format!("PRAGMA user_version={SCHEMA_VERSION}"))
                .map_err(fail("set the schema version"))?;
            tx.commit().map_err(fail("migrate the schema"))?;
        }
        Ok(SqliteStore { conn, path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn fail(&self, operation: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite {
            path: self.path.clone(),
            operation,
            source,
        }
    }

    /// See [`crate::Store::import`].
    pub fn import(
        &mut self,
        source: &str,
        records: &[NewRecord],
    ) -> Result<ImportSummary, StoreError> {
        let path = self.path.clone();
        let fail = |source| StoreError::Sqlite {
            path: path.clone(),
            operation: "import records",
            source,
        };
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

    /// See [`crate::Store::training_window`].
    pub fn training_window(
        &mut self,
        source: &str,
        host: &str,
        from_ms: i64,
        to_ms: i64,
        max: usize,
    ) -> Result<Batch, StoreError> {
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE source = ?1 AND host = ?2 AND time_ms >= ?3 \
             AND time_ms < ?4 AND malformed IS NULL ORDER BY time_ms DESC, id DESC LIMIT ?5"
        );
        let mut batch = self.read_batch(
            &sql,
            params![source, host, from_ms, to_ms, limit(max)],
            source,
        )?;
        batch.records.reverse();
        batch.malformed.reverse();
        Ok(batch)
    }

    /// See [`crate::Store::next_unscored`].
    pub fn next_unscored(
        &mut self,
        source: &str,
        hosts: &[String],
        limit_n: usize,
    ) -> Result<Batch, StoreError> {
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE source = ?1 AND is_anomaly IS NULL AND malformed IS NULL \
             AND (?2 = '[]' OR typeof(host) <> 'text' OR host IN (SELECT value FROM json_each(?2))) \
             ORDER BY time_ms, id LIMIT ?3"
        );
        let hosts = serde_json::to_string(hosts).unwrap_or_else(|_| "[]".into());
        self.read_batch(&sql, params![source, hosts, limit(limit_n)], source)
    }

    fn read_batch(
        &mut self,
        sql: &str,
        params: impl rusqlite::Params,
        source: &str,
    ) -> Result<Batch, StoreError> {
        let fail = self.fail("read records");
        let mut stmt = self.conn.prepare_cached(sql).map_err(&fail)?;
        let mut rows = stmt.query(params).map_err(&fail)?;
        let mut batch = Batch::default();
        while let Some(row) = rows.next().map_err(&fail)? {
            match record_from_row(row, source).map_err(&fail)? {
                Ok(r) => batch.records.push(r),
                Err(m) => batch.malformed.push(m),
            }
        }
        Ok(batch)
    }

    /// See [`crate::Store::write_verdicts`].
    pub fn write_verdicts(
        &mut self,
        source: &str,
        verdicts: &[Verdict],
    ) -> Result<usize, StoreError> {
        let ids = verdicts
            .iter()
            .map(|v| {
                let id = int_id(&v.id, "write verdicts")?;
                if !v.score.is_finite() {
                    return Err(invalid(
                        &v.id,
                        "write verdicts",
                        format!("expected a finite score, found {}", v.score),
                    ));
                }
                Ok(id)
            })
            .collect::<Result<Vec<i64>, StoreError>>()?;
        let path = self.path.clone();
        let fail = |source| StoreError::Sqlite {
            path: path.clone(),
            operation: "write verdicts",
            source,
        };
        let tx = self.conn.transaction().map_err(fail)?;
        let mut written = 0;
        {
            let mut update = tx
                .prepare_cached(
                    "UPDATE records SET is_anomaly = ?3, anomaly_score = ?4 \
                     WHERE id = ?1 AND source = ?2 AND is_anomaly IS NULL",
                )
                .map_err(fail)?;
            for (id, v) in ids.iter().zip(verdicts) {
                written += update
                    .execute(params![id, source, i64::from(v.is_anomaly), v.score])
                    .map_err(fail)?;
            }
        }
        tx.commit().map_err(fail)?;
        Ok(written)
    }

    /// See [`crate::Store::mark_malformed`].
    pub fn mark_malformed(
        &mut self,
        source: &str,
        id: &RecordId,
        reason: &str,
    ) -> Result<(), StoreError> {
        let id = int_id(id, "mark malformed")?;
        self.conn
            .execute(
                "UPDATE records SET malformed = ?3 WHERE id = ?1 AND source = ?2",
                params![id, source, reason],
            )
            .map_err(self.fail("mark a record malformed"))?;
        Ok(())
    }

    /// See [`crate::Store::anomalies`].
    pub fn anomalies(
        &mut self,
        source: &str,
        from_ms: i64,
        to_ms: i64,
        max: usize,
    ) -> Result<Vec<Anomaly>, StoreError> {
        let fail = self.fail("read anomalies");
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {RECORD_COLUMNS}, anomaly_score, aggregated_message_id FROM records \
                 WHERE source = ?1 AND is_anomaly = 1 AND time_ms >= ?2 AND time_ms < ?3 \
                 ORDER BY time_ms DESC, id DESC LIMIT ?4"
            ))
            .map_err(&fail)?;
        let mut rows = stmt
            .query(params![source, from_ms, to_ms, limit(max)])
            .map_err(&fail)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(&fail)? {
            // A row that was scored was readable when scored; one that no longer is gets skipped.
            if let Ok(record) = record_from_row(row, source).map_err(&fail)? {
                let score: Option<f64> = row.get(5).map_err(&fail)?;
                let aggregate: Option<i64> = row.get(6).map_err(&fail)?;
                out.push(Anomaly {
                    record,
                    score: score.unwrap_or(f64::NAN),
                    aggregate_id: aggregate.map(RecordId::Int),
                });
            }
        }
        out.reverse();
        Ok(out)
    }

    /// See [`crate::Store::write_aggregates`].
    pub fn write_aggregates(
        &mut self,
        input_source: &str,
        target: &str,
        drafts: &[AggregateDraft],
    ) -> Result<Vec<Option<RecordId>>, StoreError> {
        let member_ids = drafts
            .iter()
            .map(|d| {
                d.member_ids
                    .iter()
                    .map(|id| int_id(id, "write aggregates"))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let path = self.path.clone();
        let fail = |source| StoreError::Sqlite {
            path: path.clone(),
            operation: "write aggregates",
            source,
        };
        let tx = self.conn.transaction().map_err(fail)?;
        let mut out = Vec::with_capacity(drafts.len());
        {
            let mut linked = tx
                .prepare_cached(
                    "SELECT aggregated_message_id FROM records WHERE id = ?1 AND source = ?2",
                )
                .map_err(fail)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO aggregates (input_source, target, message, total_logs, average_time_ms, \
                     average_anomaly_score, most_frequent_hostname, was_added_at_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(fail)?;
            let mut link = tx
                .prepare_cached(
                    "UPDATE records SET aggregated_message_id = ?1 \
                     WHERE id = ?2 AND source = ?3 AND aggregated_message_id IS NULL",
                )
                .map_err(fail)?;
            for (draft, ids) in drafts.iter().zip(&member_ids) {
                let mut free = Vec::with_capacity(ids.len());
                for (&id, rid) in ids.iter().zip(&draft.member_ids) {
                    let current: Option<Option<i64>> = linked
                        .query_row(params![id, input_source], |r| r.get(0))
                        .optional()
                        .map_err(fail)?;
                    match current {
                        None => {
                            return Err(invalid(
                                rid,
                                "write aggregates",
                                format!("no such record in source {input_source:?}"),
                            ))
                        }
                        Some(None) => free.push(id),
                        Some(Some(_)) => {}
                    }
                }
                if free.is_empty() {
                    out.push(None);
                    continue;
                }
                insert
                    .execute(params![
                        input_source,
                        target,
                        draft.message,
                        i64::try_from(draft.total_logs).unwrap_or(i64::MAX),
                        draft.average_time_ms,
                        draft.average_anomaly_score,
                        draft.most_frequent_hostname,
                        draft.was_added_at_ms
                    ])
                    .map_err(fail)?;
                let aggregate_id = tx.last_insert_rowid();
                for id in free {
                    link.execute(params![aggregate_id, id, input_source])
                        .map_err(fail)?;
                }
                out.push(Some(RecordId::Int(aggregate_id)));
            }
        }
        tx.commit().map_err(fail)?;
        Ok(out)
    }

    /// See [`crate::Store::aggregates`].
    pub fn aggregates(&mut self, input_source: Option<&str>) -> Result<Vec<Aggregate>, StoreError> {
        let fail = self.fail("read aggregates");
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, input_source, target, message, total_logs, average_time_ms, average_anomaly_score, \
                 most_frequent_hostname, was_added_at_ms FROM aggregates \
                 WHERE ?1 IS NULL OR input_source = ?1 ORDER BY id",
            )
            .map_err(&fail)?;
        let mut aggregates = stmt
            .query_map(params![input_source], |r| {
                Ok(Aggregate {
                    id: RecordId::Int(r.get(0)?),
                    input_source: r.get(1)?,
                    target: r.get(2)?,
                    draft: AggregateDraft {
                        message: r.get(3)?,
                        total_logs: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
                        average_time_ms: r.get(5)?,
                        average_anomaly_score: r.get(6)?,
                        most_frequent_hostname: r.get(7)?,
                        was_added_at_ms: r.get(8)?,
                        member_ids: Vec::new(),
                    },
                })
            })
            .map_err(&fail)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&fail)?;
        let mut members = self
            .conn
            .prepare_cached("SELECT id FROM records WHERE aggregated_message_id = ?1 ORDER BY id")
            .map_err(&fail)?;
        for a in &mut aggregates {
            if let RecordId::Int(id) = a.id {
                a.draft.member_ids = members
                    .query_map(params![id], |r| r.get::<_, i64>(0).map(RecordId::Int))
                    .map_err(&fail)?
                    .collect::<Result<_, _>>()
                    .map_err(&fail)?;
            }
        }
        Ok(aggregates)
    }

    /// See [`crate::Store::export_page`].
    pub fn export_page(
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

    /// See [`crate::Store::list_sources`].
    pub fn list_sources(&mut self) -> Result<Vec<String>, StoreError> {
        self.strings(
            "SELECT DISTINCT source FROM records ORDER BY source",
            params![],
            "list sources",
        )
    }

    /// See [`crate::Store::hosts`].
    pub fn hosts(&mut self, source: &str) -> Result<Vec<String>, StoreError> {
        self.strings(
            "SELECT DISTINCT host FROM records WHERE source = ?1 AND typeof(host) = 'text' ORDER BY host",
            params![source],
            "list hosts",
        )
    }

    fn strings(
        &mut self,
        sql: &str,
        params: impl rusqlite::Params,
        operation: &'static str,
    ) -> Result<Vec<String>, StoreError> {
        let fail = self.fail(operation);
        let mut stmt = self.conn.prepare_cached(sql).map_err(&fail)?;
        let out = stmt
            .query_map(params, |r| r.get::<_, String>(0))
            .map_err(&fail)?
            .collect::<Result<_, _>>()
            .map_err(&fail)?;
        Ok(out)
    }

    /// See [`crate::Store::unscored_count`].
    pub fn unscored_count(&mut self, source: &str) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM records WHERE source = ?1 AND is_anomaly IS NULL AND malformed IS NULL",
            )
            .and_then(|mut s| s.query_row(params![source], |r| r.get(0)))
            .map_err(self.fail("count unscored records"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// See [`crate::Store::oldest_unscored_time`].
    pub fn oldest_unscored_time(&mut self, source: &str) -> Result<Option<i64>, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT min(time_ms) FROM records WHERE source = ?1 AND is_anomaly IS NULL AND malformed IS NULL \
                 AND typeof(time_ms) = 'integer'",
            )
            .and_then(|mut s| s.query_row(params![source], |r| r.get(0)))
            .map_err(self.fail("find the oldest unscored record"))
    }

    /// See [`crate::Store::add_feedback`].
    pub fn add_feedback(&mut self, mark: &NewFeedback) -> Result<i64, StoreError> {
        self.conn
            .execute(
                "INSERT INTO feedback (source, host, record_id, message, template, who, at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    mark.source,
                    mark.host,
                    mark.record_id.as_ref().map(ToString::to_string),
                    mark.message,
                    mark.template,
                    mark.who,
                    mark.at_ms
                ],
            )
            .map_err(self.fail("add feedback"))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// See [`crate::Store::list_feedback`].
    pub fn list_feedback(
        &mut self,
        source: Option<&str>,
        include_undone: bool,
    ) -> Result<Vec<Feedback>, StoreError> {
        let fail = self.fail("list feedback");
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, source, host, record_id, message, template, who, at_ms, undone_at_ms FROM feedback \
                 WHERE (?1 IS NULL OR source = ?1) AND (?2 OR undone_at_ms IS NULL) ORDER BY id",
            )
            .map_err(&fail)?;
        let out = stmt
            .query_map(params![source, include_undone], |r| {
                Ok(Feedback {
                    id: r.get(0)?,
                    mark: NewFeedback {
                        source: r.get(1)?,
                        host: r.get(2)?,
                        record_id: r.get::<_, Option<String>>(3)?.map(|s| RecordId::parse(&s)),
                        message: r.get(4)?,
                        template: r.get(5)?,
                        who: r.get(6)?,
                        at_ms: r.get(7)?,
                    },
                    undone_at_ms: r.get(8)?,
                })
            })
            .map_err(&fail)?
            .collect::<Result<_, _>>()
            .map_err(&fail)?;
        Ok(out)
    }

    /// See [`crate::Store::undo_feedback`].
    pub fn undo_feedback(&mut self, id: i64, at_ms: i64) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute(
                "UPDATE feedback SET undone_at_ms = ?2 WHERE id = ?1 AND undone_at_ms IS NULL",
                params![id, at_ms],
            )
            .map_err(self.fail("undo feedback"))?;
        Ok(n == 1)
    }

    /// Runs raw SQL; for tests that need rows no well-behaved writer would produce.
    #[doc(hidden)]
    pub fn execute_raw(&mut self, sql: &str) -> Result<(), StoreError> {
        self.conn
            .execute_batch(sql)
            .map_err(self.fail("execute raw SQL"))
    }
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn invalid(id: &RecordId, operation: &'static str, reason: String) -> StoreError {
    StoreError::InvalidRecord {
        backend: BACKEND,
        operation,
        id: id.to_string(),
        reason,
    }
}

fn int_id(id: &RecordId, operation: &'static str) -> Result<i64, StoreError> {
    match id {
        RecordId::Int(n) => Ok(*n),
        other => Err(invalid(
            other,
            operation,
            "expected an integer sqlite rowid".into(),
        )),
    }
}

fn type_name(v: ValueRef<'_>) -> &'static str {
    match v {
        ValueRef::Null => "NULL",
        ValueRef::Integer(_) => "integer",
        ValueRef::Real(_) => "real",
        ValueRef::Text(_) => "text",
        ValueRef::Blob(_) => "blob",
    }
}

fn text(v: ValueRef<'_>, column: &str) -> Result<String, String> {
    match v {
        ValueRef::Text(bytes) => std::str::from_utf8(bytes).map(str::to_owned).map_err(|e| {
            format!(
                "column {column} is not valid UTF-8 (bad byte at offset {})",
                e.valid_up_to()
            )
        }),
        other => Err(format!(
            "column {column} has type {}, expected text",
            type_name(other)
        )),
    }
}

/// Reads the [`RECORD_COLUMNS`] of a row: `Err` of the driver for I/O, `Ok(Err)` for a bad row.
fn record_from_row(row: &Row<'_>, source: &str) -> rusqlite::Result<Result<Record, Malformed>> {
    let id = RecordId::Int(row.get(0)?);
    let host = text(row.get_ref(1)?, "host");
    let fields = (|| {
        let host = host.clone()?;
        let time = match row.get_ref(2).map_err(|e| e.to_string())? {
            ValueRef::Integer(t) => t,
            other => {
                return Err(format!(
                    "column time_ms has type {}, expected integer",
                    type_name(other)
                ))
            }
        };
        let message = text(row.get_ref(3).map_err(|e| e.to_string())?, "message")?;
        check_message(&message)?;
        let extra = match row.get_ref(4).map_err(|e| e.to_string())? {
            ValueRef::Null => Map::new(),
            other => {
                let json = text(other, "extra")?;
                match serde_json::from_str::<Value>(&json) {
                    Ok(Value::Object(map)) => map,
                    _ => return Err("column extra is not a JSON object".into()),
                }
            }
        };
        Ok((host, time, message, extra))
    })();
    Ok(match fields {
        Ok((host, time, message, extra)) => Ok(Record {
            id,
            source: source.to_owned(),
            host,
            time,
            message,
            extra,
        }),
        Err(reason) => Err(Malformed {
            id,
            source: source.to_owned(),
            host: host.ok(),
            reason,
        }),
    })
}
