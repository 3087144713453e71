//! Reads of the `mysql` backend: the [`RecordSource`] and [`TrainingReader`] roles, the mirror of
//! input keys into `lad_records` (scan, recheck of late commits), and decoding input rows into
//! records. Writes only bookkeeping (`lad_records`, `lad_sources`), never the input tables.

use super::*;
use crate::record::{record_or_malformed, Decoded};
use crate::roles::{RecordSource, TrainingReader};

impl RecordSource for MysqlStore {
    /// See [`crate::Store::next_unscored`].
    fn next_unscored(
        &mut self,
        source: &str,
        hosts: &[String],
        limit: usize,
    ) -> Result<Batch, StoreError> {
        validate_identifier(source, "the source (MySQL table) name")?;
        run!(self, "read unscored records", |ctx| ctx
            .next_unscored(source, hosts, limit)
            .await)
    }

    /// See [`crate::Store::mark_malformed`].
    fn mark_malformed(
        &mut self,
        source: &str,
        id: &RecordId,
        reason: &str,
    ) -> Result<(), StoreError> {
        let id = int_id(id, "mark malformed")?;
        run!(self, "mark a record malformed", |ctx| {
            q(
                "INSERT INTO lad_records (source, logid, state, malformed) VALUES (?, ?, ?, ?) \
               ON DUPLICATE KEY UPDATE malformed = IF(state = ?, ?, malformed), \
               state = IF(state = ?, ?, state)"
                    .into(),
            )
            .bind(source)
            .bind(id)
            .bind(STATE_MALFORMED)
            .bind(reason)
            .bind(STATE_UNSCORED)
            .bind(reason)
            .bind(STATE_UNSCORED)
            .bind(STATE_MALFORMED)
            .execute(&ctx.target)
            .await
            .map_err(Fail::Target)?;
            Ok::<(), Fail>(())
        })
    }

    /// See [`crate::Store::list_sources`]: configured sources and those lad has read or imported.
    fn list_sources(&mut self) -> Result<Vec<String>, StoreError> {
        run!(self, "list sources", |ctx| ctx.list_sources().await)
    }

    /// See [`crate::Store::hosts`].
    fn hosts(&mut self, source: &str) -> Result<Vec<String>, StoreError> {
        validate_identifier(source, "the source (MySQL table) name")?;
        run!(self, "list hosts", |ctx| ctx.hosts(source).await)
    }

    /// See [`crate::Store::unscored_count`].
    fn unscored_count(&mut self, source: &str) -> Result<u64, StoreError> {
        validate_identifier(source, "the source (MySQL table) name")?;
        run!(self, "count unscored records", |ctx| {
            ctx.sync(source, true).await?;
            let n: i64 =
                q("SELECT COUNT(*) FROM lad_records WHERE source = ? AND state = ?".into())
                    .bind(source)
                    .bind(STATE_UNSCORED)
                    .fetch_one(&ctx.target)
                    .await
                    .and_then(|r| r.try_get(0))
                    .map_err(Fail::Target)?;
            Ok::<u64, Fail>(u64::try_from(n).unwrap_or(0))
        })
    }

    /// See [`crate::Store::oldest_unscored_time`].
    fn oldest_unscored_time(&mut self, source: &str) -> Result<Option<i64>, StoreError> {
        validate_identifier(source, "the source (MySQL table) name")?;
        run!(self, "find the oldest unscored record", |ctx| {
            ctx.sync(source, true).await?;
            q("SELECT MIN(time_ms) FROM lad_records WHERE source = ? AND state = ?".into())
                .bind(source)
                .bind(STATE_UNSCORED)
                .fetch_one(&ctx.target)
                .await
                .and_then(|r| r.try_get::<Option<i64>, _>(0))
                .map_err(Fail::Target)
        })
    }
}

impl TrainingReader for MysqlStore {
    /// See [`crate::Store::training_window`].
    fn training_window(
        &mut self,
        source: &str,
        host: &str,
        from_ms: i64,
        to_ms: i64,
        max: usize,
    ) -> Result<Batch, StoreError> {
        validate_identifier(source, "the source (MySQL table) name")?;
        run!(self, "read a training window", |ctx| ctx
            .training_window(source, host, from_ms, to_ms, max)
            .await)
    }
}

impl Ctx {
    /// Reads (and caches) the layout of an input table; `None` when it does not exist.
    pub(super) async fn table(&mut self, source: &str) -> Res<Option<TableInfo>> {
        if let Some(t) = self.tables.get(source) {
            return Ok(Some(t.clone()));
        }
        let rows = q("SELECT CAST(COLUMN_NAME AS CHAR), CAST(DATA_TYPE AS CHAR), CAST(COLUMN_KEY AS CHAR) \
                      FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? \
                      ORDER BY ORDINAL_POSITION"
            .into())
        .bind(source)
        .fetch_all(&self.input)
        .await
        .map_err(Fail::Input)?;
        if rows.is_empty() {
            return Ok(None);
        }
        let cols = rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get::<String, _>(0)?,
                    r.try_get::<String, _>(1)?.to_ascii_lowercase(),
                    r.try_get::<String, _>(2)?,
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(Fail::Input)?;
        let bad = |reason: String| {
            Fail::Store(StoreError::Corrupt {
                backend: BACKEND,
                location: format!("table {source} of {}", self.config.input.address()),
                reason,
            })
        };
        let pks: Vec<&(String, String, String)> = cols.iter().filter(|c| c.2 == "PRI").collect();
        let pk =
            match pks.as_slice() {
                [one] if one.1.ends_with("int") => one.0.clone(),
                _ => return Err(bad(
                    "expected a primary key of one integer column (the record id), found none or \
                     another kind"
                        .into(),
                )),
            };
        let f = &self.config.fields;
        for (name, key) in [
            (&f.message, "MESSAGE_INDEX"),
            (&f.time, "DATETIME_INDEX"),
            (&f.host, "HOSTNAME_INDEX"),
        ] {
            if !cols.iter().any(|c| &c.0 == name) {
                return Err(bad(format!(
                    "expected a column {name:?} ({key}), found none"
                )));
            }
        }
        if let Some(c) = cols.iter().find(|c| c.0 == f.time) {
            if !matches!(c.1.as_str(), "datetime" | "timestamp" | "date") {
                return Err(bad(format!(
                    "column {:?} (DATETIME_INDEX) has type {}, expected DATETIME, TIMESTAMP or DATE",
                    c.0, c.1
                )));
            }
        }
        let special = [&pk, &f.message, &f.time, &f.host];
        let info = TableInfo {
            table: quote(source),
            pk: quote(&pk),
            others: cols
                .iter()
                .map(|c| c.0.clone())
                .filter(|c| !special.contains(&c) && c != "lad_extra" && c != "lad_original_id")
                .collect(),
            has_lad_extra: cols.iter().any(|c| c.0 == "lad_extra"),
            has_original_id: cols.iter().any(|c| c.0 == "lad_original_id"),
        };
        self.tables.insert(source.to_owned(), info.clone());
        Ok(Some(info))
    }

    /// `SELECT <record columns> FROM <table> t` and the parameters its select list binds.
    pub(super) fn record_select(&self, info: &TableInfo) -> (String, Vec<String>) {
        let f = &self.config.fields;
        let extra = if info.others.is_empty() {
            "NULL".to_owned()
        } else {
            let pairs: Vec<String> = info
                .others
                .iter()
                .map(|c| format!("?, t.{}", quote(c)))
                .collect();
            format!("CAST(JSON_OBJECT({}) AS CHAR)", pairs.join(", "))
        };
        let lad_extra = if info.has_lad_extra {
            "t.lad_extra"
        } else {
            "NULL"
        };
        (
            format!(
                "SELECT CAST(t.{pk} AS SIGNED), t.{host}, {time}, t.{msg}, {extra}, {lad_extra} FROM {table} t",
                pk = info.pk,
                host = quote(&f.host),
                time = time_ms_sql(&format!("t.{}", quote(&f.time))),
                msg = quote(&f.message),
                table = info.table,
            ),
            info.others.clone(),
        )
    }

    pub(super) fn decode(
        &self,
        row: &MySqlRow,
        source: &str,
    ) -> Result<Result<Record, Malformed>, sqlx::Error> {
        let f = &self.config.fields;
        let id = RecordId::Int(row.try_get(0)?);
        let host = text(row.try_get(1)?, &f.host);
        let time: Option<i64> = row.try_get(2)?;
        let message: Option<Vec<u8>> = row.try_get(3)?;
        let extra: Option<Vec<u8>> = row.try_get(4)?;
        let lad_extra: Option<Vec<u8>> = row.try_get(5)?;
        let fields = (|| {
            let host = host.clone()?;
            let time =
                time.ok_or_else(|| format!("column {} is NULL or not a valid date", f.time))?;
            let message = text(message, &f.message)?;
            check_message(&message)?;
            let mut map = Map::new();
            for (bytes, what) in [(extra, "other columns"), (lad_extra, "column lad_extra")] {
                if let Some(b) = bytes {
                    match serde_json::from_slice::<Value>(&b) {
                        Ok(Value::Object(m)) => map.extend(m),
                        _ => return Err(format!("{what} are not a JSON object")),
                    }
                }
            }
            Ok(Decoded {
                host,
                time,
                message,
                extra: map,
            })
        })();
        Ok(record_or_malformed(id, source, host.ok(), fields))
    }

    /// Fetches input rows by key, keyed by id; rows that no longer exist are absent.
    pub(super) async fn fetch(
        &mut self,
        source: &str,
        info: &TableInfo,
        ids: &[i64],
    ) -> Res<HashMap<i64, Result<Record, Malformed>>> {
        let (select, keys) = self.record_select(info);
        let sql = format!(
            "{select} JOIN JSON_TABLE(?, '$[*]' COLUMNS (k BIGINT PATH '$')) j ON t.{pk} = j.k",
            pk = info.pk
        );
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(FETCH_CHUNK) {
            let mut query = q(sql.clone());
            for k in &keys {
                query = query.bind(k.clone());
            }
            let rows = query
                .bind(ids_json(chunk))
                .fetch_all(&self.input)
                .await
                .map_err(Fail::Input)?;
            for row in &rows {
                let r = self.decode(row, source).map_err(Fail::Input)?;
                let id = match &r {
                    Ok(rec) => &rec.id,
                    Err(m) => &m.id,
                };
                if let RecordId::Int(n) = id {
                    out.insert(*n, r);
                }
            }
        }
        Ok(out)
    }

    pub(super) async fn register(&self, source: &str) -> Res<()> {
        q("INSERT IGNORE INTO lad_sources (source) VALUES (?)".into())
            .bind(source)
            .execute(&self.target)
            .await
            .map_err(Fail::Target)?;
        Ok(())
    }

    /// Copies `(key, time, host)` of input rows into `lad_records` (see the module docs);
    /// `recheck` also looks again below the high-water mark for late commits.
    pub(super) async fn sync(&mut self, source: &str, recheck: bool) -> Res<Option<TableInfo>> {
        let Some(info) = self.table(source).await? else {
            return Ok(None);
        };
        self.register(source).await?;
        let mark: Option<i64> = q("SELECT scanned_id FROM lad_sources WHERE source = ?".into())
            .bind(source)
            .fetch_one(&self.target)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(Fail::Target)?;
        if let Some(mark) = mark {
            // Counting keys on both sides is cheap; rows are compared only when counts differ.
            if !self.reconciled.contains(source) {
                if self.counts_differ(source, &info, i64::MIN, mark).await? {
                    self.recheck(source, &info, i64::MIN, mark).await?;
                }
                self.reconciled.insert(source.to_owned());
            } else if recheck {
                let after = mark.saturating_sub(RECHECK_KEYS);
                if self.counts_differ(source, &info, after, mark).await? {
                    self.recheck(source, &info, after, mark).await?;
                }
            }
        }
        let mut after = mark.unwrap_or(i64::MIN);
        loop {
            let rows = self.scan(&info, after, i64::MAX, SCAN_CHUNK).await?;
            let Some(last) = rows.last().map(|r| r.0) else {
                break;
            };
            let full = rows.len() as i64 == SCAN_CHUNK;
            let mut tx = self.target.begin().await.map_err(Fail::Target)?;
            mirror(&mut tx, source, &rows).await?;
            q("UPDATE lad_sources SET scanned_id = ? WHERE source = ?".into())
                .bind(last)
                .bind(source)
                .execute(&mut *tx)
                .await
                .map_err(Fail::Target)?;
            tx.commit().await.map_err(Fail::Target)?;
            after = last;
            if !full {
                break;
            }
        }
        Ok(Some(info))
    }

    /// Whether the input and `lad_records` hold different numbers of keys in `(after, upto]`.
    pub(super) async fn counts_differ(
        &self,
        source: &str,
        info: &TableInfo,
        after: i64,
        upto: i64,
    ) -> Res<bool> {
        let sql = format!(
            "SELECT COUNT(*) FROM {} WHERE {pk} > ? AND {pk} <= ?",
            info.table,
            pk = info.pk
        );
        let on_input: i64 = q(sql)
            .bind(after)
            .bind(upto)
            .fetch_one(&self.input)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(Fail::Input)?;
        let on_target: i64 = q(
            "SELECT COUNT(*) FROM lad_records WHERE source = ? AND logid > ? AND logid <= ?".into(),
        )
        .bind(source)
        .bind(after)
        .bind(upto)
        .fetch_one(&self.target)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(Fail::Target)?;
        Ok(on_input != on_target)
    }

    /// `(key, host, time)` of input rows with `after < key <= upto`, by key.
    pub(super) async fn scan(
        &self,
        info: &TableInfo,
        after: i64,
        upto: i64,
        limit: i64,
    ) -> Res<Vec<(i64, Option<String>, Option<i64>)>> {
        let f = &self.config.fields;
        let sql = format!(
            "SELECT CAST({pk} AS SIGNED), {host}, {time} FROM {table} WHERE {pk} > ? AND {pk} <= ? \
             ORDER BY {pk} LIMIT ?",
            pk = info.pk,
            host = quote(&f.host),
            time = time_ms_sql(&quote(&f.time)),
            table = info.table
        );
        let rows = q(sql)
            .bind(after)
            .bind(upto)
            .bind(limit)
            .fetch_all(&self.input)
            .await
            .map_err(Fail::Input)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<i64, _>(0)?,
                    indexable_host(r.try_get(1)?),
                    r.try_get::<Option<i64>, _>(2)?,
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(Fail::Input)
    }

    /// Mirrors input rows in `(after, upto]` that `lad_records` lacks.
    pub(super) async fn recheck(
        &self,
        source: &str,
        info: &TableInfo,
        after: i64,
        upto: i64,
    ) -> Res<()> {
        let mut after = after;
        loop {
            let rows = self.scan(info, after, upto, SCAN_CHUNK).await?;
            let (Some(first), Some(last)) = (rows.first().map(|r| r.0), rows.last().map(|r| r.0))
            else {
                return Ok(());
            };
            let known: HashSet<i64> = q_ids(
                "SELECT logid FROM lad_records WHERE source = ? AND logid >= ? AND logid <= ?"
                    .into(),
            )
            .bind(source)
            .bind(first)
            .bind(last)
            .fetch_all(&self.target)
            .await
            .map_err(Fail::Target)?
            .into_iter()
            .collect();
            let missing: Vec<_> = rows
                .iter()
                .filter(|r| !known.contains(&r.0))
                .cloned()
                .collect();
            if !missing.is_empty() {
                let mut tx = self.target.begin().await.map_err(Fail::Target)?;
                mirror(&mut tx, source, &missing).await?;
                tx.commit().await.map_err(Fail::Target)?;
            }
            if (rows.len() as i64) < SCAN_CHUNK {
                return Ok(());
            }
            after = last;
        }
    }

    pub(super) async fn marked_malformed(&self, source: &str) -> Res<HashSet<i64>> {
        Ok(
            q_ids("SELECT logid FROM lad_records WHERE source = ? AND state = ?".into())
                .bind(source)
                .bind(STATE_MALFORMED)
                .fetch_all(&self.target)
                .await
                .map_err(Fail::Target)?
                .into_iter()
                .collect(),
        )
    }

    pub(super) async fn training_window(
        &mut self,
        source: &str,
        host: &str,
        from_ms: i64,
        to_ms: i64,
        max: usize,
    ) -> Res<Batch> {
        let Some(info) = self.table(source).await? else {
            return Ok(Batch::default());
        };
        // Marked rows are few; leaving them out in Rust keeps the query on the input server.
        let marked = self.marked_malformed(source).await?;
        let f = &self.config.fields;
        let (select, keys) = self.record_select(&info);
        let sql = format!(
            "{select} WHERE t.{host} = ? AND t.{time} >= {FROM_MICROS} AND t.{time} < {FROM_MICROS} \
             ORDER BY t.{time} DESC, t.{pk} DESC LIMIT ?",
            host = quote(&f.host),
            time = quote(&f.time),
            pk = info.pk
        );
        let mut query = q(sql);
        for k in keys {
            query = query.bind(k);
        }
        let limit = i64::try_from(max.saturating_add(marked.len())).unwrap_or(i64::MAX);
        let rows = query
            .bind(host)
            .bind(micros(from_ms))
            .bind(micros(to_ms))
            .bind(limit)
            .fetch_all(&self.input)
            .await
            .map_err(Fail::Input)?;
        let mut batch = Batch::default();
        for row in &rows {
            match self.decode(row, source).map_err(Fail::Input)? {
                Ok(r) if matches!(r.id, RecordId::Int(n) if marked.contains(&n)) => {}
                Err(m) if matches!(m.id, RecordId::Int(n) if marked.contains(&n)) => {}
                Ok(r) if batch.records.len() < max => batch.records.push(r),
                Ok(_) => {}
                Err(m) => batch.malformed.push(m),
            }
        }
        batch.records.reverse();
        batch.malformed.reverse();
        Ok(batch)
    }

    pub(super) async fn next_unscored(
        &mut self,
        source: &str,
        hosts: &[String],
        limit: usize,
    ) -> Res<Batch> {
        let Some(info) = self.sync(source, true).await? else {
            return Ok(Batch::default());
        };
        let host_filter = if hosts.is_empty() {
            String::new()
        } else {
            format!(
                " AND (host IN ({}) OR host IS NULL)",
                placeholders(hosts.len())
            )
        };
        let sql = format!(
            "SELECT logid FROM lad_records WHERE source = ? AND state = ?{host_filter} \
             ORDER BY time_ms, logid LIMIT ?"
        );
        let mut query = q_ids(sql).bind(source).bind(STATE_UNSCORED);
        for h in hosts {
            query = query.bind(h.clone());
        }
        let ids: Vec<i64> = query
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.target)
            .await
            .map_err(Fail::Target)?;
        let mut found = self.fetch(source, &info, &ids).await?;
        let mut batch = Batch::default();
        let mut gone = Vec::new();
        for id in &ids {
            match found.remove(id) {
                Some(Ok(r)) => batch.records.push(r),
                Some(Err(m)) => batch.malformed.push(m),
                None => gone.push(*id),
            }
        }
        if !gone.is_empty() {
            // Deleted from the input: never returned again, so they cannot fill batches.
            q(
                "UPDATE lad_records r JOIN JSON_TABLE(?, '$[*]' COLUMNS (k BIGINT PATH '$')) j \
               ON r.logid = j.k SET r.state = ? WHERE r.source = ? AND r.state = ?"
                    .into(),
            )
            .bind(ids_json(&gone))
            .bind(STATE_GONE)
            .bind(source)
            .bind(STATE_UNSCORED)
            .execute(&self.target)
            .await
            .map_err(Fail::Target)?;
        }
        Ok(batch)
    }

    pub(super) async fn list_sources(&mut self) -> Res<Vec<String>> {
        let mut all: BTreeSet<String> = self.config.sources.iter().cloned().collect();
        let rows = q("SELECT source FROM lad_sources".into())
            .fetch_all(&self.target)
            .await
            .map_err(Fail::Target)?;
        for r in &rows {
            all.insert(r.try_get::<String, _>(0).map_err(Fail::Target)?);
        }
        Ok(all.into_iter().collect())
    }

    pub(super) async fn hosts(&mut self, source: &str) -> Res<Vec<String>> {
        let Some(info) = self.table(source).await? else {
            return Ok(Vec::new());
        };
        let host = quote(&self.config.fields.host);
        let sql = format!(
            "SELECT DISTINCT {host} FROM {} WHERE {host} IS NOT NULL",
            info.table
        );
        let rows = q(sql).fetch_all(&self.input).await.map_err(Fail::Input)?;
        let mut hosts = BTreeSet::new();
        for r in &rows {
            if let Some(Ok(h)) = r
                .try_get::<Option<Vec<u8>>, _>(0)
                .map_err(Fail::Input)?
                .map(String::from_utf8)
            {
                hosts.insert(h);
            }
        }
        Ok(hosts.into_iter().collect())
    }
}

/// Inserts `(key, host, time)` rows into `lad_records` as unscored, leaving existing ones alone.
pub(super) async fn mirror(
    tx: &mut sqlx::Transaction<'_, MySql>,
    source: &str,
    rows: &[(i64, Option<String>, Option<i64>)],
) -> Res<()> {
    for chunk in rows.chunks(SCAN_CHUNK as usize) {
        let mut doc = String::with_capacity(chunk.len() * 40);
        doc.push('[');
        for (i, (id, host, time)) in chunk.iter().enumerate() {
            if i > 0 {
                doc.push(',');
            }
            let _ = write!(doc, "{}", json!([id, host, time]));
        }
        doc.push(']');
        q(
            "INSERT IGNORE INTO lad_records (source, logid, host, time_ms, state) \
           SELECT ?, j.k, j.h, j.t, ? FROM JSON_TABLE(?, '$[*]' COLUMNS \
           (k BIGINT PATH '$[0]', h VARCHAR(255) PATH '$[1]', t BIGINT PATH '$[2]')) j"
                .into(),
        )
        .bind(source)
        .bind(STATE_UNSCORED)
        .bind(doc)
        .execute(&mut **tx)
        .await
        .map_err(Fail::Target)?;
    }
    Ok(())
}
