//! The per-host model: what `lad` learns of one (source, host) and how it marks a line.
//!
//! [`HostModel::train`] tokenises the training messages, counts the distinct token sequences
//! (logs repeat, so every later step works on distinct sequences with their counts), trains
//! Word2Vec, takes mean vectors, and fits the Local Outlier Factor and the autoencoder on the
//! distinct vectors (the autoencoder weighted by how often each occurred). A [`Scorer`] then
//! marks lines one at a time, caching the verdict of each distinct token sequence.
//!
//! Two rules turn the components into a verdict ([`Rule`]):
//!
//! - [`Rule::Legacy`], the old system's: anomalous when the autoencoder error is above its
//!   threshold and LOF is above 1; the score is `(lof + ae_error) / 2`.
//! - [`Rule::Ensemble`], the default: each signal is calibrated against the host's own
//!   training lines, so that one threshold fits every host. *Novelty* is the largest of
//!   three values in `[0, 1]`: how rare the line's exact token sequence was in training (never
//!   seen is 1; seen in [`EnsembleParams::common_share`] of the lines or more is 0, on a log
//!   scale in between), and the share of training lines whose LOF value, and whose autoencoder
//!   error, is lower than this line's, counted only above their [`EnsembleParams::tail`]
//!   quantile (a knee, so that ordinary variation stays at 0). The score is
//!   `novelty * (base + (1 - base) * severity)` with the severity prior of [`crate::severity`]
//!   (0 for a line that declares a routine level such as `INFO`, 0.5 when nothing is known, up
//!   to 1 for `fatal`), and a line is anomalous when the score reaches
//!   [`EnsembleParams::threshold`]. With the defaults (base 0.5, threshold 0.75) a line never
//!   seen on this host is flagged unless it declares itself routine; a line seen before, but
//!   rarely, is flagged when it is also alarming; a common line is not flagged.
//!
//! The model holds no clock and no global randomness: the same lines and seed give the same
//! model and the same verdicts.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use ndarray::Array2;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::autoencoder::{Autoencoder, AutoencoderError, AutoencoderParams};
use crate::lof::{Lof, LofError, LofParams};
use crate::pattern::Miner;
use crate::severity::severity;
use crate::tokenizer::{Tokenizer, TokenizerMode};
use crate::word2vec::{Word2Vec, Word2VecError, Word2VecParams};

/// How the components become a verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Rule {
    /// Calibrated novelty weighted by severity (the default; see the module docs).
    #[default]
    Ensemble,
    /// The old system's rule: `ae_error > threshold && lof > 1`.
    Legacy,
}

/// Knobs of [`Rule::Ensemble`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnsembleParams {
    /// Weight of a line without alarming words: its score is `novelty * base`.
    pub base: f64,
    /// A line is anomalous when its score reaches this value.
    pub threshold: f64,
    /// Training-line quantile above which LOF and autoencoder values start to count as novelty.
    pub tail: f64,
    /// A token sequence seen this share of the training lines (or more) has no rarity novelty.
    pub common_share: f64,
    /// Whether the severity prior is used (off: every line weighs as if fully alarming, so the
    /// score is the novelty alone).
    pub use_severity: bool,
}

impl Default for EnsembleParams {
    fn default() -> Self {
        Self {
            base: 0.5,
            threshold: 0.75,
            tail: 0.99,
            common_share: 0.01,
            use_severity: true,
        }
    }
}

/// Everything a host model is trained with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DetectorParams {
    /// How messages become tokens.
    pub tokenizer: TokenizerMode,
    /// Word2Vec settings (vector length, window, min count, epochs, seed...).
    pub word2vec: Word2VecParams,
    /// LOF neighbours (reduced when the host has fewer distinct vectors).
    pub lof_neighbors: usize,
    /// Autoencoder settings.
    pub autoencoder: AutoencoderParams,
    /// Which rule decides.
    pub rule: Rule,
    /// Settings of the default rule.
    pub ensemble: EnsembleParams,
}

impl Default for DetectorParams {
    fn default() -> Self {
        Self {
            tokenizer: TokenizerMode::default(),
            word2vec: Word2VecParams::default(),
            lof_neighbors: 100,
            autoencoder: AutoencoderParams::default(),
            rule: Rule::default(),
            ensemble: EnsembleParams::default(),
        }
    }
}

/// Why a model could not be trained.
#[derive(Debug, thiserror::Error)]
pub enum DetectorError {
    /// There was nothing to learn from.
    #[error("no training lines")]
    NoTrainingData,
    /// Word2Vec settings were rejected.
    #[error("word2vec: {0}")]
    Word2Vec(#[from] Word2VecError),
    /// LOF settings or fitting failed.
    #[error("local outlier factor: {0}")]
    Lof(#[from] LofError),
    /// Autoencoder settings or fitting failed.
    #[error("autoencoder: {0}")]
    Autoencoder(#[from] AutoencoderError),
    /// The training matrix could not be built (an internal inconsistency).
    #[error("training matrix: {0}")]
    Shape(String),
    /// Ensemble settings out of range.
    #[error("ensemble setting {name} = {value} is out of range: expected {expected}")]
    Ensemble {
        /// The setting.
        name: &'static str,
        /// Its value.
        value: f64,
        /// What it must be.
        expected: &'static str,
    },
}

/// The verdict on one line and the signals behind it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Scored {
    /// The verdict.
    pub is_anomaly: bool,
    /// Higher is more anomalous; written for every line.
    pub score: f64,
    /// LOF value of the message vector (about 1 for inliers).
    pub lof: f64,
    /// Autoencoder reconstruction error (MSLE).
    pub ae_error: f64,
    /// Calibrated novelty in `[0, 1]` (0 under the legacy rule).
    pub novelty: f64,
    /// Severity prior in `[0, 1]`; `None` where it was not computed because it could not change
    /// the verdict (the sequence's novelty is 0, or the rule does not use it). An explaining
    /// scorer ([`HostModel::explaining_scorer`]) always computes it.
    pub severity: Option<f32>,
}

/// A weighted empirical distribution: the share of training lines at or below a value.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Calibration {
    /// Sorted values.
    values: Vec<f64>,
    /// Cumulative share of training lines up to and including `values[i]`.
    cumulative: Vec<f64>,
}

impl Calibration {
    fn new(mut pairs: Vec<(f64, f64)>) -> Self {
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let total: f64 = pairs
            .iter()
            .map(|p| p.1)
            .sum::<f64>()
            .max(f64::MIN_POSITIVE);
        let mut acc = 0.0;
        let (values, cumulative) = pairs
            .into_iter()
            .map(|(v, w)| {
                acc += w;
                (v, acc / total)
            })
            .unzip();
        Self { values, cumulative }
    }

    /// Share of training lines strictly below `x`.
    fn share_below(&self, x: f64) -> f64 {
        let i = self.values.partition_point(|v| *v < x);
        if i == 0 {
            0.0
        } else {
            self.cumulative[i - 1]
        }
    }
}

/// A token sequence seen in training: how often, and its component values.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Known {
    count: u64,
    lof: f64,
    ae_error: f64,
}

/// What was learned of one (source, host).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HostModel {
    params: DetectorParams,
    tokenizer: Tokenizer,
    word2vec: Word2Vec,
    lof: Lof,
    autoencoder: Autoencoder,
    /// Each distinct training token sequence (joined by [`KEY_SEP`]) with its count and
    /// component values.
    sequences: HashMap<String, Known>,
    training_lines: u64,
    lof_calibration: Calibration,
    ae_calibration: Calibration,
    notes: Vec<String>,
    /// The patterns of this host's message bodies, mined by the caller over the training
    /// window (with the lines' times) and saved with the model; empty until set.
    patterns: Miner,
    /// The components of every training sequence under the current rule, derived from the
    /// fields above when first needed (not stored in model files): every scorer looks a known
    /// line up here.
    #[serde(skip)]
    prepared: OnceLock<FxHashMap<String, Components>>,
    /// The components of novel sequences met by any scorer of this model, so that each is
    /// computed once (LOF and the autoencoder make them the costly part of scoring).
    #[serde(skip)]
    novel: NovelMemo,
}

/// A memo of novel sequences' components, shared by the threads scoring with one model. Its
/// values are a pure function of the model, so sharing it changes no verdict. A clone starts
/// empty.
#[derive(Debug, Default)]
struct NovelMemo(Mutex<FxHashMap<String, Components>>);

impl Clone for NovelMemo {
    fn clone(&self) -> Self {
        Self::default()
    }
}

/// Joins tokens into a sequence key: the tokenizer's own separator, a control character no
/// token contains.
const KEY_SEP: char = crate::tokenizer::SEPARATOR;

impl HostModel {
    /// Learns a model from the training messages of one host.
    pub fn train<S: AsRef<str>>(
        messages: &[S],
        params: &DetectorParams,
    ) -> Result<HostModel, DetectorError> {
        if messages.is_empty() {
            return Err(DetectorError::NoTrainingData);
        }
        check_ensemble(&params.ensemble)?;
        let tokenizer = Tokenizer::new(params.tokenizer);
        let mut sequences: HashMap<String, u64> = HashMap::new();
        let mut key = String::new();
        for m in messages {
            tokenizer.tokenize_joined(m.as_ref(), &mut key);
            match sequences.get_mut(key.as_str()) {
                Some(count) => *count += 1,
                None => {
                    sequences.insert(key.clone(), 1);
                }
            }
        }
        // Sorted so that training does not depend on hash-map order.
        let mut distinct: Vec<(&String, u64)> = sequences.iter().map(|(k, c)| (k, *c)).collect();
        distinct.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let corpus: Vec<(Vec<&str>, u64)> =
            distinct.iter().map(|(k, c)| (split_key(k), *c)).collect();
        let w2v_params = params.word2vec.check()?;
        let word2vec = Word2Vec::train(&corpus, &w2v_params);
        let dim = word2vec.dim();

        // Distinct vectors with the number of training lines behind each, and which vector
        // each distinct sequence has.
        let mut vectors: Vec<(Vec<f32>, u64)> = Vec::with_capacity(corpus.len());
        let mut vector_of: Vec<usize> = Vec::with_capacity(corpus.len());
        let mut index: HashMap<Vec<u32>, usize> = HashMap::new();
        let mut v = vec![0f32; dim];
        for (toks, count) in &corpus {
            word2vec.mean_vector(toks, &mut v);
            let bits: Vec<u32> = v.iter().map(|x| x.to_bits()).collect();
            let i = *index.entry(bits).or_insert_with(|| {
                vectors.push((v.clone(), 0));
                vectors.len() - 1
            });
            vectors[i].1 += count;
            vector_of.push(i);
        }
        let n = vectors.len();
        let flat64: Vec<f64> = vectors
            .iter()
            .flat_map(|(v, _)| v.iter().map(|x| f64::from(*x)))
            .collect();
        let points = Array2::from_shape_vec((n, dim), flat64)
            .map_err(|e| DetectorError::Shape(e.to_string()))?;
        let mut notes = Vec::new();
        let lof = Lof::fit(
            points.view(),
            &LofParams {
                k: params.lof_neighbors,
            }
            .check()?,
        )?;
        if lof.effective_k() < params.lof_neighbors {
            notes.push(format!(
                "LOF_NEIGHBORS reduced from {} to {}: only {} distinct message vectors in training",
                params.lof_neighbors,
                lof.effective_k(),
                n
            ));
        }
        let flat32: Vec<f32> = vectors
            .iter()
            .flat_map(|(v, _)| v.iter().copied())
            .collect();
        let weights: Vec<f32> = vectors.iter().map(|(_, c)| *c as f32).collect();
        let autoencoder =
            Autoencoder::fit(&flat32, dim, Some(&weights), &params.autoencoder.check()?)?;
        // Component values of every training vector: the calibration data, and the cached
        // values of known sequences (scoring a known line then needs no vector arithmetic).
        let components: Vec<(f64, f64)> = points
            .rows()
            .into_iter()
            .zip(&vectors)
            .map(|(row, (v, _))| (lof.score(&row.to_vec()), autoencoder.error(v)))
            .collect();
        let weighted = |pick: fn(&(f64, f64)) -> f64| {
            Calibration::new(
                components
                    .iter()
                    .zip(&vectors)
                    .map(|(c, (_, n))| (pick(c), *n as f64))
                    .collect(),
            )
        };
        let lof_calibration = weighted(|c| c.0);
        let ae_calibration = weighted(|c| c.1);
        let known: HashMap<String, Known> = distinct
            .iter()
            .zip(&vector_of)
            .map(|((key, count), &i)| {
                let (lof, ae_error) = components[i];
                (
                    (*key).clone(),
                    Known {
                        count: *count,
                        lof,
                        ae_error,
                    },
                )
            })
            .collect();
        drop(distinct);
        drop(sequences);
        let model = HostModel {
            params: params.clone(),
            tokenizer,
            word2vec,
            lof,
            autoencoder,
            training_lines: messages.len() as u64,
            sequences: known,
            lof_calibration,
            ae_calibration,
            notes,
            patterns: Miner::default(),
            prepared: OnceLock::new(),
            novel: NovelMemo::default(),
        };
        model.prepared();
        Ok(model)
    }

    /// The settings the model was trained with.
    pub fn params(&self) -> &DetectorParams {
        &self.params
    }

    /// How many training lines the model saw.
    pub fn training_lines(&self) -> u64 {
        self.training_lines
    }

    /// How many distinct token sequences the training lines held.
    pub fn distinct_sequences(&self) -> usize {
        self.sequences.len()
    }

    /// Things worth telling the operator about this model (for example a reduced k).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The patterns mined over this host's training window (see [`HostModel::set_patterns`]).
    pub fn patterns(&self) -> &Miner {
        &self.patterns
    }

    /// Keeps the patterns mined over the training window with the model, so they are saved and
    /// loaded with it.
    pub fn set_patterns(&mut self, patterns: Miner) {
        self.patterns = patterns;
    }

    /// The tokenizer this model reads messages with.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Switches the rule used for verdicts (the components are the same for both).
    pub fn set_rule(&mut self, rule: Rule, ensemble: EnsembleParams) -> Result<(), DetectorError> {
        check_ensemble(&ensemble)?;
        self.params.rule = rule;
        self.params.ensemble = ensemble;
        // Novelty depends on the rule and its settings.
        self.prepared = OnceLock::new();
        self.novel = NovelMemo::default();
        Ok(())
    }

    /// A scorer. Scorers are cheap to make, and any number may score with one model at once.
    pub fn scorer(&self) -> Scorer<'_> {
        self.new_scorer(false)
    }

    /// A scorer that also computes the severity of lines where it cannot change the verdict,
    /// for explanations.
    pub fn explaining_scorer(&self) -> Scorer<'_> {
        self.new_scorer(true)
    }

    fn new_scorer(&self, explain: bool) -> Scorer<'_> {
        Scorer {
            model: self,
            explain,
            key: String::new(),
            buffers: Buffers {
                vector: vec![0.0; self.word2vec.dim()],
                vector64: vec![0.0; self.word2vec.dim()],
            },
        }
    }

    /// The components of every training sequence (see the `prepared` field).
    fn prepared(&self) -> &FxHashMap<String, Components> {
        self.prepared.get_or_init(|| {
            self.sequences
                .iter()
                .map(|(key, k)| (key.clone(), self.components(k.lof, k.ae_error, k.count)))
                .collect()
        })
    }

    /// The components of a sequence not seen in training, from the memo or computed (and
    /// remembered).
    fn novel_components(&self, key: &str, s: &mut Buffers) -> Components {
        // A poisoned lock only loses the memo, never a verdict.
        let found = self.novel.0.lock().ok().and_then(|m| m.get(key).copied());
        if let Some(c) = found {
            return c;
        }
        let c = self.compute_novel_components(key, s);
        if let Ok(mut m) = self.novel.0.lock() {
            if m.len() >= NOVEL_LIMIT {
                m.clear();
            }
            m.insert(key.to_owned(), c);
        }
        c
    }

    /// The components of a sequence not seen in training, computed.
    fn compute_novel_components(&self, key: &str, s: &mut Buffers) -> Components {
        self.word2vec.mean_vector(&split_key(key), &mut s.vector);
        for (d, x) in s.vector64.iter_mut().zip(&s.vector) {
            *d = f64::from(*x);
        }
        self.components(
            self.lof.score(&s.vector64),
            self.autoencoder.error(&s.vector),
            0,
        )
    }

    /// The sequence-dependent part of a verdict, from the sequence's LOF value, autoencoder
    /// error and number of training lines.
    fn components(&self, lof: f64, ae_error: f64, count: u64) -> Components {
        let novelty = match self.params.rule {
            Rule::Legacy => 0.0,
            Rule::Ensemble => {
                let e = &self.params.ensemble;
                let count = count as f64;
                let common = (e.common_share * self.training_lines as f64).max(1.0);
                let rarity = (1.0 - (1.0 + count).ln() / (1.0 + common).ln()).clamp(0.0, 1.0);
                let knee = |share: f64| ((share - e.tail) / (1.0 - e.tail)).clamp(0.0, 1.0);
                let vector_novelty = knee(self.lof_calibration.share_below(lof))
                    .max(knee(self.ae_calibration.share_below(ae_error)));
                rarity.max(vector_novelty)
            }
        };
        Components {
            lof,
            ae_error,
            novelty,
        }
    }

    /// Turns a sequence's components and a line's severity into the verdict.
    fn verdict(&self, c: Components, severity: Option<f32>) -> Scored {
        let (is_anomaly, score) = match self.params.rule {
            Rule::Legacy => (
                c.ae_error > self.autoencoder.threshold() && c.lof > 1.0,
                (c.lof + c.ae_error) / 2.0,
            ),
            Rule::Ensemble => {
                let e = &self.params.ensemble;
                // Not computed only where novelty is 0 and the weight cannot matter.
                let weight = match (e.use_severity, severity) {
                    (true, Some(s)) => f64::from(s),
                    _ => 1.0,
                };
                let score = c.novelty * (e.base + (1.0 - e.base) * weight);
                (score >= e.threshold, score)
            }
        };
        Scored {
            is_anomaly,
            score,
            lof: c.lof,
            ae_error: c.ae_error,
            novelty: c.novelty,
            severity,
        }
    }
}

fn split_key(key: &str) -> Vec<&str> {
    if key.is_empty() {
        Vec::new()
    } else {
        key.split(KEY_SEP).collect()
    }
}

fn check_ensemble(e: &EnsembleParams) -> Result<(), DetectorError> {
    let unit = |name, value: f64| {
        if (0.0..=1.0).contains(&value) {
            Ok(())
        } else {
            Err(DetectorError::Ensemble {
                name,
                value,
                expected: "a number between 0 and 1",
            })
        }
    };
    unit("base", e.base)?;
    unit("threshold", e.threshold)?;
    unit("common_share", e.common_share)?;
    if !(0.0..1.0).contains(&e.tail) {
        return Err(DetectorError::Ensemble {
            name: "tail",
            value: e.tail,
            expected: "a number in [0, 1)",
        });
    }
    Ok(())
}

struct Buffers {
    vector: Vec<f32>,
    vector64: Vec<f64>,
}

/// Scores lines against one [`HostModel`]: the components of a known token sequence come from
/// the model, those of a novel one are computed once and remembered by the model (severity,
/// which depends on the raw text, is computed for every line whose verdict it can change).
pub struct Scorer<'m> {
    model: &'m HostModel,
    /// Compute severity even where it cannot change the verdict.
    explain: bool,
    key: String,
    buffers: Buffers,
}

/// What a token sequence contributes to a verdict, whatever the line's severity.
#[derive(Clone, Copy, Debug)]
struct Components {
    lof: f64,
    ae_error: f64,
    novelty: f64,
}

/// Remembered novel sequences beyond this are forgotten (memory stays bounded on endless
/// streams).
const NOVEL_LIMIT: usize = 200_000;

impl Scorer<'_> {
    /// The verdict on one message.
    pub fn score(&mut self, message: &str) -> Scored {
        self.model.tokenizer.tokenize_joined(message, &mut self.key);
        let components = match self.model.prepared().get(self.key.as_str()) {
            Some(c) => *c,
            None => self.model.novel_components(&self.key, &mut self.buffers),
        };
        // Severity only scales novelty: with novelty 0 (a common sequence) or a rule that
        // ignores it, the verdict is the same whatever it is, so it is not computed.
        let matters = self.model.params.rule == Rule::Ensemble
            && self.model.params.ensemble.use_severity
            && components.novelty != 0.0;
        let severity = (matters || self.explain).then(|| severity(message));
        self.model.verdict(components, severity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines() -> (Vec<String>, Vec<String>) {
        let train: Vec<String> = (0..400)
            .map(|i| match i % 4 {
                0 => format!("session opened for user u{} by (uid={i})", i % 7),
                1 => format!(
                    "Accepted password for admin from 10.0.0.{} port 22 ssh2",
                    i % 250
                ),
                2 => format!("cron job backup finished in {i} seconds"),
                _ if i % 40 == 3 => "disk warning: sector reallocated".to_string(),
                _ => format!("GET /index.html 200 {i} bytes"),
            })
            .collect();
        let test = vec![
            "session opened for user u3 by (uid=12)".to_string(),
            "cron job backup finished in 9 seconds".to_string(),
            "disk warning: sector reallocated".to_string(),
            "kernel panic: fatal error in module nf_conntrack".to_string(),
            "link down on eth3, carrier lost".to_string(),
        ];
        (train, test)
    }

    #[test]
    fn changing_the_rule_changes_the_verdicts_of_known_lines_too() {
        let (train, test) = lines();
        let mut model = HostModel::train(&train, &DetectorParams::default()).expect("trains");
        let known = &test[0];
        let ensemble = model.scorer().score(known);
        model
            .set_rule(Rule::Legacy, EnsembleParams::default())
            .expect("valid");
        let legacy = model.scorer().score(known);
        assert_eq!(legacy.novelty, 0.0);
        assert_eq!(legacy.score, (legacy.lof + legacy.ae_error) / 2.0);
        let strict = EnsembleParams {
            common_share: 1.0,
            ..EnsembleParams::default()
        };
        model.set_rule(Rule::Ensemble, strict).expect("valid");
        let rarer = model.scorer().score(known);
        assert!(
            rarer.novelty > ensemble.novelty,
            "{rarer:?} vs {ensemble:?}"
        );
        model
            .set_rule(Rule::Ensemble, EnsembleParams::default())
            .expect("valid");
        assert_eq!(model.scorer().score(known), ensemble);
    }

    #[test]
    fn a_syslog_header_is_not_part_of_what_the_model_learns() {
        // Trained on one relay's RFC 3164 lines; scored on the same events after the relay
        // moved to RFC 5424, wrote the host's full name and the month changed: every one is a
        // known sequence (novelty 0), and a new event is still new.
        let (train, test) = lines();
        let train: Vec<String> = train
            .iter()
            .enumerate()
            .map(|(i, m)| {
                format!(
                    "<38>Nov {:>2} 10:{:02}:01 gw-1 app[{i}]: {m}",
                    1 + i % 28,
                    i % 60
                )
            })
            .collect();
        let model = HostModel::train(&train, &DetectorParams::default()).expect("trains");
        let mut scorer = model.explaining_scorer();
        for m in &test[..3] {
            let relayed = format!("<38>1 2026-12-07T10:00:01.5Z gw-1.example.net app 4242 - - {m}");
            let scored = scorer.score(&relayed);
            assert_eq!(scored.novelty, 0.0, "{relayed}: {scored:?}");
            assert!(!scored.is_anomaly, "{relayed}");
        }
        let new = scorer.score("<38>Dec  7 10:00:01 gw-1 app[7]: kernel panic: fatal error");
        assert!(new.is_anomaly, "{new:?}");
    }

    #[test]
    fn skipping_severity_where_it_cannot_matter_changes_no_verdict() {
        let (train, test) = lines();
        for use_severity in [true, false] {
            let mut params = DetectorParams::default();
            params.ensemble.use_severity = use_severity;
            let model = HostModel::train(&train, &params).expect("trains");
            let (mut fast, mut explaining) = (model.scorer(), model.explaining_scorer());
            let mut skipped = 0;
            for line in &test {
                let (a, b) = (fast.score(line), explaining.score(line));
                assert_eq!(a.is_anomaly, b.is_anomaly, "{line}");
                assert_eq!(a.score.to_bits(), b.score.to_bits(), "{line}");
                assert_eq!(b.severity, Some(severity(line)), "{line}");
                match a.severity {
                    Some(s) => assert_eq!(Some(s), b.severity),
                    None => {
                        skipped += 1;
                        assert!(a.novelty == 0.0 || !use_severity, "{line}: {a:?}");
                    }
                }
            }
            // Routine lines have novelty 0, so at least those skip the severity scan.
            assert!(skipped >= 2, "skipped {skipped}");
        }
    }
}
