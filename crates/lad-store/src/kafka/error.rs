//! Error mapping of the Kafka backend: a client error becomes a [`StoreError`]. Configuration
//! errors (a bad property, an unreadable CA file) are not transient; everything a broker or the
//! network can cause (a broker away, a timeout, a rebalance in progress, a failed delivery) is,
//! because the daemon's answer to all of them is the same: back off, reopen, read again from the
//! committed offsets. This backend does not retry by itself beyond what librdkafka does.

use rdkafka::error::KafkaError;

use super::{KafkaConfig, BACKEND};
use crate::StoreError;

/// Turns a client error into a [`StoreError`].
pub(super) fn classify(e: KafkaError, config: &KafkaConfig, operation: &'static str) -> StoreError {
    match &e {
        KafkaError::ClientConfig(..) | KafkaError::ClientCreation(_) => StoreError::Config {
            backend: BACKEND,
            reason: format!("{operation}: {e}{}", security_note(config)),
        },
        _ => StoreError::Unavailable {
            backend: BACKEND,
            address: config.location(),
            operation,
            reason: format!("{e}{}", security_note(config)),
        },
    }
}

/// A failure librdkafka reported for messages of one write, after the write was sent.
pub(super) fn delivery_failed(
    config: &KafkaConfig,
    operation: &'static str,
    failures: &[String],
) -> StoreError {
    let first = failures.first().map(String::as_str).unwrap_or("timed out");
    StoreError::Unavailable {
        backend: BACKEND,
        address: config.location(),
        operation,
        reason: format!(
            "{} message(s) not confirmed by the brokers (first: {first}); the batch is not \
             acknowledged and will be written again{}",
            failures.len().max(1),
            security_note(config)
        ),
    }
}

/// How the client talks to the brokers, for error messages.
fn security_note(config: &KafkaConfig) -> String {
    let s = &config.security;
    if s.protocol.eq_ignore_ascii_case("plaintext") {
        return String::new();
    }
    let mut note = format!(" (KF_SECURITY_PROTOCOL {}", s.protocol);
    if let Some(ca) = &s.ca_cert {
        note.push_str(&format!(", KF_CACERT {}", ca.display()));
    }
    if let Some(m) = &s.sasl_mechanism {
        note.push_str(&format!(", SASL {m}"));
    }
    note.push(')');
    note
}
