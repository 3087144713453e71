//! The JSON shapes lad writes, in one place: a record with its verdict (`lad export`, the HTTP
//! API), an aggregate with its members, an anomaly as the API lists it, numbers as JSON, and
//! where JSON Lines go ([`open_output`]). Every command and the HTTP side take their shapes from
//! here, so one record looks the same wherever it is read. This module reads no configuration
//! and touches no store.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use lad_core::pattern::{PatternView, TemplateFormat};
use lad_store::timefmt::format_rfc3339_millis;
use lad_store::{Aggregate, Anomaly, ExportRow};
use serde_json::{json, Map, Value};

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

/// The export shape of an aggregate (SPEC section 5 fields plus its members).
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

/// An anomaly as the HTTP API lists it: the export shape plus `time_ms` and whether feedback
/// covers it.
pub fn anomaly_json(a: &Anomaly, covered: bool) -> Value {
    let mut v = record_json(&ExportRow {
        record: a.record.clone(),
        is_anomaly: Some(true),
        anomaly_score: Some(a.score),
        aggregate_id: a.aggregate_id.clone(),
    });
    if let Value::Object(o) = &mut v {
        o.insert("time_ms".into(), json!(a.record.time));
        o.insert("feedback".into(), json!(covered));
    }
    v
}

/// A pattern of (source, host) as `lad patterns` and `GET /api/patterns` write it: its id, its
/// template in `format`, its counts, first and last seen, and its lines per time bucket.
pub fn pattern_json(
    source: &str,
    host: &str,
    p: &PatternView<'_>,
    format: TemplateFormat,
) -> Value {
    let s = p.stats;
    json!({
        "source": source,
        "hostname": host,
        "pattern_id": p.id.to_string(),
        "template": p.template(format),
        "count": s.count,
        "first_seen": format_rfc3339_millis(s.first_ms),
        "last_seen": format_rfc3339_millis(s.last_ms),
        "overflow": p.overflow,
        "buckets": s.buckets.iter().map(|(start, n)| json!({"start": format_rfc3339_millis(*start), "count": n})).collect::<Vec<_>>(),
    })
}

/// An aggregated template (with `***` for variables) written in `format` (a `***` that a
/// message itself held is read as a variable too).
pub fn template_text(template: &str, format: TemplateFormat) -> String {
    match format {
        TemplateFormat::Stars => template.to_string(),
        TemplateFormat::Angle => template.replace(lad_core::pattern::STARS, "<*>"),
    }
}

/// A JSON number for a score: shortest round-trip text (`1.0`, `0.25`); `null` if not finite.
pub fn json_number(x: f64) -> String {
    serde_json::to_string(&x).unwrap_or_else(|_| "null".to_string())
}

/// Opens the output file, or standard output for `None` and `-`.
pub fn open_output(path: Option<&Path>) -> Result<Box<dyn Write>> {
    match path {
        None => Ok(Box::new(BufWriter::with_capacity(
            1 << 20,
            std::io::stdout().lock(),
        ))),
        Some(p) if p.as_os_str() == "-" => Ok(Box::new(BufWriter::with_capacity(
            1 << 20,
            std::io::stdout().lock(),
        ))),
        Some(p) => {
            let f = File::create(p).with_context(|| format!("cannot create {}", p.display()))?;
            Ok(Box::new(BufWriter::with_capacity(1 << 20, f)))
        }
    }
}
