//! The `mysql` backend: MySQL 8 / MariaDB 10.6+ through `sqlx`, with the old system's table
//! layouts. It owns [`MysqlConfig`], [`MysqlEndpoint`] and [`MysqlStore`]; it must never alter the
//! user's input tables (it only creates a missing one, on `import`) and never puts a value into
//! SQL text: values are bound parameters, and table or column names are validated identifiers
//! ([`validate_identifier`]) quoted with backticks.
//!
//! # Layout
//!
//! - Input: one table per source (the source name is the table name), with the message, time and
//!   host columns named by `MESSAGE_INDEX`, `DATETIME_INDEX`, `HOSTNAME_INDEX`, an integer primary
//!   key (the record id) and any other columns (returned as `extra`). The time column must be
//!   `DATETIME`, `TIMESTAMP` or `DATE`; it is read as UTC (the session `time_zone` is `+00:00`).
//!   Tables created by `lad import` also have `lad_original_id` (unique, makes imports idempotent),
//!   `lad_extra` (the JSON of fields that have no column) and an index on (host, time), which
//!   training windows need; lad does not add that index to a user's table.
//! - Target (`MYSQL_TARGET_*`, possibly another server): per source an anomaly table
//!   (`MYSQL_TARGET_TABLE`, default `<source>_anomalies`: `logid` primary key = the input key,
//!   the message, time and host columns named by the `*_INDEX` keys as the old system wrote them,
//!   `anomaly_score`, `aggr_msg_id`) where each anomaly is inserted once; tables found in lad's
//!   earlier layout or made by the old system are migrated or extended on open
//!   (`anomaly_table`); aggregation target tables (`aggr_msg_id`, `message`, `total_logs`, `average_datetime`,
//!   `hostname`, `average_anomaly_score`, `was_added_at`); and lad's bookkeeping, all `lad_*`:
//!   `lad_records` (one row per input row seen: time, host, state = unscored / normal / anomaly /
//!   malformed / deleted, score, malformed reason; one secondary index `(source, state, time, key)`
//!   serves both "next unscored" and "anomalies of a window", so a verdict touches one index
//!   entry), `lad_links` (record to aggregate, only for aggregated anomalies), `lad_sources` (the
//!   scan high-water mark per source), `lad_aggregates` (which input source each aggregate came
//!   from), `lad_counters`, `lad_feedback`, `lad_incidents` and `lad_incident_links`.
//!
//! # What "unscored" means here
//!
//! The input and target may be different servers, so the store cannot join them. It mirrors the
//! input's keys instead: before answering, `next_unscored` copies `(key, time, host)` of input
//! rows with a key above the source's high-water mark into `lad_records` (state "unscored") and
//! advances the mark in the same target transaction. Unscored records are then read from
//! `lad_records` in `(time, key)` order with an index, and fetched from the input by key. A row
//! inserted late with an old time gets a new, higher auto-increment key, so the next scan finds
//! it, and it sorts by its old time. Verdicts flip the state in one transaction
//! (`... WHERE state = unscored`), so the first verdict stands and nothing is scored twice.
//!
//! Auto-increment keys are allocated at insert but committed in any order, so a key below the
//! mark may appear after the scan passed it. Two guards, both comparing key counts on the two
//! sides first (cheap) and the keys themselves only when the counts differ: every scan checks
//! the last [`RECHECK_KEYS`] keys below the mark, and the first scan of a source in each process
//! checks the whole range below it. A row committed more than [`RECHECK_KEYS`] keys late is
//! therefore found at the next start. (A deletion and a late commit in the same range cancel
//! out in the counts; deleting input rows while lad runs is not supported.)
//!
//! Aggregate ids come from `lad_counters` (bumped past the target table's largest id in the same
//! transaction), so they are never reused across runs or targets, even if rows are deleted.
//!
//! The `Store` contract is synchronous: the store owns a current-thread tokio runtime and blocks
//! on each call. Connection failures and deadlocks are retried with exponential backoff
//! ([`RETRY`]), then reported as [`StoreError::Unavailable`]; the pool reconnects.
//!
//! Files: this one holds the store, its runtime, the bookkeeping schema and the shared SQL
//! helpers; `config` the settings and identifier checks, `error` the error mapping, `read` the
//! [`RecordSource`](crate::RecordSource) and [`TrainingReader`](crate::TrainingReader) roles and
//! the key mirror, `anomaly_table` the anomaly tables' layout (create, migrate, extend, and
//! reading one directly when an old `aggregator.yaml` names it in `MYSQL_INPUT_TABLES`), `write`
//! the [`VerdictSink`](crate::VerdictSink), `state` the
//! [`StateStore`](crate::StateStore), `archive` the [`RecordArchive`](crate::RecordArchive), and
//! `testing` the test hooks (feature `test-support`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Map, Value};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlRow, MySqlSslMode};
use sqlx::{AssertSqlSafe, Executor as _, MySql, Row};

use crate::record::{
    check_message, Aggregate, AggregateDraft, Anomaly, Batch, ExportCursor, ExportPage, ExportRow,
    Feedback, FieldNames, ImportSummary, Malformed, NewFeedback, NewRecord, Record, RecordId,
    Verdict,
};
use crate::retry::RetryPolicy;
use crate::StoreError;

const BACKEND: &str = "mysql";
/// How many keys below the high-water mark every scan checks again for late commits.
pub const RECHECK_KEYS: i64 = 10_000;
/// How transient failures are retried before [`StoreError::Unavailable`].
pub const RETRY: RetryPolicy = RetryPolicy::DEFAULT;
const SCAN_CHUNK: i64 = 20_000;
const FETCH_CHUNK: usize = 10_000;
const INSERT_CHUNK: usize = 500;
/// Host names longer than this are not indexed (treated as unreadable for host filters).
const MAX_HOST_CHARS: usize = 255;

const STATE_UNSCORED: i64 = 0;
const STATE_NORMAL: i64 = 1;
const STATE_ANOMALY: i64 = 4;
const STATE_MALFORMED: i64 = 2;
const STATE_GONE: i64 = 3;

const BOOKKEEPING: [&str; 8] = [
    "CREATE TABLE IF NOT EXISTS lad_sources (
        source VARCHAR(64) NOT NULL PRIMARY KEY,
        scanned_id BIGINT NULL
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE IF NOT EXISTS lad_records (
        source VARCHAR(64) NOT NULL,
        logid BIGINT NOT NULL,
        time_ms BIGINT NULL,
        host VARCHAR(255) NULL,
        state TINYINT NOT NULL DEFAULT 0,
        anomaly_score DOUBLE NULL,
        malformed TEXT NULL,
        PRIMARY KEY (source, logid),
        KEY lad_state_time (source, state, time_ms, logid)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE IF NOT EXISTS lad_links (
        source VARCHAR(64) NOT NULL,
        logid BIGINT NOT NULL,
        aggr_msg_id BIGINT NOT NULL,
        PRIMARY KEY (source, logid),
        KEY lad_by_aggregate (source, aggr_msg_id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE IF NOT EXISTS lad_aggregates (
        target VARCHAR(64) NOT NULL,
        aggr_msg_id BIGINT NOT NULL,
        input_source VARCHAR(64) NOT NULL,
        PRIMARY KEY (target, aggr_msg_id),
        KEY lad_by_source (input_source, aggr_msg_id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE IF NOT EXISTS lad_counters (
        name VARCHAR(64) NOT NULL PRIMARY KEY,
        value BIGINT NOT NULL
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE IF NOT EXISTS lad_feedback (
        id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
        source VARCHAR(255) NOT NULL,
        host VARCHAR(255) NOT NULL,
        record_id VARCHAR(255) NULL,
        message LONGTEXT NOT NULL,
        template LONGTEXT NULL,
        who VARCHAR(255) NOT NULL,
        at_ms BIGINT NOT NULL,
        undone_at_ms BIGINT NULL,
        KEY lad_feedback_source (source)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE IF NOT EXISTS lad_incidents (
        id VARCHAR(64) NOT NULL PRIMARY KEY,
        source VARCHAR(255) NOT NULL,
        state VARCHAR(32) NOT NULL,
        first_seen_ms BIGINT NOT NULL,
        last_seen_ms BIGINT NOT NULL,
        hosts LONGTEXT NOT NULL,
        body LONGTEXT NOT NULL,
        KEY lad_incidents_seen (last_seen_ms)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE IF NOT EXISTS lad_incident_links (
        source VARCHAR(255) NOT NULL,
        record_id VARCHAR(255) NOT NULL,
        incident_id VARCHAR(64) NOT NULL,
        host VARCHAR(255) NOT NULL,
        time_ms BIGINT NOT NULL,
        PRIMARY KEY (source, record_id),
        KEY lad_incident_links_time (source, time_ms)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
];

/// Quotes a name for SQL text; names from the server's catalogue may hold anything, so backticks
/// are doubled.
fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// Unix milliseconds (UTC) of a temporal column, independent of the server's time zone for
/// `DATETIME` and UTC for `TIMESTAMP` (the session zone is `+00:00`).
fn time_ms_sql(column: &str) -> String {
    format!(
        "CAST(FLOOR(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', {column}) / 1000) AS SIGNED)"
    )
}

/// The SQL of a `DATETIME` from a bound number of microseconds since the epoch.
const FROM_MICROS: &str = "TIMESTAMPADD(MICROSECOND, ?, '1970-01-01 00:00:00')";

/// The ranges `DATETIME` holds, as unix milliseconds: 1000-01-01 to 9999-12-31.
const MIN_DATETIME_MS: i64 = -30_610_224_000_000;
const MAX_DATETIME_MS: i64 = 253_402_300_799_999;

fn micros(ms: i64) -> i64 {
    ms.clamp(MIN_DATETIME_MS, MAX_DATETIME_MS) * 1000
}

type Res<T> = Result<T, Fail>;

/// `state`, `anomaly_score`, `malformed` of a `lad_records` row and its `lad_links.aggr_msg_id`.
type Marks = (Option<i64>, Option<f64>, Option<String>, Option<i64>);

/// Facts about an input table, read from `information_schema`.
#[derive(Debug, Clone)]
struct TableInfo {
    /// The quoted table name.
    table: String,
    /// The quoted primary key column.
    pk: String,
    /// Other columns (neither key, message, time, host nor `lad_*`), unquoted, in table order.
    others: Vec<String>,
    has_lad_extra: bool,
    has_original_id: bool,
}

/// The connection state shared by all operations (everything but the runtime).
struct Ctx {
    input: MySqlPool,
    target: MySqlPool,
    config: MysqlConfig,
    tables: HashMap<String, TableInfo>,
    /// Sources whose whole key range was checked in this process.
    reconciled: HashSet<String>,
    /// Aggregate tables known to exist.
    created: HashSet<String>,
    /// Anomaly tables in the layout lad writes, by (in the target database, name).
    anomaly_layouts: HashMap<(bool, String), anomaly_table::AnomalyLayout>,
    /// What the operator should hear about (tables migrated or extended), until taken.
    notices: Vec<String>,
}

/// An open MySQL/MariaDB store.
pub struct MysqlStore {
    ctx: Ctx,
    rt: tokio::runtime::Runtime,
}

impl std::fmt::Debug for MysqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlStore")
            .field("input", &self.ctx.config.input.address())
            .field("target", &self.ctx.config.target.address())
            .finish()
    }
}

impl Drop for MysqlStore {
    fn drop(&mut self) {
        // Close the pools inside the runtime so their connections say goodbye to the server.
        let (input, target) = (self.ctx.input.clone(), self.ctx.target.clone());
        self.rt.block_on(async move {
            input.close().await;
            target.close().await;
        });
    }
}

/// Runs an async operation on the store's runtime, retrying transient failures as
/// [`RETRY`] says, and names the operation in the error.
macro_rules! run {
    ($self:ident, $op:literal, |$ctx:ident| $body:expr) => {{
        let (rt, ctx) = (&$self.rt, &mut $self.ctx);
        RETRY
            .run(
                || {
                    let $ctx = &mut *ctx;
                    rt.block_on(async { $body })
                },
                Fail::is_transient,
            )
            .map_err(|f| $self.ctx.error($op, f))
    }};
}

mod anomaly_table;
mod archive;
mod config;
mod error;
mod read;
mod state;
#[cfg(feature = "test-support")]
mod testing;
mod write;

pub use archive::import_limit;
pub use config::{validate_identifier, MysqlConfig, MysqlEndpoint, MysqlTls};
use error::Fail;
#[cfg(feature = "test-support")]
#[doc(hidden)]
pub use testing::execute_admin;

/// The current-thread runtime a store (or a test hook) blocks on.
fn runtime(endpoint: &MysqlEndpoint) -> Result<tokio::runtime::Runtime, StoreError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StoreError::Io {
            backend: BACKEND,
            operation: "start the database runtime for",
            path: PathBuf::from(endpoint.address()),
            source: e,
        })
}

fn q(sql: String) -> sqlx::query::Query<'static, MySql, sqlx::mysql::MySqlArguments> {
    // Every dynamic statement is built from validated or quoted identifiers; values are bound.
    sqlx::query(AssertSqlSafe(sql))
}

/// [`q`] for a statement whose one column is a `logid` (or any `BIGINT`): rows come back as numbers.
fn q_ids(
    sql: String,
) -> sqlx::query::QueryScalar<'static, MySql, i64, sqlx::mysql::MySqlArguments> {
    sqlx::query_scalar(AssertSqlSafe(sql))
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

fn ids_json(ids: &[i64]) -> String {
    Value::from(ids.to_vec()).to_string()
}

fn invalid(id: &RecordId, operation: &'static str, reason: String) -> StoreError {
    StoreError::invalid_record(BACKEND, id, operation, reason)
}

fn int_id(id: &RecordId, operation: &'static str) -> Result<i64, StoreError> {
    crate::record::int_key(BACKEND, id, operation, "an integer MySQL primary key")
}

fn text(bytes: Option<Vec<u8>>, column: &str) -> Result<String, String> {
    match bytes {
        None => Err(format!("column {column} is NULL")),
        Some(b) => crate::record::utf8_column(b, column),
    }
}

fn indexable_host(host: Option<Vec<u8>>) -> Option<String> {
    host.and_then(|b| String::from_utf8(b).ok())
        .filter(|h| h.chars().count() <= MAX_HOST_CHARS)
}

impl MysqlStore {
    /// Connects to the input and target servers (the same pool when they are the same), checks
    /// the configured names, and creates lad's bookkeeping tables in the target database.
    pub fn open(config: &MysqlConfig) -> Result<MysqlStore, StoreError> {
        validate_identifier(&config.fields.message, "MESSAGE_INDEX")?;
        validate_identifier(&config.fields.time, "DATETIME_INDEX")?;
        validate_identifier(&config.fields.host, "HOSTNAME_INDEX")?;
        for s in &config.sources {
            validate_identifier(s, "LOG_SOURCES (a MySQL table name)")?;
        }
        for (s, t) in &config.anomaly_tables {
            validate_identifier(t, &format!("MYSQL_TARGET_TABLE of source {s:?}"))?;
        }
        for t in &config.aggregation_inputs {
            validate_identifier(t, "MYSQL_INPUT_TABLES")?;
        }
        let rt = runtime(&config.target)?;
        let pool_options = || {
            MySqlPoolOptions::new()
                .max_connections(2)
                .acquire_timeout(Duration::from_secs(3))
        };
        // The pools spawn their maintenance tasks on the runtime they are made in.
        let guard = rt.enter();
        let input = pool_options().connect_lazy_with(config.input.options(true));
        let target = if config.target == config.input {
            input.clone()
        } else {
            pool_options().connect_lazy_with(config.target.options(true))
        };
        drop(guard);
        let mut store = MysqlStore {
            ctx: Ctx {
                input,
                target,
                config: config.clone(),
                tables: HashMap::new(),
                reconciled: HashSet::new(),
                created: HashSet::new(),
                anomaly_layouts: HashMap::new(),
                notices: Vec::new(),
            },
            rt,
        };
        run!(store, "connect and create bookkeeping tables", |ctx| {
            ctx.input.execute("SELECT 1").await.map_err(Fail::Input)?;
            for ddl in BOOKKEEPING {
                ctx.target.execute(ddl).await.map_err(Fail::Target)?;
            }
            ctx.prepare_anomaly_tables().await
        })?;
        Ok(store)
    }

    /// Things the operator should hear about (an anomaly table migrated from lad's earlier
    /// layout, or an old table extended), taken once.
    pub fn take_notices(&mut self) -> Vec<String> {
        std::mem::take(&mut self.ctx.notices)
    }
}

impl Ctx {
    fn anomaly_table(&self, source: &str) -> Result<String, StoreError> {
        match self.config.anomaly_tables.get(source) {
            Some(t) => Ok(t.clone()),
            None => {
                let t = format!("{source}_anomalies");
                validate_identifier(
                    &t,
                    &format!(
                        "MYSQL_TARGET_TABLE of source {source:?} (default <source>_anomalies)"
                    ),
                )?;
                Ok(t)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_validated() {
        for good in ["logs", "_x", "SystemEvents", "a$1", &"a".repeat(64)] {
            assert!(validate_identifier(good, "K").is_ok(), "{good}");
        }
        for bad in [
            "",
            "1logs",
            "logs; DROP TABLE x",
            "lo`gs",
            "lo gs",
            "logs--",
            "żółw",
            &"a".repeat(65),
        ] {
            let err = validate_identifier(bad, "MYSQL_TARGET_TABLE").expect_err(bad);
            assert!(err.to_string().contains("MYSQL_TARGET_TABLE"), "{err}");
        }
    }

    #[test]
    fn the_store_can_move_to_another_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<MysqlStore>();
    }

    #[test]
    fn quoting_doubles_backticks() {
        assert_eq!(quote("a`b"), "`a``b`");
    }

    #[test]
    fn micros_clamp_to_the_datetime_range() {
        assert_eq!(micros(1), 1000);
        assert_eq!(micros(i64::MAX), MAX_DATETIME_MS * 1000);
        assert_eq!(micros(i64::MIN), MIN_DATETIME_MS * 1000);
    }
}
