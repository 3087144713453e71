//! `lad demo`: zero set-up. Fills a fresh embedded store with the bundled synthetic syslog of
//! [`lad_demo`] (two days of normal traffic from five hosts, then two live hours with
//! injected incidents), trains one model per host on the two days, scores everything, groups
//! the anomalies and prints a short report a newcomer can read.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use lad_store::NewRecord;

use crate::config::Config;
use crate::models::ModelRepo;
use crate::patterns::PatternBook;
use crate::pipeline::{self, TrainOutcome};
use crate::runtime::BatchObserver;
use lad_demo::{self as demo_data, DemoSpec};
use std::sync::Arc;

/// The source the demo logs are imported into.
pub const DEMO_SOURCE: &str = "syslog";

/// Runs the demo in `dir` (created; a previous demo there is replaced).
pub fn run(dir: &Path, serve: bool, quiet: bool) -> Result<()> {
    // The server's settings are checked before anything is generated, trained or replaced:
    // a public address without a token, or a busy port, fails at once.
    let serving = if serve { Some(serve_settings()?) } else { None };
    let mut config = demo_config(dir)?;
    if let Some((addr, token)) = serving {
        config.http_addr = addr;
        config.http_token = token;
    }
    let report = fill_and_run(&config, pipeline::now_ms(), quiet)?;
    print!("{}", report.text);
    if serve {
        // The daemon over the demo store: it loads the demo's models, scores whatever arrives
        // and serves the page and the API on HTTP_ADDR until Ctrl-C.
        println!(
            "\nServing the web interface on http://{} (Ctrl-C to stop)",
            config.http_addr
        );
        return crate::daemon::run(config);
    }
    Ok(())
}

/// The address and token `demo --serve` serves with. The demo has no config file, so they
/// come from the environment (`LAD_HTTP_ADDR`, `LAD_HTTP_TOKEN`), as every key can. Fails,
/// before the demo does any work, when the address is reachable from other machines without a
/// token, or cannot be bound.
fn serve_settings() -> Result<(std::net::SocketAddr, Option<crate::config::Secret>)> {
    let mut config = Config::embedded_default().map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Ok(addr) = std::env::var("LAD_HTTP_ADDR") {
        config.http_addr = addr.parse().map_err(|_| {
            crate::error::UsageError(format!(
                "LAD_HTTP_ADDR: expected a socket address such as 127.0.0.1:9184, found {addr:?}"
            ))
        })?;
    }
    if let Ok(token) = std::env::var("LAD_HTTP_TOKEN") {
        config.http_token = Some(crate::config::Secret::new(token));
    }
    crate::http::check_exposure(config.http_addr, &config)
        .map_err(|e| crate::error::UsageError(e.to_string()))?;
    // Bound and released at once: a busy port is found now, not after the demo's work.
    std::net::TcpListener::bind(config.http_addr)
        .with_context(|| format!("cannot listen on HTTP_ADDR {}", config.http_addr))?;
    Ok((config.http_addr, config.http_token))
}

/// The configuration the demo runs with: the embedded default, inside `dir`.
pub fn demo_config(dir: &Path) -> Result<Config> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut config = Config::embedded_default().map_err(|e| anyhow::anyhow!("{e}"))?;
    config.sqlite_path = dir.join("lad.db");
    config.model_base_dir = dir.join("models");
    for stale in ["lad.db", "lad.db-wal", "lad.db-shm"] {
        let p = dir.join(stale);
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("cannot remove {}", p.display()))?;
        }
    }
    if config.model_base_dir.exists() {
        std::fs::remove_dir_all(&config.model_base_dir)
            .with_context(|| format!("cannot remove {}", config.model_base_dir.display()))?;
    }
    Ok(config)
}

/// How the demo's live hours were judged, per injected incident and for routine lines: the
/// ground truth of [`lad_demo::DemoRecord::injected`] against the verdicts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DemoReport {
    /// Per incident name: (lines injected, lines flagged).
    pub incidents: BTreeMap<&'static str, (usize, usize)>,
    /// How the flagged lines were grouped into incidents (when the store keeps them).
    pub incident_summary: Option<IncidentSummary>,
    /// Routine (not injected) lines of the live hours.
    pub routine_lines: usize,
    /// Of which flagged.
    pub routine_flagged: usize,
    /// The report a person reads.
    pub text: String,
}

/// How the demo's anomalies of the live hours were grouped into incidents.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IncidentSummary {
    /// Per injected incident: the incidents its flagged lines joined that opened (1 is the
    /// goal; pending and expired ones are not counted: they page nobody).
    pub per_injected: BTreeMap<&'static str, usize>,
    /// Incidents of the live hours that opened and hold no injected line (0 is the goal).
    pub routine: usize,
    /// Incidents of the live hours that never opened (pending or expired: one `info` line) and
    /// hold no injected line.
    pub routine_pending: usize,
    /// Incidents of the live hours that opened.
    pub total: usize,
    /// Flagged lines of the live hours that joined an incident.
    pub lines_grouped: usize,
}

/// Imports the demo logs ending at `now_ms`, trains, detects, aggregates, and returns the report.
pub fn fill_and_run(config: &Config, now_ms: i64, quiet: bool) -> Result<DemoReport> {
    let spec = DemoSpec {
        end_ms: now_ms,
        ..DemoSpec::default()
    };
    let live_start = now_ms - i64::from(spec.live_hours) * 3_600_000;
    let records = demo_data::generate(&spec);
    let bar = crate::telemetry::progress(4, "demo", quiet);
    let mut stores = crate::wiring::open_for_scoring(config)?;
    let new: Vec<NewRecord> = records
        .iter()
        .map(|r| NewRecord {
            original_id: None,
            host: r.host.clone(),
            time: r.time_ms,
            message: r.message.clone(),
            extra: serde_json::Map::new(),
        })
        .collect();
    stores.source.import(DEMO_SOURCE, &new)?;
    bar.inc(1);

    // Train on the two quiet days only: the models learn what normal was before the live hours.
    let hosts = pipeline::host_pairs(config, &mut stores.source)?;
    let trained = pipeline::train(config, &mut stores.source, &hosts, live_start)?;
    bar.inc(1);
    let models: pipeline::Models = trained
        .iter()
        .filter_map(|(k, _, m)| m.clone().map(|m| (k.clone(), m)))
        .collect();
    // Scored batches go to the pattern (and incident) observer, as in `lad run`.
    let repo = Arc::new(ModelRepo::new(&config.model_base_dir));
    repo.put(models.clone());
    let book = Arc::new(PatternBook::new(&config.model_base_dir, Arc::clone(&repo)));
    let (follow, incident_book) = crate::runtime::pattern_observer(config, &book);
    let mut total = pipeline::DetectStats::default();
    loop {
        let batch = pipeline::detect_batch(config, &mut stores, DEMO_SOURCE, &models)?;
        let s = batch.stats;
        follow.observe(&batch);
        total.add(s);
        if s.read == 0 {
            break;
        }
    }
    book.checkpoint();
    bar.inc(1);
    let aggregated = crate::aggregation::aggregate(config, &mut stores, now_ms)?;
    bar.finish_and_clear();

    // What was flagged in the live hours, by host and by injected incident.
    let anomalies = stores
        .sink()
        .anomalies(DEMO_SOURCE, live_start, now_ms + 1, usize::MAX)?;
    let flagged: std::collections::HashSet<(String, i64, String)> = anomalies
        .iter()
        .map(|a| {
            (
                a.record.host.clone(),
                a.record.time,
                a.record.message.clone(),
            )
        })
        .collect();
    // Each flagged line's incident.
    let links: std::collections::HashMap<lad_store::RecordId, String> = if incident_book.is_some() {
        stores
            .sink()
            .incident_links(DEMO_SOURCE, i64::MIN, i64::MAX)?
            .into_iter()
            .map(|l| (l.record_id, l.incident_id))
            .collect()
    } else {
        std::collections::HashMap::new()
    };
    let incident_of: std::collections::HashMap<(String, i64, String), &String> = anomalies
        .iter()
        .filter_map(|a| {
            links.get(&a.record.id).map(|i| {
                (
                    (
                        a.record.host.clone(),
                        a.record.time,
                        a.record.message.clone(),
                    ),
                    i,
                )
            })
        })
        .collect();
    let mut groups: BTreeMap<&'static str, std::collections::BTreeSet<String>> = BTreeMap::new();
    let mut by_host: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut incidents: BTreeMap<&'static str, (usize, usize)> = BTreeMap::new();
    let mut false_alarms = 0usize;
    let mut routine_lines = 0usize;
    for r in records.iter().filter(|r| r.time_ms >= live_start) {
        let hit = flagged.contains(&(r.host.clone(), r.time_ms, r.message.clone()));
        let e = by_host.entry(&r.host).or_default();
        e.0 += 1;
        e.1 += usize::from(hit);
        let key = (r.host.clone(), r.time_ms, r.message.clone());
        if let (Some(name), Some(incident)) = (r.injected, incident_of.get(&key)) {
            groups.entry(name).or_default().insert((*incident).clone());
        }
        match r.injected {
            Some(name) => {
                let i = incidents.entry(name).or_default();
                i.0 += 1;
                i.1 += usize::from(hit);
            }
            None => {
                routine_lines += 1;
                false_alarms += usize::from(hit);
            }
        }
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "lad demo: {} synthetic syslog lines from {} hosts in {}",
        records.len(),
        by_host.len(),
        config.sqlite_path.display()
    );
    let _ = writeln!(
        out,
        "  trained one model per host on the {} quiet hours before the last {} (models in {})",
        spec.training_hours,
        spec.live_hours,
        config.model_base_dir.display()
    );
    for ((_, host), outcome, _) in &trained {
        if let TrainOutcome::Trained { lines, seconds, .. } = outcome {
            let _ = writeln!(out, "    {host:<10} {lines:>6} lines  {seconds:.2} s");
        }
    }
    let _ = writeln!(
        out,
        "  scored {} lines, {} flagged in all",
        total.scored, total.flagged
    );
    let _ = writeln!(
        out,
        "\nLast {} hours, per host (lines / flagged):",
        spec.live_hours
    );
    for (host, (n, f)) in &by_host {
        let _ = writeln!(out, "  {host:<10} {n:>6} / {f}");
    }
    let _ = writeln!(
        out,
        "\nInjected incidents (lines flagged / lines injected):"
    );
    for (name, (n, f)) in &incidents {
        let _ = writeln!(out, "  {name:<18} {f:>3} / {n}");
    }
    let _ = writeln!(out, "  routine lines flagged: {false_alarms}");
    let mut incident_summary = None;
    if incident_book.is_some() {
        let stored = stores.sink().incidents(&lad_store::IncidentQuery {
            source: Some(DEMO_SOURCE.into()),
            ..lad_store::IncidentQuery::default()
        })?;
        let of_injected: std::collections::BTreeSet<&String> = groups.values().flatten().collect();
        // Pending and expired incidents (one info line) never opened: nobody was paged.
        let never_opened: std::collections::BTreeSet<&String> = stored
            .iter()
            .filter(|i| {
                lad_core::incident::IncidentState::parse(&i.state)
                    .is_some_and(lad_core::incident::IncidentState::never_opened)
            })
            .map(|i| &i.id)
            .collect();
        let (routine, routine_pending): (Vec<&lad_store::StoredIncident>, Vec<_>) = stored
            .iter()
            .filter(|i| !of_injected.contains(&i.id) && i.last_seen_ms >= live_start)
            .partition(|i| !never_opened.contains(&i.id));
        let opened_of = |name: &str| {
            groups
                .get(name)
                .map(|g| g.iter().filter(|id| !never_opened.contains(id)).count())
                .unwrap_or(0)
        };
        let total = stored
            .iter()
            .filter(|i| i.last_seen_ms >= live_start && !never_opened.contains(&i.id))
            .count();
        let _ =
            writeln!(
            out,
            "\nIncidents: {total} opened in the last {} hours ({} anomalies grouped); per injected incident:",
            spec.live_hours,
            incident_of.len()
        );
        for name in incidents.keys() {
            let ids = opened_of(name);
            let _ = writeln!(
                out,
                "  {name:<18} {ids} incident{}",
                if ids == 1 { "" } else { "s" }
            );
        }
        let _ = writeln!(
            out,
            "  incidents of routine lines only: {} opened, {} pending or expired (one info line: sent to nobody)",
            routine.len(),
            routine_pending.len()
        );
        for i in routine.iter().chain(&routine_pending).take(5) {
            let text = i
                .body
                .get("explanation")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("");
            let text: String = text.chars().take(110).collect();
            let _ = writeln!(out, "    {} {} {text}", i.id, i.state);
        }
        incident_summary = Some(IncidentSummary {
            per_injected: incidents.keys().map(|n| (*n, opened_of(n))).collect(),
            routine: routine.len(),
            routine_pending: routine_pending.len(),
            total,
            lines_grouped: incident_of.len(),
        });
    }
    let mut aggregates = stores.sink().aggregates(Some(DEMO_SOURCE))?;
    aggregates.sort_by(|a, b| {
        b.draft
            .total_logs
            .cmp(&a.draft.total_logs)
            .then(a.id.cmp(&b.id))
    });
    let made: usize = aggregated.iter().map(|o| o.created).sum();
    let _ = writeln!(
        out,
        "\nTop aggregated templates ({made} aggregates of the anomalies):"
    );
    for a in aggregates.iter().take(8) {
        let msg: String = a.draft.message.chars().take(110).collect();
        let _ = writeln!(
            out,
            "  {:>4} x {:<10} {msg}",
            a.draft.total_logs, a.draft.most_frequent_hostname
        );
    }
    let _ = writeln!(
        out,
        "\nExplore: LAD_SQLITE_PATH={} lad export --anomalies",
        config.sqlite_path.display()
    );
    Ok(DemoReport {
        incidents,
        incident_summary,
        routine_lines,
        routine_flagged: false_alarms,
        text: out,
    })
}
