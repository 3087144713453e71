//! The JSON API handlers: hosts and model state, anomalies (filtered and paged), the per-host
//! timeline the page draws, aggregates with their members, and feedback (create, list, undo).
//! Shapes are those of `lad export` ([`crate::wire::record_json`], [`aggregate_json`]) plus
//! a few fields; docs/http.md documents them.
//!
//! Anomalies are read with [`lad_store::Store::anomalies`] (newest [`SCAN_LIMIT`] of the window)
//! and filtered here; a response says `truncated` when the cap was hit.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use lad_store::timefmt::{format_rfc3339_millis, parse_time_str};
use lad_store::{Anomaly, Feedback, NewFeedback, RecordId};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiError, AppState};
use crate::config::Config;
use crate::feedback::Suppressions;
use crate::pipeline;
use crate::wire::{aggregate_json, anomaly_json};
use crate::wiring::{self, Stores};

/// Most anomalies one request reads from the store (per source).
pub const SCAN_LIMIT: usize = 100_000;
/// Default and largest page sizes.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 1000;
/// Default timeline span and bucket count.
const DEFAULT_SPAN_MS: i64 = 24 * 3_600_000;
const DEFAULT_BUCKETS: usize = 48;
const MAX_BUCKETS: usize = 500;

/// The earliest and latest times the API reads or writes (0001-01-01 to 9999-12-31, UTC): a
/// time parameter outside them is clamped, so no arithmetic on times can overflow.
const MIN_TIME_MS: i64 = -62_135_596_800_000;
const MAX_TIME_MS: i64 = 253_402_300_799_999;

/// Reads a time parameter: unix milliseconds or RFC 3339, clamped to years 1 to 9999.
fn parse_time(name: &str, text: &str) -> Result<i64, ApiError> {
    let ms = match text.trim().parse::<i64>() {
        Ok(ms) => ms,
        Err(_) => parse_time_str(text)
            .map_err(|e| ApiError::bad_request(format!("parameter {name}: {e}")))?,
    };
    Ok(ms.clamp(MIN_TIME_MS, MAX_TIME_MS))
}

fn opt_time(name: &str, text: &Option<String>) -> Result<Option<i64>, ApiError> {
    text.as_deref()
        .filter(|t| !t.is_empty())
        .map(|t| parse_time(name, t))
        .transpose()
}

/// The sources to read: the one asked for, or all of them.
fn sources(stores: &mut Stores, source: &Option<String>) -> Result<Vec<String>, ApiError> {
    match source.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Ok(vec![s.to_string()]),
        None => stores.source.list_sources().map_err(ApiError::store),
    }
}

/// Anomalies of the sources in `[from, to)`, newest first, with whether feedback covers each;
/// the flag says whether a source hit [`SCAN_LIMIT`].
fn read_anomalies(
    config: &Config,
    stores: &mut Stores,
    sources: &[String],
    from: i64,
    to: i64,
) -> Result<(Vec<(Anomaly, bool)>, bool), ApiError> {
    let mut out = Vec::new();
    let mut truncated = false;
    for source in sources {
        let marks = stores
            .source
            .list_feedback(Some(source), false)
            .map_err(ApiError::store)?;
        let suppressions = Suppressions::new(&marks, wiring::tokenizer_mode(config));
        let found = stores
            .sink()
            .anomalies(source, from, to, SCAN_LIMIT)
            .map_err(ApiError::store)?;
        truncated |= found.len() >= SCAN_LIMIT;
        out.extend(found.into_iter().map(|a| {
            let covered = suppressions.suppresses(&a.record.host, &a.record.message);
            (a, covered)
        }));
    }
    out.sort_by(|(a, _), (b, _)| (b.record.time, &b.record.id).cmp(&(a.record.time, &a.record.id)));
    Ok((out, truncated))
}

/// Query of `GET /api/hosts`: all optional; without them every host comes, sorted by name.
#[derive(Debug, Default, Deserialize)]
pub struct HostQuery {
    source: Option<String>,
    /// Case-insensitive part of the host (or source) name.
    q: Option<String>,
    /// `host` (default), `anomalies` (most first), `last` (latest anomaly first) or
    /// `model_age` (oldest model first).
    sort: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// Sparkline buckets per host (default 24, at most 100).
    buckets: Option<usize>,
    limit: Option<usize>,
    offset: Option<usize>,
}

/// Most sparkline buckets per host.
const MAX_SPARK_BUCKETS: usize = 100;
const DEFAULT_SPARK_BUCKETS: usize = 24;

/// `GET /api/hosts`: hosts with their model state and, over `[from, to)` (default the last
/// 24 h), their anomaly count, latest anomaly and a sparkline; searched, sorted and paged here
/// so that a fleet of thousands of hosts comes a page at a time.
pub async fn hosts(
    State(app): State<AppState>,
    Query(q): Query<HostQuery>,
) -> Result<Json<Value>, ApiError> {
    let to = opt_time("to", &q.to)?.unwrap_or_else(pipeline::now_ms);
    let from = opt_time("from", &q.from)?.unwrap_or(to - DEFAULT_SPAN_MS);
    if from >= to {
        return Err(ApiError::bad_request(format!(
            "expected from before to, found from={from} to={to}"
        )));
    }
    let sort = q.sort.clone().filter(|s| !s.is_empty());
    let sort = sort.as_deref().unwrap_or("host").to_string();
    if !["host", "anomalies", "last", "model_age"].contains(&sort.as_str()) {
        return Err(ApiError::bad_request(format!(
            "parameter sort: expected host, anomalies, last or model_age, found {sort:?}"
        )));
    }
    let n = q
        .buckets
        .unwrap_or(DEFAULT_SPARK_BUCKETS)
        .clamp(1, MAX_SPARK_BUCKETS);
    let width = ((to - from) as f64 / n as f64).ceil().max(1.0) as i64;
    let source = q.source.clone();
    let (pairs, counts, truncated) = app
        .with_stores(move |config, s| {
            let mut pairs = pipeline::host_pairs(config, &mut s.source).map_err(ApiError::store)?;
            let srcs = sources(s, &source)?;
            pairs.retain(|(src, _)| source.is_none() || srcs.contains(src));
            // Per (source, host): count, latest anomaly, buckets.
            let mut counts: BTreeMap<(String, String), (u64, i64, Vec<u64>)> = BTreeMap::new();
            let mut truncated = false;
            for src in &srcs {
                let found = s
                    .sink()
                    .anomalies(src, from, to, SCAN_LIMIT)
                    .map_err(ApiError::store)?;
                truncated |= found.len() >= SCAN_LIMIT;
                for a in found {
                    let e = counts
                        .entry((src.clone(), a.record.host.clone()))
                        .or_insert_with(|| (0, i64::MIN, vec![0; n]));
                    e.0 += 1;
                    e.1 = e.1.max(a.record.time);
                    let i = (((a.record.time - from) / width).max(0) as usize).min(n - 1);
                    e.2[i] += 1;
                }
            }
            Ok((pairs, counts, truncated))
        })
        .await?;
    let known = app.state.hosts();
    let mut all: BTreeSet<(String, String)> = pairs.into_iter().collect();
    all.extend(
        known
            .keys()
            .filter(|(src, _)| {
                q.source
                    .as_deref()
                    .is_none_or(|w| w.is_empty() || w == src.as_str())
            })
            .cloned(),
    );
    all.extend(counts.keys().cloned());
    let all_hosts = all.len();
    let modelled = all
        .iter()
        .filter(|k| known.get(*k).is_some_and(|h| h.has_model))
        .count();
    let needle = q.q.as_deref().unwrap_or("").trim().to_lowercase();
    let now = pipeline::now_ms();
    struct Row {
        source: String,
        host: String,
        made: Option<i64>,
        has_model: bool,
        training_seconds: Option<f64>,
        count: u64,
        last: Option<i64>,
        spark: Vec<u64>,
    }
    let mut rows: Vec<Row> = all
        .into_iter()
        .filter(|(src, host)| {
            needle.is_empty()
                || host.to_lowercase().contains(&needle)
                || src.to_lowercase().contains(&needle)
        })
        .map(|(source, host)| {
            let h = known
                .get(&(source.clone(), host.clone()))
                .cloned()
                .unwrap_or_default();
            let made =
                super::metrics::model_time_ms(&h, &app.config.model_base_dir, &source, &host);
            let (count, last, spark) = counts
                .get(&(source.clone(), host.clone()))
                .map(|(c, l, b)| (*c, Some(*l), b.clone()))
                .unwrap_or_else(|| (0, None, vec![0; n]));
            Row {
                source,
                host,
                made,
                has_model: h.has_model,
                training_seconds: h.training_seconds,
                count,
                last,
                spark,
            }
        })
        .collect();
    // Ties keep the name order (the rows come sorted by source and host).
    match sort.as_str() {
        "anomalies" => rows.sort_by_key(|r| std::cmp::Reverse(r.count)),
        "last" => rows.sort_by_key(|r| std::cmp::Reverse(r.last)),
        "model_age" => rows.sort_by_key(|r| r.made.unwrap_or(i64::MAX)),
        _ => {}
    }
    let total = rows.len();
    let offset = q.offset.unwrap_or(0);
    let limit = q.limit.map_or(usize::MAX, |l| l.clamp(1, MAX_LIMIT));
    let items: Vec<Value> = rows
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|r| {
            json!({
                "source": r.source,
                "host": r.host,
                "has_model": r.has_model,
                "model_time": r.made.map(format_rfc3339_millis),
                "model_age_seconds": r.made.map(|t| (now - t).max(0) as f64 / 1000.0),
                "training_seconds": r.training_seconds,
                "anomalies": r.count,
                "last_anomaly": r.last.map(format_rfc3339_millis),
                "spark": r.spark,
            })
        })
        .collect();
    Ok(Json(json!({
        "total": total,
        "all_hosts": all_hosts,
        "modelled": modelled,
        "offset": offset,
        "limit": q.limit.map(|l| l.clamp(1, MAX_LIMIT)),
        "from": format_rfc3339_millis(from),
        "to": format_rfc3339_millis(to),
        "bucket_seconds": width as f64 / 1000.0,
        "truncated": truncated,
        "hosts": items,
    })))
}

/// Query of `GET /api/anomalies`.
#[derive(Debug, Deserialize)]
pub struct AnomalyQuery {
    source: Option<String>,
    host: Option<String>,
    from: Option<String>,
    to: Option<String>,
    min_score: Option<f64>,
    max_score: Option<f64>,
    /// Case-insensitive part of the message or host name.
    q: Option<String>,
    /// Only the lines of this incident.
    incident: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

/// The record ids of incident `id`'s lines, with its source and span; `404` when unknown.
fn incident_lines(
    s: &mut Stores,
    id: &str,
) -> Result<(String, i64, i64, BTreeSet<RecordId>), ApiError> {
    let store = s.sink();
    if !store.has_incidents() {
        return Err(no_incidents(store.backend()));
    }
    let inc = store
        .incident(id)
        .map_err(ApiError::store)?
        .ok_or_else(|| ApiError::not_found(format!("no incident with id {id}")))?;
    let to = inc.last_seen_ms.saturating_add(1);
    let ids = store
        .incident_links(&inc.source, inc.first_seen_ms, to)
        .map_err(ApiError::store)?
        .into_iter()
        .filter(|l| l.incident_id == id)
        .map(|l| l.record_id)
        .collect();
    Ok((inc.source, inc.first_seen_ms, to, ids))
}

/// `GET /api/anomalies`: newest first, filtered, paged.
pub async fn anomalies(
    State(app): State<AppState>,
    Query(q): Query<AnomalyQuery>,
) -> Result<Json<Value>, ApiError> {
    let from = opt_time("from", &q.from)?.unwrap_or(i64::MIN);
    let to = opt_time("to", &q.to)?.unwrap_or(i64::MAX);
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let offset = q.offset.unwrap_or(0);
    app.with_stores(move |config, s| {
        let incident = q.incident.as_deref().filter(|i| !i.is_empty());
        let (srcs, from, to, members) = match incident {
            Some(id) => {
                let (src, first, last, ids) = incident_lines(s, id)?;
                (vec![src], from.max(first), to.min(last), Some(ids))
            }
            None => (sources(s, &q.source)?, from, to, None),
        };
        let (all, truncated) = if from < to {
            read_anomalies(config, s, &srcs, from, to)?
        } else {
            (Vec::new(), false)
        };
        let host = q.host.as_deref().filter(|h| !h.is_empty());
        let needle = q.q.as_deref().unwrap_or("").trim().to_lowercase();
        let matching: Vec<&(Anomaly, bool)> = all
            .iter()
            .filter(|(a, _)| members.as_ref().is_none_or(|m| m.contains(&a.record.id)))
            .filter(|(a, _)| host.is_none_or(|h| a.record.host == h))
            .filter(|(a, _)| {
                needle.is_empty()
                    || a.record.message.to_lowercase().contains(&needle)
                    || a.record.host.to_lowercase().contains(&needle)
            })
            .filter(|(a, _)| q.min_score.is_none_or(|m| a.score >= m))
            .filter(|(a, _)| q.max_score.is_none_or(|m| a.score <= m))
            .collect();
        let items: Vec<Value> = matching
            .iter()
            .skip(offset)
            .take(limit)
            .map(|(a, c)| anomaly_json(a, *c))
            .collect();
        Ok(Json(json!({
            "total": matching.len(),
            "offset": offset,
            "limit": limit,
            "truncated": truncated,
            "items": items,
        })))
    })
    .await
}

/// Query of `GET /api/timeline`.
#[derive(Debug, Deserialize)]
pub struct TimelineQuery {
    source: Option<String>,
    from: Option<String>,
    to: Option<String>,
    buckets: Option<usize>,
    /// Only this host.
    host: Option<String>,
    /// Keep the `top` hosts with most anomalies; the others are summed into one series.
    top: Option<usize>,
}

/// `GET /api/timeline`: anomaly counts per host in equal time buckets.
pub async fn timeline(
    State(app): State<AppState>,
    Query(q): Query<TimelineQuery>,
) -> Result<Json<Value>, ApiError> {
    let to = opt_time("to", &q.to)?.unwrap_or_else(pipeline::now_ms);
    let from = opt_time("from", &q.from)?.unwrap_or(to - DEFAULT_SPAN_MS);
    if from >= to {
        return Err(ApiError::bad_request(format!(
            "expected from before to, found from={from} to={to}"
        )));
    }
    let n = q.buckets.unwrap_or(DEFAULT_BUCKETS).clamp(1, MAX_BUCKETS);
    let width = ((to - from) as f64 / n as f64).ceil().max(1.0) as i64;
    app.with_stores(move |config, s| {
        let srcs = sources(s, &q.source)?;
        let (all, truncated) = read_anomalies(config, s, &srcs, from, to)?;
        let mut series: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for host in pipeline::host_pairs(config, &mut s.source)
            .map_err(ApiError::store)?
            .into_iter()
            .filter(|(src, _)| srcs.contains(src))
            .map(|(_, h)| h)
        {
            series.entry(host).or_insert_with(|| vec![0; n]);
        }
        for (a, _) in &all {
            let i = (((a.record.time - from) / width) as usize).min(n - 1);
            series.entry(a.record.host.clone()).or_insert_with(|| vec![0; n])[i] += 1;
        }
        if let Some(h) = q.host.as_deref().filter(|h| !h.is_empty()) {
            series.retain(|k, _| k == h);
        }
        let mut others = None;
        if let Some(top) = q.top {
            if series.len() > top {
                let mut ranked: Vec<(u64, String)> = series
                    .iter()
                    .map(|(h, c)| (c.iter().sum::<u64>(), h.clone()))
                    .collect();
                ranked.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
                let mut rest = vec![0u64; n];
                let mut count = 0usize;
                for (_, h) in ranked.into_iter().skip(top) {
                    if let Some(c) = series.remove(&h) {
                        rest.iter_mut().zip(c).for_each(|(r, x)| *r += x);
                        count += 1;
                    }
                }
                others = Some(json!({"hosts": count, "counts": rest}));
            }
        }
        let starts: Vec<i64> = (0..n as i64).map(|i| from + i * width).collect();
        Ok(Json(json!({
            "others": others,
            "from": format_rfc3339_millis(from),
            "to": format_rfc3339_millis(to),
            "from_ms": from,
            "to_ms": to,
            "bucket_seconds": width as f64 / 1000.0,
            "bucket_starts_ms": starts,
            "truncated": truncated,
            "series": series.into_iter().map(|(host, counts)| json!({"host": host, "counts": counts})).collect::<Vec<_>>(),
        })))
    })
    .await
}

/// Query of `GET /api/aggregates`.
#[derive(Debug, Deserialize)]
pub struct AggregateQuery {
    source: Option<String>,
    /// The aggregate's mean member time is in `[from, to)`.
    from: Option<String>,
    to: Option<String>,
    /// The host most of its members come from.
    host: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

/// `GET /api/aggregates`: newest first, paged, with member ids.
pub async fn aggregates(
    State(app): State<AppState>,
    Query(q): Query<AggregateQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let offset = q.offset.unwrap_or(0);
    let from = opt_time("from", &q.from)?.unwrap_or(i64::MIN);
    let to = opt_time("to", &q.to)?.unwrap_or(i64::MAX);
    app.with_stores(move |_, s| {
        let source = q.source.as_deref().filter(|s| !s.is_empty());
        let host = q.host.as_deref().filter(|h| !h.is_empty());
        let mut all = s.sink().aggregates(source).map_err(ApiError::store)?;
        all.retain(|a| {
            (from..to).contains(&a.draft.average_time_ms)
                && host.is_none_or(|h| a.draft.most_frequent_hostname == h)
        });
        all.reverse();
        let items: Vec<Value> = all
            .iter()
            .skip(offset)
            .take(limit)
            .map(aggregate_json)
            .collect();
        Ok(Json(json!({
            "total": all.len(),
            "offset": offset,
            "limit": limit,
            "items": items,
        })))
    })
    .await
}

/// Query of `GET /api/patterns`.
#[derive(Debug, Deserialize)]
pub struct PatternQuery {
    source: Option<String>,
    host: Option<String>,
    /// `stars` (default) or `angle`.
    format: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

/// `GET /api/patterns`: the saved patterns of the modelled hosts (as `lad patterns` lists
/// them), most frequent first within each host, paged.
pub async fn patterns(
    State(app): State<AppState>,
    Query(q): Query<PatternQuery>,
) -> Result<Json<Value>, ApiError> {
    let format = match q.format.as_deref().unwrap_or("stars") {
        "stars" => lad_core::pattern::TemplateFormat::Stars,
        "angle" => lad_core::pattern::TemplateFormat::Angle,
        other => {
            return Err(ApiError::bad_request(format!(
                "parameter format: expected stars or angle, found {other:?}"
            )))
        }
    };
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let offset = q.offset.unwrap_or(0);
    app.with_stores(move |config, s| {
        let mut hosts = pipeline::host_pairs(config, &mut s.source).map_err(ApiError::store)?;
        let wanted = |want: &Option<String>, have: &str| {
            want.as_deref()
                .filter(|w| !w.is_empty())
                .is_none_or(|w| w == have)
        };
        hosts.retain(|(s, h)| wanted(&q.source, s) && wanted(&q.host, h));
        let (rows, missing) = crate::patterns::saved_rows(&config.model_base_dir, &hosts, format);
        let total = rows.len();
        let items: Vec<Value> = rows.into_iter().skip(offset).take(limit).collect();
        Ok(Json(json!({
            "total": total,
            "offset": offset,
            "limit": limit,
            "items": items,
            "hosts_without_patterns": missing.len(),
        })))
    })
    .await
}

/// `GET /api/aggregates/{id}`: one aggregate with its member records.
pub async fn aggregate(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    app.with_stores(move |config, s| {
        let (a, members) = aggregate_members(config, s, &id)?;
        let mut v = aggregate_json(&a);
        if let Value::Object(o) = &mut v {
            o.insert(
                "member_records".into(),
                Value::Array(members.iter().map(|(m, c)| anomaly_json(m, *c)).collect()),
            );
        }
        Ok(Json(v))
    })
    .await
}

/// An aggregate and its members as anomalies (with whether feedback covers each).
fn aggregate_members(
    config: &Config,
    s: &mut Stores,
    id: &str,
) -> Result<(lad_store::Aggregate, Vec<(Anomaly, bool)>), ApiError> {
    let wanted = RecordId::parse(id);
    let a = s
        .sink()
        .aggregates(None)
        .map_err(ApiError::store)?
        .into_iter()
        .find(|a| a.id == wanted)
        .ok_or_else(|| ApiError::not_found(format!("no aggregate with id {id}")))?;
    let ids: BTreeSet<&RecordId> = a.draft.member_ids.iter().collect();
    let (all, _) = read_anomalies(
        config,
        s,
        std::slice::from_ref(&a.input_source),
        i64::MIN,
        i64::MAX,
    )?;
    let members = all
        .into_iter()
        .filter(|(m, _)| ids.contains(&m.record.id))
        .collect();
    Ok((a, members))
}

/// Query of `GET /api/feedback`.
#[derive(Debug, Deserialize)]
pub struct FeedbackQuery {
    source: Option<String>,
    include_undone: Option<bool>,
}

/// A mark's `who` as stored: the name, then the reason on a line of its own when one was
/// given (every backend keeps `who` as text, so the reason needs no new column).
fn stored_who(name: &str, reason: Option<&str>) -> String {
    let name: String = name
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    match reason.map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) => format!("{name}\n{}", r.chars().take(1000).collect::<String>()),
        None => name,
    }
}

fn feedback_json(f: &Feedback) -> Value {
    let (who, reason) = match f.mark.who.split_once('\n') {
        Some((w, r)) => (w, Some(r)),
        None => (f.mark.who.as_str(), None),
    };
    json!({
        "id": f.id,
        "source": f.mark.source,
        "host": f.mark.host,
        "record_id": f.mark.record_id.as_ref().map(ToString::to_string),
        "message": f.mark.message,
        "template": f.mark.template,
        "who": who,
        "reason": reason,
        "at": format_rfc3339_millis(f.mark.at_ms),
        "undone_at": f.undone_at_ms.map(format_rfc3339_millis),
    })
}

/// `GET /api/feedback`: active marks, oldest first (`include_undone=true` adds undone ones).
pub async fn list_feedback(
    State(app): State<AppState>,
    Query(q): Query<FeedbackQuery>,
) -> Result<Json<Value>, ApiError> {
    app.with_stores(move |_, s| {
        let source = q.source.as_deref().filter(|s| !s.is_empty());
        let marks = s
            .source
            .list_feedback(source, q.include_undone.unwrap_or(false))
            .map_err(ApiError::store)?;
        Ok(Json(
            json!({ "items": marks.iter().map(feedback_json).collect::<Vec<_>>() }),
        ))
    })
    .await
}

/// Body of `POST /api/feedback`: a record (`record_id`, optionally its `source`) or an
/// aggregate (`aggregate_id`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackBody {
    source: Option<String>,
    record_id: Option<String>,
    aggregate_id: Option<String>,
    who: Option<String>,
    /// Why the line is not an anomaly (optional, kept with the mark).
    reason: Option<String>,
}

/// `POST /api/feedback`: marks a line or an aggregate "not an anomaly". Answers 201 with the
/// marks created (an aggregate gives one per host among its members).
pub async fn add_feedback(
    State(app): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<FeedbackBody>,
) -> Result<impl IntoResponse, ApiError> {
    // A person's token names them; otherwise the body may, else "web".
    let name = app
        .authorize(&headers, super::Access::Write)?
        .unwrap_or_else(|| {
            body.who
                .clone()
                .filter(|w| !w.trim().is_empty())
                .unwrap_or_else(|| "web".to_string())
        });
    let who = stored_who(&name, body.reason.as_deref());
    let created = app
        .with_stores(move |config, s| {
            let now = pipeline::now_ms();
            let marks: Vec<NewFeedback> = match (&body.record_id, &body.aggregate_id) {
                (Some(rid), None) => {
                    let srcs = sources(s, &body.source)?;
                    let wanted = RecordId::parse(rid);
                    let (all, _) = read_anomalies(config, s, &srcs, i64::MIN, i64::MAX)?;
                    let (a, _) = all
                        .into_iter()
                        .find(|(a, _)| a.record.id == wanted)
                        .ok_or_else(|| {
                            ApiError::not_found(format!(
                                "record {rid} is not among the anomalies of {}",
                                srcs.join(", ")
                            ))
                        })?;
                    let template =
                        lad_core::tokenizer::Tokenizer::new(wiring::tokenizer_mode(config))
                            .tokenize(&a.record.message)
                            .join(" ");
                    vec![NewFeedback {
                        source: a.record.source.clone(),
                        host: a.record.host.clone(),
                        record_id: Some(a.record.id.clone()),
                        message: a.record.message.clone(),
                        template: Some(template),
                        who: who.clone(),
                        at_ms: now,
                    }]
                }
                (None, Some(aid)) => {
                    let (agg, members) = aggregate_members(config, s, aid)?;
                    // One mark per host: its first member's message, and the aggregate's text.
                    let mut per_host: BTreeMap<String, String> = BTreeMap::new();
                    for (m, _) in &members {
                        per_host
                            .entry(m.record.host.clone())
                            .or_insert_with(|| m.record.message.clone());
                    }
                    if per_host.is_empty() {
                        return Err(ApiError::not_found(format!(
                            "aggregate {aid} has no member among the anomalies of {}",
                            agg.input_source
                        )));
                    }
                    per_host
                        .into_iter()
                        .map(|(host, message)| NewFeedback {
                            source: agg.input_source.clone(),
                            host,
                            record_id: None,
                            message,
                            template: Some(agg.draft.message.clone()),
                            who: who.clone(),
                            at_ms: now,
                        })
                        .collect()
                }
                _ => {
                    return Err(ApiError::bad_request(
                        "expected a JSON body with exactly one of record_id and aggregate_id",
                    ))
                }
            };
            let mut created = Vec::new();
            for m in marks {
                let id = s.source.add_feedback(&m).map_err(ApiError::store)?;
                created.push(Feedback {
                    id,
                    mark: m,
                    undone_at_ms: None,
                });
            }
            Ok(created)
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "created": created.iter().map(feedback_json).collect::<Vec<_>>() })),
    ))
}

/// `POST /api/feedback/{id}/undo`.
pub async fn undo_feedback(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    app.authorize(&headers, super::Access::Write)?;
    app.with_stores(move |_, s| {
        if s.source
            .undo_feedback(id, pipeline::now_ms())
            .map_err(ApiError::store)?
        {
            Ok(Json(json!({ "undone": id })))
        } else {
            Err(ApiError::not_found(format!(
                "no active feedback mark with id {id}"
            )))
        }
    })
    .await
}

/// Query of `GET /api/incidents`.
#[derive(Debug, Deserialize)]
pub struct IncidentListQuery {
    source: Option<String>,
    host: Option<String>,
    state: Option<String>,
    severity: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

fn no_incidents(backend: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        format!("the {backend} store keeps no incidents"),
    )
}

/// `GET /api/incidents`: incidents whose time span overlaps `[from, to)`, newest last line
/// first, filtered by source, host, state (`open`, `acknowledged`, `muted`, `resolved`,
/// `pending`, `expired`, or `active` for the first three) and severity, paged.
pub async fn incidents(
    State(app): State<AppState>,
    Query(q): Query<IncidentListQuery>,
) -> Result<Json<Value>, ApiError> {
    let from = opt_time("from", &q.from)?.unwrap_or(i64::MIN);
    let to = opt_time("to", &q.to)?.unwrap_or(i64::MAX);
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let offset = q.offset.unwrap_or(0);
    let state = q
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    if let Some(s) = &state {
        if s != "active" && lad_core::incident::IncidentState::parse(s).is_none() {
            return Err(ApiError::bad_request(format!(
                "parameter state: expected open, acknowledged, muted, resolved, pending, expired or active, found {s:?}"
            )));
        }
    }
    app.with_stores(move |_, s| {
        let store = s.sink();
        if !store.has_incidents() {
            return Err(no_incidents(store.backend()));
        }
        // The store knows open, resolved, pending and expired; marks are applied here.
        let stored_state = match state.as_deref() {
            Some(s @ ("resolved" | "pending" | "expired")) => Some(s.to_string()),
            Some(_) => Some("open".to_string()),
            None => None,
        };
        let all = store
            .incidents(&lad_store::IncidentQuery {
                source: q.source.clone().filter(|s| !s.is_empty()),
                state: stored_state,
                from_ms: from,
                to_ms: to,
                max: usize::MAX,
            })
            .map_err(ApiError::store)?;
        let now = pipeline::now_ms();
        let host = q.host.as_deref().filter(|h| !h.is_empty());
        let severity = q.severity.as_deref().filter(|h| !h.is_empty());
        let matching: Vec<Value> =
            all.iter()
                .filter(|i| host.is_none_or(|h| i.hosts.iter().any(|x| x == h)))
                .map(|i| crate::wire::incident_json(i, now))
                .filter(|v| match state.as_deref() {
                    None => true,
                    Some("active") => ["open", "acknowledged", "muted"]
                        .contains(&v["state"].as_str().unwrap_or("")),
                    Some(s) => v["state"] == s,
                })
                .filter(|v| severity.is_none_or(|s| v["severity"] == s))
                .collect();
        let total = matching.len();
        let items: Vec<Value> = matching.into_iter().skip(offset).take(limit).collect();
        Ok(Json(json!({
            "total": total,
            "offset": offset,
            "limit": limit,
            "items": items,
        })))
    })
    .await
}

/// `GET /api/incidents/{id}`.
pub async fn incident(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    app.with_stores(move |_, s| {
        let store = s.sink();
        if !store.has_incidents() {
            return Err(no_incidents(store.backend()));
        }
        match store.incident(&id).map_err(ApiError::store)? {
            Some(i) => Ok(Json(crate::wire::incident_json(&i, pipeline::now_ms()))),
            None => Err(ApiError::not_found(format!("no incident with id {id}"))),
        }
    })
    .await
}

/// Body of `POST /api/incidents/{id}/acknowledge`.
#[derive(Debug, Default, Deserialize)]
pub struct AcknowledgeBody {
    who: Option<String>,
    /// Take the acknowledgement back.
    #[serde(default)]
    undo: bool,
}

/// Body of `POST /api/incidents/{id}/mute`: `until` (a time) or `for_s` (seconds from now);
/// neither unmutes.
#[derive(Debug, Default, Deserialize)]
pub struct MuteBody {
    until: Option<String>,
    for_s: Option<u64>,
}

/// A mark to set on an incident.
enum IncidentMark {
    Acknowledge(Option<String>),
    Mute(Option<i64>),
}

/// Sets a mark through the daemon's incident book when there is one (so its tracker keeps
/// it), else on the stored incident.
async fn mark_incident(
    app: &AppState,
    id: String,
    mark: IncidentMark,
) -> Result<Json<Value>, ApiError> {
    let failed = |e: anyhow::Error| ApiError::unavailable(crate::error::chain(&e));
    let done = if let Some(book) = app.state.incidents().cloned() {
        let id = id.clone();
        tokio::task::spawn_blocking(move || match mark {
            IncidentMark::Acknowledge(who) => book.acknowledge(&id, who.as_deref()),
            IncidentMark::Mute(until) => book.mute(&id, until),
        })
        .await
        .map_err(|e| ApiError::internal(format!("a store task failed: {e}")))?
        .map_err(failed)?
    } else {
        let id = id.clone();
        app.with_stores(move |_, s| {
            if !s.sink().has_incidents() {
                return Err(no_incidents(s.sink().backend()));
            }
            crate::incidents::mark_stored(s, &id, |i| match mark {
                IncidentMark::Acknowledge(who) => i.acknowledged_by = who,
                IncidentMark::Mute(until) => i.muted_until_ms = until,
            })
            .map_err(failed)
        })
        .await?
    };
    match done {
        Some(i) => Ok(Json(crate::wire::incident_json(&i, pipeline::now_ms()))),
        None => Err(ApiError::not_found(format!("no incident with id {id}"))),
    }
}

/// `POST /api/incidents/{id}/acknowledge`: `{"who": name}` acknowledges, `{"undo": true}` takes
/// it back. Answers the incident.
pub async fn acknowledge_incident(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Option<Json<AcknowledgeBody>>,
) -> Result<Json<Value>, ApiError> {
    let name = app.authorize(&headers, super::Access::Write)?;
    let body = body.map(|b| b.0).unwrap_or_default();
    let who = if body.undo {
        None
    } else {
        let who = name.unwrap_or_else(|| {
            body.who
                .filter(|w| !w.trim().is_empty())
                .unwrap_or_else(|| "web".to_string())
        });
        Some(stored_who(&who, None))
    };
    mark_incident(&app, id, IncidentMark::Acknowledge(who)).await
}

/// `POST /api/incidents/{id}/mute`: mutes until `until` or for `for_s` seconds; an empty body
/// unmutes. Answers the incident.
pub async fn mute_incident(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Option<Json<MuteBody>>,
) -> Result<Json<Value>, ApiError> {
    app.authorize(&headers, super::Access::Write)?;
    let body = body.map(|b| b.0).unwrap_or_default();
    let until = match (&body.until, body.for_s) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "expected at most one of until and for_s",
            ))
        }
        (Some(t), None) => Some(parse_time("until", t)?),
        (None, Some(s)) => {
            let s = i64::try_from(s).unwrap_or(i64::MAX).min(MAX_TIME_MS / 1000);
            Some(pipeline::now_ms().saturating_add(s * 1000).min(MAX_TIME_MS))
        }
        (None, None) => None,
    };
    mark_incident(&app, id, IncidentMark::Mute(until)).await
}
