//! Reads of the `sqlite` backend: the [`RecordSource`] and [`TrainingReader`] roles, and the
//! decoding of a row into a [`Record`] (or a [`Malformed`] report: SQLite does not enforce column
//! types, so every read checks types and UTF-8). Writes nothing but malformed marks.

use super::*;
use crate::record::{record_or_malformed, utf8_column, Decoded};
use crate::roles::{RecordSource, TrainingReader};

impl RecordSource for SqliteStore {
    /// See [`crate::Store::next_unscored`].
    fn next_unscored(
        &mut self,
        source: &str,
        hosts: &[String],
        limit_n: usize,
    ) -> Result<Batch, StoreError> {
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE source = ?1 AND is_anomaly IS NULL AND malformed IS NULL \
             AND (?2 = '[]' OR typeof(host) <> 'text' OR host IN (SELECT value FROM json_each(?2))) \
             ORDER BY time_ms, id LIMIT ?3"
        );
        let hosts = serde_json::to_string(hosts).unwrap_or_else(|_| "[]".into());
        self.read_batch(&sql, params![source, hosts, limit(limit_n)], source)
    }

    /// See [`crate::Store::mark_malformed`].
    fn mark_malformed(
        &mut self,
        source: &str,
        id: &RecordId,
        reason: &str,
    ) -> Result<(), StoreError> {
        let id = int_id(id, "mark malformed")?;
        self.conn
            .execute(
                "UPDATE records SET malformed = ?3 WHERE id = ?1 AND source = ?2",
                params![id, source, reason],
            )
            .map_err(self.fail("mark a record malformed"))?;
        Ok(())
    }

    /// See [`crate::Store::list_sources`].
    fn list_sources(&mut self) -> Result<Vec<String>, StoreError> {
        self.strings(
            "SELECT DISTINCT source FROM records ORDER BY source",
            params![],
            "list sources",
        )
    }

    /// See [`crate::Store::hosts`].
    fn hosts(&mut self, source: &str) -> Result<Vec<String>, StoreError> {
        self.strings(
            "SELECT DISTINCT host FROM records WHERE source = ?1 AND typeof(host) = 'text' ORDER BY host",
            params![source],
            "list hosts",
        )
    }

    /// See [`crate::Store::unscored_count`].
    fn unscored_count(&mut self, source: &str) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM records WHERE source = ?1 AND is_anomaly IS NULL AND malformed IS NULL",
            )
            .and_then(|mut s| s.query_row(params![source], |r| r.get(0)))
            .map_err(self.fail("count unscored records"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// See [`crate::Store::oldest_unscored_time`].
    fn oldest_unscored_time(&mut self, source: &str) -> Result<Option<i64>, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT min(time_ms) FROM records WHERE source = ?1 AND is_anomaly IS NULL AND malformed IS NULL \
                 AND typeof(time_ms) = 'integer'",
            )
            .and_then(|mut s| s.query_row(params![source], |r| r.get(0)))
            .map_err(self.fail("find the oldest unscored record"))
    }
}

impl TrainingReader for SqliteStore {
    /// See [`crate::Store::training_window`].
    fn training_window(
        &mut self,
        source: &str,
        host: &str,
        from_ms: i64,
        to_ms: i64,
        max: usize,
    ) -> Result<Batch, StoreError> {
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE source = ?1 AND host = ?2 AND time_ms >= ?3 \
             AND time_ms < ?4 AND malformed IS NULL ORDER BY time_ms DESC, id DESC LIMIT ?5"
        );
        let mut batch = self.read_batch(
            &sql,
            params![source, host, from_ms, to_ms, limit(max)],
            source,
        )?;
        batch.records.reverse();
        batch.malformed.reverse();
        Ok(batch)
    }
}

impl SqliteStore {
    pub(super) fn read_batch(
        &mut self,
        sql: &str,
        params: impl rusqlite::Params,
        source: &str,
    ) -> Result<Batch, StoreError> {
        let fail = self.fail("read records");
        let mut stmt = self.conn.prepare_cached(sql).map_err(&fail)?;
        let mut rows = stmt.query(params).map_err(&fail)?;
        let mut batch = Batch::default();
        while let Some(row) = rows.next().map_err(&fail)? {
            match record_from_row(row, source).map_err(&fail)? {
                Ok(r) => batch.records.push(r),
                Err(m) => batch.malformed.push(m),
            }
        }
        Ok(batch)
    }

    pub(super) fn strings(
        &mut self,
        sql: &str,
        params: impl rusqlite::Params,
        operation: &'static str,
    ) -> Result<Vec<String>, StoreError> {
        let fail = self.fail(operation);
        let mut stmt = self.conn.prepare_cached(sql).map_err(&fail)?;
        let out = stmt
            .query_map(params, |r| r.get::<_, String>(0))
            .map_err(&fail)?
            .collect::<Result<_, _>>()
            .map_err(&fail)?;
        Ok(out)
    }
}

fn type_name(v: ValueRef<'_>) -> &'static str {
    match v {
        ValueRef::Null => "NULL",
        ValueRef::Integer(_) => "integer",
        ValueRef::Real(_) => "real",
        ValueRef::Text(_) => "text",
        ValueRef::Blob(_) => "blob",
    }
}

fn text(v: ValueRef<'_>, column: &str) -> Result<String, String> {
    match v {
        ValueRef::Text(bytes) => utf8_column(bytes.to_vec(), column),
        other => Err(format!(
            "column {column} has type {}, expected text",
            type_name(other)
        )),
    }
}

/// Reads the [`RECORD_COLUMNS`] of a row: `Err` of the driver for I/O, `Ok(Err)` for a bad row.
pub(super) fn record_from_row(
    row: &Row<'_>,
    source: &str,
) -> rusqlite::Result<Result<Record, Malformed>> {
    let id = RecordId::Int(row.get(0)?);
    let host = text(row.get_ref(1)?, "host");
    let fields = (|| {
        let host = host.clone()?;
        let time = match row.get_ref(2).map_err(|e| e.to_string())? {
            ValueRef::Integer(t) => t,
            other => {
                return Err(format!(
                    "column time_ms has type {}, expected integer",
                    type_name(other)
                ))
            }
        };
        let message = text(row.get_ref(3).map_err(|e| e.to_string())?, "message")?;
        check_message(&message)?;
        let extra = match row.get_ref(4).map_err(|e| e.to_string())? {
            ValueRef::Null => Map::new(),
            other => {
                let json = text(other, "extra")?;
                match serde_json::from_str::<Value>(&json) {
                    Ok(Value::Object(map)) => map,
                    _ => return Err("column extra is not a JSON object".into()),
                }
            }
        };
        Ok(Decoded {
            host,
            time,
            message,
            extra,
        })
    })();
    Ok(record_or_malformed(id, source, host.ok(), fields))
}
