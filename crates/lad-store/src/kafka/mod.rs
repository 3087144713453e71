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
//! host, to the verdict topic, and waits for the brokers to confirm them before returning.
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

use std::collections::{HashMap, HashSet};
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
}

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
        })
    }

    /// The settings it was opened with.
    pub fn config(&self) -> &KafkaConfig {
        &self.config
    }

    /// Waits until every message sent so far is confirmed by the brokers (or failed); an error
    /// when one failed or the wait timed out.
    fn flush(&mut self, operation: &'static str) -> Result<(), StoreError> {
        let timeout = Duration::from_millis(self.config.delivery_timeout_ms.max(1));
        let flushed = self.producer.flush(timeout);
        let failures = self.producer.context().take_failures();
        match flushed {
            Err(KafkaError::Flush(_)) => {
                Err(error::delivery_failed(&self.config, operation, &failures))
            }
            Err(e) => Err(classify(e, &self.config, operation)),
            Ok(()) if !failures.is_empty() => {
                Err(error::delivery_failed(&self.config, operation, &failures))
            }
            Ok(()) => Ok(()),
        }
    }

    /// Sends one message, waiting for room in the producer's queue when it is full.
    fn send(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        payload: &[u8],
        headers: Option<rdkafka::message::OwnedHeaders>,
        operation: &'static str,
    ) -> Result<(), StoreError> {
        let mut record = rdkafka::producer::BaseRecord::<[u8], [u8]>::to(topic).payload(payload);
        if let Some(k) = key {
            record = record.key(k);
        }
        if let Some(h) = headers {
            record = record.headers(h);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    self.producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => return Err(classify(e, &self.config, operation)),
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

/// The producer's context: remembers the messages the brokers refused or that timed out.
#[derive(Default)]
struct DeliveryLog {
    failures: Mutex<Vec<String>>,
}

impl DeliveryLog {
    fn take_failures(&self) -> Vec<String> {
        self.failures
            .lock()
            .map(|mut f| std::mem::take(&mut *f))
            .unwrap_or_default()
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
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, m)) = result {
            use rdkafka::Message;
            if let Ok(mut f) = self.failures.lock() {
                f.push(format!("topic {}: {e}", m.topic()));
            }
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
