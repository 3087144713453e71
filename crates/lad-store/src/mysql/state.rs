//! lad's state in the `mysql` backend, the [`StateStore`] role: anomalies of a window with their
//! links, stored aggregates, and feedback (`lad_feedback` in the target database); the
//! [`IncidentStore`](crate::IncidentStore) role (`lad_incidents`, `lad_incident_links`).

use super::*;
use crate::feedback;
use crate::incident::{self, IncidentLink, IncidentQuery, StoredIncident};
use crate::roles::{IncidentStore, StateStore};

impl StateStore for MysqlStore {
    /// See [`crate::Store::anomalies`].
    fn anomalies(
        &mut self,
        source: &str,
        from_ms: i64,
        to_ms: i64,
        max: usize,
    ) -> Result<Vec<Anomaly>, StoreError> {
        validate_identifier(source, "the source (MySQL table) name")?;
        run!(self, "read anomalies", |ctx| ctx
            .anomalies(source, from_ms, to_ms, max)
            .await)
    }

    /// See [`crate::Store::aggregates`].
    fn aggregates(&mut self, input_source: Option<&str>) -> Result<Vec<Aggregate>, StoreError> {
        run!(self, "read aggregates", |ctx| ctx
            .aggregates(input_source)
            .await)
    }

    /// See [`crate::Store::add_feedback`].
    fn add_feedback(&mut self, mark: &NewFeedback) -> Result<i64, StoreError> {
        run!(self, "add feedback", |ctx| {
            let r = q(feedback::insert_sql("lad_feedback"))
                .bind(&mark.source)
                .bind(&mark.host)
                .bind(mark.record_id.as_ref().map(ToString::to_string))
                .bind(&mark.message)
                .bind(&mark.template)
                .bind(&mark.who)
                .bind(mark.at_ms)
                .execute(&ctx.target)
                .await
                .map_err(Fail::Target)?;
            Ok::<i64, Fail>(i64::try_from(r.last_insert_id()).unwrap_or(i64::MAX))
        })
    }

    /// See [`crate::Store::list_feedback`].
    fn list_feedback(
        &mut self,
        source: Option<&str>,
        include_undone: bool,
    ) -> Result<Vec<Feedback>, StoreError> {
        run!(self, "list feedback", |ctx| {
            let rows: Vec<feedback::FeedbackRow> =
                sqlx::query_as(AssertSqlSafe(feedback::select_sql("lad_feedback")))
                    .bind(source)
                    .bind(source)
                    .bind(include_undone)
                    .fetch_all(&ctx.target)
                    .await
                    .map_err(Fail::Target)?;
            Ok::<Vec<Feedback>, Fail>(rows.into_iter().map(feedback::from_row).collect())
        })
    }

    /// See [`crate::Store::undo_feedback`].
    fn undo_feedback(&mut self, id: i64, at_ms: i64) -> Result<bool, StoreError> {
        run!(self, "undo feedback", |ctx| {
            let r = q(feedback::undo_sql("lad_feedback"))
                .bind(at_ms)
                .bind(id)
                .execute(&ctx.target)
                .await
                .map_err(Fail::Target)?;
            Ok::<bool, Fail>(r.rows_affected() == 1)
        })
    }
}

impl Ctx {
    pub(super) async fn anomalies(
        &mut self,
        source: &str,
        from_ms: i64,
        to_ms: i64,
        max: usize,
    ) -> Res<Vec<Anomaly>> {
        if let Some(layout) = self.aggregation_input(source).await? {
            return self.anomalies_of_table(&layout, from_ms, to_ms, max).await;
        }
        let Some(info) = self.table(source).await? else {
            return Ok(Vec::new());
        };
        let rows = q(
            "SELECT r.logid, r.anomaly_score, l.aggr_msg_id FROM lad_records r \
                      LEFT JOIN lad_links l ON l.source = r.source AND l.logid = r.logid \
                      WHERE r.source = ? AND r.state = ? AND r.time_ms >= ? AND r.time_ms < ? \
                      ORDER BY r.time_ms DESC, r.logid DESC LIMIT ?"
                .into(),
        )
        .bind(source)
        .bind(STATE_ANOMALY)
        .bind(from_ms)
        .bind(to_ms)
        .bind(i64::try_from(max).unwrap_or(i64::MAX))
        .fetch_all(&self.target)
        .await
        .map_err(Fail::Target)?;
        let marks = rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get::<i64, _>(0)?,
                    r.try_get::<Option<f64>, _>(1)?,
                    r.try_get::<Option<i64>, _>(2)?,
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(Fail::Target)?;
        let ids: Vec<i64> = marks.iter().map(|m| m.0).collect();
        let mut found = self.fetch(source, &info, &ids).await?;
        let mut out = Vec::with_capacity(marks.len());
        for (id, score, aggregate) in marks.into_iter().rev() {
            // A row that was scored was readable when scored; one that no longer is is skipped.
            if let Some(Ok(record)) = found.remove(&id) {
                out.push(Anomaly {
                    record,
                    score: score.unwrap_or(f64::NAN),
                    aggregate_id: aggregate.map(RecordId::Int),
                });
            }
        }
        Ok(out)
    }

    pub(super) async fn aggregates(&mut self, input_source: Option<&str>) -> Res<Vec<Aggregate>> {
        let index = q(
            "SELECT target, aggr_msg_id, input_source FROM lad_aggregates \
                       WHERE ? IS NULL OR input_source = ? ORDER BY aggr_msg_id"
                .into(),
        )
        .bind(input_source)
        .bind(input_source)
        .fetch_all(&self.target)
        .await
        .map_err(Fail::Target)?
        .iter()
        .map(|r| {
            Ok((
                r.try_get::<String, _>(0)?,
                r.try_get::<i64, _>(1)?,
                r.try_get::<String, _>(2)?,
            ))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(Fail::Target)?;
        let mut by_target: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for (t, id, _) in &index {
            by_target.entry(t).or_default().push(*id);
        }
        let mut drafts: HashMap<(String, i64), AggregateDraft> = HashMap::new();
        for (target, ids) in by_target {
            validate_identifier(target, "MYSQL_TARGET_TABLES (as stored in lad_aggregates)")?;
            let sql = format!(
                "SELECT a.aggr_msg_id, a.message, a.total_logs, {}, a.hostname, a.average_anomaly_score, {} \
                 FROM {} a JOIN JSON_TABLE(?, '$[*]' COLUMNS (k BIGINT PATH '$')) j ON a.aggr_msg_id = j.k",
                time_ms_sql("a.average_datetime"),
                time_ms_sql("a.was_added_at"),
                quote(target)
            );
            let rows = q(sql)
                .bind(ids_json(&ids))
                .fetch_all(&self.target)
                .await
                .map_err(Fail::Target)?;
            for r in &rows {
                let d = (|| {
                    Ok::<_, sqlx::Error>((
                        r.try_get::<i64, _>(0)?,
                        AggregateDraft {
                            message: r.try_get(1)?,
                            total_logs: u64::try_from(r.try_get::<i64, _>(2)?).unwrap_or(0),
                            average_time_ms: r.try_get::<Option<i64>, _>(3)?.unwrap_or(0),
                            most_frequent_hostname: r.try_get(4)?,
                            average_anomaly_score: r.try_get(5)?,
                            was_added_at_ms: r.try_get::<Option<i64>, _>(6)?.unwrap_or(0),
                            member_ids: Vec::new(),
                        },
                    ))
                })()
                .map_err(Fail::Target)?;
                drafts.insert((target.to_owned(), d.0), d.1);
            }
        }
        let mut out = Vec::with_capacity(index.len());
        for (target, id, source) in index {
            let Some(mut draft) = drafts.remove(&(target.clone(), id)) else {
                continue; // deleted from the target table by someone else
            };
            draft.member_ids = q(
                "SELECT logid FROM lad_links WHERE source = ? AND aggr_msg_id = ? ORDER BY logid"
                    .into(),
            )
            .bind(&source)
            .bind(id)
            .fetch_all(&self.target)
            .await
            .map_err(Fail::Target)?
            .iter()
            .map(|r| r.try_get::<i64, _>(0).map(RecordId::Int))
            .collect::<Result<_, _>>()
            .map_err(Fail::Target)?;
            out.push(Aggregate {
                id: RecordId::Int(id),
                input_source: source,
                target,
                draft,
            });
        }
        Ok(out)
    }
}

impl IncidentStore for MysqlStore {
    /// Links (`INSERT IGNORE`: the first link stands) and incidents (`REPLACE`) in one
    /// transaction.
    fn write_incidents(
        &mut self,
        incidents: &[StoredIncident],
        links: &[IncidentLink],
    ) -> Result<(), StoreError> {
        let rows: Vec<Value> = links
            .iter()
            .map(|l| {
                json!([
                    l.source,
                    l.record_id.to_string(),
                    l.incident_id,
                    l.host,
                    l.time_ms
                ])
            })
            .collect();
        let rows = Value::from(rows).to_string();
        run!(self, "write incidents", |ctx| {
            let mut tx = ctx.target.begin().await.map_err(Fail::Target)?;
            if !links.is_empty() {
                q("INSERT IGNORE INTO lad_incident_links (source, record_id, incident_id, host, time_ms) \
                   SELECT j.s, j.r, j.i, j.h, j.t FROM JSON_TABLE(?, '$[*]' COLUMNS ( \
                   s VARCHAR(255) PATH '$[0]', r VARCHAR(255) PATH '$[1]', i VARCHAR(64) PATH '$[2]', \
                   h VARCHAR(255) PATH '$[3]', t BIGINT PATH '$[4]')) j"
                    .into())
                .bind(&rows)
                .execute(&mut *tx)
                .await
                .map_err(Fail::Target)?;
            }
            for i in incidents {
                let (hosts, body) = incident::json_columns(i);
                q("REPLACE INTO lad_incidents (id, source, state, first_seen_ms, last_seen_ms, hosts, body) \
                   VALUES (?, ?, ?, ?, ?, ?, ?)"
                    .into())
                .bind(&i.id)
                .bind(&i.source)
                .bind(&i.state)
                .bind(i.first_seen_ms)
                .bind(i.last_seen_ms)
                .bind(hosts)
                .bind(body)
                .execute(&mut *tx)
                .await
                .map_err(Fail::Target)?;
            }
            tx.commit().await.map_err(Fail::Target)?;
            Ok::<(), Fail>(())
        })
    }

    fn incidents(&mut self, query: &IncidentQuery) -> Result<Vec<StoredIncident>, StoreError> {
        let max = i64::try_from(query.max).unwrap_or(i64::MAX);
        let rows = run!(self, "read incidents", |ctx| {
            let rows: Vec<incident::IncidentRow> = sqlx::query_as(AssertSqlSafe(format!(
                "{} LIMIT ?",
                incident::SELECT_INCIDENTS
            )))
            .bind(&query.source)
            .bind(&query.source)
            .bind(&query.state)
            .bind(&query.state)
            .bind(query.from_ms)
            .bind(query.to_ms)
            .bind(max)
            .fetch_all(&ctx.target)
            .await
            .map_err(Fail::Target)?;
            Ok::<_, Fail>(rows)
        })?;
        rows.into_iter()
            .map(|r| incident::from_row(r).map_err(corrupt_incident))
            .collect()
    }

    fn incident(&mut self, id: &str) -> Result<Option<StoredIncident>, StoreError> {
        let row = run!(self, "read an incident", |ctx| {
            let row: Option<incident::IncidentRow> = sqlx::query_as(
                "SELECT id, source, state, first_seen_ms, last_seen_ms, hosts, body \
                 FROM lad_incidents WHERE id = ?",
            )
            .bind(id)
            .fetch_optional(&ctx.target)
            .await
            .map_err(Fail::Target)?;
            Ok::<_, Fail>(row)
        })?;
        row.map(|r| incident::from_row(r).map_err(corrupt_incident))
            .transpose()
    }

    fn incident_links(
        &mut self,
        source: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<IncidentLink>, StoreError> {
        run!(self, "read incident links", |ctx| {
            let rows: Vec<(String, String, String, String, i64)> =
                sqlx::query_as(AssertSqlSafe(incident::SELECT_LINKS.to_string()))
                    .bind(source)
                    .bind(from_ms)
                    .bind(to_ms)
                    .fetch_all(&ctx.target)
                    .await
                    .map_err(Fail::Target)?;
            Ok::<_, Fail>(
                rows.into_iter()
                    .map(
                        |(source, record_id, incident_id, host, time_ms)| IncidentLink {
                            source,
                            record_id: RecordId::parse(&record_id),
                            incident_id,
                            host,
                            time_ms,
                        },
                    )
                    .collect(),
            )
        })
    }
}

fn corrupt_incident(reason: String) -> StoreError {
    StoreError::Corrupt {
        backend: BACKEND,
        location: "table lad_incidents".into(),
        reason,
    }
}
