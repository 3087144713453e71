//! The old system's grouping, kept selectable as [`super::GroupingMethod::Dbscan`]: letters-only
//! tokens, one mean vector per message, DBSCAN (`petal-clustering`) with `AGGR_EPS` and
//! `AGGR_MIN_SAMPLES`; every noise point becomes a group of its own.
//!
//! TODO(lead): the vectors should come from `crate::word2vec::Word2Vec` trained on the messages
//! being grouped (`Word2Vec::train(&corpus, &params.check()?)` with `vector_length` = AGGR_VECTOR_LENGTH,
//! `window` = AGGR_WINDOW, `seed`, then `mean_vector`). Until that module lands, [`message_vectors`]
//! uses a private stand-in (a seeded random vector per distinct token); only that function has
//! to change. This module does no I/O.

use ndarray::Array2;
use petal_clustering::{Dbscan, Fit};
use petal_neighbors::distance::Euclidean;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::AggregateParams;
use crate::tokenizer::{Tokenizer, TokenizerMode};

/// Raw group ids for `messages`: DBSCAN cluster ids, then one fresh id per noise point.
pub(super) fn dbscan_labels<S: AsRef<str>>(messages: &[S], params: &AggregateParams) -> Vec<usize> {
    let tokenizer = Tokenizer::new(TokenizerMode::LettersOnly);
    let corpus: Vec<Vec<String>> = messages
        .iter()
        .map(|m| tokenizer.tokenize(m.as_ref()))
        .collect();
    let vectors = message_vectors(&corpus, params);
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
    labels
}

/// One mean token vector per message (a message without tokens is the zero vector).
fn message_vectors(corpus: &[Vec<String>], params: &AggregateParams) -> Array2<f64> {
    let dim = params.vector_length;
    let mut out = Array2::zeros((corpus.len(), dim));
    let mut cache: std::collections::HashMap<&str, Vec<f64>> = std::collections::HashMap::new();
    for (row, tokens) in corpus.iter().enumerate() {
        if tokens.is_empty() {
            continue;
        }
        for token in tokens {
            let v = cache
                .entry(token.as_str())
                .or_insert_with(|| stand_in_vector(token, dim, params.seed));
            for (k, x) in v.iter().enumerate() {
                out[[row, k]] += x;
            }
        }
        let n = tokens.len() as f64;
        out.row_mut(row).mapv_inplace(|x| x / n);
    }
    out
}

/// A seeded pseudo-random vector for a token (stand-in for a trained Word2Vec vector).
fn stand_in_vector(token: &str, dim: usize, seed: u64) -> Vec<f64> {
    // FNV-1a: a stable hash, unlike std's randomly keyed one.
    let hash = token
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64 ^ seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    let mut rng = ChaCha8Rng::seed_from_u64(hash);
    (0..dim).map(|_| rng.random_range(-0.5..0.5)).collect()
}

#[cfg(test)]
mod tests {
    use super::super::{group, AggregateParams, GroupingMethod};

    #[test]
    fn identical_messages_cluster_and_noise_stays_single() {
        let mut messages = vec!["disk full on sda"; 6];
        messages.push("kernel panic now");
        let params = AggregateParams {
            method: GroupingMethod::Dbscan,
            ..AggregateParams::default()
        };
        let g = group(&messages, &params).expect("valid params");
        assert_eq!(g.labels, [0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(g.templates, ["disk full on sda", "kernel panic now"]);
    }
}
