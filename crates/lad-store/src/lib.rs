//! `lad-store` is the storage contract of lad and its backends. It knows nothing of models or
//! of the YAML config: the binary fills plain config structs ([`BackendConfig`]) and gets a
//! [`Store`], a closed enum of backends dispatched by `match` (`sqlite`, `local`, `stdout`,
//! `mg` for MongoDB, `mysql` for MySQL and MariaDB, `es` for Elasticsearch and OpenSearch).
//!
//! # Roles
//!
//! The contract is split into roles ([`roles`]), each a trait a backend implements when it can:
//! [`RecordSource`] (next unscored batch, acknowledge, malformed marks, sources, hosts, backlog),
//! [`TrainingReader`] (training windows), [`VerdictSink`] (verdicts and aggregates),
//! [`StateStore`] (anomalies, aggregates, feedback), [`IncidentStore`] (incidents and the links
//! of anomalies to them) and [`RecordArchive`] (import, export). The
//! databases and `local` have every role; `stdout` is only a [`VerdictSink`]. [`Store`] keeps
//! one method per operation and dispatches it by `match`; asking a backend for a role it lacks
//! gives [`StoreError::Unsupported`].
//!
//! # Features
//!
//! `sqlite`, `local` and `stdout` are always built; `mongo`, `mysql` and `es` (all on by
//! default) add the network drivers. `test-support` adds the conformance suite, the MongoDB test server
//! and raw-SQL hooks for the test crates; a normal build has none of them.
//!
//! # The contract
//!
//! - Records ([`Record`]) have a backend id ([`RecordId`]), a source, a host, a time in unix
//!   milliseconds UTC and a message; every other field is kept in `extra` and never lost.
//! - Reads return a [`Batch`]: good records plus [`Malformed`] reports for records that cannot be
//!   read (missing or wrongly typed field, invalid UTF-8, a message over [`MAX_MESSAGE_BYTES`]).
//!   A malformed record never blocks the ones behind it; the caller marks it with
//!   [`RecordSource::mark_malformed`] and it is not returned again.
//! - "Unscored" means "has no verdict and is not marked malformed", never "newer than a cursor":
//!   a record inserted late with an old time is still found, oldest first, in (time, id) order.
//! - [`VerdictSink::write_verdicts`] writes a batch at once and is idempotent: the first verdict on a
//!   record stands, writing it again changes nothing, so each record is scored exactly once.
//! - Time windows are half-open, `[from_ms, to_ms)`; capped reads keep the newest records and
//!   return them oldest first.
//! - Aggregation: [`StateStore::anomalies`] returns anomalies with the aggregate they are linked
//!   to; [`VerdictSink::write_aggregates`] links each member to its new aggregate, but never re-links a
//!   record already linked (the first aggregate wins), and does not create an aggregate whose
//!   members are all linked already. So re-running aggregation over the same window creates no
//!   duplicates; the aggregator should pass only anomalies with `aggregate_id == None`.
//! - Sinks (`stdout`) implement only [`VerdictSink`]; reads return [`StoreError::Unsupported`].
//!
//! The shared conformance suite (`conformance`, with the `test-support` feature) checks all this
//! role by role, for every backend that has the role.
//!
//! Input formats (JSON Lines, mongoexport arrays, syslog text) are parsed by [`parse`], times by
//! [`timefmt`]; both are public for `lad import`.

pub mod codec;
#[cfg(feature = "test-support")]
#[doc(hidden)]
pub mod conformance;
mod error;
#[cfg(feature = "es")]
pub mod es;
mod feedback;
pub mod incident;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod local;
#[cfg(feature = "mongo")]
pub mod mongo;
#[cfg(feature = "mysql")]
pub mod mysql;
pub mod parse;
pub mod record;
pub mod retry;
pub mod roles;
pub mod sqlite;
pub mod stdout;
pub mod timefmt;

pub use error::StoreError;
#[cfg(feature = "es")]
pub use es::{EsConfig, EsStore};
pub use incident::{IncidentLink, IncidentQuery, StoredIncident};
#[cfg(feature = "kafka")]
pub use kafka::{KafkaConfig, KafkaSecurity, KafkaStore, VerdictSelection};
pub use local::{LocalConfig, LocalStore};
#[cfg(feature = "mongo")]
pub use mongo::{MongoConfig, MongoStore};
#[cfg(feature = "mysql")]
pub use mysql::{MysqlConfig, MysqlEndpoint, MysqlStore, MysqlTls};
pub use record::*;
pub use roles::{
    IncidentStore, RecordArchive, RecordSource, StateStore, TrainingReader, VerdictSink,
};
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
    #[cfg(feature = "mysql")]
    Mysql(Box<MysqlConfig>),
    /// MongoDB (`mg`).
    #[cfg(feature = "mongo")]
    Mongo(MongoConfig),
    /// Elasticsearch or OpenSearch (`es`).
    #[cfg(feature = "es")]
    Es(Box<EsConfig>),
    /// Kafka topics (boxed: its settings are much larger than the others').
    #[cfg(feature = "kafka")]
    Kafka(Box<KafkaConfig>),
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
    #[cfg(feature = "mysql")]
    Mysql(Box<MysqlStore>),
    /// See [`MongoStore`] (boxed: it is much larger than the others).
    #[cfg(feature = "mongo")]
    Mongo(Box<MongoStore>),
    /// See [`EsStore`] (boxed: it is much larger than the others).
    #[cfg(feature = "es")]
    Es(Box<EsStore>),
    /// See [`KafkaStore`] (boxed: it holds clients and buffers).
    #[cfg(feature = "kafka")]
    Kafka(Box<KafkaStore>),
}

/// Calls a role's method on whichever backend has the role; a sink answers `Unsupported` for
/// the roles it lacks (every role but [`VerdictSink`]).
macro_rules! dispatch {
    ($self:ident, $role:ident, $op:literal, $method:ident ( $($arg:expr),* )) => {
        match $self {
            Store::Sqlite(s) => $role::$method(s, $($arg),*),
            Store::Local(s) => $role::$method(&mut **s, $($arg),*),
            Store::Stdout(_) => Err(StoreError::unsupported("stdout", $op)),
            #[cfg(feature = "mysql")]
            Store::Mysql(s) => $role::$method(&mut **s, $($arg),*),
            #[cfg(feature = "mongo")]
            Store::Mongo(s) => $role::$method(&mut **s, $($arg),*),
            #[cfg(feature = "es")]
            Store::Es(s) => $role::$method(&mut **s, $($arg),*),
            #[cfg(feature = "kafka")]
            Store::Kafka(s) => $role::$method(&mut **s, $($arg),*),
        }
    };
}

/// Calls a [`VerdictSink`] method, which every backend has.
macro_rules! dispatch_sink {
    ($self:ident, $method:ident ( $($arg:expr),* )) => {
        match $self {
            Store::Sqlite(s) => VerdictSink::$method(s, $($arg),*),
            Store::Local(s) => VerdictSink::$method(&mut **s, $($arg),*),
            Store::Stdout(s) => VerdictSink::$method(s, $($arg),*),
            #[cfg(feature = "mysql")]
            Store::Mysql(s) => VerdictSink::$method(&mut **s, $($arg),*),
            #[cfg(feature = "mongo")]
            Store::Mongo(s) => VerdictSink::$method(&mut **s, $($arg),*),
            #[cfg(feature = "es")]
            Store::Es(s) => VerdictSink::$method(&mut **s, $($arg),*),
            #[cfg(feature = "kafka")]
            Store::Kafka(s) => VerdictSink::$method(&mut **s, $($arg),*),
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
            #[cfg(feature = "mysql")]
            BackendConfig::Mysql(c) => Store::Mysql(Box::new(MysqlStore::open(c)?)),
            #[cfg(feature = "mongo")]
            BackendConfig::Mongo(c) => Store::Mongo(Box::new(MongoStore::open(c)?)),
            #[cfg(feature = "es")]
            BackendConfig::Es(c) => Store::Es(Box::new(EsStore::open(c)?)),
            #[cfg(feature = "kafka")]
            BackendConfig::Kafka(c) => Store::Kafka(Box::new(KafkaStore::open(c)?)),
        })
    }

    /// Why this backend cannot import `record` as it is, or `None`: a per-record limit of
    /// its storage (MySQL's 255-character host names and its DATETIME years, MongoDB's 16 MiB
    /// documents, Elasticsearch's 512-byte ids). `lad import` asks before sending a record, so
    /// such a record is one invalid line (skipped with `--skip-invalid`), never a whole import
    /// refused. SQLite and the local files take any record.
    pub fn import_limit(&self, record: &NewRecord) -> Option<String> {
        // Read only by the drivers' arms; a build without them takes any record.
        let _ = record;
        match self {
            #[cfg(feature = "mysql")]
            Store::Mysql(_) => mysql::import_limit(record),
            #[cfg(feature = "mongo")]
            Store::Mongo(s) => s.import_limit(record),
            #[cfg(feature = "es")]
            Store::Es(_) => es::import_limit(record),
            _ => None,
        }
    }

    /// The backend's name as in `STORAGE_DATASOURCE`.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Local(_) => "local",
            Store::Stdout(_) => "stdout",
            #[cfg(feature = "mysql")]
            Store::Mysql(_) => "mysql",
            #[cfg(feature = "mongo")]
            Store::Mongo(_) => "mg",
            #[cfg(feature = "es")]
            Store::Es(_) => "es",
            #[cfg(feature = "kafka")]
            Store::Kafka(_) => "kafka",
        }
    }

    /// True for a stream source (Kafka): its hosts are those of the partitions it is given now,
    /// which a rebalance changes, and acknowledging commits its position.
    pub fn is_stream(&self) -> bool {
        match self {
            #[cfg(feature = "kafka")]
            Store::Kafka(_) => true,
            _ => false,
        }
    }

    /// True for write-only sinks, which have only the [`VerdictSink`] role.
    pub fn is_sink(&self) -> bool {
        matches!(self, Store::Stdout(_))
    }

    /// Things the backend did that the operator should hear about (an index created or refused,
    /// times read from strings instead of dates), taken once; lad-store has no logger, so the
    /// binary logs them.
    pub fn take_notices(&mut self) -> Vec<String> {
        match self {
            #[cfg(feature = "mongo")]
            Store::Mongo(s) => s.take_notices(),
            #[cfg(feature = "es")]
            Store::Es(s) => s.take_notices(),
            #[cfg(feature = "mysql")]
            Store::Mysql(s) => s.take_notices(),
            _ => Vec::new(),
        }
    }

    /// See [`VerdictSink::write_verdicts`].
    pub fn write_verdicts(
        &mut self,
        source: &str,
        verdicts: &[Verdict],
        records: &[Record],
    ) -> Result<usize, StoreError> {
        dispatch_sink!(self, write_verdicts(source, verdicts, records))
    }

    /// See [`VerdictSink::write_aggregates`].
    pub fn write_aggregates(
        &mut self,
        input_source: &str,
        target: &str,
        drafts: &[AggregateDraft],
    ) -> Result<Vec<Option<RecordId>>, StoreError> {
        dispatch_sink!(self, write_aggregates(input_source, target, drafts))
    }
}

/// Writes one `Store` method per line of its table: the role, the operation's name for
/// [`StoreError::Unsupported`], and the signature, which is the role method's.
macro_rules! role_methods {
    ($( $role:ident $op:literal fn $name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty; )*) => {
        impl Store {
            $(
                #[doc = concat!("See [`", stringify!($role), "::", stringify!($name), "`].")]
                pub fn $name(&mut self $(, $arg: $ty)*) -> Result<$ret, StoreError> {
                    dispatch!(self, $role, $op, $name($($arg),*))
                }
            )*
        }
    };
}

role_methods! {
    RecordSource "read unscored records"
        fn next_unscored(source: &str, hosts: &[String], limit: usize) -> Batch;
    RecordSource "acknowledge records" fn acknowledge(source: &str, ids: &[RecordId]) -> ();
    RecordSource "mark a record malformed"
        fn mark_malformed(source: &str, id: &RecordId, reason: &str) -> ();
    RecordSource "list sources" fn list_sources() -> Vec<String>;
    RecordSource "list hosts" fn hosts(source: &str) -> Vec<String>;
    RecordSource "count unscored records" fn unscored_count(source: &str) -> u64;
    RecordSource "find the oldest unscored record"
        fn oldest_unscored_time(source: &str) -> Option<i64>;
    TrainingReader "read a training window"
        fn training_window(source: &str, host: &str, from_ms: i64, to_ms: i64, max: usize) -> Batch;
    StateStore "read anomalies"
        fn anomalies(source: &str, from_ms: i64, to_ms: i64, max: usize) -> Vec<Anomaly>;
    StateStore "read aggregates" fn aggregates(input_source: Option<&str>) -> Vec<Aggregate>;
    StateStore "add feedback" fn add_feedback(mark: &NewFeedback) -> i64;
    StateStore "list feedback"
        fn list_feedback(source: Option<&str>, include_undone: bool) -> Vec<Feedback>;
    StateStore "undo feedback" fn undo_feedback(id: i64, at_ms: i64) -> bool;
    RecordArchive "import" fn import(source: &str, records: &[NewRecord]) -> ImportSummary;
    RecordArchive "export records"
        fn export_page(source: Option<&str>, cursor: Option<ExportCursor>, limit: usize) -> ExportPage;
}

/// Calls an [`IncidentStore`] method on the backends that have the role; every other backend
/// (the `stdout` sink, and any backend added without it) answers `Unsupported`.
macro_rules! dispatch_incidents {
    ($self:ident, $op:literal, $method:ident ( $($arg:expr),* )) => {
        match $self {
            Store::Sqlite(s) => IncidentStore::$method(s, $($arg),*),
            Store::Local(s) => IncidentStore::$method(&mut **s, $($arg),*),
            #[cfg(feature = "mysql")]
            Store::Mysql(s) => IncidentStore::$method(&mut **s, $($arg),*),
            #[cfg(feature = "mongo")]
            Store::Mongo(s) => IncidentStore::$method(&mut **s, $($arg),*),
            #[cfg(feature = "es")]
            Store::Es(s) => IncidentStore::$method(&mut **s, $($arg),*),
            #[allow(unreachable_patterns)]
            other => Err(StoreError::unsupported(other.backend(), $op)),
        }
    };
}

impl Store {
    /// Whether the backend keeps incidents ([`IncidentStore`]).
    pub fn has_incidents(&self) -> bool {
        match self {
            Store::Sqlite(_) | Store::Local(_) => true,
            #[cfg(feature = "mysql")]
            Store::Mysql(_) => true,
            #[cfg(feature = "mongo")]
            Store::Mongo(_) => true,
            #[cfg(feature = "es")]
            Store::Es(_) => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// See [`IncidentStore::write_incidents`].
    pub fn write_incidents(
        &mut self,
        incidents: &[StoredIncident],
        links: &[IncidentLink],
    ) -> Result<(), StoreError> {
        dispatch_incidents!(self, "write incidents", write_incidents(incidents, links))
    }

    /// See [`IncidentStore::incidents`].
    pub fn incidents(&mut self, query: &IncidentQuery) -> Result<Vec<StoredIncident>, StoreError> {
        dispatch_incidents!(self, "read incidents", incidents(query))
    }

    /// See [`IncidentStore::incident`].
    pub fn incident(&mut self, id: &str) -> Result<Option<StoredIncident>, StoreError> {
        dispatch_incidents!(self, "read an incident", incident(id))
    }

    /// See [`IncidentStore::incident_links`].
    pub fn incident_links(
        &mut self,
        source: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<IncidentLink>, StoreError> {
        dispatch_incidents!(
            self,
            "read incident links",
            incident_links(source, from_ms, to_ms)
        )
    }
}
