//! Reads of the `local` backend: the [`RecordSource`] and [`TrainingReader`] roles over the
//! in-memory index of the input files (refreshed before each read). Malformed marks go to the
//! state journal.

use super::*;
use crate::roles::{RecordSource, TrainingReader};

impl RecordSource for LocalStore {
    /// See [`crate::Store::next_unscored`].
    fn next_unscored(
        &mut self,
        source: &str,
        hosts: &[String],
        limit: usize,
    ) -> Result<Batch, StoreError> {
        self.refresh()?;
        let wanted =
            |host: Option<&String>| hosts.is_empty() || host.is_none_or(|h| hosts.contains(h));
        let mut batch = Batch::default();
        for &idx in &self.bad_unmarked {
            if batch.malformed.len() >= limit {
                break;
            }
            let m = self.malformed_of(idx);
            if m.source == source && wanted(m.host.as_ref()) {
                batch.malformed.push(m);
            }
        }
        if let Some(set) = self.unscored.get(source) {
            for &(_, idx) in set {
                if batch.records.len() + batch.malformed.len() >= limit {
                    break;
                }
                if let Ok(r) = &self.entries[idx].body {
                    if wanted(Some(&r.host)) {
                        batch.records.push(r.clone());
                    }
                }
            }
        }
        Ok(batch)
    }

    /// See [`crate::Store::mark_malformed`].
    fn mark_malformed(
        &mut self,
        source: &str,
        id: &RecordId,
        reason: &str,
    ) -> Result<(), StoreError> {
        let idx = self.lookup(source, id, "mark malformed")?;
        if self.entries[idx].mark.is_some() {
            return Ok(());
        }
        self.append_state(&[StateLine::Malformed {
            source: source.into(),
            id: id.clone(),
            reason: reason.into(),
        }])?;
        self.apply_mark(idx, reason.into());
        Ok(())
    }

    /// See [`crate::Store::list_sources`].
    fn list_sources(&mut self) -> Result<Vec<String>, StoreError> {
        self.refresh()?;
        let set: BTreeSet<String> = self.files.iter().map(|f| f.source.clone()).collect();
        Ok(set.into_iter().collect())
    }

    /// See [`crate::Store::hosts`].
    fn hosts(&mut self, source: &str) -> Result<Vec<String>, StoreError> {
        self.refresh()?;
        let set: BTreeSet<&str> = self
            .entries
            .iter()
            .filter(|e| e.source == source)
            .filter_map(|e| e.body.as_ref().ok().map(|r| r.host.as_str()))
            .collect();
        Ok(set.into_iter().map(str::to_owned).collect())
    }

    /// See [`crate::Store::unscored_count`].
    fn unscored_count(&mut self, source: &str) -> Result<u64, StoreError> {
        self.refresh()?;
        let good = self.unscored.get(source).map_or(0, BTreeSet::len);
        let bad = self
            .bad_unmarked
            .iter()
            .filter(|&&i| self.entries[i].source == source)
            .count();
        Ok((good + bad) as u64)
    }

    /// See [`crate::Store::oldest_unscored_time`].
    fn oldest_unscored_time(&mut self, source: &str) -> Result<Option<i64>, StoreError> {
        self.refresh()?;
        Ok(self
            .unscored
            .get(source)
            .and_then(|s| s.first())
            .map(|&(t, _)| t))
    }
}

impl TrainingReader for LocalStore {
    /// See [`crate::Store::training_window`].
    fn training_window(
        &mut self,
        source: &str,
        host: &str,
        from_ms: i64,
        to_ms: i64,
        max: usize,
    ) -> Result<Batch, StoreError> {
        self.refresh()?;
        let mut hits: Vec<(i64, usize)> = self
            .entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match &e.body {
                Ok(r)
                    if e.mark.is_none()
                        && e.source == source
                        && r.host == host
                        && r.time >= from_ms
                        && r.time < to_ms =>
                {
                    Some((r.time, i))
                }
                _ => None,
            })
            .collect();
        hits.sort_unstable_by(|a, b| b.cmp(a));
        hits.truncate(max);
        hits.reverse();
        Ok(Batch {
            records: hits
                .into_iter()
                .filter_map(|(_, i)| self.entries[i].body.as_ref().ok().cloned())
                .collect(),
            malformed: Vec::new(),
        })
    }
}

impl LocalStore {
    pub(super) fn malformed_of(&self, idx: usize) -> Malformed {
        let e = &self.entries[idx];
        let (host, reason) = match (&e.body, &e.mark) {
            (_, Some(mark)) => (e.body.as_ref().ok().map(|r| r.host.clone()), mark.clone()),
            (Err((host, reason)), None) => (host.clone(), reason.clone()),
            (Ok(r), None) => (Some(r.host.clone()), String::new()),
        };
        Malformed {
            id: e.id.clone(),
            source: e.source.clone(),
            host,
            reason,
        }
    }

    pub(super) fn lookup(
        &self,
        source: &str,
        id: &RecordId,
        operation: &'static str,
    ) -> Result<usize, StoreError> {
        self.by_id
            .get(&(source.to_owned(), id.clone()))
            .copied()
            .ok_or_else(|| StoreError::InvalidRecord {
                backend: BACKEND,
                operation,
                id: id.to_string(),
                reason: format!("no such record in source {source:?}"),
            })
    }
}
