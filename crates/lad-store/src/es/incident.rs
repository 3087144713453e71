//! Incidents in the `es` backend, the [`IncidentStore`] role: one index of lad's own
//! (`ES_INCIDENT_INDEX`, default `lad-incidents`, created on first use and mapped with
//! `dynamic: false`) holds two kinds of documents.
//!
//! - An incident (`kind: incident`) has `_id` `incident-<id>` and is replaced whole by an
//!   `index` action on every write; its indexed fields are those of [`StoredIncident`] a listing
//!   filters and sorts on, and `body` is the rest as one JSON text, kept in `_source` but not
//!   mapped, so it comes back byte for byte (numbers past 2^53 included).
//! - A link (`kind: link`) has an `_id` derived from its source and record id and is written
//!   with `create`: a record already linked keeps its first link, and the 409 of a second one
//!   means "linked already", not an error. It also keeps the index of its record, so that the
//!   links of a source are those of the records that live in its indices, whichever source name
//!   wrote them (as [`StateStore::anomalies`](crate::StateStore::anomalies) reads a source).
//!
//! Links are written before incidents (no transaction; see the role's docs). Every `_bulk`
//! asks for `refresh=true`, so a read right after a write sees it; listings page with
//! `search_after` inside a point in time ([`EsStore::scan`]), never with `from`.

use super::*;
use crate::incident::{from_row, json_columns, IncidentLink, IncidentQuery, StoredIncident};
use crate::roles::IncidentStore;

/// `_id` of an incident whose id fits (`_id`s are at most 512 bytes); a longer id is hashed
/// behind [`LONG_INCIDENT_PREFIX`], which no plain one starts with.
const INCIDENT_PREFIX: &str = "incident-";
const LONG_INCIDENT_PREFIX: &str = "incident~";
const LINK_PREFIX: &str = "link-";
const MAX_DOC_ID_BYTES: usize = 512;
/// The fields of an incident's document.
const INCIDENT_FIELDS: [&str; 8] = [
    "kind",
    "incident_id",
    "source",
    "state",
    "first_seen_ms",
    "last_seen_ms",
    "hosts",
    "body",
];
const FNV_OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
const FNV_PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;

impl EsStore {
    /// Creates the incident index when missing (once per process).
    fn ensure_incident_index(&mut self) -> Result<(), StoreError> {
        let index = self.config.incident_index.clone();
        let keyword = json!({ "type": "keyword" });
        let long = json!({ "type": "long" });
        self.ensure_index(
            "create lad's incident index",
            &index,
            json!({ "dynamic": false, "properties": {
                "kind": keyword, "incident_id": keyword, "source": keyword, "state": keyword,
                "first_seen_ms": long, "last_seen_ms": long, "hosts": keyword,
                "record_id": keyword, "index": keyword, "host": keyword, "time_ms": long,
            } }),
        )
    }

    /// An incident from its document; a `body` that is not JSON is an error naming it.
    fn incident_of(
        &self,
        operation: &'static str,
        hit: &Hit,
    ) -> Result<StoredIncident, StoreError> {
        let empty = Map::new();
        let d = hit.source.as_ref().unwrap_or(&empty);
        let text = |k: &str| {
            d.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let number = |k: &str| d.get(k).and_then(Value::as_i64).unwrap_or(0);
        let row = (
            text("incident_id"),
            text("source"),
            text("state"),
            number("first_seen_ms"),
            number("last_seen_ms"),
            d.get("hosts")
                .map_or_else(|| "[]".to_owned(), ToString::to_string),
            d.get("body")
                .and_then(Value::as_str)
                .unwrap_or("{}")
                .to_owned(),
        );
        from_row(row).map_err(|reason| {
            self.driver_error(
                operation,
                EsError::Reply {
                    method: "POST",
                    path: format!("/{}/_search", self.config.incident_index),
                    reason,
                },
            )
        })
    }
}

impl IncidentStore for EsStore {
    /// See [`crate::Store::write_incidents`]: links created first (a 409 is a record linked
    /// already), then the incidents replaced whole, each a `_bulk` with `refresh=true`.
    fn write_incidents(
        &mut self,
        incidents: &[StoredIncident],
        links: &[IncidentLink],
    ) -> Result<(), StoreError> {
        if incidents.is_empty() && links.is_empty() {
            return Ok(());
        }
        self.ensure_incident_index()?;
        let index = self.config.incident_index.clone();
        if !links.is_empty() {
            let operation = "write incident links";
            let items = links
                .iter()
                .map(|l| BulkItem {
                    action: json!({ "create": { "_index": &index, "_id": link_doc_id(l) } }),
                    doc: Some(json!({
                        "kind": "link",
                        "source": l.source,
                        "record_id": l.record_id.to_string(),
                        // Ids of other backends (or of tests) name no index.
                        "index": split_id(&l.record_id, operation).ok().map(|(i, _)| i),
                        "incident_id": l.incident_id,
                        "host": l.host,
                        "time_ms": l.time_ms,
                    })),
                })
                .collect();
            let results = self.bulk(operation, items)?;
            // 409: the record is linked already; its first link stands.
            self.bulk_failures(operation, &results, &[409])?;
        }
        if !incidents.is_empty() {
            let operation = "write incidents";
            let items = incidents
                .iter()
                .map(|i| {
                    let (_, body) = json_columns(i);
                    BulkItem {
                        action: json!({ "index": { "_index": &index, "_id": incident_doc_id(&i.id) } }),
                        doc: Some(json!({
                            "kind": "incident",
                            "incident_id": i.id,
                            "source": i.source,
                            "state": i.state,
                            "first_seen_ms": i.first_seen_ms,
                            "last_seen_ms": i.last_seen_ms,
                            "hosts": i.hosts,
                            "body": body,
                        })),
                    }
                })
                .collect();
            let results = self.bulk(operation, items)?;
            self.bulk_failures(operation, &results, &[])?;
        }
        Ok(())
    }

    /// See [`crate::Store::incidents`]: newest `last_seen_ms` first, then by id.
    fn incidents(&mut self, query: &IncidentQuery) -> Result<Vec<StoredIncident>, StoreError> {
        let operation = "read incidents";
        if query.max == 0 {
            return Ok(Vec::new());
        }
        self.ensure_incident_index()?;
        let mut filter = vec![
            json!({ "term": { "kind": "incident" } }),
            json!({ "range": { "last_seen_ms": { "gte": query.from_ms } } }),
            json!({ "range": { "first_seen_ms": { "lt": query.to_ms } } }),
        ];
        if let Some(s) = &query.source {
            filter.push(json!({ "term": { "source": s } }));
        }
        if let Some(s) = &query.state {
            filter.push(json!({ "term": { "state": s } }));
        }
        let hits = self.scan(
            operation,
            &self.config.incident_index,
            json!({ "bool": { "filter": filter } }),
            json!([{ "last_seen_ms": "desc" }, { "incident_id": "asc" }]),
            query.max,
        )?;
        hits.iter()
            .map(|h| self.incident_of(operation, h))
            .collect()
    }

    /// See [`crate::Store::incident`]: a real-time `_mget` of its document.
    fn incident(&mut self, id: &str) -> Result<Option<StoredIncident>, StoreError> {
        let operation = "read an incident";
        self.ensure_incident_index()?;
        let key = (self.config.incident_index.clone(), incident_doc_id(id));
        let hits = self.mget(operation, std::slice::from_ref(&key), &INCIDENT_FIELDS)?;
        hits.iter()
            .find(|h| h.found == Some(true))
            .map(|h| self.incident_of(operation, h))
            .transpose()
    }

    /// See [`crate::Store::incident_links`]: the links written for `source`, and those of
    /// records in the indices `source` names (a link written for `syslog-*` is found from
    /// `syslog-2024.01.05`, as that index's anomalies are), oldest first.
    fn incident_links(
        &mut self,
        source: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<IncidentLink>, StoreError> {
        let operation = "read incident links";
        self.ensure_incident_index()?;
        let indices = self.indices(operation, &self.expr(source))?;
        let mut which = vec![json!({ "term": { "source": source } })];
        if !indices.is_empty() {
            which.push(json!({ "terms": { "index": indices } }));
        }
        let hits = self.scan(
            operation,
            &self.config.incident_index,
            json!({ "bool": { "filter": [
                { "term": { "kind": "link" } },
                { "range": { "time_ms": { "gte": from_ms, "lt": to_ms } } },
                { "bool": { "should": which, "minimum_should_match": 1 } },
            ] } }),
            // (source, record) is a link's key: the last sort key makes the order total.
            json!([{ "time_ms": "asc" }, { "record_id": "asc" }, { "source": "asc" }]),
            usize::MAX,
        )?;
        Ok(hits
            .iter()
            .filter_map(|h| {
                let d = h.source.as_ref()?;
                let text = |k: &str| super::codec::text_field(d, k);
                Some(IncidentLink {
                    source: text("source"),
                    record_id: RecordId::parse(d.get("record_id")?.as_str()?),
                    incident_id: text("incident_id"),
                    host: text("host"),
                    time_ms: d.get("time_ms").and_then(Value::as_i64).unwrap_or(0),
                })
            })
            .collect())
    }
}

/// The `_id` of an incident's document.
fn incident_doc_id(id: &str) -> String {
    if INCIDENT_PREFIX.len() + id.len() <= MAX_DOC_ID_BYTES {
        format!("{INCIDENT_PREFIX}{id}")
    } else {
        format!("{LONG_INCIDENT_PREFIX}{:032x}", fnv1a_128(&[id]))
    }
}

/// The `_id` of a link: one per (source, record), of bounded length whatever the id's.
fn link_doc_id(link: &IncidentLink) -> String {
    let record = link.record_id.to_string();
    format!("{LINK_PREFIX}{:032x}", fnv1a_128(&[&link.source, &record]))
}

/// 128-bit FNV-1a of the parts, each preceded by its length so that no two lists of parts
/// hash the same bytes. (Not a defence against chosen collisions: a record id made to collide
/// with another's only finds that record's link taken.)
fn fnv1a_128(parts: &[&str]) -> u128 {
    parts.iter().fold(FNV_OFFSET, |hash, part| {
        let len = part.len() as u64;
        fnv1a_128_more(fnv1a_128_more(hash, &len.to_le_bytes()), part.as_bytes())
    })
}

fn fnv1a_128_more(hash: u128, bytes: &[u8]) -> u128 {
    bytes
        .iter()
        .fold(hash, |h, b| (h ^ u128::from(*b)).wrapping_mul(FNV_PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(source: &str, record: &str) -> IncidentLink {
        IncidentLink {
            source: source.into(),
            record_id: RecordId::Text(record.into()),
            incident_id: "i".into(),
            host: "h".into(),
            time_ms: 0,
        }
    }

    #[test]
    fn fnv1a_128_matches_the_reference_and_separates_parts() {
        // The published FNV-1a 128 test vectors of "" and "a".
        assert_eq!(
            format!("{:032x}", fnv1a_128_more(FNV_OFFSET, b"")),
            "6c62272e07bb014262b821756295c58d"
        );
        assert_eq!(
            format!("{:032x}", fnv1a_128_more(FNV_OFFSET, b"a")),
            "d228cb696f1a8caf78912b704e4a8964"
        );
        assert_ne!(fnv1a_128(&["ab", "c"]), fnv1a_128(&["a", "bc"]));
        assert_ne!(fnv1a_128(&["a", ""]), fnv1a_128(&["a"]));
    }

    #[test]
    fn document_ids_fit_and_differ() {
        assert_eq!(incident_doc_id("0123abcd"), "incident-0123abcd");
        let long = "x".repeat(600);
        let hashed = incident_doc_id(&long);
        assert!(hashed.starts_with(LONG_INCIDENT_PREFIX) && hashed.len() <= MAX_DOC_ID_BYTES);
        assert_ne!(hashed, incident_doc_id(&"x".repeat(601)));
        let a = link_doc_id(&link("syslog-*", &format!("syslog-1/{}", "y".repeat(512))));
        assert!(a.len() <= MAX_DOC_ID_BYTES, "{a}");
        assert_ne!(a, link_doc_id(&link("syslog-", "syslog-1/y")));
        assert_eq!(
            link_doc_id(&link("s", "i/1")),
            link_doc_id(&link("s", "i/1")),
            "one document per (source, record)"
        );
        assert_ne!(
            link_doc_id(&link("s", "i/1")),
            link_doc_id(&link("t", "i/1"))
        );
    }
}
