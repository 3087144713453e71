//! The [`RecordSource`] and [`TrainingReader`] roles of the Kafka backend: the group consumer
//! that buffers records until their verdicts are written ([`Scoring`]), and the scan of a
//! topic's history for training windows ([`TrainingScan`]).
//!
//! Offsets: per partition, the records consumed and not yet done are `pending`; the committed
//! offset is the first pending one, or the offset after the last consumed when none is. A record
//! is done when its verdict is confirmed after it was acknowledged, when the copy of a
//! malformed one on the dead-letter topic is confirmed, or when it is passed over (a host not
//! in LOG_SOURCES `HOSTNAMES`). Between acknowledging and the confirmation it stays buffered,
//! *awaiting*: no read returns it again, and it counts as neither unscored nor done. Records of
//! a host without a model stay buffered and hold their partition's commit back until a model
//! scores them.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Header, OwnedHeaders};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde_json::{json, Value};

use super::{
    classify, client_config, subscribe, ApplyOptions, GroupContext, KafkaConfig, KafkaStore,
    ScanContext, BACKEND, FIRST_POLL,
};
use crate::record::{check_message, Batch, FieldNames, Malformed, Record, RecordId};
use crate::{RecordSource, StoreError, TrainingReader};

/// A buffered message: a record to score, or one that cannot be read (kept whole for the
/// dead-letter topic).
enum Entry {
    Good(Record),
    Bad {
        report: Malformed,
        key: Option<Vec<u8>>,
        payload: Vec<u8>,
    },
}

/// A buffered message and where it came from (kept beside it so that acknowledging and
/// rebalancing never parse ids).
struct Buffered {
    partition: i32,
    offset: i64,
    entry: Entry,
    /// Acknowledged (or marked malformed), its messages not yet confirmed.
    awaiting: bool,
}

/// What is known of one assigned partition.
#[derive(Default)]
struct PartitionState {
    /// Offsets consumed and not yet done.
    pending: BTreeSet<i64>,
    /// The offset after the last one consumed.
    next: i64,
    /// The offset last committed by this consumer (`-1` before the first commit).
    committed: i64,
}

impl PartitionState {
    /// Where the group may resume: the first offset not done.
    fn resume_at(&self) -> i64 {
        self.pending.first().copied().unwrap_or(self.next)
    }
}

/// The group consumer of the input topics and what it has buffered.
pub(super) struct Scoring {
    consumer: BaseConsumer<GroupContext>,
    /// Buffered messages per topic, in the order they were consumed.
    buffer: HashMap<String, VecDeque<Buffered>>,
    /// Per topic, the assigned partitions seen so far.
    partitions: HashMap<String, HashMap<i32, PartitionState>>,
    /// Hosts seen on the assigned partitions, per topic, with their partitions.
    hosts: HashMap<String, HashMap<String, HashSet<i32>>>,
    /// Per topic, the only hosts scored (LOG_SOURCES `HOSTNAMES`).
    host_filter: HashMap<String, HashSet<String>>,
    fields: FieldNames,
}

impl Scoring {
    /// Creates the consumer and subscribes it to the input topics.
    pub(super) fn open(config: &KafkaConfig) -> Result<Scoring, StoreError> {
        let consumer: BaseConsumer<GroupContext> = client_config(config)
            .set("group.id", &config.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set(
                "max.poll.interval.ms",
                config.max_poll_interval_ms.max(1).to_string(),
            )
            .apply(&config.librdkafka_options)
            .create_with_context(GroupContext::default())
            .map_err(|e| classify(e, config, "create the consumer"))?;
        subscribe(&consumer, config)?;
        let host_filter = config
            .hosts
            .iter()
            .filter(|(_, hosts)| !hosts.is_empty())
            .map(|(topic, hosts)| (topic.clone(), hosts.iter().cloned().collect()))
            .collect();
        Ok(Scoring {
            consumer,
            buffer: HashMap::new(),
            partitions: HashMap::new(),
            hosts: HashMap::new(),
            host_filter,
            fields: config.fields.clone(),
        })
    }

    fn buffered(&self) -> usize {
        self.buffer.values().map(VecDeque::len).sum()
    }

    /// Reads what the brokers have ready, up to `cap` buffered messages in all: waits up to
    /// [`FIRST_POLL`] for the first, then takes only what is already fetched.
    fn fill(&mut self, cap: usize, config: &KafkaConfig) -> Result<(), StoreError> {
        let mut wait = FIRST_POLL;
        while self.buffered() < cap {
            // The message is copied out before revoked partitions are dropped: a rebalance runs
            // inside `poll`, and the message it returns is of the assignment after it.
            let polled = match self.consumer.poll(wait) {
                None => None,
                Some(Ok(m)) => Some(Ok((
                    m.topic().to_string(),
                    m.partition(),
                    m.offset(),
                    decode(&m, &self.fields),
                ))),
                Some(Err(e)) => Some(Err(e)),
            };
            self.drop_revoked();
            match polled {
                None => break,
                Some(Ok((topic, partition, offset, entry))) => {
                    self.take(topic, partition, offset, entry);
                }
                Some(Err(KafkaError::PartitionEOF(_))) => {}
                Some(Err(e @ KafkaError::MessageConsumptionFatal(_))) => {
                    return Err(classify(e, config, "read records"))
                }
                // Other consumer errors (a broker away, a rebalance under way) are reports:
                // librdkafka reconnects and resumes by itself, so reading stops for this pass
                // instead of failing it (which would make the member leave the group). A broker
                // that stays away shows in the writes and commits, which do fail.
                Some(Err(_)) => break,
            }
            wait = Duration::ZERO;
        }
        Ok(())
    }

    /// Buffers one consumed message (or passes it over when its host is not scored). Strings
    /// are copied into the maps only for a topic, partition or host not seen before.
    fn take(&mut self, topic: String, partition: i32, offset: i64, entry: Entry) {
        let state = match self.partitions.get_mut(&topic) {
            Some(p) => p,
            None => self.partitions.entry(topic.clone()).or_default(),
        }
        .entry(partition)
        .or_insert_with(|| PartitionState {
            committed: -1,
            ..PartitionState::default()
        });
        state.next = state.next.max(offset + 1);
        if let Entry::Good(r) = &entry {
            if let Some(filter) = self.host_filter.get(&topic) {
                if !filter.contains(&r.host) {
                    return;
                }
            }
            let hosts = match self.hosts.get_mut(&topic) {
                Some(h) => h,
                None => self.hosts.entry(topic.clone()).or_default(),
            };
            match hosts.get_mut(&r.host) {
                Some(parts) => {
                    parts.insert(partition);
                }
                None => {
                    hosts.insert(r.host.clone(), HashSet::from([partition]));
                }
            }
        }
        state.pending.insert(offset);
        self.buffer.entry(topic).or_default().push_back(Buffered {
            partition,
            offset,
            entry,
            awaiting: false,
        });
    }

    /// Forgets what was buffered of partitions a rebalance took away.
    fn drop_revoked(&mut self) {
        let revoked: Vec<(String, i32)> = match self.consumer.context().revoked.lock() {
            Ok(mut r) => std::mem::take(&mut *r),
            Err(_) => return,
        };
        for (topic, partition) in revoked {
            if let Some(parts) = self.partitions.get_mut(&topic) {
                parts.remove(&partition);
            }
            if let Some(buffer) = self.buffer.get_mut(&topic) {
                buffer.retain(|b| b.partition != partition);
            }
            if let Some(hosts) = self.hosts.get_mut(&topic) {
                for parts in hosts.values_mut() {
                    parts.remove(&partition);
                }
                hosts.retain(|_, parts| !parts.is_empty());
            }
        }
    }

    /// Marks offsets of `topic` done and drops their records from the buffer.
    pub(super) fn done(&mut self, topic: &str, ids: &HashSet<(i32, i64)>) {
        if let Some(parts) = self.partitions.get_mut(topic) {
            for (partition, offset) in ids {
                if let Some(state) = parts.get_mut(partition) {
                    state.pending.remove(offset);
                }
            }
        }
        if let Some(buffer) = self.buffer.get_mut(topic) {
            buffer.retain(|b| !ids.contains(&(b.partition, b.offset)));
        }
    }

    /// Marks the buffered records `ids` of `topic` as awaiting their confirmations, or no
    /// longer (to be read and scored again).
    pub(super) fn set_awaiting(&mut self, topic: &str, ids: &HashSet<(i32, i64)>, awaiting: bool) {
        if let Some(buffer) = self.buffer.get_mut(topic) {
            for b in buffer.iter_mut() {
                if ids.contains(&(b.partition, b.offset)) {
                    b.awaiting = awaiting;
                }
            }
        }
    }

    /// Commits, for every partition whose resume point moved, the first offset not done.
    pub(super) fn commit(&mut self, config: &KafkaConfig) -> Result<(), StoreError> {
        let mut list = TopicPartitionList::new();
        let mut moved = Vec::new();
        for (topic, parts) in &self.partitions {
            for (partition, state) in parts {
                let at = state.resume_at();
                if at > state.committed {
                    list.add_partition_offset(topic, *partition, Offset::Offset(at))
                        .map_err(|e| classify(e, config, "commit offsets"))?;
                    moved.push((topic.clone(), *partition, at));
                }
            }
        }
        if moved.is_empty() {
            return Ok(());
        }
        match self.consumer.commit(&list, CommitMode::Sync) {
            Ok(()) => {}
            // The group is rebalancing: the partitions may be someone else's now. Nothing is
            // lost by not committing (the next owner reads from the last commit and scores
            // again, see `write`), and failing here would make this member leave and rejoin,
            // which starts another rebalance for all.
            Err(e) if rebalancing(&e) => return Ok(()),
            Err(e) => return Err(classify(e, config, "commit offsets")),
        }
        for (topic, partition, at) in moved {
            if let Some(state) = self
                .partitions
                .get_mut(&topic)
                .and_then(|p| p.get_mut(&partition))
            {
                state.committed = at;
            }
        }
        Ok(())
    }
}

/// Whether a commit failed because the group is rebalancing or this member's generation ended.
fn rebalancing(e: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as C;
    matches!(
        e.rdkafka_error_code(),
        Some(
            C::RebalanceInProgress
                | C::IllegalGeneration
                | C::UnknownMemberId
                | C::FencedInstanceId
                | C::StaleMemberEpoch
        )
    ) || matches!(e, KafkaError::ConsumerCommit(C::NoOffset))
}

/// The id of a Kafka record: `partition:offset` (the topic is the source).
pub(super) fn record_id(partition: i32, offset: i64) -> RecordId {
    RecordId::Text(format!("{partition}:{offset}"))
}

/// The partition and offset of an id made by [`record_id`].
pub(super) fn parse_id(id: &RecordId) -> Option<(i32, i64)> {
    let RecordId::Text(t) = id else { return None };
    let (p, o) = t.split_once(':')?;
    Some((p.parse().ok()?, o.parse().ok()?))
}

/// Reads a message as a record: a JSON object with the message, host and time fields.
fn decode(m: &BorrowedMessage<'_>, fields: &FieldNames) -> Entry {
    let (topic, partition, offset) = (m.topic(), m.partition(), m.offset());
    let id = record_id(partition, offset);
    let payload = m.payload().unwrap_or_default();
    let parsed = parse_payload(payload, fields);
    match parsed {
        Ok(mut record) => {
            record.id = id;
            record.source = topic.to_string();
            record
                .extra
                .insert("lad_topic".into(), Value::String(topic.to_string()));
            record
                .extra
                .insert("lad_partition".into(), json!(partition));
            record.extra.insert("lad_offset".into(), json!(offset));
            Entry::Good(record)
        }
        Err((host, reason)) => Entry::Bad {
            report: Malformed {
                id,
                source: topic.to_string(),
                host,
                reason: format!("topic {topic} partition {partition} offset {offset}: {reason}"),
            },
            key: m.key().map(<[u8]>::to_vec),
            payload: payload.to_vec(),
        },
    }
}

/// A payload as a record (id and source left for the caller), or the host that could be read
/// and why it is not a record.
fn parse_payload(payload: &[u8], fields: &FieldNames) -> Result<Record, (Option<String>, String)> {
    let value: Value = serde_json::from_slice(payload).map_err(|e| {
        (
            None,
            format!("payload is not JSON ({e}); expected one JSON object per message"),
        )
    })?;
    let Value::Object(map) = value else {
        return Err((None, "payload is JSON but not an object".to_string()));
    };
    let host = match map.get(&fields.host) {
        Some(Value::String(h)) => Some(h.clone()),
        _ => None,
    };
    let parsed = crate::parse::record_from_json(map, fields).map_err(|e| (host.clone(), e))?;
    check_message(&parsed.message).map_err(|e| (host, e))?;
    Ok(Record {
        id: RecordId::Int(0),
        source: String::new(),
        host: parsed.host,
        time: parsed.time,
        message: parsed.message,
        extra: parsed.extra,
    })
}

impl KafkaStore {
    fn scoring(&mut self, operation: &'static str) -> Result<&mut Scoring, StoreError> {
        self.scoring.as_mut().ok_or_else(|| StoreError::Config {
            backend: BACKEND,
            reason: format!("{operation}: no input topic is configured (LOG_SOURCES)"),
        })
    }

    fn check_source(&self, source: &str) -> bool {
        self.config.sources.iter().any(|s| s == source)
    }

    /// Marks the buffered records `keys` of `source` as awaiting the confirmations of every
    /// write up to `upto`, after which [`KafkaStore::settle`] finishes them.
    fn await_confirmations(
        &mut self,
        source: &str,
        keys: HashSet<(i32, i64)>,
        upto: u64,
        operation: &'static str,
    ) -> Result<(), StoreError> {
        self.scoring(operation)?.set_awaiting(source, &keys, true);
        self.awaiting.push_back(super::Awaiting {
            upto,
            source: source.to_string(),
            keys,
        });
        Ok(())
    }

    /// Reads what the brokers have ready, then up to `limit` buffered entries of `source` that
    /// do not await confirmations (of `hosts` only, unless it is empty).
    fn buffered_batch(
        &mut self,
        source: &str,
        hosts: &[String],
        limit: usize,
    ) -> Result<Batch, StoreError> {
        let config = self.config.clone();
        let scoring = self.scoring("read records")?;
        scoring.fill(limit.saturating_mul(2).max(1), &config)?;
        let wanted: HashSet<&str> = hosts.iter().map(String::as_str).collect();
        let mut batch = Batch::default();
        let Some(buffer) = scoring.buffer.get(source) else {
            return Ok(batch);
        };
        for b in buffer.iter().filter(|b| !b.awaiting) {
            if batch.records.len() + batch.malformed.len() >= limit {
                break;
            }
            match &b.entry {
                Entry::Good(r) if wanted.is_empty() || wanted.contains(r.host.as_str()) => {
                    batch.records.push(r.clone());
                }
                Entry::Good(_) => {}
                Entry::Bad { report, .. } => batch.malformed.push(report.clone()),
            }
        }
        Ok(batch)
    }
}

impl RecordSource for KafkaStore {
    /// Buffered records of `source` (reading what the brokers have ready first), oldest first
    /// per partition; records of other hosts stay buffered, and records awaiting confirmations
    /// are not returned. Confirmations that arrived finish their records first; when nothing is
    /// left to return but records await, it waits for their confirmations (the buffer may be
    /// full of them) and reads again.
    fn next_unscored(
        &mut self,
        source: &str,
        hosts: &[String],
        limit: usize,
    ) -> Result<Batch, StoreError> {
        if !self.check_source(source) {
            return Ok(Batch::default());
        }
        // Scoring has started: the training pass that read the last scan is over.
        self.training = None;
        self.settle(None, "confirm verdicts")?;
        let batch = self.buffered_batch(source, hosts, limit)?;
        if batch.records.is_empty() && batch.malformed.is_empty() && !self.awaiting.is_empty() {
            self.settle_all("confirm verdicts")?;
            return self.buffered_batch(source, hosts, limit);
        }
        Ok(batch)
    }

    /// Marks the records acknowledged: they await the confirmations of every message sent so
    /// far, then are done and their offsets committed (see `KafkaStore::settle`, which runs
    /// here without waiting and again at each read).
    fn acknowledge(&mut self, source: &str, ids: &[RecordId]) -> Result<(), StoreError> {
        if !self.check_source(source) {
            return Ok(());
        }
        if let Some(published) = self.published.get_mut(source) {
            for id in ids {
                published.remove(id);
            }
        }
        let keys: HashSet<(i32, i64)> = ids.iter().filter_map(parse_id).collect();
        self.await_confirmations(source, keys, self.write_seq, "acknowledge records")?;
        self.settle(None, "confirm verdicts")
    }

    /// Copies the message to the dead-letter topic (headers `lad_error`, `lad_topic`,
    /// `lad_partition`, `lad_offset`) and counts it done; the copy is confirmed before the next
    /// commit.
    fn mark_malformed(
        &mut self,
        source: &str,
        id: &RecordId,
        reason: &str,
    ) -> Result<(), StoreError> {
        let Some((partition, offset)) = parse_id(id) else {
            return Err(StoreError::invalid_record(
                BACKEND,
                id,
                "mark a record malformed",
                "expected a Kafka id partition:offset".into(),
            ));
        };
        let entry = self
            .scoring("mark a record malformed")?
            .buffer
            .get(source)
            .and_then(|b| {
                b.iter().find_map(|b| match &b.entry {
                    Entry::Bad { key, payload, .. }
                        if (b.partition, b.offset) == (partition, offset) =>
                    {
                        Some((key.clone(), payload.clone()))
                    }
                    _ => None,
                })
            });
        let Some((key, payload)) = entry else {
            // Not buffered (already done, or its partition was revoked): nothing to do.
            return Ok(());
        };
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "lad_error",
                value: Some(reason),
            })
            .insert(Header {
                key: "lad_topic",
                value: Some(source),
            })
            .insert(Header {
                key: "lad_partition",
                value: Some(&partition.to_string()),
            })
            .insert(Header {
                key: "lad_offset",
                value: Some(&offset.to_string()),
            });
        let topic = self.config.dead_letter_topic.clone();
        let write = self.next_write();
        self.send(
            &topic,
            key.as_deref(),
            &payload,
            Some(headers),
            write,
            "copy a malformed record to the dead-letter topic",
        )?;
        let keys: HashSet<(i32, i64)> = [(partition, offset)].into_iter().collect();
        self.await_confirmations(source, keys, write, "mark a record malformed")
    }

    /// The input topics.
    fn list_sources(&mut self) -> Result<Vec<String>, StoreError> {
        let mut s = self.config.sources.clone();
        s.sort();
        s.dedup();
        Ok(s)
    }

    /// For a consumer, the hosts seen on the partitions it has now (reading what is ready
    /// first): the hosts this instance of the group scores. For a store that does not consume
    /// (`lad train`), every host of the topic, found by reading it whole.
    fn hosts(&mut self, source: &str) -> Result<Vec<String>, StoreError> {
        if self.scoring.is_none() {
            let scan = TrainingScan::run(&self.config, source, i64::MIN, i64::MAX, 1)?;
            let mut hosts: Vec<String> = scan.by_host.into_keys().collect();
            hosts.sort();
            return Ok(hosts);
        }
        if !self.check_source(source) {
            return Ok(Vec::new());
        }
        let config = self.config.clone();
        let scoring = self.scoring("list hosts")?;
        let cap = scoring.buffered().max(1).saturating_add(10_000);
        scoring.fill(cap, &config)?;
        let mut hosts: Vec<String> = scoring
            .hosts
            .get(source)
            .map(|h| h.keys().cloned().collect())
            .unwrap_or_default();
        hosts.sort();
        Ok(hosts)
    }

    /// Records buffered and not yet scored (neither done nor awaiting confirmations; the
    /// group's lag on the brokers is not counted).
    fn unscored_count(&mut self, source: &str) -> Result<u64, StoreError> {
        Ok(self
            .scoring
            .as_ref()
            .and_then(|s| s.buffer.get(source))
            .map_or(0, |b| b.iter().filter(|b| !b.awaiting).count() as u64))
    }

    /// The oldest time among the buffered records of `source`.
    fn oldest_unscored_time(&mut self, source: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .scoring
            .as_ref()
            .and_then(|s| s.buffer.get(source))
            .and_then(|b| {
                b.iter()
                    .filter(|b| !b.awaiting)
                    .filter_map(|b| match &b.entry {
                        Entry::Good(r) => Some(r.time),
                        Entry::Bad { .. } => None,
                    })
                    .min()
            }))
    }
}

/// How long a training scan waits for more messages before it takes a partition as read to its
/// end (when the broker never reports the end).
const SCAN_IDLE: Duration = Duration::from_secs(3);

/// One scan of a topic's history: every host's newest records of the window.
pub(super) struct TrainingScan {
    key: (String, i64, i64, usize),
    by_host: HashMap<String, Vec<Record>>,
}

impl TrainingScan {
    /// Reads `topic` from the offsets of `from_ms` to the end of every partition, keeping per
    /// host the newest `max` records with `from_ms <= time < to_ms`, oldest first in (time,
    /// partition, offset) order.
    fn run(
        config: &KafkaConfig,
        topic: &str,
        from_ms: i64,
        to_ms: i64,
        max: usize,
    ) -> Result<TrainingScan, StoreError> {
        let consumer: BaseConsumer<ScanContext> = client_config(config)
            .set("group.id", format!("{}-training", config.group_id))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true")
            .apply(&config.librdkafka_options)
            .create_with_context(ScanContext)
            .map_err(|e| classify(e, config, "create the training reader"))?;
        let timeout = Duration::from_secs(30);
        let metadata = consumer
            .fetch_metadata(Some(topic), timeout)
            .map_err(|e| classify(e, config, "read the topic's partitions"))?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic)
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        let mut by_time = TopicPartitionList::new();
        for p in &partitions {
            by_time
                .add_partition_offset(topic, *p, Offset::Offset(from_ms.max(0)))
                .map_err(|e| classify(e, config, "find offsets by time"))?;
        }
        // Offsets-for-times gives the first offset at or after `from_ms` (message timestamps);
        // where it finds none or fails, the partition is read from its beginning (the window is
        // applied to the records' own times anyway).
        let starts = consumer.offsets_for_times(by_time, timeout).ok();
        let mut assign = TopicPartitionList::new();
        for p in &partitions {
            let start = starts
                .as_ref()
                .and_then(|l| l.find_partition(topic, *p))
                .map(|e| e.offset())
                .filter(|o| matches!(o, Offset::Offset(_)))
                .unwrap_or(Offset::Beginning);
            assign
                .add_partition_offset(topic, *p, start)
                .map_err(|e| classify(e, config, "assign partitions"))?;
        }
        consumer
            .assign(&assign)
            .map_err(|e| classify(e, config, "assign partitions"))?;
        let fields = config.fields.clone();
        let mut kept: HashMap<String, Vec<(i64, i32, i64, Record)>> = HashMap::new();
        let mut open: BTreeSet<i32> = partitions.iter().copied().collect();
        let mut last_message = Instant::now();
        while !open.is_empty() && last_message.elapsed() < SCAN_IDLE {
            match consumer.poll(Duration::from_millis(100)) {
                None => {}
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    open.remove(&p);
                }
                Some(Err(e)) => return Err(classify(e, config, "read the training window")),
                Some(Ok(m)) => {
                    last_message = Instant::now();
                    let (p, o) = (m.partition(), m.offset());
                    if let Ok(mut r) = parse_payload(m.payload().unwrap_or_default(), &fields) {
                        if r.time < from_ms || r.time >= to_ms {
                            continue;
                        }
                        r.id = record_id(p, o);
                        r.source = topic.to_string();
                        let list = kept.entry(r.host.clone()).or_default();
                        list.push((r.time, p, o, r));
                        if list.len() >= max.saturating_mul(2).max(1024) {
                            keep_newest(list, max);
                        }
                    }
                }
            }
        }
        let by_host = kept
            .into_iter()
            .map(|(host, mut list)| {
                keep_newest(&mut list, max);
                (host, list.into_iter().map(|(_, _, _, r)| r).collect())
            })
            .collect();
        Ok(TrainingScan {
            key: (topic.to_string(), from_ms, to_ms, max),
            by_host,
        })
    }
}

/// Sorts by (time, partition, offset) and keeps the newest `max`.
fn keep_newest(list: &mut Vec<(i64, i32, i64, Record)>, max: usize) {
    list.sort_by_key(|a| (a.0, a.1, a.2));
    if list.len() > max {
        list.drain(..list.len() - max);
    }
}

impl TrainingReader for KafkaStore {
    /// The newest `max` records of `host` in `[from_ms, to_ms)` from the topic's history. The
    /// first call of a training pass scans the topic; the others reuse the scan.
    fn training_window(
        &mut self,
        source: &str,
        host: &str,
        from_ms: i64,
        to_ms: i64,
        max: usize,
    ) -> Result<Batch, StoreError> {
        let key = (source.to_string(), from_ms, to_ms, max);
        if self.training.as_ref().is_none_or(|t| t.key != key) {
            self.training = None;
            self.training = Some(TrainingScan::run(
                &self.config,
                source,
                from_ms,
                to_ms,
                max,
            )?);
        }
        let records = self
            .training
            .as_ref()
            .and_then(|t| t.by_host.get(host))
            .cloned()
            .unwrap_or_default();
        Ok(Batch {
            records,
            malformed: Vec::new(),
        })
    }
}
