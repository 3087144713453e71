//! Documents of the `es` backend: a hit to a [`Record`] or a [`Malformed`] report (through the
//! shared [`record_or_malformed`]), dotted field names looked up in `_source`, and a record back
//! to the document lad imports. Knows nothing of requests.

use super::*;
use crate::record::{check_message, record_or_malformed, Decoded, Malformed, NewRecord, Record};
use crate::timefmt;

/// The value at `path` of a document: the key itself, or a dotted path into objects.
pub(super) fn lookup<'a>(doc: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = doc.get(path) {
        return Some(v);
    }
    let (head, rest) = path.split_once('.')?;
    lookup(doc.get(head)?.as_object()?, rest)
}

/// The string at `key` of a document lad wrote itself, `""` when it is missing.
pub(super) fn text_field(doc: &Map<String, Value>, key: &str) -> String {
    doc.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Fields that make up the record itself or lad's marks, so not part of `extra`.
pub(super) fn is_record_field(key: &str, f: &FieldNames) -> bool {
    key == f.host
        || key == f.time
        || key == f.message
        || key == "is_anomaly"
        || key == "anomaly_score"
        || key == AGGREGATE_FIELD
        || key == MALFORMED_FIELD
}

/// Reads a record out of a hit of `source`. The time is the hit's first sort value when the
/// read sorted by time (the server's own reading of the date, whatever its format), else the
/// `_source` value: an RFC 3339 string or epoch milliseconds.
pub(super) fn record(
    hit: &Hit,
    source: &str,
    f: &FieldNames,
    sorted_by_time: bool,
) -> Result<Record, Malformed> {
    let id = record_id(&hit.index, &hit.id);
    let empty = Map::new();
    let doc = hit.source.as_ref().unwrap_or(&empty);
    let host = match lookup(doc, &f.host) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!(
            "field {} is {}, expected a string",
            f.host,
            kind(other)
        )),
        None => Err(format!("field {} is missing", f.host)),
    };
    let decoded = (|| {
        let host = host.clone()?;
        let time = match (lookup(doc, &f.time), sorted_by_time) {
            (None, _) => return Err(format!("field {} is missing", f.time)),
            (Some(_), true) => match hit.sort.as_ref().and_then(|s| s.first()) {
                Some(Value::Number(n)) => {
                    n.as_i64()
                        .filter(|t| *t != i64::MAX && *t != i64::MIN)
                        .ok_or_else(|| format!("field {} has no date value", f.time))?
                }
                _ => source_time(doc, &f.time)?,
            },
            (Some(_), false) => source_time(doc, &f.time)?,
        };
        let message = match lookup(doc, &f.message) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                return Err(format!(
                    "field {} is {}, expected a string",
                    f.message,
                    kind(other)
                ))
            }
            None => return Err(format!("field {} is missing", f.message)),
        };
        check_message(&message)?;
        let extra: Map<String, Value> = doc
            .iter()
            .filter(|(k, _)| !is_record_field(k, f))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(Decoded {
            host,
            time,
            message,
            extra,
        })
    })();
    record_or_malformed(id, source, host.ok(), decoded)
}

/// The time of a document from `_source`: an RFC 3339 (or ISO) string, or epoch milliseconds
/// (the `epoch_millis` of the default date format).
fn source_time(doc: &Map<String, Value>, field: &str) -> Result<i64, String> {
    match lookup(doc, field) {
        Some(Value::String(s)) => {
            timefmt::parse_time_str(s).map_err(|e| format!("field {field}: {e}"))
        }
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|x| x as i64))
            .ok_or_else(|| format!("field {field}: {n} is not a time")),
        Some(other) => Err(format!("field {field} is {}, expected a date", kind(other))),
        None => Err(format!("field {field} is missing")),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The document lad imports for a record: its other fields, then host, time (RFC 3339 with
/// milliseconds) and message at their (possibly dotted) names.
pub(super) fn import_document(r: &NewRecord, f: &FieldNames) -> Map<String, Value> {
    let mut doc: Map<String, Value> = r
        .extra
        .iter()
        .filter(|(k, _)| !is_record_field(k, f) && k.as_str() != "_id")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    put_value(&mut doc, &f.host, Value::String(r.host.clone()));
    put_value(
        &mut doc,
        &f.time,
        Value::String(timefmt::format_rfc3339_millis(r.time)),
    );
    put_value(&mut doc, &f.message, Value::String(r.message.clone()));
    doc
}

/// Sets a value at a dotted path, making objects on the way (a plain key when the path has no dot).
fn put_value(doc: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        Some((head, rest)) => {
            let entry = doc
                .entry(head.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Some(inner) = entry.as_object_mut() {
                put_value(inner, rest, value);
            }
        }
        None => {
            doc.insert(path.to_owned(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(source: Value, sort: Option<Vec<Value>>) -> Hit {
        Hit {
            index: "logs".into(),
            id: "x1".into(),
            seq_no: Some(1),
            primary_term: Some(1),
            source: source.as_object().cloned(),
            sort,
            found: None,
        }
    }

    #[test]
    fn records_from_flat_and_dotted_documents() {
        let f = FieldNames {
            message: "message".into(),
            time: "@timestamp".into(),
            host: "host.name".into(),
        };
        let h = hit(
            json!({"@timestamp": "2024-01-05T12:00:00Z", "host": {"name": "web1"}, "message": "a\"}\n😀", "tag": 1}),
            Some(vec![json!(1_704_456_000_000_i64), json!("x1")]),
        );
        let r = record(&h, "logs-*", &f, true).expect("a record");
        assert_eq!(r.id, RecordId::Text("logs/x1".into()));
        assert_eq!((r.host.as_str(), r.time), ("web1", 1_704_456_000_000));
        assert_eq!(r.message, "a\"}\n😀");
        assert_eq!(r.extra.get("tag"), Some(&json!(1)));
        let bad = hit(
            json!({"@timestamp": 5, "host": {"name": 3}, "message": "m"}),
            None,
        );
        let m = record(&bad, "logs-*", &f, false).expect_err("malformed");
        assert!(m.reason.contains("host.name"), "{}", m.reason);
        let no_time = hit(json!({"host": {"name": "h"}, "message": "m"}), None);
        assert!(record(&no_time, "s", &f, true).is_err());
        let doc = import_document(
            &NewRecord {
                original_id: None,
                host: "h".into(),
                time: 0,
                message: "m".into(),
                extra: Map::new(),
            },
            &f,
        );
        assert_eq!(
            Value::Object(doc),
            json!({"host": {"name": "h"}, "@timestamp": "1970-01-01T00:00:00.000Z", "message": "m"})
        );
    }
}
