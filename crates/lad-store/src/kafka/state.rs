//! The [`StateStore`] role, which the Kafka backend does not have: a topic keeps no anomalies,
//! aggregates or feedback that lad could query. Every operation answers
//! [`StoreError::Unsupported`], except that listing feedback gives none (no mark can have been
//! stored), so scoring and training from Kafka run without feedback.

use super::{KafkaStore, BACKEND};
use crate::record::{Aggregate, Anomaly, Feedback, NewFeedback};
use crate::{StateStore, StoreError};

impl StateStore for KafkaStore {
    fn anomalies(&mut self, _: &str, _: i64, _: i64, _: usize) -> Result<Vec<Anomaly>, StoreError> {
        Err(StoreError::unsupported(BACKEND, "read anomalies"))
    }

    fn aggregates(&mut self, _: Option<&str>) -> Result<Vec<Aggregate>, StoreError> {
        Err(StoreError::unsupported(BACKEND, "read aggregates"))
    }

    fn add_feedback(&mut self, _: &NewFeedback) -> Result<i64, StoreError> {
        Err(StoreError::unsupported(BACKEND, "add feedback"))
    }

    /// No feedback: the backend cannot store any.
    fn list_feedback(&mut self, _: Option<&str>, _: bool) -> Result<Vec<Feedback>, StoreError> {
        Ok(Vec::new())
    }

    fn undo_feedback(&mut self, _: i64, _: i64) -> Result<bool, StoreError> {
        Err(StoreError::unsupported(BACKEND, "undo feedback"))
    }
}
