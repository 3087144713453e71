//! The JSON shapes of records and aggregates, in one place so that every writer of JSON agrees:
//! the `local` output file, the `stdout` sink, `lad export` and the HTTP API (and later the
//! Kafka and Elasticsearch sinks).
//!
//! Two shapes of a record exist, and both are kept byte for byte as they were:
//! - the **document** shape ([`record_document`]): the user's document as read, under the user's
//!   field names ([`FieldNames`]), with `_id` and `source`; a verdict adds `is_anomaly` (0/1) and
//!   `anomaly_score` ([`with_verdict`]). The `local` output and the `stdout` sink write it.
//! - the **export** shape ([`record_json`], [`aggregate_json`]): lad's fixed field names first,
//!   then the document's other fields; `lad export` and the HTTP API write it.
//!
//! Pure functions of the data: no I/O, no clock.

use serde_json::{json, Map, Value};

use crate::record::{Aggregate, AggregateDraft, ExportRow, FieldNames, Record, RecordId};
use crate::timefmt::format_rfc3339_millis;

/// The document shape of a record: `extra`, then `_id` and `source`, then host, time (RFC 3339)
/// and message under the user's field names.
pub fn record_document(record: &Record, fields: &FieldNames) -> Map<String, Value> {
    let mut map = record.extra.clone();
    map.insert("_id".into(), Value::String(record.id.to_string()));
    map.insert("source".into(), Value::String(record.source.clone()));
    map.insert(fields.host.clone(), Value::String(record.host.clone()));
    map.insert(
        fields.time.clone(),
        Value::String(format_rfc3339_millis(record.time)),
    );
    map.insert(
        fields.message.clone(),
        Value::String(record.message.clone()),
    );
    map
}

/// Adds a verdict to a document: `is_anomaly` as 0 or 1 and `anomaly_score`.
pub fn with_verdict(
    mut document: Map<String, Value>,
    is_anomaly: bool,
    score: f64,
) -> Map<String, Value> {
    document.insert("is_anomaly".into(), json!(i64::from(is_anomaly)));
    document.insert("anomaly_score".into(), json!(score));
    document
}

/// Writes the document shape of a record with its verdict as JSON to `out`: the bytes of
/// `with_verdict(record_document(record, fields), is_anomaly, score)`, without building the
/// document (no copy of the record's fields; the Kafka sink writes one per record).
pub fn write_verdict_document(
    out: &mut Vec<u8>,
    record: &Record,
    fields: &FieldNames,
    is_anomaly: bool,
    score: f64,
) -> serde_json::Result<()> {
    let sorted = !map_keeps_insertion_order();
    write_verdict_fields(out, record, fields, is_anomaly, score, sorted)
}

/// [`write_verdict_document`] with the keys sorted (as a `Map` without `preserve_order` keeps
/// them) or in insertion order.
fn write_verdict_fields(
    out: &mut Vec<u8>,
    record: &Record,
    fields: &FieldNames,
    is_anomaly: bool,
    score: f64,
    sorted: bool,
) -> serde_json::Result<()> {
    // Inserted in the order `record_document` and `with_verdict` insert, so that a later key
    // replaces an earlier one in place as it does there.
    let mut doc: Vec<(&str, DocField<'_>)> = record
        .extra
        .iter()
        .map(|(k, v)| (k.as_str(), DocField::Json(v)))
        .collect();
    let mut insert = |key, value| match doc.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => doc.push((key, value)),
    };
    insert("_id", DocField::Owned(record.id.to_string()));
    insert("source", DocField::Text(&record.source));
    insert(&fields.host, DocField::Text(&record.host));
    insert(
        &fields.time,
        DocField::Owned(format_rfc3339_millis(record.time)),
    );
    insert(&fields.message, DocField::Text(&record.message));
    insert("is_anomaly", DocField::Int(i64::from(is_anomaly)));
    insert("anomaly_score", DocField::Float(score));
    if sorted {
        doc.sort_by(|a, b| a.0.cmp(b.0));
    }
    serde_json::to_writer(out, &Document(doc))
}

/// Whether serde_json's `Map` keeps keys in insertion order (its `preserve_order` feature,
/// which any crate of the build may turn on) rather than sorted.
fn map_keeps_insertion_order() -> bool {
    static KEEPS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *KEEPS.get_or_init(|| {
        let mut m = Map::new();
        m.insert("b".into(), Value::Null);
        m.insert("a".into(), Value::Null);
        m.keys().next().is_some_and(|k| k == "b")
    })
}

/// The fields of [`write_verdict_document`] in the order they are written.
struct Document<'a>(Vec<(&'a str, DocField<'a>)>);

impl serde::Serialize for Document<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

/// A field of [`write_verdict_document`], borrowed where it can be.
enum DocField<'a> {
    Json(&'a Value),
    Text(&'a str),
    Owned(String),
    Int(i64),
    /// Written as `json!(f)` writes it (`null` when not finite).
    Float(f64),
}

impl serde::Serialize for DocField<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            DocField::Json(v) => v.serialize(s),
            DocField::Text(t) => s.serialize_str(t),
            DocField::Owned(t) => s.serialize_str(t),
            DocField::Int(n) => s.serialize_i64(*n),
            DocField::Float(f) if f.is_finite() => s.serialize_f64(*f),
            DocField::Float(_) => s.serialize_unit(),
        }
    }
}

/// The JSON form of an id inside a document: `{"$oid": ..}` for an ObjectId (as mongoexport
/// writes it), a number for an integer key, a string otherwise.
pub fn id_json(id: &RecordId) -> Value {
    match id {
        RecordId::Int(n) => json!(n),
        RecordId::ObjectId(h) => json!({ "$oid": h }),
        RecordId::Text(t) => json!(t),
    }
}

/// The export shape of a record (SPEC section 6), with its other fields after lad's.
pub fn record_json(row: &ExportRow) -> Value {
    let r = &row.record;
    let mut obj = Map::new();
    obj.insert("_id".into(), json!(r.id.to_string()));
    obj.insert("source".into(), json!(r.source));
    obj.insert("hostname".into(), json!(r.host));
    obj.insert("received_at".into(), json!(format_rfc3339_millis(r.time)));
    obj.insert("message".into(), json!(r.message));
    obj.insert("is_anomaly".into(), json!(row.is_anomaly.map(u8::from)));
    obj.insert("anomaly_score".into(), json!(row.anomaly_score));
    obj.insert(
        "aggregated_message_id".into(),
        json!(row.aggregate_id.as_ref().map(|id| id.to_string())),
    );
    for (k, v) in &r.extra {
        obj.entry(k.clone()).or_insert_with(|| v.clone());
    }
    Value::Object(obj)
}

/// The export shape of a stored aggregate (SPEC section 5 fields plus its members).
pub fn aggregate_json(a: &Aggregate) -> Value {
    let d = &a.draft;
    json!({
        "_id": a.id.to_string(),
        "source": a.input_source,
        "target": a.target,
        "message": d.message,
        "total_logs": d.total_logs,
        "average_datetime": format_rfc3339_millis(d.average_time_ms),
        "average_anomaly_score": d.average_anomaly_score,
        "most_frequent_hostname": d.most_frequent_hostname,
        "was_added_at": format_rfc3339_millis(d.was_added_at_ms),
        "members": d.member_ids.iter().map(|id| id.to_string()).collect::<Vec<_>>(),
    })
}

/// The shape a sink prints for an aggregate it does not store: the draft with the id the sink
/// gave it, the input source and the target.
pub fn printed_aggregate_json(
    id: &RecordId,
    input_source: &str,
    target: &str,
    d: &AggregateDraft,
) -> Value {
    json!({
        "aggregated_message_id": id.to_string(),
        "input_source": input_source,
        "target": target,
        "message": d.message,
        "total_logs": d.total_logs,
        "average_datetime": format_rfc3339_millis(d.average_time_ms),
        "average_anomaly_score": d.average_anomaly_score,
        "most_frequent_hostname": d.most_frequent_hostname,
        "was_added_at": format_rfc3339_millis(d.was_added_at_ms),
        "member_ids": d.member_ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_document_is_written_as_the_document_shape_is() -> serde_json::Result<()> {
        let mut extra = Map::new();
        for (k, v) in [
            ("tag", json!("x \"quoted\" \u{e9}")),
            ("_id", json!("from the input")),
            ("is_anomaly", json!("replaced")),
            ("msg", json!("replaced by the message")),
            ("nested", json!({"b": [1, 2.5, null], "a": true})),
            ("zz", json!(-3)),
            ("lad_offset", json!(42)),
        ] {
            extra.insert(k.into(), v);
        }
        let fields = FieldNames {
            message: "msg".into(),
            host: "node".into(),
            time: "@timestamp".into(),
        };
        for (id, time, anomaly, score) in [
            (RecordId::Text("3:17".into()), 1_767_225_600_123, true, 0.75),
            (RecordId::Int(-1), -5, false, 0.0),
            (RecordId::ObjectId("65a0".into()), i64::MAX, true, 1e300),
            (RecordId::Int(9), 0, false, f64::NAN),
        ] {
            let record = Record {
                id,
                source: "topic".into(),
                host: "h-1".into(),
                time,
                message: "a line\twith tabs".into(),
                extra: extra.clone(),
            };
            let old = serde_json::to_vec(&Value::Object(with_verdict(
                record_document(&record, &fields),
                anomaly,
                score,
            )))?;
            let mut new = Vec::new();
            write_verdict_document(&mut new, &record, &fields, anomaly, score)?;
            assert_eq!(String::from_utf8_lossy(&new), String::from_utf8_lossy(&old));
            // The other order a build's `Map` may have: sorted by key.
            let sorted: std::collections::BTreeMap<String, Value> =
                with_verdict(record_document(&record, &fields), anomaly, score)
                    .into_iter()
                    .collect();
            let mut new = Vec::new();
            write_verdict_fields(&mut new, &record, &fields, anomaly, score, true)?;
            assert_eq!(
                String::from_utf8_lossy(&new),
                serde_json::to_string(&sorted)?
            );
        }
        Ok(())
    }

    #[test]
    fn document_and_export_shapes() {
        let mut extra = Map::new();
        extra.insert("tag".into(), json!("x"));
        let record = Record {
            id: RecordId::Int(7),
            source: "src".into(),
            host: "h".into(),
            time: 0,
            message: "m".into(),
            extra,
        };
        let doc = with_verdict(record_document(&record, &FieldNames::default()), true, 1.5);
        // Compared as values: key order follows serde_json's `preserve_order`, which a driver
        // dependency turns on.
        let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
        assert_eq!(
            Value::Object(doc),
            parse(
                r#"{"tag":"x","_id":"7","source":"src","hostname":"h","received_at":"1970-01-01T00:00:00.000Z","message":"m","is_anomaly":1,"anomaly_score":1.5}"#
            )
        );
        let row = ExportRow {
            record,
            is_anomaly: None,
            anomaly_score: None,
            aggregate_id: None,
        };
        assert_eq!(
            record_json(&row),
            parse(
                r#"{"_id":"7","source":"src","hostname":"h","received_at":"1970-01-01T00:00:00.000Z","message":"m","is_anomaly":null,"anomaly_score":null,"aggregated_message_id":null,"tag":"x"}"#
            )
        );
    }
}
