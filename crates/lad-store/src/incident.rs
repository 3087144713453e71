//! Incident storage shared by the backends of the [`IncidentStore`](crate::IncidentStore) role:
//! the stored shape of an incident ([`StoredIncident`]: the fields a backend filters and sorts
//! on, plus the rest as one JSON document it keeps as is), the link of an anomaly to its
//! incident ([`IncidentLink`]), a listing's filter ([`IncidentQuery`]) and its order, and the SQL
//! of the `sqlite` and `mysql` tables. lad-store knows nothing of how incidents are formed.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::record::RecordId;

/// An incident as stored: what a backend indexes, plus `body`, the rest, kept as is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredIncident {
    /// Its id (stable, chosen by the caller).
    pub id: String,
    /// The source of its lines.
    pub source: String,
    /// Its state as the caller names it (lad writes `open` or `resolved`).
    pub state: String,
    /// Time of its first line, unix ms.
    pub first_seen_ms: i64,
    /// Time of its last line, unix ms.
    pub last_seen_ms: i64,
    /// The hosts it touched.
    pub hosts: Vec<String>,
    /// Everything else (a JSON object).
    pub body: Value,
}

/// The link of one anomaly to the incident it joined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentLink {
    /// The anomaly's source.
    pub source: String,
    /// The anomaly's record.
    pub record_id: RecordId,
    /// The incident.
    pub incident_id: String,
    /// The anomaly's host.
    pub host: String,
    /// The anomaly's time, unix ms.
    pub time_ms: i64,
}

/// Which incidents [`crate::IncidentStore::incidents`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentQuery {
    /// Only this source.
    pub source: Option<String>,
    /// Only this stored state.
    pub state: Option<String>,
    /// Only incidents with `last_seen_ms >= from_ms` ...
    pub from_ms: i64,
    /// ... and `first_seen_ms < to_ms`.
    pub to_ms: i64,
    /// At most this many (the newest).
    pub max: usize,
}

impl Default for IncidentQuery {
    fn default() -> Self {
        IncidentQuery {
            source: None,
            state: None,
            from_ms: i64::MIN,
            to_ms: i64::MAX,
            max: usize::MAX,
        }
    }
}

impl IncidentQuery {
    /// Whether `i` is one this query asks for (apart from `max`).
    pub fn matches(&self, i: &StoredIncident) -> bool {
        self.source.as_ref().is_none_or(|s| *s == i.source)
            && self.state.as_ref().is_none_or(|s| *s == i.state)
            && i.last_seen_ms >= self.from_ms
            && i.first_seen_ms < self.to_ms
    }
}

/// The order of a listing: newest `last_seen_ms` first, then by id.
pub fn listing_order(a: &StoredIncident, b: &StoredIncident) -> Ordering {
    b.last_seen_ms
        .cmp(&a.last_seen_ms)
        .then_with(|| a.id.cmp(&b.id))
}

/// The tables of the SQL backends (`{text}` is the type of a short text column, `{long}` of a
/// document, `{key}` of an indexed text column).
pub(crate) fn schema_sql(text: &str, long: &str, key: &str) -> [String; 4] {
    [
        format!(
            "CREATE TABLE IF NOT EXISTS lad_incidents (id {key} NOT NULL PRIMARY KEY, \
             source {key} NOT NULL, state {key} NOT NULL, first_seen_ms BIGINT NOT NULL, \
             last_seen_ms BIGINT NOT NULL, hosts {long} NOT NULL, body {long} NOT NULL)"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS lad_incident_links (source {key} NOT NULL, \
             record_id {key} NOT NULL, incident_id {key} NOT NULL, host {text} NOT NULL, \
             time_ms BIGINT NOT NULL, PRIMARY KEY (source, record_id))"
        ),
        "CREATE INDEX IF NOT EXISTS lad_incidents_seen ON lad_incidents (last_seen_ms)".into(),
        "CREATE INDEX IF NOT EXISTS lad_incident_links_time ON lad_incident_links (source, time_ms)"
            .into(),
    ]
}

/// Selects incidents: binds source (or NULL) twice, state (or NULL) twice, from, to; newest
/// first.
pub(crate) const SELECT_INCIDENTS: &str =
    "SELECT id, source, state, first_seen_ms, last_seen_ms, hosts, body FROM lad_incidents \
     WHERE (? IS NULL OR source = ?) AND (? IS NULL OR state = ?) AND last_seen_ms >= ? \
     AND first_seen_ms < ? ORDER BY last_seen_ms DESC, id";

/// Selects links of a source in a window: binds source, from, to; oldest first.
pub(crate) const SELECT_LINKS: &str =
    "SELECT source, record_id, incident_id, host, time_ms FROM lad_incident_links \
     WHERE source = ? AND time_ms >= ? AND time_ms < ? ORDER BY time_ms, record_id";

/// The columns of [`SELECT_INCIDENTS`], in order.
pub(crate) type IncidentRow = (String, String, String, i64, i64, String, String);

/// An incident from the columns of [`SELECT_INCIDENTS`]; a column that is not valid JSON is
/// named in the error.
pub(crate) fn from_row(row: IncidentRow) -> Result<StoredIncident, String> {
    let (id, source, state, first_seen_ms, last_seen_ms, hosts, body) = row;
    let hosts: Vec<String> = serde_json::from_str(&hosts)
        .map_err(|e| format!("incident {id}: column hosts is not a JSON list of names: {e}"))?;
    let body: Value = serde_json::from_str(&body)
        .map_err(|e| format!("incident {id}: column body is not JSON: {e}"))?;
    Ok(StoredIncident {
        id,
        source,
        state,
        first_seen_ms,
        last_seen_ms,
        hosts,
        body,
    })
}

/// The `hosts` and `body` columns of an incident.
pub(crate) fn json_columns(i: &StoredIncident) -> (String, String) {
    (
        serde_json::to_string(&i.hosts).unwrap_or_else(|_| "[]".into()),
        serde_json::to_string(&i.body).unwrap_or_else(|_| "{}".into()),
    )
}
