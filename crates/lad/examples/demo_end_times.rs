//! The demo at many "now"s: `lad demo`'s pipeline (import, train, score, aggregate, incidents)
//! run once per end time, each in a fresh folder, so that a result that holds only for the hour
//! the demo happens to be run at shows up. The generator's data changes with the end time (its
//! seed is fixed, but hours of the day, weekdays and dates in the lines move).
//!
//! ```text
//! cargo run --release -p lad --example demo_end_times -- [RUNS] [STEP_HOURS] [FIRST_END_MS]
//! ```
//!
//! Defaults: 24 runs, 7 hours apart (so every hour of the day and every weekday is met), from
//! 2026-11-24T11:00:00Z (the end time `crates/lad/tests/demo_recall.rs` fixes). Prints one line
//! per run (each injected incident's flagged/injected lines and how many incidents it became,
//! routine lines flagged, incidents of routine lines, opened and pending/expired) and a total;
//! exits 1 when a run misses an incident (under a third of its lines flagged, or none in an
//! incident that opened), splits one, or opens an incident of routine lines (a pending or
//! expired one, one `info` line sent to nobody, is counted apart). With `DEMO_KEEP` set, each run's folder (its `lad.db` and models) is kept in the
//! temporary folder as `lad-demo-end-<END_MS>` and named.

use std::process::ExitCode;

use lad::demo::{demo_config, fill_and_run};
use time::OffsetDateTime;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, default: i64| -> i64 {
        args.get(i)
            .map_or(Some(default), |a| a.parse().ok())
            .unwrap_or_else(|| {
                eprintln!("usage: demo_end_times [RUNS] [STEP_HOURS] [FIRST_END_MS]");
                std::process::exit(2)
            })
    };
    let runs = num(0, 24);
    let step_hours = num(1, 7);
    let first = num(2, 1_795_518_000_000);
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("cannot make a temporary folder: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (mut routine_lines, mut routine_flagged, mut routine_incidents) = (0, 0, 0);
    let mut routine_pending = 0;
    let (mut missed, mut split) = (0, 0);
    for run in 0..runs {
        let end_ms = first + run * step_hours * 3_600_000;
        let when = OffsetDateTime::from_unix_timestamp(end_ms / 1000)
            .map_or_else(|_| end_ms.to_string(), |t| format!("{} {}", t.weekday(), t));
        let report = demo_config(&dir.path().join(run.to_string()))
            .and_then(|config| fill_and_run(&config, end_ms, true));
        let report = match report {
            Ok(r) => r,
            Err(e) => {
                eprintln!("run {run} ({when}): {e:#}");
                return ExitCode::FAILURE;
            }
        };
        let summary = report.incident_summary.clone().unwrap_or_default();
        let mut cells = Vec::new();
        for (name, (injected, flagged)) in &report.incidents {
            let became = summary.per_injected.get(name).copied().unwrap_or(0);
            // Missed: too few lines flagged, or none of them in an incident that opened.
            if flagged * 3 < *injected || became == 0 {
                missed += 1;
            }
            if became > 1 {
                split += 1;
            }
            cells.push(format!("{name} {flagged}/{injected}→{became}"));
        }
        routine_lines += report.routine_lines;
        routine_flagged += report.routine_flagged;
        routine_incidents += summary.routine;
        routine_pending += summary.routine_pending;
        println!(
            "{when}: routine flagged {}/{}, routine incidents {} (pending/expired {}), incidents {}; {}",
            report.routine_flagged,
            report.routine_lines,
            summary.routine,
            summary.routine_pending,
            summary.total,
            cells.join(", ")
        );
        if std::env::var_os("DEMO_KEEP").is_some() {
            // Kept for a look (`lad export --incidents` with its lad.db): the folder persists.
            let kept = std::env::temp_dir().join(format!("lad-demo-end-{end_ms}"));
            let _ = std::fs::remove_dir_all(&kept);
            if std::fs::rename(dir.path().join(run.to_string()), &kept).is_ok() {
                println!("  kept in {}", kept.display());
            }
        } else {
            let _ = std::fs::remove_dir_all(dir.path().join(run.to_string()));
        }
    }
    println!(
        "{runs} runs: routine lines flagged {routine_flagged} of {routine_lines}, incidents of \
         routine lines {routine_incidents} (and {routine_pending} pending or expired, sent to \
         nobody), incidents missed {missed}, incidents split {split}"
    );
    if missed + split + routine_incidents > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
