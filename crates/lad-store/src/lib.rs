//! `lad-store` is the storage contract of lad and its backends. It knows nothing of models or
//! of the YAML config: the binary fills plain config structs ([`BackendConfig`]) and gets a
//! [`Store`], a closed enum of backends dispatched by `match` (`sqlite`, `local`, `stdout`,
//! `mg` for MongoDB, `mysql` for MySQL and MariaDB).
//!
//! # The contract
//!
//! - Records ([`Record`]) have a backend id ([`RecordId`]), a source, a host, a time in unix
//!   milliseconds UTC and a message; every other field is kept in `extra` and never lost.
//! - Reads return a [`Batch`]: good records plus [`Malformed`] reports for records that cannot be
//!   read (missing or wrongly typed field, invalid UTF-8, a message over [`MAX_MESSAGE_BYTES`]).
//!   A malformed record never blocks the ones behind it; the caller marks it with
//!   [`Store::mark_malformed`] and it is not returned again.
//! - "Unscored" means "has no verdict and is not marked malformed", never "newer than a cursor":
//!   a record inserted late with an old time is still found, oldest first, in (time, id) order.
//! - [`Store::write_verdicts`] writes a batch at once and is idempotent: the first verdict on a
//!   record stands, writing it again changes nothing, so each record is scored exactly once.
//! - Time windows are half-open, `[from_ms, to_ms)`; capped reads keep the newest records and
//!   return them oldest first.
//! - Aggregation: [`Store::anomalies`] returns anomalies with the aggregate they are linked to;
//!   [`Store::write_aggregates`] links each member to its new aggregate, but never re-links a
//!   record already linked (the first aggregate wins), and does not create an aggregate whose
//!   members are all linked already. So re-running aggregation over the same window creates no
//!   duplicates; the aggregator should pass only anomalies with `aggregate_id == None`.
//! - Sinks (`stdout`) implement only the writes; reads return [`StoreError::Unsupported`].
//!
//! The shared conformance suite ([`conformance`], hidden from the docs) checks all this for every
//! backend; each backend's test file runs it through [`conformance_tests!`].
//!
//! Input formats (JSON Lines, mongoexport arrays, syslog text) are parsed by [`parse`], times by
//! [`timefmt`]; both are public for `lad import`.

#[doc(hidden)]
pub mod conformance;
mod error;
pub mod local;
pub mod mongo;
pub mod mysql;
pub mod parse;
pub mod record;
pub mod sqlite;
pub mod stdout;
pub mod timefmt;

pub use error::StoreError;
pub use local::{LocalConfig, LocalStore};
pub use mongo::{MongoConfig, MongoStore};
pub use mysql::{MysqlConfig, MysqlEndpoint, MysqlStore, MysqlTls};
pub use record::*;
pub use sqlite::{SqliteConfig, SqliteStore};
pub use stdout::{StdoutConfig, StdoutSink};

/// Which backend to open, with its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendConfig {
    /// The embedded sqlite database.
    Sqlite(SqliteConfig),
    /// Files.
    Local(LocalConfig),
    /// Standard output (a sink).
    Stdout(StdoutConfig),
    /// MySQL or MariaDB (boxed: two endpoints make it much larger than the others).
    Mysql(Box<MysqlConfig>),
    /// MongoDB (`mg`).
    Mongo(MongoConfig),
}

/// An open store: one of the backends.
#[derive(Debug)]
pub enum Store {
    /// See [`SqliteStore`].
    Sqlite(SqliteStore),
    /// See [`LocalStore`] (boxed: it is much larger than the others).
    Local(Box<LocalStore>),
    /// See [`StdoutSink`].
    Stdout(StdoutSink),
    /// See [`MysqlStore`] (boxed: it holds a runtime and two pools).
    Mysql(Box<MysqlStore>),
    /// See [`MongoStore`] (boxed: it is much larger than the others).
    Mongo(Box<MongoStore>),
}

/// Calls the same method on whichever backend; `stdout` answers `Unsupported`.
macro_rules! dispatch {
    ($self:ident, $op:literal, $method:ident ( $($arg:expr),* )) => {
        match $self {
            Store::Sqlite(s) => s.$method($($arg),*),
            Store::Local(s) => s.$method($($arg),*),
            Store::Stdout(_) => StdoutSink::unsupported($op),
            Store::Mysql(s) => s.$method($($arg),*),
            Store::Mongo(s) => s.$method($($arg),*),
        }
    };
}

impl Store {
    /// Opens the configured backend (creating the sqlite file or the output file if needed).
    pub fn open(config: &BackendConfig) -> Result<Store, StoreError> {
        Ok(match config {
            BackendConfig::Sqlite(c) => Store::Sqlite(SqliteStore::open(c)?),
            BackendConfig::Local(c) => Store::Local(Box::new(LocalStore::open(c)?)),
            BackendConfig::Stdout(c) => Store::Stdout(StdoutSink::open(c)),
            BackendConfig::Mysql(c) => Store::Mysql(Box::new(MysqlStore::open(c)?)),
            BackendConfig::Mongo(c) => Store::Mongo(Box::new(MongoStore::open(c)?)),
        })
    }

    /// The backend's name as in `STORAGE_DATASOURCE`.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Local(_) => "local",
            Store::Stdout(_) => "stdout",
            Store::Mysql(_) => "mysql",
            Store::Mongo(_) => "mg",
        }
    }

    /// True for write-only sinks, whose reads are `Unsupported`.
    pub fn is_sink(&self) -> bool {
        matches!(self, Store::Stdout(_))
    }

    /// Things the backend did that the operator should hear about (an index created or refused,
    /// times read from strings instead of dates), taken once; lad-store has no logger, so the
    /// binary logs them.
    pub fn take_notices(&mut self) -> Vec<String> {
        match self {
            Store::Mongo(s) => s.take_notices(),
            _ => Vec::new(),
        }
    }

    /// Adds records to `source`, skipping those whose `original_id` the source already has.
    pub fn import(
        &mut self,
        source: &str,
        records: &[NewRecord],
    ) -> Result<ImportSummary, StoreError> {
        dispatch!(self, "import", import(source, records))
    }

    /// The training window of (source, host): records with `from_ms <= time < to_ms`, the newest
    /// `max` of them, returned oldest first. Records marked malformed are left out.
    pub fn training_window(
        &mut self,
        source: &str,
        host: &str,
        from_ms: i64,
        to_ms: i64,
        max: usize,
    ) -> Result<Batch, StoreError> {
        dispatch!(
            self,
            "read a training window",
            training_window(source, host, from_ms, to_ms, max)
        )
    }

    /// Up to `limit` records of `source` with no verdict, oldest first in (time, id) order, from
    /// the given hosts (all hosts when `hosts` is empty), plus unmarked malformed records
    /// (counted in `limit`; those whose host cannot be read are returned for any host filter).
    pub fn next_unscored(
        &mut self,
        source: &str,
        hosts: &[String],
        limit: usize,
    ) -> Result<Batch, StoreError> {
        dispatch!(
            self,
            "read unscored records",
            next_unscored(source, hosts, limit)
        )
    }

    /// Writes verdicts in one transaction or batch; returns how many records got their first
    /// verdict (verdicts for already-scored records change nothing). `records` are the records the
    /// verdicts were computed for: sinks print anomalies from them, stores ignore them.
    pub fn write_verdicts(
        &mut self,
        source: &str,
        verdicts: &[Verdict],
        records: &[Record],
    ) -> Result<usize, StoreError> {
        match self {
            Store::Sqlite(s) => s.write_verdicts(source, verdicts),
            Store::Local(s) => s.write_verdicts(source, verdicts),
            Store::Stdout(s) => s.write_verdicts(source, verdicts, records),
            Store::Mysql(s) => s.write_verdicts(source, verdicts),
            Store::Mongo(s) => s.write_verdicts(source, verdicts),
        }
    }

    /// Marks a record malformed so it is no longer returned as unscored.
    pub fn mark_malformed(
        &mut self,
        source: &str,
        id: &RecordId,
        reason: &str,
    ) -> Result<(), StoreError> {
        dispatch!(
            self,
            "mark a record malformed",
            mark_malformed(source, id, reason)
        )
    }

    /// Anomalies of `source` with `from_ms <= time < to_ms`, the newest `max`, oldest first.
    pub fn anomalies(
        &mut self,
        source: &str,
        from_ms: i64,
        to_ms: i64,
        max: usize,
    ) -> Result<Vec<Anomaly>, StoreError> {
        dispatch!(
            self,
            "read anomalies",
            anomalies(source, from_ms, to_ms, max)
        )
    }

    /// Stores aggregates of `input_source`'s anomalies for `target` and links their members, in
    /// one transaction or batch. Per draft: the new aggregate's id, or `None` when every member was
    /// already linked (nothing created). Members already linked keep their first aggregate.
    pub fn write_aggregates(
        &mut self,
        input_source: &str,
        target: &str,
        drafts: &[AggregateDraft],
    ) -> Result<Vec<Option<RecordId>>, StoreError> {
        match self {
            Store::Sqlite(s) => s.write_aggregates(input_source, target, drafts),
            Store::Local(s) => s.write_aggregates(input_source, target, drafts),
            Store::Stdout(s) => s.write_aggregates(input_source, target, drafts),
            Store::Mysql(s) => s.write_aggregates(input_source, target, drafts),
            Store::Mongo(s) => s.write_aggregates(input_source, target, drafts),
        }
    }

    /// Stored aggregates (of one input source, or all) with their linked members, oldest first.
    pub fn aggregates(&mut self, input_source: Option<&str>) -> Result<Vec<Aggregate>, StoreError> {
        dispatch!(self, "read aggregates", aggregates(input_source))
    }

    /// A page of at most `limit` records (of one source, or all) in storage order, with verdicts and
    /// aggregate ids; start with `cursor = None` and pass `page.next` until it is `None`.
    pub fn export_page(
        &mut self,
        source: Option<&str>,
        cursor: Option<ExportCursor>,
        limit: usize,
    ) -> Result<ExportPage, StoreError> {
        dispatch!(self, "export records", export_page(source, cursor, limit))
    }

    /// The sources holding records.
    pub fn list_sources(&mut self) -> Result<Vec<String>, StoreError> {
        dispatch!(self, "list sources", list_sources())
    }

    /// The hosts of a source.
    pub fn hosts(&mut self, source: &str) -> Result<Vec<String>, StoreError> {
        dispatch!(self, "list hosts", hosts(source))
    }

    /// How many records of `source` have no verdict and no malformed mark.
    pub fn unscored_count(&mut self, source: &str) -> Result<u64, StoreError> {
        dispatch!(self, "count unscored records", unscored_count(source))
    }

    /// The time of the oldest readable unscored record of `source` (for the scoring-lag metric).
    pub fn oldest_unscored_time(&mut self, source: &str) -> Result<Option<i64>, StoreError> {
        dispatch!(
            self,
            "find the oldest unscored record",
            oldest_unscored_time(source)
        )
    }

    /// Stores a "not an anomaly" mark; returns its id.
    pub fn add_feedback(&mut self, mark: &NewFeedback) -> Result<i64, StoreError> {
        dispatch!(self, "add feedback", add_feedback(mark))
    }

    /// Feedback marks (of one source, or all), oldest first; undone ones only when asked.
    pub fn list_feedback(
        &mut self,
        source: Option<&str>,
        include_undone: bool,
    ) -> Result<Vec<Feedback>, StoreError> {
        dispatch!(self, "list feedback", list_feedback(source, include_undone))
    }

    /// Undoes a feedback mark; false when there was no active mark with that id.
    pub fn undo_feedback(&mut self, id: i64, at_ms: i64) -> Result<bool, StoreError> {
        dispatch!(self, "undo feedback", undo_feedback(id, at_ms))
    }
}
