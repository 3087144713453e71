//! Groups the messages of a JSON Lines file and writes every input object back with `group`
//! and `template` added, for scoring with `pyref eval-groups`.
//!
//! Usage: `group_eval IN.jsonl OUT.jsonl [dbscan]`. When the input has `truth` fields it also
//! prints the grouping accuracy (GA) and the time `group` took on standard error.

use std::collections::HashMap;
use std::io::{BufRead, BufWriter, Write};
use std::time::Instant;

use lad_core::aggregate::{group, AggregateParams, GroupingMethod};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(input), Some(output)) = (args.get(1), args.get(2)) else {
        return Err("usage: group_eval IN.jsonl OUT.jsonl [dbscan]".into());
    };
    let mut params = AggregateParams::default();
    if args.get(3).map(String::as_str) == Some("dbscan") {
        params.method = GroupingMethod::Dbscan;
    }
    if let Ok(s) = std::env::var("PATTERN_VARIABLE_AFTER") {
        params.patterns.variable_after = s.parse()?;
    }
    let mut objects = Vec::new();
    for line in std::io::BufReader::new(std::fs::File::open(input)?).lines() {
        let line = line?;
        if !line.trim().is_empty() {
            let value: serde_json::Value = serde_json::from_str(&line)?;
            objects.push(value);
        }
    }
    let messages: Vec<&str> = objects
        .iter()
        .map(|o| o.get("message").and_then(|m| m.as_str()).unwrap_or(""))
        .collect();
    let started = Instant::now();
    let grouping = group(&messages, &params)?;
    let elapsed = started.elapsed();

    let mut out = BufWriter::new(std::fs::File::create(output)?);
    for (object, &label) in objects.iter().zip(&grouping.labels) {
        let mut object = object.clone();
        if let Some(map) = object.as_object_mut() {
            map.insert("group".into(), format!("g{label}").into());
            map.insert("template".into(), grouping.templates[label].clone().into());
        }
        writeln!(out, "{object}")?;
    }
    out.flush()?;

    let truths: Vec<Option<&str>> = objects
        .iter()
        .map(|o| o.get("truth").and_then(|t| t.as_str()))
        .collect();
    if truths.iter().all(Option::is_some) && !truths.is_empty() {
        let mut truth_size: HashMap<&str, usize> = HashMap::new();
        for t in truths.iter().flatten() {
            *truth_size.entry(t).or_default() += 1;
        }
        let mut members: HashMap<usize, Vec<&str>> = HashMap::new();
        for (&label, t) in grouping.labels.iter().zip(truths.iter().flatten()) {
            members.entry(label).or_default().push(t);
        }
        let correct: usize = members
            .values()
            .filter(|m| m.iter().all(|t| *t == m[0]) && truth_size[m[0]] == m.len())
            .map(Vec::len)
            .sum();
        eprintln!(
            "ga {:.4} groups {} truth_groups {} group_ms {:.2}",
            correct as f64 / truths.len() as f64,
            grouping.templates.len(),
            truth_size.len(),
            elapsed.as_secs_f64() * 1e3
        );
    }
    Ok(())
}
