//! autoencoder: the dense reconstruction model that scores a message vector by how badly a small
//! network trained on the host's normal traffic reproduces it.
//!
//! It owns the whole model: min-max scaling with the training minimum and maximum, a dense
//! network `d -> hidden... -> d` (ReLU hidden layers, sigmoid output, inverted dropout after every
//! hidden layer except the narrowest one), Adam, the mean squared logarithmic error loss as Keras
//! computes it, and the threshold (weighted mean plus one weighted standard deviation of the
//! training errors). Main types: [`AutoencoderParams`] (unchecked settings),
//! [`AutoencoderValidParams`] (checked), [`Autoencoder`] (the fitted model, serde-serialisable)
//! and [`ScoreScratch`] (buffers for allocation-free scoring).
//!
//! The forward and backward passes are written by hand in `f32` over flat weight vectors; there is
//! no ML framework. It does no I/O, reads no clock and draws randomness only from a
//! `ChaCha8Rng` seeded from the parameters, so the same data and seed give a bitwise identical
//! model. It does not decide what is anomalous: it returns errors and a threshold.
//!
//! Scaling at scoring time is not clipped (as scikit-learn's `MinMaxScaler`): a value beyond the
//! training range scales outside `[0, 1]`; the sigmoid output cannot follow it above 1, so the
//! error grows, while a value below the minimum is clamped to `1e-7` by the loss (as in Keras) and
//! so looks like the minimum. A feature that was constant in training has scale 1, so it maps to
//! 0 in training and to `x - min` later (again as scikit-learn).

use rand::seq::SliceRandom;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Keras' `epsilon()`: the floor of both sides of the logarithm in MSLE.
const MSLE_EPS: f32 = 1e-7;
/// Adam's first-moment decay (Keras default).
const ADAM_BETA1: f64 = 0.9;
/// Adam's second-moment decay (Keras default).
const ADAM_BETA2: f64 = 0.999;
/// Adam's denominator epsilon (Keras default, not PyTorch's 1e-8).
const ADAM_EPS: f32 = 1e-7;
/// Rows scored per block by batch scoring: big enough to amortise loop overhead, small enough
/// that a block's activations stay in cache.
const SCORE_BLOCK: usize = 256;
/// Stream ids that keep the three uses of the seed independent of each other.
const STREAM_INIT: u64 = 0;
const STREAM_SHUFFLE: u64 = 1;
const STREAM_DROPOUT: u64 = 2;

/// Errors from checking parameters, fitting, scoring or loading an autoencoder.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
pub enum AutoencoderError {
    /// A hyper-parameter is out of range.
    #[error("autoencoder parameter `{name}`: expected {expected}, found {found}")]
    InvalidParam {
        /// Field name in [`AutoencoderParams`].
        name: &'static str,
        /// What an acceptable value looks like.
        expected: &'static str,
        /// The value given.
        found: String,
    },
    /// The vector dimension is zero.
    #[error("autoencoder input: expected a dimension of at least 1, found 0")]
    ZeroDimension,
    /// The flat row buffer does not hold a whole number of rows.
    #[error(
        "autoencoder rows: expected a length that is a multiple of dimension {dim}, found {len}"
    )]
    RaggedRows {
        /// Length of the flat buffer.
        len: usize,
        /// Row dimension.
        dim: usize,
    },
    /// There is nothing to train on (no rows, or every row has weight 0).
    #[error(
        "autoencoder training set: expected at least one row with positive weight, found none"
    )]
    EmptyTrainingSet,
    /// The weights slice does not have one weight per row.
    #[error("autoencoder weights: expected {expected} weights (one per row), found {found}")]
    WeightsLength {
        /// Number of rows.
        expected: usize,
        /// Number of weights given.
        found: usize,
    },
    /// A weight is negative or not finite.
    #[error("autoencoder weight of row {row}: expected a finite value >= 0, found {value}")]
    BadWeight {
        /// Row index.
        row: usize,
        /// The weight.
        value: f32,
    },
    /// A training value is NaN or infinite.
    #[error(
        "autoencoder training row {row}, feature {col}: expected a finite value, found {value}"
    )]
    NonFiniteValue {
        /// Row index.
        row: usize,
        /// Feature index.
        col: usize,
        /// The value.
        value: f32,
    },
    /// A row given for scoring has the wrong length.
    #[error("autoencoder row: expected {expected} values, found {found}")]
    RowDimension {
        /// The model's dimension.
        expected: usize,
        /// The row's length.
        found: usize,
    },
    /// Training produced a non-finite loss or threshold (diverged).
    #[error("autoencoder training: expected a finite threshold, found {value}")]
    Diverged {
        /// The threshold computed.
        value: f64,
    },
    /// A deserialised model is internally inconsistent.
    #[error("autoencoder model data: {0}")]
    Corrupt(String),
}

/// Unchecked autoencoder hyper-parameters; turn them into [`AutoencoderValidParams`] with
/// [`AutoencoderParams::check`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AutoencoderParams {
    /// Widths of the hidden layers, input side first; the output layer has the input's width.
    pub hidden: Vec<usize>,
    /// Dropout rate after every hidden layer except the narrowest (the first narrowest if tied);
    /// training only. `0` disables dropout.
    pub dropout: f32,
    /// Passes over the training rows.
    pub epochs: usize,
    /// Rows per gradient step (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Adam learning rate.
    pub learning_rate: f32,
    /// Seed for weight initialisation, shuffling and dropout.
    pub seed: u64,
    /// With weights, shrink the batch to `batch_size * rows / total weight` rows so an epoch
    /// takes as many Adam steps as training on the rows repeated by their weights would;
    /// otherwise batches of `batch_size` distinct rows make far fewer steps and train less.
    pub match_repeated_steps: bool,
}

impl Default for AutoencoderParams {
    /// The reference model: 64-32-16-8-16-32-64, dropout 0.1, 20 epochs, batch 512, lr 1e-3,
    /// seed 1, weighted batches shrunk to the repeated rows' step count.
    fn default() -> Self {
        Self {
            hidden: vec![64, 32, 16, 8, 16, 32, 64],
            dropout: 0.1,
            epochs: 20,
            batch_size: 512,
            learning_rate: 1e-3,
            seed: 1,
            match_repeated_steps: true,
        }
    }
}

impl AutoencoderParams {
    /// Checks every field; the result is the only way to reach [`Autoencoder::fit`].
    pub fn check(&self) -> Result<AutoencoderValidParams, AutoencoderError> {
        let bad = |name, expected, found: String| AutoencoderError::InvalidParam {
            name,
            expected,
            found,
        };
        if self.hidden.is_empty() || self.hidden.contains(&0) {
            return Err(bad(
                "hidden",
                "a non-empty list of positive widths",
                format!("{:?}", self.hidden),
            ));
        }
        if !(self.dropout >= 0.0 && self.dropout < 1.0) {
            return Err(bad("dropout", "a rate in [0, 1)", self.dropout.to_string()));
        }
        if self.epochs == 0 {
            return Err(bad("epochs", "at least 1", "0".into()));
        }
        if self.batch_size == 0 {
            return Err(bad("batch_size", "at least 1", "0".into()));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(bad(
                "learning_rate",
                "a finite value > 0",
                self.learning_rate.to_string(),
            ));
        }
        Ok(AutoencoderValidParams(self.clone()))
    }
}

/// Hyper-parameters that passed [`AutoencoderParams::check`].
#[derive(Clone, Debug, PartialEq)]
pub struct AutoencoderValidParams(AutoencoderParams);

impl AutoencoderValidParams {
    /// The checked parameters.
    pub fn params(&self) -> &AutoencoderParams {
        &self.0
    }
}

/// A fitted autoencoder: scaling, network weights and threshold.
///
/// Serialised with serde (postcard inside a model file); deserialising checks that the shapes
/// agree, so a loaded model can never index out of bounds.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "AutoencoderRepr")]
pub struct Autoencoder {
    /// Layer widths including input and output: `[d, hidden..., d]`.
    sizes: Vec<usize>,
    /// All layers' parameters, per layer the kernel (`in x out`, row-major) then the bias.
    params: Vec<f32>,
    /// Training minimum per feature.
    data_min: Vec<f32>,
    /// `1 / (max - min)` per feature, 1 for a constant feature.
    scale: Vec<f32>,
    /// Weighted mean plus one weighted standard deviation of the training errors.
    threshold: f64,
    /// Weighted mean training loss of every epoch (dropout on), for diagnostics.
    epoch_losses: Vec<f32>,
}

/// The serialised form of [`Autoencoder`], checked before it becomes one. Field order must match.
#[derive(Deserialize)]
struct AutoencoderRepr {
    sizes: Vec<usize>,
    params: Vec<f32>,
    data_min: Vec<f32>,
    scale: Vec<f32>,
    threshold: f64,
    epoch_losses: Vec<f32>,
}

impl TryFrom<AutoencoderRepr> for Autoencoder {
    type Error = AutoencoderError;

    fn try_from(r: AutoencoderRepr) -> Result<Self, Self::Error> {
        let corrupt = |s: String| Err(AutoencoderError::Corrupt(s));
        if r.sizes.len() < 2 || r.sizes.contains(&0) || r.sizes.first() != r.sizes.last() {
            return corrupt(format!(
                "expected layer sizes [d, hidden..., d] with positive widths, found {:?}",
                r.sizes
            ));
        }
        let expected = param_count(&r.sizes);
        if r.params.len() != expected {
            return corrupt(format!(
                "expected {expected} parameters for sizes {:?}, found {}",
                r.sizes,
                r.params.len()
            ));
        }
        let d = r.sizes[0];
        if r.data_min.len() != d || r.scale.len() != d {
            return corrupt(format!(
                "expected {d} scaling values, found {} minima and {} scales",
                r.data_min.len(),
                r.scale.len()
            ));
        }
        let all_finite = r
            .params
            .iter()
            .chain(&r.data_min)
            .chain(&r.scale)
            .all(|v| v.is_finite());
        if !all_finite || !r.threshold.is_finite() {
            return corrupt("expected finite parameters and threshold, found NaN or inf".into());
        }
        Ok(Self {
            sizes: r.sizes,
            params: r.params,
            data_min: r.data_min,
            scale: r.scale,
            threshold: r.threshold,
            epoch_losses: r.epoch_losses,
        })
    }
}

/// Reusable buffers for scoring rows one at a time without allocating; get one from
/// [`Autoencoder::scratch`].
#[derive(Clone, Debug, Default)]
pub struct ScoreScratch {
    a: Vec<f32>,
    b: Vec<f32>,
    target: Vec<f32>,
}

/// Number of parameters of a network with these layer widths.
fn param_count(sizes: &[usize]) -> usize {
    sizes.windows(2).map(|w| w[0] * w[1] + w[1]).sum()
}

/// Offsets of each layer's kernel in the flat parameter vector (one extra entry: the total).
fn layer_offsets(sizes: &[usize]) -> Vec<usize> {
    let mut offsets = Vec::with_capacity(sizes.len());
    let mut o = 0;
    offsets.push(0);
    for w in sizes.windows(2) {
        o += w[0] * w[1] + w[1];
        offsets.push(o);
    }
    offsets
}

/// Column blocks of the kernels below: wide blocks keep many independent accumulators in
/// registers (hiding add latency), 8-wide blocks cover the small layers, then single columns.
const WIDE: usize = 32;
const NARROW: usize = 8;
/// Rows of a batch whose kernel-gradient contributions are summed in registers before being
/// added to the gradient; small enough that the block stays in L1 cache.
const GRAD_ROWS: usize = 32;

/// `out[r] = b + x[r] . W` for every row `r`; `W` is `nin x nout` row-major, `b` has `nout`
/// values.
///
/// Each output element is `b[j] + x[0] W[0][j] + x[1] W[1][j] + ...` in that order whatever the
/// number of rows, so scoring a row alone or in a batch gives the same bits.
fn dense(x: &[f32], nin: usize, w: &[f32], b: &[f32], out: &mut [f32]) {
    matmul_rows(x, nin, w, Some(b), b.len(), out);
}

/// `out[r] = init + x[r] . W` with `W` `nin x nout` row-major and `init` the bias or zero,
/// computed in column blocks whose accumulators stay in registers.
fn matmul_rows(
    x: &[f32],
    nin: usize,
    w: &[f32],
    init: Option<&[f32]>,
    nout: usize,
    out: &mut [f32],
) {
    for (xr, or) in x.chunks_exact(nin).zip(out.chunks_exact_mut(nout)) {
        let mut j = 0;
        while j + WIDE <= nout {
            column_block::<WIDE>(xr, w, nout, j, init, or);
            j += WIDE;
        }
        while j + NARROW <= nout {
            column_block::<NARROW>(xr, w, nout, j, init, or);
            j += NARROW;
        }
        while j < nout {
            column_block::<1>(xr, w, nout, j, init, or);
            j += 1;
        }
    }
}

/// Columns `j..j + B` of one output row of [`matmul_rows`].
#[inline(always)]
fn column_block<const B: usize>(
    xr: &[f32],
    w: &[f32],
    nout: usize,
    j: usize,
    init: Option<&[f32]>,
    or: &mut [f32],
) {
    let mut acc = [0.0f32; B];
    if let Some(b) = init {
        acc.copy_from_slice(&b[j..j + B]);
    }
    for (&xk, wk) in xr.iter().zip(w.chunks_exact(nout)) {
        for (a, &wv) in acc.iter_mut().zip(&wk[j..j + B]) {
            *a += xk * wv;
        }
    }
    or[j..j + B].copy_from_slice(&acc);
}

/// Adds the kernel gradient `x^T . delta` to `gw` (`nin x nout`) and the bias gradient (column
/// sums of `delta`) to `gb`.
fn dense_grad(x: &[f32], nin: usize, delta: &[f32], gw: &mut [f32], gb: &mut [f32]) {
    let nout = gb.len();
    for (xb, db) in x
        .chunks(GRAD_ROWS * nin)
        .zip(delta.chunks(GRAD_ROWS * nout))
    {
        for (k, gk) in gw.chunks_exact_mut(nout).enumerate() {
            let mut j = 0;
            while j + WIDE <= nout {
                grad_block::<WIDE>(xb, nin, k, db, nout, j, gk);
                j += WIDE;
            }
            while j + NARROW <= nout {
                grad_block::<NARROW>(xb, nin, k, db, nout, j, gk);
                j += NARROW;
            }
            while j < nout {
                grad_block::<1>(xb, nin, k, db, nout, j, gk);
                j += 1;
            }
        }
        for dr in db.chunks_exact(nout) {
            for (g, &dv) in gb.iter_mut().zip(dr) {
                *g += dv;
            }
        }
    }
}

/// Columns `j..j + B` of kernel row `k` of [`dense_grad`], summed over one block of rows.
#[inline(always)]
fn grad_block<const B: usize>(
    xb: &[f32],
    nin: usize,
    k: usize,
    db: &[f32],
    nout: usize,
    j: usize,
    gk: &mut [f32],
) {
    let mut acc = [0.0f32; B];
    for (xr, dr) in xb.chunks_exact(nin).zip(db.chunks_exact(nout)) {
        let xk = xr[k];
        for (a, &dv) in acc.iter_mut().zip(&dr[j..j + B]) {
            *a += xk * dv;
        }
    }
    for (g, a) in gk[j..j + B].iter_mut().zip(acc) {
        *g += a;
    }
}

/// `prev = delta . W^T`, given `wt` = `W^T` (`nout x nin` row-major) so it is a plain
/// [`matmul_rows`] with no bias.
fn dense_backprop(delta: &[f32], nout: usize, wt: &[f32], prev: &mut [f32]) {
    let nin = wt.len() / nout;
    matmul_rows(delta, nout, wt, None, nin, prev);
}

fn relu(v: &mut [f32]) {
    for x in v {
        *x = x.max(0.0);
    }
}

fn sigmoid(v: &mut [f32]) {
    for x in v {
        *x = 1.0 / (1.0 + (-*x).exp());
    }
}

/// `log(max(x, eps) + 1)`, as Keras writes it (not `ln_1p`), so errors match the reference.
fn msle_log(x: f32) -> f32 {
    (x.max(MSLE_EPS) + 1.0).ln()
}

/// Weighted mean and population standard deviation (numpy's `std`, ddof 0) of `values`;
/// `None` weights mean 1 each. Weights must sum to a positive value.
fn weighted_mean_std(values: &[f64], weights: Option<&[f32]>) -> (f64, f64) {
    let w = |i: usize| weights.map_or(1.0, |w| f64::from(w[i]));
    let (mut sw, mut swx) = (0.0, 0.0);
    for (i, &v) in values.iter().enumerate() {
        sw += w(i);
        swx += w(i) * v;
    }
    let mean = swx / sw;
    let var = values
        .iter()
        .enumerate()
        .map(|(i, &v)| w(i) * (v - mean) * (v - mean))
        .sum::<f64>()
        / sw;
    (mean, var.sqrt())
}

/// Index of the hidden layer that gets no dropout: the narrowest (the first one if tied).
fn bottleneck(hidden: &[usize]) -> usize {
    let mut best = 0;
    for (i, &h) in hidden.iter().enumerate() {
        if h < hidden[best] {
            best = i;
        }
    }
    best
}

/// Buffers and state for training; sized once for the largest batch.
struct Trainer {
    sizes: Vec<usize>,
    offsets: Vec<usize>,
    /// `acts[0]` is the batch input, `acts[l + 1]` the output of layer `l` after dropout.
    acts: Vec<Vec<f32>>,
    /// Dropout multipliers (`0` or `1 / (1 - rate)`) of hidden layer `l`; empty if none.
    masks: Vec<Vec<f32>>,
    /// The batch's `log(max(target, eps) + 1)`.
    log_t: Vec<f32>,
    /// The batch's normalised sample weights (sum 1).
    w_norm: Vec<f32>,
    delta: Vec<f32>,
    delta_prev: Vec<f32>,
    /// Transposed kernel of the layer being back-propagated, so `delta . W^T` vectorises.
    wt: Vec<f32>,
    grad: Vec<f32>,
    noise: Vec<u8>,
    /// Dropout draws a 16-bit value per unit and drops it below this (rate rounded to 1/65536).
    drop_below: u32,
    keep_scale: f32,
}

impl Trainer {
    fn new(sizes: &[usize], batch: usize, dropout: f32) -> Self {
        let max_w = sizes.iter().copied().max().unwrap_or(0);
        let hidden = &sizes[1..sizes.len() - 1];
        let skip = bottleneck(hidden);
        let masks = (0..hidden.len())
            .map(|l| {
                if dropout > 0.0 && l != skip {
                    vec![0.0; batch * hidden[l]]
                } else {
                    Vec::new()
                }
            })
            .collect();
        Self {
            sizes: sizes.to_vec(),
            offsets: layer_offsets(sizes),
            acts: sizes.iter().map(|&s| vec![0.0; batch * s]).collect(),
            masks,
            log_t: vec![0.0; batch * sizes[0]],
            w_norm: vec![0.0; batch],
            delta: vec![0.0; batch * max_w],
            delta_prev: vec![0.0; batch * max_w],
            wt: vec![0.0; max_w * max_w],
            grad: vec![0.0; param_count(sizes)],
            noise: Vec::new(),
            drop_below: (f64::from(dropout) * 65536.0).round() as u32,
            keep_scale: 1.0 / (1.0 - dropout),
        }
    }

    /// Copies the rows `idx` of `scaled`/`log_targets` (and their weights) into the batch buffers.
    fn load_batch(
        &mut self,
        idx: &[usize],
        scaled: &[f32],
        log_targets: &[f32],
        weights: Option<&[f32]>,
    ) {
        let d = self.sizes[0];
        let mut sum = 0.0f64;
        for (r, &i) in idx.iter().enumerate() {
            self.acts[0][r * d..(r + 1) * d].copy_from_slice(&scaled[i * d..(i + 1) * d]);
            self.log_t[r * d..(r + 1) * d].copy_from_slice(&log_targets[i * d..(i + 1) * d]);
            let w = weights.map_or(1.0, |w| w[i]);
            self.w_norm[r] = w;
            sum += f64::from(w);
        }
        let inv = (1.0 / sum) as f32;
        for w in &mut self.w_norm[..idx.len()] {
            *w *= inv;
        }
    }

    /// Forward and backward pass over the loaded batch of `n` rows; fills `self.grad` with the
    /// gradient of the weighted mean loss and returns that loss. Dropout is drawn from `rng`
    /// when given, off otherwise.
    fn gradient(&mut self, params: &[f32], n: usize, mut rng: Option<&mut ChaCha8Rng>) -> f32 {
        let n_layers = self.sizes.len() - 1;
        let d = self.sizes[0];
        for l in 0..n_layers {
            let (nin, nout) = (self.sizes[l], self.sizes[l + 1]);
            let o = self.offsets[l];
            let (w, b) = params[o..o + nin * nout + nout].split_at(nin * nout);
            let (lo, hi) = self.acts.split_at_mut(l + 1);
            let out = &mut hi[0][..n * nout];
            dense(&lo[l][..n * nin], nin, w, b, out);
            if l + 1 == n_layers {
                sigmoid(out);
                continue;
            }
            relu(out);
            let mask = &mut self.masks[l];
            if let (false, Some(rng)) = (mask.is_empty(), rng.as_deref_mut()) {
                self.noise.resize(2 * n * nout, 0);
                rng.fill_bytes(&mut self.noise);
                let mask = &mut mask[..n * nout];
                for ((m, pair), a) in mask.iter_mut().zip(self.noise.chunks_exact(2)).zip(out) {
                    let u = u32::from(u16::from_le_bytes([pair[0], pair[1]]));
                    *m = if u < self.drop_below {
                        0.0
                    } else {
                        self.keep_scale
                    };
                    *a *= *m;
                }
            }
        }

        // Output delta: d(loss)/dz of the sigmoid layer, weighted per row.
        let pred = &self.acts[n_layers][..n * d];
        let delta = &mut self.delta[..n * d];
        let mut loss = 0.0f32;
        let inv_d = 1.0 / d as f32;
        for r in 0..n {
            let wr = self.w_norm[r];
            let mut row_loss = 0.0f32;
            for j in r * d..(r + 1) * d {
                let p = pred[j];
                let diff = msle_log(p) - self.log_t[j];
                row_loss += diff * diff;
                // max(p, eps) passes no gradient below eps, as in TensorFlow.
                let dp = if p >= MSLE_EPS {
                    2.0 * diff * inv_d / (p + 1.0)
                } else {
                    0.0
                };
                delta[j] = wr * dp * p * (1.0 - p);
            }
            loss += wr * row_loss * inv_d;
        }

        self.grad.fill(0.0);
        for l in (0..n_layers).rev() {
            let (nin, nout) = (self.sizes[l], self.sizes[l + 1]);
            let o = self.offsets[l];
            let x = &self.acts[l][..n * nin];
            let delta = &self.delta[..n * nout];
            let (gw, gb) = self.grad[o..o + nin * nout + nout].split_at_mut(nin * nout);
            dense_grad(x, nin, delta, gw, gb);
            if l == 0 {
                break;
            }
            // delta_prev = delta . W^T, then through the dropout and ReLU of layer l - 1.
            let w = &params[o..o + nin * nout];
            let wt = &mut self.wt[..nin * nout];
            for (k, wk) in w.chunks_exact(nout).enumerate() {
                for (j, &v) in wk.iter().enumerate() {
                    wt[j * nin + k] = v;
                }
            }
            let prev = &mut self.delta_prev[..n * nin];
            dense_backprop(delta, nout, wt, prev);
            let mask = &self.masks[l - 1];
            // Branch-free selects so these loops vectorise. An output is > 0 exactly when ReLU
            // was active and the unit was kept.
            if mask.is_empty() || rng.is_none() {
                for (p, &a) in prev.iter_mut().zip(x) {
                    *p *= f32::from(u8::from(a > 0.0));
                }
            } else {
                for ((p, &a), &m) in prev.iter_mut().zip(x).zip(mask) {
                    *p *= m * f32::from(u8::from(a > 0.0));
                }
            }
            std::mem::swap(&mut self.delta, &mut self.delta_prev);
        }
        loss
    }
}

/// Adam state over the flat parameter vector, updated the way Keras 3 does.
struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
    t: i32,
    lr: f64,
}

impl Adam {
    fn new(n: usize, lr: f32) -> Self {
        Self {
            m: vec![0.0; n],
            v: vec![0.0; n],
            t: 0,
            lr: f64::from(lr),
        }
    }

    fn step(&mut self, params: &mut [f32], grad: &[f32]) {
        self.t += 1;
        let alpha = (self.lr * (1.0 - ADAM_BETA2.powi(self.t)).sqrt()
            / (1.0 - ADAM_BETA1.powi(self.t))) as f32;
        let (c1, c2) = ((1.0 - ADAM_BETA1) as f32, (1.0 - ADAM_BETA2) as f32);
        for (((p, &g), m), v) in params
            .iter_mut()
            .zip(grad)
            .zip(&mut self.m)
            .zip(&mut self.v)
        {
            *m += (g - *m) * c1;
            *v += (g * g - *v) * c2;
            *p -= *m * alpha / (v.sqrt() + ADAM_EPS);
        }
    }
}

/// Glorot-uniform kernels and zero biases, as Keras initialises `Dense`.
fn init_params(sizes: &[usize], rng: &mut ChaCha8Rng) -> Vec<f32> {
    let mut params = Vec::with_capacity(param_count(sizes));
    for w in sizes.windows(2) {
        let limit = (6.0 / (w[0] + w[1]) as f64).sqrt() as f32;
        for _ in 0..w[0] * w[1] {
            params.push((rng.random::<f32>() * 2.0 - 1.0) * limit);
        }
        params.extend(std::iter::repeat_n(0.0, w[1]));
    }
    params
}

impl Autoencoder {
    /// Trains on `rows` (row-major, `dim` values per row) with optional per-row `weights`
    /// (for example counts of identical rows): a batch's loss is the weighted mean of its rows'
    /// losses and the threshold uses the weighted mean and standard deviation. Rows of weight 0
    /// are ignored. Batches are drawn from the rows given, so weighting a row by `c` is much
    /// cheaper than repeating it `c` times and close to it in spirit: with
    /// [`AutoencoderParams::match_repeated_steps`] an epoch takes as many steps as with the
    /// repeats, with smaller batches of distinct rows (noisier gradients).
    pub fn fit(
        rows: &[f32],
        dim: usize,
        weights: Option<&[f32]>,
        params: &AutoencoderValidParams,
    ) -> Result<Autoencoder, AutoencoderError> {
        let p = params.params();
        if dim == 0 {
            return Err(AutoencoderError::ZeroDimension);
        }
        if !rows.len().is_multiple_of(dim) {
            return Err(AutoencoderError::RaggedRows {
                len: rows.len(),
                dim,
            });
        }
        let n_all = rows.len() / dim;
        if let Some(w) = weights {
            if w.len() != n_all {
                return Err(AutoencoderError::WeightsLength {
                    expected: n_all,
                    found: w.len(),
                });
            }
            if let Some((row, &value)) = w
                .iter()
                .enumerate()
                .find(|(_, v)| !(v.is_finite() && **v >= 0.0))
            {
                return Err(AutoencoderError::BadWeight { row, value });
            }
        }
        if let Some((i, &value)) = rows.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(AutoencoderError::NonFiniteValue {
                row: i / dim,
                col: i % dim,
                value,
            });
        }
        // Rows with weight 0 take no part, not even in the scaling.
        let kept: Vec<usize> = (0..n_all)
            .filter(|&i| weights.is_none_or(|w| w[i] > 0.0))
            .collect();
        if kept.is_empty() {
            return Err(AutoencoderError::EmptyTrainingSet);
        }
        let n = kept.len();
        let kept_w: Option<Vec<f32>> = weights.map(|w| kept.iter().map(|&i| w[i]).collect());

        let mut data_min = vec![f32::INFINITY; dim];
        let mut data_max = vec![f32::NEG_INFINITY; dim];
        for &i in &kept {
            for (j, &v) in rows[i * dim..(i + 1) * dim].iter().enumerate() {
                data_min[j] = data_min[j].min(v);
                data_max[j] = data_max[j].max(v);
            }
        }
        let scale: Vec<f32> = data_min
            .iter()
            .zip(&data_max)
            .map(|(&lo, &hi)| {
                let s = 1.0 / (hi - lo);
                // A constant feature (or a range too small to invert) keeps scale 1.
                if hi > lo && s.is_finite() {
                    s
                } else {
                    1.0
                }
            })
            .collect();
        let mut scaled = Vec::with_capacity(n * dim);
        for &i in &kept {
            scale_row(
                &rows[i * dim..(i + 1) * dim],
                &data_min,
                &scale,
                &mut scaled,
            );
        }
        let log_targets: Vec<f32> = scaled.iter().map(|&v| msle_log(v)).collect();

        let mut sizes = Vec::with_capacity(p.hidden.len() + 2);
        sizes.push(dim);
        sizes.extend(&p.hidden);
        sizes.push(dim);

        let mut init_rng = ChaCha8Rng::seed_from_u64(p.seed);
        init_rng.set_stream(STREAM_INIT);
        let mut shuffle_rng = init_rng.clone();
        shuffle_rng.set_stream(STREAM_SHUFFLE);
        let mut dropout_rng = init_rng.clone();
        dropout_rng.set_stream(STREAM_DROPOUT);

        let mut net = init_params(&sizes, &mut init_rng);
        let batch = match (&kept_w, p.match_repeated_steps) {
            (Some(w), true) => {
                // Shrink batches so an epoch takes as many steps as with the rows repeated.
                let total: f64 = w.iter().map(|&v| f64::from(v)).sum();
                ((p.batch_size as f64 * n as f64 / total).floor() as usize).clamp(1, n)
            }
            _ => p.batch_size.min(n),
        };
        let mut trainer = Trainer::new(&sizes, batch, p.dropout);
        let mut adam = Adam::new(net.len(), p.learning_rate);
        let mut order: Vec<usize> = (0..n).collect();
        let mut epoch_losses = Vec::with_capacity(p.epochs);
        for _ in 0..p.epochs {
            order.shuffle(&mut shuffle_rng);
            let (mut loss_sum, mut weight_sum) = (0.0f64, 0.0f64);
            for idx in order.chunks(batch) {
                trainer.load_batch(idx, &scaled, &log_targets, kept_w.as_deref());
                let rng = (p.dropout > 0.0).then_some(&mut dropout_rng);
                let loss = trainer.gradient(&net, idx.len(), rng);
                adam.step(&mut net, &trainer.grad);
                let bw = kept_w.as_deref().map_or(idx.len() as f64, |w| {
                    idx.iter().map(|&i| f64::from(w[i])).sum()
                });
                loss_sum += f64::from(loss) * bw;
                weight_sum += bw;
            }
            epoch_losses.push((loss_sum / weight_sum) as f32);
        }

        let mut model = Autoencoder {
            sizes,
            params: net,
            data_min,
            scale,
            threshold: 0.0,
            epoch_losses,
        };
        let mut errors = Vec::with_capacity(n);
        model.errors_of_scaled(&scaled, &mut errors);
        let (mean, std) = weighted_mean_std(&errors, kept_w.as_deref());
        model.threshold = mean + std;
        if !model.threshold.is_finite() || model.params.iter().any(|v| !v.is_finite()) {
            return Err(AutoencoderError::Diverged {
                value: model.threshold,
            });
        }
        Ok(model)
    }

    /// The input (and output) dimension.
    pub fn dim(&self) -> usize {
        self.sizes[0]
    }

    /// Mean plus one standard deviation of the (weighted) training reconstruction errors.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// Weighted mean training loss of each epoch, dropout on (what Keras reports as `loss`).
    pub fn epoch_losses(&self) -> &[f32] {
        &self.epoch_losses
    }

    /// Buffers for [`Autoencoder::error_with`].
    pub fn scratch(&self) -> ScoreScratch {
        let max_w = self.sizes.iter().copied().max().unwrap_or(0);
        ScoreScratch {
            a: vec![0.0; max_w],
            b: vec![0.0; max_w],
            target: Vec::with_capacity(self.dim()),
        }
    }

    /// Reconstruction error (MSLE over features, dropout off) of one unscaled row; `NaN` if the
    /// row does not have [`Autoencoder::dim`] values (use [`Autoencoder::error_with`] to get
    /// the reason). Allocates its buffers; prefer `error_with` or `errors` in a loop.
    pub fn error(&self, row: &[f32]) -> f64 {
        self.error_with(row, &mut self.scratch())
            .unwrap_or(f64::NAN)
    }

    /// Like [`Autoencoder::error`], reusing `scratch` so nothing is allocated once it is sized.
    pub fn error_with(
        &self,
        row: &[f32],
        scratch: &mut ScoreScratch,
    ) -> Result<f64, AutoencoderError> {
        let d = self.dim();
        if row.len() != d {
            return Err(AutoencoderError::RowDimension {
                expected: d,
                found: row.len(),
            });
        }
        let max_w = self.sizes.iter().copied().max().unwrap_or(0);
        scratch.a.resize(max_w, 0.0);
        scratch.b.resize(max_w, 0.0);
        scratch.target.clear();
        scale_row(row, &self.data_min, &self.scale, &mut scratch.target);
        scratch.a[..d].copy_from_slice(&scratch.target);
        self.forward_rows(&mut scratch.a, &mut scratch.b, 1);
        Ok(row_error(&scratch.a[..d], &scratch.target))
    }

    /// Reconstruction errors of many unscaled rows (row-major, [`Autoencoder::dim`] values
    /// each), bitwise equal to calling [`Autoencoder::error`] on each.
    pub fn errors(&self, rows: &[f32]) -> Result<Vec<f64>, AutoencoderError> {
        let d = self.dim();
        if !rows.len().is_multiple_of(d) {
            return Err(AutoencoderError::RaggedRows {
                len: rows.len(),
                dim: d,
            });
        }
        let mut scaled = Vec::with_capacity(rows.len());
        for r in rows.chunks_exact(d) {
            scale_row(r, &self.data_min, &self.scale, &mut scaled);
        }
        let mut out = Vec::with_capacity(rows.len() / d);
        self.errors_of_scaled(&scaled, &mut out);
        Ok(out)
    }

    /// Runs the network (dropout off) on `n` rows held in `a`; the result ends in `a`.
    fn forward_rows(&self, a: &mut Vec<f32>, b: &mut Vec<f32>, n: usize) {
        let n_layers = self.sizes.len() - 1;
        let mut o = 0;
        for l in 0..n_layers {
            let (nin, nout) = (self.sizes[l], self.sizes[l + 1]);
            let (w, rest) = self.params[o..].split_at(nin * nout);
            let bias = &rest[..nout];
            o += nin * nout + nout;
            let out = &mut b[..n * nout];
            dense(&a[..n * nin], nin, w, bias, out);
            if l + 1 == n_layers {
                sigmoid(out);
            } else {
                relu(out);
            }
            std::mem::swap(a, b);
        }
    }

    /// Appends the errors of already-scaled rows to `out`, in blocks of [`SCORE_BLOCK`] rows.
    fn errors_of_scaled(&self, scaled: &[f32], out: &mut Vec<f64>) {
        let d = self.dim();
        let max_w = self.sizes.iter().copied().max().unwrap_or(0);
        let mut a = vec![0.0; SCORE_BLOCK * max_w];
        let mut b = vec![0.0; SCORE_BLOCK * max_w];
        for block in scaled.chunks(SCORE_BLOCK * d) {
            let n = block.len() / d;
            a[..block.len()].copy_from_slice(block);
            self.forward_rows(&mut a, &mut b, n);
            for (pr, tr) in a[..n * d].chunks_exact(d).zip(block.chunks_exact(d)) {
                out.push(row_error(pr, tr));
            }
        }
    }
}

/// MSLE of one reconstruction `pred` against its scaled input `target`, mean over features.
fn row_error(pred: &[f32], target: &[f32]) -> f64 {
    let sum: f64 = pred
        .iter()
        .zip(target)
        .map(|(&p, &t)| {
            let diff = msle_log(p) - msle_log(t);
            f64::from(diff * diff)
        })
        .sum();
    sum / pred.len() as f64
}

/// Appends `(x - min) * scale` of one row to `out`.
fn scale_row(row: &[f32], data_min: &[f32], scale: &[f32], out: &mut Vec<f32>) {
    out.extend(
        row.iter()
            .zip(data_min)
            .zip(scale)
            .map(|((&x, &lo), &s)| (x - lo) * s),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random values in [0, 1) for test data.
    fn uniform(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| rng.random::<f32>()).collect()
    }

    /// Rows near a 2-dimensional manifold in `dim` dimensions: `x_j = 0.5 + 0.4 sin(a_j u + b_j v)`
    /// plus a little noise.
    fn manifold(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let coef = uniform(2 * dim, seed ^ 0xabc);
        let uv = uniform(2 * n, seed);
        let noise = uniform(n * dim, seed ^ 0x123);
        let mut rows = Vec::with_capacity(n * dim);
        for i in 0..n {
            let (u, v) = (uv[2 * i] * 3.0, uv[2 * i + 1] * 3.0);
            for j in 0..dim {
                let z = (coef[2 * j] * 2.0 - 1.0) * u + (coef[2 * j + 1] * 2.0 - 1.0) * v;
                rows.push(0.5 + 0.4 * z.sin() + 0.01 * (noise[i * dim + j] - 0.5));
            }
        }
        rows
    }

    fn params(
        hidden: &[usize],
        dropout: f32,
        epochs: usize,
        batch: usize,
    ) -> AutoencoderValidParams {
        AutoencoderParams {
            hidden: hidden.to_vec(),
            dropout,
            epochs,
            batch_size: batch,
            learning_rate: 1e-3,
            seed: 7,
            match_repeated_steps: true,
        }
        .check()
        .expect("test parameters are valid")
    }

    /// The loss recomputed from scratch in f64, independently of the training code.
    fn reference_loss(sizes: &[usize], p: &[f64], x: &[f64], w: &[f64]) -> f64 {
        let d = sizes[0];
        let eps = f64::from(MSLE_EPS);
        let (mut total, mut wsum) = (0.0, 0.0);
        for (r, row) in x.chunks(d).enumerate() {
            let mut a = row.to_vec();
            let mut o = 0;
            for l in 0..sizes.len() - 1 {
                let (nin, nout) = (sizes[l], sizes[l + 1]);
                let mut z = vec![0.0; nout];
                for (j, zj) in z.iter_mut().enumerate() {
                    *zj = p[o + nin * nout + j];
                    for (k, ak) in a.iter().enumerate() {
                        *zj += ak * p[o + k * nout + j];
                    }
                }
                o += nin * nout + nout;
                let last = l + 2 == sizes.len();
                a = z
                    .into_iter()
                    .map(|v| {
                        if last {
                            1.0 / (1.0 + (-v).exp())
                        } else {
                            v.max(0.0)
                        }
                    })
                    .collect();
            }
            let loss: f64 = a
                .iter()
                .zip(row)
                .map(|(&q, &t)| ((q.max(eps) + 1.0).ln() - (t.max(eps) + 1.0).ln()).powi(2))
                .sum::<f64>()
                / d as f64;
            total += w[r] * loss;
            wsum += w[r];
        }
        total / wsum
    }

    #[test]
    fn gradients_match_finite_differences() {
        let sizes = [5, 4, 3, 4, 5];
        let n = 7;
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut net = init_params(&sizes, &mut rng);
        // Non-zero biases so their gradients are exercised away from the initial point.
        for (i, v) in net.iter_mut().enumerate() {
            *v += 0.1 * ((i as f32 * 0.7).sin());
        }
        let x: Vec<f32> = uniform(n * 5, 11).iter().map(|v| 0.05 + 0.9 * v).collect();
        let log_t: Vec<f32> = x.iter().map(|&v| msle_log(v)).collect();
        let w = [1.0f32, 2.0, 0.5, 3.0, 1.0, 1.5, 0.25];
        let mut trainer = Trainer::new(&sizes, n, 0.0);
        let idx: Vec<usize> = (0..n).collect();
        trainer.load_batch(&idx, &x, &log_t, Some(&w));
        let loss = trainer.gradient(&net, n, None);

        let p64: Vec<f64> = net.iter().map(|&v| f64::from(v)).collect();
        let x64: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        let w64: Vec<f64> = w.iter().map(|&v| f64::from(v)).collect();
        let ref_loss = reference_loss(&sizes, &p64, &x64, &w64);
        assert!(
            (f64::from(loss) - ref_loss).abs() <= 1e-5 * ref_loss,
            "loss {loss} vs reference {ref_loss}"
        );

        let h = 1e-6;
        let max_grad = trainer.grad.iter().fold(0.0f32, |m, g| m.max(g.abs()));
        assert!(max_grad > 1e-4, "gradient is suspiciously flat: {max_grad}");
        let mut nonzero = 0;
        for i in 0..p64.len() {
            let mut plus = p64.clone();
            plus[i] += h;
            let mut minus = p64.clone();
            minus[i] -= h;
            let numeric = (reference_loss(&sizes, &plus, &x64, &w64)
                - reference_loss(&sizes, &minus, &x64, &w64))
                / (2.0 * h);
            let analytic = f64::from(trainer.grad[i]);
            let tol = 1e-3 * numeric.abs() + 1e-5 * f64::from(max_grad);
            assert!(
                (analytic - numeric).abs() <= tol,
                "parameter {i}: analytic {analytic}, numeric {numeric}"
            );
            if numeric.abs() > 1e-6 {
                nonzero += 1;
            }
        }
        // Most parameters must matter, or the comparison above proves little.
        assert!(
            nonzero * 2 > p64.len(),
            "{nonzero} of {} gradients non-zero",
            p64.len()
        );
    }

    #[test]
    fn same_data_and_seed_give_identical_errors() {
        let dim = 6;
        let rows = manifold(600, dim, 1);
        let p = params(&[16, 8, 4, 8, 16], 0.1, 3, 64);
        let a = Autoencoder::fit(&rows, dim, None, &p).expect("fit");
        let b = Autoencoder::fit(&rows, dim, None, &p).expect("fit");
        assert_eq!(a.threshold().to_bits(), b.threshold().to_bits());
        let ea = a.errors(&rows).expect("errors");
        let eb = b.errors(&rows).expect("errors");
        assert!(ea.iter().zip(&eb).all(|(x, y)| x.to_bits() == y.to_bits()));
        // Single-row scoring, with or without scratch, matches batch scoring bit for bit.
        let mut scratch = a.scratch();
        for (row, &e) in rows.chunks(dim).zip(&ea) {
            assert_eq!(a.error(row).to_bits(), e.to_bits());
            let with = a
                .error_with(row, &mut scratch)
                .expect("row has the right length");
            assert_eq!(with.to_bits(), e.to_bits());
        }
        let mut other = p.params().clone();
        other.seed = 8;
        let c = Autoencoder::fit(&rows, dim, None, &other.check().expect("valid")).expect("fit");
        assert_ne!(c.threshold().to_bits(), a.threshold().to_bits());
    }

    #[test]
    fn training_learns_the_manifold_and_flags_points_off_it() {
        let dim = 10;
        let rows = manifold(2000, dim, 2);
        let p = params(&[64, 32, 16, 8, 16, 32, 64], 0.1, 20, 64);
        let model = Autoencoder::fit(&rows, dim, None, &p).expect("fit");
        let losses = model.epoch_losses();
        assert_eq!(losses.len(), 20);
        let (first, last) = (losses[0], losses[losses.len() - 1]);
        assert!(last < 0.5 * first, "loss went from {first} to {last}");
        // Off the manifold but inside the training range: alternate features at the extremes.
        let off: Vec<f32> = (0..dim)
            .map(|j| if j % 2 == 0 { 0.12 } else { 0.88 })
            .collect();
        let e_off = model.error(&off);
        assert!(
            e_off > model.threshold(),
            "off-manifold error {e_off} <= threshold {}",
            model.threshold()
        );
        let errors = model.errors(&rows).expect("errors");
        let mean = errors.iter().sum::<f64>() / errors.len() as f64;
        assert!(
            e_off > 3.0 * mean,
            "off-manifold error {e_off} vs mean {mean}"
        );
    }

    #[test]
    fn weighted_mean_and_std_are_hand_computable() {
        // Weights [1, 2, 1] on [1, 2, 4] are the values [1, 2, 2, 4]: mean 2.25, var 4.75 / 4.
        let (m, s) = weighted_mean_std(&[1.0, 2.0, 4.0], Some(&[1.0, 2.0, 1.0]));
        assert!((m - 2.25).abs() < 1e-12);
        assert!((s - (4.75f64 / 4.0).sqrt()).abs() < 1e-12);
        let (m2, s2) = weighted_mean_std(&[1.0, 2.0, 2.0, 4.0], None);
        assert!((m - m2).abs() < 1e-12 && (s - s2).abs() < 1e-12);
    }

    #[test]
    fn threshold_is_weighted_mean_plus_std_of_training_errors() {
        let dim = 5;
        let rows = manifold(300, dim, 4);
        let w: Vec<f32> = (0..300).map(|i| (i % 5) as f32 + 1.0).collect();
        let model =
            Autoencoder::fit(&rows, dim, Some(&w), &params(&[8, 4, 8], 0.1, 2, 32)).expect("fit");
        let errors = model.errors(&rows).expect("errors");
        let sw: f64 = w.iter().map(|&v| f64::from(v)).sum();
        let mean = errors
            .iter()
            .zip(&w)
            .map(|(e, &v)| e * f64::from(v))
            .sum::<f64>()
            / sw;
        let var = errors
            .iter()
            .zip(&w)
            .map(|(e, &v)| f64::from(v) * (e - mean).powi(2))
            .sum::<f64>()
            / sw;
        let expected = mean + var.sqrt();
        assert!((model.threshold() - expected).abs() <= 1e-12 * expected);
    }

    #[test]
    fn unit_weights_equal_no_weights_and_zero_weights_drop_rows() {
        let dim = 4;
        let rows = manifold(200, dim, 5);
        let p = params(&[8, 4, 8], 0.1, 3, 32);
        let plain = Autoencoder::fit(&rows, dim, None, &p).expect("fit");
        let ones = Autoencoder::fit(&rows, dim, Some(&[1.0; 200]), &p).expect("fit");
        assert_eq!(plain.threshold().to_bits(), ones.threshold().to_bits());
        assert_eq!(plain.params, ones.params);

        // Zero-weight rows (here wild ones) must not change the model at all.
        let mut with_zero = rows.clone();
        with_zero.extend([9.0, -9.0, 9.0, -9.0, 5.0, 5.0, 5.0, 5.0]);
        let mut w = vec![1.0; 202];
        w[200] = 0.0;
        w[201] = 0.0;
        let dropped = Autoencoder::fit(&with_zero, dim, Some(&w), &p).expect("fit");
        assert_eq!(plain.params, dropped.params);
        assert_eq!(plain.data_min, dropped.data_min);
        assert_eq!(plain.threshold().to_bits(), dropped.threshold().to_bits());
    }

    #[test]
    fn weights_equal_repeated_rows_in_full_batch_training() {
        // With one batch holding everything and no dropout, a row of weight c and c copies of
        // the row give the same loss, so the same training up to rounding.
        let dim = 4;
        let base = manifold(20, dim, 6);
        let counts: Vec<usize> = (0..20).map(|i| i % 3 + 1).collect();
        let mut repeated = Vec::new();
        for (row, &c) in base.chunks(dim).zip(&counts) {
            for _ in 0..c {
                repeated.extend_from_slice(row);
            }
        }
        let w: Vec<f32> = counts.iter().map(|&c| c as f32).collect();
        let p = params(&[8, 4, 8], 0.0, 30, 1000);
        let weighted = Autoencoder::fit(&base, dim, Some(&w), &p).expect("fit");
        let copies = Autoencoder::fit(&repeated, dim, None, &p).expect("fit");
        let rel = (weighted.threshold() - copies.threshold()).abs() / copies.threshold();
        assert!(
            rel < 1e-3,
            "thresholds {} vs {}",
            weighted.threshold(),
            copies.threshold()
        );
        for (a, b) in weighted.params.iter().zip(&copies.params) {
            assert!((a - b).abs() < 1e-4, "parameter {a} vs {b}");
        }
    }

    #[test]
    fn postcard_round_trip_keeps_errors_and_rejects_bad_shapes() {
        let dim = 5;
        let rows = manifold(300, dim, 8);
        let model =
            Autoencoder::fit(&rows, dim, None, &params(&[8, 4, 8], 0.1, 2, 64)).expect("fit");
        let bytes = postcard::to_allocvec(&model).expect("serialise");
        let back: Autoencoder = postcard::from_bytes(&bytes).expect("deserialise");
        assert_eq!(back.threshold().to_bits(), model.threshold().to_bits());
        let (a, b) = (
            model.errors(&rows).expect("e"),
            back.errors(&rows).expect("e"),
        );
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));

        let mut bad = model.clone();
        bad.params.pop();
        let bytes = postcard::to_allocvec(&bad).expect("serialise");
        assert!(matches!(
            postcard::from_bytes::<Autoencoder>(&bytes),
            Err(postcard::Error::SerdeDeCustom)
        ));
    }

    #[test]
    fn scaling_uses_training_range_and_constant_features() {
        let rows = [0.0, 5.0, 2.0, 5.0, 4.0, 5.0];
        let model = Autoencoder::fit(&rows, 2, None, &params(&[2], 0.0, 1, 8)).expect("fit");
        assert_eq!(model.data_min, vec![0.0, 5.0]);
        assert_eq!(model.scale, vec![0.25, 1.0]);
        let mut out = Vec::new();
        scale_row(&[6.0, 7.0], &model.data_min, &model.scale, &mut out);
        // Not clipped: above the training maximum scales above 1; a constant feature shifts.
        assert_eq!(out, vec![1.5, 2.0]);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let p = AutoencoderParams::default()
            .check()
            .expect("defaults are valid");
        assert_eq!(
            Autoencoder::fit(&[], 3, None, &p).err(),
            Some(AutoencoderError::EmptyTrainingSet)
        );
        assert!(matches!(
            Autoencoder::fit(&[1.0; 5], 3, None, &p),
            Err(AutoencoderError::RaggedRows { len: 5, dim: 3 })
        ));
        assert!(matches!(
            Autoencoder::fit(&[1.0; 6], 3, Some(&[1.0]), &p),
            Err(AutoencoderError::WeightsLength {
                expected: 2,
                found: 1
            })
        ));
        assert!(matches!(
            Autoencoder::fit(&[1.0; 6], 3, Some(&[1.0, -1.0]), &p),
            Err(AutoencoderError::BadWeight { row: 1, .. })
        ));
        assert_eq!(
            Autoencoder::fit(&[1.0; 6], 3, Some(&[0.0, 0.0]), &p).err(),
            Some(AutoencoderError::EmptyTrainingSet)
        );
        assert!(matches!(
            Autoencoder::fit(&[1.0, 2.0, f32::NAN], 3, None, &p),
            Err(AutoencoderError::NonFiniteValue { row: 0, col: 2, .. })
        ));
        let model = Autoencoder::fit(&[0.1, 0.2, 0.3], 3, None, &p).expect("one row is enough");
        assert!(model.error(&[0.1, 0.2]).is_nan());
        assert!(matches!(
            model.error_with(&[0.1, 0.2], &mut model.scratch()),
            Err(AutoencoderError::RowDimension {
                expected: 3,
                found: 2
            })
        ));
        for bad in [
            AutoencoderParams {
                hidden: vec![],
                ..Default::default()
            },
            AutoencoderParams {
                hidden: vec![4, 0],
                ..Default::default()
            },
            AutoencoderParams {
                dropout: 1.0,
                ..Default::default()
            },
            AutoencoderParams {
                dropout: f32::NAN,
                ..Default::default()
            },
            AutoencoderParams {
                epochs: 0,
                ..Default::default()
            },
            AutoencoderParams {
                batch_size: 0,
                ..Default::default()
            },
            AutoencoderParams {
                learning_rate: 0.0,
                ..Default::default()
            },
        ] {
            assert!(
                matches!(bad.check(), Err(AutoencoderError::InvalidParam { .. })),
                "{bad:?}"
            );
        }
    }
}
