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
use lad_store::{Anomaly, ExportRow};
use serde_json::{json, Value};

/// The export shapes of a record and an aggregate are lad-store's codec, shared with its sinks
/// (stdout, and later Kafka and Elasticsearch), so a record looks the same wherever it goes.
pub use lad_store::codec::{aggregate_json, record_json};

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

/// Opens the output file, or standard output for `None` and `-` (unlocked, so the writer may
/// move to another thread).
pub fn open_output(path: Option<&Path>) -> Result<Box<dyn Write + Send>> {
    match path {
        Some(p) if p.as_os_str() != "-" => {
            let f = File::create(p).with_context(|| format!("cannot create {}", p.display()))?;
            Ok(Box::new(BufWriter::with_capacity(1 << 20, f)))
        }
        _ => Ok(Box::new(BufWriter::with_capacity(
            1 << 20,
            std::io::stdout(),
        ))),
    }
}

/// An incident as `lad export --incidents` and `GET /api/incidents` write it: id, source, state
/// at `now_ms` (with people's marks), severity, first and last seen (RFC 3339 and ms), line
/// count, hosts, patterns (id, template, count, hosts, example lines), peak score, explanation,
/// and the marks. A row whose body cannot be read shows what the store indexed.
pub fn incident_json(s: &lad_store::StoredIncident, now_ms: i64) -> Value {
    let Some(i) = crate::incidents::from_stored(s) else {
        return json!({
            "id": s.id,
            "source": s.source,
            "state": s.state,
            "first_seen": format_rfc3339_millis(s.first_seen_ms),
            "last_seen": format_rfc3339_millis(s.last_seen_ms),
            "first_seen_ms": s.first_seen_ms,
            "last_seen_ms": s.last_seen_ms,
            "hosts": s.hosts,
            "explanation": s.body.get("explanation").cloned().unwrap_or(Value::Null),
        });
    };
    json!({
        "id": i.id,
        "source": i.source,
        "state": i.state_at(now_ms).as_str(),
        "severity": i.severity().as_str(),
        "first_seen": format_rfc3339_millis(i.first_seen_ms),
        "last_seen": format_rfc3339_millis(i.last_seen_ms),
        "first_seen_ms": i.first_seen_ms,
        "last_seen_ms": i.last_seen_ms,
        "count": i.count,
        "hosts": i.hosts,
        "patterns": i.patterns.iter().map(|p| json!({
            "id": p.id.to_string(),
            "template": p.template,
            "count": p.count,
            "hosts": p.hosts,
            "examples": p.examples,
        })).collect::<Vec<_>>(),
        "other_lines": i.other_lines,
        "peak_score": i.peak_score,
        "explanation": i.explanation(),
        "novel_since": i.novel_since.iter().map(|(h, t)| (h.clone(), json!(format_rfc3339_millis(*t)))).collect::<serde_json::Map<_, _>>(),
        "rate": i.rate.map(|(factor, lines, usual)| json!({"factor": factor, "lines_in_hour": lines, "usual_per_hour": usual})),
        "silent": i.silent.iter().map(|(h, t, last)| json!({"host": h, "template": t, "last_seen": format_rfc3339_millis(*last)})).collect::<Vec<_>>(),
        "acknowledged_by": i.acknowledged_by,
        "muted_until": i.muted_until_ms.map(format_rfc3339_millis),
    })
}
