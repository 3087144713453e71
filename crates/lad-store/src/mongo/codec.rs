//! BSON of the `mg` backend: documents to [`Record`]s (times from dates, strings or numbers, with a
//! notice), ids to and from BSON, JSON `extra` fields to BSON. Knows nothing of collections or
//! commands.

use super::*;
use crate::record::{record_or_malformed, Decoded};

impl MongoStore {
    /// Reads a record out of a raw document; anything unreadable makes it [`Malformed`].
    pub(super) fn record(&mut self, doc: &RawDocument, source: &str) -> Result<Record, Malformed> {
        let f = &self.config.fields;
        let id = match doc.get("_id") {
            Ok(Some(v)) => raw_to_id(v),
            _ => RecordId::Text("(no _id)".into()),
        };
        let host = match doc.get(&f.host) {
            Ok(Some(RawBsonRef::String(s))) => Ok(s.to_owned()),
            Ok(Some(other)) => Err(format!(
                "field {} has type {:?}, expected a string",
                f.host,
                other.element_type()
            )),
            Ok(None) => Err(format!("field {} is missing", f.host)),
            Err(e) => Err(format!("field {} cannot be read: {e}", f.host)),
        };
        let mut converted = false;
        let decoded = (|| {
            let host = host.clone()?;
            let time;
            (time, converted) = read_time(doc, &f.time)?;
            let message = match doc.get(&f.message) {
                Ok(Some(RawBsonRef::String(s))) => s.to_owned(),
                Ok(Some(other)) => {
                    return Err(format!(
                        "field {} has type {:?}, expected a string",
                        f.message,
                        other.element_type()
                    ))
                }
                Ok(None) => return Err(format!("field {} is missing", f.message)),
                Err(e) => return Err(format!("field {} cannot be read: {e}", f.message)),
            };
            check_message(&message)?;
            let mut extra = Map::new();
            for element in doc {
                let (key, value) = element.map_err(|e| {
                    format!("the document cannot be read (invalid BSON or UTF-8): {e}")
                })?;
                if is_record_field(key, f) {
                    continue;
                }
                let value = Bson::try_from(value.to_raw_bson())
                    .map_err(|e| format!("field {key} cannot be read: {e}"))?;
                extra.insert(key.to_owned(), value.into_relaxed_extjson());
            }
            Ok(Decoded {
                host,
                time,
                message,
                extra,
            })
        })();
        let record = record_or_malformed(id, source, host.ok(), decoded)?;
        if converted {
            self.time_conversions += 1;
            if self.time_warned.insert(source.to_owned()) {
                self.notices.push(format!(
                    "mg: {}.{source}: field {} holds a string or number, read as a time; store \
                     BSON dates (time-window reads such as training only match BSON dates)",
                    self.config.db, f.time
                ));
            }
        }
        Ok(record)
    }
}

/// Fields that make up the record itself or `lad`'s marks, so not part of `extra`.
pub(super) fn is_record_field(key: &str, f: &FieldNames) -> bool {
    key == "_id"
        || key == f.host
        || key == f.time
        || key == f.message
        || key == "is_anomaly"
        || key == "anomaly_score"
        || key == AGGREGATE_FIELD
        || key == MALFORMED_FIELD
}

/// The time of a document: a BSON date, or (converted, the bool says so) an ISO string or an
/// epoch number whose unit is guessed by magnitude.
pub(super) fn read_time(doc: &RawDocument, field: &str) -> Result<(i64, bool), String> {
    match doc.get(field) {
        Ok(Some(RawBsonRef::DateTime(t))) => Ok((t.timestamp_millis(), false)),
        Ok(Some(RawBsonRef::String(s))) => timefmt::parse_time_str(s)
            .map(|t| (t, true))
            .map_err(|e| format!("field {field}: {e}")),
        Ok(Some(RawBsonRef::Int32(n))) => Ok((timefmt::epoch_int_to_ms(i64::from(n)), true)),
        Ok(Some(RawBsonRef::Int64(n))) => Ok((timefmt::epoch_int_to_ms(n), true)),
        Ok(Some(RawBsonRef::Double(n))) => timefmt::epoch_to_ms(n)
            .map(|t| (t, true))
            .map_err(|e| format!("field {field}: {e}")),
        Ok(Some(other)) => Err(format!(
            "field {field} has type {:?}, expected a date",
            other.element_type()
        )),
        Ok(None) => Err(format!("field {field} is missing")),
        Err(e) => Err(format!("field {field} cannot be read: {e}")),
    }
}

/// A record id from a document's `_id`: ObjectId, integer, string; anything else as its Extended
/// canonical Extended JSON text (which [`id_to_bson`] reads back).
pub(super) fn raw_to_id(value: RawBsonRef<'_>) -> RecordId {
    match value {
        RawBsonRef::ObjectId(oid) => RecordId::ObjectId(oid.to_hex()),
        RawBsonRef::Int32(n) => RecordId::Int(i64::from(n)),
        RawBsonRef::Int64(n) => RecordId::Int(n),
        RawBsonRef::String(s) => RecordId::Text(s.to_owned()),
        other => match Bson::try_from(other.to_raw_bson()) {
            Ok(b) => RecordId::Text(b.into_canonical_extjson().to_string()),
            Err(_) => RecordId::Text("(unreadable _id)".into()),
        },
    }
}

/// The `_id` value a record id stands for.
pub(super) fn id_to_bson(id: &RecordId) -> Result<Bson, String> {
    match id {
        RecordId::ObjectId(hex) => ObjectId::parse_str(hex)
            .map(Bson::ObjectId)
            .map_err(|e| format!("expected 24 hex digits of an ObjectId: {e}")),
        RecordId::Int(n) => Ok(Bson::Int64(*n)),
        RecordId::Text(s) => {
            if s.starts_with('{') || s.starts_with('[') {
                if let Ok(json) = serde_json::from_str::<Value>(s) {
                    if let Ok(b) = Bson::try_from(json) {
                        return Ok(b);
                    }
                }
            }
            Ok(Bson::String(s.clone()))
        }
    }
}

/// JSON (Extended JSON where it parses as such, e.g. `{"$oid": ..}`) to BSON.
pub(super) fn json_to_bson(value: Value) -> Bson {
    match Bson::try_from(value.clone()) {
        Ok(b) => b,
        // Not valid Extended JSON (e.g. a user field named "$date" holding an object): keep it
        // as plain data, with keys as they are.
        Err(_) => match value {
            Value::Object(map) => {
                Bson::Document(map.into_iter().map(|(k, v)| (k, json_to_bson(v))).collect())
            }
            Value::Array(items) => Bson::Array(items.into_iter().map(json_to_bson).collect()),
            Value::Number(n) => n.as_f64().map_or(Bson::Null, Bson::Double),
            Value::String(s) => Bson::String(s),
            Value::Bool(b) => Bson::Boolean(b),
            Value::Null => Bson::Null,
        },
    }
}

pub(super) fn raw_number(value: RawBsonRef<'_>) -> Option<f64> {
    match value {
        RawBsonRef::Double(x) => Some(x),
        RawBsonRef::Int32(n) => Some(f64::from(n)),
        RawBsonRef::Int64(n) => Some(n as f64),
        _ => None,
    }
}

pub(super) fn bson_number(value: &Bson) -> Option<f64> {
    match value {
        Bson::Double(x) => Some(*x),
        Bson::Int32(n) => Some(f64::from(*n)),
        Bson::Int64(n) => Some(*n as f64),
        _ => None,
    }
}

pub(super) fn number(value: Option<&Bson>) -> Option<i64> {
    value.and_then(bson_number).map(|n| n as i64)
}

pub(super) fn bson_time(value: Option<&Bson>) -> i64 {
    match value {
        Some(Bson::DateTime(t)) => t.timestamp_millis(),
        _ => 0,
    }
}
