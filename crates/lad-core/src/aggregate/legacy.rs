//! The old system's grouping, kept selectable as [`super::GroupingMethod::Dbscan`]: letters-only
//! tokens, one mean vector per message, DBSCAN (`petal-clustering`) with `AGGR_EPS` and
//! `AGGR_MIN_SAMPLES`; every noise point becomes a group of its own.
//!
//!
//! The vectors come from a [`Word2Vec`] trained on the distinct token sequences of the messages
//! being grouped (with their counts), as the old system trained one on each batch. This module
//! does no I/O.

use std::collections::HashMap;

use ndarray::Array2;
use petal_clustering::{Dbscan, Fit};
use petal_neighbors::distance::Euclidean;

use super::{AggregateError, AggregateParams};
use crate::tokenizer::{Tokenizer, TokenizerMode};
use crate::word2vec::{Word2Vec, Word2VecParams, Word2VecValidParams};

/// The old aggregator's Word2Vec settings: gensim's defaults (`min_count` 5 included) with
/// `AGGR_VECTOR_LENGTH`, `AGGR_WINDOW` and the seed.
pub(super) fn word2vec_params(
    params: &AggregateParams,
) -> Result<Word2VecValidParams, AggregateError> {
    Ok(Word2VecParams {
        vector_length: params.vector_length,
        window: params.window,
        min_count: 5,
        seed: params.seed,
        ..Word2VecParams::default()
    }
    .check()?)
}

/// Raw group ids for `messages`: DBSCAN cluster ids, then one fresh id per noise point.
pub(super) fn dbscan_labels<S: AsRef<str>>(
    messages: &[S],
    params: &AggregateParams,
) -> Result<Vec<usize>, AggregateError> {
    let w2v_params = word2vec_params(params)?;
    let tokenizer = Tokenizer::new(TokenizerMode::LettersOnly);
    let tokens: Vec<Vec<String>> = messages
        .iter()
        .map(|m| tokenizer.tokenize(m.as_ref()))
        .collect();
    let vectors = message_vectors(&tokens, &w2v_params);
    let (clusters, _noise) =
        Dbscan::new(params.eps, params.min_samples, Euclidean::default()).fit(&vectors, None);
    let mut labels = vec![usize::MAX; messages.len()];
    for (&cluster, members) in &clusters {
        for &m in members {
            if let Some(label) = labels.get_mut(m) {
                *label = cluster;
            }
        }
    }
    let mut next = clusters.len();
    for label in &mut labels {
        if *label == usize::MAX {
            *label = next;
            next += 1;
        }
    }
    Ok(labels)
}

/// One mean token vector per message, from a model trained on these messages: distinct token
/// sequences with their counts, in order of first appearance (so training is deterministic).
fn message_vectors(tokens: &[Vec<String>], params: &Word2VecValidParams) -> Array2<f64> {
    let mut index: HashMap<&[String], usize> = HashMap::new();
    let mut corpus: Vec<(Vec<&str>, u64)> = Vec::new();
    for sequence in tokens {
        let next = corpus.len();
        let i = *index.entry(sequence.as_slice()).or_insert(next);
        if i == next {
            corpus.push((sequence.iter().map(String::as_str).collect(), 0));
        }
        corpus[i].1 += 1;
    }
    let model = Word2Vec::train(&corpus, params);
    let dim = model.dim();
    let mut out = Array2::zeros((tokens.len(), dim));
    let mut mean = vec![0.0f32; dim];
    for (row, sequence) in tokens.iter().enumerate() {
        model.mean_vector(sequence, &mut mean);
        for (k, &x) in mean.iter().enumerate() {
            out[[row, k]] = f64::from(x);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{group, AggregateError, AggregateParams, GroupingMethod};

    #[test]
    fn identical_messages_cluster_and_noise_stays_single() {
        let mut messages = vec!["disk full on sda"; 6];
        messages.push("kernel panic now");
        // Identical messages have identical vectors; the last one has no word seen 5 times,
        // so its vector is zero while the others' is not: a tiny radius separates them.
        let params = AggregateParams {
            method: GroupingMethod::Dbscan,
            eps: 1e-9,
            ..AggregateParams::default()
        };
        let g = group(&messages, &params).expect("valid params");
        assert_eq!(g.labels, [0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(g.templates, ["disk full on sda", "kernel panic now"]);
    }

    #[test]
    fn a_radius_covering_everything_gives_one_group() {
        let mut messages = vec!["disk full on sda"; 6];
        messages.extend(["kernel panic now", "link down on eth0"]);
        let params = AggregateParams {
            method: GroupingMethod::Dbscan,
            eps: 1e6,
            min_samples: 1,
            ..AggregateParams::default()
        };
        let g = group(&messages, &params).expect("valid params");
        assert_eq!(g.labels, [0; 8]);
    }

    #[test]
    fn word2vec_settings_are_checked() {
        let params = AggregateParams {
            method: GroupingMethod::Dbscan,
            window: 20_000,
            ..AggregateParams::default()
        };
        assert!(matches!(
            group(&["a b"], &params),
            Err(AggregateError::Word2Vec(_))
        ));
    }
}
