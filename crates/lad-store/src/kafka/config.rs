//! Settings of the Kafka backend ([`KafkaConfig`]), filled by the binary from the `KF_*` keys,
//! and how they become librdkafka client properties ([`KafkaConfig::client_properties`]). Plain
//! data: no I/O, no connection.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::record::FieldNames;

/// Which verdicts the sink publishes (`KF_VERDICTS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VerdictSelection {
    /// Only records judged anomalous (the default, as the old sink and `stdout`).
    #[default]
    Anomalies,
    /// Every verdict, normal ones too: what a consumer needs to see that each record was scored.
    All,
}

/// How the clients reach the brokers (`KF_SECURITY_PROTOCOL`, `KF_CACERT`, `KF_SASL_*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KafkaSecurity {
    /// librdkafka's `security.protocol`: `plaintext`, `ssl`, `sasl_plaintext` or `sasl_ssl`.
    pub protocol: String,
    /// CA certificate (PEM) to verify the brokers with.
    pub ca_cert: Option<PathBuf>,
    /// SASL mechanism: `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub sasl_mechanism: Option<String>,
    /// SASL user name.
    pub sasl_username: Option<String>,
    /// SASL password.
    pub sasl_password: Option<String>,
}

/// Settings of the Kafka backend.
///
/// As a record source it consumes `sources` (one topic per LOG_SOURCES entry) in the consumer
/// group `group_id`; as a sink it publishes verdicts to `verdict_topic`, aggregates to
/// `aggregates_topic`, and records it cannot read to `dead_letter_topic`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    /// `host:port[,host:port...]` (`KF_BOOTSTRAP_SERVER`).
    pub brokers: String,
    /// TLS and SASL.
    pub security: KafkaSecurity,
    /// Consumer group of the scoring consumers (`KF_GROUP_ID`, default `lad`).
    pub group_id: String,
    /// Input topics (the source names); empty for a sink.
    pub sources: Vec<String>,
    /// Per input topic, the only hosts to score (LOG_SOURCES `HOSTNAMES`); records of other
    /// hosts are passed over (committed without a verdict). A topic not listed takes every host.
    pub hosts: BTreeMap<String, Vec<String>>,
    /// Topic verdicts are published to (`KF_TOPIC`).
    pub verdict_topic: String,
    /// Which verdicts are published (`KF_VERDICTS`).
    pub verdicts: VerdictSelection,
    /// Topic aggregates are published to (`KF_AGGREGATES_TOPIC`).
    pub aggregates_topic: String,
    /// Topic malformed input records are copied to (`KF_DEAD_LETTER_TOPIC`).
    pub dead_letter_topic: String,
    /// Field names of the JSON records.
    pub fields: FieldNames,
    /// librdkafka properties set on every client, after lad's own (`KF_LIBRDKAFKA_OPTIONS`).
    pub librdkafka_options: BTreeMap<String, String>,
    /// The longest pause between two reads of the scoring consumer (the daemon's
    /// INFER_TIME_SPAN plus scoring time), so that the group does not drop a member that sleeps.
    pub max_poll_interval_ms: u64,
    /// How long the brokers' confirmations of a write are awaited before it fails
    /// (transiently) and its records are scored and written again.
    pub delivery_timeout_ms: u64,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "localhost:9092".into(),
            security: KafkaSecurity {
                protocol: "plaintext".into(),
                ..KafkaSecurity::default()
            },
            group_id: "lad".into(),
            sources: Vec::new(),
            hosts: BTreeMap::new(),
            verdict_topic: "lad-verdicts".into(),
            verdicts: VerdictSelection::Anomalies,
            aggregates_topic: "lad-aggregates".into(),
            dead_letter_topic: "lad-dead-letter".into(),
            fields: FieldNames::default(),
            librdkafka_options: BTreeMap::new(),
            max_poll_interval_ms: 300_000,
            delivery_timeout_ms: 120_000,
        }
    }
}

impl KafkaConfig {
    /// The properties every client gets: brokers and security, then `librdkafka_options`.
    pub fn client_properties(&self) -> Vec<(String, String)> {
        let mut out = vec![
            ("bootstrap.servers".to_string(), self.brokers.clone()),
            (
                "security.protocol".to_string(),
                self.security.protocol.clone(),
            ),
        ];
        if let Some(ca) = &self.security.ca_cert {
            out.push(("ssl.ca.location".into(), ca.display().to_string()));
        }
        if let Some(m) = &self.security.sasl_mechanism {
            out.push(("sasl.mechanism".into(), m.clone()));
        }
        if let Some(u) = &self.security.sasl_username {
            out.push(("sasl.username".into(), u.clone()));
        }
        if let Some(p) = &self.security.sasl_password {
            out.push(("sasl.password".into(), p.clone()));
        }
        out
    }

    /// The address to name in messages: the first bootstrap server.
    pub(crate) fn location(&self) -> String {
        self.brokers
            .split(',')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string()
    }
}
