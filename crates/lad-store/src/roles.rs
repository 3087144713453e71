//! The storage contract as roles: what a backend can be asked to do, one trait per job. A backend
//! implements the roles it can (a database all of them, the `stdout` sink only [`VerdictSink`]);
//! [`crate::Store`] is the closed enum over the backends that dispatches each call by `match`
//! and answers [`StoreError::Unsupported`] for a role the backend lacks. This module holds the
//! contracts only: no I/O, no backend code, and no trait objects (dispatch stays by `match`).
//!
//! Rules every role keeps:
//! - Time windows are half-open, `[from_ms, to_ms)`, in unix milliseconds UTC; capped reads keep
//!   the newest records and return them oldest first.
//! - An error means nothing was changed that a retry would repeat wrongly: writes are
//!   idempotent, so the caller may retry a failed call when [`StoreError::is_transient`] says so.
//! - Ids ([`RecordId`]) are only meaningful to the backend that returned them.

use crate::incident::{IncidentLink, IncidentQuery, StoredIncident};
use crate::record::{
    Aggregate, AggregateDraft, Anomaly, Batch, ExportCursor, ExportPage, Feedback, ImportSummary,
    NewFeedback, NewRecord, Record, RecordId, Verdict,
};
use crate::StoreError;

/// Where records to score come from.
///
/// Call order, per source: [`next_unscored`](RecordSource::next_unscored), then for each
/// malformed record [`mark_malformed`](RecordSource::mark_malformed), then the verdicts go to a
/// [`VerdictSink`], then [`acknowledge`](RecordSource::acknowledge). "Unscored" means "has no
/// verdict and is not marked malformed", never "newer than a cursor": a record inserted late with
/// an old time is still returned, oldest first in (time, id) order, and a record is never
/// returned again once it has a verdict (the first verdict stands).
pub trait RecordSource {
    /// Up to `limit` records of `source` with no verdict, oldest first in (time, id) order, from
    /// the given hosts (all hosts when `hosts` is empty), plus unmarked malformed records
    /// (counted in `limit`; those whose host cannot be read are returned for any host filter).
    /// Reading twice without a verdict in between returns the same records.
    fn next_unscored(
        &mut self,
        source: &str,
        hosts: &[String],
        limit: usize,
    ) -> Result<Batch, StoreError>;

    /// Says that the records of a batch are done with: their verdicts were written by the sink.
    /// For a database this does nothing more (the verdict on the record is the mark, which is
    /// why this default does nothing); a stream source commits its position for them, so it
    /// must be called only after the sink reported the verdicts written. A stream that is also
    /// the sink (Kafka) may commit later, once the brokers confirmed the verdicts: until then
    /// the records are not read again, and a failed confirmation puts them back. Idempotent.
    fn acknowledge(&mut self, source: &str, ids: &[RecordId]) -> Result<(), StoreError> {
        let _ = (source, ids);
        Ok(())
    }

    /// Marks a record malformed so it is no longer returned as unscored. Idempotent: the first
    /// reason stands.
    fn mark_malformed(
        &mut self,
        source: &str,
        id: &RecordId,
        reason: &str,
    ) -> Result<(), StoreError>;

    /// The sources holding records, sorted.
    fn list_sources(&mut self) -> Result<Vec<String>, StoreError>;

    /// The hosts of a source, sorted.
    fn hosts(&mut self, source: &str) -> Result<Vec<String>, StoreError>;

    /// How many records of `source` have no verdict and no malformed mark (the backlog).
    fn unscored_count(&mut self, source: &str) -> Result<u64, StoreError>;

    /// The time of the oldest readable unscored record of `source` (for the scoring-lag metric);
    /// `None` when nothing waits.
    fn oldest_unscored_time(&mut self, source: &str) -> Result<Option<i64>, StoreError>;
}

/// Where a model's training lines come from.
pub trait TrainingReader {
    /// The training window of (source, host): records with `from_ms <= time < to_ms`, scored or
    /// not, the newest `max` of them, returned oldest first. Records marked malformed are left
    /// out. Reading has no effect on the store.
    fn training_window(
        &mut self,
        source: &str,
        host: &str,
        from_ms: i64,
        to_ms: i64,
        max: usize,
    ) -> Result<Batch, StoreError>;
}

/// Where lad's results go: verdicts and aggregates.
///
/// Both writes are idempotent, so a batch whose write failed may be written again.
pub trait VerdictSink {
    /// Writes verdicts in one transaction or batch; returns how many records got their first
    /// verdict (verdicts for already-scored records change nothing: the first verdict stands).
    /// `records` are the records the verdicts were computed for: sinks that print print from
    /// them, stores that mark the original record ignore them. A non-finite score or an id of
    /// another backend is refused ([`StoreError::InvalidRecord`]) before anything is written.
    fn write_verdicts(
        &mut self,
        source: &str,
        verdicts: &[Verdict],
        records: &[Record],
    ) -> Result<usize, StoreError>;

    /// Stores aggregates of `input_source`'s anomalies for `target` and links their members, in
    /// one transaction or batch. Per draft: the new aggregate's id, or `None` when every member was
    /// already linked (nothing created). Members already linked keep their first aggregate, so
    /// re-running aggregation over the same window creates no duplicates.
    fn write_aggregates(
        &mut self,
        input_source: &str,
        target: &str,
        drafts: &[AggregateDraft],
    ) -> Result<Vec<Option<RecordId>>, StoreError>;
}

/// lad's own state kept next to the records: scored anomalies with their aggregate links, the
/// aggregates, and people's feedback. (Incidents have their own role, [`IncidentStore`].)
pub trait StateStore {
    /// Anomalies of `source` with `from_ms <= time < to_ms`, the newest `max`, oldest first, each
    /// with the aggregate it is linked to. The aggregator passes only those with
    /// `aggregate_id == None` to [`VerdictSink::write_aggregates`].
    fn anomalies(
        &mut self,
        source: &str,
        from_ms: i64,
        to_ms: i64,
        max: usize,
    ) -> Result<Vec<Anomaly>, StoreError>;

    /// Stored aggregates (of one input source, or all) with their linked members, oldest first.
    fn aggregates(&mut self, input_source: Option<&str>) -> Result<Vec<Aggregate>, StoreError>;

    /// Stores a "not an anomaly" mark; returns its id (ids are never reused).
    fn add_feedback(&mut self, mark: &NewFeedback) -> Result<i64, StoreError>;

    /// Feedback marks (of one source, or all), oldest first; undone ones only when asked.
    fn list_feedback(
        &mut self,
        source: Option<&str>,
        include_undone: bool,
    ) -> Result<Vec<Feedback>, StoreError>;

    /// Undoes a feedback mark; false when there was no active mark with that id (so undoing
    /// twice is harmless).
    fn undo_feedback(&mut self, id: i64, at_ms: i64) -> Result<bool, StoreError>;
}

/// Where incidents are kept, with the link of each anomaly to the incident it joined.
///
/// Call order: the tracker writes the incidents a scored batch changed together with the links
/// of the batch's anomalies ([`write_incidents`](IncidentStore::write_incidents)), after the
/// batch's verdicts were written; on start it reads the incidents that were open and the links
/// of recent anomalies, and folds in the anomalies that have no link (a kill between a verdict
/// and its link). Both writes are idempotent: an incident is replaced by id, and the first link
/// of a record stands, so writing a batch twice changes nothing.
pub trait IncidentStore {
    /// Stores `links` (a record already linked keeps its first link) and `incidents` (replacing
    /// those with the same id). In one transaction where the backend has them; otherwise the
    /// links are written first, so a crash in between leaves links whose incident is older than
    /// they are, never an incident counting anomalies that have no link.
    fn write_incidents(
        &mut self,
        incidents: &[StoredIncident],
        links: &[IncidentLink],
    ) -> Result<(), StoreError>;

    /// The incidents `query` asks for, newest `last_seen_ms` first (then by id), at most
    /// `query.max`.
    fn incidents(&mut self, query: &IncidentQuery) -> Result<Vec<StoredIncident>, StoreError>;

    /// One incident by id.
    fn incident(&mut self, id: &str) -> Result<Option<StoredIncident>, StoreError>;

    /// Links of the anomalies of `source` with `from_ms <= time < to_ms`, oldest first.
    fn incident_links(
        &mut self,
        source: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<IncidentLink>, StoreError>;
}

/// Bulk copies in and out, for `lad import` and `lad export`.
pub trait RecordArchive {
    /// Adds records to `source`, skipping those whose `original_id` the source already has, so
    /// importing the same file twice adds nothing.
    fn import(&mut self, source: &str, records: &[NewRecord]) -> Result<ImportSummary, StoreError>;

    /// A page of at most `limit` records (of one source, or all) in storage order, with verdicts
    /// and aggregate ids; start with `cursor = None` and pass `page.next` until it is `None`.
    fn export_page(
        &mut self,
        source: Option<&str>,
        cursor: Option<ExportCursor>,
        limit: usize,
    ) -> Result<ExportPage, StoreError>;
}
