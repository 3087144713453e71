//! The `sqlite` backend, lad's embedded default: one file holding records, verdicts, aggregates
//! and feedback, created on first use.
//!
//! Schema (version kept in `PRAGMA user_version`, migrated in one transaction on open; a file of
//! a newer version is refused): `records` (`id` = rowid, `source`, `host`, `time_ms`, `message`,
//! `extra` JSON text or NULL, `original_id` (unique per source, makes imports idempotent),
//! `is_anomaly` NULL/0/1, `anomaly_score`, `aggregated_message_id`, `malformed` reason),
//! `aggregates` (AUTOINCREMENT ids, never reused) and `feedback`; `lad_incidents` and
//! `lad_incident_links` (see [`crate::incident`]) are created where missing, outside the version. A partial index over unscored,
//! unmarked records ordered by `(source, time_ms, rowid)` makes "next unscored" cheap however many
//! records are scored; `(source, host, time_ms)` serves training windows.
//!
//! Rows may have been written by other tools, and SQLite does not enforce column types, so every
//! read checks types and UTF-8 and reports bad rows as [`Malformed`] instead of failing.
//! Connection pragmas: WAL, `synchronous=NORMAL` (durable at checkpoints, never corrupt),
//! `busy_timeout` 5 s so `lad import` can run next to the daemon.
//!
//! Files: this one holds the config, the schema, opening and error mapping; `read` the
//! [`RecordSource`](crate::RecordSource) and [`TrainingReader`](crate::TrainingReader) roles and
//! the row decoding, `write` the [`VerdictSink`](crate::VerdictSink), `state` the
//! [`StateStore`](crate::StateStore) and `archive` the [`RecordArchive`](crate::RecordArchive).

mod archive;
mod read;
mod state;
mod write;

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
            move |source| sqlite_error(&path, operation, source)
        };
        let mut conn = Connection::open(&path).map_err(|e| {
            // SQLite says only "unable to open database file"; the file system says why.
            match why_unopenable(&path) {
                Some(source) => StoreError::Io {
                    backend: BACKEND,
                    operation: "open the database file",
                    path: path.clone(),
                    source,
                },
                None => sqlite_error(&path, "open the database file", e),
            }
        })?;
        conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))
            .map_err(|e| sqlite_error(&path, first_read_failure(&e), e))?;
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
        // Incident tables came later; they are added where missing, without a version change,
        // so an older lad still opens the file.
        for sql in crate::incident::schema_sql("TEXT", "TEXT", "TEXT") {
            conn.execute_batch(&sql)
                .map_err(fail("create the incident tables"))?;
        }
        Ok(SqliteStore { conn, path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn fail(&self, operation: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| sqlite_error(&self.path, operation, source)
    }

    /// Runs raw SQL; for tests that need rows no well-behaved writer would produce.
    #[cfg(feature = "test-support")]
    #[doc(hidden)]
    pub fn execute_raw(&mut self, sql: &str) -> Result<(), StoreError> {
        self.conn
            .execute_batch(sql)
            .map_err(self.fail("execute raw SQL"))
    }
}

/// A driver failure on the database file. SQLite errors are never transient here: a lock is
/// already waited for (`busy_timeout`), and anything else needs a person.
fn sqlite_error(path: &Path, operation: &'static str, source: rusqlite::Error) -> StoreError {
    StoreError::driver(
        BACKEND,
        path.display().to_string(),
        operation,
        false,
        source,
    )
}

/// Why `path` cannot be opened for writing, as the operating system says it (a missing or
/// read-only folder, a read-only file system, a full disk, a missing right), or `None` when it
/// can. A file this creates to find out is removed again.
fn why_unopenable(path: &Path) -> Option<std::io::Error> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if let Err(e) = std::fs::metadata(parent) {
            return Some(std::io::Error::new(
                e.kind(),
                format!("its folder {} cannot be used: {e}", parent.display()),
            ));
        }
    }
    if path.exists() {
        return std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .err();
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(path);
            None
        }
        Err(e) => Some(e),
    }
}

/// What the first statement on a newly opened file failed at, said plainly: SQLite reports a
/// read-only file or folder, a full disk or a missing right as well as a file that is not a
/// database, and only the last is "not an sqlite file".
fn first_read_failure(e: &rusqlite::Error) -> &'static str {
    use rusqlite::ErrorCode as C;
    match e.sqlite_error_code() {
        Some(C::NotADatabase) => "open the database (the file is not an sqlite database)",
        Some(C::ReadOnly) => {
            "open the database for writing (the file, its folder or the file system is \
             read-only: permission denied)"
        }
        Some(C::CannotOpen | C::PermissionDenied) => {
            "open the database (permission denied, or its folder is missing or read-only)"
        }
        Some(C::DiskFull) => "open the database (the disk is full)",
        Some(C::SystemIoFailure) => {
            "open the database (an I/O error: a full or read-only disk, or a failing one)"
        }
        _ => "open the database",
    }
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn invalid(id: &RecordId, operation: &'static str, reason: String) -> StoreError {
    StoreError::invalid_record(BACKEND, id, operation, reason)
}

fn int_id(id: &RecordId, operation: &'static str) -> Result<i64, StoreError> {
    crate::record::int_key(BACKEND, id, operation, "an integer sqlite rowid")
}
