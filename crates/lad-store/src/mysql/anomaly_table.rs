//! Anomaly tables of the `mysql` backend (`MYSQL_TARGET_TABLE`): their layout, and what lad does
//! with the tables it finds. It owns [`AnomalyLayout`] and the inspection that creates, migrates
//! or extends a table; it never drops or rewrites a column that holds data.
//!
//! lad creates the layout of SPEC section 2: the message, time and host columns named by
//! `MESSAGE_INDEX`, `DATETIME_INDEX` and `HOSTNAME_INDEX` (the columns the old system wrote, so an
//! old `aggregator.yaml` reads the table unchanged), `anomaly_score`, `logid` (the input row's key,
//! the primary key) and `aggr_msg_id`. A table that exists in another layout is met as follows:
//!
//! - **lad's earlier layout** (exactly `logid`, `message`, `time`, `host`, `anomaly_score`,
//!   `aggr_msg_id`): migrated when the store opens, by renaming `message`, `time` and `host` to
//!   the `*_INDEX` names; rows and indexes are kept.
//! - **a table the old system created** (the `*_INDEX` columns and `anomaly_score`, any others):
//!   extended with nullable columns only, so rows already there and the old writer's
//!   four-column `INSERT` keep working: `logid` with a unique key when the table has none; when its
//!   `logid` is its own auto-increment counter (the layout the old aggregator read), `lad_logid`
//!   instead, since the input's keys would collide with that counter; `aggr_msg_id` when missing.
//!
//! Every change is reported as a notice for the operator. When `MYSQL_INPUT_TABLES` names an
//! anomaly table instead of a source, aggregation reads that table directly, as the old aggregator
//! did: its rows are identified by the table's integer primary key (or, lacking one, by `logid`;
//! rows where that is NULL cannot be linked and are left out). A table lad only reads this way
//! gets no key column; only `aggr_msg_id` is added when it lacks one.

use super::*;

/// Where an anomaly table lives and which of its columns identify rows, once it has the layout
/// lad writes (created, migrated or extended).
#[derive(Debug, Clone)]
pub(super) struct AnomalyLayout {
    /// The table name (a validated identifier).
    pub table: String,
    /// The column holding the input row's key: `logid`, or `lad_logid` (see the module docs).
    pub key: String,
    /// The column that identifies a row when the table is read as aggregation input: its integer
    /// primary key, else `key` when the table has it; `None` when rows cannot be told apart.
    pub row_id: Option<String>,
    /// Whether the table is in the target database (else the input database).
    pub on_target: bool,
    /// Whether `key` exists with a unique key, so lad can write into the table.
    pub key_ready: bool,
}

impl AnomalyLayout {
    /// The row id column, or why rows of this table cannot be linked to aggregates.
    pub fn row_id(&self) -> Result<&str, StoreError> {
        self.row_id.as_deref().ok_or_else(|| StoreError::Corrupt {
            backend: BACKEND,
            location: format!("table {}", self.table),
            reason: "an anomaly table read for aggregation needs an integer primary key or a \
                     logid column to link its rows to aggregates; it has neither"
                .into(),
        })
    }
}

/// What an inspection found.
pub(super) enum Found {
    /// No such table (and none was to be created).
    Missing,
    /// The table exists and is not an anomaly table (no `anomaly_score`, not lad's earlier
    /// layout): it is a source of records.
    NotAnomalies,
    /// An anomaly table in the layout lad writes.
    Anomalies(AnomalyLayout),
}

/// One column as `information_schema.COLUMNS` describes it.
struct Column {
    name: String,
    data_type: String,
    key: String,
    auto_increment: bool,
}

/// The columns of lad's earlier anomaly layout, in its order.
const EARLIER_LAYOUT: [&str; 6] = [
    "logid",
    "message",
    "time",
    "host",
    "anomaly_score",
    "aggr_msg_id",
];

async fn columns(pool: &MySqlPool, table: &str) -> Result<Vec<Column>, sqlx::Error> {
    let rows = q(
        "SELECT CAST(COLUMN_NAME AS CHAR), CAST(DATA_TYPE AS CHAR), CAST(COLUMN_KEY AS CHAR), \
         CAST(EXTRA AS CHAR) FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION"
            .into(),
    )
    .bind(table)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Column {
                name: r.try_get(0)?,
                data_type: r.try_get::<String, _>(1)?.to_ascii_lowercase(),
                key: r.try_get(2)?,
                auto_increment: r
                    .try_get::<String, _>(3)?
                    .to_ascii_lowercase()
                    .contains("auto_increment"),
            })
        })
        .collect()
}

impl Ctx {
    /// The anomaly table of a source (`MYSQL_TARGET_TABLE`, default `<source>_anomalies`) in the
    /// layout lad writes, created when missing.
    pub(super) async fn anomaly_layout(&mut self, source: &str) -> Res<AnomalyLayout> {
        let table = self.anomaly_table(source)?;
        match self.inspect_anomaly_table(&table, true, true, true).await? {
            Found::Anomalies(layout) => Ok(layout),
            Found::Missing | Found::NotAnomalies => Err(Fail::Store(self.not_anomalies(
                &table,
                true,
                &format!("MYSQL_TARGET_TABLE of source {source:?}"),
            ))),
        }
    }

    /// Whether `table` is one of the anomaly tables of the configured sources.
    pub(super) fn is_configured_anomaly_table(&self, table: &str) -> bool {
        self.config
            .sources
            .iter()
            .any(|s| self.anomaly_table(s).is_ok_and(|t| t == table))
    }

    /// How an aggregation input (`MYSQL_INPUT_TABLES`) is read: `None` for a source lad scores
    /// (its anomalies come from lad's bookkeeping), the layout for an anomaly table.
    pub(super) async fn aggregation_input(&mut self, table: &str) -> Res<Option<AnomalyLayout>> {
        if self.config.sources.iter().any(|s| s == table) {
            return Ok(None);
        }
        let on_target =
            self.is_configured_anomaly_table(table) || self.config.target == self.config.input;
        match self
            .inspect_anomaly_table(table, on_target, false, false)
            .await?
        {
            Found::Anomalies(layout) => Ok(Some(layout)),
            Found::Missing | Found::NotAnomalies => Ok(None),
        }
    }

    /// The anomaly tables lad is configured to use, brought into its layout when they exist:
    /// what the store does when it opens, so migrations are logged at start.
    pub(super) async fn prepare_anomaly_tables(&mut self) -> Res<()> {
        let sources = self.config.sources.clone();
        for source in &sources {
            let table = self.anomaly_table(source)?;
            if let Found::NotAnomalies = self
                .inspect_anomaly_table(&table, true, false, true)
                .await?
            {
                return Err(Fail::Store(self.not_anomalies(
                    &table,
                    true,
                    &format!("MYSQL_TARGET_TABLE of source {source:?}"),
                )));
            }
        }
        let inputs = self.config.aggregation_inputs.clone();
        for table in &inputs {
            self.aggregation_input(table).await?;
        }
        Ok(())
    }

    fn not_anomalies(&self, table: &str, on_target: bool, key: &str) -> StoreError {
        let endpoint = if on_target {
            &self.config.target
        } else {
            &self.config.input
        };
        StoreError::Corrupt {
            backend: BACKEND,
            location: format!("table {table} of {}", endpoint.address()),
            reason: format!(
                "{key} names this table, which has no anomaly_score column: expected an anomaly \
                 table (the columns {}, {}, {} and anomaly_score)",
                self.config.fields.message, self.config.fields.time, self.config.fields.host
            ),
        }
    }

    /// Looks at `table` (in the target or input database) and brings an anomaly table into the
    /// layout lad writes (see the module docs); creates it when missing and `create`, and makes
    /// sure lad can write into it when `writes` (a table only read for aggregation gets no key
    /// column, only `aggr_msg_id` when it lacks one). Another
    /// process (or another store of this one) may change the table at the same moment: a
    /// statement the server refuses is followed by one more look, which finds their work done.
    pub(super) async fn inspect_anomaly_table(
        &mut self,
        table: &str,
        on_target: bool,
        create: bool,
        writes: bool,
    ) -> Res<Found> {
        match self.inspect_once(table, on_target, create, writes).await {
            Err(Fail::Input(sqlx::Error::Database(_)) | Fail::Target(sqlx::Error::Database(_))) => {
                self.inspect_once(table, on_target, create, writes).await
            }
            other => other,
        }
    }

    async fn inspect_once(
        &mut self,
        table: &str,
        on_target: bool,
        create: bool,
        writes: bool,
    ) -> Res<Found> {
        if let Some(l) = self
            .anomaly_layouts
            .get(&(on_target, table.to_owned()))
            .filter(|l| l.key_ready || !writes)
            .cloned()
        {
            return Ok(Found::Anomalies(l));
        }
        let (pool, wrap): (MySqlPool, fn(sqlx::Error) -> Fail) = if on_target {
            (self.target.clone(), Fail::Target)
        } else {
            (self.input.clone(), Fail::Input)
        };
        let f = self.config.fields.clone();
        let endpoint = if on_target {
            self.config.target.address()
        } else {
            self.config.input.address()
        };
        let location = format!("table {table} of {endpoint}");
        let corrupt = |reason: String| {
            Fail::Store(StoreError::Corrupt {
                backend: BACKEND,
                location: location.clone(),
                reason,
            })
        };
        let mut cols = columns(&pool, table).await.map_err(wrap)?;
        if cols.is_empty() {
            if !create {
                return Ok(Found::Missing);
            }
            let ddl = format!(
                "CREATE TABLE IF NOT EXISTS {} (
                    logid BIGINT NOT NULL PRIMARY KEY,
                    {msg} LONGTEXT NOT NULL,
                    {time} DATETIME(3) NOT NULL,
                    {host} VARCHAR(255) NOT NULL,
                    anomaly_score DOUBLE NOT NULL,
                    aggr_msg_id BIGINT NULL,
                    KEY lad_time ({time}),
                    KEY lad_aggr (aggr_msg_id)
                ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
                quote(table),
                msg = quote(&f.message),
                time = quote(&f.time),
                host = quote(&f.host),
            );
            pool.execute(AssertSqlSafe(ddl)).await.map_err(wrap)?;
            cols = columns(&pool, table).await.map_err(wrap)?;
        }
        let has = |cols: &[Column], name: &str| cols.iter().any(|c| c.name == name);
        let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
        let wanted = [f.message.as_str(), f.time.as_str(), f.host.as_str()];
        if names == EARLIER_LAYOUT && wanted != ["message", "time", "host"] {
            let renames: Vec<(&str, &str)> = ["message", "time", "host"]
                .into_iter()
                .zip(wanted)
                .filter(|(from, to)| from != to)
                .collect();
            // Renaming onto a column that holds other data would lose it: refuse instead.
            for (from, to) in &renames {
                if has(&cols, to) {
                    return Err(corrupt(format!(
                        "lad's earlier anomaly layout cannot be migrated: column {from} would be \
                         renamed to {to}, which is another column of this table"
                    )));
                }
            }
            let sql = format!(
                "ALTER TABLE {} {}",
                quote(table),
                renames
                    .iter()
                    .map(|(from, to)| format!("RENAME COLUMN {} TO {}", quote(from), quote(to)))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            pool.execute(AssertSqlSafe(sql)).await.map_err(wrap)?;
            self.notices.push(format!(
                "migrated anomaly table {table} of {endpoint} from lad's earlier layout: renamed \
                 column{} {} (the names MESSAGE_INDEX, DATETIME_INDEX and HOSTNAME_INDEX give, so \
                 an old aggregator.yaml reads it); rows kept",
                if renames.len() > 1 { "s" } else { "" },
                renames
                    .iter()
                    .map(|(from, to)| format!("{from} -> {to}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            cols = columns(&pool, table).await.map_err(wrap)?;
        }
        if !has(&cols, "anomaly_score") {
            return Ok(Found::NotAnomalies);
        }
        let missing: Vec<String> = [
            (&f.message, "MESSAGE_INDEX"),
            (&f.time, "DATETIME_INDEX"),
            (&f.host, "HOSTNAME_INDEX"),
        ]
        .into_iter()
        .filter(|(name, _)| !has(&cols, name))
        .map(|(name, key)| format!("{name:?} ({key})"))
        .collect();
        if !missing.is_empty() {
            return Err(corrupt(format!(
                "expected the anomaly table's columns named by MESSAGE_INDEX, DATETIME_INDEX and \
                 HOSTNAME_INDEX, found no column {}",
                missing.join(", ")
            )));
        }
        if let Some(c) = cols.iter().find(|c| c.name == f.time) {
            if !matches!(c.data_type.as_str(), "datetime" | "timestamp" | "date") {
                return Err(corrupt(format!(
                    "column {:?} (DATETIME_INDEX) has type {}, expected DATETIME, TIMESTAMP or DATE",
                    c.name, c.data_type
                )));
            }
        }
        // Extend a table the old system made: nullable columns and a unique key, nothing else.
        let mut changes: Vec<String> = Vec::new();
        let mut said: Vec<String> = Vec::new();
        let logid = cols.iter().find(|c| c.name == "logid");
        let key = match logid {
            Some(c) if c.auto_increment => "lad_logid",
            _ => "logid",
        };
        let existing = cols.iter().find(|c| c.name == key);
        let key_ready = existing.is_some_and(|c| c.key == "PRI" || c.key == "UNI");
        match existing {
            _ if !writes => {}
            None => {
                changes.push(format!("ADD COLUMN {} BIGINT NULL", quote(key)));
                changes.push(format!("ADD UNIQUE KEY lad_key ({})", quote(key)));
                said.push(if key == "logid" {
                    "added column logid (the input row's key, with a unique key; NULL on the rows \
                     already there)"
                        .to_owned()
                } else {
                    "added column lad_logid (the input row's key, with a unique key; this table's \
                     logid is its own auto-increment counter; NULL on the rows already there)"
                        .to_owned()
                });
            }
            Some(c) if c.key != "PRI" && c.key != "UNI" => {
                changes.push(format!("ADD UNIQUE KEY lad_key ({})", quote(key)));
                said.push(format!("added a unique key on {key}"));
            }
            Some(_) => {}
        }
        if !has(&cols, "aggr_msg_id") {
            changes.push("ADD COLUMN aggr_msg_id BIGINT NULL".into());
            said.push("added column aggr_msg_id (NULL until aggregated)".into());
        }
        if !changes.is_empty() {
            let sql = format!("ALTER TABLE {} {}", quote(table), changes.join(", "));
            pool.execute(AssertSqlSafe(sql)).await.map_err(wrap)?;
            self.notices.push(format!(
                "extended anomaly table {table} of {endpoint} (made by the old system): {}; \
                 existing rows and columns unchanged",
                said.join(", ")
            ));
        }
        let pk: Vec<&Column> = cols.iter().filter(|c| c.key == "PRI").collect();
        let row_id = match pk.as_slice() {
            [one] if one.data_type.ends_with("int") => Some(one.name.clone()),
            _ if writes || existing.is_some() => Some(key.to_owned()),
            _ => None,
        };
        let layout = AnomalyLayout {
            table: table.to_owned(),
            key: key.to_owned(),
            row_id,
            on_target,
            key_ready: writes || key_ready,
        };
        self.anomaly_layouts
            .insert((on_target, table.to_owned()), layout.clone());
        Ok(Found::Anomalies(layout))
    }

    /// The anomalies of `[from_ms, to_ms)` read from an anomaly table itself (see the module
    /// docs), the newest `max`, in (time, id) order; rows that cannot be read are left out.
    pub(super) async fn anomalies_of_table(
        &mut self,
        layout: &AnomalyLayout,
        from_ms: i64,
        to_ms: i64,
        max: usize,
    ) -> Res<Vec<Anomaly>> {
        let f = &self.config.fields;
        let sql = format!(
            "SELECT CAST(t.{id} AS SIGNED), t.{host}, {time_ms}, t.{msg}, t.anomaly_score + 0e0, \
             CAST(t.aggr_msg_id AS SIGNED) FROM {table} t \
             WHERE t.{id} IS NOT NULL AND t.{time} >= {FROM_MICROS} AND t.{time} < {FROM_MICROS} \
             ORDER BY t.{time} DESC, t.{id} DESC LIMIT ?",
            id = quote(layout.row_id().map_err(Fail::Store)?),
            host = quote(&f.host),
            time_ms = time_ms_sql(&format!("t.{}", quote(&f.time))),
            msg = quote(&f.message),
            time = quote(&f.time),
            table = quote(&layout.table),
        );
        let (pool, wrap): (&MySqlPool, fn(sqlx::Error) -> Fail) = if layout.on_target {
            (&self.target, Fail::Target)
        } else {
            (&self.input, Fail::Input)
        };
        let rows = q(sql)
            .bind(micros(from_ms))
            .bind(micros(to_ms))
            .bind(i64::try_from(max).unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await
            .map_err(wrap)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows.iter().rev() {
            let id: i64 = r.try_get(0).map_err(wrap)?;
            let host = text(r.try_get(1).map_err(wrap)?, &f.host);
            let time: Option<i64> = r.try_get(2).map_err(wrap)?;
            let message = text(r.try_get(3).map_err(wrap)?, &f.message);
            let score: Option<f64> = r.try_get(4).map_err(wrap)?;
            let aggregate: Option<i64> = r.try_get(5).map_err(wrap)?;
            let (Ok(host), Some(time), Ok(message)) = (host, time, message) else {
                continue;
            };
            out.push(Anomaly {
                record: Record {
                    id: RecordId::Int(id),
                    source: layout.table.clone(),
                    host,
                    time,
                    message,
                    extra: Map::new(),
                },
                score: score.unwrap_or(f64::NAN),
                aggregate_id: aggregate.map(RecordId::Int),
            });
        }
        Ok(out)
    }
}
