//! lad's state in the `local` backend, the [`StateStore`] role, and the state journal
//! (`<LS_OUTPUT_PATH>.lad-state.jsonl`) that keeps malformed marks, aggregates and feedback.

use super::*;
use crate::roles::StateStore;

impl StateStore for LocalStore {
    /// See [`crate::Store::anomalies`].
    fn anomalies(
        &mut self,
        source: &str,
        from_ms: i64,
        to_ms: i64,
        max: usize,
    ) -> Result<Vec<Anomaly>, StoreError> {
        let mut hits: Vec<(i64, usize)> = self
            .entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match (&e.body, e.verdict) {
                (Ok(r), Some((true, _)))
                    if e.source == source && r.time >= from_ms && r.time < to_ms =>
                {
                    Some((r.time, i))
                }
                _ => None,
            })
            .collect();
        hits.sort_unstable_by(|a, b| b.cmp(a));
        hits.truncate(max);
        hits.reverse();
        Ok(hits
            .into_iter()
            .filter_map(|(_, i)| {
                let e = &self.entries[i];
                Some(Anomaly {
                    record: e.body.as_ref().ok()?.clone(),
                    score: e.verdict.map_or(f64::NAN, |v| v.1),
                    aggregate_id: e.aggregate.map(RecordId::Int),
                })
            })
            .collect())
    }

    /// See [`crate::Store::aggregates`].
    fn aggregates(&mut self, input_source: Option<&str>) -> Result<Vec<Aggregate>, StoreError> {
        Ok(self
            .aggregates
            .iter()
            .filter(|a| input_source.is_none_or(|s| a.input_source == s))
            .cloned()
            .collect())
    }

    /// See [`crate::Store::add_feedback`].
    fn add_feedback(&mut self, mark: &NewFeedback) -> Result<i64, StoreError> {
        let f = self.feedback.next(mark);
        let id = f.id;
        self.append_state(&[StateLine::Feedback(f.clone())])?;
        self.feedback.push(f);
        Ok(id)
    }

    /// See [`crate::Store::list_feedback`].
    fn list_feedback(
        &mut self,
        source: Option<&str>,
        include_undone: bool,
    ) -> Result<Vec<Feedback>, StoreError> {
        Ok(self.feedback.list(source, include_undone))
    }

    /// See [`crate::Store::undo_feedback`].
    fn undo_feedback(&mut self, id: i64, at_ms: i64) -> Result<bool, StoreError> {
        if !self.feedback.is_active(id) {
            return Ok(false);
        }
        let line = StateLine::FeedbackUndo {
            id,
            undone_at_ms: at_ms,
        };
        self.append_state(std::slice::from_ref(&line))?;
        self.apply_state(line);
        Ok(true)
    }
}

impl LocalStore {
    pub(super) fn append_state(&mut self, lines: &[StateLine]) -> Result<(), StoreError> {
        let mut text = String::new();
        for line in lines {
            let json = serde_json::to_string(line).map_err(|e| StoreError::Corrupt {
                backend: BACKEND,
                location: self.state_path.display().to_string(),
                reason: format!("cannot encode a state line: {e}"),
            })?;
            text.push_str(&json);
            text.push('\n');
        }
        append(&mut self.state, &self.state_path, &text)
    }
}
