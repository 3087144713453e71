//! The aggregation pass (SPEC section 5): the not yet aggregated anomalies of a window are
//! grouped into templates, and each group becomes one aggregate with the old schema's fields
//! (total, average time and score, most frequent host) whose members are linked to it. Main
//! items: [`aggregate`], [`aggregation_pairs`], [`draft`].
//!
//! Grouping itself is lad-core's ([`lad_core::aggregate::group`]); this module computes what an
//! aggregate carries and reads and writes through the state store. Re-running over the same
//! window creates no duplicates: members already linked are left out.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use lad_core::aggregate::group;
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
    let from = now_ms.saturating_sub(config.aggr_time_span.as_millis() as i64);
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
        let grouping = group(&messages, &params).context("grouping anomalies")?;
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
