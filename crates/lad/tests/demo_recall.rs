//! The demo's injected incidents are found: `lad demo`'s pipeline (import, train on the quiet
//! hours, score, aggregate) run on the bundled generator at a fixed "now", judged against the
//! generator's ground truth. Recall is judged per incident (some injected lines look routine on
//! their own, such as a sudo session opening), and routine lines of the live hours must rarely
//! be flagged.

use lad::demo::{demo_config, fill_and_run};

/// A fixed "now" (2026-11-24T11:00:00Z), so the test sees the same records every run.
const NOW: i64 = 1_795_518_000_000;

#[test]
fn every_injected_incident_is_found_and_routine_lines_are_rarely_flagged() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = demo_config(dir.path()).expect("the demo config");
    let report = fill_and_run(&config, NOW, true).expect("the demo runs");
    eprintln!("{}", report.text);
    assert_eq!(
        report.incidents.len(),
        lad_demo::incident_names().len(),
        "every incident is injected: {:?}",
        report.incidents
    );
    for (name, (injected, flagged)) in &report.incidents {
        // Found: at least a third of the incident's lines are flagged.
        assert!(
            flagged * 3 >= *injected,
            "incident {name}: {flagged} of {injected} lines flagged\n{}",
            report.text
        );
    }
    // Routine lines: at most 0.2% flagged.
    assert!(
        report.routine_flagged * 500 <= report.routine_lines,
        "{} of {} routine lines flagged\n{}",
        report.routine_flagged,
        report.routine_lines,
        report.text
    );
    // Incidents: each injected incident's flagged lines form one incident, and routine lines
    // form none.
    let summary = report
        .incident_summary
        .as_ref()
        .expect("the demo store keeps incidents");
    for (name, n) in &summary.per_injected {
        assert_eq!(
            *n, 1,
            "incident {name} became {n} incidents\n{}",
            report.text
        );
    }
    assert_eq!(
        summary.routine, 0,
        "incidents of routine lines\n{}",
        report.text
    );
}
