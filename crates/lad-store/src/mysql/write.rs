//! Writes of the `mysql` backend: the [`VerdictSink`] role. A verdict flips the record's state
//! in `lad_records` (the first verdict stands) and inserts an anomaly once into the source's
//! anomaly table; aggregates get ids from `lad_counters` and their members are linked in
//! `lad_links`. Creates missing target tables; never alters an input table.

use super::*;
use crate::record::{check_score, member_keys};
use crate::roles::VerdictSink;

impl VerdictSink for MysqlStore {
    /// See [`crate::Store::write_verdicts`]. Anomalies are also inserted once into the source's
    /// anomaly table.
    fn write_verdicts(
        &mut self,
        source: &str,
        verdicts: &[Verdict],
        _records: &[Record],
    ) -> Result<usize, StoreError> {
        validate_identifier(source, "the source (MySQL table) name")?;
        for v in verdicts {
            int_id(&v.id, "write verdicts")?;
            check_score(BACKEND, v)?;
        }
        run!(self, "write verdicts", |ctx| ctx
            .write_verdicts(source, verdicts)
            .await)
    }

    /// See [`crate::Store::write_aggregates`]. `target` is the aggregation table
    /// (`MYSQL_TARGET_TABLES`), created when missing.
    fn write_aggregates(
        &mut self,
        input_source: &str,
        target: &str,
        drafts: &[AggregateDraft],
    ) -> Result<Vec<Option<RecordId>>, StoreError> {
        validate_identifier(input_source, "MYSQL_INPUT_TABLES")?;
        validate_identifier(target, "MYSQL_TARGET_TABLES")?;
        let members = member_keys(drafts, |id| int_id(id, "write aggregates"))?;
        run!(self, "write aggregates", |ctx| ctx
            .write_aggregates(input_source, target, drafts, &members)
            .await)
    }
}

impl Ctx {
    pub(super) async fn write_verdicts(
        &mut self,
        source: &str,
        verdicts: &[Verdict],
    ) -> Res<usize> {
        if verdicts.is_empty() {
            return Ok(0);
        }
        // Records returned by next_unscored are mirrored already; this catches any that were not.
        let info = self.sync(source, false).await?;
        let anomalous: Vec<i64> = verdicts
            .iter()
            .filter(|v| v.is_anomaly)
            .filter_map(|v| match v.id {
                RecordId::Int(n) => Some(n),
                _ => None,
            })
            .collect();
        // Rows to copy into the anomaly table, read before the target transaction (the input
        // may be another server).
        let mut rows = HashMap::new();
        let mut layout = None;
        if let (Some(info), false) = (&info, anomalous.is_empty()) {
            rows = self.fetch(source, info, &anomalous).await?;
            layout = Some(self.anomaly_layout(source).await?);
        }
        let all: Vec<Value> = verdicts
            .iter()
            .filter_map(|v| match v.id {
                RecordId::Int(n) => Some(json!([n, i64::from(v.is_anomaly), v.score])),
                _ => None,
            })
            .collect();
        let mut tx = self.target.begin().await.map_err(Fail::Target)?;
        let ids: Vec<i64> = verdicts
            .iter()
            .filter_map(|v| match v.id {
                RecordId::Int(n) => Some(n),
                _ => None,
            })
            .collect();
        let fresh: HashSet<i64> = q_ids(
            "SELECT r.logid FROM lad_records r \
              JOIN JSON_TABLE(?, '$[*]' COLUMNS (k BIGINT PATH '$')) j ON r.logid = j.k \
              WHERE r.source = ? AND r.state = ? FOR UPDATE"
                .into(),
        )
        .bind(ids_json(&ids))
        .bind(source)
        .bind(STATE_UNSCORED)
        .fetch_all(&mut *tx)
        .await
        .map_err(Fail::Target)?
        .into_iter()
        .collect();
        let written = q("UPDATE lad_records r JOIN JSON_TABLE(?, '$[*]' COLUMNS \
              (k BIGINT PATH '$[0]', a TINYINT PATH '$[1]', s DOUBLE PATH '$[2]')) j ON r.logid = j.k \
              SET r.state = IF(j.a = 1, ?, ?), r.anomaly_score = j.s \
              WHERE r.source = ? AND r.state = ?"
            .into())
        .bind(Value::Array(all).to_string())
        .bind(STATE_ANOMALY)
        .bind(STATE_NORMAL)
        .bind(source)
        .bind(STATE_UNSCORED)
        .execute(&mut *tx)
        .await
        .map_err(Fail::Target)?
        .rows_affected();
        let mut inserts: Vec<(&Record, f64)> = Vec::new();
        let mut seen = HashSet::new();
        for v in verdicts.iter().filter(|v| v.is_anomaly) {
            if let RecordId::Int(n) = v.id {
                if fresh.contains(&n) && seen.insert(n) {
                    if let Some(Ok(r)) = rows.get(&n) {
                        inserts.push((r, v.score));
                    }
                }
            }
        }
        let f = &self.config.fields;
        for (chunk, layout) in inserts
            .chunks(INSERT_CHUNK)
            .filter_map(|c| Some((c, layout.as_ref()?)))
        {
            let row_sql = format!("(?, ?, {FROM_MICROS}, ?, ?)");
            let sql = format!(
                "INSERT IGNORE INTO {} ({}, {}, {}, {}, anomaly_score) VALUES {}",
                quote(&layout.table),
                quote(&layout.key),
                quote(&f.message),
                quote(&f.time),
                quote(&f.host),
                vec![row_sql.as_str(); chunk.len()].join(", ")
            );
            let mut query = q(sql);
            for (r, score) in chunk {
                let id = match r.id {
                    RecordId::Int(n) => n,
                    _ => continue,
                };
                query = query
                    .bind(id)
                    .bind(r.message.clone())
                    .bind(micros(r.time))
                    .bind(r.host.clone())
                    .bind(*score);
            }
            query.execute(&mut *tx).await.map_err(Fail::Target)?;
        }
        tx.commit().await.map_err(Fail::Target)?;
        Ok(usize::try_from(written).unwrap_or(usize::MAX))
    }

    pub(super) async fn ensure_aggregate_table(&mut self, table: &str) -> Res<()> {
        if self.created.contains(table) {
            return Ok(());
        }
        let ddl = format!(
            "CREATE TABLE IF NOT EXISTS {} (
                aggr_msg_id BIGINT NOT NULL PRIMARY KEY,
                message LONGTEXT NOT NULL,
                total_logs BIGINT NOT NULL,
                average_datetime DATETIME(3) NOT NULL,
                hostname VARCHAR(255) NOT NULL,
                average_anomaly_score DOUBLE NOT NULL,
                was_added_at DATETIME(3) NOT NULL
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            quote(table)
        );
        self.target
            .execute(AssertSqlSafe(ddl))
            .await
            .map_err(Fail::Target)?;
        self.created.insert(table.to_owned());
        Ok(())
    }

    /// Writes aggregates of `input_source`, a source lad scores (members are input keys, looked
    /// up in `lad_records`) or an anomaly table named by an old `aggregator.yaml` (members are
    /// the table's row ids). Links are made in the same target transaction as the aggregate,
    /// except on an anomaly table in the input database on another server, which is updated
    /// right after that commit (a kill in between leaves an aggregate whose members are grouped
    /// again by the next pass).
    pub(super) async fn write_aggregates(
        &mut self,
        input_source: &str,
        target: &str,
        drafts: &[AggregateDraft],
        members: &[Vec<i64>],
    ) -> Res<Vec<Option<RecordId>>> {
        self.ensure_aggregate_table(target).await?;
        let layout = match self.aggregation_input(input_source).await? {
            Some(table) => Linking::Table(table),
            None => Linking::Source(self.anomaly_layout(input_source).await?),
        };
        let mut tx = self.target.begin().await.map_err(Fail::Target)?;
        q("INSERT IGNORE INTO lad_counters (name, value) VALUES ('aggr_msg_id', 0)".into())
            .execute(&mut *tx)
            .await
            .map_err(Fail::Target)?;
        let mut out = Vec::with_capacity(drafts.len());
        let mut later: Vec<(i64, Vec<i64>)> = Vec::new();
        for (draft, ids) in drafts.iter().zip(members) {
            let current: HashMap<i64, Option<i64>> = match &layout {
                Linking::Source(_) => q("SELECT r.logid, l.aggr_msg_id FROM lad_records r \
                      JOIN JSON_TABLE(?, '$[*]' COLUMNS (k BIGINT PATH '$')) j ON r.logid = j.k \
                      LEFT JOIN lad_links l ON l.source = r.source AND l.logid = r.logid \
                      WHERE r.source = ? FOR UPDATE"
                    .into())
                .bind(ids_json(ids))
                .bind(input_source)
                .fetch_all(&mut *tx)
                .await
                .map_err(Fail::Target)?,
                Linking::Table(t) => {
                    let sql = format!(
                        "SELECT CAST(a.{id} AS SIGNED), CAST(a.aggr_msg_id AS SIGNED) FROM {} a \
                         JOIN JSON_TABLE(?, '$[*]' COLUMNS (k BIGINT PATH '$')) j ON a.{id} = j.k",
                        quote(&t.table),
                        id = quote(t.row_id().map_err(Fail::Store)?)
                    );
                    if t.on_target {
                        q(format!("{sql} FOR UPDATE"))
                            .bind(ids_json(ids))
                            .fetch_all(&mut *tx)
                            .await
                            .map_err(Fail::Target)?
                    } else {
                        q(sql)
                            .bind(ids_json(ids))
                            .fetch_all(&self.input)
                            .await
                            .map_err(Fail::Input)?
                    }
                }
            }
            .iter()
            .map(|r| Ok((r.try_get::<i64, _>(0)?, r.try_get::<Option<i64>, _>(1)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Fail::Target)?;
            let mut free = Vec::new();
            for (id, rid) in ids.iter().zip(&draft.member_ids) {
                match current.get(id) {
                    None => {
                        return Err(Fail::Store(invalid(
                            rid,
                            "write aggregates",
                            format!("no scored record with this key in source {input_source:?}"),
                        )))
                    }
                    Some(None) if !free.contains(id) => free.push(*id),
                    Some(_) => {}
                }
            }
            if free.is_empty() {
                out.push(None);
                continue;
            }
            let counter: i64 =
                q("SELECT value FROM lad_counters WHERE name = 'aggr_msg_id' FOR UPDATE".into())
                    .fetch_one(&mut *tx)
                    .await
                    .and_then(|r| r.try_get(0))
                    .map_err(Fail::Target)?;
            let table_max: Option<i64> = q(format!(
                "SELECT CAST(MAX(aggr_msg_id) AS SIGNED) FROM {}",
                quote(target)
            ))
            .fetch_one(&mut *tx)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(Fail::Target)?;
            let id = counter.max(table_max.unwrap_or(0)) + 1;
            q("UPDATE lad_counters SET value = ? WHERE name = 'aggr_msg_id'".into())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(Fail::Target)?;
            q(format!(
                "INSERT INTO {} (aggr_msg_id, message, total_logs, average_datetime, hostname, \
                 average_anomaly_score, was_added_at) VALUES (?, ?, ?, {FROM_MICROS}, ?, ?, {FROM_MICROS})",
                quote(target)
            ))
            .bind(id)
            .bind(&draft.message)
            .bind(i64::try_from(draft.total_logs).unwrap_or(i64::MAX))
            .bind(micros(draft.average_time_ms))
            .bind(&draft.most_frequent_hostname)
            .bind(draft.average_anomaly_score)
            .bind(micros(draft.was_added_at_ms))
            .execute(&mut *tx)
            .await
            .map_err(Fail::Target)?;
            q(
                "INSERT INTO lad_aggregates (target, aggr_msg_id, input_source) VALUES (?, ?, ?)"
                    .into(),
            )
            .bind(target)
            .bind(id)
            .bind(input_source)
            .execute(&mut *tx)
            .await
            .map_err(Fail::Target)?;
            q("INSERT IGNORE INTO lad_links (source, logid, aggr_msg_id) \
                 SELECT ?, j.k, ? FROM JSON_TABLE(?, '$[*]' COLUMNS (k BIGINT PATH '$')) j"
                .into())
            .bind(input_source)
            .bind(id)
            .bind(ids_json(&free))
            .execute(&mut *tx)
            .await
            .map_err(Fail::Target)?;
            match &layout {
                Linking::Table(t) if !t.on_target => later.push((id, free)),
                Linking::Table(t) => {
                    q(link_sql(t, t.row_id().map_err(Fail::Store)?))
                        .bind(ids_json(&free))
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(Fail::Target)?;
                }
                Linking::Source(t) => {
                    q(link_sql(t, &t.key))
                        .bind(ids_json(&free))
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(Fail::Target)?;
                }
            }
            out.push(Some(RecordId::Int(id)));
        }
        tx.commit().await.map_err(Fail::Target)?;
        if let Linking::Table(t) = &layout {
            for (id, free) in later {
                q(link_sql(t, t.row_id().map_err(Fail::Store)?))
                    .bind(ids_json(&free))
                    .bind(id)
                    .execute(&self.input)
                    .await
                    .map_err(Fail::Input)?;
            }
        }
        Ok(out)
    }
}

/// How the members of an aggregate are found and marked.
enum Linking {
    /// Members are input keys of a source lad scores; its anomaly table is marked by key.
    Source(anomaly_table::AnomalyLayout),
    /// Members are row ids of an anomaly table read directly (an old `aggregator.yaml`).
    Table(anomaly_table::AnomalyLayout),
}

/// `UPDATE` setting `aggr_msg_id` (second parameter) on the not yet linked rows of `t` whose
/// `column` is in the JSON array (first parameter): the input key for a source, the row id for a
/// table read directly.
fn link_sql(t: &anomaly_table::AnomalyLayout, column: &str) -> String {
    format!(
        "UPDATE {} a JOIN JSON_TABLE(?, '$[*]' COLUMNS (k BIGINT PATH '$')) j \
         ON a.{} = j.k SET a.aggr_msg_id = ? WHERE a.aggr_msg_id IS NULL",
        quote(&t.table),
        quote(column)
    )
}
