//! Aggregation: groups messages (normally the anomalies of a window) into templates. Main items:
//! [`group`], [`AggregateParams`], [`GroupingMethod`], [`Grouping`].
//!
//! Two methods exist. [`GroupingMethod::Templates`] (the default) cuts each message into
//! whitespace chunks, gives each chunk a signature from the masked [`Tokenizer`] (with the values
//! of `key=value` pairs and the flags `true`/`false` masked too, a number and its unit as one
//! value, and a run of variable chunks as one position) and groups the chunk sequences in a
//! Drain-like parse tree: messages are routed by length and their first chunk, then joined to the
//! most similar template in their leaf, or start a new one. Then templates of one length that
//! differ at one position in many variants are joined, a group whose members hold only a few
//! recurring words at one position is split by them (`state Active` / `state Inactive`), and
//! groups with the same word chunks in the same order are joined whatever their lengths (they
//! differ only in variable or optional parts, such as a `(1.16 KB)` present in some lines only). [`GroupingMethod::Dbscan`] is the
//! old system's way (letters-only tokens, Word2Vec mean vectors, DBSCAN; noise points become
//! groups of one), kept in [`legacy`].
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
    /// position, that position is a variable and they become one group; fewer recurring words
    /// at one position of a group are distinct events and split it (0 turns both off).
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
    /// The Word2Vec settings derived for [`GroupingMethod::Dbscan`] are out of range.
    #[error("aggregation by DBSCAN: {0}")]
    Word2Vec(#[from] crate::word2vec::Word2VecError),
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
            legacy::word2vec_params(self)?;
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
        GroupingMethod::Dbscan => legacy::dbscan_labels(messages, params)?,
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

/// What a whitespace chunk holds, as far as grouping cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChunkKind {
    /// Only placeholders (`1.2.3.4:22`, `03:40:59`, `(1.16`).
    Variable,
    /// Words and placeholders (`proxy.example.org:5070`): variable too, but it says more.
    Mixed,
    /// Words only, or `key=` pairs whose values are masked.
    Literal,
    /// A unit word (`KB`, `ms`), which after a number belongs to the number.
    Unit,
    /// No word at all (`()`, `-`, `[]`).
    Wordless,
}

impl ChunkKind {
    /// Variable chunks say nothing about which event a line is.
    fn is_variable(self) -> bool {
        matches!(self, Self::Variable | Self::Mixed)
    }
}

/// Lowercase words that are units when they follow a number: sizes, rates, durations. A number
/// with its unit is one value whether or not a space separates them (`512MB`, `512 MB`).
const UNITS: &[&str] = &[
    "b", "kb", "mb", "gb", "tb", "kib", "mib", "gib", "tib", "byte", "bytes", "bit", "bits", "bps",
    "kbps", "mbps", "gbps", "pps", "hz", "khz", "mhz", "ghz", "ns", "us", "ms", "s", "sec", "secs",
    "second", "seconds", "min", "mins", "minute", "minutes", "h", "hr", "hrs", "hour", "hours",
];

/// Placeholder of the flags `true` and `false` in chunk signatures.
const BOOL: &str = "<BOOL>";

/// Chunk signatures interned as integers, so comparing templates is cheap.
#[derive(Default)]
struct Interner {
    ids: HashMap<String, u32>,
    kinds: Vec<ChunkKind>,
    texts: Vec<String>,
}

impl Interner {
    fn id(&mut self, signature: &str, kind: ChunkKind) -> u32 {
        if let Some(&id) = self.ids.get(signature) {
            return id;
        }
        let id = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        self.ids.insert(signature.to_string(), id);
        self.kinds.push(kind);
        self.texts.push(signature.to_string());
        id
    }

    fn text(&self, id: u32) -> Option<&str> {
        self.texts.get(id as usize).map(String::as_str)
    }

    fn kind(&self, id: u32) -> ChunkKind {
        self.kinds
            .get(id as usize)
            .copied()
            .unwrap_or(ChunkKind::Literal)
    }

    fn is_placeholder(&self, id: u32) -> bool {
        self.kind(id).is_variable()
    }
}

fn is_placeholder_token(token: &str) -> bool {
    token.len() > 2 && token.starts_with('<') && token.ends_with('>')
}

/// The interned chunk sequence of one message. One position per whitespace chunk, so a variable
/// with dots or colons inside (`proxy.example.org:5070`) fills one position whatever its shape.
/// A run of placeholder-only chunks (`Mon Jun 20 03:40:59 2005`, a list of numbers) and the unit
/// after a number (`1.16 KB`) fill one position too: such runs vary in length between lines of
/// one event.
fn signature(
    message: &str,
    tokenizer: &Tokenizer,
    interner: &mut Interner,
    buf: &mut Vec<String>,
    sig: &mut String,
) -> Vec<u32> {
    let mut out = Vec::new();
    let mut after_variable = false;
    for chunk in message.split_ascii_whitespace() {
        let kind = chunk_signature(chunk, tokenizer, buf, sig);
        if after_variable && matches!(kind, ChunkKind::Variable | ChunkKind::Unit) {
            continue;
        }
        after_variable = kind == ChunkKind::Variable;
        out.push(interner.id(sig, kind));
    }
    // A line without a word chunk (`cancelNotification,index:0`) would match every other such
    // line: its mixed chunks are what names its event, so they count as words.
    if !out
        .iter()
        .any(|&id| matches!(interner.kind(id), ChunkKind::Literal | ChunkKind::Unit))
    {
        for id in &mut out {
            if interner.kind(*id) == ChunkKind::Mixed {
                sig.clear();
                sig.push_str(WORD_TWIN);
                if let Some(text) = interner.text(*id) {
                    sig.push_str(text);
                }
                *id = interner.id(sig, ChunkKind::Literal);
            }
        }
    }
    out
}

/// Prefix of the signature of a mixed chunk read as a word (a byte no token holds).
const WORD_TWIN: &str = "\u{1}";

/// Writes the signature of one chunk into `sig`: its masked tokens, with the value of every
/// `key=value` pair masked as well (`ready=true,policy=3` gives `ready =* policy =*`), since
/// values are what varies between lines of one event while keys name the event.
fn chunk_signature(
    chunk: &str,
    tokenizer: &Tokenizer,
    buf: &mut Vec<String>,
    sig: &mut String,
) -> ChunkKind {
    sig.clear();
    let (mut words, mut placeholders, mut pairs) = (0usize, 0usize, 0usize);
    let mut rest = chunk;
    loop {
        let (head, value) = match rest.find('=') {
            Some(eq) => (&rest[..eq], Some(&rest[eq + 1..])),
            None => (rest, None),
        };
        tokenizer.tokenize_into(head, buf);
        for token in buf.iter() {
            if !sig.is_empty() {
                sig.push(' ');
            }
            // Flags are values, whatever their key (`overlap:false`, `enabled true`).
            let token = if matches!(token.as_str(), "true" | "false") {
                BOOL
            } else {
                token.as_str()
            };
            sig.push_str(token);
            if is_placeholder_token(token) {
                placeholders += 1;
            } else {
                words += 1;
            }
        }
        let Some(value) = value else { break };
        // A value ends at the next pair separator.
        let end = value.find([',', ';', '&']).unwrap_or(value.len());
        if !sig.is_empty() {
            sig.push(' ');
        }
        sig.push_str(if end > 0 { "=*" } else { "=" });
        pairs += 1;
        rest = &value[end..];
    }
    if words + placeholders + pairs == 0 {
        sig.push_str(chunk);
        return ChunkKind::Wordless;
    }
    if placeholders > 0 {
        return if words + pairs == 0 {
            ChunkKind::Variable
        } else {
            ChunkKind::Mixed
        };
    }
    if words == 1 && pairs == 0 && UNITS.contains(&sig.as_str()) {
        return ChunkKind::Unit;
    }
    ChunkKind::Literal
}

struct Cluster {
    template: Vec<Slot>,
}

/// Drain-like grouping; returns one raw cluster id per message.
fn template_tree<S: AsRef<str>>(messages: &[S], params: &AggregateParams) -> Vec<usize> {
    let tokenizer = Tokenizer::new(TokenizerMode::Masked);
    let mut interner = Interner::default();
    let mut buf = Vec::new();
    let mut chunk_sig = String::new();
    let sequences: Vec<Vec<u32>> = messages
        .iter()
        .map(|m| {
            signature(
                m.as_ref(),
                &tokenizer,
                &mut interner,
                &mut buf,
                &mut chunk_sig,
            )
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

    let root = merge_variants(
        &mut clusters,
        params.merge_variants,
        params.prefix_depth,
        &interner,
    );
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
    let assigned: Vec<usize> = sequences
        .iter()
        .zip(&leaf_of)
        .zip(&c_first)
        .map(|((seq, key), &first)| {
            let leaf = leaves.get(key).map(Vec::as_slice).unwrap_or(&[]);
            most_specific_match(leaf, &clusters, seq).unwrap_or(first)
        })
        .collect();
    let (split, templates) = split_few_words(&assigned, &sequences, &interner, params);
    let same_words = merge_same_words(&templates, &interner);
    split
        .iter()
        .map(|&g| same_words.get(g).copied().unwrap_or(g))
        .collect()
}

/// Splits clusters at positions where their members hold only a few distinct words (fewer than
/// `merge_variants`): similarity joined lines that differ in one word, but a word with so few
/// values is a state or a kind (`Active`/`Inactive`, `password`/`none`), which names an event,
/// while a variable (a user or host name) shows many. Returns a group id per message (numbered
/// by first appearance) and each group's template.
fn split_few_words(
    assigned: &[usize],
    sequences: &[Vec<u32>],
    interner: &Interner,
    params: &AggregateParams,
) -> (Vec<usize>, Vec<Vec<Slot>>) {
    const MIN_SUPPORT: usize = 3;
    let n_clusters = assigned.iter().max().map_or(0, |&c| c + 1);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); n_clusters];
    for (m, &c) in assigned.iter().enumerate() {
        members[c].push(m);
    }
    // The positions to split each cluster at.
    let mut split_at: Vec<Vec<usize>> = vec![Vec::new(); n_clusters];
    if params.merge_variants >= 2 {
        for (c, list) in members.iter().enumerate() {
            let Some(&first) = list.first() else { continue };
            for k in 0..sequences[first].len() {
                let mut values: Vec<u32> = Vec::new();
                let few_words = list.iter().all(|&m| {
                    let Some(&t) = sequences[m].get(k) else {
                        return false;
                    };
                    if !values.contains(&t) {
                        values.push(t);
                    }
                    matches!(interner.kind(t), ChunkKind::Literal | ChunkKind::Unit)
                        && values.len() < params.merge_variants
                });
                // Each value must recur: two lines with two user names are not two events.
                let recurring = || {
                    values.iter().all(|&v| {
                        list.iter()
                            .filter(|&&m| sequences[m].get(k) == Some(&v))
                            .count()
                            >= MIN_SUPPORT
                    })
                };
                if few_words && values.len() > 1 && recurring() {
                    split_at[c].push(k);
                }
            }
        }
    }
    let mut ids: HashMap<(usize, Vec<u32>), usize> = HashMap::new();
    let mut templates: Vec<Vec<Slot>> = Vec::new();
    let groups = assigned
        .iter()
        .zip(sequences)
        .map(|(&c, seq)| {
            let key: Vec<u32> = split_at[c]
                .iter()
                .filter_map(|&k| seq.get(k).copied())
                .collect();
            let next = ids.len();
            let g = *ids.entry((c, key)).or_insert(next);
            if g == templates.len() {
                templates.push(seq.iter().map(|&t| Some(t)).collect());
            } else {
                merge(&mut templates[g], seq);
            }
            g
        })
        .collect();
    (groups, templates)
}

/// Joins clusters whose templates have the same word chunks in the same order, whatever their
/// lengths: they differ only in variable or wordless parts, such as an optional `(1.16 KB)`, a
/// host name that is sometimes missing (`()`) or a list of values of varying length. The words
/// must say what the event is: at least `MIN_WORDS` of them. Returns the representative (the
/// lowest index) of every cluster.
fn merge_same_words(templates: &[Vec<Slot>], interner: &Interner) -> Vec<usize> {
    const MIN_WORDS: usize = 2;
    let mut first_with: HashMap<Vec<u32>, usize> = HashMap::new();
    let mut out: Vec<usize> = (0..templates.len()).collect();
    for (c, template) in templates.iter().enumerate() {
        let words: Vec<u32> = template
            .iter()
            .flatten()
            .copied()
            .filter(|&id| matches!(interner.kind(id), ChunkKind::Literal | ChunkKind::Unit))
            .collect();
        if words.len() < MIN_WORDS {
            continue;
        }
        // Clusters are visited in index order, so the representative is the lowest index.
        out[c] = *first_with.entry(words).or_insert(c);
    }
    out
}

/// Joins clusters of one length whose templates differ at a single position when at least
/// `min_variants` of them do: many values at one place mark a variable (user names, host
/// names), a few could be distinct events. Returns the representative of every cluster; the
/// representative's template is widened to cover its members.
/// Word chunks among the first `prefix_depth` positions route messages in the tree and are kept:
/// they name the event (`cupsd startup succeeded`, `sdpd startup succeeded`).
fn merge_variants(
    clusters: &mut [Cluster],
    min_variants: usize,
    prefix_depth: usize,
    interner: &Interner,
) -> Vec<usize> {
    const MIN_WORDS: usize = 2;
    const MIN_WORDS_ROUTING: usize = 3;
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
            let Some(Some(id)) = c.template.get(k).copied() else {
                continue;
            };
            let mut key = c.template.clone();
            key[k] = None;
            // The rest must still say what the event is: two shared words at least, and most
            // of the line. A routing word needs one more, since it usually names the event.
            let words = key
                .iter()
                .flatten()
                .filter(|&&t| interner.kind(t) == ChunkKind::Literal)
                .count();
            let literals = key.iter().filter(|s| s.is_some()).count();
            let needed = if k < prefix_depth && !interner.is_placeholder(id) {
                MIN_WORDS_ROUTING
            } else {
                MIN_WORDS
            };
            if words >= needed && 2 * literals >= key.len() {
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
    use crate::template::WILDCARD;
    use proptest::prelude::*;

    /// True when the literal tokens of `template` appear in order among the tokens of `message`.
    fn matches_member(template: &str, message: &str) -> bool {
        let mut tokens = message.split_ascii_whitespace();
        template
            .split_ascii_whitespace()
            .filter(|t| *t != WILDCARD)
            .all(|t| tokens.any(|m| m == t))
    }

    /// Messages built from log-like pieces, so that groups of several members form.
    fn log_like() -> impl Strategy<Value = Vec<String>> {
        let piece = prop::sample::select(vec![
            "failed",
            "password",
            "for",
            "user",
            "root",
            "admin",
            "from",
            "1.2.3.4",
            "10.0.0.1:22",
            "port",
            "22",
            "4096",
            "(host.example.org)",
            "()",
            "uid=0",
            "a=1,b=true",
            "5",
            "KB",
            "ms",
            "(1.5",
            "MB)",
            "***",
            "Über",
            "-",
            "[x]",
        ]);
        proptest::collection::vec(
            proptest::collection::vec(piece, 0..10).prop_map(|w| w.join(" ")),
            0..40,
        )
    }

    /// The invariants every grouping must meet.
    fn check_grouping(messages: &[String], g: &Grouping) -> Result<(), TestCaseError> {
        prop_assert_eq!(g.labels.len(), messages.len());
        // Labels are numbered by first appearance: each new label is the next number.
        let mut next = 0;
        for &label in &g.labels {
            prop_assert!(label <= next, "label {} before {}", label, next);
            if label == next {
                next += 1;
            }
        }
        // Every label has a template and every template a member.
        prop_assert_eq!(g.templates.len(), next);
        for (message, &label) in messages.iter().zip(&g.labels) {
            let template = &g.templates[label];
            prop_assert!(
                matches_member(template, message),
                "template {:?} member {:?}",
                template,
                message
            );
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_messages(
            messages in proptest::collection::vec(any::<String>(), 0..20)
        ) {
            let g = group(&messages, &AggregateParams::default()).expect("valid params");
            check_grouping(&messages, &g)?;
        }

        #[test]
        fn groupings_meet_their_invariants(messages in log_like()) {
            let g = group(&messages, &AggregateParams::default()).expect("valid params");
            check_grouping(&messages, &g)?;
        }

        #[test]
        fn grouping_is_deterministic(messages in log_like()) {
            let params = AggregateParams::default();
            let a = group(&messages, &params).expect("valid params");
            let b = group(&messages, &params).expect("valid params");
            prop_assert_eq!(a, b);
        }

        #[test]
        fn equal_messages_get_equal_labels(messages in log_like()) {
            // The same messages given twice: the second copy is grouped like the first.
            let twice: Vec<&String> = messages.iter().chain(&messages).collect();
            let g = group(&twice, &AggregateParams::default()).expect("valid params");
            let n = messages.len();
            prop_assert_eq!(&g.labels[..n], &g.labels[n..]);
        }

        #[test]
        fn dbscan_meets_the_invariants(messages in log_like()) {
            let params = AggregateParams {
                method: GroupingMethod::Dbscan,
                ..AggregateParams::default()
            };
            let a = group(&messages, &params).expect("valid params");
            check_grouping(&messages, &a)?;
            let b = group(&messages, &params).expect("valid params");
            prop_assert_eq!(a, b);
        }
    }

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

    fn labels(messages: &[&str]) -> Vec<usize> {
        group(messages, &AggregateParams::default())
            .expect("valid params")
            .labels
    }

    #[test]
    fn optional_sizes_and_units_do_not_split_an_event() {
        let messages = [
            "host1:443 close, 1190 bytes (1.16 KB) sent, 0 bytes received, lifetime 00:02",
            "host2:443 close, 0 bytes sent, 0 bytes received, lifetime <1 sec",
            "host3:80 close, 5 bytes sent, 10547 bytes (10.2 KB) received, lifetime 01:02",
            "link down on port 4",
        ];
        assert_eq!(labels(&messages), [0, 0, 0, 1]);
    }

    #[test]
    fn values_of_pairs_are_variables_but_keys_are_not() {
        let messages = [
            "ready=true,policy=3,mode=false",
            "ready=false,policy=1,mode=false",
            "setDiffTotalSteps=0",
            "setWriteDBLastDataMinute=25233979",
            "setDiffTotalSteps=12",
        ];
        assert_eq!(labels(&messages), [0, 0, 1, 2, 1]);
    }

    #[test]
    fn an_empty_parenthesis_is_an_optional_part() {
        let messages = [
            "connection from 1.2.3.4 () at Mon Jun 20 03:40:59 2005",
            "connection from 5.6.7.8 (host-5-6.example.net) at Fri Jun 17 07:07:00 2005",
            "connection from 5.6.7.9 (dsl-10-2.example.org) at Fri Jun 17 07:08:00 2005",
        ];
        assert_eq!(labels(&messages), [0, 0, 0]);
    }

    #[test]
    fn a_leading_word_names_the_event_in_short_lines() {
        let messages = [
            "cupsd startup succeeded",
            "sdpd startup succeeded",
            "klogd startup succeeded",
            "cupsd startup succeeded",
        ];
        assert_eq!(labels(&messages), [0, 1, 2, 0]);
    }

    #[test]
    fn a_recurring_word_with_few_values_names_the_event() {
        let mut messages = Vec::new();
        for _ in 0..3 {
            messages.push("Location icon should now be in state 'Active'");
            messages.push("Location icon should now be in state 'Inactive'");
        }
        assert_eq!(labels(&messages), [0, 1, 0, 1, 0, 1]);
        // Many values are a variable.
        let users = ["root", "admin", "guest", "oracle", "test", "root"];
        let lines: Vec<String> = users
            .iter()
            .map(|u| format!("Failed password for {u} from 1.2.3.4 port 22 ssh2"))
            .collect();
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        assert_eq!(labels(&lines), [0; 6]);
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
