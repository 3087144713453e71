//! The `es` backend: the user's Elasticsearch (7.10 and later) or OpenSearch (2 and later)
//! indices over their REST API, as the old system's first backend read and wrote them.
//!
//! # Client
//!
//! Plain HTTP through `ureq` 3 (blocking, rustls with ring, already in the tree) with typed serde
//! replies. The official clients were weighed and not taken: `elasticsearch` (its 8.x and 9.x
//! lines are published as alpha releases, for Elasticsearch only) and `opensearch` (2.x, for
//! OpenSearch only) are both async on `reqwest` + `tokio`, so the blocking store contract would
//! own a runtime as the MySQL backend does; neither speaks to both servers, and lad needs a
//! dozen endpoints (`_search`, `_bulk`, `_mget`, `_count`, point in time, index creation,
//! `_cat/indices`) whose bodies are small JSON. `ureq` added no crate to the lock file; in a
//! clean build, where rustls, ring and `http` are already built for the other drivers, it adds
//! `ureq` (8.0 s) and `ureq-proto` (2.9 s) of compile time (dev profile, `cargo build --timings`,
//! 2026-12-07, on a loaded 2-core machine).
//!
//! # Schema
//!
//! A source is an index, an index pattern (`syslog-*`) or a comma list, as LOG_SOURCES names it;
//! a source of `ES_INPUT_INDEX` keeps the old meaning, daily indices `ES_INPUT_INDEX` +
//! `YYYY.MM.DD` ([`EsConfig::daily_sources`]): a training window reads the daily indices it
//! covers, the other reads `ES_INPUT_INDEX*`. A record is a document with the message, time and
//! host fields named by [`FieldNames`] (a dotted name such as `host.name` reaches into objects);
//! its id is `index/_id` ([`RecordId::Text`]), since an `_id` is unique only within its index.
//! The time field must be mapped as `date` and the host as `keyword` (a `text` host with a
//! `.keyword` sub-field, as dynamic mapping makes it, is used through the sub-field).
//!
//! Verdicts are `_bulk` partial updates (`is_anomaly`: 0/1, `anomaly_score`) of the documents
//! themselves. The first verdict stands by optimistic concurrency: each update carries the
//! `if_seq_no`/`if_primary_term` the document had when it was read without a verdict (from the
//! read of the batch, or a real-time `_mget` for documents this store did not read), so a second
//! write of a verdict is a version conflict (409) and changes nothing; no script is used
//! (`_update_by_query` with a script is not offered by every server lad supports). With
//! `ES_TARGET_INDEX`, each verdict is also created there as a new document (the old system's
//! output, `op_type: create` with the record's id, so again the first one stands).
//!
//! Aggregates are documents of the aggregation target index (`message`, `total_logs`,
//! `average_datetime`, `average_anomaly_score`, `most_frequent_hostname`, `was_added_at` as in
//! the seed schema, plus `input_source`), with ids that sort by creation; members get
//! `aggregated_message_id`. lad's own index (`ES_STATE_INDEX`, default `lad-state`) holds which
//! input feeds which target and the feedback marks (ids taken by `op_type: create` of the next
//! number, so two writers never share one). Incidents and the links of anomalies to them are
//! documents of `ES_INCIDENT_INDEX` (default `lad-incidents`, see `incident.rs`).
//! `lad_malformed: reason` marks a document that cannot be read. Indices starting with `.`,
//! lad's state and incident indices, `ES_TARGET_INDEX` and aggregate targets are never listed
//! as sources.
//!
//! # Reads, refresh and limits
//!
//! Unscored means "has no `is_anomaly` and no `lad_malformed`" (`bool.must_not` of `exists`),
//! sorted by `(time, _id)`; a read of up to 10,000 documents is one search, a larger one pages
//! with `search_after` inside a point in time (`_pit` on Elasticsearch, `_search/point_in_time`
//! on OpenSearch, picked by what `GET /` reports), never `from` paging. Every write asks for
//! `refresh=true`, so the next read sees it (one refresh per batch). Sorting on `_id` needs
//! `indices.id_field_data.enabled` on Elasticsearch 8 (it is on in 7.x and OpenSearch).
//!
//! # Errors
//!
//! See `error.rs`: transient failures (no connection, 429, 502-504) are retried with the backoff
//! of [`RetryPolicy`] (items of a `_bulk` refused with 429 are sent again, slower), then reported
//! as transient so the daemon backs off too.
//!
//! Files: this one holds the store, opening and the HTTP calls; `config` the settings, `error`
//! the error mapping, `codec` documents to records, `read` the [`RecordSource`](crate::RecordSource)
//! and [`TrainingReader`](crate::TrainingReader) roles, `write` the
//! [`VerdictSink`](crate::VerdictSink), `state` the [`StateStore`](crate::StateStore),
//! `incident` the [`IncidentStore`](crate::IncidentStore), `archive` the
//! [`RecordArchive`](crate::RecordArchive), and `testserver` the test server helper (feature
//! `test-support`).

mod archive;
mod codec;
mod config;
mod error;
mod incident;
mod read;
mod state;
#[cfg(feature = "test-support")]
#[doc(hidden)]
pub mod testserver;
mod write;

pub use archive::import_limit;
pub use config::{parse_endpoint, EsConfig};
pub use error::EsError;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Map, Value};
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};

use crate::record::{FieldNames, RecordId};
use crate::retry::RetryPolicy;
use crate::StoreError;
use config::config_error;
use error::{hint, transient_status};

const BACKEND: &str = "es";
/// The field set on documents that cannot be read.
pub const MALFORMED_FIELD: &str = "lad_malformed";
const AGGREGATE_FIELD: &str = "aggregated_message_id";
/// Documents per search page (the default `index.max_result_window`).
const PAGE: usize = 10_000;
/// Items and bytes per `_bulk` request.
const BULK_ITEMS: usize = 10_000;
const BULK_BYTES: usize = 8 * 1024 * 1024;
/// Replies are read up to this size.
const MAX_REPLY_BYTES: u64 = 1 << 30;
/// How long a point in time is kept between two pages.
const PIT_KEEP_ALIVE: &str = "2m";

/// Which server answers, as `GET /` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Elasticsearch of this major version.
    Elasticsearch(u32),
    /// OpenSearch of this major version.
    OpenSearch(u32),
}

/// `(index, _id)` of a document.
pub(super) type DocKey = (String, String);
/// `(_seq_no, _primary_term)` of a document, for a conditional write.
pub(super) type SeqNo = (u64, u64);

/// One hit of a search or `_mget`.
#[derive(Debug, Deserialize)]
pub(super) struct Hit {
    #[serde(rename = "_index")]
    pub index: String,
    #[serde(rename = "_id")]
    pub id: String,
    #[serde(rename = "_seq_no")]
    pub seq_no: Option<u64>,
    #[serde(rename = "_primary_term")]
    pub primary_term: Option<u64>,
    #[serde(rename = "_source", default)]
    pub source: Option<Map<String, Value>>,
    #[serde(default)]
    pub sort: Option<Vec<Value>>,
    /// `_mget` only.
    #[serde(default)]
    pub found: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct SearchReply {
    hits: Hits,
    #[serde(default)]
    aggregations: Option<Value>,
    #[serde(default)]
    pit_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Hits {
    hits: Vec<Hit>,
}

/// One item of a `_bulk` request: the action line and the document line, if any.
pub(super) struct BulkItem {
    pub action: Value,
    pub doc: Option<Value>,
}

/// What the server said of one `_bulk` item.
#[derive(Debug, Clone)]
pub(super) struct BulkResult {
    pub status: u16,
    pub kind: String,
    pub reason: String,
    pub index: String,
    pub id: String,
}

/// An open connection to Elasticsearch or OpenSearch.
pub struct EsStore {
    agent: ureq::Agent,
    config: EsConfig,
    auth: Option<String>,
    flavor: Flavor,
    notices: Vec<String>,
    /// Source → the field terms queries and aggregations use for the host.
    host_fields: HashMap<String, String>,
    /// `(seq_no, primary_term)` of the documents of the last unscored read.
    seq_nos: HashMap<DocKey, SeqNo>,
    /// Indices this process made sure exist.
    ensured: HashSet<String>,
    /// Export cursors: number → (source position, search_after values).
    export_cursors: HashMap<i64, (usize, Vec<Value>)>,
    next_cursor: i64,
    /// Indices a read found missing, not yet told to the operator; and those already told.
    missing: std::sync::Mutex<std::collections::BTreeSet<String>>,
    told_missing: HashSet<String>,
}

impl fmt::Debug for EsStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EsStore")
            .field("endpoint", &self.config.endpoint)
            .field("flavor", &self.flavor)
            .finish_non_exhaustive()
    }
}

impl EsStore {
    /// Connects, asks `GET /` which server and version answers, and creates lad's state index
    /// when missing.
    pub fn open(config: &EsConfig) -> Result<EsStore, StoreError> {
        if config.password.is_some() && config.user.is_none() {
            return Err(config_error("ES_PASSWORD is set but ES_USER is not"));
        }
        let tls = config::tls_config(config)?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(config.connect_timeout))
            .timeout_global(Some(config.request_timeout))
            .max_idle_connections_per_host(16)
            .user_agent("lad")
            .tls_config(tls)
            .build()
            .into();
        let auth = match (&config.api_key, &config.user) {
            (Some(key), _) => Some(format!("ApiKey {key}")),
            (None, Some(user)) => Some(format!(
                "Basic {}",
                base64(&format!(
                    "{user}:{}",
                    config.password.as_deref().unwrap_or_default()
                ))
            )),
            (None, None) => None,
        };
        let mut store = EsStore {
            agent,
            config: config.clone(),
            auth,
            flavor: Flavor::Elasticsearch(7),
            notices: Vec::new(),
            host_fields: HashMap::new(),
            seq_nos: HashMap::new(),
            ensured: HashSet::new(),
            export_cursors: HashMap::new(),
            next_cursor: 1,
            missing: std::sync::Mutex::default(),
            told_missing: HashSet::new(),
        };
        let root = store.request("connect", "GET", "/", None, &[])?.1;
        store.flavor = flavor(&root).ok_or_else(|| {
            store.driver_error(
                "connect",
                EsError::Reply {
                    method: "GET",
                    path: "/".into(),
                    reason: format!("no version.number in {}", cut(&root.to_string())),
                },
            )
        })?;
        match store.flavor {
            Flavor::Elasticsearch(v) if v < 7 => {
                return Err(config_error(format!(
                    "{} runs Elasticsearch {v}; lad needs 7.10 or later (or OpenSearch 2)",
                    config.endpoint
                )))
            }
            Flavor::OpenSearch(v) if v < 2 => {
                return Err(config_error(format!(
                    "{} runs OpenSearch {v}; lad needs OpenSearch 2 or later",
                    config.endpoint
                )))
            }
            _ => {}
        }
        if let (Some(want), Flavor::Elasticsearch(v) | Flavor::OpenSearch(v)) =
            (config.version, store.flavor)
        {
            if want != v {
                store.notices.push(format!(
                    "es: ES_VERSION is {want} but {} reports {:?}; lad follows the server",
                    config.endpoint, store.flavor
                ));
            }
        }
        store.ensure_state_index()?;
        Ok(store)
    }

    /// Messages for the operator gathered since the last call; the daemon logs them.
    pub fn take_notices(&mut self) -> Vec<String> {
        let missing = match self.missing.lock() {
            Ok(mut m) => std::mem::take(&mut *m),
            Err(_) => Default::default(),
        };
        for index in missing {
            if self.told_missing.insert(index.clone()) {
                self.notices.push(format!(
                    "es: {} has no index {index} (yet): reads of it find nothing",
                    self.config.endpoint
                ));
            }
        }
        std::mem::take(&mut self.notices)
    }

    /// Whether a reply is "no such index"; if so, the index is remembered for a notice. Reads of
    /// a missing index find nothing, as reads of a missing collection or table do elsewhere.
    pub(super) fn index_missing(&self, status: u16, reply: &Value, expr: &str) -> bool {
        if status != 404 || reply["error"]["type"] != "index_not_found_exception" {
            return false;
        }
        let index = reply["error"]["index"].as_str().unwrap_or(expr).to_owned();
        if let Ok(mut m) = self.missing.lock() {
            m.insert(index);
        }
        true
    }

    /// The server's kind and major version.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    fn fields(&self) -> &FieldNames {
        &self.config.fields
    }

    /// Sends one request; retries transient failures with the configured backoff. Returns the
    /// status and the JSON reply for statuses below 300 and those in `accept`; any other status
    /// is an error naming the path and what the server said.
    pub(super) fn request(
        &self,
        operation: &'static str,
        method: &'static str,
        path: &str,
        body: Option<(&'static str, Vec<u8>)>,
        accept: &[u16],
    ) -> Result<(u16, Value), StoreError> {
        let url = format!("{}{path}", self.config.endpoint);
        let attempt = || -> Result<(u16, Vec<u8>), Result<StoreError, StoreError>> {
            let mut builder = ureq::http::Request::builder()
                .method(method)
                .uri(&url)
                .header("Accept", "application/json");
            if let Some(auth) = &self.auth {
                builder = builder.header("Authorization", auth);
            }
            let reply = match &body {
                Some((content_type, bytes)) => builder
                    .header("Content-Type", *content_type)
                    .body(bytes.as_slice())
                    .map(|r| self.agent.run(r)),
                None => builder.body(()).map(|r| self.agent.run(r)),
            };
            let reply = match reply {
                Ok(r) => r,
                Err(e) => {
                    return Err(Err(self.driver_error(
                        operation,
                        EsError::Reply {
                            method,
                            path: path.to_owned(),
                            reason: format!("cannot build the request: {e}"),
                        },
                    )))
                }
            };
            let mut reply = reply.map_err(|e| Ok(self.transport_error(operation, &e)))?;
            let status = reply.status().as_u16();
            let bytes = reply
                .body_mut()
                .with_config()
                .limit(MAX_REPLY_BYTES)
                .read_to_vec()
                .map_err(|e| Ok(self.transport_error(operation, &e)))?;
            if transient_status(status) {
                return Err(Ok(
                    self.status_error(operation, method, path, status, &bytes)
                ));
            }
            Ok((status, bytes))
        };
        // Ok(error): transient, try again; Err(error): give up at once.
        let (status, bytes) = self
            .config
            .retry
            .run(attempt, |e| matches!(e, Ok(err) if err.is_transient()))
            .map_err(|e| match e {
                Ok(err) | Err(err) => err,
            })?;
        if status >= 300 && !accept.contains(&status) {
            return Err(self.status_error(operation, method, path, status, &bytes));
        }
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|e| {
                self.driver_error(
                    operation,
                    EsError::Reply {
                        method,
                        path: path.to_owned(),
                        reason: format!(
                            "not JSON ({e}): {}",
                            cut(&String::from_utf8_lossy(&bytes))
                        ),
                    },
                )
            })?
        };
        Ok((status, value))
    }

    /// A JSON request.
    pub(super) fn call(
        &self,
        operation: &'static str,
        method: &'static str,
        path: &str,
        body: &Value,
        accept: &[u16],
    ) -> Result<(u16, Value), StoreError> {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        self.request(
            operation,
            method,
            path,
            Some(("application/json", bytes)),
            accept,
        )
    }

    fn status_error(
        &self,
        operation: &'static str,
        method: &'static str,
        path: &str,
        status: u16,
        bytes: &[u8],
    ) -> StoreError {
        let (kind, reason) = match serde_json::from_slice::<Value>(bytes) {
            Ok(v) => error_kind_reason(&v["error"]),
            Err(_) => (
                String::new(),
                cut(&String::from_utf8_lossy(bytes)).to_owned(),
            ),
        };
        let hint = hint(status, &kind, &self.config);
        self.driver_error(
            operation,
            EsError::Status {
                method,
                path: path.to_owned(),
                status,
                kind,
                reason,
                hint,
            },
        )
    }

    /// One search; `expr` is an index expression (names, patterns, comma lists).
    pub(super) fn search(
        &self,
        operation: &'static str,
        expr: &str,
        body: &Value,
    ) -> Result<(Vec<Hit>, Option<Value>), StoreError> {
        let (status, reply) = self.call(
            operation,
            "POST",
            &format!("/{}/_search", path_part(expr)),
            body,
            &[404],
        )?;
        if self.index_missing(status, &reply, expr) {
            return Ok((Vec::new(), None));
        }
        if status == 404 {
            return Err(self.status_error(
                operation,
                "POST",
                &format!("/{expr}/_search"),
                status,
                reply.to_string().as_bytes(),
            ));
        }
        let reply: SearchReply = self.parse(operation, "_search", reply)?;
        Ok((reply.hits.hits, reply.aggregations))
    }

    fn parse<T: serde::de::DeserializeOwned>(
        &self,
        operation: &'static str,
        path: &str,
        reply: Value,
    ) -> Result<T, StoreError> {
        serde_json::from_value(reply).map_err(|e| {
            self.driver_error(
                operation,
                EsError::Reply {
                    method: "POST",
                    path: path.to_owned(),
                    reason: e.to_string(),
                },
            )
        })
    }

    /// Up to `limit` hits of `query` in `sort` order: one search when that fits a page, else
    /// pages with `search_after` inside a point in time. `sort` must end with a unique key.
    pub(super) fn scan(
        &self,
        operation: &'static str,
        expr: &str,
        query: Value,
        sort: Value,
        limit: usize,
    ) -> Result<Vec<Hit>, StoreError> {
        if limit == 0 || expr.is_empty() {
            return Ok(Vec::new());
        }
        let mut body = json!({
            "query": query,
            "sort": sort,
            "size": limit.min(PAGE),
            "seq_no_primary_term": true,
            "track_total_hits": false,
        });
        if limit <= PAGE {
            return Ok(self.search(operation, expr, &body)?.0);
        }
        let Some(mut pit) = self.open_pit(operation, expr)? else {
            return Ok(Vec::new());
        };
        let mut out: Vec<Hit> = Vec::new();
        let result = (|| loop {
            let want = (limit - out.len()).min(PAGE);
            body["size"] = json!(want);
            body["pit"] = json!({ "id": pit, "keep_alive": PIT_KEEP_ALIVE });
            if let Some(last) = out.last().and_then(|h| h.sort.clone()) {
                body["search_after"] = Value::Array(last);
            }
            let (_, reply) = self.call(operation, "POST", "/_search", &body, &[])?;
            let reply: SearchReply = self.parse(operation, "_search", reply)?;
            if let Some(id) = reply.pit_id {
                pit = id;
            }
            let got = reply.hits.hits.len();
            out.extend(reply.hits.hits);
            if got < want || out.len() >= limit {
                return Ok(());
            }
        })();
        self.close_pit(&pit);
        result.map(|()| out)
    }

    /// Opens a point in time over `expr`; `None` when the index does not exist.
    fn open_pit(&self, operation: &'static str, expr: &str) -> Result<Option<String>, StoreError> {
        let path = match self.flavor {
            Flavor::Elasticsearch(_) => {
                format!("/{}/_pit?keep_alive={PIT_KEEP_ALIVE}", path_part(expr))
            }
            Flavor::OpenSearch(_) => format!(
                "/{}/_search/point_in_time?keep_alive={PIT_KEEP_ALIVE}",
                path_part(expr)
            ),
        };
        let (status, reply) = self.request(operation, "POST", &path, None, &[404])?;
        if self.index_missing(status, &reply, expr) {
            return Ok(None);
        }
        if status == 404 {
            return Err(self.status_error(
                operation,
                "POST",
                &path,
                status,
                reply.to_string().as_bytes(),
            ));
        }
        reply["id"]
            .as_str()
            .or_else(|| reply["pit_id"].as_str())
            .map(|id| Some(id.to_owned()))
            .ok_or_else(|| {
                self.driver_error(
                    operation,
                    EsError::Reply {
                        method: "POST",
                        path,
                        reason: format!("no point-in-time id in {}", cut(&reply.to_string())),
                    },
                )
            })
    }

    /// Closes a point in time; a failure only leaves it to expire.
    fn close_pit(&self, id: &str) {
        let (path, body) = match self.flavor {
            Flavor::Elasticsearch(_) => ("/_pit", json!({ "id": id })),
            Flavor::OpenSearch(_) => ("/_search/point_in_time", json!({ "pit_id": [id] })),
        };
        let _ = self.call("close a point in time", "DELETE", path, &body, &[404]);
    }

    /// Sends `_bulk` requests (with `refresh=true`) of at most [`BULK_ITEMS`] items and
    /// [`BULK_BYTES`]; items refused with 429 are sent again after the retry policy's pauses.
    /// Returns one result per item, in order.
    pub(super) fn bulk(
        &mut self,
        operation: &'static str,
        items: Vec<BulkItem>,
    ) -> Result<Vec<BulkResult>, StoreError> {
        let mut results: Vec<Option<BulkResult>> = vec![None; items.len()];
        let lines: Vec<Vec<u8>> = items
            .iter()
            .map(|item| {
                let mut line = serde_json::to_vec(&item.action).unwrap_or_default();
                line.push(b'\n');
                if let Some(doc) = &item.doc {
                    line.extend(serde_json::to_vec(doc).unwrap_or_default());
                    line.push(b'\n');
                }
                line
            })
            .collect();
        let mut pending: Vec<usize> = (0..items.len()).collect();
        let mut delay = self.config.retry.first_delay;
        for round in 0..=self.config.retry.retries {
            let mut again = Vec::new();
            for chunk in bulk_chunks(&pending, &lines) {
                let mut body = Vec::new();
                for &i in &chunk {
                    body.extend_from_slice(&lines[i]);
                }
                let (_, reply) = self.request(
                    operation,
                    "POST",
                    "/_bulk?refresh=true",
                    Some(("application/x-ndjson", body)),
                    &[],
                )?;
                let answered = reply["items"].as_array().cloned().unwrap_or_default();
                if answered.len() != chunk.len() {
                    return Err(self.driver_error(
                        operation,
                        EsError::Reply {
                            method: "POST",
                            path: "/_bulk".into(),
                            reason: format!(
                                "{} items sent, {} answered",
                                chunk.len(),
                                answered.len()
                            ),
                        },
                    ));
                }
                for (&i, item) in chunk.iter().zip(answered) {
                    let inner = item
                        .as_object()
                        .and_then(|m| m.values().next())
                        .cloned()
                        .unwrap_or(Value::Null);
                    let status = inner["status"].as_u64().unwrap_or(0) as u16;
                    let (kind, reason) = error_kind_reason(&inner["error"]);
                    let result = BulkResult {
                        status,
                        kind,
                        reason,
                        index: inner["_index"].as_str().unwrap_or_default().to_owned(),
                        id: inner["_id"].as_str().unwrap_or_default().to_owned(),
                    };
                    if status == 429 && round < self.config.retry.retries {
                        again.push(i);
                    }
                    results[i] = Some(result);
                }
            }
            if again.is_empty() {
                break;
            }
            if round == 0 {
                self.notices.push(format!(
                    "es: {} refused {} write(s) with 429 (overloaded); slowing down and sending \
                     them again",
                    self.config.endpoint,
                    again.len()
                ));
            }
            std::thread::sleep(delay);
            delay *= 2;
            pending = again;
        }
        Ok(results
            .into_iter()
            .map(|r| {
                r.unwrap_or(BulkResult {
                    status: 0,
                    kind: "not_sent".into(),
                    reason: "not sent".into(),
                    index: String::new(),
                    id: String::new(),
                })
            })
            .collect())
    }

    /// The error for bulk items whose status is not among `accept` (and not below 300).
    pub(super) fn bulk_failures(
        &self,
        operation: &'static str,
        results: &[BulkResult],
        accept: &[u16],
    ) -> Result<(), StoreError> {
        let bad: Vec<&BulkResult> = results
            .iter()
            .filter(|r| r.status >= 300 && !accept.contains(&r.status))
            .collect();
        let Some(first) = bad.first() else {
            return Ok(());
        };
        Err(self.driver_error(
            operation,
            EsError::Bulk {
                index: first.index.clone(),
                id: first.id.clone(),
                count: bad.len(),
                status: first.status,
                kind: first.kind.clone(),
                reason: first.reason.clone(),
                hint: hint(first.status, &first.kind, &self.config),
            },
        ))
    }

    /// Real-time `_mget` of `(index, _id)` pairs with the fields named; `found: false` hits for
    /// missing documents.
    pub(super) fn mget(
        &self,
        operation: &'static str,
        docs: &[(String, String)],
        fields: &[&str],
    ) -> Result<Vec<Hit>, StoreError> {
        let mut out = Vec::with_capacity(docs.len());
        for part in docs.chunks(PAGE) {
            let body = json!({
                "docs": part.iter().map(|(index, id)| json!({
                    "_index": index, "_id": id, "_source": fields,
                })).collect::<Vec<_>>(),
            });
            let (_, reply) = self.call(operation, "POST", "/_mget", &body, &[])?;
            #[derive(Deserialize)]
            struct Docs {
                docs: Vec<Value>,
            }
            let reply: Docs = self.parse(operation, "_mget", reply)?;
            for d in reply.docs {
                // A missing index answers an error entry instead of `found: false`.
                if d.get("error").is_some() {
                    out.push(Hit {
                        index: d["_index"].as_str().unwrap_or_default().to_owned(),
                        id: d["_id"].as_str().unwrap_or_default().to_owned(),
                        seq_no: None,
                        primary_term: None,
                        source: None,
                        sort: None,
                        found: Some(false),
                    });
                } else {
                    out.push(self.parse(operation, "_mget", d)?);
                }
            }
        }
        Ok(out)
    }

    /// Creates an index with `mappings` unless it exists (once per process).
    pub(super) fn ensure_index(
        &mut self,
        operation: &'static str,
        index: &str,
        mappings: Value,
    ) -> Result<(), StoreError> {
        if self.ensured.contains(index) {
            return Ok(());
        }
        let (status, reply) = self.call(
            operation,
            "PUT",
            &format!("/{}", path_part(index)),
            &json!({ "mappings": mappings }),
            &[400],
        )?;
        if status == 400 {
            let (kind, reason) = error_kind_reason(&reply["error"]);
            if kind != "resource_already_exists_exception" {
                return Err(self.driver_error(
                    operation,
                    EsError::Status {
                        method: "PUT",
                        path: format!("/{index}"),
                        status,
                        hint: hint(status, &kind, &self.config),
                        kind,
                        reason,
                    },
                ));
            }
        } else {
            self.notices.push(format!(
                "es: created index {index} at {}",
                self.config.endpoint
            ));
        }
        self.ensured.insert(index.to_owned());
        Ok(())
    }

    /// The mapping lad gives a records index it creates (on import, or `ES_TARGET_INDEX`): the
    /// fields it reads and writes typed; other fields are kept in `_source` but not indexed
    /// (`dynamic: false`), so a document whose extra fields mix types (`[1, 2.5, true]`) is
    /// never refused.
    pub(super) fn records_mapping(&self) -> Value {
        let f = self.fields();
        let mut props = Map::new();
        put_path(&mut props, &f.host, json!({ "type": "keyword" }));
        put_path(&mut props, &f.time, json!({ "type": "date" }));
        put_path(&mut props, &f.message, json!({ "type": "text" }));
        props.insert("is_anomaly".into(), json!({ "type": "integer" }));
        props.insert("anomaly_score".into(), json!({ "type": "double" }));
        props.insert(AGGREGATE_FIELD.into(), json!({ "type": "keyword" }));
        props.insert(MALFORMED_FIELD.into(), json!({ "type": "keyword" }));
        json!({ "dynamic": false, "properties": props })
    }

    /// The indices that exist among those matching `pattern` (`_cat/indices`), sorted.
    pub(super) fn indices(
        &self,
        operation: &'static str,
        pattern: &str,
    ) -> Result<Vec<String>, StoreError> {
        let (status, reply) = self.request(
            operation,
            "GET",
            &format!(
                "/_cat/indices/{}?format=json&h=index&expand_wildcards=open",
                path_part(pattern)
            ),
            None,
            &[404],
        )?;
        if status == 404 {
            return Ok(Vec::new());
        }
        let mut out: Vec<String> = reply
            .as_array()
            .map(|rows| {
                rows.iter()
                    .filter_map(|r| r["index"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        Ok(out)
    }
}

/// The server kind and major version from the reply of `GET /`.
fn flavor(root: &Value) -> Option<Flavor> {
    let number = root["version"]["number"].as_str()?;
    let major: u32 = number.split('.').next()?.parse().ok()?;
    Some(if root["version"]["distribution"] == "opensearch" {
        Flavor::OpenSearch(major)
    } else {
        Flavor::Elasticsearch(major)
    })
}

/// `(type, reason)` of an `error` object (or string) of a reply.
fn error_kind_reason(error: &Value) -> (String, String) {
    match error {
        Value::Object(_) => {
            let root = &error["root_cause"][0];
            let kind = error["type"].as_str().unwrap_or_default();
            let mut reason = error["reason"].as_str().unwrap_or_default().to_owned();
            if let Some(cause) = error["caused_by"]["reason"]
                .as_str()
                .or(root["reason"].as_str())
            {
                if !reason.contains(cause) {
                    reason = format!("{reason}: {cause}");
                }
            }
            (kind.to_owned(), reason)
        }
        Value::String(s) => (String::new(), s.clone()),
        Value::Null => (String::new(), String::new()),
        other => (String::new(), other.to_string()),
    }
}

/// Groups pending bulk lines into requests of bounded items and bytes.
fn bulk_chunks(pending: &[usize], lines: &[Vec<u8>]) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0;
    for &i in pending {
        let size = lines[i].len();
        if !current.is_empty() && (current.len() >= BULK_ITEMS || bytes + size > BULK_BYTES) {
            out.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push(i);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Puts a mapping at a dotted path (`host.name` → `host: {properties: {name: ..}}`).
fn put_path(props: &mut Map<String, Value>, path: &str, mapping: Value) {
    match path.split_once('.') {
        Some((head, rest)) => {
            let entry = props
                .entry(head.to_owned())
                .or_insert_with(|| json!({ "properties": {} }));
            if let Some(inner) = entry.get_mut("properties").and_then(Value::as_object_mut) {
                put_path(inner, rest, mapping);
            }
        }
        None => {
            props.insert(path.to_owned(), mapping);
        }
    }
}

/// An index expression as a URL path segment: the characters index names may hold that a URL
/// path may not are escaped.
fn path_part(expr: &str) -> String {
    let mut out = String::with_capacity(expr.len());
    for b in expr.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' | b',' | b'+' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// At most 300 bytes of a text, for error messages.
fn cut(text: &str) -> &str {
    let mut end = text.len().min(300);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Standard base64 with padding (for the basic-auth header).
fn base64(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A new document id that sorts after every id this process made before (and, the clock
/// permitting, after those of earlier runs): microseconds since 1970 in hex, bumped past the last
/// one given, then the process id, so that two processes do not collide.
pub(super) fn sortable_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev + 1);
        match LAST.compare_exchange(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return format!("{next:016x}{:04x}", std::process::id() & 0xffff),
            Err(p) => prev = p,
        }
    }
}

/// The record id of a document: `index/_id`.
pub(super) fn record_id(index: &str, id: &str) -> RecordId {
    RecordId::Text(format!("{index}/{id}"))
}

/// `(index, _id)` of a record id of this backend.
pub(super) fn split_id(
    id: &RecordId,
    operation: &'static str,
) -> Result<(String, String), StoreError> {
    match id {
        RecordId::Text(t) => match t.split_once('/') {
            Some((index, doc)) if !index.is_empty() && !doc.is_empty() => {
                Ok((index.to_owned(), doc.to_owned()))
            }
            _ => Err(bad_id(id, operation)),
        },
        _ => Err(bad_id(id, operation)),
    }
}

fn bad_id(id: &RecordId, operation: &'static str) -> StoreError {
    StoreError::invalid_record(
        BACKEND,
        id,
        operation,
        "expected an es record id, index/_id".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(""), "");
        assert_eq!(base64("f"), "Zg==");
        assert_eq!(base64("fo"), "Zm8=");
        assert_eq!(base64("foo"), "Zm9v");
        assert_eq!(base64("user:pa:ss"), "dXNlcjpwYTpzcw==");
    }

    #[test]
    fn ids_split_at_the_first_slash() {
        let id = record_id("logs-2024.01.05", "a/b");
        assert_eq!(
            split_id(&id, "t").ok(),
            Some(("logs-2024.01.05".into(), "a/b".into()))
        );
        assert!(split_id(&RecordId::Int(3), "t").is_err());
        assert!(split_id(&RecordId::Text("nolsash".into()), "t").is_err());
    }

    #[test]
    fn flavors_and_paths() {
        assert_eq!(
            flavor(&json!({"version": {"number": "3.8.0", "distribution": "opensearch"}})),
            Some(Flavor::OpenSearch(3))
        );
        assert_eq!(
            flavor(&json!({"version": {"number": "8.15.1"}})),
            Some(Flavor::Elasticsearch(8))
        );
        assert_eq!(path_part("logs-*,a.b"), "logs-*,a.b");
        assert_eq!(path_part("a b/c"), "a%20b%2Fc");
        let mut props = Map::new();
        put_path(&mut props, "host.name", json!({"type": "keyword"}));
        assert_eq!(
            Value::Object(props),
            json!({"host": {"properties": {"name": {"type": "keyword"}}}})
        );
    }
}
