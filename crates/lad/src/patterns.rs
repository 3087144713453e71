//! Patterns of every (source, host) as the running system keeps them (SPEC section 10).
//!
//! A model carries the patterns mined over its training window ([`crate::pipeline::train`]).
//! [`PatternBook`], an observer of scored batches, starts each host's live patterns from its
//! model's and feeds them every scored line (the body, with the syslog header split off, at the
//! line's time), so the patterns and their counts per time bucket cover every line lad has
//! seen (a scored line at or before the newest line of the model's window was counted by the
//! model already and is not counted twice). It checkpoints them beside the model ([`crate::models::save_patterns`]) when asked
//! (the daemon does after every pass and when it stops); a retrained model restarts a host's
//! live patterns from the new model's, whose window holds the lines scored before it.
//!
//! [`saved`] reads what is on disk (the checkpoint when it is newer than the model, else the
//! model's own patterns): `lad patterns` and `GET /api/patterns` use it, so neither needs the
//! daemon. Pattern ids are content hashes, so they agree across restarts, retraining and
//! instances. This module never scores and never writes to a store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use lad_core::detector::HostModel;
use lad_core::pattern::{Miner, PatternId, TemplateFormat};
use lad_core::syslog;
use tracing::warn;

use crate::models::{self, HostKey, ModelRepo, ModelStoreError};
use crate::pipeline::ScoredBatch;

/// The live patterns of one host and the model they started from.
struct Live {
    miner: Miner,
    model: Arc<HostModel>,
    /// The time of the newest line of the model's training window: scored lines at or before
    /// it were counted by the model's patterns already (a fresh store scores the very lines it
    /// trained on), so they are not counted twice.
    counted_until: i64,
    /// The start of the model's training window (its earliest pattern line), if it has lines.
    window_start: Option<i64>,
    dirty: bool,
}

/// One host's patterns as [`PatternBook::observe_each`] and [`PatternBook::with_host`] hand
/// them out: the live miner, the model's (its training window's) and when that window began.
pub struct HostPatterns<'a> {
    /// The source.
    pub source: &'a str,
    /// The host.
    pub host: &'a str,
    /// Every line seen so far.
    pub live: &'a Miner,
    /// The lines of the model's training window.
    pub trained: &'a Miner,
    /// The start of the training window.
    pub window_start_ms: Option<i64>,
}

/// The live patterns of every host that scored lines, fed by scored batches.
pub struct PatternBook {
    base_dir: PathBuf,
    models: Arc<ModelRepo>,
    live: Mutex<BTreeMap<HostKey, Live>>,
}

impl PatternBook {
    /// An empty book over the models of `models`, checkpointing under `base_dir`.
    pub fn new(base_dir: &Path, models: Arc<ModelRepo>) -> Self {
        PatternBook {
            base_dir: base_dir.to_path_buf(),
            models,
            live: Mutex::new(BTreeMap::new()),
        }
    }

    /// Feeds every record of a scored batch to its host's live patterns.
    pub fn observe(&self, batch: &ScoredBatch) {
        self.observe_each(batch, |_, _, _| {});
    }

    /// Feeds every record of a scored batch to its host's live patterns, then calls `each` once
    /// per host of the batch that has a model, with its patterns, its records and their pattern
    /// ids (in the same order). Records the model had counted already are classified, not
    /// counted again.
    pub fn observe_each(
        &self,
        batch: &ScoredBatch,
        mut each: impl FnMut(&HostPatterns<'_>, &[&lad_store::Record], &[PatternId]),
    ) {
        if batch.records.is_empty() {
            return;
        }
        // One lookup per host of the batch, not per line.
        let mut by_host: BTreeMap<&str, Vec<&lad_store::Record>> = BTreeMap::new();
        for r in &batch.records {
            by_host.entry(r.host.as_str()).or_default().push(r);
        }
        let Ok(mut live) = self.live.lock() else {
            return;
        };
        for (host, records) in by_host {
            let key = (batch.source.clone(), host.to_string());
            let Some(model) = self.models.get(&key) else {
                continue;
            };
            let l = match live.entry(key) {
                std::collections::btree_map::Entry::Occupied(o) => {
                    let l = o.into_mut();
                    if !Arc::ptr_eq(&l.model, &model) {
                        // Retrained: the new model's window holds what was scored before it.
                        *l = self.start(&batch.source, host, &model);
                    }
                    l
                }
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(self.start(&batch.source, host, &model))
                }
            };
            let mut ids = Vec::with_capacity(records.len());
            for r in &records {
                let body = syslog::split(&r.message).body;
                if r.time > l.counted_until {
                    ids.push(l.miner.observe(body, r.time));
                    l.dirty = true;
                } else {
                    ids.push(l.miner.classify(body));
                }
            }
            let view = HostPatterns {
                source: &batch.source,
                host,
                live: &l.miner,
                trained: l.model.patterns(),
                window_start_ms: l.window_start,
            };
            each(&view, &records, &ids);
        }
    }

    /// Calls `f` with the patterns of (source, host), starting its live patterns when they were
    /// not started yet; `None` when the host has no model.
    pub fn with_host<T>(
        &self,
        source: &str,
        host: &str,
        f: impl FnOnce(&HostPatterns<'_>) -> T,
    ) -> Option<T> {
        let key = (source.to_string(), host.to_string());
        let model = self.models.get(&key)?;
        let mut live = self.live.lock().ok()?;
        let l = live
            .entry(key)
            .or_insert_with(|| self.start(source, host, &model));
        let view = HostPatterns {
            source,
            host,
            live: &l.miner,
            trained: l.model.patterns(),
            window_start_ms: l.window_start,
        };
        Some(f(&view))
    }

    /// The live patterns of a host seen for the first time: its checkpoint when that is newer
    /// than the model (the daemon restarted), else the model's own.
    fn start(&self, source: &str, host: &str, model: &Arc<HostModel>) -> Live {
        let miner = checkpoint_if_newer(&self.base_dir, source, host)
            .unwrap_or_else(|| model.patterns().clone());
        let counted_until = model
            .patterns()
            .patterns()
            .map(|p| p.stats.last_ms)
            .max()
            .unwrap_or(i64::MIN);
        let window_start = model.patterns().patterns().map(|p| p.stats.first_ms).min();
        Live {
            miner,
            model: Arc::clone(model),
            counted_until,
            window_start,
            dirty: false,
        }
    }

    /// Writes the live patterns that changed since the last checkpoint; returns how many hosts
    /// were written. A host whose file cannot be written is logged and retried next time.
    pub fn checkpoint(&self) -> usize {
        let Ok(mut live) = self.live.lock() else {
            return 0;
        };
        let mut written = 0;
        for ((source, host), l) in live.iter_mut().filter(|(_, l)| l.dirty) {
            match models::save_patterns(&self.base_dir, source, host, &l.miner) {
                Ok(_) => {
                    l.dirty = false;
                    written += 1;
                }
                Err(e) => warn!(source, host, error = %e, "cannot checkpoint the patterns"),
            }
        }
        written
    }
}

/// The checkpoint of (source, host) when it exists, reads, and is not older than the model.
fn checkpoint_if_newer(base: &Path, source: &str, host: &str) -> Option<Miner> {
    let modified = |p: PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let checkpoint = modified(models::patterns_path(base, source, host))?;
    if modified(models::model_path(base, source, host)).is_some_and(|m| m > checkpoint) {
        return None;
    }
    match models::load_patterns(base, source, host) {
        Ok(m) => Some(m),
        Err(e) => {
            warn!(source, host, error = %e, "checkpointed patterns unusable; starting from the model's");
            None
        }
    }
}

/// The saved patterns of (source, host): the checkpoint when it is newer than the model, else
/// the model's own patterns.
pub fn saved(base: &Path, source: &str, host: &str) -> Result<Miner, ModelStoreError> {
    if let Some(m) = checkpoint_if_newer(base, source, host) {
        return Ok(m);
    }
    models::load(base, source, host).map(|m| m.patterns().clone())
}

/// The saved patterns of each of `hosts` as [`crate::wire::pattern_json`] objects, most
/// frequent first within each host; hosts with nothing saved yet are returned apart, with why.
pub fn saved_rows(
    base: &Path,
    hosts: &[HostKey],
    format: TemplateFormat,
) -> (Vec<serde_json::Value>, Vec<(HostKey, ModelStoreError)>) {
    let mut rows = Vec::new();
    let mut missing = Vec::new();
    for (source, host) in hosts {
        match saved(base, source, host) {
            Ok(miner) => {
                let mut views: Vec<_> = miner.patterns().collect();
                views.sort_by(|a, b| b.stats.count.cmp(&a.stats.count).then(a.id.cmp(&b.id)));
                rows.extend(
                    views
                        .iter()
                        .map(|v| crate::wire::pattern_json(source, host, v, format)),
                );
            }
            Err(e) => missing.push(((source.clone(), host.clone()), e)),
        }
    }
    (rows, missing)
}
