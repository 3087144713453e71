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

#[doc(hidden)]
pub mod testserver;

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

/// Settings of the `mg` backend (the `MG_*` keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MongoConfig {
    /// `MG_HOST`; default `localhost`.
    pub host: String,
    /// `MG_PORT`; default 27017.
    pub port: u16,
    /// `MG_USER`: SCRAM user name, given as is (the driver gets it as a field, not inside a URL,
    /// so `@`, `:` and `/` need no escaping).
    pub user: Option<String>,
    /// `MG_PASSWORD`, as is.
    pub password: Option<String>,
    /// The database holding the user; `None`: `admin`.
    pub auth_source: Option<String>,
    /// The database of the log collections: `MG_DB` (detection) or `MG_INPUT_DB` (aggregation).
    pub db: String,
    /// `MG_TARGET_DB`, where aggregates go; `None`: `db`.
    pub target_db: Option<String>,
    /// Connect with TLS; set it when `MG_CA_CERT` is given.
    pub tls: bool,
    /// `MG_CA_CERT`: PEM file of the CA that signed the server certificate; `None`: the bundled
    /// web PKI roots.
    pub ca_cert: Option<PathBuf>,
    /// `MG_VERIFY_CERT`; default true: the server certificate IS verified. False accepts any
    /// certificate and host name (encrypted, not authenticated).
    pub verify_cert: bool,
    /// Limit for opening one TCP/TLS connection; default 5 s.
    pub connect_timeout: Duration,
    /// How long an operation waits for a usable server before failing with
    /// [`StoreError::Unavailable`]; default 5 s.
    pub server_selection_timeout: Duration,
    /// Field names of the documents (`*_INDEX`).
    pub fields: FieldNames,
    /// Create the indexes the reads need when missing (and permitted); default true.
    pub create_indexes: bool,
}

impl Default for MongoConfig {
    fn default() -> Self {
        MongoConfig {
            host: "localhost".into(),
            port: 27017,
            user: None,
            password: None,
            auth_source: None,
            db: String::new(),
            target_db: None,
            tls: false,
            ca_cert: None,
            verify_cert: true,
            connect_timeout: Duration::from_secs(5),
            server_selection_timeout: Duration::from_secs(5),
            fields: FieldNames::default(),
            create_indexes: true,
        }
    }
}

impl MongoConfig {
    /// `host:port`, as errors name the server.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// An open connection to MongoDB.
pub struct MongoStore {
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

/// Which documents a read selects, as a filter.
fn unscored_filter() -> Document {
    doc! { "is_anomaly": { "$exists": false }, MALFORMED_FIELD: { "$exists": false } }
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
        let client = Client::with_options(options).map_err(|e| StoreError::Mongo {
            address: address.clone(),
            operation: "configure the client",
            transient: false,
            source: Box::new(e),
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

    /// The database of the log collections (for tests and tools).
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The driver's client (for tests and tools).
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

    /// Creates the indexes of a collection once per process (see the module docs).
    fn prepare(&mut self, source: &str) -> Result<(), StoreError> {
        if !self.config.create_indexes || self.prepared.contains(source) {
            return Ok(());
        }
        let f = self.fields().clone();
        let command = doc! {
            "createIndexes": source,
            "indexes": [
                { "key": { &f.host: 1, &f.time: 1 }, "name": "lad_host_time" },
            ],
        };
        match self.db.run_command(command).run() {
            Ok(reply) => {
                let before = number(reply.get("numIndexesBefore"));
                let after = number(reply.get("numIndexesAfter"));
                if let (Some(b), Some(a)) = (before, after) {
                    if a > b {
                        self.notices.push(format!(
                            "mg: created index lad_host_time {{{}: 1, {}: 1}} on {}.{source}",
                            f.host, f.time, self.config.db
                        ));
                    }
                }
            }
            Err(e) => {
                let error = classify(e, &self.address, &self.config, "create indexes");
                if error.is_transient() {
                    return Err(error);
                }
                // No right to create indexes (or an index of that name with other keys): reads
                // still work, only slower, so say so and go on.
                self.notices.push(format!(
                    "mg: could not create the (host, time) index on {}.{source}; reads will be \
                     slower: {error}",
                    self.config.db
                ));
            }
        }
        self.prepared.insert(source.to_owned());
        Ok(())
    }

    /// Runs a find and converts every document; unreadable ones become [`Malformed`].
    fn read(
        &mut self,
        source: &str,
        filter: Document,
        sort: Document,
        limit: usize,
    ) -> Result<Batch, StoreError> {
        let mut batch = Batch::default();
        if limit == 0 {
            return Ok(batch);
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let cursor = self
            .coll(source)
            .find(filter)
            .sort(sort)
            .limit(limit)
            .batch_size(u32::try_from(limit.min(50_000)).unwrap_or(50_000))
            .run()
            .map_err(self.fail("read records"))?;
        for doc in cursor {
            let doc = doc.map_err(self.fail("read records"))?;
            match self.record(&doc, source) {
                Ok(r) => batch.records.push(r),
                Err(m) => batch.malformed.push(m),
            }
        }
        Ok(batch)
    }

    /// Reads a record out of a raw document; anything unreadable makes it [`Malformed`].
    fn record(&mut self, doc: &RawDocument, source: &str) -> Result<Record, Malformed> {
        let f = &self.config.fields;
        let id = match doc.get("_id") {
            Ok(Some(v)) => raw_to_id(v),
            _ => RecordId::Text("(no _id)".into()),
        };
        let host = match doc.get(&f.host) {
            Ok(Some(RawBsonRef::String(s))) => Ok(s.to_owned()),
            Ok(Some(other)) => Err(format!(
                "field {} has type {:?}, expected a string",
                f.host,
                other.element_type()
            )),
            Ok(None) => Err(format!("field {} is missing", f.host)),
            Err(e) => Err(format!("field {} cannot be read: {e}", f.host)),
        };
        let malformed = |reason: String, host: Option<String>| Malformed {
            id: id.clone(),
            source: source.to_owned(),
            host,
            reason,
        };
        let host = match host {
            Ok(h) => h,
            Err(reason) => return Err(malformed(reason, None)),
        };
        let (time, converted) = match read_time(doc, &f.time) {
            Ok(t) => t,
            Err(reason) => return Err(malformed(reason, Some(host))),
        };
        let message = match doc.get(&f.message) {
            Ok(Some(RawBsonRef::String(s))) => s.to_owned(),
            Ok(Some(other)) => {
                return Err(malformed(
                    format!(
                        "field {} has type {:?}, expected a string",
                        f.message,
                        other.element_type()
                    ),
                    Some(host),
                ))
            }
            Ok(None) => {
                return Err(malformed(
                    format!("field {} is missing", f.message),
                    Some(host),
                ))
            }
            Err(e) => {
                return Err(malformed(
                    format!("field {} cannot be read: {e}", f.message),
                    Some(host),
                ))
            }
        };
        if let Err(reason) = check_message(&message) {
            return Err(malformed(reason, Some(host)));
        }
        let mut extra = Map::new();
        for element in doc {
            let (key, value) = match element {
                Ok(kv) => kv,
                Err(e) => {
                    return Err(malformed(
                        format!("the document cannot be read (invalid BSON or UTF-8): {e}"),
                        Some(host),
                    ))
                }
            };
            if is_record_field(key, f) {
                continue;
            }
            match Bson::try_from(value.to_raw_bson()) {
                Ok(b) => {
                    extra.insert(key.to_owned(), b.into_relaxed_extjson());
                }
                Err(e) => {
                    return Err(malformed(
                        format!("field {key} cannot be read: {e}"),
                        Some(host),
                    ))
                }
            }
        }
        if converted {
            self.time_conversions += 1;
            if self.time_warned.insert(source.to_owned()) {
                self.notices.push(format!(
                    "mg: {}.{source}: field {} holds a string or number, read as a time; store \
                     BSON dates (time-window reads such as training only match BSON dates)",
                    self.config.db, f.time
                ));
            }
        }
        Ok(Record {
            id,
            source: source.to_owned(),
            host,
            time,
            message,
            extra,
        })
    }

    /// See [`crate::Store::import`]. Documents keep `original_id` as `_id` (an ObjectId, integer or
    /// string); a duplicate `_id` is counted, not an error.
    pub fn import(
        &mut self,
        source: &str,
        records: &[NewRecord],
    ) -> Result<ImportSummary, StoreError> {
        self.prepare(source)?;
        let f = self.fields().clone();
        let mut docs = Vec::with_capacity(records.len());
        for r in records {
            let mut d = Document::new();
            let id = match &r.original_id {
                Some(id) => id_to_bson(id).map_err(|reason| StoreError::InvalidRecord {
                    backend: BACKEND,
                    operation: "import",
                    id: id.to_string(),
                    reason,
                })?,
                None => Bson::ObjectId(ObjectId::new()),
            };
            d.insert("_id", id);
            for (k, v) in &r.extra {
                if is_record_field(k, &f) {
                    continue;
                }
                d.insert(k.clone(), json_to_bson(v.clone()));
            }
            d.insert(f.host.clone(), r.host.clone());
            d.insert(f.time.clone(), DateTime::from_millis(r.time));
            d.insert(f.message.clone(), r.message.clone());
            docs.push(Bson::Document(d));
        }
        let mut summary = ImportSummary::default();
        for chunk in chunks(docs) {
            let n = chunk.len();
            let reply = self
                .db
                .run_command(doc! { "insert": source, "documents": chunk, "ordered": false })
                .run()
                .map_err(self.fail("import records"))?;
            let errors = write_errors(&reply);
            let duplicates = errors.iter().filter(|(code, _)| *code == 11000).count();
            if let Some((code, message)) = errors.iter().find(|(code, _)| *code != 11000) {
                return Err(self.command_error(
                    "import records",
                    format!("insert refused (code {code}): {message}"),
                ));
            }
            summary.inserted += n - duplicates;
            summary.duplicates += duplicates;
        }
        Ok(summary)
    }

    fn command_error(&self, operation: &'static str, reason: String) -> StoreError {
        StoreError::Corrupt {
            backend: BACKEND,
            location: format!("{} ({operation})", self.address),
            reason,
        }
    }

    /// See [`crate::Store::training_window`]. Only documents whose time is a BSON date match.
    pub fn training_window(
        &mut self,
        source: &str,
        host: &str,
        from_ms: i64,
        to_ms: i64,
        max: usize,
    ) -> Result<Batch, StoreError> {
        self.prepare(source)?;
        let f = self.fields().clone();
        let filter = doc! {
            &f.host: host,
            &f.time: { "$gte": DateTime::from_millis(from_ms), "$lt": DateTime::from_millis(to_ms) },
            MALFORMED_FIELD: { "$exists": false },
        };
        let mut batch = self.read(source, filter, doc! { &f.time: -1, "_id": -1 }, max)?;
        batch.records.reverse();
        batch.malformed.reverse();
        Ok(batch)
    }

    /// See [`crate::Store::next_unscored`]: documents without `is_anomaly` and without the
    /// malformed mark, in `(time, _id)` order.
    pub fn next_unscored(
        &mut self,
        source: &str,
        hosts: &[String],
        limit: usize,
    ) -> Result<Batch, StoreError> {
        self.prepare(source)?;
        let f = self.fields().clone();
        let mut filter = unscored_filter();
        if !hosts.is_empty() {
            // Documents whose host is not a string are returned for any filter, to be reported.
            filter.insert(
                "$or",
                vec![
                    doc! { &f.host: { "$in": hosts } },
                    doc! { &f.host: { "$not": { "$type": "string" } } },
                ],
            );
        }
        self.read(source, filter, doc! { &f.time: 1, "_id": 1 }, limit)
    }

    /// See [`crate::Store::write_verdicts`]. Each statement covers up to 100 records
    /// (`IDS_PER_VERDICT_STATEMENT`), `_id: {$in: [..]}` with `multi: true`, and sets the
    /// verdict only where `is_anomaly` is still missing. Records with equal verdicts (most lines are routine and
    /// share the score 0) share a plain `$set`; the others get a pipeline `$set` that picks each
    /// record's own verdict by the position of its `_id` in the list (`$indexOfArray`,
    /// `$arrayElemAt`: MongoDB 4.2 and later, so in 5.0). The server's cost is mostly per
    /// statement: against the test server, one statement per record wrote about 5,800
    /// records/s, lists of 100 about 17,000 (pipeline) to 30,000 (plain) records/s, and much
    /// longer lists were slower again.
    pub fn write_verdicts(
        &mut self,
        source: &str,
        verdicts: &[Verdict],
    ) -> Result<usize, StoreError> {
        // Equal verdicts, in order of first appearance, so that the commands are deterministic.
        let mut group_of: HashMap<(bool, u64), usize> = HashMap::new();
        let mut groups: Vec<(bool, f64, Vec<Bson>)> = Vec::new();
        for v in verdicts {
            if !v.score.is_finite() {
                return Err(invalid(
                    &v.id,
                    "write verdicts",
                    format!("expected a finite score, found {}", v.score),
                ));
            }
            let id = id_to_bson(&v.id).map_err(|r| invalid(&v.id, "write verdicts", r))?;
            let g = *group_of
                .entry((v.is_anomaly, v.score.to_bits()))
                .or_insert_with(|| {
                    groups.push((v.is_anomaly, v.score, Vec::new()));
                    groups.len() - 1
                });
            groups[g].2.push(id);
        }
        let mut statements = Vec::new();
        let mut singles: Vec<(Bson, bool, f64)> = Vec::new();
        for (is_anomaly, score, ids) in groups {
            if ids.len() == 1 {
                singles.extend(ids.into_iter().map(|id| (id, is_anomaly, score)));
                continue;
            }
            for part in ids.chunks(IDS_PER_VERDICT_STATEMENT) {
                statements.push(Bson::Document(doc! {
                    "q": { "_id": { "$in": part }, "is_anomaly": { "$exists": false } },
                    "u": { "$set": { "is_anomaly": i32::from(is_anomaly), "anomaly_score": score } },
                    "multi": true,
                }));
            }
        }
        for part in singles.chunks(IDS_PER_VERDICT_STATEMENT) {
            let ids: Vec<Bson> = part.iter().map(|(id, _, _)| id.clone()).collect();
            let flags: Vec<i32> = part.iter().map(|(_, a, _)| i32::from(*a)).collect();
            let scores: Vec<f64> = part.iter().map(|(_, _, s)| *s).collect();
            let position = doc! { "$indexOfArray": [&ids, "$_id"] };
            statements.push(Bson::Document(doc! {
                "q": { "_id": { "$in": &ids }, "is_anomaly": { "$exists": false } },
                "u": [{ "$set": {
                    "is_anomaly": { "$arrayElemAt": [flags, &position] },
                    "anomaly_score": { "$arrayElemAt": [scores, &position] },
                } }],
                "multi": true,
            }));
        }
        self.update(source, statements, "write verdicts")
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

    /// See [`crate::Store::mark_malformed`]: `$set: {lad_malformed: reason}`.
    pub fn mark_malformed(
        &mut self,
        source: &str,
        id: &RecordId,
        reason: &str,
    ) -> Result<(), StoreError> {
        let bid = id_to_bson(id).map_err(|r| invalid(id, "mark malformed", r))?;
        self.update(
            source,
            vec![Bson::Document(doc! {
                "q": { "_id": bid },
                "u": { "$set": { MALFORMED_FIELD: reason } },
            })],
            "mark a record malformed",
        )?;
        Ok(())
    }

    /// See [`crate::Store::anomalies`]: documents with `is_anomaly: 1` and a BSON date in the window.
    pub fn anomalies(
        &mut self,
        source: &str,
        from_ms: i64,
        to_ms: i64,
        max: usize,
    ) -> Result<Vec<Anomaly>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let f = self.fields().clone();
        let filter = doc! {
            "is_anomaly": 1,
            &f.time: { "$gte": DateTime::from_millis(from_ms), "$lt": DateTime::from_millis(to_ms) },
        };
        let cursor = self
            .coll(source)
            .find(filter)
            .sort(doc! { &f.time: -1, "_id": -1 })
            .limit(i64::try_from(max).unwrap_or(i64::MAX))
            .run()
            .map_err(self.fail("read anomalies"))?;
        let mut out = Vec::new();
        for doc in cursor {
            let doc = doc.map_err(self.fail("read anomalies"))?;
            // A document that was scored was readable then; one that no longer is gets skipped.
            if let Ok(record) = self.record(&doc, source) {
                let score = doc
                    .get("anomaly_score")
                    .ok()
                    .flatten()
                    .and_then(raw_number)
                    .unwrap_or(f64::NAN);
                let aggregate_id = doc.get(AGGREGATE_FIELD).ok().flatten().map(raw_to_id);
                out.push(Anomaly {
                    record,
                    score,
                    aggregate_id,
                });
            }
        }
        out.reverse();
        Ok(out)
    }

    /// See [`crate::Store::write_aggregates`]. Inserts the aggregate documents first and links
    /// members second, so a crash in between leaves an aggregate without members (harmless: the
    /// members are aggregated again) rather than members linked to nothing.
    pub fn write_aggregates(
        &mut self,
        input_source: &str,
        target: &str,
        drafts: &[AggregateDraft],
    ) -> Result<Vec<Option<RecordId>>, StoreError> {
        let mut all = Vec::new();
        for d in drafts {
            for id in &d.member_ids {
                all.push(id_to_bson(id).map_err(|r| invalid(id, "write aggregates", r))?);
            }
        }
        // Which members exist, and which are linked already.
        let mut linked: HashMap<RecordId, bool> = HashMap::new();
        for ids in all.chunks(MAX_IDS_PER_STATEMENT) {
            let cursor = self
                .coll(input_source)
                .find(doc! { "_id": { "$in": ids } })
                .projection(doc! { "_id": 1, AGGREGATE_FIELD: 1 })
                .run()
                .map_err(self.fail("write aggregates"))?;
            for doc in cursor {
                let doc = doc.map_err(self.fail("write aggregates"))?;
                if let Ok(Some(id)) = doc.get("_id") {
                    let is_linked = matches!(doc.get(AGGREGATE_FIELD), Ok(Some(_)));
                    linked.insert(raw_to_id(id), is_linked);
                }
            }
        }
        let mut out = Vec::with_capacity(drafts.len());
        let mut aggregates = Vec::new();
        let mut links = Vec::new();
        for d in drafts {
            let mut free = Vec::new();
            for id in &d.member_ids {
                match linked.get_mut(id) {
                    None => {
                        return Err(invalid(
                            id,
                            "write aggregates",
                            format!("no such document in {}.{input_source}", self.config.db),
                        ))
                    }
                    Some(true) => {}
                    Some(state) => {
                        // Claimed now, so a later draft of this call does not take it too.
                        *state = true;
                        free.push(id_to_bson(id).map_err(|r| invalid(id, "write aggregates", r))?);
                    }
                }
            }
            if free.is_empty() {
                out.push(None);
                continue;
            }
            let oid = ObjectId::new();
            aggregates.push(Bson::Document(doc! {
                "_id": oid,
                "message": &d.message,
                "total_logs": i64::try_from(d.total_logs).unwrap_or(i64::MAX),
                "average_datetime": DateTime::from_millis(d.average_time_ms),
                "average_anomaly_score": d.average_anomaly_score,
                "most_frequent_hostname": &d.most_frequent_hostname,
                "was_added_at": DateTime::from_millis(d.was_added_at_ms),
            }));
            for ids in free.chunks(MAX_IDS_PER_STATEMENT) {
                links.push(Bson::Document(doc! {
                    "q": { "_id": { "$in": ids }, AGGREGATE_FIELD: { "$exists": false } },
                    "u": { "$set": { AGGREGATE_FIELD: oid } },
                    "multi": true,
                }));
            }
            out.push(Some(RecordId::ObjectId(oid.to_hex())));
        }
        if aggregates.is_empty() {
            return Ok(out);
        }
        // Remember which input feeds this target, for `aggregates` and `list_sources`.
        let key = format!("{}/{input_source}/{target}", self.config.db);
        self.update_in(
            &self.target_db,
            TARGETS,
            vec![Bson::Document(doc! {
                "q": { "_id": &key },
                "u": { "$set": { "input_db": &self.config.db, "input_source": input_source, "target": target } },
                "upsert": true,
            })],
            "write aggregates",
        )?;
        for chunk in chunks(aggregates) {
            let reply = self
                .target_db
                .run_command(doc! { "insert": target, "documents": chunk, "ordered": true })
                .run()
                .map_err(self.fail("write aggregates"))?;
            if let Some((code, message)) = write_errors(&reply).first() {
                return Err(self.command_error(
                    "write aggregates",
                    format!("insert refused (code {code}): {message}"),
                ));
            }
        }
        self.update(input_source, links, "link aggregate members")?;
        Ok(out)
    }

    /// The (input source, target) pairs aggregates were written for from this database.
    fn targets(&self, input_source: Option<&str>) -> Result<Vec<(String, String)>, StoreError> {
        let mut filter = doc! { "input_db": &self.config.db };
        if let Some(s) = input_source {
            filter.insert("input_source", s);
        }
        let cursor = self
            .target_db
            .collection::<Document>(TARGETS)
            .find(filter)
            .sort(doc! { "_id": 1 })
            .run()
            .map_err(self.fail("read aggregate targets"))?;
        let mut out = Vec::new();
        for doc in cursor {
            let doc = doc.map_err(self.fail("read aggregate targets"))?;
            if let (Ok(s), Ok(t)) = (doc.get_str("input_source"), doc.get_str("target")) {
                out.push((s.to_owned(), t.to_owned()));
            }
        }
        Ok(out)
    }

    /// See [`crate::Store::aggregates`], oldest (smallest ObjectId) first.
    pub fn aggregates(&mut self, input_source: Option<&str>) -> Result<Vec<Aggregate>, StoreError> {
        let mut out = Vec::new();
        for (source, target) in self.targets(input_source)? {
            let cursor = self
                .target_db
                .collection::<Document>(&target)
                .find(doc! {})
                .sort(doc! { "_id": 1 })
                .run()
                .map_err(self.fail("read aggregates"))?;
            let mut found = Vec::new();
            for doc in cursor {
                let doc = doc.map_err(self.fail("read aggregates"))?;
                let Ok(oid) = doc.get_object_id("_id") else {
                    continue;
                };
                found.push((
                    oid,
                    AggregateDraft {
                        message: doc.get_str("message").unwrap_or_default().to_owned(),
                        total_logs: doc
                            .get("total_logs")
                            .and_then(bson_number)
                            .map_or(0, |n| n.max(0.0) as u64),
                        average_time_ms: bson_time(doc.get("average_datetime")),
                        average_anomaly_score: doc
                            .get("average_anomaly_score")
                            .and_then(bson_number)
                            .unwrap_or(f64::NAN),
                        most_frequent_hostname: doc
                            .get_str("most_frequent_hostname")
                            .unwrap_or_default()
                            .to_owned(),
                        was_added_at_ms: bson_time(doc.get("was_added_at")),
                        member_ids: Vec::new(),
                    },
                ));
            }
            let ids: Vec<ObjectId> = found.iter().map(|(oid, _)| *oid).collect();
            let mut members: HashMap<ObjectId, Vec<RecordId>> = HashMap::new();
            for chunk in ids.chunks(MAX_IDS_PER_STATEMENT) {
                let cursor = self
                    .coll(&source)
                    .find(doc! { AGGREGATE_FIELD: { "$in": chunk } })
                    .projection(doc! { "_id": 1, AGGREGATE_FIELD: 1 })
                    .sort(doc! { "_id": 1 })
                    .run()
                    .map_err(self.fail("read aggregate members"))?;
                for doc in cursor {
                    let doc = doc.map_err(self.fail("read aggregate members"))?;
                    if let (Ok(Some(id)), Ok(Some(RawBsonRef::ObjectId(a)))) =
                        (doc.get("_id"), doc.get(AGGREGATE_FIELD))
                    {
                        members.entry(a).or_default().push(raw_to_id(id));
                    }
                }
            }
            for (oid, mut draft) in found {
                draft.member_ids = members.remove(&oid).unwrap_or_default();
                out.push((
                    oid,
                    Aggregate {
                        id: RecordId::ObjectId(oid.to_hex()),
                        input_source: source.clone(),
                        target: target.clone(),
                        draft,
                    },
                ));
            }
        }
        out.sort_by_key(|a| a.0.bytes());
        Ok(out.into_iter().map(|(_, a)| a).collect())
    }

    /// See [`crate::Store::export_page`]: collections in name order, documents in `_id` order.
    pub fn export_page(
        &mut self,
        source: Option<&str>,
        cursor: Option<ExportCursor>,
        limit: usize,
    ) -> Result<ExportPage, StoreError> {
        let sources = match source {
            Some(s) => vec![s.to_owned()],
            None => self.list_sources()?,
        };
        let packed = cursor.map_or(0, |c| c.0.max(0));
        let mut index = usize::try_from(packed >> OFFSET_BITS).unwrap_or(usize::MAX);
        let mut offset = u64::try_from(packed & ((1 << OFFSET_BITS) - 1)).unwrap_or(0);
        let mut page = ExportPage::default();
        let mut taken = 0;
        while taken < limit && index < sources.len() {
            let name = &sources[index];
            let want = limit - taken;
            let docs = self
                .coll(name)
                .find(doc! {})
                .sort(doc! { "_id": 1 })
                .skip(offset)
                .limit(i64::try_from(want).unwrap_or(i64::MAX))
                .run()
                .map_err(self.fail("export records"))?;
            let mut got = 0;
            for doc in docs {
                let doc = doc.map_err(self.fail("export records"))?;
                got += 1;
                self.export_row(&doc, name, &mut page);
            }
            taken += got;
            if got < want {
                index += 1;
                offset = 0;
            } else {
                offset += got as u64;
            }
        }
        page.next = (taken == limit && limit > 0 && index < sources.len()).then_some(ExportCursor(
            ((index as i64) << OFFSET_BITS) | (offset as i64 & ((1 << OFFSET_BITS) - 1)),
        ));
        Ok(page)
    }

    fn export_row(&mut self, doc: &RawDocument, source: &str, page: &mut ExportPage) {
        let marked = match doc.get(MALFORMED_FIELD) {
            Ok(Some(RawBsonRef::String(s))) => Some(s.to_owned()),
            Ok(Some(_)) => Some("marked malformed".to_owned()),
            _ => None,
        };
        match (self.record(doc, source), marked) {
            (Ok(record), None) => page.rows.push(ExportRow {
                is_anomaly: doc.get("is_anomaly").ok().flatten().and_then(|v| match v {
                    RawBsonRef::Boolean(b) => Some(b),
                    other => raw_number(other).map(|n| n != 0.0),
                }),
                anomaly_score: doc.get("anomaly_score").ok().flatten().and_then(raw_number),
                aggregate_id: doc.get(AGGREGATE_FIELD).ok().flatten().map(raw_to_id),
                record,
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

    /// See [`crate::Store::list_sources`]: the collections of `db`, less `system.*`, `lad_*` and
    /// aggregate targets.
    pub fn list_sources(&mut self) -> Result<Vec<String>, StoreError> {
        let names = self
            .db
            .list_collection_names()
            .run()
            .map_err(self.fail("list sources"))?;
        let targets: HashSet<String> = if self.target_db.name() == self.db.name() {
            let cursor = self
                .target_db
                .collection::<Document>(TARGETS)
                .find(doc! {})
                .run()
                .map_err(self.fail("list sources"))?;
            let mut set = HashSet::new();
            for doc in cursor {
                let doc = doc.map_err(self.fail("list sources"))?;
                if let Ok(t) = doc.get_str("target") {
                    set.insert(t.to_owned());
                }
            }
            set
        } else {
            HashSet::new()
        };
        let mut out: Vec<String> = names
            .into_iter()
            .filter(|n| !n.starts_with("system.") && !n.starts_with("lad_") && !targets.contains(n))
            .collect();
        out.sort();
        Ok(out)
    }

    /// See [`crate::Store::hosts`].
    pub fn hosts(&mut self, source: &str) -> Result<Vec<String>, StoreError> {
        let f = self.fields().clone();
        let values = self
            .coll(source)
            .distinct(&f.host, doc! { &f.host: { "$type": "string" } })
            .run()
            .map_err(self.fail("list hosts"))?;
        let mut out: Vec<String> = values
            .into_iter()
            .filter_map(|v| match v {
                Bson::String(s) => Some(s),
                _ => None,
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// See [`crate::Store::unscored_count`].
    pub fn unscored_count(&mut self, source: &str) -> Result<u64, StoreError> {
        self.coll(source)
            .count_documents(unscored_filter())
            .run()
            .map_err(self.fail("count unscored records"))
    }

    /// See [`crate::Store::oldest_unscored_time`]: the oldest unscored BSON date.
    pub fn oldest_unscored_time(&mut self, source: &str) -> Result<Option<i64>, StoreError> {
        let f = self.fields().clone();
        let mut filter = unscored_filter();
        filter.insert(&f.time, doc! { "$type": "date" });
        let doc = self
            .coll(source)
            .find_one(filter)
            .sort(doc! { &f.time: 1, "_id": 1 })
            .projection(doc! { &f.time: 1 })
            .run()
            .map_err(self.fail("find the oldest unscored record"))?;
        Ok(doc.and_then(|d| match d.get(&f.time) {
            Ok(Some(RawBsonRef::DateTime(t))) => Some(t.timestamp_millis()),
            _ => None,
        }))
    }

    /// See [`crate::Store::add_feedback`]: ids come from a counter document (`findAndModify`).
    pub fn add_feedback(&mut self, mark: &NewFeedback) -> Result<i64, StoreError> {
        let counter = self
            .db
            .collection::<Document>(COUNTERS)
            .find_one_and_update(
                doc! { "_id": "feedback" },
                doc! { "$inc": { "seq": 1_i64 } },
            )
            .upsert(true)
            .return_document(mongodb::options::ReturnDocument::After)
            .run()
            .map_err(self.fail("add feedback"))?;
        let id = counter
            .as_ref()
            .and_then(|d| d.get("seq"))
            .and_then(bson_number)
            .map(|n| n as i64)
            .ok_or_else(|| {
                self.command_error(
                    "add feedback",
                    "the feedback counter was not returned".into(),
                )
            })?;
        let doc = doc! {
            "_id": id,
            "source": &mark.source,
            "host": &mark.host,
            "record_id": mark.record_id.as_ref().map(ToString::to_string),
            "message": &mark.message,
            "template": mark.template.clone(),
            "who": &mark.who,
            "at": DateTime::from_millis(mark.at_ms),
            "undone_at": Bson::Null,
        };
        self.db
            .collection::<Document>(FEEDBACK)
            .insert_one(doc)
            .run()
            .map_err(self.fail("add feedback"))?;
        Ok(id)
    }

    /// See [`crate::Store::list_feedback`].
    pub fn list_feedback(
        &mut self,
        source: Option<&str>,
        include_undone: bool,
    ) -> Result<Vec<Feedback>, StoreError> {
        let mut filter = Document::new();
        if let Some(s) = source {
            filter.insert("source", s);
        }
        if !include_undone {
            filter.insert("undone_at", Bson::Null);
        }
        let cursor = self
            .db
            .collection::<Document>(FEEDBACK)
            .find(filter)
            .sort(doc! { "_id": 1 })
            .run()
            .map_err(self.fail("list feedback"))?;
        let mut out = Vec::new();
        for doc in cursor {
            let doc = doc.map_err(self.fail("list feedback"))?;
            let text = |k: &str| doc.get_str(k).unwrap_or_default().to_owned();
            let optional = |k: &str| doc.get_str(k).ok().map(str::to_owned);
            out.push(Feedback {
                id: doc.get("_id").and_then(bson_number).map_or(0, |n| n as i64),
                mark: NewFeedback {
                    source: text("source"),
                    host: text("host"),
                    record_id: optional("record_id").map(|s| RecordId::parse(&s)),
                    message: text("message"),
                    template: optional("template"),
                    who: text("who"),
                    at_ms: bson_time(doc.get("at")),
                },
                undone_at_ms: match doc.get("undone_at") {
                    Some(Bson::DateTime(t)) => Some(t.timestamp_millis()),
                    _ => None,
                },
            });
        }
        Ok(out)
    }

    /// See [`crate::Store::undo_feedback`].
    pub fn undo_feedback(&mut self, id: i64, at_ms: i64) -> Result<bool, StoreError> {
        let n = self.update(
            FEEDBACK,
            vec![Bson::Document(doc! {
                "q": { "_id": id, "undone_at": Bson::Null },
                "u": { "$set": { "undone_at": DateTime::from_millis(at_ms) } },
            })],
            "undo feedback",
        )?;
        Ok(n == 1)
    }
}

fn config_error(reason: &str) -> StoreError {
    StoreError::Config {
        backend: BACKEND,
        reason: reason.to_owned(),
    }
}

/// Refuses a CA file that cannot be read or holds no PEM certificate, naming it, before the driver
/// turns the problem into a vague handshake failure.
fn check_ca_file(path: &PathBuf) -> Result<(), StoreError> {
    let text = std::fs::read(path).map_err(|e| StoreError::Config {
        backend: BACKEND,
        reason: format!("cannot read the CA file MG_CA_CERT {}: {e}", path.display()),
    })?;
    if !text
        .windows(b"BEGIN CERTIFICATE".len())
        .any(|w| w == b"BEGIN CERTIFICATE")
    {
        return Err(StoreError::Config {
            backend: BACKEND,
            reason: format!(
                "the CA file MG_CA_CERT {} holds no PEM certificate (expected \
                 -----BEGIN CERTIFICATE-----)",
                path.display()
            ),
        });
    }
    Ok(())
}

/// Turns a driver error into a [`StoreError`]: no usable server is [`StoreError::Unavailable`]
/// (transient); TLS failures say which CA file was used.
fn classify(
    e: MongoError,
    address: &str,
    config: &MongoConfig,
    operation: &'static str,
) -> StoreError {
    let tls_note = match (&config.ca_cert, config.tls || config.ca_cert.is_some()) {
        (Some(ca), _) => format!(
            " (TLS, server certificate {} against the CA file MG_CA_CERT {})",
            if config.verify_cert {
                "verified"
            } else {
                "NOT verified"
            },
            ca.display()
        ),
        (None, true) => " (TLS)".to_owned(),
        (None, false) => String::new(),
    };
    match e.kind.as_ref() {
        ErrorKind::ServerSelection { .. } => StoreError::Unavailable {
            backend: BACKEND,
            address: address.to_owned(),
            operation,
            reason: format!(
                "no usable server within {:?}{tls_note}: {e}",
                config.server_selection_timeout
            ),
        },
        ErrorKind::Authentication { .. } => StoreError::Mongo {
            address: format!(
                "{address} as user {:?}",
                config.user.as_deref().unwrap_or("")
            ),
            operation,
            transient: false,
            source: Box::new(e),
        },
        _ => {
            let transient = matches!(
                e.kind.as_ref(),
                ErrorKind::Io(_) | ErrorKind::ConnectionPoolCleared { .. }
            ) || e.contains_label("RetryableWriteError")
                || e.contains_label("TransientTransactionError");
            if transient {
                StoreError::Unavailable {
                    backend: BACKEND,
                    address: address.to_owned(),
                    operation,
                    reason: format!("{e}{tls_note}"),
                }
            } else {
                StoreError::Mongo {
                    address: address.to_owned(),
                    operation,
                    transient: false,
                    source: Box::new(e),
                }
            }
        }
    }
}

fn invalid(id: &RecordId, operation: &'static str, reason: String) -> StoreError {
    StoreError::InvalidRecord {
        backend: BACKEND,
        operation,
        id: id.to_string(),
        reason,
    }
}

/// Fields that make up the record itself or `lad`'s marks, so not part of `extra`.
fn is_record_field(key: &str, f: &FieldNames) -> bool {
    key == "_id"
        || key == f.host
        || key == f.time
        || key == f.message
        || key == "is_anomaly"
        || key == "anomaly_score"
        || key == AGGREGATE_FIELD
        || key == MALFORMED_FIELD
}

/// The time of a document: a BSON date, or (converted, the bool says so) an ISO string or an
/// epoch number whose unit is guessed by magnitude.
fn read_time(doc: &RawDocument, field: &str) -> Result<(i64, bool), String> {
    match doc.get(field) {
        Ok(Some(RawBsonRef::DateTime(t))) => Ok((t.timestamp_millis(), false)),
        Ok(Some(RawBsonRef::String(s))) => timefmt::parse_time_str(s)
            .map(|t| (t, true))
            .map_err(|e| format!("field {field}: {e}")),
        Ok(Some(RawBsonRef::Int32(n))) => Ok((timefmt::epoch_int_to_ms(i64::from(n)), true)),
        Ok(Some(RawBsonRef::Int64(n))) => Ok((timefmt::epoch_int_to_ms(n), true)),
        Ok(Some(RawBsonRef::Double(n))) => timefmt::epoch_to_ms(n)
            .map(|t| (t, true))
            .map_err(|e| format!("field {field}: {e}")),
        Ok(Some(other)) => Err(format!(
            "field {field} has type {:?}, expected a date",
            other.element_type()
        )),
        Ok(None) => Err(format!("field {field} is missing")),
        Err(e) => Err(format!("field {field} cannot be read: {e}")),
    }
}

/// A record id from a document's `_id`: ObjectId, integer, string; anything else as its Extended
/// canonical Extended JSON text (which [`id_to_bson`] reads back).
fn raw_to_id(value: RawBsonRef<'_>) -> RecordId {
    match value {
        RawBsonRef::ObjectId(oid) => RecordId::ObjectId(oid.to_hex()),
        RawBsonRef::Int32(n) => RecordId::Int(i64::from(n)),
        RawBsonRef::Int64(n) => RecordId::Int(n),
        RawBsonRef::String(s) => RecordId::Text(s.to_owned()),
        other => match Bson::try_from(other.to_raw_bson()) {
            Ok(b) => RecordId::Text(b.into_canonical_extjson().to_string()),
            Err(_) => RecordId::Text("(unreadable _id)".into()),
        },
    }
}

/// The `_id` value a record id stands for.
fn id_to_bson(id: &RecordId) -> Result<Bson, String> {
    match id {
        RecordId::ObjectId(hex) => ObjectId::parse_str(hex)
            .map(Bson::ObjectId)
            .map_err(|e| format!("expected 24 hex digits of an ObjectId: {e}")),
        RecordId::Int(n) => Ok(Bson::Int64(*n)),
        RecordId::Text(s) => {
            if s.starts_with('{') || s.starts_with('[') {
                if let Ok(json) = serde_json::from_str::<Value>(s) {
                    if let Ok(b) = Bson::try_from(json) {
                        return Ok(b);
                    }
                }
            }
            Ok(Bson::String(s.clone()))
        }
    }
}

/// JSON (Extended JSON where it parses as such, e.g. `{"$oid": ..}`) to BSON.
fn json_to_bson(value: Value) -> Bson {
    match Bson::try_from(value.clone()) {
        Ok(b) => b,
        // Not valid Extended JSON (e.g. a user field named "$date" holding an object): keep it
        // as plain data, with keys as they are.
        Err(_) => match value {
            Value::Object(map) => {
                Bson::Document(map.into_iter().map(|(k, v)| (k, json_to_bson(v))).collect())
            }
            Value::Array(items) => Bson::Array(items.into_iter().map(json_to_bson).collect()),
            Value::Number(n) => n.as_f64().map_or(Bson::Null, Bson::Double),
            Value::String(s) => Bson::String(s),
            Value::Bool(b) => Bson::Boolean(b),
            Value::Null => Bson::Null,
        },
    }
}

fn raw_number(value: RawBsonRef<'_>) -> Option<f64> {
    match value {
        RawBsonRef::Double(x) => Some(x),
        RawBsonRef::Int32(n) => Some(f64::from(n)),
        RawBsonRef::Int64(n) => Some(n as f64),
        _ => None,
    }
}

fn bson_number(value: &Bson) -> Option<f64> {
    match value {
        Bson::Double(x) => Some(*x),
        Bson::Int32(n) => Some(f64::from(*n)),
        Bson::Int64(n) => Some(*n as f64),
        _ => None,
    }
}

fn number(value: Option<&Bson>) -> Option<i64> {
    value.and_then(bson_number).map(|n| n as i64)
}

fn bson_time(value: Option<&Bson>) -> i64 {
    match value {
        Some(Bson::DateTime(t)) => t.timestamp_millis(),
        _ => 0,
    }
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
