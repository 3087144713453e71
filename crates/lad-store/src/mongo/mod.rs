//! The `mg` backend: the user's own MongoDB collections, through the official `mongodb` driver
//! (its synchronous API, rustls TLS). It owns connecting (SCRAM credentials, TLS with a CA file,
//! timeouts), reading records from documents and writing verdicts and aggregates onto them; it
//! must not retry or sleep: a server that is away gives [`StoreError::Unavailable`], whose
//! `is_transient()` tells the daemon to back off and try again.
//!
//! Schema (SPEC section 2, the old system's "MongoDB Schema Design"): a source is a collection of
//! `db`; a record is a document with `_id`, the message, time and host fields named by
//! [`FieldNames`]; the time is a BSON date (ISO strings and epoch numbers are read too, with a
//! notice, but only BSON dates match time-window queries, and mixed types sort in MongoDB's BSON
//! order, numbers before strings before dates). Verdicts are `$set` of `is_anomaly`
//! (int 0/1) and `anomaly_score` (double) on the document; aggregates are documents
//! `{_id: ObjectId, message, total_logs, average_datetime: date, average_anomaly_score,
//! most_frequent_hostname, was_added_at: date}` in the target collection of `target_db`, and
//! their members get `aggregated_message_id: ObjectId`. Nothing else in a document is touched.
//!
//! Bookkeeping of `lad` itself: `lad_malformed: reason` is `$set` on a document that cannot be
//! read, so it is not returned again; `lad_aggregate_targets` (in `target_db`) remembers which
//! input collection feeds which target; `lad_feedback` and `lad_counters` (in `db`) hold feedback.
//! Collections named `lad_*` or `system.*` are never listed as sources.
//!
//! Commands are restricted to the MongoDB 5.0 set: `find` (sort, limit), `update` with many
//! statements in one command (never the client-level `bulkWrite` of 8.0), `insert`,
//! `createIndexes`, `distinct`, `aggregate` (counts), `findAndModify`, `listCollections`, `ping`.
//! The test server, `secantusd-rs`, reports version 8.2, so it would accept newer commands: the
//! restriction is kept by this code, not checked by the tests.
//!
//! Indexes: on first use of a collection, `lad_host_time` `{host: 1, time: 1}` (training windows)
//! is created if the user has the right. No index serves "unscored": a partial index on
//! `is_anomaly: {$exists: false}` is refused by MongoDB 5.0 (`$exists: false` is not allowed in a
//! `partialFilterExpression`), and a plain `{is_anomaly: 1, time: 1, _id: 1}` index, measured on
//! the test server with 80,000 documents, made verdict writes 3x slower (every verdict rewrites its
//! entry) and reads no faster. What was created or refused is reported through
//! [`MongoStore::take_notices`].
//!
//! Files: this one holds the store, opening and the batched `update` command; `config` the
//! settings, `error` the error mapping, `codec` BSON to records and back, `read` the
//! [`RecordSource`](crate::RecordSource) and [`TrainingReader`](crate::TrainingReader) roles,
//! `write` the [`VerdictSink`](crate::VerdictSink), `state` the [`StateStore`](crate::StateStore),
//! `archive` the [`RecordArchive`](crate::RecordArchive), and `testserver` the test server
//! (feature `test-support`).

mod archive;
mod codec;
mod config;
mod error;
mod read;
mod state;
#[cfg(feature = "test-support")]
#[doc(hidden)]
pub mod testserver;
mod write;

use codec::*;
pub use config::MongoConfig;
use config::{check_ca_file, config_error};
use error::classify;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use bson::oid::ObjectId;
use bson::{doc, Bson, DateTime, Document, RawBsonRef, RawDocument, RawDocumentBuf};
use mongodb::error::{Error as MongoError, ErrorKind};
use mongodb::options::{ClientOptions, Credential, ServerAddress, Tls, TlsOptions};
use mongodb::sync::{Client, Collection, Database};
use serde_json::{Map, Value};

use crate::record::{
    check_message, Aggregate, AggregateDraft, Anomaly, Batch, ExportCursor, ExportPage, ExportRow,
    Feedback, FieldNames, ImportSummary, Malformed, NewFeedback, NewRecord, Record, RecordId,
    Verdict,
};
use crate::timefmt;
use crate::StoreError;

const BACKEND: &str = "mg";
/// The field `$set` on documents that cannot be read.
pub const MALFORMED_FIELD: &str = "lad_malformed";
const AGGREGATE_FIELD: &str = "aggregated_message_id";
const TARGETS: &str = "lad_aggregate_targets";
const FEEDBACK: &str = "lad_feedback";
const COUNTERS: &str = "lad_counters";
/// Statements per `update`/`insert` command: far under the server's 100,000, and with the byte cap
/// below far under the 16 MB message limit.
const MAX_STATEMENTS: usize = 10_000;
const MAX_COMMAND_BYTES: usize = 8 * 1024 * 1024;
/// Large updates are split into this many concurrent commands...
const PARALLEL_COMMANDS: usize = 4;
/// ...of at least this many statements each.
const MIN_PARALLEL_STATEMENTS: usize = 1_000;
/// Member ids per link statement of `write_aggregates` (keeps one statement well under 16 MB).
const MAX_IDS_PER_STATEMENT: usize = 50_000;
/// Records per statement of `write_verdicts` (see there for the measurements behind it).
const IDS_PER_VERDICT_STATEMENT: usize = 100;
/// Export cursors pack (source index, offset) into one i64: the offset takes the low 40 bits.
const OFFSET_BITS: u32 = 40;

/// An open connection to MongoDB.
pub struct MongoStore {
    /// Kept for the test hooks (`client()`, feature `test-support`).
    #[cfg_attr(not(feature = "test-support"), allow(dead_code))]
    client: Client,
    db: Database,
    target_db: Database,
    config: MongoConfig,
    address: String,
    /// Collections whose indexes were already ensured by this process.
    prepared: HashSet<String>,
    /// Collections already warned about non-date times.
    time_warned: HashSet<String>,
    notices: Vec<String>,
    time_conversions: u64,
}

impl fmt::Debug for MongoStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MongoStore")
            .field("address", &self.address)
            .field("db", &self.config.db)
            .field("target_db", &self.target_db.name())
            .finish_non_exhaustive()
    }
}

impl MongoStore {
    /// Connects and checks the server answers (a `ping`), within the server-selection timeout.
    pub fn open(config: &MongoConfig) -> Result<MongoStore, StoreError> {
        if config.db.is_empty() {
            return Err(config_error(
                "MG_DB (or MG_INPUT_DB) is empty: name the database",
            ));
        }
        let address = config.address();
        let mut options = ClientOptions::default();
        options.hosts = vec![ServerAddress::Tcp {
            host: config.host.clone(),
            port: Some(config.port),
        }];
        options.app_name = Some("lad".into());
        options.connect_timeout = Some(config.connect_timeout);
        options.server_selection_timeout = Some(config.server_selection_timeout);
        match (&config.user, &config.password) {
            (Some(user), password) => {
                let mut credential = Credential::default();
                credential.username = Some(user.clone());
                credential.password = password.clone();
                credential.source =
                    Some(config.auth_source.clone().unwrap_or_else(|| "admin".into()));
                options.credential = Some(credential);
            }
            (None, Some(_)) => {
                return Err(config_error("MG_PASSWORD is set but MG_USER is not"));
            }
            (None, None) => {}
        }
        if config.tls || config.ca_cert.is_some() {
            let mut tls = TlsOptions::default();
            if let Some(ca) = &config.ca_cert {
                check_ca_file(ca)?;
                tls.ca_file_path = Some(ca.clone());
            }
            if !config.verify_cert {
                tls.allow_invalid_certificates = Some(true);
            }
            options.tls = Some(Tls::Enabled(tls));
        }
        let client = Client::with_options(options).map_err(|e| {
            StoreError::driver(BACKEND, address.clone(), "configure the client", false, e)
        })?;
        let db = client.database(&config.db);
        let target_db = client.database(config.target_db.as_deref().unwrap_or(&config.db));
        let store = MongoStore {
            client,
            db,
            target_db,
            config: config.clone(),
            address,
            prepared: HashSet::new(),
            time_warned: HashSet::new(),
            notices: Vec::new(),
            time_conversions: 0,
        };
        store
            .db
            .run_command(doc! { "ping": 1 })
            .run()
            .map_err(store.fail("connect"))?;
        Ok(store)
    }

    /// Messages for the operator gathered since the last call: indexes created or refused, times
    /// read from strings or numbers. The daemon logs them.
    pub fn take_notices(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notices)
    }

    /// How many times were read from an ISO string or an epoch number instead of a BSON date.
    pub fn time_conversions(&self) -> u64 {
        self.time_conversions
    }

    /// The database of the log collections (for tests).
    #[cfg(feature = "test-support")]
    #[doc(hidden)]
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The driver's client (for tests).
    #[cfg(feature = "test-support")]
    #[doc(hidden)]
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn fail(&self, operation: &'static str) -> impl Fn(MongoError) -> StoreError + '_ {
        move |e| classify(e, &self.address, &self.config, operation)
    }

    fn coll(&self, source: &str) -> Collection<RawDocumentBuf> {
        self.db.collection(source)
    }

    fn fields(&self) -> &FieldNames {
        &self.config.fields
    }

    fn command_error(&self, operation: &'static str, reason: String) -> StoreError {
        StoreError::Corrupt {
            backend: BACKEND,
            location: format!("{} ({operation})", self.address),
            reason,
        }
    }

    /// Sends `update` commands of at most [`MAX_STATEMENTS`] statements; returns the matched count.
    fn update(
        &self,
        collection: &str,
        statements: Vec<Bson>,
        operation: &'static str,
    ) -> Result<usize, StoreError> {
        self.update_in(&self.db, collection, statements, operation)
    }

    fn update_in(
        &self,
        db: &Database,
        collection: &str,
        statements: Vec<Bson>,
        operation: &'static str,
    ) -> Result<usize, StoreError> {
        // Statements are independent (each names its own `_id`), so large batches go out as a
        // few commands at once, which the server may apply in parallel.
        let parts = if statements.len() >= 2 * MIN_PARALLEL_STATEMENTS {
            PARALLEL_COMMANDS.min(statements.len() / MIN_PARALLEL_STATEMENTS)
        } else {
            1
        };
        let per_part = statements.len().div_ceil(parts.max(1)).max(1);
        let mut groups: Vec<Vec<Vec<Bson>>> = Vec::new();
        let mut rest = statements;
        while !rest.is_empty() {
            let tail = rest.split_off(per_part.min(rest.len()));
            groups.push(chunks(rest));
            rest = tail;
        }
        let run = |group: Vec<Vec<Bson>>| -> Result<usize, StoreError> {
            let mut matched = 0;
            for chunk in group {
                let reply = db
                    .run_command(doc! { "update": collection, "updates": chunk, "ordered": false })
                    .run()
                    .map_err(self.fail(operation))?;
                if let Some((code, message)) = write_errors(&reply).first() {
                    return Err(self.command_error(
                        operation,
                        format!("update refused (code {code}): {message}"),
                    ));
                }
                matched += number(reply.get("n")).unwrap_or(0) as usize;
            }
            Ok(matched)
        };
        if groups.len() <= 1 {
            return groups.into_iter().map(run).sum();
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = groups.into_iter().map(|g| scope.spawn(|| run(g))).collect();
            let mut matched = 0;
            for h in handles {
                matched += h.join().map_err(|_| {
                    self.command_error(operation, "an update thread panicked".into())
                })??;
            }
            Ok(matched)
        })
    }
}

fn invalid(id: &RecordId, operation: &'static str, reason: String) -> StoreError {
    StoreError::invalid_record(BACKEND, id, operation, reason)
}

/// `(code, message)` of each entry of a write reply's `writeErrors`.
fn write_errors(reply: &Document) -> Vec<(i64, String)> {
    match reply.get_array("writeErrors") {
        Ok(items) => items
            .iter()
            .filter_map(Bson::as_document)
            .map(|e| {
                (
                    number(e.get("code")).unwrap_or(0),
                    e.get_str("errmsg").unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Splits statements or documents into command-sized chunks (count and approximate bytes).
fn chunks(items: Vec<Bson>) -> Vec<Vec<Bson>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0;
    for item in items {
        let size = match &item {
            Bson::Document(d) => bson::to_vec(d).map_or(1024, |v| v.len()),
            _ => 64,
        };
        if !current.is_empty()
            && (current.len() >= MAX_STATEMENTS || bytes + size > MAX_COMMAND_BYTES)
        {
            out.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push(item);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_bson() {
        let oid = ObjectId::new();
        for (bson, id) in [
            (Bson::ObjectId(oid), RecordId::ObjectId(oid.to_hex())),
            (Bson::Int64(7), RecordId::Int(7)),
            (Bson::String("doc-1".into()), RecordId::Text("doc-1".into())),
            (Bson::String("123".into()), RecordId::Text("123".into())),
        ] {
            let raw = bson::RawBson::try_from(bson.clone()).expect("convertible");
            assert_eq!(raw_to_id(raw.as_raw_bson_ref()), id);
            assert_eq!(id_to_bson(&id).expect("an id"), bson);
        }
        // An exotic _id (a double) survives the trip through its Extended JSON text.
        let raw = bson::RawBson::Double(2.5);
        let id = raw_to_id(raw.as_raw_bson_ref());
        assert_eq!(id_to_bson(&id).expect("an id"), Bson::Double(2.5));
        assert!(id_to_bson(&RecordId::ObjectId("zz".into())).is_err());
    }

    #[test]
    fn chunks_respect_the_statement_cap() {
        let items: Vec<Bson> = (0..25_001)
            .map(|i| Bson::Document(doc! { "q": { "_id": i } }))
            .collect();
        let sizes: Vec<usize> = chunks(items).iter().map(Vec::len).collect();
        assert_eq!(sizes, [10_000, 10_000, 5_001]);
        assert!(chunks(Vec::new()).is_empty());
    }

    #[test]
    fn times_are_read_from_dates_strings_and_numbers() {
        let doc = doc! {
            "d": DateTime::from_millis(1_704_456_000_000_i64),
            "s": "2024-01-05T12:00:00Z",
            "n": 1_704_456_000_i64,
            "x": true,
        };
        let raw = RawDocumentBuf::from_document(&doc).expect("valid");
        assert_eq!(read_time(&raw, "d"), Ok((1_704_456_000_000, false)));
        assert_eq!(read_time(&raw, "s"), Ok((1_704_456_000_000, true)));
        assert_eq!(read_time(&raw, "n"), Ok((1_704_456_000_000, true)));
        assert!(read_time(&raw, "x").is_err());
        assert!(read_time(&raw, "missing").is_err());
    }
}
