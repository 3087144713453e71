//! Writes of the `local` backend: the [`VerdictSink`] role. Verdicts are appended to the output
//! file as the record's JSON with `is_anomaly` and `anomaly_score`; aggregates go to the state
//! journal. Every write is synced before the in-memory index changes.

use super::*;
use crate::codec;
use crate::record::check_score;
use crate::roles::VerdictSink;

impl VerdictSink for LocalStore {
    /// See [`crate::Store::write_verdicts`].
    fn write_verdicts(
        &mut self,
        source: &str,
        verdicts: &[Verdict],
        _records: &[Record],
    ) -> Result<usize, StoreError> {
        let mut todo = Vec::with_capacity(verdicts.len());
        let mut seen = HashSet::with_capacity(verdicts.len());
        let mut text = String::new();
        for v in verdicts {
            check_score(BACKEND, v)?;
            let idx = self.lookup(source, &v.id, "write verdicts")?;
            let e = &self.entries[idx];
            let Ok(record) = &e.body else { continue };
            if e.verdict.is_some() || !seen.insert(idx) {
                continue;
            }
            let doc = codec::with_verdict(
                codec::record_document(record, &self.config.fields),
                v.is_anomaly,
                v.score,
            );
            text.push_str(&Value::Object(doc).to_string());
            text.push('\n');
            todo.push((idx, v.is_anomaly, v.score));
        }
        append(&mut self.output, &self.config.output_path, &text)?;
        for &(idx, a, s) in &todo {
            self.apply_verdict(idx, a, s);
        }
        Ok(todo.len())
    }

    /// See [`crate::Store::write_aggregates`].
    fn write_aggregates(
        &mut self,
        input_source: &str,
        target: &str,
        drafts: &[AggregateDraft],
    ) -> Result<Vec<Option<RecordId>>, StoreError> {
        let mut next_id = self
            .aggregates
            .iter()
            .filter_map(|a| match a.id {
                RecordId::Int(n) => Some(n),
                _ => None,
            })
            .max()
            .unwrap_or(0)
            + 1;
        let mut taken = HashSet::new();
        let (mut lines, mut out) = (Vec::new(), Vec::new());
        for d in drafts {
            let mut members = Vec::new();
            for id in &d.member_ids {
                let idx = self.lookup(input_source, id, "write aggregates")?;
                if self.entries[idx].aggregate.is_none() && taken.insert(idx) {
                    members.push(id.clone());
                }
            }
            if members.is_empty() {
                out.push(None);
                continue;
            }
            lines.push(StateLine::Aggregate {
                id: next_id,
                input_source: input_source.into(),
                target: target.into(),
                message: d.message.clone(),
                total_logs: d.total_logs,
                average_time_ms: d.average_time_ms,
                average_anomaly_score: d.average_anomaly_score,
                most_frequent_hostname: d.most_frequent_hostname.clone(),
                was_added_at_ms: d.was_added_at_ms,
                member_ids: members,
            });
            out.push(Some(RecordId::Int(next_id)));
            next_id += 1;
        }
        self.append_state(&lines)?;
        for line in lines {
            self.apply_state(line);
        }
        Ok(out)
    }
}
