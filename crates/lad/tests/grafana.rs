//! The shipped Grafana dashboard parses and queries only metrics lad exports.

use std::collections::BTreeSet;

use lad::http::metrics::METRIC_NAMES;
use serde_json::Value;

const DASHBOARD: &str = include_str!("../../../deploy/grafana/lad.json");

/// Every PromQL string (panel `expr`, template variable `definition`), however deep.
fn queries<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                match (k.as_str(), x) {
                    ("expr" | "definition", Value::String(s)) => out.push(s),
                    _ => queries(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| queries(x, out)),
        _ => {}
    }
}

/// The `lad_*` identifiers of a PromQL expression.
fn lad_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while let Some(pos) = expr[i..].find("lad_") {
        let start = i + pos;
        let boundary =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let end = expr[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(expr.len(), |e| start + e);
        if boundary {
            names.push(expr[start..end].to_string());
        }
        i = end;
    }
    names
}

#[test]
fn every_query_names_an_exported_metric() {
    let dashboard: Value = serde_json::from_str(DASHBOARD).expect("the dashboard is valid JSON");
    assert!(dashboard["title"].is_string());
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(!panels.is_empty());
    let mut all = Vec::new();
    queries(&dashboard, &mut all);
    let exported: BTreeSet<&str> = METRIC_NAMES.iter().copied().collect();
    let mut seen = BTreeSet::new();
    for q in &all {
        let names = lad_names(q);
        assert!(!names.is_empty(), "query {q:?} names no lad metric");
        for n in names {
            assert!(
                exported.contains(n.as_str()),
                "query {q:?} uses {n}, which lad does not export"
            );
            seen.insert(n);
        }
    }
    // Every panel has at least one query.
    for p in panels {
        assert!(
            p["targets"].as_array().is_some_and(|t| !t.is_empty()),
            "panel {} has no query",
            p["title"]
        );
    }
    assert!(seen.len() >= 10, "the dashboard shows only {seen:?}");
}

#[test]
fn lad_names_finds_identifiers() {
    assert_eq!(
        lad_names("sum(rate(lad_lines_read_total{job=~\"x\"}[5m])) / bad_lad_x"),
        ["lad_lines_read_total"]
    );
}
