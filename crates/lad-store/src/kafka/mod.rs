//! The `kafka` backend: Kafka topics as a streaming record source and a verdict sink, through
//! librdkafka (`rdkafka`). Feature `kafka`, off by default (librdkafka's bundled build links the
//! system OpenSSL). It is not a database: it has the roles a stream has and answers
//! [`StoreError::Unsupported`] for the others (stored anomalies, aggregates and export).
//!
//! As a [`RecordSource`](crate::RecordSource) a store is one consumer in the group `group_id`,
//! subscribed to the input topics (the LOG_SOURCES names). Records are JSON objects with the
//! fields named by [`FieldNames`](crate::record::FieldNames); a record's id is
//! `partition:offset` and its `extra` gains `lad_topic`, `lad_partition` and `lad_offset`, so a
//! verdict names its input. Messages are
//! buffered per topic; a record stays buffered (and its partition's offset uncommitted) until
//! [`acknowledge`](crate::RecordSource::acknowledge) says its verdict was written, so the
//! committed offset of a partition is always the first record not yet done: a kill at any moment
//! loses nothing, and what was written but not committed is scored again on restart (see
//! `write` for the rule that removes such duplicates). A record that cannot be read is reported
//! as [`Malformed`](crate::Malformed); marking it copies the message to the dead-letter topic and
//! counts it done. A rebalance drops the buffered records of revoked partitions (their new owner
//! reads them from the committed offset).
//!
//! As a [`TrainingReader`](crate::TrainingReader) it reads the topic's history with a separate
//! consumer outside the group: from the offsets of `from_ms` (offsets-for-times) to the end of
//! each partition, keeping each host's newest records in the window. One scan serves every host
//! of a training pass (the window is the same for all).
//!
//! As a [`VerdictSink`](crate::VerdictSink) it publishes one JSON message per verdict, keyed by
//! host, to the verdict topic. A write returns once its messages are queued; the brokers'
//! confirmations are awaited behind it (`KafkaStore::settle`): acknowledged records stay
//! buffered, *awaiting*, and their offsets uncommitted until every message sent up to their
//! acknowledgement is confirmed, so confirming a batch overlaps reading and scoring the next
//! and the delivery rule stays the same (offsets are committed only after the verdicts are
//! written). A failed or timed-out delivery puts every awaiting record back to be scored and
//! published again, and is reported as a transient error.
//!
//! Files: this one holds the store and its clients; `config` the settings, `error` the error
//! mapping, `read` the source and training roles, `write` the sink, `state` and `archive` the
//! roles it lacks, `testing` topic set-up for tests (feature `test-support`).

mod archive;
mod config;
mod error;
mod read;
mod state;
#[cfg(feature = "test-support")]
#[doc(hidden)]
pub mod testing;
mod write;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;

pub use config::{KafkaConfig, KafkaSecurity, VerdictSelection};
use error::classify;
use read::Scoring;

use crate::record::RecordId;
use crate::StoreError;

const BACKEND: &str = "kafka";

/// How long a read waits for the first message when nothing is buffered.
const FIRST_POLL: Duration = Duration::from_millis(200);

/// The Kafka backend: a producer for verdicts and dead letters, and, when it reads, the group
/// consumer of the input topics.
pub struct KafkaStore {
    config: KafkaConfig,
    producer: BaseProducer<DeliveryLog>,
    /// The scoring consumer; `None` for a store with no input topic (a sink).
    scoring: Option<Scoring>,
    /// The last training scan, reused by every host of a training pass.
    training: Option<read::TrainingScan>,
    /// Per source, verdicts this process published and whose records are not yet
    /// acknowledged, so that writing the same verdicts again publishes nothing new.
    published: HashMap<String, HashSet<RecordId>>,
    /// Aggregates published, to number their ids.
    aggregates_published: u64,
    /// The number of the last write (verdicts, a dead-letter copy, aggregates): every message
    /// carries its write's number, so that confirmations can be followed per write.
    write_seq: u64,
    /// Acknowledged records whose messages are not all confirmed yet, oldest first.
    awaiting: VecDeque<Awaiting>,
}

/// Records acknowledged (or marked malformed) and done once every message of the writes up to
/// `upto` is confirmed.
struct Awaiting {
    upto: u64,
    source: String,
    keys: HashSet<(i32, i64)>,
}

/// How long closing a store waits for the confirmations of what it published (what is not
/// confirmed by then is read and published again by the next owner of the partitions).
const CLOSE_WAIT: Duration = Duration::from_secs(10);

impl std::fmt::Debug for KafkaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaStore")
            .field("brokers", &self.config.brokers)
            .field("group_id", &self.config.group_id)
            .field("sources", &self.config.sources)
            .field("verdict_topic", &self.config.verdict_topic)
            .finish()
    }
}

impl KafkaStore {
    /// Creates the clients (librdkafka connects in the background: a broker that is away is
    /// found by the first read or write, as a transient error). A store with input topics
    /// joins the consumer group and subscribes to them.
    pub fn open(config: &KafkaConfig) -> Result<KafkaStore, StoreError> {
        let producer = client_config(config)
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set("compression.type", "lz4")
            .set(
                "message.timeout.ms",
                config.delivery_timeout_ms.max(1).to_string(),
            )
            .apply(&config.librdkafka_options)
            .create_with_context(DeliveryLog::default())
            .map_err(|e| classify(e, config, "create the producer"))?;
        let scoring = if config.sources.is_empty() {
            None
        } else {
            Some(Scoring::open(config)?)
        };
        Ok(KafkaStore {
            config: config.clone(),
            producer,
            scoring,
            training: None,
            published: HashMap::new(),
            aggregates_published: 0,
            write_seq: 0,
            awaiting: VecDeque::new(),
        })
    }

    /// Numbers a new write (see `write_seq`).
    fn next_write(&mut self) -> u64 {
        self.write_seq += 1;
        self.write_seq
    }

    /// Hands librdkafka's delivery reports to [`DeliveryLog`] (waiting up to `wait` for all of
    /// them when given), then finishes the awaiting records whose messages are all confirmed:
    /// they are done, and the offsets that moved are committed. After a failed or timed-out
    /// delivery every record still awaiting is put back to be scored and published again, and
    /// the failure is returned.
    fn settle(
        &mut self,
        wait: Option<Duration>,
        operation: &'static str,
    ) -> Result<(), StoreError> {
        let mut timed_out = false;
        match wait {
            Some(timeout) => match self.producer.flush(timeout) {
                Ok(()) => {}
                Err(KafkaError::Flush(_)) => timed_out = true,
                Err(e) => return Err(classify(e, &self.config, operation)),
            },
            None => self.producer.poll(Duration::ZERO),
        }
        let (oldest_unconfirmed, first_failed, failures) = self.producer.context().status();
        // Records awaiting writes below this bound are finished: every write before the first
        // one not yet confirmed and before the first failed one (none after a timed-out wait).
        let bound = if timed_out {
            0
        } else {
            oldest_unconfirmed
                .into_iter()
                .chain(first_failed)
                .min()
                .unwrap_or(u64::MAX)
        };
        let mut finished = Vec::new();
        while self.awaiting.front().is_some_and(|a| a.upto < bound) {
            finished.extend(self.awaiting.pop_front());
        }
        // Records await only on a consuming store (`acknowledge`, `mark_malformed`).
        if let Some(scoring) = self.scoring.as_mut().filter(|_| !finished.is_empty()) {
            for done in &finished {
                scoring.done(&done.source, &done.keys);
            }
            scoring.commit(&self.config)?;
        }
        let failed = timed_out || first_failed.is_some();
        if !failed {
            return Ok(());
        }
        // Whatever was published and not confirmed is published again: no record is left
        // with a verdict that may not have reached the brokers.
        self.published.clear();
        let back = std::mem::take(&mut self.awaiting);
        if let Some(scoring) = self.scoring.as_mut() {
            for a in &back {
                scoring.set_awaiting(&a.source, &a.keys, false);
            }
        }
        Err(error::delivery_failed(&self.config, operation, &failures))
    }

    /// [`KafkaStore::settle`], waiting up to the delivery timeout for every confirmation.
    fn settle_all(&mut self, operation: &'static str) -> Result<(), StoreError> {
        let wait = Duration::from_millis(self.config.delivery_timeout_ms.max(1));
        self.settle(Some(wait), operation)
    }

    /// The settings it was opened with.
    pub fn config(&self) -> &KafkaConfig {
        &self.config
    }

    /// Sends one message of write `write` (see [`KafkaStore::next_write`]), waiting for room
    /// in the producer's queue when it is full.
    fn send(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        payload: &[u8],
        headers: Option<rdkafka::message::OwnedHeaders>,
        write: u64,
        operation: &'static str,
    ) -> Result<(), StoreError> {
        let opaque = usize::try_from(write).unwrap_or(usize::MAX);
        let mut record =
            rdkafka::producer::BaseRecord::<[u8], [u8], usize>::with_opaque_to(topic, opaque)
                .payload(payload);
        if let Some(k) = key {
            record = record.key(k);
        }
        if let Some(h) = headers {
            record = record.headers(h);
        }
        self.producer.context().sending(write);
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    self.producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => {
                    self.producer.context().not_sent(write);
                    return Err(classify(e, &self.config, operation));
                }
            }
        }
    }
}

/// lad's properties and the user's on a librdkafka client configuration.
fn client_config(config: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    for (k, v) in config.client_properties() {
        c.set(k, v);
    }
    c.set("client.id", format!("lad-{}", std::process::id()));
    c
}

/// Applies `KF_LIBRDKAFKA_OPTIONS` last, so the user's word wins.
trait ApplyOptions {
    fn apply(&mut self, options: &std::collections::BTreeMap<String, String>) -> &mut Self;
}

impl ApplyOptions for ClientConfig {
    fn apply(&mut self, options: &std::collections::BTreeMap<String, String>) -> &mut Self {
        for (k, v) in options {
            self.set(k, v);
        }
        self
    }
}

/// The producer's context: counts per write the messages not yet confirmed, and remembers the
/// messages the brokers refused or that timed out.
#[derive(Default)]
struct DeliveryLog {
    state: Mutex<Deliveries>,
}

#[derive(Default)]
struct Deliveries {
    /// Per write, messages sent and not yet reported.
    unconfirmed: BTreeMap<u64, usize>,
    /// The first write with a failed message since the last look.
    first_failed: Option<u64>,
    failures: Vec<String>,
}

impl DeliveryLog {
    fn with<T>(&self, f: impl FnOnce(&mut Deliveries) -> T) -> T {
        // A poisoned lock only means a panic elsewhere mid-update: the counts are still the
        // best knowledge there is.
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut state)
    }

    fn sending(&self, write: u64) {
        self.with(|d| *d.unconfirmed.entry(write).or_insert(0) += 1);
    }

    fn not_sent(&self, write: u64) {
        self.with(|d| d.confirmed(write));
    }

    /// The oldest write with messages not yet reported, the first write with a failed message
    /// and the failures (taken: each is reported once).
    fn status(&self) -> (Option<u64>, Option<u64>, Vec<String>) {
        self.with(|d| {
            (
                d.unconfirmed.keys().next().copied(),
                d.first_failed.take(),
                std::mem::take(&mut d.failures),
            )
        })
    }
}

impl Deliveries {
    fn confirmed(&mut self, write: u64) {
        if let Some(n) = self.unconfirmed.get_mut(&write) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.unconfirmed.remove(&write);
            }
        }
    }
}

/// librdkafka's error reports, logged as rdkafka does, except the end of a partition: the
/// training scan asks for it, and it is no error.
fn report(error: KafkaError, reason: &str) {
    // librdkafka reports it as a partition's error or, from the scan's poll, as a global one
    // ("Global error: PartitionEOF"): neither is an error.
    if matches!(
        error,
        KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
    ) {
        return;
    }
    log::error!(target: "librdkafka", "librdkafka: {error}: {reason}");
}

/// The training scan's context: quiet about partition ends.
pub(super) struct ScanContext;

impl ClientContext for ScanContext {
    fn error(&self, error: KafkaError, reason: &str) {
        report(error, reason);
    }
}

impl ConsumerContext for ScanContext {}

impl ClientContext for DeliveryLog {
    fn error(&self, error: KafkaError, reason: &str) {
        report(error, reason);
    }
}

impl ProducerContext for DeliveryLog {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, write: usize) {
        let write = write as u64;
        self.with(|d| {
            d.confirmed(write);
            if let Err((e, m)) = result {
                use rdkafka::Message;
                d.first_failed = Some(d.first_failed.map_or(write, |f| f.min(write)));
                d.failures.push(format!("topic {}: {e}", m.topic()));
            }
        });
    }
}

impl Drop for KafkaStore {
    /// Waits a little for the confirmations of what was published, so that a store closed
    /// between batches commits what it finished (a kill instead loses nothing either: the
    /// uncommitted records are scored and published again).
    fn drop(&mut self) {
        if self.awaiting.is_empty() {
            return;
        }
        if let Err(e) = self.settle(Some(CLOSE_WAIT), "confirm verdicts on close") {
            log::warn!("kafka: {e}");
        }
    }
}

/// The scoring consumer's context: remembers partitions revoked by a rebalance, so the store
/// drops what it buffered of them.
#[derive(Default)]
struct GroupContext {
    revoked: Arc<Mutex<Vec<(String, i32)>>>,
}

impl ClientContext for GroupContext {
    fn error(&self, error: KafkaError, reason: &str) {
        report(error, reason);
    }
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            if let Ok(mut r) = self.revoked.lock() {
                for e in list.elements() {
                    r.push((e.topic().to_string(), e.partition()));
                }
            }
        }
    }
}

/// Makes sure a consumer is subscribed (used by [`Scoring::open`]).
fn subscribe(
    consumer: &BaseConsumer<GroupContext>,
    config: &KafkaConfig,
) -> Result<(), StoreError> {
    let topics: Vec<&str> = config.sources.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(|e| classify(e, config, "subscribe to the input topics"))
}
