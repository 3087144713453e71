//! Timing of LOF fit and scoring, run by hand (it asserts nothing about time):
//!
//! ```text
//! cargo test --release -p lad-core --test lof_timing -- --ignored --nocapture
//! ```
//!
//! Compares this module's ball tree with `petal_neighbors::BallTree` on the same all-points
//! k-nearest-neighbour search that fitting needs, on uniform data (the worst case for trees)
//! and on clustered data (closer to message vectors).

use std::time::Instant;

use lad_core::lof::{Lof, LofParams};
use ndarray::Array2;
use petal_neighbors::BallTree;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

const DIM: usize = 25;
const K: usize = 100;

fn uniform(rng: &mut ChaCha8Rng, n: usize) -> Array2<f64> {
    Array2::from_shape_fn((n, DIM), |_| rng.random_range(-1.0..1.0))
}

/// Training points and queries, all uniform in a cube.
fn uniform_data(rng: &mut ChaCha8Rng, n: usize, n_queries: usize) -> (Array2<f64>, Array2<f64>) {
    (uniform(rng, n), uniform(rng, n_queries))
}

/// Points around 300 centres, like vectors of lines from a few hundred templates; one query
/// in ten is uniform in the cube (an outlier), the others come from the same centres.
fn clustered_data(rng: &mut ChaCha8Rng, n: usize, n_queries: usize) -> (Array2<f64>, Array2<f64>) {
    let centres = uniform(rng, 300);
    let around = |rng: &mut ChaCha8Rng, rows: usize| {
        let mut out = Array2::zeros((rows, DIM));
        for mut row in out.rows_mut() {
            let c = centres.row(rng.random_range(0..300));
            for (v, cv) in row.iter_mut().zip(c) {
                *v = cv + rng.random_range(-0.05..0.05);
            }
        }
        out
    };
    let train = around(rng, n);
    let mut queries = around(rng, n_queries);
    for (i, mut row) in queries.rows_mut().into_iter().enumerate() {
        if i % 10 == 0 {
            row.iter_mut()
                .for_each(|v| *v = rng.random_range(-1.0..1.0));
        }
    }
    (train, queries)
}

#[test]
#[ignore = "timing, run by hand in release mode"]
fn lof_timing() {
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    println!("threads: {}", rayon::current_num_threads());
    for (kind, make) in [
        (
            "uniform",
            uniform_data as fn(&mut ChaCha8Rng, usize, usize) -> _,
        ),
        ("clustered", clustered_data),
    ] {
        for n in [5_000, 30_000] {
            let (train, queries) = make(&mut rng, n, 10_000);
            let params = LofParams { k: K }.check().expect("valid k");
            let t = Instant::now();
            let lof = Lof::fit(train.view(), &params).expect("fit");
            let fit_s = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let scores = lof.score_batch(queries.view());
            let score_s = t.elapsed().as_secs_f64();
            let mean: f64 = scores
                .iter()
                .map(|s| s.clone().expect("valid"))
                .sum::<f64>()
                / 10_000.0;

            // petal-neighbors needs over ten minutes for uniform data at n = 30000.
            if kind == "uniform" && n > 5_000 {
                println!(
                    "{kind:9} n={n:6} d={DIM} k={K}: fit {fit_s:7.2}s, score 10000 queries \
                     {score_s:6.2}s (mean LOF {mean:.3})"
                );
                continue;
            }
            let t = Instant::now();
            let tree = BallTree::euclidean(train.view()).expect("non-empty");
            let _: Vec<_> = (0..n)
                .into_par_iter()
                .map(|i| tree.query(&train.row(i), K + 1))
                .collect();
            let petal_s = t.elapsed().as_secs_f64();
            println!(
                "{kind:9} n={n:6} d={DIM} k={K}: fit {fit_s:7.2}s, score 10000 queries \
                 {score_s:6.2}s (mean LOF {mean:.3}); petal BallTree all-kNN {petal_s:7.2}s"
            );
        }
    }
}
