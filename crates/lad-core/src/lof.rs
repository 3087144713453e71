//! Local Outlier Factor (LOF) for novelty detection with exact k nearest neighbours.
//!
//! This module owns [`Lof`], a model fitted on training vectors that scores new vectors, its
//! hyper-parameters ([`LofParams`] checked into [`LofValidParams`]) and its errors
//! ([`LofError`]). It also owns the exact nearest-neighbour index the model searches (a ball
//! tree private to this module). It does no I/O and holds no randomness.
//!
//! # Semantics
//!
//! [`Lof::score`] matches scikit-learn's
//! `-LocalOutlierFactor(novelty=True, metric="euclidean").fit(train).score_samples(x)` on
//! training data without duplicate rows: about 1 for an inlier, clearly above 1 for an outlier.
//! The k neighbours of a training point exclude the point itself; the k neighbours of a query
//! are training points (an exact copy of a training point keeps that point as a neighbour at
//! distance 0). All arithmetic is in `f64`; callers holding `f32` vectors convert them, which is
//! lossless.
//!
//! # Duplicates (where this differs from scikit-learn)
//!
//! Log lines repeat, so training sets hold many identical vectors. In scikit-learn k copies of a
//! vector have a k-distance of 0, a local reachability density (lrd) of about 1e10 and turn
//! their neighbours' scores into huge numbers. Here:
//!
//! 1. [`Lof::fit`] first reduces the training rows to their *distinct* vectors (exact equality,
//!    `-0.0 == 0.0`) and fits on those; how often each occurred is kept
//!    ([`Lof::multiplicities`]) but does not change the LOF value. Distances between the
//!    points the model holds are therefore positive.
//! 2. The lrd is `1 / (mean reach-distance + floor)` with `floor = 1e-10 * s`, where `s` is the
//!    mean k-distance of the training points. scikit-learn adds an absolute `1e-10`; making the
//!    floor relative keeps scores invariant to the scale of the data and still guards against
//!    near-duplicate clusters, and on data of unit scale the two agree far below 1e-6.
//! 3. If there are `n` distinct points and `n <= k`, k is reduced to `n - 1`
//!    ([`Lof::effective_k`]), as scikit-learn does with `n_neighbors > n_samples`.
//! 4. With a single distinct training vector LOF is undefined: the model is *degenerate*
//!    ([`Lof::is_degenerate`]) and scores every query 1.0, leaving the verdict to other signals.
//!
//! Scores are never NaN or infinite: the training coordinates are bounded (finite, magnitude
//! below [`MAX_ABS_COORDINATE`]) so every training lrd is finite and positive, and a query so
//! far away that its distances overflow scores `f64::MAX`.
//!
//! # Determinism
//!
//! The distinct training vectors are sorted into a canonical order before the index is built,
//! and neighbours are ranked by (distance, canonical index), so the model and its scores depend
//! only on the multiset of training rows, not on their order. Fitting and batch scoring run in
//! parallel with rayon; each point's result is computed independently and collected in order,
//! so results do not depend on the number of threads.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Largest magnitude accepted for a training coordinate; beyond it squared distances could
/// overflow and turn densities into zero.
pub const MAX_ABS_COORDINATE: f64 = 1e100;

/// Relative size of the floor added to mean reach-distances (see the module docs).
const FLOOR_FACTOR: f64 = 1e-10;

/// Most points a leaf of the ball tree holds; small enough to prune, large enough that the
/// scan of a leaf, not the walk of the tree, dominates.
const LEAF_SIZE: usize = 24;

/// Up to this many distinct training points a query scans them all instead of searching the
/// tree: with LOF's large k (100 by default) in 25 dimensions the tree prunes little, and on
/// pyref's synthetic hosts (about 2,100 points) the scan took 15% less time, training and
/// scoring alike. The search's advantage grows with the number of points, hence the limit.
const SCAN_MAX: usize = 4096;

/// Unchecked LOF hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LofParams {
    /// Number of neighbours (scikit-learn's `n_neighbors`); at least 1.
    pub k: usize,
}

impl Default for LofParams {
    /// scikit-learn's default, `n_neighbors = 20`.
    fn default() -> Self {
        Self { k: 20 }
    }
}

impl LofParams {
    /// Checks the parameters once, so that a fitted model cannot come from bad settings.
    ///
    /// # Errors
    ///
    /// [`LofError::ZeroNeighbors`] when `k` is 0.
    pub fn check(&self) -> Result<LofValidParams, LofError> {
        if self.k == 0 {
            return Err(LofError::ZeroNeighbors);
        }
        Ok(LofValidParams { k: self.k })
    }
}

/// LOF hyper-parameters that passed [`LofParams::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LofValidParams {
    k: usize,
}

impl LofValidParams {
    /// The requested number of neighbours (the fitted model may use fewer, see
    /// [`Lof::effective_k`]).
    pub fn k(&self) -> usize {
        self.k
    }
}

/// Errors from checking parameters, fitting, scoring or loading a [`Lof`].
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
pub enum LofError {
    /// `k` was 0.
    #[error("LOF parameter k (neighbours) must be at least 1, found 0")]
    ZeroNeighbors,
    /// The training matrix had no rows.
    #[error("LOF training needs at least one vector, found 0 rows")]
    NoTrainingRows,
    /// The training matrix had no columns.
    #[error("LOF training needs vectors with at least one dimension, found 0 columns")]
    ZeroDimension,
    /// A training coordinate was NaN, infinite or too large.
    #[error(
        "LOF training row {row}, column {column} is {value}: expected a finite number with \
         magnitude at most 1e100"
    )]
    BadTrainingValue {
        /// Row of the training matrix.
        row: usize,
        /// Column of the training matrix.
        column: usize,
        /// The value found.
        value: f64,
    },
    /// A query vector had the wrong length.
    #[error("LOF query has {found} dimensions, expected {expected} (the training dimension)")]
    DimensionMismatch {
        /// Dimension of the training vectors.
        expected: usize,
        /// Length of the query.
        found: usize,
    },
    /// A query coordinate was NaN or infinite.
    #[error("LOF query component {index} is {value}: expected a finite number")]
    NonFiniteQuery {
        /// Index of the component in the query.
        index: usize,
        /// The value found.
        value: f64,
    },
    /// Deserialized parts of a model do not fit together.
    #[error("LOF model data is inconsistent: {0}")]
    InconsistentParts(String),
}

/// A fitted LOF novelty detector: the distinct training vectors, their k-distances and local
/// reachability densities, and an exact nearest-neighbour index over them.
///
/// Serializes as [`LofParts`] (the index is rebuilt on deserialization, and the parts are
/// checked so that a corrupt model is rejected rather than half-loaded).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "LofParts", into = "LofParts")]
pub struct Lof {
    parts: LofParts,
    /// `None` for a degenerate model (one distinct training vector).
    tree: Option<BallTree>,
}

/// The serialized form of a [`Lof`]: everything but the nearest-neighbour index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LofParts {
    /// Requested number of neighbours.
    pub k: usize,
    /// Number of neighbours used: `min(k, n_points - 1)`.
    pub effective_k: usize,
    /// Dimension of the vectors.
    pub dim: usize,
    /// Distinct training vectors in canonical order, row-major (`n_points * dim` values).
    pub points: Vec<f64>,
    /// How many training rows each distinct vector stood for.
    pub multiplicities: Vec<u64>,
    /// Distance from each point to its `effective_k`-th nearest other point.
    pub k_distances: Vec<f64>,
    /// Local reachability density of each point.
    pub lrds: Vec<f64>,
    /// Floor added to every mean reach-distance.
    pub floor: f64,
}

impl TryFrom<LofParts> for Lof {
    type Error = LofError;

    fn try_from(parts: LofParts) -> Result<Self, Self::Error> {
        let bad = |what: String| Err(LofError::InconsistentParts(what));
        let n = parts.multiplicities.len();
        if parts.dim == 0 || n == 0 {
            return bad(format!(
                "expected at least one point of at least one dimension, found {n} points of \
                 dimension {}",
                parts.dim
            ));
        }
        // Checked: a corrupt file may claim a dimension whose product with n overflows
        // (found by fuzzing: fuzz/regressions/model_file/crash-ee99...).
        let coordinates = n.checked_mul(parts.dim);
        if coordinates != Some(parts.points.len()) {
            return bad(format!(
                "expected {} coordinates ({n} points of dimension {}), found {}",
                coordinates.map_or_else(|| "more than usize::MAX".to_string(), |c| c.to_string()),
                parts.dim,
                parts.points.len()
            ));
        }
        if parts.k_distances.len() != n || parts.lrds.len() != n {
            return bad(format!(
                "expected {n} k-distances and lrds, found {} and {}",
                parts.k_distances.len(),
                parts.lrds.len()
            ));
        }
        if parts.k == 0 || parts.effective_k != parts.k.min(n - 1) {
            return bad(format!(
                "expected effective k = min(k = {}, {} points - 1), found {}",
                parts.k, n, parts.effective_k
            ));
        }
        if let Some(v) = parts
            .points
            .iter()
            .find(|v| !(v.is_finite() && v.abs() <= MAX_ABS_COORDINATE))
        {
            return bad(format!("expected finite bounded coordinates, found {v}"));
        }
        let positive = |v: &f64| v.is_finite() && *v >= 0.0;
        if !(parts.k_distances.iter().all(positive)
            && parts.lrds.iter().all(|v| positive(v) && *v > 0.0)
            && parts.floor.is_finite()
            && parts.floor > 0.0)
        {
            return bad(
                "expected finite non-negative k-distances, positive lrds and a positive floor"
                    .into(),
            );
        }
        let tree = (parts.effective_k > 0).then(|| BallTree::build(&parts.points, parts.dim));
        Ok(Lof { parts, tree })
    }
}

impl From<Lof> for LofParts {
    fn from(lof: Lof) -> Self {
        lof.parts
    }
}

impl Lof {
    /// Fits the model on `points` (one training vector per row; duplicates allowed, see the
    /// module docs).
    ///
    /// # Errors
    ///
    /// [`LofError::NoTrainingRows`], [`LofError::ZeroDimension`], or
    /// [`LofError::BadTrainingValue`] for a coordinate that is not finite or exceeds
    /// [`MAX_ABS_COORDINATE`] in magnitude.
    pub fn fit(points: ArrayView2<f64>, params: &LofValidParams) -> Result<Lof, LofError> {
        let (rows, dim) = points.dim();
        if rows == 0 {
            return Err(LofError::NoTrainingRows);
        }
        if dim == 0 {
            return Err(LofError::ZeroDimension);
        }
        for ((row, column), &value) in points.indexed_iter() {
            if !(value.is_finite() && value.abs() <= MAX_ABS_COORDINATE) {
                return Err(LofError::BadTrainingValue { row, column, value });
            }
        }
        let (distinct, multiplicities) = distinct_sorted_rows(points);
        let n = multiplicities.len();
        let k = params.k;
        let effective_k = k.min(n - 1);
        if effective_k == 0 {
            let parts = LofParts {
                k,
                effective_k,
                dim,
                points: distinct,
                multiplicities,
                k_distances: vec![0.0],
                lrds: vec![1.0],
                floor: f64::MIN_POSITIVE,
            };
            return Ok(Lof { parts, tree: None });
        }

        let tree = BallTree::build(&distinct, dim);
        // Neighbours of every training point, itself excluded; indices fit in u32 because
        // the model would not fit in memory otherwise.
        let neighbours: Vec<Vec<Neighbour>> = (0..n)
            .into_par_iter()
            .map(|i| {
                tree.knn(
                    &distinct[i * dim..(i + 1) * dim],
                    effective_k,
                    Some(i as u32),
                )
            })
            .collect();
        let k_distances: Vec<f64> = neighbours
            .iter()
            .map(|nb| nb.last().map_or(0.0, |last| last.d2.sqrt()))
            .collect();
        // Summed in index order so the floor does not depend on threading.
        let mean_k_distance = k_distances.iter().sum::<f64>() / n as f64;
        let floor = (FLOOR_FACTOR * mean_k_distance).max(f64::MIN_POSITIVE);
        let lrds: Vec<f64> = neighbours
            .par_iter()
            .map(|nb| lrd(nb, &k_distances, floor))
            .collect();
        let parts = LofParts {
            k,
            effective_k,
            dim,
            points: distinct,
            multiplicities,
            k_distances,
            lrds,
            floor,
        };
        Ok(Lof {
            parts,
            tree: Some(tree),
        })
    }

    /// Number of neighbours actually used: `min(k, n_points - 1)`; 0 for a degenerate model.
    pub fn effective_k(&self) -> usize {
        self.parts.effective_k
    }

    /// The number of neighbours requested at fit time.
    pub fn requested_k(&self) -> usize {
        self.parts.k
    }

    /// Number of distinct training vectors the model holds.
    pub fn n_points(&self) -> usize {
        self.parts.multiplicities.len()
    }

    /// Number of training rows it was fitted on, duplicates included.
    pub fn n_training_rows(&self) -> u64 {
        self.parts.multiplicities.iter().sum()
    }

    /// Dimension of the vectors the model scores.
    pub fn dim(&self) -> usize {
        self.parts.dim
    }

    /// How many training rows each distinct vector stood for, in the model's canonical order.
    pub fn multiplicities(&self) -> &[u64] {
        &self.parts.multiplicities
    }

    /// Whether the training data held a single distinct vector, so every score is 1.0.
    pub fn is_degenerate(&self) -> bool {
        self.tree.is_none()
    }

    /// The serializable parts of the model.
    pub fn parts(&self) -> &LofParts {
        &self.parts
    }

    /// LOF value of `x`: finite, at least 0, about 1 for an inlier and above 1 for an outlier.
    ///
    /// A query that [`Lof::try_score`] rejects (wrong length, NaN or infinite component)
    /// scores `f64::MAX`, i.e. as an extreme outlier; use `try_score` to tell the cases apart.
    pub fn score(&self, x: &[f64]) -> f64 {
        self.try_score(x).unwrap_or(f64::MAX)
    }

    /// LOF value of `x`, or why it cannot be scored.
    ///
    /// # Errors
    ///
    /// [`LofError::DimensionMismatch`] or [`LofError::NonFiniteQuery`].
    pub fn try_score(&self, x: &[f64]) -> Result<f64, LofError> {
        if x.len() != self.parts.dim {
            return Err(LofError::DimensionMismatch {
                expected: self.parts.dim,
                found: x.len(),
            });
        }
        if let Some((index, &value)) = x.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(LofError::NonFiniteQuery { index, value });
        }
        let Some(tree) = &self.tree else {
            return Ok(1.0);
        };
        let neighbours = tree.knn(x, self.parts.effective_k, None);
        let query_lrd = lrd(&neighbours, &self.parts.k_distances, self.parts.floor);
        let mean_lrd = neighbours
            .iter()
            .map(|nb| self.parts.lrds[nb.id as usize])
            .sum::<f64>()
            / neighbours.len() as f64;
        let value = mean_lrd / query_lrd;
        // Only a query whose distances overflow gets here with a non-finite value.
        Ok(if value.is_finite() { value } else { f64::MAX })
    }

    /// Scores every row of `queries` in parallel; the result for row i is at index i.
    pub fn score_batch(&self, queries: ArrayView2<f64>) -> Vec<Result<f64, LofError>> {
        let rows: Vec<Vec<f64>> = queries.rows().into_iter().map(|r| r.to_vec()).collect();
        rows.par_iter().map(|row| self.try_score(row)).collect()
    }
}

/// Local reachability density from a point's neighbours.
fn lrd(neighbours: &[Neighbour], k_distances: &[f64], floor: f64) -> f64 {
    let sum: f64 = neighbours
        .iter()
        .map(|nb| nb.d2.sqrt().max(k_distances[nb.id as usize]))
        .sum();
    1.0 / (sum / neighbours.len() as f64 + floor)
}

/// The distinct rows of `points` in lexicographic order (by `f64::total_cmp`, with `-0.0`
/// read as `0.0`), row-major, and how often each occurred.
fn distinct_sorted_rows(points: ArrayView2<f64>) -> (Vec<f64>, Vec<u64>) {
    let dim = points.ncols();
    let normalised: Array2<f64> = points.mapv(|v| if v == 0.0 { 0.0 } else { v });
    let flat: Vec<f64> = normalised.iter().copied().collect();
    let row = |i: usize| &flat[i * dim..(i + 1) * dim];
    let mut order: Vec<usize> = (0..points.nrows()).collect();
    order.sort_unstable_by(|&a, &b| cmp_rows(row(a), row(b)));
    let mut distinct = Vec::with_capacity(flat.len());
    let mut counts: Vec<u64> = Vec::new();
    let mut last: Option<usize> = None;
    for &i in &order {
        match last {
            Some(l) if cmp_rows(row(l), row(i)) == Ordering::Equal => {
                if let Some(c) = counts.last_mut() {
                    *c += 1;
                }
            }
            _ => {
                distinct.extend_from_slice(row(i));
                counts.push(1);
                last = Some(i);
            }
        }
    }
    (distinct, counts)
}

fn cmp_rows(a: &[f64], b: &[f64]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.total_cmp(y))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// A candidate neighbour: squared distance and canonical index. Ordered by distance, then
/// index, so the k nearest are well defined even with ties.
#[derive(Debug, Clone, Copy)]
struct Neighbour {
    d2: f64,
    id: u32,
}

impl PartialEq for Neighbour {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Neighbour {}

impl PartialOrd for Neighbour {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Neighbour {
    fn cmp(&self, other: &Self) -> Ordering {
        self.d2.total_cmp(&other.d2).then(self.id.cmp(&other.id))
    }
}

/// Squared Euclidean distance, summed in four lanes so the compiler can vectorise it.
#[inline]
fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0_f64; 4];
    let (a4, a_rest) = a.split_at(a.len() - a.len() % 4);
    let (b4, b_rest) = b.split_at(a4.len());
    for (x, y) in a4.chunks_exact(4).zip(b4.chunks_exact(4)) {
        for lane in 0..4 {
            let d = x[lane] - y[lane];
            acc[lane] += d * d;
        }
    }
    let mut tail = 0.0;
    for (x, y) in a_rest.iter().zip(b_rest) {
        let d = x - y;
        tail += d * d;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// Squared Euclidean distance, or `None` as soon as a partial sum exceeds `bound`.
///
/// The partial sums only grow, so `None` means the full distance exceeds `bound` too; the
/// full sum is always added in the same order, so a distance does not depend on `bound`.
/// Stopping early skips much of the work in high dimensions, where most points are far.
#[inline]
fn squared_distance_within(a: &[f64], b: &[f64], bound: f64) -> Option<f64> {
    let mut acc = [0.0_f64; 4];
    let n8 = a.len() - a.len() % 8;
    let (a8, a_rest) = a.split_at(n8);
    let (b8, b_rest) = b.split_at(n8);
    for (x, y) in a8.chunks_exact(8).zip(b8.chunks_exact(8)) {
        for lane in 0..4 {
            let d0 = x[lane] - y[lane];
            let d1 = x[lane + 4] - y[lane + 4];
            acc[lane] += d0 * d0 + d1 * d1;
        }
        if (acc[0] + acc[1]) + (acc[2] + acc[3]) > bound {
            return None;
        }
    }
    let mut tail = 0.0;
    for (x, y) in a_rest.iter().zip(b_rest) {
        let d = x - y;
        tail += d * d;
    }
    Some((acc[0] + acc[1]) + (acc[2] + acc[3]) + tail)
}

/// A node of the ball tree: a contiguous range of points, a bounding ball, and children.
#[derive(Debug, Clone)]
struct Node {
    start: usize,
    end: usize,
    radius: f64,
    /// Index of the first child (the second is `left + 1`); 0 for a leaf.
    left: usize,
}

/// Exact k-nearest-neighbour index: a ball tree whose points are stored in tree order so a
/// leaf is one contiguous slice.
#[derive(Debug, Clone)]
struct BallTree {
    dim: usize,
    /// Points in tree order, row-major.
    data: Vec<f64>,
    /// Canonical index of the point stored at each tree position.
    ids: Vec<u32>,
    nodes: Vec<Node>,
    /// Centroid of node i at `centroids[i * dim..(i + 1) * dim]`.
    centroids: Vec<f64>,
}

impl BallTree {
    /// Builds the tree over `points` (row-major, `dim` columns, at least one row).
    fn build(points: &[f64], dim: usize) -> BallTree {
        let n = points.len() / dim;
        let mut perm: Vec<usize> = (0..n).collect();
        let mut tree = BallTree {
            dim,
            data: Vec::with_capacity(points.len()),
            ids: Vec::with_capacity(n),
            nodes: Vec::new(),
            centroids: Vec::new(),
        };
        let root = tree.new_slot();
        tree.build_node(points, &mut perm, root, 0, n);
        for &i in &perm {
            tree.data.extend_from_slice(&points[i * dim..(i + 1) * dim]);
            tree.ids.push(i as u32);
        }
        tree
    }

    /// Appends an empty node and its centroid; returns its index.
    fn new_slot(&mut self) -> usize {
        self.nodes.push(Node {
            start: 0,
            end: 0,
            radius: 0.0,
            left: 0,
        });
        self.centroids.extend(std::iter::repeat_n(0.0, self.dim));
        self.nodes.len() - 1
    }

    /// Fills node `slot` with the ball around `perm[start..end]` and builds its subtree.
    fn build_node(
        &mut self,
        points: &[f64],
        perm: &mut [usize],
        slot: usize,
        start: usize,
        end: usize,
    ) {
        let dim = self.dim;
        let row = |i: usize| &points[i * dim..(i + 1) * dim];
        let members = &perm[start..end];
        let centroid = &mut self.centroids[slot * dim..(slot + 1) * dim];
        for &i in members {
            for (c, v) in centroid.iter_mut().zip(row(i)) {
                *c += v;
            }
        }
        let count = members.len() as f64;
        centroid.iter_mut().for_each(|c| *c /= count);
        let radius = members
            .iter()
            .map(|&i| squared_distance(centroid, row(i)))
            .fold(0.0_f64, f64::max)
            .sqrt();
        // The radius is inflated a little so that rounding can never prune a true neighbour.
        self.nodes[slot] = Node {
            start,
            end,
            radius: radius * (1.0 + 1e-9) + f64::MIN_POSITIVE,
            left: 0,
        };
        if end - start <= LEAF_SIZE {
            return;
        }
        // Split at the median of the coordinate with the widest spread.
        let mut split_dim = 0;
        let mut widest = f64::NEG_INFINITY;
        for d in 0..dim {
            let (lo, hi) = members
                .iter()
                .map(|&i| points[i * dim + d])
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                    (lo.min(v), hi.max(v))
                });
            if hi - lo > widest {
                widest = hi - lo;
                split_dim = d;
            }
        }
        let mid = start + (end - start) / 2;
        perm[start..end].select_nth_unstable_by(mid - start, |&a, &b| {
            points[a * dim + split_dim]
                .total_cmp(&points[b * dim + split_dim])
                .then(a.cmp(&b))
        });
        let left = self.new_slot();
        let right = self.new_slot();
        debug_assert_eq!(right, left + 1);
        self.nodes[slot].left = left;
        self.build_node(points, perm, left, start, mid);
        self.build_node(points, perm, right, mid, end);
    }

    /// The `k` nearest points to `q` (excluding canonical index `exclude`), nearest first.
    fn knn(&self, q: &[f64], k: usize, exclude: Option<u32>) -> Vec<Neighbour> {
        if self.ids.len() <= SCAN_MAX {
            self.knn_scan(q, k, exclude)
        } else {
            self.knn_search(q, k, exclude)
        }
    }

    /// [`BallTree::knn`] by searching the tree.
    fn knn_search(&self, q: &[f64], k: usize, exclude: Option<u32>) -> Vec<Neighbour> {
        let mut heap = BinaryHeap::with_capacity(k + 1);
        self.search(0, q, k, exclude, &mut heap);
        heap.into_sorted_vec()
    }

    /// [`BallTree::knn`] by one pass over every point, keeping candidates no farther than the
    /// k-th nearest found so far. It gives the same neighbours in the same order: distances
    /// are summed by the same function, a point is dropped only when its distance is sure to
    /// exceed that bound, and ties are broken by index.
    fn knn_scan(&self, q: &[f64], k: usize, exclude: Option<u32>) -> Vec<Neighbour> {
        if k == 0 {
            return Vec::new();
        }
        let mut kept: Vec<Neighbour> = Vec::with_capacity(2 * k);
        let mut bound = f64::INFINITY;
        for (row, &id) in self.data.chunks_exact(self.dim).zip(&self.ids) {
            if Some(id) == exclude {
                continue;
            }
            let Some(d2) = squared_distance_within(q, row, bound) else {
                continue;
            };
            kept.push(Neighbour { d2, id });
            if kept.len() == 2 * k {
                kept.select_nth_unstable(k - 1);
                kept.truncate(k);
                bound = kept[k - 1].d2;
            }
        }
        if kept.len() > k {
            kept.select_nth_unstable(k - 1);
            kept.truncate(k);
        }
        kept.sort_unstable();
        kept
    }

    fn search(
        &self,
        node: usize,
        q: &[f64],
        k: usize,
        exclude: Option<u32>,
        heap: &mut BinaryHeap<Neighbour>,
    ) {
        let n = &self.nodes[node];
        if n.left == 0 {
            let dim = self.dim;
            for pos in n.start..n.end {
                let id = self.ids[pos];
                if Some(id) == exclude {
                    continue;
                }
                let row = &self.data[pos * dim..(pos + 1) * dim];
                if heap.len() < k {
                    let d2 = squared_distance_within(q, row, f64::INFINITY).unwrap_or(f64::MAX);
                    heap.push(Neighbour { d2, id });
                } else if let Some(mut worst) = heap.peek_mut() {
                    if let Some(d2) = squared_distance_within(q, row, worst.d2) {
                        let cand = Neighbour { d2, id };
                        if cand < *worst {
                            *worst = cand;
                        }
                    }
                }
            }
            return;
        }
        let (a, b) = (n.left, n.left + 1);
        let (la, lb) = (self.lower_bound(a, q), self.lower_bound(b, q));
        let (first, l_first, second, l_second) = if la <= lb {
            (a, la, b, lb)
        } else {
            (b, lb, a, la)
        };
        for (child, bound) in [(first, l_first), (second, l_second)] {
            // Equal bounds are visited: a tie in distance may still win on index.
            let prune = heap.len() == k && heap.peek().is_some_and(|w| bound * bound > w.d2);
            if !prune {
                self.search(child, q, k, exclude, heap);
            }
        }
    }

    /// Lower bound of the distance from `q` to any point of `node`.
    fn lower_bound(&self, node: usize, q: &[f64]) -> f64 {
        let c = &self.centroids[node * self.dim..(node + 1) * self.dim];
        (squared_distance(q, c).sqrt() - self.nodes[node].radius).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};
    use proptest::prelude::*;
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn params(k: usize) -> LofValidParams {
        LofParams { k }.check().expect("k > 0")
    }

    fn random_points(rng: &mut ChaCha8Rng, n: usize, dim: usize) -> Array2<f64> {
        Array2::from_shape_fn((n, dim), |_| rng.random_range(-1.0..1.0))
    }

    /// LOF computed from all pairwise distances, independently of the tree: the reference
    /// for data without distance ties.
    fn brute_force_lof(train: &Array2<f64>, k: usize, queries: &Array2<f64>) -> Vec<f64> {
        let n = train.nrows();
        let k = k.min(n - 1);
        let dist = |a: &[f64], b: &[f64]| -> f64 {
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y) * (x - y))
                .sum::<f64>()
                .sqrt()
        };
        let rows: Vec<Vec<f64>> = train.rows().into_iter().map(|r| r.to_vec()).collect();
        let knn = |q: &[f64], skip: Option<usize>| -> Vec<(f64, usize)> {
            let mut all: Vec<(f64, usize)> = (0..n)
                .filter(|&j| Some(j) != skip)
                .map(|j| (dist(q, &rows[j]), j))
                .collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0));
            all.truncate(k);
            all
        };
        let nbs: Vec<Vec<(f64, usize)>> = (0..n).map(|i| knn(&rows[i], Some(i))).collect();
        let kdist: Vec<f64> = nbs.iter().map(|nb| nb[k - 1].0).collect();
        let floor = 1e-10 * kdist.iter().sum::<f64>() / n as f64;
        let lrd = |nb: &[(f64, usize)]| {
            1.0 / (nb.iter().map(|&(d, j)| d.max(kdist[j])).sum::<f64>() / k as f64 + floor)
        };
        let lrds: Vec<f64> = nbs.iter().map(|nb| lrd(nb)).collect();
        queries
            .rows()
            .into_iter()
            .map(|q| {
                let nb = knn(q.as_slice().expect("standard layout"), None);
                nb.iter().map(|&(_, j)| lrds[j]).sum::<f64>() / k as f64 / lrd(&nb)
            })
            .collect()
    }

    #[test]
    fn zero_k_is_rejected() {
        assert_eq!(LofParams { k: 0 }.check(), Err(LofError::ZeroNeighbors));
    }

    #[test]
    fn bad_training_input_is_rejected() {
        let p = params(3);
        assert_eq!(
            Lof::fit(Array2::<f64>::zeros((0, 4)).view(), &p).err(),
            Some(LofError::NoTrainingRows)
        );
        assert_eq!(
            Lof::fit(Array2::<f64>::zeros((3, 0)).view(), &p).err(),
            Some(LofError::ZeroDimension)
        );
        let nan = array![[0.0, 1.0], [f64::NAN, 2.0]];
        assert!(matches!(
            Lof::fit(nan.view(), &p),
            Err(LofError::BadTrainingValue {
                row: 1,
                column: 0,
                ..
            })
        ));
        let huge = array![[0.0, 1e200]];
        assert!(matches!(
            Lof::fit(huge.view(), &p),
            Err(LofError::BadTrainingValue {
                row: 0,
                column: 1,
                ..
            })
        ));
    }

    #[test]
    fn bad_queries_are_reported_and_score_as_extreme() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let lof = Lof::fit(random_points(&mut rng, 30, 3).view(), &params(5)).expect("valid");
        assert_eq!(
            lof.try_score(&[0.0, 0.0]),
            Err(LofError::DimensionMismatch {
                expected: 3,
                found: 2
            })
        );
        assert!(matches!(
            lof.try_score(&[0.0, f64::INFINITY, 0.0]),
            Err(LofError::NonFiniteQuery { index: 1, .. })
        ));
        assert_eq!(lof.score(&[f64::NAN, 0.0, 0.0]), f64::MAX);
        // Distances overflow: the score saturates instead of becoming infinite.
        assert_eq!(lof.score(&[1e300, -1e300, 0.0]), f64::MAX);
    }

    #[test]
    fn tree_matches_brute_force_on_random_data() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for (n, dim, k) in [(400, 25, 30), (1000, 3, 10), (60, 8, 59), (200, 1, 5)] {
            let train = random_points(&mut rng, n, dim);
            let queries = random_points(&mut rng, 50, dim) * 1.5;
            let lof = Lof::fit(train.view(), &params(k)).expect("valid");
            let expected = brute_force_lof(&train, k, &queries);
            for (q, e) in queries.rows().into_iter().zip(expected) {
                let got = lof.score(q.as_slice().expect("standard layout"));
                assert!(
                    (got - e).abs() <= 1e-9 * e.abs(),
                    "n={n} dim={dim}: {got} vs {e}"
                );
            }
        }
    }

    #[test]
    fn scan_and_tree_search_find_the_same_neighbours() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for (n, dim, k) in [(500, 25, 100), (300, 3, 10), (50, 8, 60), (200, 2, 7)] {
            // Coarse coordinates on a small grid, some rows repeated: many distance ties.
            let mut rows: Vec<f64> = (0..n * dim)
                .map(|_| f64::from(rng.random_range(-3_i32..=3)) * 0.5)
                .collect();
            rows.extend_from_within(..dim * 10);
            let tree = BallTree::build(&rows, dim);
            let points = rows.len() / dim;
            for i in 0..points {
                let q = &rows[i * dim..(i + 1) * dim];
                let exclude = (i % 2 == 0).then_some(i as u32);
                let key = |v: Vec<Neighbour>| -> Vec<(u64, u32)> {
                    v.into_iter().map(|nb| (nb.d2.to_bits(), nb.id)).collect()
                };
                let scan = key(tree.knn_scan(q, k, exclude));
                let search = key(tree.knn_search(q, k, exclude));
                assert_eq!(scan.len(), k.min(points - usize::from(exclude.is_some())));
                assert_eq!(scan, search, "n={n} dim={dim} k={k} point {i}");
            }
        }
    }

    #[test]
    fn heavy_duplicates_stay_finite_and_sensible() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let heavy = [0.25_f64; 6];
        let mut rows: Vec<f64> = Vec::new();
        for _ in 0..500 {
            rows.extend_from_slice(&heavy);
        }
        // Other points around the heavy one, some of them repeated too.
        for i in 0..300 {
            let p: Vec<f64> = (0..6).map(|_| 0.25 + rng.random_range(-0.5..0.5)).collect();
            for _ in 0..(1 + i % 3) {
                rows.extend_from_slice(&p);
            }
        }
        let n_rows = rows.len() / 6;
        let train = Array2::from_shape_vec((n_rows, 6), rows).expect("shape");
        let lof = Lof::fit(train.view(), &params(20)).expect("valid");
        assert_eq!(lof.n_points(), 301);
        assert_eq!(lof.n_training_rows(), n_rows as u64);
        assert!(lof.multiplicities().contains(&500));
        for r in train.rows() {
            let s = lof.score(r.as_slice().expect("standard layout"));
            assert!(s.is_finite() && s >= 0.0, "{s}");
        }
        let at_heavy = lof.score(&heavy);
        assert!(
            at_heavy < 1.3,
            "duplicate of the heavy point scored {at_heavy}"
        );
        let far = lof.score(&[5.0; 6]);
        assert!(far > 3.0, "far point scored {far}");
    }

    #[test]
    fn k_is_reduced_when_there_are_few_distinct_points() {
        let train = array![[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 0.0]];
        let lof = Lof::fit(train.view(), &params(10)).expect("valid");
        assert_eq!(lof.n_points(), 3);
        assert_eq!(lof.effective_k(), 2);
        assert_eq!(lof.requested_k(), 10);
        assert!(!lof.is_degenerate());
        let inside = lof.score(&[0.3, 0.3]);
        let outside = lof.score(&[10.0, 10.0]);
        assert!(inside.is_finite() && outside > inside, "{inside} {outside}");
    }

    #[test]
    fn one_distinct_point_gives_a_degenerate_model() {
        let train = array![[2.0, -0.0], [2.0, 0.0], [2.0, 0.0]];
        let lof = Lof::fit(train.view(), &params(5)).expect("valid");
        assert!(lof.is_degenerate());
        assert_eq!(lof.n_points(), 1);
        assert_eq!(lof.effective_k(), 0);
        assert_eq!(lof.score(&[2.0, 0.0]), 1.0);
        assert_eq!(lof.score(&[100.0, 7.0]), 1.0);
        let bytes = postcard::to_stdvec(&lof).expect("serialize");
        let back: Lof = postcard::from_bytes(&bytes).expect("deserialize");
        assert!(back.is_degenerate());
        assert_eq!(back.score(&[100.0, 7.0]), 1.0);
    }

    #[test]
    fn postcard_round_trip_gives_identical_scores() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let train = random_points(&mut rng, 500, 10);
        let lof = Lof::fit(train.view(), &params(15)).expect("valid");
        let bytes = postcard::to_stdvec(&lof).expect("serialize");
        let back: Lof = postcard::from_bytes(&bytes).expect("deserialize");
        assert_eq!(back.parts(), lof.parts());
        for q in random_points(&mut rng, 100, 10).rows() {
            let q = q.as_slice().expect("standard layout");
            assert_eq!(back.score(q).to_bits(), lof.score(q).to_bits());
        }
    }

    #[test]
    fn inconsistent_parts_are_rejected() {
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        let lof = Lof::fit(random_points(&mut rng, 20, 2).view(), &params(4)).expect("valid");
        let mut parts = lof.parts().clone();
        parts.lrds.pop();
        assert!(matches!(
            Lof::try_from(parts),
            Err(LofError::InconsistentParts(_))
        ));
        let mut parts = lof.parts().clone();
        parts.effective_k = 7;
        assert!(matches!(
            Lof::try_from(parts),
            Err(LofError::InconsistentParts(_))
        ));
        let mut parts = lof.parts().clone();
        parts.points[3] = f64::NAN;
        assert!(matches!(
            Lof::try_from(parts),
            Err(LofError::InconsistentParts(_))
        ));
    }

    #[test]
    fn batch_scores_match_single_scores() {
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        let lof = Lof::fit(random_points(&mut rng, 300, 4).view(), &params(10)).expect("valid");
        let queries = random_points(&mut rng, 40, 4);
        let batch = lof.score_batch(queries.view());
        for (q, b) in queries.rows().into_iter().zip(batch) {
            let single = lof.score(q.as_slice().expect("standard layout"));
            assert_eq!(b.map(f64::to_bits), Ok(single.to_bits()));
        }
    }

    /// Coordinates from a small set, so that duplicates and distance ties are frequent.
    fn grid_rows() -> impl Strategy<Value = (usize, Vec<Vec<f64>>)> {
        (1usize..4).prop_flat_map(|dim| {
            let row = proptest::collection::vec((-3i32..4).prop_map(|v| f64::from(v) * 0.5), dim);
            (Just(dim), proptest::collection::vec(row, 1..50))
        })
    }

    proptest! {
        #[test]
        fn order_of_training_rows_does_not_matter(
            (dim, rows) in grid_rows(),
            k in 1usize..12,
            seed in any::<u64>(),
        ) {
            let to_array = |rows: &[Vec<f64>]| {
                Array2::from_shape_vec((rows.len(), dim), rows.concat()).expect("shape")
            };
            let mut shuffled = rows.clone();
            shuffled.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
            let a = Lof::fit(to_array(&rows).view(), &params(k)).expect("valid");
            let b = Lof::fit(to_array(&shuffled).view(), &params(k)).expect("valid");
            prop_assert_eq!(a.parts(), b.parts());
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
            let mut queries: Vec<Vec<f64>> = rows.iter().take(5).cloned().collect();
            for _ in 0..5 {
                queries.push((0..dim).map(|_| rng.random_range(-3.0..3.0)).collect());
            }
            for q in &queries {
                let (sa, sb) = (a.score(q), b.score(q));
                prop_assert_eq!(sa.to_bits(), sb.to_bits());
                prop_assert!(sa.is_finite() && sa >= 0.0, "score {}", sa);
            }
        }

        #[test]
        fn scores_do_not_depend_on_the_scale_of_the_data(
            seed in any::<u64>(),
            scale_exp in -6i32..7,
        ) {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let train = random_points(&mut rng, 80, 3);
            let queries = random_points(&mut rng, 10, 3) * 2.0;
            let scale = 10f64.powi(scale_exp);
            let a = Lof::fit(train.view(), &params(8)).expect("valid");
            let b = Lof::fit((&train * scale).view(), &params(8)).expect("valid");
            for q in queries.rows() {
                let q = q.to_vec();
                let qs: Vec<f64> = q.iter().map(|v| v * scale).collect();
                let (sa, sb) = (a.score(&q), b.score(&qs));
                prop_assert!((sa - sb).abs() <= 1e-9 * sa, "{} vs {}", sa, sb);
            }
        }
    }
}
