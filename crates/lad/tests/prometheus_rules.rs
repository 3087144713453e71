//! The shipped Prometheus rules (`deploy/prometheus/lad-rules.yml`): `promtool check rules` and
//! `promtool test rules` with `deploy/prometheus/lad-rules.test.yml` pass, and every `lad_*`
//! metric a rule queries is one lad exports.
//!
//! promtool comes from `LAD_TEST_PROMTOOL` (scripts/test.sh installs Debian's `prometheus`
//! package when it is missing and sets it), else from the PATH; without it the promtool test is
//! skipped with a loud message.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use lad::http::metrics::METRIC_NAMES;

/// Metrics the rules use that another part of issue 15 adds (the incident tracker's gauge);
/// remove a name from here once `METRIC_NAMES` has it.
const PENDING: &[&str] = &[];

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/prometheus")
}

fn promtool() -> Option<String> {
    if let Ok(p) = std::env::var("LAD_TEST_PROMTOOL") {
        if !p.is_empty() {
            return Some(p);
        }
    }
    let found = Command::new("sh")
        .args(["-c", "command -v promtool"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if found.is_none() {
        eprintln!(
            "\n*** SKIPPED promtool_checks_and_tests_the_rules: no promtool. Install Debian's \
             `prometheus` package (scripts/test.sh does) or set LAD_TEST_PROMTOOL. ***\n"
        );
    }
    found
}

#[test]
fn promtool_checks_and_tests_the_rules() {
    let Some(promtool) = promtool() else {
        return;
    };
    for args in [
        ["check", "rules", "lad-rules.yml"],
        ["test", "rules", "lad-rules.test.yml"],
    ] {
        let out = Command::new(&promtool)
            .args(args)
            .current_dir(deploy())
            .output()
            .expect("promtool runs");
        assert!(
            out.status.success(),
            "promtool {} failed:\n{}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn rules_query_only_metrics_lad_exports() {
    let text = std::fs::read_to_string(deploy().join("lad-rules.yml")).expect("rules readable");
    let exported: BTreeSet<&str> = METRIC_NAMES.iter().chain(PENDING).copied().collect();
    let mut used = BTreeSet::new();
    for line in text.lines().filter(|l| l.trim_start().starts_with("expr:")) {
        let mut rest = line;
        while let Some(i) = rest.find("lad_") {
            let name: String = rest[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[i + name.len()..];
            used.insert(name);
        }
    }
    assert!(used.len() >= 7, "{used:?}");
    for name in &used {
        assert!(
            exported.contains(name.as_str()),
            "{name} is not exported by lad"
        );
    }
}
