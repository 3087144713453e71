//! Times `Autoencoder::fit` (default parameters: 64-32-16-8-16-32-64, 20 epochs, batch 512) and
//! batch scoring on synthetic 25-dimensional rows near a low-dimensional manifold.
//!
//! Then compares training on distinct rows with counts as weights against training on the
//! rows repeated, for threshold and detection of probes slightly off the manifold.
//!
//! Run: `cargo run --release -p lad-core --example ae_speed [ROWS...]` (default 5000 60000).
//! Times are this thread's CPU time (Linux `/proc/thread-self/schedstat`), which a busy shared
//! machine inflates far less than wall time; wall time is printed too.

use std::time::Instant;

use lad_core::autoencoder::{Autoencoder, AutoencoderParams};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const DIM: usize = 25;

/// CPU time of this thread in seconds, or NaN where the kernel does not report it.
fn cpu_s() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |ns| ns * 1e-9)
}

/// Rows `0.5 + 0.4 sin(a_j . u)` for a random 3-dimensional `u`, plus small noise.
fn synthetic(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let coef: Vec<f32> = (0..3 * DIM)
        .map(|_| rng.random::<f32>() * 2.0 - 1.0)
        .collect();
    let mut rows = Vec::with_capacity(n * DIM);
    for _ in 0..n {
        let u: [f32; 3] = [
            rng.random::<f32>() * 3.0,
            rng.random::<f32>() * 3.0,
            rng.random::<f32>() * 3.0,
        ];
        for j in 0..DIM {
            let z: f32 = (0..3).map(|k| coef[3 * j + k] * u[k]).sum();
            rows.push(0.5 + 0.4 * z.sin() + 0.01 * (rng.random::<f32>() - 0.5));
        }
    }
    rows
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let sizes = if sizes.is_empty() {
        vec![5000, 60000]
    } else {
        sizes
    };
    let params = AutoencoderParams::default().check()?;
    for n in sizes {
        let rows = synthetic(n, 42);
        let (t, c) = (Instant::now(), cpu_s());
        let model = Autoencoder::fit(&rows, DIM, None, &params)?;
        let (fit_wall, fit_s) = (t.elapsed().as_secs_f64(), cpu_s() - c);
        let c = cpu_s();
        let errors = model.errors(&rows)?;
        let score_s = cpu_s() - c;
        let mut scratch = model.scratch();
        let c = cpu_s();
        let mut sum = 0.0;
        for row in rows.chunks_exact(DIM) {
            sum += model.error_with(row, &mut scratch)?;
        }
        let single_s = cpu_s() - c;
        let losses = model.epoch_losses();
        println!(
            "rows {n}: fit {fit_s:.3} s CPU ({fit_wall:.3} s wall, {:.2} us/row/epoch), batch score {:.2} us/row, \
             single-row score {:.2} us/row, loss {:.5} -> {:.5}, threshold {:.5}, mean error {:.5}",
            fit_s * 1e6 / (n as f64 * 20.0),
            score_s * 1e6 / n as f64,
            single_s * 1e6 / n as f64,
            losses[0],
            losses[losses.len() - 1],
            model.threshold(),
            sum / errors.len() as f64,
        );
    }
    weighted_vs_repeated()?;
    Ok(())
}

/// Prints CPU time, threshold and off-manifold detection rate of one fitted model.
fn report(
    label: &str,
    model: &Autoencoder,
    cpu: f64,
    probes: &[f32],
) -> Result<(), Box<dyn std::error::Error>> {
    let flagged = model
        .errors(probes)?
        .iter()
        .filter(|&&e| e > model.threshold())
        .count();
    let losses = model.epoch_losses();
    println!(
        "{label}: fit {cpu:.3} s CPU, final loss {:.5}, threshold {:.5}, probes flagged {flagged}/{}",
        losses[losses.len() - 1],
        model.threshold(),
        probes.len() / DIM
    );
    Ok(())
}

fn weighted_vs_repeated() -> Result<(), Box<dyn std::error::Error>> {
    let distinct = synthetic(2000, 7);
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    // Skewed counts, as repeated log lines give: most rows rare, a few very common.
    let counts: Vec<f32> = (0..2000)
        .map(|_| 1.0 + (rng.random::<f32>().powi(4) * 200.0).floor())
        .collect();
    let mut repeated = Vec::new();
    for (row, &c) in distinct.chunks_exact(DIM).zip(&counts) {
        for _ in 0..c as usize {
            repeated.extend_from_slice(row);
        }
    }
    // Probes slightly off the manifold: a training row with 3 features redrawn at random.
    let mut probes = Vec::with_capacity(1000 * DIM);
    for _ in 0..1000 {
        let i = rng.random_range(0..2000);
        let mut row = distinct[i * DIM..(i + 1) * DIM].to_vec();
        for _ in 0..3 {
            row[rng.random_range(0..DIM)] = 0.1 + 0.8 * rng.random::<f32>();
        }
        probes.extend(row);
    }
    println!(
        "weighted vs repeated: 2000 distinct rows, {} rows with repeats",
        repeated.len() / DIM
    );
    let params = AutoencoderParams::default();
    let c = cpu_s();
    let w = Autoencoder::fit(&distinct, DIM, Some(&counts), &params.check()?)?;
    report(
        "  distinct + weights, matched steps ",
        &w,
        cpu_s() - c,
        &probes,
    )?;
    let unmatched = AutoencoderParams {
        match_repeated_steps: false,
        ..params.clone()
    };
    let c = cpu_s();
    let w = Autoencoder::fit(&distinct, DIM, Some(&counts), &unmatched.check()?)?;
    report(
        "  distinct + weights, batch 512     ",
        &w,
        cpu_s() - c,
        &probes,
    )?;
    let c = cpu_s();
    let r = Autoencoder::fit(&repeated, DIM, None, &params.check()?)?;
    report(
        "  repeated rows,      batch 512     ",
        &r,
        cpu_s() - c,
        &probes,
    )?;
    Ok(())
}
