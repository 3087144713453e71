//! The JSON shapes lad writes, in one place: a record with its verdict (`lad export`, the HTTP
//! API) and the fields of its syslog header ([`header_fields`]), an aggregate with its members,
//! an anomaly as the API lists it, numbers as JSON, and where JSON Lines go ([`open_output`]). Every command and the HTTP side take their shapes from
//! here, so one record looks the same wherever it is read. This module reads no configuration
//! and touches no store.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use lad_core::pattern::{PatternView, TemplateFormat};
use lad_core::syslog::{self, Header};
use lad_store::timefmt::format_rfc3339_millis;
use lad_store::{Anomaly, ExportRow};
use serde_json::{json, Value};

/// The export shape of an aggregate is lad-store's codec, shared with its sinks (stdout, Kafka,
/// Elasticsearch), so an aggregate looks the same wherever it goes.
pub use lad_store::codec::aggregate_json;

/// The export shape of a record (`lad export`, the HTTP API): lad-store's
/// [`lad_store::codec::record_json`], plus, when the message starts with a syslog header, the
/// header's fields ([`header_fields`]) after every other field. Additive only: a field the
/// record already has keeps its value (a record imported from a syslog file has them already,
/// under the same names), and a message without a header is written exactly as before. The
/// fields are read from the stored message each time, so records stored before this existed
/// get them too.
pub fn record_json(row: &ExportRow) -> Value {
    let mut v = lad_store::codec::record_json(row);
    if let (Value::Object(o), Some(h)) = (&mut v, syslog::split(&row.record.message).header) {
        for (key, value) in header_fields(&h) {
            o.entry(key).or_insert(value);
        }
    }
    v
}

/// The fields of a syslog header, named as `lad import` names them for a syslog file (so a
/// line has the same fields however it reached lad): `facility` and `severity` (numbers, from
/// `<PRI>`), `app_name` (the program: RFC 3164 tag, RFC 5424 APP-NAME), `procid` (the pid, as
/// text) and `msgid` (RFC 5424). Parts the header lacks are left out.
pub fn header_fields(h: &Header<'_>) -> serde_json::Map<String, Value> {
    let mut o = serde_json::Map::new();
    if let (Some(f), Some(s)) = (h.facility(), h.severity()) {
        o.insert("facility".into(), json!(f));
        o.insert("severity".into(), json!(s));
    }
    for (key, value) in [
        ("app_name", h.program),
        ("procid", h.pid),
        ("msgid", h.msgid),
    ] {
        if let Some(v) = value {
            o.insert(key.into(), json!(v));
        }
    }
    o
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

#[cfg(test)]
mod tests {
    use super::*;
    use lad_store::{Record, RecordId};

    fn row(message: &str, extra: serde_json::Map<String, Value>) -> ExportRow {
        ExportRow {
            record: Record {
                id: RecordId::Int(1),
                source: "s".into(),
                host: "h".into(),
                time: 0,
                message: message.into(),
                extra,
            },
            is_anomaly: Some(true),
            anomaly_score: Some(0.9),
            aggregate_id: None,
        }
    }

    /// `record_json` less `keys`.
    fn without(mut v: Value, keys: &[&str]) -> Value {
        if let Value::Object(o) = &mut v {
            for k in keys {
                o.remove(*k);
            }
        }
        v
    }

    #[test]
    fn a_syslog_header_adds_its_fields_and_nothing_else_changes() {
        let line = "<38>Dec  7 10:00:01 bastion sshd[4711]: Failed password for root";
        let with = record_json(&row(line, Default::default()));
        let added = ["facility", "severity", "app_name", "procid"];
        for (key, value) in added
            .iter()
            .zip([json!(4), json!(6), json!("sshd"), json!("4711")])
        {
            assert_eq!(with[*key], value, "{key}: {with}");
        }
        assert!(with.get("msgid").is_none(), "{with}");
        // Every other field is the store's shape, unchanged.
        assert_eq!(
            without(with, &added),
            lad_store::codec::record_json(&row(line, Default::default()))
        );
        let rfc5424 = "<165>1 2026-12-07T10:00:01.5Z web01 nginx - ID47 - GET /";
        let v = record_json(&row(rfc5424, Default::default()));
        assert_eq!(
            (&v["facility"], &v["severity"], &v["app_name"], &v["msgid"]),
            (&json!(20), &json!(5), &json!("nginx"), &json!("ID47"))
        );
        assert!(v.get("procid").is_none(), "a nil PROCID is left out: {v}");
        let no_pri = record_json(&row(
            "Dec  7 10:00:01 bastion CRON[77]: job done",
            Default::default(),
        ));
        assert_eq!(
            (&no_pri["app_name"], &no_pri["procid"]),
            (&json!("CRON"), &json!("77"))
        );
        assert!(
            no_pri.get("severity").is_none(),
            "no <PRI>, no severity: {no_pri}"
        );
    }

    #[test]
    fn no_header_or_a_records_own_fields_keep_the_old_shape() {
        let plain = row("kernel panic: fatal error", Default::default());
        assert_eq!(record_json(&plain), lad_store::codec::record_json(&plain));
        // A record that has some of the fields (imported from a syslog file, or the user's own)
        // keeps their values; only the missing ones are added.
        let mut extra = serde_json::Map::new();
        extra.insert("severity".into(), json!("theirs"));
        extra.insert("app_name".into(), json!("su"));
        let theirs = row("<11>Dec  7 10:00:01 h app[9]: x", extra);
        let v = record_json(&theirs);
        assert_eq!(
            (&v["severity"], &v["app_name"]),
            (&json!("theirs"), &json!("su"))
        );
        assert_eq!((&v["facility"], &v["procid"]), (&json!(1), &json!("9")));
        assert_eq!(
            without(v, &["facility", "procid"]),
            lad_store::codec::record_json(&theirs)
        );
    }
}
