//! Scoring many lines of many hosts at once: lines are grouped by host, every group is cut into
//! tasks of [`LINES_PER_TASK`] lines, and all tasks run in parallel on the caller's rayon pool,
//! each with a scorer of its host's model. Main items: [`score_by_host`], [`score_each_group`].
//!
//! A verdict never depends on how lines were split into tasks: the model holds the components
//! of its training sequences and remembers those of novel ones, both pure functions of the
//! model. This module picks no thread count (the caller's pool does) and does no I/O.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::detector::{HostModel, Scored};

/// Scores `messages[i]` (sent by `hosts[i]`) with the model `model_of` gives for its host
/// (through [`score_each_group`], so in parallel tasks); the results come back in input order,
/// `None` where the host has no model. With `explain`, every verdict carries its severity (see
/// [`HostModel::explaining_scorer`]). Batches of the daemon use it; the offline `lad score`
/// instead gives each part of its input, parsed, scored and written by one task, a scorer per
/// host.
pub fn score_by_host<'m>(
    hosts: &[&str],
    messages: &[&str],
    explain: bool,
    model_of: impl Fn(&str) -> Option<&'m HostModel> + Sync,
) -> Vec<Option<Scored>> {
    // A hash map finds each line's group (a batch may hold thousands of hosts).
    let mut slot_of: FxHashMap<&str, usize> = FxHashMap::default();
    let mut groups: Vec<(&str, Vec<usize>)> = Vec::new();
    for (i, &h) in hosts.iter().enumerate() {
        let slot = *slot_of.entry(h).or_insert_with(|| {
            groups.push((h, Vec::new()));
            groups.len() - 1
        });
        groups[slot].1.push(i);
    }
    let scored = score_each_group(&groups, messages, explain, model_of);
    let mut out = vec![None; messages.len()];
    for ((_, idx), scored) in groups.iter().zip(scored) {
        for (&i, s) in idx.iter().zip(scored.into_iter().flatten()) {
            out[i] = Some(s);
        }
    }
    out
}

/// Lines scored by one task: hosts are cut into pieces of this many lines, so that the
/// threads share the work evenly whatever the number and size of hosts (a scorer is cheap to
/// start: the model holds the components of known sequences).
pub const LINES_PER_TASK: usize = 2048;

/// The verdicts of each group's lines, in the group's order (`None` for a group whose host
/// has no model). Every group is cut into tasks of 2,048 lines (`LINES_PER_TASK`), all run
/// in parallel on the current rayon pool.
pub fn score_each_group<'m>(
    groups: &[(&str, Vec<usize>)],
    messages: &[&str],
    explain: bool,
    model_of: impl Fn(&str) -> Option<&'m HostModel> + Sync,
) -> Vec<Option<Vec<Scored>>> {
    let models: Vec<Option<&HostModel>> = groups.iter().map(|(host, _)| model_of(host)).collect();
    let tasks: Vec<(usize, &HostModel, &[usize])> = groups
        .iter()
        .zip(&models)
        .enumerate()
        .filter_map(|(g, ((_, idx), model))| Some((g, (*model)?, idx)))
        .flat_map(|(g, model, idx)| idx.chunks(LINES_PER_TASK).map(move |part| (g, model, part)))
        .collect();
    let done: Vec<(usize, Vec<Scored>)> = tasks
        .into_par_iter()
        .map(|(g, model, part)| {
            let mut scorer = if explain {
                model.explaining_scorer()
            } else {
                model.scorer()
            };
            (g, part.iter().map(|&i| scorer.score(messages[i])).collect())
        })
        .collect();
    let mut out: Vec<Option<Vec<Scored>>> = groups
        .iter()
        .zip(&models)
        .map(|((_, idx), m)| m.map(|_| Vec::with_capacity(idx.len())))
        .collect();
    // Tasks come back in order, so each group's pieces are appended in order.
    for (g, scored) in done {
        if let Some(v) = out.get_mut(g).and_then(Option::as_mut) {
            v.extend(scored);
        }
    }
    out
}
