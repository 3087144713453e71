//! Incidents seen from the command line: `lad detect` forms them as it scores, `lad export
//! --incidents` writes them and `lad export --anomalies` gives each anomaly its incident; a run
//! over a store whose incidents were lost (a kill between verdicts and incidents, or a store
//! scored before incidents existed) forms the same incidents again, without duplicates; a
//! second run changes nothing; `INCIDENTS: false` forms none.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::{json_lines, lad_expect};
use serde_json::Value;

fn s(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// A store in `dir` with routine lines to train on and a backlog with rare lines every 40th.
fn setup(dir: &Path, extra: &str) -> PathBuf {
    common::store_with_rare_backlog(dir, extra).1
}

fn export(config: &Path, what: &str) -> Vec<Value> {
    json_lines(&lad_expect(&["-q", "export", "-c", s(config), what], None, 0).stdout)
}

/// Incidents without their state (a later run may resolve them by the wall clock).
fn stable(incidents: &[Value]) -> Vec<Value> {
    incidents
        .iter()
        .map(|i| {
            let mut i = i.clone();
            if let Some(o) = i.as_object_mut() {
                o.remove("state");
            }
            i
        })
        .collect()
}

#[test]
fn detect_forms_incidents_and_a_lost_write_is_repaired_without_duplicates() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = setup(dir.path(), "");
    lad_expect(&["-q", "detect", "-c", s(&config)], None, 0);

    let incidents = export(&config, "--incidents");
    let anomalies = export(&config, "--anomalies");
    assert!(!anomalies.is_empty(), "the rare lines are flagged");
    assert!(!incidents.is_empty(), "anomalies form incidents");
    assert!(
        incidents.len() < anomalies.len(),
        "{} incidents for {} anomalies",
        incidents.len(),
        anomalies.len()
    );
    let ids: BTreeSet<&str> = incidents
        .iter()
        .map(|i| i["id"].as_str().expect("an id"))
        .collect();
    assert_eq!(ids.len(), incidents.len(), "ids are unique");
    let mut per_incident: BTreeMap<&str, u64> = BTreeMap::new();
    for a in &anomalies {
        let id = a["incident_id"]
            .as_str()
            .expect("every anomaly has an incident");
        assert!(ids.contains(id), "{id} is an exported incident");
        *per_incident.entry(id).or_default() += 1;
    }
    for i in &incidents {
        for key in [
            "id",
            "state",
            "first_seen",
            "last_seen",
            "count",
            "hosts",
            "patterns",
            "explanation",
        ] {
            assert!(i.get(key).is_some(), "incident has {key}: {i}");
        }
        let id = i["id"].as_str().expect("an id");
        assert_eq!(
            i["count"].as_u64(),
            per_incident.get(id).copied(),
            "an incident counts its anomalies once: {i}"
        );
        assert!(!i["explanation"].as_str().unwrap_or("").is_empty());
        // One info line and nothing else: pending (or expired), never opened; the rest opened.
        let one_info_line = i["count"] == 1
            && i["severity"] == "info"
            && i["rate"].is_null()
            && i["silent"].as_array().is_none_or(Vec::is_empty);
        let state = i["state"].as_str().unwrap_or("");
        assert_eq!(one_info_line, matches!(state, "pending" | "expired"), "{i}");
    }
    // Several hosts log the same rare templates: some incident lists more than one host.
    assert!(
        incidents
            .iter()
            .any(|i| i["hosts"].as_array().is_some_and(|h| h.len() > 1)),
        "{incidents:?}"
    );

    // A second run scores nothing and changes nothing.
    lad_expect(&["-q", "detect", "-c", s(&config)], None, 0);
    assert_eq!(stable(&export(&config, "--incidents")), stable(&incidents));

    // Lose every incident and link, as a kill after the verdicts and before the incidents
    // would (or a store scored by an older lad): the next run folds the anomalies in again.
    let conn = rusqlite::Connection::open(dir.path().join("lad.db")).expect("open the store");
    conn.execute_batch("DELETE FROM lad_incident_links; DELETE FROM lad_incidents;")
        .expect("drop the incidents");
    drop(conn);
    lad_expect(&["-q", "detect", "-c", s(&config)], None, 0);
    assert_eq!(
        stable(&export(&config, "--incidents")),
        stable(&incidents),
        "the same incidents, no duplicates"
    );
    assert_eq!(export(&config, "--anomalies"), anomalies);
}

#[test]
fn incidents_can_be_switched_off() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = setup(dir.path(), "INCIDENTS: false\n");
    lad_expect(&["-q", "detect", "-c", s(&config)], None, 0);
    assert!(export(&config, "--incidents").is_empty());
    let anomalies = export(&config, "--anomalies");
    assert!(!anomalies.is_empty());
    assert!(anomalies.iter().all(|a| a["incident_id"].is_null()));
}
