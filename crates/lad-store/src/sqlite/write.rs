//! Writes of the `sqlite` backend: the [`VerdictSink`] role (verdicts on the `records` rows,
//! aggregates in `aggregates` with their members linked), each call in one transaction.

use super::*;
use crate::record::{check_score, member_keys};
use crate::roles::VerdictSink;

impl VerdictSink for SqliteStore {
    /// See [`crate::Store::write_verdicts`].
    fn write_verdicts(
        &mut self,
        source: &str,
        verdicts: &[Verdict],
        _records: &[Record],
    ) -> Result<usize, StoreError> {
        let ids = verdicts
            .iter()
            .map(|v| {
                let id = int_id(&v.id, "write verdicts")?;
                check_score(BACKEND, v)?;
                Ok(id)
            })
            .collect::<Result<Vec<i64>, StoreError>>()?;
        let path = self.path.clone();
        let fail = |source| sqlite_error(&path, "write verdicts", source);
        let tx = self.conn.transaction().map_err(fail)?;
        let mut written = 0;
        {
            let mut update = tx
                .prepare_cached(
                    "UPDATE records SET is_anomaly = ?3, anomaly_score = ?4 \
                     WHERE id = ?1 AND source = ?2 AND is_anomaly IS NULL",
                )
                .map_err(fail)?;
            for (id, v) in ids.iter().zip(verdicts) {
                written += update
                    .execute(params![id, source, i64::from(v.is_anomaly), v.score])
                    .map_err(fail)?;
            }
        }
        tx.commit().map_err(fail)?;
        Ok(written)
    }

    /// See [`crate::Store::write_aggregates`].
    fn write_aggregates(
        &mut self,
        input_source: &str,
        target: &str,
        drafts: &[AggregateDraft],
    ) -> Result<Vec<Option<RecordId>>, StoreError> {
        let member_ids = member_keys(drafts, |id| int_id(id, "write aggregates"))?;
        let path = self.path.clone();
        let fail = |source| sqlite_error(&path, "write aggregates", source);
        let tx = self.conn.transaction().map_err(fail)?;
        let mut out = Vec::with_capacity(drafts.len());
        {
            let mut linked = tx
                .prepare_cached(
                    "SELECT aggregated_message_id FROM records WHERE id = ?1 AND source = ?2",
                )
                .map_err(fail)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO aggregates (input_source, target, message, total_logs, average_time_ms, \
                     average_anomaly_score, most_frequent_hostname, was_added_at_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(fail)?;
            let mut link = tx
                .prepare_cached(
                    "UPDATE records SET aggregated_message_id = ?1 \
                     WHERE id = ?2 AND source = ?3 AND aggregated_message_id IS NULL",
                )
                .map_err(fail)?;
            for (draft, ids) in drafts.iter().zip(&member_ids) {
                let mut free = Vec::with_capacity(ids.len());
                for (&id, rid) in ids.iter().zip(&draft.member_ids) {
                    let current: Option<Option<i64>> = linked
                        .query_row(params![id, input_source], |r| r.get(0))
                        .optional()
                        .map_err(fail)?;
                    match current {
                        None => {
                            return Err(invalid(
                                rid,
                                "write aggregates",
                                format!("no such record in source {input_source:?}"),
                            ))
                        }
                        Some(None) => free.push(id),
                        Some(Some(_)) => {}
                    }
                }
                if free.is_empty() {
                    out.push(None);
                    continue;
                }
                insert
                    .execute(params![
                        input_source,
                        target,
                        draft.message,
                        i64::try_from(draft.total_logs).unwrap_or(i64::MAX),
                        draft.average_time_ms,
                        draft.average_anomaly_score,
                        draft.most_frequent_hostname,
                        draft.was_added_at_ms
                    ])
                    .map_err(fail)?;
                let aggregate_id = tx.last_insert_rowid();
                for id in free {
                    link.execute(params![aggregate_id, id, input_source])
                        .map_err(fail)?;
                }
                out.push(Some(RecordId::Int(aggregate_id)));
            }
        }
        tx.commit().map_err(fail)?;
        Ok(out)
    }
}
