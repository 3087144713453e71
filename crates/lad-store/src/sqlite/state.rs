//! lad's state in the `sqlite` backend, the [`StateStore`] role: anomalies of a window with their
//! links, stored aggregates, and feedback (the `feedback` table), and the
//! [`IncidentStore`](crate::IncidentStore) role (`lad_incidents`, `lad_incident_links`). Records
//! are not written here.

use super::read::record_from_row;
use super::*;
use crate::feedback;
use crate::incident::{self, IncidentLink, IncidentQuery, StoredIncident};
use crate::roles::{IncidentStore, StateStore};

impl StateStore for SqliteStore {
    /// See [`crate::Store::anomalies`].
    fn anomalies(
        &mut self,
        source: &str,
        from_ms: i64,
        to_ms: i64,
        max: usize,
    ) -> Result<Vec<Anomaly>, StoreError> {
        let fail = self.fail("read anomalies");
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {RECORD_COLUMNS}, anomaly_score, aggregated_message_id FROM records \
                 WHERE source = ?1 AND is_anomaly = 1 AND time_ms >= ?2 AND time_ms < ?3 \
                 ORDER BY time_ms DESC, id DESC LIMIT ?4"
            ))
            .map_err(&fail)?;
        let mut rows = stmt
            .query(params![source, from_ms, to_ms, limit(max)])
            .map_err(&fail)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(&fail)? {
            // A row that was scored was readable when scored; one that no longer is gets skipped.
            if let Ok(record) = record_from_row(row, source).map_err(&fail)? {
                let score: Option<f64> = row.get(5).map_err(&fail)?;
                let aggregate: Option<i64> = row.get(6).map_err(&fail)?;
                out.push(Anomaly {
                    record,
                    score: score.unwrap_or(f64::NAN),
                    aggregate_id: aggregate.map(RecordId::Int),
                });
            }
        }
        out.reverse();
        Ok(out)
    }

    /// See [`crate::Store::aggregates`].
    fn aggregates(&mut self, input_source: Option<&str>) -> Result<Vec<Aggregate>, StoreError> {
        let fail = self.fail("read aggregates");
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, input_source, target, message, total_logs, average_time_ms, average_anomaly_score, \
                 most_frequent_hostname, was_added_at_ms FROM aggregates \
                 WHERE ?1 IS NULL OR input_source = ?1 ORDER BY id",
            )
            .map_err(&fail)?;
        let mut aggregates = stmt
            .query_map(params![input_source], |r| {
                Ok(Aggregate {
                    id: RecordId::Int(r.get(0)?),
                    input_source: r.get(1)?,
                    target: r.get(2)?,
                    draft: AggregateDraft {
                        message: r.get(3)?,
                        total_logs: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
                        average_time_ms: r.get(5)?,
                        average_anomaly_score: r.get(6)?,
                        most_frequent_hostname: r.get(7)?,
                        was_added_at_ms: r.get(8)?,
                        member_ids: Vec::new(),
                    },
                })
            })
            .map_err(&fail)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&fail)?;
        let mut members = self
            .conn
            .prepare_cached("SELECT id FROM records WHERE aggregated_message_id = ?1 ORDER BY id")
            .map_err(&fail)?;
        for a in &mut aggregates {
            if let RecordId::Int(id) = a.id {
                a.draft.member_ids = members
                    .query_map(params![id], |r| r.get::<_, i64>(0).map(RecordId::Int))
                    .map_err(&fail)?
                    .collect::<Result<_, _>>()
                    .map_err(&fail)?;
            }
        }
        Ok(aggregates)
    }

    /// See [`crate::Store::add_feedback`].
    fn add_feedback(&mut self, mark: &NewFeedback) -> Result<i64, StoreError> {
        self.conn
            .execute(
                &feedback::insert_sql("feedback"),
                params![
                    mark.source,
                    mark.host,
                    mark.record_id.as_ref().map(ToString::to_string),
                    mark.message,
                    mark.template,
                    mark.who,
                    mark.at_ms
                ],
            )
            .map_err(self.fail("add feedback"))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// See [`crate::Store::list_feedback`].
    fn list_feedback(
        &mut self,
        source: Option<&str>,
        include_undone: bool,
    ) -> Result<Vec<Feedback>, StoreError> {
        let fail = self.fail("list feedback");
        let mut stmt = self
            .conn
            .prepare_cached(&feedback::select_sql("feedback"))
            .map_err(&fail)?;
        let out = stmt
            .query_map(params![source, source, include_undone], |r| {
                Ok(feedback::from_row(r.try_into()?))
            })
            .map_err(&fail)?
            .collect::<Result<_, _>>()
            .map_err(&fail)?;
        Ok(out)
    }

    /// See [`crate::Store::undo_feedback`].
    fn undo_feedback(&mut self, id: i64, at_ms: i64) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute(&feedback::undo_sql("feedback"), params![at_ms, id])
            .map_err(self.fail("undo feedback"))?;
        Ok(n == 1)
    }
}

impl IncidentStore for SqliteStore {
    fn write_incidents(
        &mut self,
        incidents: &[StoredIncident],
        links: &[IncidentLink],
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let fail = |source| sqlite_error(&path, "write incidents", source);
        let tx = self.conn.transaction().map_err(fail)?;
        {
            let mut link = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO lad_incident_links \
                     (source, record_id, incident_id, host, time_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(&fail)?;
            for l in links {
                link.execute(params![
                    l.source,
                    l.record_id.to_string(),
                    l.incident_id,
                    l.host,
                    l.time_ms
                ])
                .map_err(&fail)?;
            }
            let mut put = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO lad_incidents \
                     (id, source, state, first_seen_ms, last_seen_ms, hosts, body) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(&fail)?;
            for i in incidents {
                let (hosts, body) = incident::json_columns(i);
                put.execute(params![
                    i.id,
                    i.source,
                    i.state,
                    i.first_seen_ms,
                    i.last_seen_ms,
                    hosts,
                    body
                ])
                .map_err(&fail)?;
            }
        }
        tx.commit().map_err(&fail)
    }

    fn incidents(&mut self, query: &IncidentQuery) -> Result<Vec<StoredIncident>, StoreError> {
        let fail = self.fail("read incidents");
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{} LIMIT ?", incident::SELECT_INCIDENTS))
            .map_err(&fail)?;
        let rows = stmt
            .query_map(
                params![
                    query.source,
                    query.source,
                    query.state,
                    query.state,
                    query.from_ms,
                    query.to_ms,
                    limit(query.max)
                ],
                |r| incident::IncidentRow::try_from(r),
            )
            .map_err(&fail)?
            .collect::<Result<Vec<incident::IncidentRow>, _>>()
            .map_err(&fail)?;
        rows.into_iter()
            .map(|row| incident::from_row(row).map_err(|reason| self.corrupt_incident(reason)))
            .collect()
    }

    fn incident(&mut self, id: &str) -> Result<Option<StoredIncident>, StoreError> {
        let fail = self.fail("read an incident");
        let row: Option<incident::IncidentRow> = self
            .conn
            .query_row(
                "SELECT id, source, state, first_seen_ms, last_seen_ms, hosts, body \
                 FROM lad_incidents WHERE id = ?1",
                params![id],
                |r| incident::IncidentRow::try_from(r),
            )
            .optional()
            .map_err(&fail)?;
        row.map(|r| incident::from_row(r).map_err(|reason| self.corrupt_incident(reason)))
            .transpose()
    }

    fn incident_links(
        &mut self,
        source: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<IncidentLink>, StoreError> {
        let fail = self.fail("read incident links");
        let mut stmt = self
            .conn
            .prepare_cached(incident::SELECT_LINKS)
            .map_err(&fail)?;
        let links = stmt
            .query_map(params![source, from_ms, to_ms], |r| {
                Ok(IncidentLink {
                    source: r.get(0)?,
                    record_id: RecordId::parse(&r.get::<_, String>(1)?),
                    incident_id: r.get(2)?,
                    host: r.get(3)?,
                    time_ms: r.get(4)?,
                })
            })
            .map_err(&fail)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&fail)?;
        Ok(links)
    }
}

impl SqliteStore {
    fn corrupt_incident(&self, reason: String) -> StoreError {
        StoreError::Corrupt {
            backend: BACKEND,
            location: format!("{} table lad_incidents", self.path.display()),
            reason,
        }
    }
}
