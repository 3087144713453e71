//! lad's state in the `local` backend, the [`StateStore`] role, and the state journal
//! (`<LS_OUTPUT_PATH>.lad-state.jsonl`) that keeps malformed marks, aggregates and feedback;
//! the [`IncidentStore`](crate::IncidentStore) role and its journal
//! (`<LS_OUTPUT_PATH>.lad-incidents.jsonl`).

use std::collections::BTreeMap;

use super::*;
use crate::incident::{listing_order, IncidentLink, IncidentQuery, StoredIncident};
use crate::roles::{IncidentStore, StateStore};

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

/// One line of the incident journal: one call of `write_incidents`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct IncidentLine {
    #[serde(default)]
    incidents: Vec<StoredIncident>,
    #[serde(default)]
    links: Vec<IncidentLink>,
}

/// The incidents and links of the journal, as far as it was read.
#[derive(Debug)]
pub(super) struct IncidentJournal {
    path: PathBuf,
    /// Bytes read so far (whole lines only).
    consumed: u64,
    /// Lines read so far (for error locations).
    lines: usize,
    incidents: BTreeMap<String, StoredIncident>,
    links: BTreeMap<(String, RecordId), IncidentLink>,
}

impl IncidentJournal {
    pub(super) fn new(path: PathBuf) -> Self {
        IncidentJournal {
            path,
            consumed: 0,
            lines: 0,
            incidents: BTreeMap::new(),
            links: BTreeMap::new(),
        }
    }

    /// Reads the whole lines appended since the last call (by this store or another process).
    /// A last line without a newline is being written, or was torn by a crash: it is left for
    /// later, and cut off before the next append.
    fn refresh(&mut self) -> Result<(), StoreError> {
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io("open", &self.path)(e)),
        };
        file.seek(SeekFrom::Start(self.consumed))
            .map_err(io("read", &self.path))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(io("read", &self.path))?;
        let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
        for line in bytes[..whole].split(|b| *b == b'\n') {
            if line.is_empty() {
                continue;
            }
            self.lines += 1;
            let parsed: IncidentLine = serde_json::from_slice(line).map_err(|e| {
                LocalStore::corrupt(
                    &self.path,
                    self.lines,
                    format!("expected a line of incidents and links: {e}"),
                )
            })?;
            for l in parsed.links {
                self.links
                    .entry((l.source.clone(), l.record_id.clone()))
                    .or_insert(l);
            }
            for i in parsed.incidents {
                self.incidents.insert(i.id.clone(), i);
            }
        }
        self.consumed += whole as u64;
        Ok(())
    }

    fn append(&mut self, line: &IncidentLine) -> Result<(), StoreError> {
        self.refresh()?;
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io("open", &self.path))?;
        // Cut a torn last line (a crash mid-write) so the new line starts on its own.
        let len = file.metadata().map_err(io("read", &self.path))?.len();
        if len > self.consumed {
            file.set_len(self.consumed)
                .map_err(io("cut the torn last line of", &self.path))?;
        }
        let mut text = serde_json::to_string(line).map_err(|e| {
            LocalStore::corrupt(&self.path, self.lines + 1, format!("cannot encode: {e}"))
        })?;
        text.push('\n');
        append(&mut file, &self.path, &text)?;
        self.refresh()
    }
}

impl IncidentStore for LocalStore {
    fn write_incidents(
        &mut self,
        incidents: &[StoredIncident],
        links: &[IncidentLink],
    ) -> Result<(), StoreError> {
        if incidents.is_empty() && links.is_empty() {
            return Ok(());
        }
        self.incidents.append(&IncidentLine {
            incidents: incidents.to_vec(),
            links: links.to_vec(),
        })
    }

    fn incidents(&mut self, query: &IncidentQuery) -> Result<Vec<StoredIncident>, StoreError> {
        self.incidents.refresh()?;
        let mut out: Vec<StoredIncident> = self
            .incidents
            .incidents
            .values()
            .filter(|i| query.matches(i))
            .cloned()
            .collect();
        out.sort_by(listing_order);
        out.truncate(query.max);
        Ok(out)
    }

    fn incident(&mut self, id: &str) -> Result<Option<StoredIncident>, StoreError> {
        self.incidents.refresh()?;
        Ok(self.incidents.incidents.get(id).cloned())
    }

    fn incident_links(
        &mut self,
        source: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<IncidentLink>, StoreError> {
        self.incidents.refresh()?;
        let mut out: Vec<IncidentLink> = self
            .incidents
            .links
            .values()
            .filter(|l| l.source == source && l.time_ms >= from_ms && l.time_ms < to_ms)
            .cloned()
            .collect();
        out.sort_by(|a, b| {
            a.time_ms
                .cmp(&b.time_ms)
                .then_with(|| a.record_id.to_string().cmp(&b.record_id.to_string()))
        });
        Ok(out)
    }
}
