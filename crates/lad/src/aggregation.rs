//! The aggregation pass (SPEC section 5): the not yet aggregated anomalies of a window are
//! grouped into templates, and each group becomes one aggregate with the old schema's fields
//! (total, average time and score, most frequent host) whose members are linked to it. Main
//! items: [`aggregate`], [`aggregation_pairs`], [`draft`]. By default anomalies are grouped by
//! the pattern of their body, mined per host from the host's saved patterns on (see
//! `by_host_patterns`); `AGGR_METHOD: dbscan` keeps the old grouping.
//!
//! Grouping itself is lad-core's ([`lad_core::aggregate::group`]); this module computes what an
//! aggregate carries and reads and writes through the state store. Re-running over the same
//! window creates no duplicates: members already linked are left out.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use lad_core::aggregate::{group, AggregateParams, Grouping, GroupingMethod};
use lad_core::pattern::{lexer, render, Miner, TemplateFormat};
use lad_core::syslog;
use lad_store::{AggregateDraft, Anomaly, Store};

use crate::config::Config;
use crate::wiring::{aggregate_params, Stores};

/// What one aggregation pass did for one input.
#[derive(Debug)]
pub struct AggregateOutcome {
    /// Input source (collection / table).
    pub input: String,
    /// Where the aggregates went.
    pub target: String,
    /// Anomalies grouped.
    pub anomalies: usize,
    /// Aggregates created.
    pub created: usize,
}

/// The (input, target) pairs to aggregate: the configured lists, or every source into
/// `<source>_aggregated` for the embedded store and files.
pub fn aggregation_pairs(config: &Config, store: &mut Store) -> Result<Vec<(String, String)>> {
    if !config.aggregation_targets.is_empty() {
        return Ok(config
            .aggregation_targets
            .iter()
            .map(|t| (t.input.clone(), t.target.clone()))
            .collect());
    }
    Ok(store
        .list_sources()?
        .into_iter()
        .map(|s| {
            let target = format!("{s}_aggregated");
            (s, target)
        })
        .collect())
}

/// Groups the not yet aggregated anomalies of `[now - AGGR_TIME_SPAN, now)` of each input and
/// writes one aggregate per group, linking its members.
pub fn aggregate(
    config: &Config,
    stores: &mut Stores,
    now_ms: i64,
) -> Result<Vec<AggregateOutcome>> {
    let pairs = aggregation_pairs(config, &mut stores.source)?;
    let params = aggregate_params(config);
    let from = crate::pipeline::window_start(now_ms, config.aggr_time_span);
    let mut outcomes = Vec::new();
    for (input, target) in pairs {
        let anomalies: Vec<_> = stores
            .sink()
            .anomalies(&input, from, now_ms, config.aggr_max_entries)
            .with_context(|| format!("reading anomalies of {input}"))?
            .into_iter()
            .filter(|a| a.aggregate_id.is_none())
            .collect();
        if anomalies.is_empty() {
            outcomes.push(AggregateOutcome {
                input,
                target,
                anomalies: 0,
                created: 0,
            });
            continue;
        }
        let messages: Vec<&str> = anomalies
            .iter()
            .map(|a| a.record.message.as_str())
            .collect();
        let grouping = match params.method {
            GroupingMethod::Templates => {
                let patterns_of = source_of_anomaly_table(config, &input).unwrap_or(&input);
                by_host_patterns(&config.model_base_dir, patterns_of, &anomalies, &params)?
            }
            GroupingMethod::Dbscan => group(&messages, &params).context("grouping anomalies")?,
        };
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); grouping.templates.len()];
        for (i, &g) in grouping.labels.iter().enumerate() {
            members[g].push(i);
        }
        let drafts: Vec<AggregateDraft> = members
            .iter()
            .zip(&grouping.templates)
            .filter(|(m, _)| !m.is_empty())
            .map(|(m, template)| draft(&anomalies, m, template, now_ms))
            .collect();
        let created = stores
            .sink()
            .write_aggregates(&input, &target, &drafts)
            .with_context(|| format!("writing aggregates of {input} to {target}"))?
            .iter()
            .filter(|id| id.is_some())
            .count();
        outcomes.push(AggregateOutcome {
            input,
            target,
            anomalies: anomalies.len(),
            created,
        });
    }
    Ok(outcomes)
}

/// The source whose anomalies go to MySQL table `table` (`MYSQL_TARGET_TABLE`, default
/// `<source>_anomalies`), when an old `aggregator.yaml` names that table in
/// `MYSQL_INPUT_TABLES`: its hosts' saved patterns then group the anomalies.
fn source_of_anomaly_table<'a>(config: &'a Config, table: &str) -> Option<&'a str> {
    if config.log_sources.contains_key(table) {
        return None;
    }
    config
        .log_sources
        .iter()
        .find(|(source, s)| {
            let target = s
                .mysql_target_table
                .clone()
                .or_else(|| config.mysql_target.table.clone())
                .unwrap_or_else(|| format!("{source}_anomalies"));
            target == table
        })
        .map(|(source, _)| source.as_str())
}

/// The aggregate of the anomalies `members` (indices into `anomalies`) with text `template`:
/// their count, average time and score, and the most frequent host (ties go to the first name
/// in order, so the result is deterministic).
pub fn draft(
    anomalies: &[Anomaly],
    members: &[usize],
    template: &str,
    now_ms: i64,
) -> AggregateDraft {
    let n = members.len().max(1) as f64;
    let mut hosts: BTreeMap<&str, usize> = BTreeMap::new();
    for &i in members {
        *hosts.entry(anomalies[i].record.host.as_str()).or_default() += 1;
    }
    let most = hosts
        .iter()
        .fold(
            ("", 0usize),
            |best, (h, c)| if *c > best.1 { (h, *c) } else { best },
        )
        .0
        .to_string();
    AggregateDraft {
        message: template.to_string(),
        total_logs: members.len() as u64,
        average_time_ms: (members
            .iter()
            .map(|&i| anomalies[i].record.time as f64)
            .sum::<f64>()
            / n)
            .round() as i64,
        average_anomaly_score: members.iter().map(|&i| anomalies[i].score).sum::<f64>() / n,
        most_frequent_hostname: most,
        was_added_at_ms: now_ms,
        member_ids: members
            .iter()
            .map(|&i| anomalies[i].record.id.clone())
            .collect(),
    }
}

/// Groups anomalies by the pattern of their body, mined per host: each host's saved patterns
/// (the patterns of all its lines, so a field that varies in routine traffic is a variable
/// however few anomalies show it) go on learning from the host's anomalies (so two failed
/// logins with four user names are one pattern too). Hosts without saved patterns share one
/// miner over their anomalies, as `group` would mine them. Anomalies whose body templates are
/// equal are one group across hosts; its text is the members' header with its varying parts as
/// one `***`, then the body template.
fn by_host_patterns(
    model_base_dir: &Path,
    source: &str,
    anomalies: &[Anomaly],
    params: &AggregateParams,
) -> Result<Grouping> {
    let fresh = Miner::new(params.patterns.check()?);
    let mut miners: BTreeMap<&str, Miner> = BTreeMap::new();
    let mut fallback = fresh.clone();
    let splits: Vec<syslog::Split<'_>> = anomalies
        .iter()
        .map(|a| syslog::split(&a.record.message))
        .collect();
    for a in anomalies {
        let host = a.record.host.as_str();
        if !miners.contains_key(host) {
            if let Ok(m) = crate::patterns::saved(model_base_dir, source, host) {
                miners.insert(host, m);
            }
        }
    }
    for (a, s) in anomalies.iter().zip(&splits) {
        match miners.get_mut(a.record.host.as_str()) {
            Some(m) => m.observe(s.body, a.record.time),
            None => fallback.observe(s.body, a.record.time),
        };
    }
    let mut label_of: BTreeMap<String, usize> = BTreeMap::new();
    let mut groups: Vec<(String, Vec<Option<syslog::Header<'_>>>)> = Vec::new();
    let mut labels = Vec::with_capacity(anomalies.len());
    for (a, s) in anomalies.iter().zip(&splits) {
        let miner = miners.get(a.record.host.as_str()).unwrap_or(&fallback);
        let id = miner.classify(s.body);
        let body = match miner.get(id) {
            Some(p) => p.template(TemplateFormat::Stars),
            None => render(lexer::lex(s.body).text(), TemplateFormat::Stars),
        };
        let next = groups.len();
        let label = *label_of.entry(body.clone()).or_insert(next);
        if label == next {
            groups.push((body, Vec::new()));
        }
        groups[label].1.push(s.header);
        labels.push(label);
    }
    let templates = groups
        .iter()
        .map(|(body, headers)| syslog::aggregate_message(headers, body))
        .collect();
    Ok(Grouping { labels, templates })
}
