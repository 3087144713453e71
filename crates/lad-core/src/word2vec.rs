//! Word2Vec with negative sampling (CBOW and skip-gram), trained from distinct token
//! sequences and their counts. It owns the vocabulary, the learned token vectors
//! ([`Word2Vec`]), the checked hyper-parameters ([`Word2VecParams`] →
//! [`Word2VecValidParams`]) and message vectors as means of token vectors
//! ([`Word2Vec::mean_vector`]). It does no I/O, reads no clock and knows nothing of
//! tokenisation: it receives tokens.
//!
//! # Semantics
//!
//! Training follows the original `word2vec.c` and gensim: a vocabulary of words seen at least
//! `min_count` times (sorted by descending count, ties by word), vectors initialised uniformly
//! in `[-1, 1) / vector_length` (gensim 4; `word2vec.c` uses half that, which leaves
//! under-trained vectors more alike), output weights at zero, sub-sampling of frequent words
//! (gensim's formula, `sample` relative to the retained word total), a window shrunk at each
//! position by a random `b` in `0..window`, `negative` noise words drawn from the unigram
//! distribution raised to 0.75 (by the alias method rather than a search: same distribution,
//! constant time), CBOW using the mean of the context vectors, the sigmoid read from
//! a 1,000-entry table over `[-6, 6]` and saturated outside it (as in `word2vec.c`;
//! gensim skips such updates), and a
//! learning rate decaying linearly from `alpha` to `min_alpha` over all of training. Words that
//! are not in the vocabulary are removed from a sequence before windows are taken.
//!
//! # Repeated lines
//!
//! Logs repeat heavily, so training takes distinct sequences with their counts. Counts are
//! used in full for the vocabulary, `min_count`, sub-sampling and the noise distribution; how
//! many times a sequence seen `c` times is trained per epoch is planned by [`plan_passes`]:
//!
//! - when the whole corpus holds at most [`FULL_TRAINING_WORDS`] words, `c` times: exactly the
//!   updates gensim would make on every line (cheap at that size, and small corpora need
//!   every update: with fewer, their vectors stay close to the random start);
//! - otherwise `max(min(c, cap), 1 + ⌊ln c⌋)`, with `cap` the largest value keeping an epoch
//!   within that budget. The passes of a frequent line grow logarithmically: sub-sampling
//!   already discounts frequent words, and a line repeated 10,000 times has nothing new to
//!   teach after the first few updates, but it stays more influential than a rare one. Cost
//!   then depends on the number of distinct lines, not the number of lines: on the LogHub
//!   samples, a 64,000-line host costs 1.3 times one pass over its distinct lines, a sixth of
//!   training on every line.
//!
//! Within an epoch the passes are interleaved (round `r` trains every sequence with more than
//! `r` passes, in corpus order), so repeats are spread out as they would be in the raw log.
//!
//! # Determinism
//!
//! All randomness comes from one [`ChaCha8Rng`] seeded with `seed`, drawn in a fixed order, and
//! every floating-point operation happens in an order fixed by the code (no parallel
//! reductions, no fused multiply-add). A model is trained by one thread, so the same corpus
//! (in the same order) and seed give bitwise identical vectors whatever the machine's thread
//! count; lad's parallelism is across hosts, one model per thread.

use std::collections::HashMap;

use rand::RngCore;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// How context and centre words are paired during training.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    /// Continuous bag of words: the mean of the context vectors predicts the centre word.
    Cbow,
    /// Skip-gram: each context word's vector predicts the centre word separately.
    SkipGram,
}

/// Unchecked Word2Vec hyper-parameters; turn them into [`Word2VecValidParams`] with
/// [`Word2VecParams::check`] before training.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Word2VecParams {
    /// Length of every token vector (at least 1).
    pub vector_length: usize,
    /// Largest distance between a centre word and a context word (1 to 10,000).
    pub window: usize,
    /// Words seen fewer times than this (true counts) are left out of the vocabulary.
    pub min_count: u64,
    /// Number of passes over the corpus (at least 1).
    pub epochs: usize,
    /// Seed of the only random number generator used.
    pub seed: u64,
    /// CBOW or skip-gram.
    pub architecture: Architecture,
    /// Noise words drawn per positive example (at least 1).
    pub negative: usize,
    /// Sub-sampling threshold as a fraction of the retained words, in `[0, 1)`; 0 disables it.
    pub sample: f64,
    /// Initial learning rate (finite, above 0).
    pub alpha: f32,
    /// Final learning rate (finite, from 0 to `alpha`).
    pub min_alpha: f32,
}

impl Default for Word2VecParams {
    /// lad's defaults: the old system's vector length 25 and window 5, min count 1, and gensim's
    /// defaults otherwise.
    fn default() -> Self {
        Word2VecParams {
            vector_length: 25,
            window: 5,
            min_count: 1,
            epochs: 5,
            seed: 1,
            architecture: Architecture::Cbow,
            negative: 5,
            sample: 1e-3,
            alpha: 0.025,
            min_alpha: 0.0001,
        }
    }
}

/// Word2Vec hyper-parameters that passed [`Word2VecParams::check`]; the only way to train.
#[derive(Clone, Debug, PartialEq)]
pub struct Word2VecValidParams(Word2VecParams);

impl Word2VecValidParams {
    /// The checked parameters.
    pub fn params(&self) -> &Word2VecParams {
        &self.0
    }
}

/// Errors from checking parameters or loading a model.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
pub enum Word2VecError {
    /// A hyper-parameter is out of its range.
    #[error("invalid Word2Vec parameter `{name}`: expected {expected}, found {value}")]
    InvalidParam {
        /// Field name in [`Word2VecParams`] (or `dim` for a stored model).
        name: &'static str,
        /// The value found, formatted.
        value: String,
        /// What the value must be.
        expected: &'static str,
    },
    /// A stored model's vector array does not match its vocabulary and dimension.
    #[error(
        "inconsistent Word2Vec model: {words} words of dimension {dim} need {expected} vector \
         values, found {found}"
    )]
    VectorLength {
        /// Vocabulary size.
        words: usize,
        /// Vector dimension.
        dim: usize,
        /// `words * dim`, or `usize::MAX` when that overflows.
        expected: usize,
        /// Number of values stored.
        found: usize,
    },
    /// A stored model has a different number of counts and words.
    #[error("inconsistent Word2Vec model: expected one count per word ({words} words), found {counts} counts")]
    CountLength {
        /// Vocabulary size.
        words: usize,
        /// Number of counts stored.
        counts: usize,
    },
    /// A stored model lists a word twice.
    #[error("inconsistent Word2Vec model: expected distinct words, found `{word}` twice")]
    DuplicateWord {
        /// The repeated word.
        word: String,
    },
}

const MAX_WINDOW: usize = 10_000;

impl Word2VecParams {
    /// Checks every field, returning the first one out of range.
    pub fn check(&self) -> Result<Word2VecValidParams, Word2VecError> {
        fn invalid(
            name: &'static str,
            value: impl ToString,
            expected: &'static str,
        ) -> Word2VecError {
            Word2VecError::InvalidParam {
                name,
                value: value.to_string(),
                expected,
            }
        }
        if self.vector_length == 0 {
            return Err(invalid("vector_length", self.vector_length, "at least 1"));
        }
        if self.window == 0 || self.window > MAX_WINDOW {
            return Err(invalid("window", self.window, "from 1 to 10000"));
        }
        if self.epochs == 0 {
            return Err(invalid("epochs", self.epochs, "at least 1"));
        }
        if self.negative == 0 {
            return Err(invalid(
                "negative",
                self.negative,
                "at least 1 (only negative sampling is implemented)",
            ));
        }
        if !(self.sample.is_finite() && (0.0..1.0).contains(&self.sample)) {
            return Err(invalid("sample", self.sample, "a number in [0, 1)"));
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(invalid("alpha", self.alpha, "a finite number above 0"));
        }
        if !(self.min_alpha.is_finite() && self.min_alpha >= 0.0 && self.min_alpha <= self.alpha) {
            return Err(invalid(
                "min_alpha",
                self.min_alpha,
                "a finite number from 0 to alpha",
            ));
        }
        Ok(Word2VecValidParams(self.clone()))
    }
}

/// A trained model: the vocabulary (with true counts) and one vector per word.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(try_from = "Word2VecRepr", into = "Word2VecRepr")]
pub struct Word2Vec {
    dim: usize,
    words: Vec<String>,
    counts: Vec<u64>,
    /// Row-major, `words.len() * dim` values.
    vectors: Vec<f32>,
    index: HashMap<String, u32>,
}

/// The stored form of [`Word2Vec`]: the index is rebuilt, and everything checked, on load.
#[derive(Serialize, Deserialize)]
struct Word2VecRepr {
    dim: usize,
    words: Vec<String>,
    counts: Vec<u64>,
    vectors: Vec<f32>,
}

impl From<Word2Vec> for Word2VecRepr {
    fn from(m: Word2Vec) -> Self {
        Word2VecRepr {
            dim: m.dim,
            words: m.words,
            counts: m.counts,
            vectors: m.vectors,
        }
    }
}

impl TryFrom<Word2VecRepr> for Word2Vec {
    type Error = Word2VecError;

    fn try_from(r: Word2VecRepr) -> Result<Self, Self::Error> {
        if r.dim == 0 {
            return Err(Word2VecError::InvalidParam {
                name: "dim",
                value: "0".to_owned(),
                expected: "at least 1",
            });
        }
        let expected = r.words.len().saturating_mul(r.dim);
        if r.vectors.len() != expected {
            return Err(Word2VecError::VectorLength {
                words: r.words.len(),
                dim: r.dim,
                expected,
                found: r.vectors.len(),
            });
        }
        if r.counts.len() != r.words.len() {
            return Err(Word2VecError::CountLength {
                words: r.words.len(),
                counts: r.counts.len(),
            });
        }
        let index = build_index(&r.words)?;
        Ok(Word2Vec {
            dim: r.dim,
            words: r.words,
            counts: r.counts,
            vectors: r.vectors,
            index,
        })
    }
}

fn build_index(words: &[String]) -> Result<HashMap<String, u32>, Word2VecError> {
    let mut index = HashMap::with_capacity(words.len());
    for (i, w) in words.iter().enumerate() {
        let id = u32::try_from(i).map_err(|_| Word2VecError::InvalidParam {
            name: "words",
            value: words.len().to_string(),
            expected: "at most 2^32 words",
        })?;
        if index.insert(w.clone(), id).is_some() {
            return Err(Word2VecError::DuplicateWord { word: w.clone() });
        }
    }
    Ok(index)
}

/// Corpora with at most this many words (counting repeats) are trained on every repeat; larger
/// ones are trained on about this many words per epoch (see [`plan_passes`]).
pub const FULL_TRAINING_WORDS: u64 = 100_000;

/// Training passes per epoch for each sequence, given `(length, count)` pairs and a budget of
/// words per epoch (see the module docs): every repeat when the corpus fits in `budget`, else
/// `max(min(count, cap), passes_for_count(count))` with the largest `cap` that fits (at least 1).
pub fn plan_passes(sequences: &[(usize, u64)], budget: u64) -> Vec<u64> {
    let words_with_cap = |cap: u64| -> u64 {
        sequences
            .iter()
            .map(|&(len, c)| (len as u64).saturating_mul(c.min(cap)))
            .fold(0u64, u64::saturating_add)
    };
    let max_count = sequences.iter().map(|s| s.1).max().unwrap_or(0);
    if words_with_cap(max_count) <= budget {
        return sequences.iter().map(|s| s.1).collect();
    }
    // Largest cap in [1, max_count) within budget; 1 if none is.
    let (mut lo, mut hi) = (1u64, max_count);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if words_with_cap(mid) <= budget {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    sequences
        .iter()
        .map(|&(_, c)| c.min(lo).max(u64::from(passes_for_count(c))))
        .collect()
}

/// `1 + ⌊ln count⌋`, 0 for a count of 0: the passes a frequent line gets at least once the
/// corpus exceeds the budget (see the module docs for why).
pub fn passes_for_count(count: u64) -> u32 {
    if count == 0 {
        return 0;
    }
    // The floor could only differ between `ln` implementations for a count within an ulp of
    // some e^k, which does not happen for counts seen in practice.
    1 + (count as f64).ln().floor() as u32
}

impl Word2Vec {
    /// Trains a model on `corpus`: distinct token sequences with how many times each occurred.
    ///
    /// Sequences with a count of 0 are ignored. When no word reaches `min_count` the model has
    /// an empty vocabulary (every mean vector is zero); that is not an error. The result
    /// depends on the order of `corpus`, so callers should pass it in a deterministic order.
    pub fn train<S: AsRef<str>>(
        corpus: &[(Vec<S>, u64)],
        params: &Word2VecValidParams,
    ) -> Word2Vec {
        Self::train_with_budget(corpus, params, FULL_TRAINING_WORDS)
    }

    /// [`Word2Vec::train`] with another words-per-epoch budget than [`FULL_TRAINING_WORDS`].
    pub fn train_with_budget<S: AsRef<str>>(
        corpus: &[(Vec<S>, u64)],
        params: &Word2VecValidParams,
        budget: u64,
    ) -> Word2Vec {
        let p = params.params();
        let (words, counts) = build_vocab(corpus, p.min_count);
        let index = build_index(&words).expect("vocabulary words are distinct and fewer than 2^32");
        let dim = p.vector_length;

        // Sequences as word ids, out-of-vocabulary words removed (as gensim does).
        let (sentences, counts_in): (Vec<Vec<u32>>, Vec<(usize, u64)>) = corpus
            .iter()
            .filter(|(_, c)| *c > 0)
            .filter_map(|(tokens, c)| {
                let ids: Vec<u32> = tokens
                    .iter()
                    .filter_map(|t| index.get(t.as_ref()).copied())
                    .collect();
                // A single word has no context to learn from.
                let len = ids.len();
                (len > 1).then_some((ids, (len, *c)))
            })
            .unzip();
        let passes = plan_passes(&counts_in, budget);
        let sentences: Vec<(Vec<u32>, u64)> = sentences.into_iter().zip(passes).collect();

        let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
        let mut vectors = Vec::with_capacity(words.len() * dim);
        let scale = 1.0 / dim as f32;
        for _ in 0..words.len() * dim {
            vectors.push((unit_f32(rng.next_u32()) * 2.0 - 1.0) * scale);
        }
        let mut model = Word2Vec {
            dim,
            words,
            counts,
            vectors,
            index,
        };
        if !model.words.is_empty() && !sentences.is_empty() {
            let mut trainer = Trainer::new(&model.counts, p, rng);
            trainer.run(&sentences, &mut model.vectors);
        }
        model
    }

    /// Length of every vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of words in the vocabulary.
    pub fn vocab_len(&self) -> usize {
        self.words.len()
    }

    /// Vocabulary words, most frequent first (ties by word).
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// How many times `word` occurred in the training corpus (true counts), if in the vocabulary.
    pub fn word_count(&self, word: &str) -> Option<u64> {
        self.index.get(word).map(|&i| self.counts[i as usize])
    }

    /// The vector of `word`, if in the vocabulary.
    pub fn vector(&self, word: &str) -> Option<&[f32]> {
        self.index.get(word).map(|&i| self.row(i))
    }

    fn row(&self, i: u32) -> &[f32] {
        let start = i as usize * self.dim;
        &self.vectors[start..start + self.dim]
    }

    /// Writes the mean of the token vectors into `out`. An unknown token counts as a zero
    /// vector (it is still counted in the denominator); no tokens give zeros.
    ///
    /// # Panics
    ///
    /// When `out.len() != self.dim()`, a caller bug.
    pub fn mean_vector<S: AsRef<str>>(&self, tokens: &[S], out: &mut [f32]) {
        assert_eq!(
            out.len(),
            self.dim,
            "mean_vector: output length must equal the model dimension"
        );
        out.fill(0.0);
        if tokens.is_empty() {
            return;
        }
        for t in tokens {
            if let Some(&i) = self.index.get(t.as_ref()) {
                axpy(1.0, self.row(i), out);
            }
        }
        let n = tokens.len() as f32;
        for x in out.iter_mut() {
            *x /= n;
        }
    }

    /// Cosine similarity of two words' vectors; `None` when either is not in the vocabulary,
    /// 0 when either vector is zero.
    pub fn similarity(&self, a: &str, b: &str) -> Option<f32> {
        let va = self.vector(a)?;
        let vb = self.vector(b)?;
        let denom = (dot(va, va) * dot(vb, vb)).sqrt();
        Some(if denom > 0.0 {
            dot(va, vb) / denom
        } else {
            0.0
        })
    }
}

/// Words reaching `min_count`, most frequent first, ties broken by word so that the vocabulary
/// does not depend on corpus order.
fn build_vocab<S: AsRef<str>>(corpus: &[(Vec<S>, u64)], min_count: u64) -> (Vec<String>, Vec<u64>) {
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for (tokens, c) in corpus {
        if *c == 0 {
            continue;
        }
        for t in tokens {
            let e = counts.entry(t.as_ref()).or_insert(0);
            *e = e.saturating_add(*c);
        }
    }
    let mut vocab: Vec<(&str, u64)> = counts
        .into_iter()
        .filter(|&(_, c)| c >= min_count)
        .collect();
    vocab.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    vocab.into_iter().map(|(w, c)| (w.to_owned(), c)).unzip()
}

/// A uniform float in `[0, 1)` from the top 24 bits, independent of `rand`'s distributions.
fn unit_f32(r: u32) -> f32 {
    (r >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
}

/// A value in `0..n` from a random `u32` (Lemire's multiply-shift; bias below `n / 2^32`).
fn below(r: u32, n: u32) -> u32 {
    ((u64::from(r) * u64::from(n)) >> 32) as u32
}

const MAX_EXP: f32 = 6.0;
const EXP_TABLE_SIZE: usize = 1000;
const NS_EXPONENT: f64 = 0.75;

/// Draws noise words from a fixed distribution in constant time (Walker's alias method, Vose's
/// construction). gensim and `word2vec.c` sample the same unigram^0.75 distribution by binary
/// search or a 10^8-entry table; the search was a third of training time.
struct NoiseTable {
    /// Column `i` keeps word `i` when the low 32 random bits are below this (`2^32` = always).
    keep_below: Vec<u64>,
    /// The word column `i` gives otherwise.
    alias: Vec<u32>,
}

impl NoiseTable {
    /// `weights` must be non-empty, finite and positive.
    fn new(weights: &[f64]) -> NoiseTable {
        let n = weights.len();
        let total: f64 = weights.iter().sum();
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut keep_below = vec![1u64 << 32; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<u32>, Vec<u32>) =
            (0..n as u32).partition(|&i| scaled[i as usize] < 1.0);
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            let (su, lu) = (s as usize, l as usize);
            keep_below[su] = (scaled[su] * 4_294_967_296.0).round() as u64;
            alias[su] = l;
            scaled[lu] = (scaled[lu] + scaled[su]) - 1.0;
            if scaled[lu] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Whatever is left has probability 1 up to rounding: it keeps itself.
        NoiseTable { keep_below, alias }
    }

    fn sample(&self, r: u64) -> u32 {
        let column = below((r >> 32) as u32, self.alias.len() as u32);
        let c = column as usize;
        if (r & 0xffff_ffff) < self.keep_below[c] {
            column
        } else {
            self.alias[c]
        }
    }
}

struct Trainer {
    dim: usize,
    window: u32,
    negative: usize,
    architecture: Architecture,
    alpha: f32,
    min_alpha: f32,
    epochs: usize,
    /// Output (context) weights, `vocab * dim`.
    syn1neg: Vec<f32>,
    /// Noise words, drawn with probability proportional to count^0.75.
    noise: NoiseTable,
    /// A word occurrence is kept when a random `u32` is below this (`2^32` = always).
    keep_below: Vec<u64>,
    /// Sigmoid at `EXP_TABLE_SIZE + 1` points over `[-MAX_EXP, MAX_EXP]`.
    sigmoid: Vec<f32>,
    rng: ChaCha8Rng,
    kept: Vec<u32>,
    neu1: Vec<f32>,
    work: Vec<f32>,
}

impl Trainer {
    fn new(counts: &[u64], p: &Word2VecParams, rng: ChaCha8Rng) -> Trainer {
        let dim = p.vector_length;
        let total: f64 = counts.iter().map(|&c| c as f64).sum();
        let keep_below = counts
            .iter()
            .map(|&c| {
                if p.sample <= 0.0 {
                    return 1u64 << 32;
                }
                // gensim's formula: keep probability (sqrt(c / t) + 1) * t / c, t = sample * total.
                let t = p.sample * total;
                let c = c as f64;
                let prob = ((c / t).sqrt() + 1.0) * (t / c);
                (prob.min(1.0) * 4_294_967_296.0).round() as u64
            })
            .collect();
        let pow: Vec<f64> = counts
            .iter()
            .map(|&c| (c as f64).powf(NS_EXPONENT))
            .collect();
        let noise = NoiseTable::new(&pow);
        // Computed in f64 and rounded so the table is the same wherever `exp` differs in its
        // last f32 bit.
        let sigmoid = (0..=EXP_TABLE_SIZE)
            .map(|i| {
                let x = (i as f64 / EXP_TABLE_SIZE as f64 * 2.0 - 1.0) * f64::from(MAX_EXP);
                (1.0 / (1.0 + (-x).exp())) as f32
            })
            .collect();
        Trainer {
            dim,
            // `check` bounds the window to 10,000.
            window: p.window as u32,
            negative: p.negative,
            architecture: p.architecture,
            alpha: p.alpha,
            min_alpha: p.min_alpha,
            epochs: p.epochs,
            syn1neg: vec![0.0; counts.len() * dim],
            noise,
            keep_below,
            sigmoid,
            rng,
            kept: Vec::new(),
            neu1: vec![0.0; dim],
            work: vec![0.0; dim],
        }
    }

    fn run(&mut self, sentences: &[(Vec<u32>, u64)], syn0: &mut [f32]) {
        let per_epoch: u64 = sentences
            .iter()
            .map(|(s, n)| (s.len() as u64).saturating_mul(*n))
            .fold(0u64, u64::saturating_add);
        let total = (per_epoch as f64 * self.epochs as f64).max(1.0);
        let mut done: u64 = 0;
        let mut active: Vec<usize> = Vec::with_capacity(sentences.len());
        for _ in 0..self.epochs {
            active.clear();
            active.extend(0..sentences.len());
            let mut round = 0u64;
            while !active.is_empty() {
                for &i in &active {
                    let sentence = &sentences[i].0;
                    let progress = done as f64 / total;
                    let alpha = (f64::from(self.alpha)
                        - (f64::from(self.alpha) - f64::from(self.min_alpha)) * progress)
                        as f32;
                    self.train_sentence(sentence, alpha.max(self.min_alpha), syn0);
                    done += sentence.len() as u64;
                }
                round += 1;
                active.retain(|&i| sentences[i].1 > round);
            }
        }
    }

    fn train_sentence(&mut self, sentence: &[u32], alpha: f32, syn0: &mut [f32]) {
        let mut kept = std::mem::take(&mut self.kept);
        kept.clear();
        for &w in sentence {
            let limit = self.keep_below[w as usize];
            // No draw for words that are always kept, as in gensim.
            if limit > u64::from(u32::MAX) || u64::from(self.rng.next_u32()) < limit {
                kept.push(w);
            }
        }
        let dim = self.dim;
        for i in 0..kept.len() {
            let reach = (self.window - below(self.rng.next_u32(), self.window)) as usize;
            let start = i.saturating_sub(reach);
            let end = (i + reach + 1).min(kept.len());
            let word = kept[i];
            match self.architecture {
                Architecture::Cbow => {
                    self.neu1.fill(0.0);
                    let mut count = 0u32;
                    for (j, &c) in kept.iter().enumerate().take(end).skip(start) {
                        if j != i {
                            axpy(1.0, &syn0[c as usize * dim..][..dim], &mut self.neu1);
                            count += 1;
                        }
                    }
                    if count == 0 {
                        continue;
                    }
                    let inv = 1.0 / count as f32;
                    for x in self.neu1.iter_mut() {
                        *x *= inv;
                    }
                    let neu1 = std::mem::take(&mut self.neu1);
                    self.negative_sampling(word, &neu1, alpha);
                    self.neu1 = neu1;
                    for (j, &c) in kept.iter().enumerate().take(end).skip(start) {
                        if j != i {
                            axpy(1.0, &self.work, &mut syn0[c as usize * dim..][..dim]);
                        }
                    }
                }
                Architecture::SkipGram => {
                    for (j, &c) in kept.iter().enumerate().take(end).skip(start) {
                        if j == i {
                            continue;
                        }
                        let row = &mut syn0[c as usize * dim..][..dim];
                        self.negative_sampling(word, row, alpha);
                        axpy(1.0, &self.work, row);
                    }
                }
            }
        }
        self.kept = kept;
    }

    /// One positive and `negative` noise updates of the output weights with input `l1`;
    /// leaves the input's gradient in `self.work`.
    fn negative_sampling(&mut self, word: u32, l1: &[f32], alpha: f32) {
        let dim = self.dim;
        self.work.fill(0.0);
        for d in 0..=self.negative {
            let (target, label) = if d == 0 {
                (word, 1.0f32)
            } else {
                let t = self.noise.sample(self.rng.next_u64());
                if t == word {
                    continue;
                }
                (t, 0.0f32)
            };
            let out = &mut self.syn1neg[target as usize * dim..][..dim];
            let f = dot(l1, out);
            let g = if f >= MAX_EXP {
                (label - 1.0) * alpha
            } else if f <= -MAX_EXP {
                label * alpha
            } else {
                let idx = ((f + MAX_EXP) * (EXP_TABLE_SIZE as f32 / MAX_EXP / 2.0)) as usize;
                (label - self.sigmoid[idx.min(EXP_TABLE_SIZE)]) * alpha
            };
            axpy(g, out, &mut self.work);
            axpy(g, l1, out);
        }
    }
}

/// Dot product with eight fixed accumulators: vectorisable, and the summation order (hence
/// the result) is fixed by this code, not by the compiler or the machine.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// `y += a * x`.
fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(architecture: Architecture, seed: u64) -> Word2VecValidParams {
        Word2VecParams {
            architecture,
            seed,
            ..Word2VecParams::default()
        }
        .check()
        .expect("test parameters are valid")
    }

    /// Sentences `c c t c c` where the centre `t` is drawn from `a1..a5` with context words
    /// from `x1..x{contexts}`, or from `b1..b5` with context words from `y1..y{contexts}`;
    /// duplicates are merged into counts, as lad does with log lines.
    fn grouped_corpus_with(lines: usize, contexts: u32, seed: u64) -> Vec<(Vec<String>, u64)> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut index: HashMap<Vec<String>, usize> = HashMap::new();
        let mut corpus: Vec<(Vec<String>, u64)> = Vec::new();
        for n in 0..lines {
            let (centre, context) = if n % 2 == 0 { ("a", "x") } else { ("b", "y") };
            let mut pick =
                |prefix: &str, k: u32| format!("{prefix}{}", below(rng.next_u32(), k) + 1);
            let sentence = vec![
                pick(context, contexts),
                pick(context, contexts),
                pick(centre, 5),
                pick(context, contexts),
                pick(context, contexts),
            ];
            match index.get(&sentence) {
                Some(&i) => corpus[i].1 += 1,
                None => {
                    index.insert(sentence.clone(), corpus.len());
                    corpus.push((sentence, 1));
                }
            }
        }
        corpus
    }

    fn grouped_corpus(lines: usize, seed: u64) -> Vec<(Vec<String>, u64)> {
        grouped_corpus_with(lines, 8, seed)
    }

    fn group_margin(model: &Word2Vec) -> (f32, f32) {
        let a: Vec<String> = (1..=5).map(|i| format!("a{i}")).collect();
        let b: Vec<String> = (1..=5).map(|i| format!("b{i}")).collect();
        let sim = |x: &str, y: &str| model.similarity(x, y).expect("word in vocabulary");
        let (mut within, mut nw, mut cross, mut nc) = (0.0, 0, 0.0, 0);
        for i in 0..5 {
            for j in 0..5 {
                if i < j {
                    within += sim(&a[i], &a[j]) + sim(&b[i], &b[j]);
                    nw += 2;
                }
                cross += sim(&a[i], &b[j]);
                nc += 1;
            }
        }
        (within / nw as f32, cross / nc as f32)
    }

    fn bits(model: &Word2Vec) -> Vec<u32> {
        model.vectors.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn same_corpus_and_seed_give_bitwise_identical_vectors() {
        let corpus = grouped_corpus(2000, 7);
        for arch in [Architecture::Cbow, Architecture::SkipGram] {
            let first = Word2Vec::train(&corpus, &params(arch, 3));
            let second = Word2Vec::train(&corpus, &params(arch, 3));
            assert_eq!(first.words, second.words);
            assert_eq!(bits(&first), bits(&second));
        }
    }

    #[test]
    fn different_seeds_give_different_vectors() {
        let corpus = grouped_corpus(2000, 7);
        for arch in [Architecture::Cbow, Architecture::SkipGram] {
            let one = Word2Vec::train(&corpus, &params(arch, 1));
            let two = Word2Vec::train(&corpus, &params(arch, 2));
            assert_eq!(one.words, two.words);
            assert_ne!(bits(&one), bits(&two));
        }
    }

    #[test]
    fn training_changes_the_initial_vectors() {
        let corpus = grouped_corpus(2000, 7);
        let trained = Word2Vec::train(&corpus, &params(Architecture::Cbow, 1));
        let untrained = Word2Vec::train(&corpus, &{
            let mut p = params(Architecture::Cbow, 1).params().clone();
            // Same initialisation, no learning.
            p.alpha = f32::MIN_POSITIVE;
            p.min_alpha = 0.0;
            p.check().expect("valid")
        });
        assert_ne!(bits(&trained), bits(&untrained));
    }

    #[test]
    fn both_architectures_group_words_sharing_contexts() {
        // 8 context words: most lines distinct; 2 context words: 160 distinct lines repeated
        // about 50 times each. Both are within the full-training budget; a budget of 1 forces
        // the logarithmic passes (810 distinct lines, about 10 repeats each).
        for (contexts, max_distinct, budget) in [
            (8, 8000, FULL_TRAINING_WORDS),
            (2, 160, FULL_TRAINING_WORDS),
            (3, 810, 1),
        ] {
            let corpus = grouped_corpus_with(8000, contexts, 11);
            assert!(corpus.len() <= max_distinct);
            for arch in [Architecture::Cbow, Architecture::SkipGram] {
                let p = Word2VecParams {
                    architecture: arch,
                    seed: 5,
                    epochs: 20,
                    ..Word2VecParams::default()
                };
                let model =
                    Word2Vec::train_with_budget(&corpus, &p.check().expect("valid"), budget);
                let (within, cross) = group_margin(&model);
                println!("{contexts} contexts, {arch:?}: within {within}, cross {cross}");
                assert!(
                    within > cross + 0.5,
                    "{arch:?}, {contexts} contexts: within-group similarity {within} should \
                     exceed cross-group {cross} by 0.5"
                );
            }
        }
    }

    #[test]
    fn min_count_uses_true_counts_and_drops_rare_words() {
        let corpus: Vec<(Vec<&str>, u64)> = vec![
            (vec!["common", "rare", "often"], 1),
            (vec!["common", "often"], 3),
            (vec!["often", "ignored"], 0),
        ];
        let p = Word2VecParams {
            min_count: 2,
            ..Word2VecParams::default()
        }
        .check()
        .expect("valid");
        let model = Word2Vec::train(&corpus, &p);
        assert_eq!(model.vocab_len(), 2);
        assert_eq!(model.words(), ["common", "often"]);
        assert_eq!(model.word_count("common"), Some(4));
        assert_eq!(model.word_count("often"), Some(4));
        assert!(model.vector("rare").is_none());
        assert!(model.vector("ignored").is_none());
        assert_eq!(model.vector("common").map(<[f32]>::len), Some(25));
    }

    #[test]
    fn empty_vocabulary_is_a_model_without_words() {
        let p = Word2VecParams {
            min_count: 10,
            ..Word2VecParams::default()
        }
        .check()
        .expect("valid");
        let corpus = [(vec!["only", "rare"], 2u64)];
        for corpus in [&corpus[..], &[]] {
            let model = Word2Vec::train(corpus, &p);
            assert_eq!(model.vocab_len(), 0);
            assert_eq!(model.dim(), 25);
            let mut out = vec![1.0; 25];
            model.mean_vector(&["only", "rare"], &mut out);
            assert!(out.iter().all(|&x| x == 0.0));
        }
    }

    #[test]
    fn mean_vector_counts_unknown_words_as_zero() {
        let corpus = grouped_corpus(500, 1);
        let model = Word2Vec::train(&corpus, &params(Architecture::Cbow, 1));
        let a = model.vector("a1").expect("a1 in vocabulary").to_vec();
        let x = model.vector("x1").expect("x1 in vocabulary").to_vec();
        let mut out = vec![0.0; model.dim()];

        model.mean_vector(&["a1"], &mut out);
        assert_eq!(out, a);

        model.mean_vector(&["a1", "unknown"], &mut out);
        for (o, v) in out.iter().zip(&a) {
            assert_eq!(*o, v / 2.0);
        }

        model.mean_vector(&["a1", "x1", "unknown"], &mut out);
        for ((o, va), vx) in out.iter().zip(&a).zip(&x) {
            assert!((o - (va + vx) / 3.0).abs() < 1e-6);
        }

        out.fill(9.0);
        model.mean_vector::<&str>(&[], &mut out);
        assert!(out.iter().all(|&x| x == 0.0));
    }

    #[test]
    fn similarity_is_cosine() {
        let corpus = grouped_corpus(500, 1);
        let model = Word2Vec::train(&corpus, &params(Architecture::SkipGram, 1));
        let self_sim = model.similarity("a1", "a1").expect("known");
        assert!((self_sim - 1.0).abs() < 1e-5);
        let (u, v) = (
            model.vector("a1").expect("known"),
            model.vector("b2").expect("known"),
        );
        let expected = u.iter().zip(v).map(|(x, y)| f64::from(x * y)).sum::<f64>()
            / (u.iter().map(|x| f64::from(x * x)).sum::<f64>().sqrt()
                * v.iter().map(|x| f64::from(x * x)).sum::<f64>().sqrt());
        let found = model.similarity("a1", "b2").expect("known");
        assert!((f64::from(found) - expected).abs() < 1e-5);
        assert_eq!(model.similarity("a1", "nope"), None);
    }

    #[test]
    fn noise_words_follow_the_given_weights() {
        let weights = [1000f64, 100.0, 10.0, 1.0, 1.0, 0.5];
        let table = NoiseTable::new(&weights);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let draws = 1_000_000;
        let mut seen = [0u64; 6];
        for _ in 0..draws {
            seen[table.sample(rng.next_u64()) as usize] += 1;
        }
        let total: f64 = weights.iter().sum();
        for (i, (&w, &n)) in weights.iter().zip(&seen).enumerate() {
            let expected = w / total * draws as f64;
            // Five binomial standard deviations, plus one draw.
            let tolerance = 5.0 * expected.sqrt() + 1.0;
            assert!(
                (n as f64 - expected).abs() < tolerance,
                "word {i}: expected about {expected} draws, found {n}"
            );
        }
    }

    #[test]
    fn small_corpora_train_every_repeat() {
        let seqs = [(2, 1), (2, 10), (2, 100)];
        assert_eq!(plan_passes(&seqs, 222), [1, 10, 100]);
        assert_eq!(plan_passes(&seqs, 1000), [1, 10, 100]);
    }

    #[test]
    fn large_corpora_cap_passes_within_the_budget() {
        let seqs = [(2, 1), (2, 10), (2, 100)];
        // cap 7: 2 + 14 + 14 = 30 words; cap 8 would need 34.
        assert_eq!(plan_passes(&seqs, 30), [1, 7, 7]);
        assert_eq!(plan_passes(&seqs, 33), [1, 7, 7]);
        // Nothing fits: cap 1, raised to 1 + ln(count).
        assert_eq!(plan_passes(&seqs, 3), [1, 3, 5]);
        assert_eq!(plan_passes(&[], 3), Vec::<u64>::new());
    }

    #[test]
    fn passes_grow_logarithmically() {
        // Boundaries at e^k: e = 2.718.., e^2 = 7.389.., e^9 = 8103.08..
        assert_eq!(passes_for_count(0), 0);
        assert_eq!(passes_for_count(1), 1);
        assert_eq!(passes_for_count(2), 1);
        assert_eq!(passes_for_count(3), 2);
        assert_eq!(passes_for_count(7), 2);
        assert_eq!(passes_for_count(8), 3);
        assert_eq!(passes_for_count(8103), 9);
        assert_eq!(passes_for_count(8104), 10);
        // ln(2^64) = 44.36..
        assert_eq!(passes_for_count(u64::MAX), 45);
    }

    #[test]
    fn invalid_params_name_the_field() {
        let cases: Vec<(&str, Word2VecParams)> = vec![
            (
                "vector_length",
                Word2VecParams {
                    vector_length: 0,
                    ..Default::default()
                },
            ),
            (
                "window",
                Word2VecParams {
                    window: 0,
                    ..Default::default()
                },
            ),
            (
                "window",
                Word2VecParams {
                    window: 10_001,
                    ..Default::default()
                },
            ),
            (
                "epochs",
                Word2VecParams {
                    epochs: 0,
                    ..Default::default()
                },
            ),
            (
                "negative",
                Word2VecParams {
                    negative: 0,
                    ..Default::default()
                },
            ),
            (
                "sample",
                Word2VecParams {
                    sample: -0.1,
                    ..Default::default()
                },
            ),
            (
                "sample",
                Word2VecParams {
                    sample: 1.0,
                    ..Default::default()
                },
            ),
            (
                "sample",
                Word2VecParams {
                    sample: f64::NAN,
                    ..Default::default()
                },
            ),
            (
                "alpha",
                Word2VecParams {
                    alpha: 0.0,
                    ..Default::default()
                },
            ),
            (
                "alpha",
                Word2VecParams {
                    alpha: f32::INFINITY,
                    ..Default::default()
                },
            ),
            (
                "min_alpha",
                Word2VecParams {
                    min_alpha: -1e-3,
                    ..Default::default()
                },
            ),
            (
                "min_alpha",
                Word2VecParams {
                    min_alpha: 0.5,
                    ..Default::default()
                },
            ),
        ];
        for (field, p) in cases {
            match p.check() {
                Err(Word2VecError::InvalidParam { name, .. }) => assert_eq!(name, field),
                other => panic!("{field}: expected InvalidParam, found {other:?}"),
            }
        }
        let ok = Word2VecParams::default()
            .check()
            .expect("defaults are valid");
        assert_eq!(ok.params(), &Word2VecParams::default());
    }

    #[test]
    fn error_message_says_expected_and_found() {
        let err = Word2VecParams {
            window: 0,
            ..Default::default()
        }
        .check()
        .expect_err("window 0 is invalid");
        let msg = err.to_string();
        assert!(
            msg.contains("window") && msg.contains("from 1 to 10000") && msg.contains('0'),
            "{msg}"
        );
    }

    #[test]
    fn serde_round_trip_rebuilds_the_index() {
        let corpus = grouped_corpus(300, 2);
        let model = Word2Vec::train(&corpus, &params(Architecture::Cbow, 1));
        let json = serde_json::to_string(&model).expect("serialise");
        let back: Word2Vec = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, model);
        assert_eq!(back.vector("a3"), model.vector("a3"));
    }

    #[test]
    fn inconsistent_stored_models_are_rejected() {
        let bad_len = r#"{"dim":2,"words":["a"],"counts":[1],"vectors":[0.5]}"#;
        let dup = r#"{"dim":1,"words":["a","a"],"counts":[1,1],"vectors":[0.5,0.5]}"#;
        let counts = r#"{"dim":1,"words":["a"],"counts":[],"vectors":[0.5]}"#;
        let dim0 = r#"{"dim":0,"words":[],"counts":[],"vectors":[]}"#;
        for json in [bad_len, dup, counts, dim0] {
            assert!(serde_json::from_str::<Word2Vec>(json).is_err(), "{json}");
        }
    }
}
