//! Aggregation: groups messages (normally the anomalies of a window) into templates. Main items:
//! [`group`], [`AggregateParams`], [`GroupingMethod`], [`Grouping`].
//!
//! Two methods exist. [`GroupingMethod::Templates`] (the default) tokenises each message with the
//! masked [`Tokenizer`] and groups it in a Drain-like parse tree: messages are routed by token
//! count and their first tokens, then joined to the most similar template in their leaf, or start
//! a new one. [`GroupingMethod::Dbscan`] is the old system's way (letters-only tokens, Word2Vec
//! mean vectors, DBSCAN; noise points become groups of one), kept in [`legacy`].
//!
//! Either way a group's text is [`build_template`] of its members. Group indices are ordered by
//! the first message of each group, and the same input and parameters always give the same
//! grouping. This module does no I/O and knows nothing of the fields an aggregate carries in the
//! store (counts, average times, hosts): callers compute those from [`Grouping::labels`].

pub mod legacy;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::template::build_template;
use crate::tokenizer::{Tokenizer, TokenizerMode};

/// How messages are grouped.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum GroupingMethod {
    /// Drain-like parse tree over masked tokens (the default).
    #[default]
    Templates,
    /// The old system: Word2Vec mean vectors clustered with DBSCAN.
    Dbscan,
}

/// Settings of [`group`]. The DBSCAN fields mirror the old `AGGR_*` keys; the others tune the
/// template tree.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AggregateParams {
    /// Which grouping runs.
    pub method: GroupingMethod,
    /// DBSCAN neighbourhood radius (`AGGR_EPS`).
    pub eps: f64,
    /// DBSCAN core point size (`AGGR_MIN_SAMPLES`).
    pub min_samples: usize,
    /// Word2Vec dimension for DBSCAN (`AGGR_VECTOR_LENGTH`).
    pub vector_length: usize,
    /// Word2Vec window for DBSCAN (`AGGR_WINDOW`).
    pub window: usize,
    /// Seed of the Word2Vec training for DBSCAN.
    pub seed: u64,
    /// Template tree: share of a template's positions a message must match to join it, in [0, 1].
    pub similarity: f64,
    /// Template tree: how many leading tokens route a message before similarity is compared.
    pub prefix_depth: usize,
    /// Template tree: when at least this many templates of one length differ only at one
    /// position, that position is a variable and they become one group (0 turns this off).
    pub merge_variants: usize,
}

impl Default for AggregateParams {
    fn default() -> Self {
        Self {
            method: GroupingMethod::Templates,
            eps: 0.5,
            min_samples: 5,
            vector_length: 25,
            window: 5,
            seed: 1,
            similarity: 0.85,
            prefix_depth: 1,
            merge_variants: 3,
        }
    }
}

/// Why [`group`] refused its input.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AggregateError {
    /// A parameter is outside its range.
    #[error("aggregation parameter {name}: expected {expected}, found {found}")]
    InvalidParam {
        /// The parameter's name.
        name: &'static str,
        /// What was expected.
        expected: &'static str,
        /// The value given.
        found: String,
    },
}

/// The result of [`group`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grouping {
    /// Group index of each input message, in input order; groups are numbered by first appearance.
    pub labels: Vec<usize>,
    /// The text of each group (`***` where members differ), indexed by group.
    pub templates: Vec<String>,
}

impl AggregateParams {
    fn check(&self) -> Result<(), AggregateError> {
        let invalid = |name, expected, found: String| {
            Err(AggregateError::InvalidParam {
                name,
                expected,
                found,
            })
        };
        if !(0.0..=1.0).contains(&self.similarity) {
            return invalid(
                "similarity",
                "a number in [0, 1]",
                self.similarity.to_string(),
            );
        }
        if self.method == GroupingMethod::Dbscan {
            if !(self.eps.is_finite() && self.eps > 0.0) {
                return invalid("eps", "a finite number above 0", self.eps.to_string());
            }
            if self.min_samples == 0 {
                return invalid("min_samples", "at least 1", "0".to_string());
            }
            if self.vector_length == 0 {
                return invalid("vector_length", "at least 1", "0".to_string());
            }
            if self.window == 0 {
                return invalid("window", "at least 1", "0".to_string());
            }
        }
        Ok(())
    }
}

/// Groups `messages` and builds each group's template.
///
/// # Errors
/// [`AggregateError::InvalidParam`] when a parameter the chosen method uses is out of range.
pub fn group<S: AsRef<str>>(
    messages: &[S],
    params: &AggregateParams,
) -> Result<Grouping, AggregateError> {
    params.check()?;
    let raw = match params.method {
        GroupingMethod::Templates => template_tree(messages, params),
        GroupingMethod::Dbscan => legacy::dbscan_labels(messages, params),
    };
    Ok(finish(messages, &raw))
}

/// Renumbers arbitrary group ids by first appearance and builds the templates.
fn finish<S: AsRef<str>>(messages: &[S], raw: &[usize]) -> Grouping {
    let mut renumber: HashMap<usize, usize> = HashMap::new();
    let mut members: Vec<Vec<&str>> = Vec::new();
    let labels = raw
        .iter()
        .zip(messages)
        .map(|(&id, message)| {
            let next = renumber.len();
            let label = *renumber.entry(id).or_insert(next);
            if label == members.len() {
                members.push(Vec::new());
            }
            members[label].push(message.as_ref());
            label
        })
        .collect();
    let templates = members.iter().map(|m| build_template(m)).collect();
    Grouping { labels, templates }
}

/// A template position: a literal token or a wildcard.
type Slot = Option<u32>;

/// Token strings interned as integers, so comparing templates is cheap.
#[derive(Default)]
struct Interner {
    ids: HashMap<String, u32>,
    placeholder: Vec<bool>,
}

impl Interner {
    fn id(&mut self, token: &str) -> u32 {
        if let Some(&id) = self.ids.get(token) {
            return id;
        }
        let id = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        self.ids.insert(token.to_string(), id);
        // A chunk holding any placeholder is variable.
        self.placeholder.push(
            token
                .split(' ')
                .any(|t| t.starts_with('<') && t.ends_with('>') && t.len() > 2),
        );
        id
    }

    fn is_placeholder(&self, id: u32) -> bool {
        self.placeholder.get(id as usize).copied().unwrap_or(false)
    }
}

struct Cluster {
    template: Vec<Slot>,
}

/// Drain-like grouping; returns one raw cluster id per message.
fn template_tree<S: AsRef<str>>(messages: &[S], params: &AggregateParams) -> Vec<usize> {
    let tokenizer = Tokenizer::new(TokenizerMode::Masked);
    let mut interner = Interner::default();
    let mut buf = Vec::new();
    let mut signature = String::new();
    // One position per whitespace chunk: a variable with dots or colons inside
    // (`proxy.example.org:5070`) then still fills one position, whatever its shape.
    let sequences: Vec<Vec<u32>> = messages
        .iter()
        .map(|m| {
            m.as_ref()
                .split_ascii_whitespace()
                .map(|chunk| {
                    tokenizer.tokenize_into(chunk, &mut buf);
                    signature.clear();
                    if buf.is_empty() {
                        signature.push_str(chunk);
                    }
                    for (k, t) in buf.iter().enumerate() {
                        if k > 0 {
                            signature.push(' ');
                        }
                        signature.push_str(t);
                    }
                    interner.id(&signature)
                })
                .collect()
        })
        .collect();

    let mut clusters: Vec<Cluster> = Vec::new();
    // Leaf key: token count plus the routing prefix (placeholders route as a wildcard).
    let mut leaves: HashMap<(usize, Vec<Slot>), Vec<usize>> = HashMap::new();
    let mut leaf_of = Vec::with_capacity(sequences.len());
    let mut c_first = Vec::with_capacity(sequences.len());
    for seq in &sequences {
        let key = leaf_key(seq, params.prefix_depth, &interner);
        let leaf = leaves.entry(key.clone()).or_default();
        let best = best_cluster(leaf, &clusters, seq, &interner)
            .filter(|&(_, sim)| sim >= params.similarity);
        match best {
            Some((c, _)) => merge(&mut clusters[c].template, seq),
            None => {
                leaf.push(clusters.len());
                clusters.push(Cluster {
                    template: seq.iter().map(|&t| Some(t)).collect(),
                });
                c_first.push(clusters.len() - 1);
                leaf_of.push(key);
                continue;
            }
        }
        c_first.push(best.map_or(usize::MAX, |(c, _)| c));
        leaf_of.push(key);
    }

    let root = merge_variants(&mut clusters, params.merge_variants);
    for members in leaves.values_mut() {
        for c in members.iter_mut() {
            *c = root[*c];
        }
        members.dedup();
    }
    for c in &mut c_first {
        *c = root.get(*c).copied().unwrap_or(*c);
    }

    // Second pass: every message goes to the best final template of its leaf, so the result
    // does not depend on how early a template became general.
    sequences
        .iter()
        .zip(&leaf_of)
        .zip(&c_first)
        .map(|((seq, key), &first)| {
            let leaf = leaves.get(key).map(Vec::as_slice).unwrap_or(&[]);
            most_specific_match(leaf, &clusters, seq).unwrap_or(first)
        })
        .collect()
}

/// Joins clusters of one length whose templates differ at a single position when at least
/// `min_variants` of them do: many values at one place mark a variable (user names, host
/// names), a few could be distinct events. Returns the representative of every cluster; the
/// representative's template is widened to cover its members.
fn merge_variants(clusters: &mut [Cluster], min_variants: usize) -> Vec<usize> {
    let mut root: Vec<usize> = (0..clusters.len()).collect();
    if min_variants < 2 {
        return root;
    }
    fn find(root: &mut [usize], mut c: usize) -> usize {
        while root[c] != c {
            root[c] = root[root[c]];
            c = root[c];
        }
        c
    }
    let max_len = clusters.iter().map(|c| c.template.len()).max().unwrap_or(0);
    for k in 0..max_len {
        let mut buckets: HashMap<(usize, Vec<Slot>), Vec<usize>> = HashMap::new();
        for (i, c) in clusters.iter().enumerate() {
            if k < c.template.len() && c.template[k].is_some() {
                let mut key = c.template.clone();
                key[k] = None;
                // The rest must still say what the event is: two shared literals at least,
                // and most of the line.
                let literals = key.iter().filter(|s| s.is_some()).count();
                if literals < 2 || 2 * literals < key.len() {
                    continue;
                }
                buckets.entry((key.len(), key)).or_default().push(i);
            }
        }
        let mut groups: Vec<Vec<usize>> = buckets
            .into_values()
            .filter(|b| b.len() >= min_variants)
            .collect();
        // HashMap order is random; merge in a fixed order so the result is deterministic.
        groups.sort_unstable();
        for members in groups {
            let first = find(&mut root, members[0]);
            for &m in &members[1..] {
                let r = find(&mut root, m);
                if r != first {
                    let (lo, hi) = (first.min(r), first.max(r));
                    root[hi] = lo;
                }
            }
        }
    }
    let mut out = Vec::with_capacity(clusters.len());
    for c in 0..clusters.len() {
        out.push(find(&mut root, c));
    }
    for c in 0..clusters.len() {
        let r = out[c];
        if r != c {
            let member = std::mem::take(&mut clusters[c].template);
            let rep = &mut clusters[r].template;
            for (slot, m) in rep.iter_mut().zip(&member) {
                if slot != m {
                    *slot = None;
                }
            }
            clusters[c].template = member;
        }
    }
    out
}

/// The cluster of a leaf whose template matches `seq` at every literal position and has the
/// most literals (the oldest on ties).
fn most_specific_match(leaf: &[usize], clusters: &[Cluster], seq: &[u32]) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for &c in leaf {
        let template = &clusters[c].template;
        let fits = template
            .iter()
            .zip(seq)
            .all(|(slot, &t)| slot.is_none_or(|s| s == t));
        if !fits {
            continue;
        }
        let literals = template.iter().filter(|s| s.is_some()).count();
        if best.is_none_or(|(_, l)| literals > l) {
            best = Some((c, literals));
        }
    }
    best.map(|(c, _)| c)
}

fn leaf_key(seq: &[u32], depth: usize, interner: &Interner) -> (usize, Vec<Slot>) {
    let prefix = seq
        .iter()
        .take(depth)
        .map(|&t| (!interner.is_placeholder(t)).then_some(t))
        .collect();
    (seq.len(), prefix)
}

/// The most similar cluster of a leaf and its similarity (share of equal positions). Ties go to
/// the template with more literal tokens, then to the oldest.
fn best_cluster(
    leaf: &[usize],
    clusters: &[Cluster],
    seq: &[u32],
    interner: &Interner,
) -> Option<(usize, f64)> {
    let mut best: Option<(usize, f64, usize)> = None;
    for &c in leaf {
        let template = &clusters[c].template;
        // Positions where both sides are variables (a wildcard, or placeholders on both sides)
        // say nothing about whether the message belongs here; the others must agree.
        let mut equal = 0usize;
        let mut informative = 0usize;
        for (slot, &t) in template.iter().zip(seq) {
            let Some(s) = *slot else { continue };
            if interner.is_placeholder(s) && interner.is_placeholder(t) {
                continue;
            }
            informative += 1;
            if s == t {
                equal += 1;
            }
        }
        let sim = if informative == 0 {
            1.0
        } else {
            equal as f64 / informative as f64
        };
        let literals = template.iter().filter(|s| s.is_some()).count();
        if best.is_none_or(|(_, b, l)| (sim, literals) > (b, l)) {
            best = Some((c, sim, literals));
        }
    }
    best.map(|(c, sim, _)| (c, sim))
}

fn merge(template: &mut [Slot], seq: &[u32]) {
    for (slot, &t) in template.iter_mut().zip(seq) {
        if *slot != Some(t) {
            *slot = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_numbered_by_first_appearance() {
        let messages = [
            "Failed password for root from 1.2.3.4 port 22 ssh2",
            "Connection closed by 5.6.7.8",
            "Failed password for admin from 1.2.3.9 port 2222 ssh2",
            "Connection closed by 9.9.9.9",
        ];
        let g = group(&messages, &AggregateParams::default()).expect("valid params");
        assert_eq!(g.labels, [0, 1, 0, 1]);
        assert_eq!(
            g.templates,
            [
                "Failed password for *** from *** port *** ssh2",
                "Connection closed by ***"
            ]
        );
    }

    #[test]
    fn empty_input_gives_empty_grouping() {
        let g = group::<&str>(&[], &AggregateParams::default()).expect("valid params");
        assert!(g.labels.is_empty() && g.templates.is_empty());
    }

    #[test]
    fn bad_similarity_is_rejected() {
        let params = AggregateParams {
            similarity: 1.5,
            ..AggregateParams::default()
        };
        assert!(matches!(
            group(&["a"], &params),
            Err(AggregateError::InvalidParam {
                name: "similarity",
                ..
            })
        ));
    }
}
