//! Patterns: the templates of message bodies, mined online from every line, with a stable id,
//! counts per time bucket and a bounded size. Main items: [`Miner`] (learns with
//! [`Miner::observe`], matches with [`Miner::classify`]), [`PatternId`], [`PatternParams`]
//! checked into [`PatternValidParams`], [`PatternView`] and the batch function [`mine`].
//!
//! How a body becomes a pattern:
//! 1. The [`lexer`] cuts it into words, separators and variables found by their shape alone
//!    (numbers, addresses, paths, ids, host names, dates), and writes its *shape*: the
//!    canonical text with `<*>` for each variable. Lines with the same shape are one pattern
//!    from the first line on.
//! 2. A word is a variable by evidence when the shapes that are equal everywhere but at that
//!    position hold at least [`PatternParams::variable_after`] distinct values there (a user
//!    name, a host name): such shapes become one pattern with `<*>` at that position. The
//!    rule counts distinct shapes, never lines, and needs the rest of the line to keep
//!    [`PatternParams::min_context`] words (one more for the first position, which often names
//!    the program), so `state Active` / `state Inactive` stay two events; a position with less
//!    context (but at least one word, and not the first) needs twice as many values
//!    (`removing chargen`, `removing rsync`, ...). A variable found by its shape counts as
//!    that much evidence at once: a word where an otherwise equal shape has one (`user admin`
//!    beside `user 4711`) is a variable as soon as the two are seen, given full context.
//!    Three words there that are equal but for their digits (`IRQ0`, `IRQ2`, `IRQ9`) are
//!    numbered instances of one name and make a variable too, given full context.
//!    A word right before a position that became a variable by the count of its values
//!    (`for user <*>`) names values: after it, two values are enough elsewhere too, also for
//!    shapes seen before the word did so.
//!    A position found to
//!    be a variable stays one for the shapes of that family that follow, so values that vary
//!    together at several positions are found one after the other, and a new shape that fits
//!    a generalised template (same frame, same words where the template has words) joins it.
//! 3. Patterns whose templates keep the same words in the same order are one pattern: they
//!    differ only in values, punctuation or optional parts (`(1.16 KB)`, `()`). A pattern's
//!    template is what its shapes share, aligned piece by piece, with `<*>` where they differ.
//!    A shape with a *named value*, a word with one variable in brackets right after it
//!    (`LOCAL(<*>)`, `WorkSource{<*>}`), joins the pattern of a shape that has a bare `<*>`
//!    there and is otherwise equal, or whose generalised template it then fits: the word
//!    names the value, not the event. Without such a shape the named value stays as it is
//!    (`setLevel(<*>)`).
//!
//! No rule depends on how many lines were seen: more lines of a stream can only join patterns,
//! never split them, lines seen again change nothing, and online mining (one line at a time)
//! is batch mining ([`mine`]). Which patterns form depends on the shapes seen; in rare cases of
//! chained joins, also on the order in which they first appeared.
//!
//! A [`PatternId`] is the 64-bit FNV-1a hash of the pattern's `<*>` text, so the same text gets
//! the same id in every run, process and host. When patterns join, the new text gets a new id;
//! every id handed out earlier still resolves to the pattern that now holds its lines
//! ([`Miner::resolve`]).
//!
//! The bound: at most [`PatternParams::max_shapes`] shapes are stored. When it is reached, a
//! line of a new shape still joins a pattern whose variable position it fits; otherwise it is
//! counted in an *overflow pattern*, one per number of words (up to 32), whose text is `<*>`.
//! Nothing is evicted, so ids and counts already handed out stay valid. Memory is about the
//! stored shapes (text of at most [`lexer::MAX_SCAN_BYTES`] bytes each, 4 bytes per piece, a
//! few dozen skeleton entries) plus [`PatternParams::max_buckets`] counts per pattern; a saved
//! miner holds only the shapes and the counts, everything else is rebuilt when it is read.
//!
//! This module does no I/O and reads no clock: times are parameters. It knows nothing of
//! syslog headers (see [`crate::syslog`]) or of how patterns are stored or shown.

pub mod lexer;

use std::fmt;
use std::str::FromStr;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use lexer::{lex_into, Kind, Lexed, Piece, VAR};

/// The text a variable is written as in the old (`***`) format.
pub const STARS: &str = "***";

/// Word positions of a line looked at for variables by evidence.
const MAX_SLOTS: usize = 32;
/// Overflow patterns: one per number of words, the last for this many words and more.
const OVERFLOW_SLOTS: usize = 32;

/// A pattern's stable identity: the 64-bit FNV-1a hash of its `<*>` text, shown as 16 hex
/// digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PatternId(pub u64);

impl PatternId {
    /// The id of the pattern whose `<*>` text is `text`.
    pub fn of_text(text: &str) -> Self {
        Self(fnv1a(text.as_bytes()))
    }
}

impl fmt::Display for PatternId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for PatternId {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        u64::from_str_radix(s, 16).map(Self)
    }
}

/// 64-bit FNV-1a: small, fast and the same on every platform and run.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// How a template's variables are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TemplateFormat {
    /// `***`, as the old system's aggregates.
    #[default]
    Stars,
    /// `<*>`, as Drain and LogHub write them.
    Angle,
}

/// Writes an `<*>` text in `format`.
pub fn render(text: &str, format: TemplateFormat) -> String {
    match format {
        TemplateFormat::Angle => text.to_string(),
        TemplateFormat::Stars => text.replace(VAR, STARS),
    }
}

/// Settings of a [`Miner`], checked once by [`PatternParams::check`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct PatternParams {
    /// Most shapes (distinct canonical texts) stored; the memory bound. At least 1.
    pub max_shapes: usize,
    /// Distinct values at one position that make it a variable. At least 2. (Two are enough,
    /// with full context, when one of them is a variable found by its shape.)
    pub variable_after: usize,
    /// Words the rest of a line must keep for one of its positions to become a variable after
    /// `variable_after` values; with fewer (but one at least) it takes twice as many.
    pub min_context: usize,
    /// Width of a count bucket in milliseconds. Above 0.
    pub bucket_ms: i64,
    /// Most buckets kept per pattern (the newest). At least 1.
    pub max_buckets: usize,
}

impl Default for PatternParams {
    fn default() -> Self {
        Self {
            max_shapes: 5_000,
            variable_after: 4,
            min_context: 2,
            bucket_ms: 3_600_000,
            max_buckets: 168,
        }
    }
}

/// Why [`PatternParams::check`] refused its settings, or a saved miner could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PatternError {
    /// A parameter is outside its range.
    #[error("pattern parameter {name}: expected {expected}, found {found}")]
    InvalidParam {
        /// The parameter's name.
        name: &'static str,
        /// What was expected.
        expected: &'static str,
        /// The value given.
        found: String,
    },
    /// A saved miner holds a shape that does not fit its text.
    #[error("saved pattern miner: shape {index} is malformed")]
    BadShape {
        /// Index of the shape in the saved state.
        index: usize,
    },
}

impl PatternParams {
    /// Checks every setting.
    ///
    /// # Errors
    /// [`PatternError::InvalidParam`] naming the first setting out of range.
    pub fn check(&self) -> Result<PatternValidParams, PatternError> {
        let invalid = |name, expected, found: String| {
            Err(PatternError::InvalidParam {
                name,
                expected,
                found,
            })
        };
        if self.max_shapes == 0 {
            return invalid("max_shapes", "at least 1", "0".into());
        }
        if self.variable_after < 2 {
            return invalid(
                "variable_after",
                "at least 2",
                self.variable_after.to_string(),
            );
        }
        if self.bucket_ms <= 0 {
            return invalid("bucket_ms", "above 0", self.bucket_ms.to_string());
        }
        if self.max_buckets == 0 {
            return invalid("max_buckets", "at least 1", "0".into());
        }
        Ok(PatternValidParams(self.clone()))
    }
}

/// [`PatternParams`] that passed [`PatternParams::check`].
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PatternValidParams(PatternParams);

impl PatternValidParams {
    /// The checked settings.
    pub fn params(&self) -> &PatternParams {
        &self.0
    }
}

/// Counts of one pattern.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct PatternStats {
    /// Lines counted.
    pub count: u64,
    /// Time of the earliest line, in ms.
    pub first_ms: i64,
    /// Time of the latest line, in ms.
    pub last_ms: i64,
    /// `(bucket start ms, lines)`, oldest first, at most `max_buckets` of the newest.
    pub buckets: Vec<(i64, u64)>,
}

impl PatternStats {
    fn add(&mut self, time_ms: i64, n: u64, params: &PatternParams) {
        if self.count == 0 {
            self.first_ms = time_ms;
            self.last_ms = time_ms;
        } else {
            self.first_ms = self.first_ms.min(time_ms);
            self.last_ms = self.last_ms.max(time_ms);
        }
        // Counts saturate and bucket starts clamp: a saved miner may hold any counts (found
        // by the model_file fuzz target) and a record any time.
        self.count = self.count.saturating_add(n);
        let start = time_ms.saturating_sub(time_ms.rem_euclid(params.bucket_ms));
        match self.buckets.last_mut() {
            Some((s, c)) if *s == start => *c = c.saturating_add(n),
            Some((s, _)) if *s < start => self.buckets.push((start, n)),
            None => self.buckets.push((start, n)),
            Some(_) => match self.buckets.binary_search_by_key(&start, |b| b.0) {
                Ok(i) => self.buckets[i].1 = self.buckets[i].1.saturating_add(n),
                Err(i) => self.buckets.insert(i, (start, n)),
            },
        }
        if self.buckets.len() > params.max_buckets {
            let extra = self.buckets.len() - params.max_buckets;
            self.buckets.drain(..extra);
        }
    }

    fn merge(&mut self, other: PatternStats, params: &PatternParams) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = other;
            return;
        }
        self.count = self.count.saturating_add(other.count);
        self.first_ms = self.first_ms.min(other.first_ms);
        self.last_ms = self.last_ms.max(other.last_ms);
        let mut all = std::mem::take(&mut self.buckets);
        all.extend(other.buckets);
        all.sort_unstable_by_key(|b| b.0);
        for (start, n) in all {
            match self.buckets.last_mut() {
                Some((s, c)) if *s == start => *c = c.saturating_add(n),
                _ => self.buckets.push((start, n)),
            }
        }
        if self.buckets.len() > params.max_buckets {
            let extra = self.buckets.len() - params.max_buckets;
            self.buckets.drain(..extra);
        }
    }
}

/// One pattern as callers see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternView<'a> {
    /// Its id.
    pub id: PatternId,
    /// Its text with `<*>` for variables.
    pub text: &'a str,
    /// Its counts.
    pub stats: &'a PatternStats,
    /// True for an overflow pattern (lines of new shapes after the bound was reached).
    pub overflow: bool,
}

impl PatternView<'_> {
    /// The text in `format`.
    pub fn template(&self, format: TemplateFormat) -> String {
        render(self.text, format)
    }
}

/// A stored shape.
#[derive(Clone, Debug)]
struct Shape {
    lexed: Lexed,
}

/// A pattern: a set of shapes and the template that covers them all.
#[derive(Clone, Debug)]
struct Class {
    /// The shapes' pieces where they agree, variables where they differ.
    template: Lexed,
    id: PatternId,
    stats: PatternStats,
}

/// Shapes equal everywhere but at one position.
#[derive(Clone, Debug, Default)]
struct Skeleton {
    /// Distinct values seen at the position (hashes), until it opens.
    values: Vec<u64>,
    /// Of the values that are words with digits, the hash with every digit a `0`: two values
    /// with the same one differ only in their digits (`eth0`, `eth1`).
    digit_masks: Vec<u64>,
    /// Shapes with this skeleton until it opens, then one of them.
    members: Vec<u32>,
    open: bool,
}

/// The online pattern miner of one stream (normally one source and host). See the module
/// docs for what it learns and what it keeps.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "MinerState", into = "MinerState")]
pub struct Miner {
    params: PatternValidParams,
    shapes: Vec<Shape>,
    by_text: FxHashMap<u64, u32>,
    parent: Vec<u32>,
    classes: Vec<Option<Class>>,
    skeletons: FxHashMap<u64, Skeleton>,
    /// Patterns by their word sequence (see [`Miner::settle`]).
    by_words: FxHashMap<u64, u32>,
    /// Generalised patterns by the frame of their template (see [`frame_key`]).
    by_frame: FxHashMap<u64, Vec<u32>>,
    /// Shapes with a named value (`LOCAL(<*>)`), by the hash of their text with each such
    /// value a bare `<*>` (see [`bare_values`]).
    by_bare: FxHashMap<u64, Vec<u32>>,
    /// Words (piece hashes) right before a position that became a variable by the count of
    /// its values: after such a word, two values make a variable.
    keys: FxHashSet<u64>,
    /// Skeletons (key, position) with two values or more after a word not yet in `keys`, by
    /// that word: they open when it gets there.
    waiting: FxHashMap<u64, Vec<(u64, usize)>>,
    /// Every id ever given to a pattern, with a shape it covered.
    ids: FxHashMap<PatternId, u32>,
    overflow: Vec<PatternStats>,
    scratch: Lexed,
}

impl Default for Miner {
    fn default() -> Self {
        Self::new(PatternValidParams::default())
    }
}

impl Miner {
    /// An empty miner.
    pub fn new(params: PatternValidParams) -> Self {
        Self {
            params,
            shapes: Vec::new(),
            by_text: FxHashMap::default(),
            parent: Vec::new(),
            classes: Vec::new(),
            skeletons: FxHashMap::default(),
            by_words: FxHashMap::default(),
            by_frame: FxHashMap::default(),
            by_bare: FxHashMap::default(),
            keys: FxHashSet::default(),
            waiting: FxHashMap::default(),
            ids: FxHashMap::default(),
            overflow: vec![PatternStats::default(); OVERFLOW_SLOTS + 1],
            scratch: Lexed::default(),
        }
    }

    /// The settings.
    pub fn params(&self) -> &PatternParams {
        self.params.params()
    }

    /// Number of stored shapes (at most `max_shapes`).
    pub fn shapes(&self) -> usize {
        self.shapes.len()
    }

    /// Learns from one line at `time_ms` and returns the id of its pattern now. The line is
    /// counted in that pattern's bucket. Never fails and never panics.
    pub fn observe(&mut self, body: &str, time_ms: i64) -> PatternId {
        let mut lexed = std::mem::take(&mut self.scratch);
        lex_into(body, &mut lexed);
        let id = self.observe_lexed(&lexed, time_ms);
        self.scratch = lexed;
        id
    }

    fn observe_lexed(&mut self, lexed: &Lexed, time_ms: i64) -> PatternId {
        let params = self.params.0.clone();
        let hash = fnv1a(lexed.text.as_bytes());
        let root = if let Some(&shape) = self.by_text.get(&hash) {
            Some(self.find(shape))
        } else if self.shapes.len() < params.max_shapes {
            let shape = self.add_shape(lexed.clone(), hash);
            Some(self.find(shape))
        } else {
            self.open_match(lexed).map(|s| self.find(s))
        };
        match root {
            Some(root) => {
                let class = self.class_mut(root);
                class.stats.add(time_ms, 1, &params);
                class.id
            }
            None => {
                let slot = overflow_slot(lexed);
                self.overflow[slot].add(time_ms, 1, &params);
                overflow_id(slot)
            }
        }
    }

    /// The id of the pattern `body` belongs to, without learning: the pattern of its shape, a
    /// pattern whose variable position it fits, or else the id a new pattern of its own would
    /// get (an overflow id once the bound is reached).
    pub fn classify(&self, body: &str) -> PatternId {
        let mut lexed = Lexed::with_capacity(body.len());
        lex_into(body, &mut lexed);
        let hash = fnv1a(lexed.text.as_bytes());
        if let Some(&shape) = self.by_text.get(&hash) {
            return self.class(self.find_ro(shape)).id;
        }
        if let Some(shape) = self.open_match(&lexed) {
            return self.class(self.find_ro(shape)).id;
        }
        if self.shapes.len() >= self.params.0.max_shapes {
            return overflow_id(overflow_slot(&lexed));
        }
        PatternId(hash)
    }

    /// The current id of the pattern that holds the lines once given `id`: `id` itself when it
    /// is current or unknown.
    pub fn resolve(&self, id: PatternId) -> PatternId {
        match self.ids.get(&id) {
            Some(&shape) => self.class(self.find_ro(shape)).id,
            None => id,
        }
    }

    /// The current pattern with id `id` (after [`Miner::resolve`]).
    pub fn get(&self, id: PatternId) -> Option<PatternView<'_>> {
        let id = self.resolve(id);
        if let Some(&shape) = self.ids.get(&id) {
            let root = self.find_ro(shape);
            return Some(self.view(root));
        }
        (0..=OVERFLOW_SLOTS)
            .find(|&s| overflow_id(s) == id && self.overflow[s].count > 0)
            .map(|s| self.overflow_view(s))
    }

    /// Every pattern, in the order their first shape was seen, then the overflow patterns
    /// that hold lines.
    pub fn patterns(&self) -> impl Iterator<Item = PatternView<'_>> + '_ {
        let classes = self
            .classes
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_some())
            .map(|(i, _)| self.view(i as u32));
        let overflow = (0..=OVERFLOW_SLOTS)
            .filter(|&s| self.overflow[s].count > 0)
            .map(|s| self.overflow_view(s));
        classes.chain(overflow)
    }

    fn view(&self, root: u32) -> PatternView<'_> {
        let class = self.class(root);
        PatternView {
            id: class.id,
            text: &class.template.text,
            stats: &class.stats,
            overflow: false,
        }
    }

    fn overflow_view(&self, slot: usize) -> PatternView<'_> {
        PatternView {
            id: overflow_id(slot),
            text: VAR,
            stats: &self.overflow[slot],
            overflow: true,
        }
    }

    fn class(&self, root: u32) -> &Class {
        self.classes[root as usize]
            .as_ref()
            .expect("every root has a class")
    }

    fn class_mut(&mut self, root: u32) -> &mut Class {
        self.classes[root as usize]
            .as_mut()
            .expect("every root has a class")
    }

    fn find_ro(&self, mut s: u32) -> u32 {
        while self.parent[s as usize] != s {
            s = self.parent[s as usize];
        }
        s
    }

    fn find(&mut self, s: u32) -> u32 {
        let root = self.find_ro(s);
        let mut s = s;
        while self.parent[s as usize] != root {
            let next = self.parent[s as usize];
            self.parent[s as usize] = root;
            s = next;
        }
        root
    }

    /// A stored shape one of whose skeletons is open and fits `lexed`.
    fn open_match(&self, lexed: &Lexed) -> Option<u32> {
        if let Some(root) = self.fitting_template(lexed) {
            return Some(root);
        }
        let mut probe = Probe::new(lexed);
        let mut joins = Vec::new();
        self.generalize_probe(&mut probe, &mut joins);
        joins.first().copied()
    }

    /// The most specific generalised pattern whose template `lexed` fits: same frame, and
    /// every literal piece of the template equal to the line's (the oldest on ties).
    fn fitting_template(&self, lexed: &Lexed) -> Option<u32> {
        const MAX_CANDIDATES: usize = 64;
        let list = self.by_frame.get(&frame_key(lexed))?;
        let mut best: Option<(usize, u32)> = None;
        for &shape in list.iter().take(MAX_CANDIDATES) {
            let root = self.find_ro(shape);
            let template = &self.class(root).template;
            if template.pieces.len() != lexed.pieces.len() {
                continue;
            }
            let mut literals = 0usize;
            let fits = (0..template.pieces.len()).all(|i| {
                let kind = template.pieces[i].kind();
                if kind == Kind::Var {
                    return true;
                }
                literals += usize::from(kind == Kind::Word);
                kind == lexed.pieces[i].kind() && template.piece_text(i) == lexed.piece_text(i)
            });
            if fits && best.is_none_or(|(l, r)| literals > l || (literals == l && root < r)) {
                best = Some((literals, root));
            }
        }
        best.map(|(_, root)| root)
    }

    /// Makes variables of the positions of `probe` whose skeleton is open, again until none
    /// is left (a position opened in a pattern family shows the next one), and collects a
    /// shape of each open skeleton met.
    fn generalize_probe(&self, probe: &mut Probe, joins: &mut Vec<u32>) {
        for _ in 0..MAX_SLOTS {
            let mut changed = false;
            for (key, _, i, _) in probe.skeletons(&self.params.0) {
                if let Some(skeleton) = self.skeletons.get(&key).filter(|s| s.open) {
                    joins.extend(skeleton.members.first().copied());
                    if probe.kinds[i] == Kind::Word {
                        probe.make_var(i);
                        changed = true;
                    }
                }
            }
            if !changed {
                return;
            }
        }
    }

    fn add_shape(&mut self, lexed: Lexed, hash: u64) -> u32 {
        let index = u32::try_from(self.shapes.len()).unwrap_or(u32::MAX);
        let id = PatternId(hash);
        let probe = Probe::new(&lexed);
        self.shapes.push(Shape {
            lexed: lexed.clone(),
        });
        self.by_text.insert(hash, index);
        self.parent.push(index);
        self.classes.push(Some(Class {
            template: lexed,
            id,
            stats: PatternStats::default(),
        }));
        self.claim_id(id, index);
        let need = self.params.0.variable_after;
        let mut joins: Vec<(u32, u32)> = Vec::new();
        // A named value (`LOCAL(<*>)`) where another shape has a bare value: one pattern.
        if let Some(bare) = bare_values(&self.shapes[index as usize].lexed, &self.params.0) {
            let bare_hash = fnv1a(bare.text.as_bytes());
            if let Some(&other) = self.by_text.get(&bare_hash) {
                joins.push((index, other));
            } else if let Some(root) = self.fitting_template(&bare) {
                joins.push((index, root));
            }
            self.by_bare.entry(bare_hash).or_default().push(index);
        }
        if let Some(named) = self.by_bare.get(&hash) {
            joins.extend(named.iter().map(|&m| (index, m)));
        }
        let mut probe = probe;
        if let Some(root) = self.fitting_template(&self.shapes[index as usize].lexed) {
            joins.push((index, root));
            let template = &self.class(root).template;
            for i in 0..template.pieces.len() {
                if template.pieces[i].kind() == Kind::Var && probe.kinds[i] == Kind::Word {
                    probe.make_var(i);
                }
            }
        }
        // Shapes to register: the new one, and the members of a skeleton that opens, seen
        // again with that position a variable so that their other positions count in the
        // family's skeletons.
        let mut work = vec![(index, probe)];
        let mut steps = 0;
        while let Some((shape, mut probe)) = work.pop() {
            steps += 1;
            if steps > 4 * MAX_SLOTS {
                break;
            }
            let mut met = Vec::new();
            self.generalize_probe(&mut probe, &mut met);
            joins.extend(met.into_iter().map(|m| (shape, m)));
            for (key, value, i, weak) in probe.skeletons(&self.params.0) {
                let key_word = probe.key_word(i);
                let keyed = !weak && key_word.is_some_and(|w| self.keys.contains(&w));
                let skeleton = self.skeletons.entry(key).or_default();
                if skeleton.open {
                    joins.extend(skeleton.members.first().map(|&m| (shape, m)));
                    continue;
                }
                let new_value = !skeleton.values.contains(&value);
                // Three values equal but for their digits (`IRQ0`, `IRQ2`, `IRQ9`): numbered
                // instances of one name. (Two are not enough: `IPV4` / `IPV6` name events.)
                let mask = probe.masks[i];
                let twins = new_value
                    && mask != 0
                    && skeleton.digit_masks.iter().filter(|&&m| m == mask).count() >= 2;
                if new_value {
                    skeleton.values.push(value);
                    if mask != 0 {
                        skeleton.digit_masks.push(mask);
                    }
                }
                if !skeleton.members.contains(&shape) {
                    skeleton.members.push(shape);
                }
                // A word where an otherwise equal shape has a variable by its shape.
                let bare =
                    !weak && skeleton.values.len() >= 2 && skeleton.values.contains(&VAR_HASH);
                let counted = skeleton.values.len() >= if weak { 2 * need } else { need };
                // After a word that named a variable elsewhere (`for user <*>`), two values.
                let known = keyed && skeleton.values.len() >= 2;
                let twins = twins && !weak;
                if bare || counted || known || twins {
                    self.open_skeleton(key, i, &mut joins, &mut work);
                    if let Some(word) = key_word.filter(|_| counted) {
                        if self.keys.insert(word) {
                            for (k, at) in self.waiting.remove(&word).unwrap_or_default() {
                                self.open_skeleton(k, at, &mut joins, &mut work);
                            }
                        }
                    }
                } else if new_value && !weak && skeleton.values.len() == 2 {
                    if let Some(word) = key_word {
                        self.waiting.entry(word).or_default().push((key, i));
                    }
                }
            }
        }
        for (a, b) in joins {
            self.union(a, b);
        }
        self.settle(index);
        index
    }

    /// Opens the skeleton `key` (position `i`): its shapes are one pattern, and each is seen
    /// again with that position a variable.
    fn open_skeleton(
        &mut self,
        key: u64,
        i: usize,
        joins: &mut Vec<(u32, u32)>,
        work: &mut Vec<(u32, Probe)>,
    ) {
        let Some(skeleton) = self.skeletons.get_mut(&key).filter(|s| !s.open) else {
            return;
        };
        skeleton.open = true;
        skeleton.values = Vec::new();
        skeleton.digit_masks = Vec::new();
        let members = std::mem::take(&mut skeleton.members);
        let Some(&first) = members.first() else {
            return;
        };
        skeleton.members.push(first);
        for &m in &members {
            joins.push((m, first));
            let mut again = Probe::new(&self.shapes[m as usize].lexed);
            if again.kinds.len() > i && again.kinds[i] == Kind::Word {
                again.make_var(i);
                work.push((m, again));
            }
        }
    }

    /// The words of a pattern in order, without its variables: patterns with the same words
    /// differ only in values, punctuation or optional parts (`(1.16 KB)`, `()`), and are one.
    /// `None` when fewer than two words are left, too few to name an event.
    fn words_key(&self, root: u32) -> Option<u64> {
        let template = &self.class(root).template;
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut words = 0usize;
        for i in 0..template.pieces.len() {
            if template.pieces[i].kind() == Kind::Word {
                words += 1;
                h = (h ^ fnv1a(template.piece_text(i).as_bytes())).wrapping_mul(0x0100_0000_01b3);
            }
        }
        (words >= 2).then_some(h)
    }

    /// Joins the pattern of `shape` with any other that has the same words.
    fn settle(&mut self, shape: u32) {
        loop {
            let root = self.find(shape);
            let Some(key) = self.words_key(root) else {
                return;
            };
            match self.by_words.get(&key).copied() {
                Some(other) if self.find(other) != root => {
                    let other_root = self.find(other);
                    if self.words_key(other_root) == Some(key) {
                        self.union(root, other_root);
                        continue;
                    }
                    self.by_words.insert(key, root);
                }
                Some(_) => {}
                None => {
                    self.by_words.insert(key, root);
                }
            }
            return;
        }
    }

    /// Records that `id` names the pattern rooted at `root`'s class; if another live pattern
    /// already has that text, the two are one pattern.
    fn claim_id(&mut self, id: PatternId, shape: u32) {
        match self.ids.get(&id).copied() {
            Some(other) if self.find(other) != self.find(shape) => {
                let r = self.find(other);
                if self.class(r).id == id {
                    self.union(shape, other);
                } else {
                    self.ids.insert(id, shape);
                }
            }
            Some(_) => {}
            None => {
                self.ids.insert(id, shape);
            }
        }
    }

    fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return;
        }
        let (root, child) = (ra.min(rb), ra.max(rb));
        self.parent[child as usize] = root;
        let Some(child_class) = self.classes[child as usize].take() else {
            return;
        };
        let params = self.params.0.clone();
        let template = generalize(&self.class(root).template, &child_class.template);
        let id = PatternId::of_text(&template.text);
        let frame = frame_key(&template);
        let class = self.class_mut(root);
        class.stats.merge(child_class.stats, &params);
        let changed = class.id != id;
        class.template = template;
        class.id = id;
        let list = self.by_frame.entry(frame).or_default();
        if !list.contains(&root) {
            list.push(root);
        }
        if changed {
            self.claim_id(id, root);
        }
    }
}

/// The template covering `a` and `b`: pieces equal in both stay, the rest become variables.
/// Of one length they are compared position by position; otherwise aligned on a longest
/// common subsequence of pieces (the common prefix and suffix when the table would be big).
fn generalize(a: &Lexed, b: &Lexed) -> Lexed {
    const MAX_CELLS: usize = 1 << 20;
    let same = |i: usize, j: usize| {
        a.pieces[i].kind() == b.pieces[j].kind() && a.piece_text(i) == b.piece_text(j)
    };
    let (n, m) = (a.pieces.len(), b.pieces.len());
    let mut out = Lexed::default();
    if n == m {
        for i in 0..n {
            if same(i, i) {
                out.push_kind(a.pieces[i].kind(), a.piece_text(i));
            } else {
                out.push_kind(Kind::Var, "");
            }
        }
        return out;
    }
    let matches: Vec<(usize, usize)> = if n.saturating_mul(m) > MAX_CELLS {
        let prefix = (0..n.min(m)).take_while(|&k| same(k, k)).count();
        let suffix = (0..n.min(m) - prefix)
            .take_while(|&k| same(n - 1 - k, m - 1 - k))
            .count();
        (0..prefix)
            .map(|k| (k, k))
            .chain((0..suffix).rev().map(|k| (n - 1 - k, m - 1 - k)))
            .collect()
    } else {
        let width = m + 1;
        let mut suffix = vec![0u16; (n + 1) * width];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                suffix[i * width + j] = if same(i, j) {
                    suffix[(i + 1) * width + j + 1] + 1
                } else {
                    suffix[(i + 1) * width + j].max(suffix[i * width + j + 1])
                };
            }
        }
        let mut found = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < n && j < m {
            if same(i, j) && suffix[i * width + j] == suffix[(i + 1) * width + j + 1] + 1 {
                found.push((i, j));
                i += 1;
                j += 1;
            } else if suffix[(i + 1) * width + j] >= suffix[i * width + j + 1] {
                i += 1;
            } else {
                j += 1;
            }
        }
        found
    };
    let (mut i, mut j) = (0, 0);
    for (mi, mj) in matches.into_iter().chain(std::iter::once((n, m))) {
        if mi > i || mj > j {
            out.push_kind(Kind::Var, "");
        }
        if mi < n {
            out.push_kind(a.pieces[mi].kind(), a.piece_text(mi));
        }
        i = mi + 1;
        j = mj + 1;
    }
    out
}

fn overflow_slot(lexed: &Lexed) -> usize {
    lexed
        .pieces
        .iter()
        .filter(|p| p.kind() == Kind::Word)
        .count()
        .min(OVERFLOW_SLOTS)
}

fn overflow_id(slot: usize) -> PatternId {
    PatternId(fnv1a(format!("\u{0}overflow {slot}").as_bytes()))
}

/// `lexed` with every *named value* written as a bare variable, when it has one and keeps
/// `min_context` words besides: a named value is a word with one variable in brackets right
/// after it (`LOCAL(<*>)`, `WorkSource{<*>}`), on its own between spaces or after `=` or `:`,
/// with closing punctuation or not. Where one line has a bare value, another may name it.
fn bare_values(lexed: &Lexed, params: &PatternParams) -> Option<Lexed> {
    let n = lexed.pieces.len();
    let kind = |i: usize| lexed.pieces[i].kind();
    let text = |i: usize| lexed.piece_text(i);
    let named = |i: usize| {
        i + 3 < n
            && kind(i) == Kind::Word
            && (i == 0 || kind(i - 1) == Kind::Space || matches!(text(i - 1), "=" | ":"))
            && kind(i + 1) == Kind::Sep
            && kind(i + 2) == Kind::Var
            && kind(i + 3) == Kind::Sep
            && matches!(
                (text(i + 1), text(i + 3)),
                ("(", ")") | ("[", "]") | ("{", "}")
            )
            && (i + 4 == n || kind(i + 4) == Kind::Space || matches!(text(i + 4), "," | ";" | "."))
    };
    let mut out = Lexed::default();
    let (mut i, mut found, mut words) = (0, false, 0usize);
    while i < n {
        if named(i) {
            out.push_kind(Kind::Var, "");
            found = true;
            i += 4;
            continue;
        }
        words += usize::from(kind(i) == Kind::Word);
        out.push_kind(kind(i), text(i));
        i += 1;
    }
    (found && words >= params.min_context).then_some(out)
}

/// The frame of a shape or template: its length, the kind of each piece and the text of its
/// separators and spaces. A line fits a generalised template only if their frames are equal.
fn frame_key(lexed: &Lexed) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ lexed.pieces.len() as u64;
    for i in 0..lexed.pieces.len() {
        let kind = lexed.pieces[i].kind();
        // Words and variables are one kind here: a template's variable holds a line's word.
        let part = match kind {
            Kind::Sep | Kind::Space => fnv1a(lexed.piece_text(i).as_bytes()),
            Kind::Word | Kind::Var => 1,
        };
        h = (h ^ part).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The pieces of a shape as the skeleton index sees them: a hash and a kind per piece, where
/// positions known to be variables are `Var` with [`VAR_HASH`].
#[derive(Clone, Debug)]
struct Probe {
    hashes: Vec<u64>,
    kinds: Vec<Kind>,
    /// For a word with a digit: its hash with every digit a `0` (see [`digit_mask`]); else 0.
    masks: Vec<u64>,
}

/// The hash of a word with every ASCII digit written as `0`, when it has a digit and starts
/// with a letter (`eth0`, `IRQ9`, `node2`): words equal but for their digits are numbered
/// instances of one name. 0 for any other word.
fn digit_mask(word: &str) -> u64 {
    let b = word.as_bytes();
    if !b.first().is_some_and(u8::is_ascii_alphabetic) || !b.iter().any(u8::is_ascii_digit) {
        return 0;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &c in b {
        let c = if c.is_ascii_digit() { b'0' } else { c };
        h ^= u64::from(c);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h | 1
}

/// The hash of a variable position.
const VAR_HASH: u64 = 0x7f4a_7c15_9e37_79b9;

impl Probe {
    fn new(lexed: &Lexed) -> Self {
        let n = lexed.pieces.len();
        let mut hashes = Vec::with_capacity(n);
        let mut kinds = Vec::with_capacity(n);
        let mut masks = Vec::with_capacity(n);
        for i in 0..n {
            let kind = lexed.pieces[i].kind();
            masks.push(if kind == Kind::Word {
                digit_mask(lexed.piece_text(i))
            } else {
                0
            });
            let h = if kind == Kind::Var {
                VAR_HASH
            } else {
                fnv1a(lexed.piece_text(i).as_bytes())
                    ^ (kind as u64).wrapping_mul(0xff51_afd7_ed55_8ccd)
            };
            hashes.push(h);
            kinds.push(kind);
        }
        Self {
            hashes,
            kinds,
            masks,
        }
    }

    /// The hash of the word right before position `i` and a space, if there is one.
    fn key_word(&self, i: usize) -> Option<u64> {
        (i >= 2 && self.kinds[i - 1] == Kind::Space && self.kinds[i - 2] == Kind::Word)
            .then(|| self.hashes[i - 2])
    }

    fn make_var(&mut self, i: usize) {
        self.hashes[i] = VAR_HASH;
        self.kinds[i] = Kind::Var;
        self.masks[i] = 0;
    }

    /// For each word or variable position that may be a variable: the hash of the shape with
    /// that position blanked, the hash of the value there, and the position.
    fn skeletons(&self, params: &PatternParams) -> Vec<(u64, u64, usize, bool)> {
        const BASE: u64 = 0x9e37_79b9_7f4a_7c15;
        const BLANK: u64 = 0x51af_d7ed_558c_cd1b;
        let n = self.hashes.len();
        let words = self.kinds.iter().filter(|&&k| k == Kind::Word).count();
        let mut powers = Vec::with_capacity(n);
        let mut total: u64 = 0;
        let mut p: u64 = 1;
        for &h in &self.hashes {
            total = total.wrapping_add(h.wrapping_mul(p));
            powers.push(p);
            p = p.wrapping_mul(BASE);
        }
        let length = (n as u64).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        let mut out = Vec::new();
        let mut slot = 0usize;
        for (i, &kind) in self.kinds.iter().enumerate() {
            if !matches!(kind, Kind::Word | Kind::Var) {
                continue;
            }
            if slot >= MAX_SLOTS {
                break;
            }
            let context = words - usize::from(kind == Kind::Word);
            let need = params.min_context + usize::from(slot == 0);
            let leading = slot == 0;
            slot += 1;
            // With less context than that, a position needs twice the evidence.
            let weak = context < need;
            if weak && (leading || context == 0) {
                continue;
            }
            let key = total
                .wrapping_sub(self.hashes[i].wrapping_mul(powers[i]))
                .wrapping_add(BLANK.wrapping_mul(powers[i]))
                ^ length
                ^ u64::from(weak);
            out.push((key, self.hashes[i], i, weak));
        }
        out
    }
}

/// A miner's saved form: its settings, its shapes in the order they were stored, and the
/// counts of each pattern (by the index of its first shape). Everything else (which shapes
/// are joined, the ids they had) is rebuilt by storing the shapes again, which gives the same
/// result because it depends only on the shapes and their order.
#[derive(Serialize, Deserialize)]
struct MinerState {
    params: PatternParams,
    shapes: Vec<(String, Vec<u32>)>,
    stats: Vec<(u32, PatternStats)>,
    overflow: Vec<(u32, PatternStats)>,
}

impl From<Miner> for MinerState {
    fn from(miner: Miner) -> Self {
        let stats = miner
            .classes
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.as_ref().map(|c| (i as u32, c.stats.clone())))
            .collect();
        let overflow = miner
            .overflow
            .iter()
            .enumerate()
            .filter(|(_, s)| s.count > 0)
            .map(|(i, s)| (i as u32, s.clone()))
            .collect();
        Self {
            params: miner.params.0,
            shapes: miner
                .shapes
                .into_iter()
                .map(|s| (s.lexed.text, s.lexed.pieces.iter().map(|p| p.0).collect()))
                .collect(),
            stats,
            overflow,
        }
    }
}

impl TryFrom<MinerState> for Miner {
    type Error = PatternError;

    fn try_from(state: MinerState) -> Result<Self, PatternError> {
        let params = state.params.check()?;
        let mut miner = Miner::new(params);
        for (index, (text, pieces)) in state.shapes.into_iter().enumerate() {
            let pieces: Vec<Piece> = pieces.into_iter().map(Piece).collect();
            let mut start = 0;
            for p in &pieces {
                if p.end() < start || p.end() > text.len() || !text.is_char_boundary(p.end()) {
                    return Err(PatternError::BadShape { index });
                }
                start = p.end();
            }
            if start != text.len() || index >= miner.params.0.max_shapes {
                return Err(PatternError::BadShape { index });
            }
            let hash = fnv1a(text.as_bytes());
            miner.add_shape(Lexed { text, pieces }, hash);
        }
        let params = miner.params.0.clone();
        for (root, stats) in state.stats {
            if (root as usize) < miner.shapes.len() {
                let root = miner.find(root);
                miner.class_mut(root).stats.merge(stats, &params);
            }
        }
        for (slot, stats) in state.overflow {
            if let Some(s) = miner.overflow.get_mut(slot as usize) {
                s.merge(stats, &params);
            }
        }
        Ok(miner)
    }
}

/// The result of [`mine`].
#[derive(Clone, Debug)]
pub struct Mined {
    /// The miner after every line.
    pub miner: Miner,
    /// The current pattern id of each line, in input order.
    pub ids: Vec<PatternId>,
}

/// Mines `bodies` in one batch (all at time 0): the same as observing them one by one and
/// resolving every id handed out at the end.
pub fn mine<S: AsRef<str>>(bodies: &[S], params: &PatternValidParams) -> Mined {
    let mut miner = Miner::new(params.clone());
    let first: Vec<PatternId> = bodies
        .iter()
        .map(|b| miner.observe(b.as_ref(), 0))
        .collect();
    let ids = first.into_iter().map(|id| miner.resolve(id)).collect();
    Mined { miner, ids }
}

#[cfg(test)]
mod tests;
