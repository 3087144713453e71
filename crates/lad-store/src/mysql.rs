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
//!   `message`, `time`, `host`, `anomaly_score`, `aggr_msg_id`) where each anomaly is inserted
//!   once; aggregation target tables (`aggr_msg_id`, `message`, `total_logs`, `average_datetime`,
//!   `hostname`, `average_anomaly_score`, `was_added_at`); and lad's bookkeeping, all `lad_*`:
//!   `lad_records` (one row per input row seen: time, host, state = unscored / normal / anomaly /
//!   malformed / deleted, score, malformed reason; one secondary index `(source, state, time, key)`
//!   serves both "next unscored" and "anomalies of a window", so a verdict touches one index
//!   entry), `lad_links` (record to aggregate, only for aggregated anomalies), `lad_sources` (the
//!   scan high-water mark per source), `lad_aggregates` (which input source each aggregate came
//!   from), `lad_counters` and `lad_feedback`.
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
//! ([`RETRIES`] times), then reported as [`StoreError::Unavailable`]; the pool reconnects.

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
use crate::StoreError;

const BACKEND: &str = "mysql";
/// How many keys below the high-water mark every scan checks again for late commits.
pub const RECHECK_KEYS: i64 = 10_000;
/// How many times a transient failure is retried before [`StoreError::Unavailable`].
pub const RETRIES: u32 = 3;
const BACKOFF_START: Duration = Duration::from_millis(200);
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

const BOOKKEEPING: [&str; 6] = [
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
];

/// TLS policy of a connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MysqlTls {
    /// Use TLS when the server offers it (the default).
    #[default]
    Preferred,
    /// Fail unless the connection is encrypted (the certificate is not checked).
    Required,
    /// Encrypt and verify the server certificate against `ca_cert` (or the web PKI roots).
    VerifyCa,
    /// As `VerifyCa`, and the certificate must name the host.
    VerifyIdentity,
    /// Never use TLS.
    Disabled,
}

/// One server connection: the input (`MYSQL_INPUT_*`) or the target (`MYSQL_TARGET_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlEndpoint {
    /// Host name or address (`MYSQL_*_HOST`, default `localhost`).
    pub host: String,
    /// TCP port (`MYSQL_*_PORT`, default 3306).
    pub port: u16,
    /// Database (`MYSQL_*_DB`).
    pub database: String,
    /// User (`MYSQL_*_USER`, default `root`).
    pub user: String,
    /// Password (`MYSQL_*_PASSWORD`); `None` for none.
    pub password: Option<String>,
    /// TLS policy.
    pub tls: MysqlTls,
    /// CA certificate file for `VerifyCa` / `VerifyIdentity`.
    pub ca_cert: Option<PathBuf>,
}

impl MysqlEndpoint {
    /// An endpoint with the defaults: `localhost:3306`, user `root`, no password, TLS preferred.
    pub fn new(database: &str) -> MysqlEndpoint {
        MysqlEndpoint {
            host: "localhost".into(),
            port: 3306,
            database: database.into(),
            user: "root".into(),
            password: None,
            tls: MysqlTls::Preferred,
            ca_cert: None,
        }
    }

    /// `host:port/database`, as errors name it.
    pub fn address(&self) -> String {
        format!("{}:{}/{}", self.host, self.port, self.database)
    }

    fn options(&self, with_database: bool) -> MySqlConnectOptions {
        let mut o = MySqlConnectOptions::new()
            .host(&self.host)
            .port(self.port)
            .username(&self.user)
            .timezone(Some("+00:00".to_owned()))
            .charset("utf8mb4")
            .ssl_mode(match self.tls {
                MysqlTls::Preferred => MySqlSslMode::Preferred,
                MysqlTls::Required => MySqlSslMode::Required,
                MysqlTls::VerifyCa => MySqlSslMode::VerifyCa,
                MysqlTls::VerifyIdentity => MySqlSslMode::VerifyIdentity,
                MysqlTls::Disabled => MySqlSslMode::Disabled,
            });
        if let Some(p) = &self.password {
            o = o.password(p);
        }
        if let Some(ca) = &self.ca_cert {
            o = o.ssl_ca(ca);
        }
        if with_database {
            o = o.database(&self.database);
        }
        o
    }
}

/// Settings of the `mysql` backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlConfig {
    /// Where the input tables are (`MYSQL_INPUT_*`).
    pub input: MysqlEndpoint,
    /// Where anomalies, aggregates and lad's bookkeeping go (`MYSQL_TARGET_*`); may equal `input`.
    pub target: MysqlEndpoint,
    /// Column names of message, time and host in the input tables (`*_INDEX`).
    pub fields: FieldNames,
    /// Anomaly table per source (`LOG_SOURCES.<source>.MYSQL_TARGET_TABLE`, or `MYSQL_TARGET_TABLE`);
    /// a source not listed uses `<source>_anomalies`.
    pub anomaly_tables: BTreeMap<String, String>,
    /// The configured sources (input tables), listed by `list_sources` even before any row is read.
    pub sources: Vec<String>,
}

/// Checks that a configured table or column name is a plain identifier
/// (`^[A-Za-z_][A-Za-z0-9_$]{0,63}$`); `key` names the config key in the error.
pub fn validate_identifier(name: &str, key: &str) -> Result<(), StoreError> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if first_ok && rest_ok && name.len() <= 64 {
        Ok(())
    } else {
        Err(StoreError::Config {
            backend: BACKEND,
            reason: format!(
                "{key} is {name:?}, expected a table or column name: a letter or '_' then up to 63 \
                 letters, digits, '_' or '$'"
            ),
        })
    }
}

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

/// What failed inside an operation, before it is turned into a [`StoreError`].
enum Fail {
    Input(sqlx::Error),
    Target(sqlx::Error),
    Store(StoreError),
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

fn is_transient_sql(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => d
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            // Lock wait timeout, deadlock, too many connections, server shutdown, gone away,
            // lost connection, connection killed.
            .is_some_and(|m| {
                matches!(
                    m.number(),
                    1205 | 1213 | 1040 | 1053 | 2006 | 2013 | 1927 | 4031
                )
            }),
        _ => false,
    }
}

impl Fail {
    fn is_transient(&self) -> bool {
        match self {
            Fail::Input(e) | Fail::Target(e) => is_transient_sql(e),
            Fail::Store(_) => false,
        }
    }
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
    /// Anomaly and aggregate tables known to exist.
    created: HashSet<String>,
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

/// Runs an async operation on the store's runtime, retrying transient failures with backoff.
macro_rules! run {
    ($self:ident, $op:literal, |$ctx:ident| $body:expr) => {{
        let mut attempt = 0;
        let mut delay = BACKOFF_START;
        loop {
            let $ctx = &mut $self.ctx;
            let result = $self.rt.block_on(async { $body });
            match result {
                Ok(v) => break Ok(v),
                Err(f) if f.is_transient() && attempt < RETRIES => {
                    attempt += 1;
                    std::thread::sleep(delay);
                    delay *= 2;
                }
                Err(f) => break Err($self.ctx.error($op, f)),
            }
        }
    }};
}

fn q(sql: String) -> sqlx::query::Query<'static, MySql, sqlx::mysql::MySqlArguments> {
    // Every dynamic statement is built from validated or quoted identifiers; values are bound.
    sqlx::query(AssertSqlSafe(sql))
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

fn ids_json(ids: &[i64]) -> String {
    Value::from(ids.to_vec()).to_string()
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
            "expected an integer MySQL primary key".into(),
        )),
    }
}

fn text(bytes: Option<Vec<u8>>, column: &str) -> Result<String, String> {
    match bytes {
        None => Err(format!("column {column} is NULL")),
        Some(b) => String::from_utf8(b).map_err(|e| {
            format!(
                "column {column} is not valid UTF-8 (bad byte at offset {})",
                e.utf8_error().valid_up_to()
            )
        }),
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
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Io {
                backend: BACKEND,
                operation: "start the database runtime for",
                path: PathBuf::from(config.target.address()),
                source: e,
            })?;
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
            },
            rt,
        };
        run!(store, "connect and create bookkeeping tables", |ctx| {
            ctx.input.execute("SELECT 1").await.map_err(Fail::Input)?;
            for ddl in BOOKKEEPING {
                ctx.target.execute(ddl).await.map_err(Fail::Target)?;
            }
            Ok::<(), Fail>(())
        })?;
        Ok(store)
    }

    /// See [`crate::Store::import`]. Creates the input table when missing.
    pub fn import(
        &mut self,
        source: &str,
        records: &[NewRecord],
    ) -> Result<ImportSummary, StoreError> {
        validate_identifier(source, "the source (MySQL table) name")?;
        for r in records {
            let id = r
                .original_id
                .clone()
                .unwrap_or(RecordId::Text("new".into()));
            if r.host.chars().count() > MAX_HOST_CHARS {
                return Err(invalid(
                    &id,
                    "import records",
                    format!("host is longer than {MAX_HOST_CHARS} characters"),
                ));
            }
            if !(MIN_DATETIME_MS..=MAX_DATETIME_MS).contains(&r.time) {
                return Err(invalid(
                    &id,
                    "import records",
                    format!(
                        "time {} ms is outside the years 1000 to 9999 a DATETIME holds",
                        r.time
                    ),
                ));
            }
        }
        // Not retried as a whole: rows without an original id would be inserted twice.
        let result = {
            let ctx = &mut self.ctx;
            self.rt.block_on(ctx.import(source, records))
        };
        result.map_err(|f| self.ctx.error("import records", f))
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
        validate_identifier(source, "the source (MySQL table) name")?;
        run!(self, "read a training window", |ctx| ctx
            .training_window(source, host, from_ms, to_ms, max)
            .await)
    }

    /// See [`crate::Store::next_unscored`].
    pub fn next_unscored(
        &mut self,
        source: &str,
        hosts: &[String],
        limit: usize,
    ) -> Result<Batch, StoreError> {
        validate_identifier(source, "the source (MySQL table) name")?;
        run!(self, "read unscored records", |ctx| ctx
            .next_unscored(source, hosts, limit)
            .await)
    }

    /// See [`crate::Store::write_verdicts`]. Anomalies are also inserted once into the source's
    /// anomaly table.
    pub fn write_verdicts(
        &mut self,
        source: &str,
        verdicts: &[Verdict],
    ) -> Result<usize, StoreError> {
        validate_identifier(source, "the source (MySQL table) name")?;
        for v in verdicts {
            int_id(&v.id, "write verdicts")?;
            if !v.score.is_finite() {
                return Err(invalid(
                    &v.id,
                    "write verdicts",
                    format!("expected a finite score, found {}", v.score),
                ));
            }
        }
        run!(self, "write verdicts", |ctx| ctx
            .write_verdicts(source, verdicts)
            .await)
    }

    /// See [`crate::Store::mark_malformed`].
    pub fn mark_malformed(
        &mut self,
        source: &str,
        id: &RecordId,
        reason: &str,
    ) -> Result<(), StoreError> {
        let id = int_id(id, "mark malformed")?;
        run!(self, "mark a record malformed", |ctx| {
            q(
                "INSERT INTO lad_records (source, logid, state, malformed) VALUES (?, ?, ?, ?) \
               ON DUPLICATE KEY UPDATE malformed = IF(state = ?, ?, malformed), \
               state = IF(state = ?, ?, state)"
                    .into(),
            )
            .bind(source)
            .bind(id)
            .bind(STATE_MALFORMED)
            .bind(reason)
            .bind(STATE_UNSCORED)
            .bind(reason)
            .bind(STATE_UNSCORED)
            .bind(STATE_MALFORMED)
            .execute(&ctx.target)
            .await
            .map_err(Fail::Target)?;
            Ok::<(), Fail>(())
        })
    }

    /// See [`crate::Store::anomalies`].
    pub fn anomalies(
        &mut self,
        source: &str,
        from_ms: i64,
        to_ms: i64,
        max: usize,
    ) -> Result<Vec<Anomaly>, StoreError> {
        validate_identifier(source, "the source (MySQL table) name")?;
        run!(self, "read anomalies", |ctx| ctx
            .anomalies(source, from_ms, to_ms, max)
            .await)
    }

    /// See [`crate::Store::write_aggregates`]. `target` is the aggregation table
    /// (`MYSQL_TARGET_TABLES`), created when missing.
    pub fn write_aggregates(
        &mut self,
        input_source: &str,
        target: &str,
        drafts: &[AggregateDraft],
    ) -> Result<Vec<Option<RecordId>>, StoreError> {
        validate_identifier(input_source, "MYSQL_INPUT_TABLES")?;
        validate_identifier(target, "MYSQL_TARGET_TABLES")?;
        let members = drafts
            .iter()
            .map(|d| {
                d.member_ids
                    .iter()
                    .map(|id| int_id(id, "write aggregates"))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        run!(self, "write aggregates", |ctx| ctx
            .write_aggregates(input_source, target, drafts, &members)
            .await)
    }

    /// See [`crate::Store::aggregates`].
    pub fn aggregates(&mut self, input_source: Option<&str>) -> Result<Vec<Aggregate>, StoreError> {
        run!(self, "read aggregates", |ctx| ctx
            .aggregates(input_source)
            .await)
    }

    /// See [`crate::Store::export_page`]. Across all sources the cursor packs the source's
    /// position (in `list_sources` order) above bit 40 and the key below it.
    pub fn export_page(
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

    /// See [`crate::Store::list_sources`]: configured sources and those lad has read or imported.
    pub fn list_sources(&mut self) -> Result<Vec<String>, StoreError> {
        run!(self, "list sources", |ctx| ctx.list_sources().await)
    }

    /// See [`crate::Store::hosts`].
    pub fn hosts(&mut self, source: &str) -> Result<Vec<String>, StoreError> {
        validate_identifier(source, "the source (MySQL table) name")?;
        run!(self, "list hosts", |ctx| ctx.hosts(source).await)
    }

    /// See [`crate::Store::unscored_count`].
    pub fn unscored_count(&mut self, source: &str) -> Result<u64, StoreError> {
        validate_identifier(source, "the source (MySQL table) name")?;
        run!(self, "count unscored records", |ctx| {
            ctx.sync(source, true).await?;
            let n: i64 =
                q("SELECT COUNT(*) FROM lad_records WHERE source = ? AND state = ?".into())
                    .bind(source)
                    .bind(STATE_UNSCORED)
                    .fetch_one(&ctx.target)
                    .await
                    .and_then(|r| r.try_get(0))
                    .map_err(Fail::Target)?;
            Ok::<u64, Fail>(u64::try_from(n).unwrap_or(0))
        })
    }

    /// See [`crate::Store::oldest_unscored_time`].
    pub fn oldest_unscored_time(&mut self, source: &str) -> Result<Option<i64>, StoreError> {
        validate_identifier(source, "the source (MySQL table) name")?;
        run!(self, "find the oldest unscored record", |ctx| {
            ctx.sync(source, true).await?;
            q("SELECT MIN(time_ms) FROM lad_records WHERE source = ? AND state = ?".into())
                .bind(source)
                .bind(STATE_UNSCORED)
                .fetch_one(&ctx.target)
                .await
                .and_then(|r| r.try_get::<Option<i64>, _>(0))
                .map_err(Fail::Target)
        })
    }

    /// See [`crate::Store::add_feedback`].
    pub fn add_feedback(&mut self, mark: &NewFeedback) -> Result<i64, StoreError> {
        run!(self, "add feedback", |ctx| {
            let r = q("INSERT INTO lad_feedback (source, host, record_id, message, template, who, at_ms) \
                       VALUES (?, ?, ?, ?, ?, ?, ?)"
                .into())
            .bind(&mark.source)
            .bind(&mark.host)
            .bind(mark.record_id.as_ref().map(ToString::to_string))
            .bind(&mark.message)
            .bind(&mark.template)
            .bind(&mark.who)
            .bind(mark.at_ms)
            .execute(&ctx.target)
            .await
            .map_err(Fail::Target)?;
            Ok::<i64, Fail>(i64::try_from(r.last_insert_id()).unwrap_or(i64::MAX))
        })
    }

    /// See [`crate::Store::list_feedback`].
    pub fn list_feedback(
        &mut self,
        source: Option<&str>,
        include_undone: bool,
    ) -> Result<Vec<Feedback>, StoreError> {
        run!(self, "list feedback", |ctx| {
            let rows = q("SELECT id, source, host, record_id, message, template, who, at_ms, undone_at_ms \
                          FROM lad_feedback WHERE (? IS NULL OR source = ?) AND (? OR undone_at_ms IS NULL) \
                          ORDER BY id"
                .into())
            .bind(source)
            .bind(source)
            .bind(include_undone)
            .fetch_all(&ctx.target)
            .await
            .map_err(Fail::Target)?;
            rows.iter()
                .map(|r| {
                    Ok(Feedback {
                        id: r.try_get(0)?,
                        mark: NewFeedback {
                            source: r.try_get(1)?,
                            host: r.try_get(2)?,
                            record_id: r
                                .try_get::<Option<String>, _>(3)?
                                .map(|s| RecordId::parse(&s)),
                            message: r.try_get(4)?,
                            template: r.try_get(5)?,
                            who: r.try_get(6)?,
                            at_ms: r.try_get(7)?,
                        },
                        undone_at_ms: r.try_get(8)?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(Fail::Target)
        })
    }

    /// See [`crate::Store::undo_feedback`].
    pub fn undo_feedback(&mut self, id: i64, at_ms: i64) -> Result<bool, StoreError> {
        run!(self, "undo feedback", |ctx| {
            let r = q(
                "UPDATE lad_feedback SET undone_at_ms = ? WHERE id = ? AND undone_at_ms IS NULL"
                    .into(),
            )
            .bind(at_ms)
            .bind(id)
            .execute(&ctx.target)
            .await
            .map_err(Fail::Target)?;
            Ok::<bool, Fail>(r.rows_affected() == 1)
        })
    }

    /// Runs raw SQL on the input (`on_target == false`) or target database; for tests that need
    /// rows no well-behaved writer would produce.
    #[doc(hidden)]
    pub fn execute_raw(&mut self, sql: &str, on_target: bool) -> Result<(), StoreError> {
        let sql = sql.to_owned();
        run!(self, "execute raw SQL", |ctx| {
            let pool = if on_target { &ctx.target } else { &ctx.input };
            pool.execute(AssertSqlSafe(sql.clone()))
                .await
                .map_err(|e| {
                    if on_target {
                        Fail::Target(e)
                    } else {
                        Fail::Input(e)
                    }
                })?;
            Ok::<(), Fail>(())
        })
    }
}

impl MysqlStore {
    /// Runs a query on the input or target database and returns every cell as text (`None` for
    /// NULL; cast numbers with `CAST(.. AS CHAR)`); for tests that check the stored tables.
    #[doc(hidden)]
    pub fn query_raw(
        &mut self,
        sql: &str,
        on_target: bool,
    ) -> Result<Vec<Vec<Option<String>>>, StoreError> {
        let sql = sql.to_owned();
        run!(self, "run a raw query", |ctx| {
            let pool = if on_target { &ctx.target } else { &ctx.input };
            let wrap = |e| {
                if on_target {
                    Fail::Target(e)
                } else {
                    Fail::Input(e)
                }
            };
            let rows = pool
                .fetch_all(AssertSqlSafe(sql.clone()))
                .await
                .map_err(wrap)?;
            rows.iter()
                .map(|r| {
                    (0..r.len())
                        .map(|i| {
                            r.try_get::<Option<Vec<u8>>, _>(i)
                                .map(|c| c.map(|b| String::from_utf8_lossy(&b).into_owned()))
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(wrap)
        })
    }
}

/// Runs statements on a server without selecting a database (creating or dropping test
/// databases); for tests.
#[doc(hidden)]
pub fn execute_admin(endpoint: &MysqlEndpoint, statements: &[&str]) -> Result<(), StoreError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StoreError::Io {
            backend: BACKEND,
            operation: "start the database runtime for",
            path: PathBuf::from(endpoint.address()),
            source: e,
        })?;
    rt.block_on(async {
        use sqlx::{ConnectOptions as _, Connection as _};
        let mut conn = endpoint.options(false).connect().await?;
        for s in statements {
            conn.execute(AssertSqlSafe(s.to_string())).await?;
        }
        conn.close().await
    })
    .map_err(|e| {
        if is_transient_sql(&e) {
            StoreError::Unavailable {
                backend: BACKEND,
                address: format!("{}:{}", endpoint.host, endpoint.port),
                operation: "connect",
                reason: e.to_string(),
            }
        } else {
            StoreError::Mysql {
                address: endpoint.address(),
                operation: "run admin statements",
                source: e,
            }
        }
    })
}

impl Ctx {
    fn error(&self, operation: &'static str, fail: Fail) -> StoreError {
        let (endpoint, source) = match fail {
            Fail::Store(e) => return e,
            Fail::Input(e) => (&self.config.input, e),
            Fail::Target(e) => (&self.config.target, e),
        };
        if is_transient_sql(&source) {
            StoreError::Unavailable {
                backend: BACKEND,
                address: endpoint.address(),
                operation,
                reason: format!("{source} (retried {RETRIES} times)"),
            }
        } else {
            StoreError::Mysql {
                address: endpoint.address(),
                operation,
                source,
            }
        }
    }

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

    /// Reads (and caches) the layout of an input table; `None` when it does not exist.
    async fn table(&mut self, source: &str) -> Res<Option<TableInfo>> {
        if let Some(t) = self.tables.get(source) {
            return Ok(Some(t.clone()));
        }
        let rows = q("SELECT CAST(COLUMN_NAME AS CHAR), CAST(DATA_TYPE AS CHAR), CAST(COLUMN_KEY AS CHAR) \
                      FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? \
                      ORDER BY ORDINAL_POSITION"
            .into())
        .bind(source)
        .fetch_all(&self.input)
        .await
        .map_err(Fail::Input)?;
        if rows.is_empty() {
            return Ok(None);
        }
        let cols = rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get::<String, _>(0)?,
                    r.try_get::<String, _>(1)?.to_ascii_lowercase(),
                    r.try_get::<String, _>(2)?,
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(Fail::Input)?;
        let bad = |reason: String| {
            Fail::Store(StoreError::Corrupt {
                backend: BACKEND,
                location: format!("table {source} of {}", self.config.input.address()),
                reason,
            })
        };
        let pks: Vec<&(String, String, String)> = cols.iter().filter(|c| c.2 == "PRI").collect();
        let pk =
            match pks.as_slice() {
                [one] if one.1.ends_with("int") => one.0.clone(),
                _ => return Err(bad(
                    "expected a primary key of one integer column (the record id), found none or \
                     another kind"
                        .into(),
                )),
            };
        let f = &self.config.fields;
        for (name, key) in [
            (&f.message, "MESSAGE_INDEX"),
            (&f.time, "DATETIME_INDEX"),
            (&f.host, "HOSTNAME_INDEX"),
        ] {
            if !cols.iter().any(|c| &c.0 == name) {
                return Err(bad(format!(
                    "expected a column {name:?} ({key}), found none"
                )));
            }
        }
        if let Some(c) = cols.iter().find(|c| c.0 == f.time) {
            if !matches!(c.1.as_str(), "datetime" | "timestamp" | "date") {
                return Err(bad(format!(
                    "column {:?} (DATETIME_INDEX) has type {}, expected DATETIME, TIMESTAMP or DATE",
                    c.0, c.1
                )));
            }
        }
        let special = [&pk, &f.message, &f.time, &f.host];
        let info = TableInfo {
            table: quote(source),
            pk: quote(&pk),
            others: cols
                .iter()
                .map(|c| c.0.clone())
                .filter(|c| !special.contains(&c) && c != "lad_extra" && c != "lad_original_id")
                .collect(),
            has_lad_extra: cols.iter().any(|c| c.0 == "lad_extra"),
            has_original_id: cols.iter().any(|c| c.0 == "lad_original_id"),
        };
        self.tables.insert(source.to_owned(), info.clone());
        Ok(Some(info))
    }

    /// `SELECT <record columns> FROM <table> t` and the parameters its select list binds.
    fn record_select(&self, info: &TableInfo) -> (String, Vec<String>) {
        let f = &self.config.fields;
        let extra = if info.others.is_empty() {
            "NULL".to_owned()
        } else {
            let pairs: Vec<String> = info
                .others
                .iter()
                .map(|c| format!("?, t.{}", quote(c)))
                .collect();
            format!("CAST(JSON_OBJECT({}) AS CHAR)", pairs.join(", "))
        };
        let lad_extra = if info.has_lad_extra {
            "t.lad_extra"
        } else {
            "NULL"
        };
        (
            format!(
                "SELECT CAST(t.{pk} AS SIGNED), t.{host}, {time}, t.{msg}, {extra}, {lad_extra} FROM {table} t",
                pk = info.pk,
                host = quote(&f.host),
                time = time_ms_sql(&format!("t.{}", quote(&f.time))),
                msg = quote(&f.message),
                table = info.table,
            ),
            info.others.clone(),
        )
    }

    fn decode(
        &self,
        row: &MySqlRow,
        source: &str,
    ) -> Result<Result<Record, Malformed>, sqlx::Error> {
        let f = &self.config.fields;
        let id = RecordId::Int(row.try_get(0)?);
        let host = text(row.try_get(1)?, &f.host);
        let time: Option<i64> = row.try_get(2)?;
        let message: Option<Vec<u8>> = row.try_get(3)?;
        let extra: Option<Vec<u8>> = row.try_get(4)?;
        let lad_extra: Option<Vec<u8>> = row.try_get(5)?;
        let fields = (|| {
            let host = host.clone()?;
            let time =
                time.ok_or_else(|| format!("column {} is NULL or not a valid date", f.time))?;
            let message = text(message, &f.message)?;
            check_message(&message)?;
            let mut map = Map::new();
            for (bytes, what) in [(extra, "other columns"), (lad_extra, "column lad_extra")] {
                if let Some(b) = bytes {
                    match serde_json::from_slice::<Value>(&b) {
                        Ok(Value::Object(m)) => map.extend(m),
                        _ => return Err(format!("{what} are not a JSON object")),
                    }
                }
            }
            Ok((host, time, message, map))
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

    /// Fetches input rows by key, keyed by id; rows that no longer exist are absent.
    async fn fetch(
        &mut self,
        source: &str,
        info: &TableInfo,
        ids: &[i64],
    ) -> Res<HashMap<i64, Result<Record, Malformed>>> {
        let (select, keys) = self.record_select(info);
        let sql = format!(
            "{select} JOIN JSON_TABLE(?, '$[*]' COLUMNS (k BIGINT PATH '$')) j ON t.{pk} = j.k",
            pk = info.pk
        );
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(FETCH_CHUNK) {
            let mut query = q(sql.clone());
            for k in &keys {
                query = query.bind(k.clone());
            }
            let rows = query
                .bind(ids_json(chunk))
                .fetch_all(&self.input)
                .await
                .map_err(Fail::Input)?;
            for row in &rows {
                let r = self.decode(row, source).map_err(Fail::Input)?;
                let id = match &r {
                    Ok(rec) => &rec.id,
                    Err(m) => &m.id,
                };
                if let RecordId::Int(n) = id {
                    out.insert(*n, r);
                }
            }
        }
        Ok(out)
    }

    async fn register(&self, source: &str) -> Res<()> {
        q("INSERT IGNORE INTO lad_sources (source) VALUES (?)".into())
            .bind(source)
            .execute(&self.target)
            .await
            .map_err(Fail::Target)?;
        Ok(())
    }

    /// Copies `(key, time, host)` of input rows into `lad_records` (see the module docs);
    /// `recheck` also looks again below the high-water mark for late commits.
    async fn sync(&mut self, source: &str, recheck: bool) -> Res<Option<TableInfo>> {
        let Some(info) = self.table(source).await? else {
            return Ok(None);
        };
        self.register(source).await?;
        let mark: Option<i64> = q("SELECT scanned_id FROM lad_sources WHERE source = ?".into())
            .bind(source)
            .fetch_one(&self.target)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(Fail::Target)?;
        if let Some(mark) = mark {
            // Counting keys on both sides is cheap; rows are compared only when counts differ.
            if !self.reconciled.contains(source) {
                if self.counts_differ(source, &info, i64::MIN, mark).await? {
                    self.recheck(source, &info, i64::MIN, mark).await?;
                }
                self.reconciled.insert(source.to_owned());
            } else if recheck {
                let after = mark.saturating_sub(RECHECK_KEYS);
                if self.counts_differ(source, &info, after, mark).await? {
                    self.recheck(source, &info, after, mark).await?;
                }
            }
        }
        let mut after = mark.unwrap_or(i64::MIN);
        loop {
            let rows = self.scan(&info, after, i64::MAX, SCAN_CHUNK).await?;
            let Some(last) = rows.last().map(|r| r.0) else {
                break;
            };
            let full = rows.len() as i64 == SCAN_CHUNK;
            let mut tx = self.target.begin().await.map_err(Fail::Target)?;
            mirror(&mut tx, source, &rows).await?;
            q("UPDATE lad_sources SET scanned_id = ? WHERE source = ?".into())
                .bind(last)
                .bind(source)
                .execute(&mut *tx)
                .await
                .map_err(Fail::Target)?;
            tx.commit().await.map_err(Fail::Target)?;
            after = last;
            if !full {
                break;
            }
        }
        Ok(Some(info))
    }

    /// Whether the input and `lad_records` hold different numbers of keys in `(after, upto]`.
    async fn counts_differ(
        &self,
        source: &str,
        info: &TableInfo,
        after: i64,
        upto: i64,
    ) -> Res<bool> {
        let sql = format!(
            "SELECT COUNT(*) FROM {} WHERE {pk} > ? AND {pk} <= ?",
            info.table,
            pk = info.pk
        );
        let on_input: i64 = q(sql)
            .bind(after)
            .bind(upto)
            .fetch_one(&self.input)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(Fail::Input)?;
        let on_target: i64 = q(
            "SELECT COUNT(*) FROM lad_records WHERE source = ? AND logid > ? AND logid <= ?".into(),
        )
        .bind(source)
        .bind(after)
        .bind(upto)
        .fetch_one(&self.target)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(Fail::Target)?;
        Ok(on_input != on_target)
    }

    /// `(key, host, time)` of input rows with `after < key <= upto`, by key.
    async fn scan(
        &self,
        info: &TableInfo,
        after: i64,
        upto: i64,
        limit: i64,
    ) -> Res<Vec<(i64, Option<String>, Option<i64>)>> {
        let f = &self.config.fields;
        let sql = format!(
            "SELECT CAST({pk} AS SIGNED), {host}, {time} FROM {table} WHERE {pk} > ? AND {pk} <= ? \
             ORDER BY {pk} LIMIT ?",
            pk = info.pk,
            host = quote(&f.host),
            time = time_ms_sql(&quote(&f.time)),
            table = info.table
        );
        let rows = q(sql)
            .bind(after)
            .bind(upto)
            .bind(limit)
            .fetch_all(&self.input)
            .await
            .map_err(Fail::Input)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<i64, _>(0)?,
                    indexable_host(r.try_get(1)?),
                    r.try_get::<Option<i64>, _>(2)?,
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(Fail::Input)
    }

    /// Mirrors input rows in `(after, upto]` that `lad_records` lacks.
    async fn recheck(&self, source: &str, info: &TableInfo, after: i64, upto: i64) -> Res<()> {
        let mut after = after;
        loop {
            let rows = self.scan(info, after, upto, SCAN_CHUNK).await?;
            let (Some(first), Some(last)) = (rows.first().map(|r| r.0), rows.last().map(|r| r.0))
            else {
                return Ok(());
            };
            let known: HashSet<i64> = q(
                "SELECT logid FROM lad_records WHERE source = ? AND logid >= ? AND logid <= ?"
                    .into(),
            )
            .bind(source)
            .bind(first)
            .bind(last)
            .fetch_all(&self.target)
            .await
            .map_err(Fail::Target)?
            .iter()
            .map(|r| r.try_get::<i64, _>(0))
            .collect::<Result<_, _>>()
            .map_err(Fail::Target)?;
            let missing: Vec<_> = rows
                .iter()
                .filter(|r| !known.contains(&r.0))
                .cloned()
                .collect();
            if !missing.is_empty() {
                let mut tx = self.target.begin().await.map_err(Fail::Target)?;
                mirror(&mut tx, source, &missing).await?;
                tx.commit().await.map_err(Fail::Target)?;
            }
            if (rows.len() as i64) < SCAN_CHUNK {
                return Ok(());
            }
            after = last;
        }
    }

    async fn import(&mut self, source: &str, records: &[NewRecord]) -> Res<ImportSummary> {
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

    async fn marked_malformed(&self, source: &str) -> Res<HashSet<i64>> {
        q("SELECT logid FROM lad_records WHERE source = ? AND state = ?".into())
            .bind(source)
            .bind(STATE_MALFORMED)
            .fetch_all(&self.target)
            .await
            .map_err(Fail::Target)?
            .iter()
            .map(|r| r.try_get::<i64, _>(0))
            .collect::<Result<_, _>>()
            .map_err(Fail::Target)
    }

    async fn training_window(
        &mut self,
        source: &str,
        host: &str,
        from_ms: i64,
        to_ms: i64,
        max: usize,
    ) -> Res<Batch> {
        let Some(info) = self.table(source).await? else {
            return Ok(Batch::default());
        };
        // Marked rows are few; leaving them out in Rust keeps the query on the input server.
        let marked = self.marked_malformed(source).await?;
        let f = &self.config.fields;
        let (select, keys) = self.record_select(&info);
        let sql = format!(
            "{select} WHERE t.{host} = ? AND t.{time} >= {FROM_MICROS} AND t.{time} < {FROM_MICROS} \
             ORDER BY t.{time} DESC, t.{pk} DESC LIMIT ?",
            host = quote(&f.host),
            time = quote(&f.time),
            pk = info.pk
        );
        let mut query = q(sql);
        for k in keys {
            query = query.bind(k);
        }
        let limit = i64::try_from(max.saturating_add(marked.len())).unwrap_or(i64::MAX);
        let rows = query
            .bind(host)
            .bind(micros(from_ms))
            .bind(micros(to_ms))
            .bind(limit)
            .fetch_all(&self.input)
            .await
            .map_err(Fail::Input)?;
        let mut batch = Batch::default();
        for row in &rows {
            match self.decode(row, source).map_err(Fail::Input)? {
                Ok(r) if matches!(r.id, RecordId::Int(n) if marked.contains(&n)) => {}
                Err(m) if matches!(m.id, RecordId::Int(n) if marked.contains(&n)) => {}
                Ok(r) if batch.records.len() < max => batch.records.push(r),
                Ok(_) => {}
                Err(m) => batch.malformed.push(m),
            }
        }
        batch.records.reverse();
        batch.malformed.reverse();
        Ok(batch)
    }

    async fn next_unscored(&mut self, source: &str, hosts: &[String], limit: usize) -> Res<Batch> {
        let Some(info) = self.sync(source, true).await? else {
            return Ok(Batch::default());
        };
        let host_filter = if hosts.is_empty() {
            String::new()
        } else {
            format!(
                " AND (host IN ({}) OR host IS NULL)",
                placeholders(hosts.len())
            )
        };
        let sql = format!(
            "SELECT logid FROM lad_records WHERE source = ? AND state = ?{host_filter} \
             ORDER BY time_ms, logid LIMIT ?"
        );
        let mut query = q(sql).bind(source).bind(STATE_UNSCORED);
        for h in hosts {
            query = query.bind(h.clone());
        }
        let ids: Vec<i64> = query
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.target)
            .await
            .map_err(Fail::Target)?
            .iter()
            .map(|r| r.try_get::<i64, _>(0))
            .collect::<Result<_, _>>()
            .map_err(Fail::Target)?;
        let mut found = self.fetch(source, &info, &ids).await?;
        let mut batch = Batch::default();
        let mut gone = Vec::new();
        for id in &ids {
            match found.remove(id) {
                Some(Ok(r)) => batch.records.push(r),
                Some(Err(m)) => batch.malformed.push(m),
                None => gone.push(*id),
            }
        }
        if !gone.is_empty() {
            // Deleted from the input: never returned again, so they cannot fill batches.
            q(
                "UPDATE lad_records r JOIN JSON_TABLE(?, '$[*]' COLUMNS (k BIGINT PATH '$')) j \
               ON r.logid = j.k SET r.state = ? WHERE r.source = ? AND r.state = ?"
                    .into(),
            )
            .bind(ids_json(&gone))
            .bind(STATE_GONE)
            .bind(source)
            .bind(STATE_UNSCORED)
            .execute(&self.target)
            .await
            .map_err(Fail::Target)?;
        }
        Ok(batch)
    }

    async fn ensure_anomaly_table(&mut self, table: &str) -> Res<()> {
        if self.created.contains(table) {
            return Ok(());
        }
        let ddl = format!(
            "CREATE TABLE IF NOT EXISTS {} (
                logid BIGINT NOT NULL PRIMARY KEY,
                message LONGTEXT NOT NULL,
                time DATETIME(3) NOT NULL,
                host VARCHAR(255) NOT NULL,
                anomaly_score DOUBLE NOT NULL,
                aggr_msg_id BIGINT NULL,
                KEY lad_time (time),
                KEY lad_aggr (aggr_msg_id)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            quote(table)
        );
        self.target
            .execute(AssertSqlSafe(ddl))
            .await
            .map_err(Fail::Target)?;
        self.created.insert(table.to_owned());
        Ok(())
    }

    async fn write_verdicts(&mut self, source: &str, verdicts: &[Verdict]) -> Res<usize> {
        if verdicts.is_empty() {
            return Ok(0);
        }
        // Records returned by next_unscored are mirrored already; this catches any that were not.
        let info = self.sync(source, false).await?;
        let anomaly_table = self.anomaly_table(source)?;
        let anomalous: Vec<i64> = verdicts
            .iter()
            .filter(|v| v.is_anomaly)
            .filter_map(|v| match v.id {
                RecordId::Int(n) => Some(n),
                _ => None,
            })
            .collect();
        // Rows to copy into the anomaly table, read before the target transaction (the input
        // may be another server).
        let mut rows = HashMap::new();
        if let (Some(info), false) = (&info, anomalous.is_empty()) {
            rows = self.fetch(source, info, &anomalous).await?;
            self.ensure_anomaly_table(&anomaly_table).await?;
        }
        let all: Vec<Value> = verdicts
            .iter()
            .filter_map(|v| match v.id {
                RecordId::Int(n) => Some(json!([n, i64::from(v.is_anomaly), v.score])),
                _ => None,
            })
            .collect();
        let mut tx = self.target.begin().await.map_err(Fail::Target)?;
        let ids: Vec<i64> = verdicts
            .iter()
            .filter_map(|v| match v.id {
                RecordId::Int(n) => Some(n),
                _ => None,
            })
            .collect();
        let fresh: HashSet<i64> = q("SELECT r.logid FROM lad_records r \
              JOIN JSON_TABLE(?, '$[*]' COLUMNS (k BIGINT PATH '$')) j ON r.logid = j.k \
              WHERE r.source = ? AND r.state = ? FOR UPDATE"
            .into())
        .bind(ids_json(&ids))
        .bind(source)
        .bind(STATE_UNSCORED)
        .fetch_all(&mut *tx)
        .await
        .map_err(Fail::Target)?
        .iter()
        .map(|r| r.try_get::<i64, _>(0))
        .collect::<Result<_, _>>()
        .map_err(Fail::Target)?;
        let written = q("UPDATE lad_records r JOIN JSON_TABLE(?, '$[*]' COLUMNS \
              (k BIGINT PATH '$[0]', a TINYINT PATH '$[1]', s DOUBLE PATH '$[2]')) j ON r.logid = j.k \
              SET r.state = IF(j.a = 1, ?, ?), r.anomaly_score = j.s \
              WHERE r.source = ? AND r.state = ?"
            .into())
        .bind(Value::Array(all).to_string())
        .bind(STATE_ANOMALY)
        .bind(STATE_NORMAL)
        .bind(source)
        .bind(STATE_UNSCORED)
        .execute(&mut *tx)
        .await
        .map_err(Fail::Target)?
        .rows_affected();
        let mut inserts: Vec<(&Record, f64)> = Vec::new();
        let mut seen = HashSet::new();
        for v in verdicts.iter().filter(|v| v.is_anomaly) {
            if let RecordId::Int(n) = v.id {
                if fresh.contains(&n) && seen.insert(n) {
                    if let Some(Ok(r)) = rows.get(&n) {
                        inserts.push((r, v.score));
                    }
                }
            }
        }
        for chunk in inserts.chunks(INSERT_CHUNK) {
            let row_sql = format!("(?, ?, {FROM_MICROS}, ?, ?)");
            let sql = format!(
                "INSERT IGNORE INTO {} (logid, message, time, host, anomaly_score) VALUES {}",
                quote(&anomaly_table),
                vec![row_sql.as_str(); chunk.len()].join(", ")
            );
            let mut query = q(sql);
            for (r, score) in chunk {
                let id = match r.id {
                    RecordId::Int(n) => n,
                    _ => continue,
                };
                query = query
                    .bind(id)
                    .bind(r.message.clone())
                    .bind(micros(r.time))
                    .bind(r.host.clone())
                    .bind(*score);
            }
            query.execute(&mut *tx).await.map_err(Fail::Target)?;
        }
        tx.commit().await.map_err(Fail::Target)?;
        Ok(usize::try_from(written).unwrap_or(usize::MAX))
    }

    async fn anomalies(
        &mut self,
        source: &str,
        from_ms: i64,
        to_ms: i64,
        max: usize,
    ) -> Res<Vec<Anomaly>> {
        let Some(info) = self.table(source).await? else {
            return Ok(Vec::new());
        };
        let rows = q(
            "SELECT r.logid, r.anomaly_score, l.aggr_msg_id FROM lad_records r \
                      LEFT JOIN lad_links l ON l.source = r.source AND l.logid = r.logid \
                      WHERE r.source = ? AND r.state = ? AND r.time_ms >= ? AND r.time_ms < ? \
                      ORDER BY r.time_ms DESC, r.logid DESC LIMIT ?"
                .into(),
        )
        .bind(source)
        .bind(STATE_ANOMALY)
        .bind(from_ms)
        .bind(to_ms)
        .bind(i64::try_from(max).unwrap_or(i64::MAX))
        .fetch_all(&self.target)
        .await
        .map_err(Fail::Target)?;
        let marks = rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get::<i64, _>(0)?,
                    r.try_get::<Option<f64>, _>(1)?,
                    r.try_get::<Option<i64>, _>(2)?,
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(Fail::Target)?;
        let ids: Vec<i64> = marks.iter().map(|m| m.0).collect();
        let mut found = self.fetch(source, &info, &ids).await?;
        let mut out = Vec::with_capacity(marks.len());
        for (id, score, aggregate) in marks.into_iter().rev() {
            // A row that was scored was readable when scored; one that no longer is is skipped.
            if let Some(Ok(record)) = found.remove(&id) {
                out.push(Anomaly {
                    record,
                    score: score.unwrap_or(f64::NAN),
                    aggregate_id: aggregate.map(RecordId::Int),
                });
            }
        }
        Ok(out)
    }

    async fn ensure_aggregate_table(&mut self, table: &str) -> Res<()> {
        if self.created.contains(table) {
            return Ok(());
        }
        let ddl = format!(
            "CREATE TABLE IF NOT EXISTS {} (
                aggr_msg_id BIGINT NOT NULL PRIMARY KEY,
                message LONGTEXT NOT NULL,
                total_logs BIGINT NOT NULL,
                average_datetime DATETIME(3) NOT NULL,
                hostname VARCHAR(255) NOT NULL,
                average_anomaly_score DOUBLE NOT NULL,
                was_added_at DATETIME(3) NOT NULL
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            quote(table)
        );
        self.target
            .execute(AssertSqlSafe(ddl))
            .await
            .map_err(Fail::Target)?;
        self.created.insert(table.to_owned());
        Ok(())
    }

    async fn write_aggregates(
        &mut self,
        input_source: &str,
        target: &str,
        drafts: &[AggregateDraft],
        members: &[Vec<i64>],
    ) -> Res<Vec<Option<RecordId>>> {
        self.ensure_aggregate_table(target).await?;
        let anomaly_table = self.anomaly_table(input_source)?;
        self.ensure_anomaly_table(&anomaly_table).await?;
        let mut tx = self.target.begin().await.map_err(Fail::Target)?;
        q("INSERT IGNORE INTO lad_counters (name, value) VALUES ('aggr_msg_id', 0)".into())
            .execute(&mut *tx)
            .await
            .map_err(Fail::Target)?;
        let mut out = Vec::with_capacity(drafts.len());
        for (draft, ids) in drafts.iter().zip(members) {
            let current: HashMap<i64, Option<i64>> =
                q("SELECT r.logid, l.aggr_msg_id FROM lad_records r \
                  JOIN JSON_TABLE(?, '$[*]' COLUMNS (k BIGINT PATH '$')) j ON r.logid = j.k \
                  LEFT JOIN lad_links l ON l.source = r.source AND l.logid = r.logid \
                  WHERE r.source = ? FOR UPDATE"
                    .into())
                .bind(ids_json(ids))
                .bind(input_source)
                .fetch_all(&mut *tx)
                .await
                .map_err(Fail::Target)?
                .iter()
                .map(|r| Ok((r.try_get::<i64, _>(0)?, r.try_get::<Option<i64>, _>(1)?)))
                .collect::<Result<_, sqlx::Error>>()
                .map_err(Fail::Target)?;
            let mut free = Vec::new();
            for (id, rid) in ids.iter().zip(&draft.member_ids) {
                match current.get(id) {
                    None => {
                        return Err(Fail::Store(invalid(
                            rid,
                            "write aggregates",
                            format!("no scored record with this key in source {input_source:?}"),
                        )))
                    }
                    Some(None) if !free.contains(id) => free.push(*id),
                    Some(_) => {}
                }
            }
            if free.is_empty() {
                out.push(None);
                continue;
            }
            let counter: i64 =
                q("SELECT value FROM lad_counters WHERE name = 'aggr_msg_id' FOR UPDATE".into())
                    .fetch_one(&mut *tx)
                    .await
                    .and_then(|r| r.try_get(0))
                    .map_err(Fail::Target)?;
            let table_max: Option<i64> =
                q(format!("SELECT MAX(aggr_msg_id) FROM {}", quote(target)))
                    .fetch_one(&mut *tx)
                    .await
                    .and_then(|r| r.try_get(0))
                    .map_err(Fail::Target)?;
            let id = counter.max(table_max.unwrap_or(0)) + 1;
            q("UPDATE lad_counters SET value = ? WHERE name = 'aggr_msg_id'".into())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(Fail::Target)?;
            q(format!(
                "INSERT INTO {} (aggr_msg_id, message, total_logs, average_datetime, hostname, \
                 average_anomaly_score, was_added_at) VALUES (?, ?, ?, {FROM_MICROS}, ?, ?, {FROM_MICROS})",
                quote(target)
            ))
            .bind(id)
            .bind(&draft.message)
            .bind(i64::try_from(draft.total_logs).unwrap_or(i64::MAX))
            .bind(micros(draft.average_time_ms))
            .bind(&draft.most_frequent_hostname)
            .bind(draft.average_anomaly_score)
            .bind(micros(draft.was_added_at_ms))
            .execute(&mut *tx)
            .await
            .map_err(Fail::Target)?;
            q(
                "INSERT INTO lad_aggregates (target, aggr_msg_id, input_source) VALUES (?, ?, ?)"
                    .into(),
            )
            .bind(target)
            .bind(id)
            .bind(input_source)
            .execute(&mut *tx)
            .await
            .map_err(Fail::Target)?;
            q("INSERT IGNORE INTO lad_links (source, logid, aggr_msg_id) \
                 SELECT ?, j.k, ? FROM JSON_TABLE(?, '$[*]' COLUMNS (k BIGINT PATH '$')) j"
                .into())
            .bind(input_source)
            .bind(id)
            .bind(ids_json(&free))
            .execute(&mut *tx)
            .await
            .map_err(Fail::Target)?;
            q(format!(
                "UPDATE {} a JOIN JSON_TABLE(?, '$[*]' COLUMNS (k BIGINT PATH '$')) j \
                 ON a.logid = j.k SET a.aggr_msg_id = ? WHERE a.aggr_msg_id IS NULL",
                quote(&anomaly_table)
            ))
            .bind(ids_json(&free))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(Fail::Target)?;
            out.push(Some(RecordId::Int(id)));
        }
        tx.commit().await.map_err(Fail::Target)?;
        Ok(out)
    }

    async fn aggregates(&mut self, input_source: Option<&str>) -> Res<Vec<Aggregate>> {
        let index = q(
            "SELECT target, aggr_msg_id, input_source FROM lad_aggregates \
                       WHERE ? IS NULL OR input_source = ? ORDER BY aggr_msg_id"
                .into(),
        )
        .bind(input_source)
        .bind(input_source)
        .fetch_all(&self.target)
        .await
        .map_err(Fail::Target)?
        .iter()
        .map(|r| {
            Ok((
                r.try_get::<String, _>(0)?,
                r.try_get::<i64, _>(1)?,
                r.try_get::<String, _>(2)?,
            ))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(Fail::Target)?;
        let mut by_target: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for (t, id, _) in &index {
            by_target.entry(t).or_default().push(*id);
        }
        let mut drafts: HashMap<(String, i64), AggregateDraft> = HashMap::new();
        for (target, ids) in by_target {
            validate_identifier(target, "MYSQL_TARGET_TABLES (as stored in lad_aggregates)")?;
            let sql = format!(
                "SELECT a.aggr_msg_id, a.message, a.total_logs, {}, a.hostname, a.average_anomaly_score, {} \
                 FROM {} a JOIN JSON_TABLE(?, '$[*]' COLUMNS (k BIGINT PATH '$')) j ON a.aggr_msg_id = j.k",
                time_ms_sql("a.average_datetime"),
                time_ms_sql("a.was_added_at"),
                quote(target)
            );
            let rows = q(sql)
                .bind(ids_json(&ids))
                .fetch_all(&self.target)
                .await
                .map_err(Fail::Target)?;
            for r in &rows {
                let d = (|| {
                    Ok::<_, sqlx::Error>((
                        r.try_get::<i64, _>(0)?,
                        AggregateDraft {
                            message: r.try_get(1)?,
                            total_logs: u64::try_from(r.try_get::<i64, _>(2)?).unwrap_or(0),
                            average_time_ms: r.try_get::<Option<i64>, _>(3)?.unwrap_or(0),
                            most_frequent_hostname: r.try_get(4)?,
                            average_anomaly_score: r.try_get(5)?,
                            was_added_at_ms: r.try_get::<Option<i64>, _>(6)?.unwrap_or(0),
                            member_ids: Vec::new(),
                        },
                    ))
                })()
                .map_err(Fail::Target)?;
                drafts.insert((target.to_owned(), d.0), d.1);
            }
        }
        let mut out = Vec::with_capacity(index.len());
        for (target, id, source) in index {
            let Some(mut draft) = drafts.remove(&(target.clone(), id)) else {
                continue; // deleted from the target table by someone else
            };
            draft.member_ids = q(
                "SELECT logid FROM lad_links WHERE source = ? AND aggr_msg_id = ? ORDER BY logid"
                    .into(),
            )
            .bind(&source)
            .bind(id)
            .fetch_all(&self.target)
            .await
            .map_err(Fail::Target)?
            .iter()
            .map(|r| r.try_get::<i64, _>(0).map(RecordId::Int))
            .collect::<Result<_, _>>()
            .map_err(Fail::Target)?;
            out.push(Aggregate {
                id: RecordId::Int(id),
                input_source: source,
                target,
                draft,
            });
        }
        Ok(out)
    }

    async fn list_sources(&mut self) -> Res<Vec<String>> {
        let mut all: BTreeSet<String> = self.config.sources.iter().cloned().collect();
        let rows = q("SELECT source FROM lad_sources".into())
            .fetch_all(&self.target)
            .await
            .map_err(Fail::Target)?;
        for r in &rows {
            all.insert(r.try_get::<String, _>(0).map_err(Fail::Target)?);
        }
        Ok(all.into_iter().collect())
    }

    async fn hosts(&mut self, source: &str) -> Res<Vec<String>> {
        let Some(info) = self.table(source).await? else {
            return Ok(Vec::new());
        };
        let host = quote(&self.config.fields.host);
        let sql = format!(
            "SELECT DISTINCT {host} FROM {} WHERE {host} IS NOT NULL",
            info.table
        );
        let rows = q(sql).fetch_all(&self.input).await.map_err(Fail::Input)?;
        let mut hosts = BTreeSet::new();
        for r in &rows {
            if let Some(Ok(h)) = r
                .try_get::<Option<Vec<u8>>, _>(0)
                .map_err(Fail::Input)?
                .map(String::from_utf8)
            {
                hosts.insert(h);
            }
        }
        Ok(hosts.into_iter().collect())
    }

    async fn export_page(
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
    async fn export_source(
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

/// Inserts `(key, host, time)` rows into `lad_records` as unscored, leaving existing ones alone.
async fn mirror(
    tx: &mut sqlx::Transaction<'_, MySql>,
    source: &str,
    rows: &[(i64, Option<String>, Option<i64>)],
) -> Res<()> {
    for chunk in rows.chunks(SCAN_CHUNK as usize) {
        let mut doc = String::with_capacity(chunk.len() * 40);
        doc.push('[');
        for (i, (id, host, time)) in chunk.iter().enumerate() {
            if i > 0 {
                doc.push(',');
            }
            let _ = write!(doc, "{}", json!([id, host, time]));
        }
        doc.push(']');
        q(
            "INSERT IGNORE INTO lad_records (source, logid, host, time_ms, state) \
           SELECT ?, j.k, j.h, j.t, ? FROM JSON_TABLE(?, '$[*]' COLUMNS \
           (k BIGINT PATH '$[0]', h VARCHAR(255) PATH '$[1]', t BIGINT PATH '$[2]')) j"
                .into(),
        )
        .bind(source)
        .bind(STATE_UNSCORED)
        .bind(doc)
        .execute(&mut **tx)
        .await
        .map_err(Fail::Target)?;
    }
    Ok(())
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
