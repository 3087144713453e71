//! Mines the `message` of every line of a JSON Lines file with [`lad_core::pattern::mine`] and
//! writes every input object back with `group` (the pattern id) and `template` (its `<*>` text)
//! added, for `../shared/eval/eval.py groups`.
//!
//! Usage: `pattern_eval IN.jsonl OUT.jsonl`. Prints on standard error one JSON object: the
//! lines, the patterns, the stored shapes, the size of the saved miner (postcard bytes), the
//! time taken by mining (every line observed) and by matching (every line classified against
//! the mined patterns), JSON reading and writing excluded, and how many lines `classify`
//! puts in the pattern mining gave them (all, when online equals the final state).
//! Settings from the environment: `PATTERN_VARIABLE_AFTER`, `PATTERN_MIN_CONTEXT`,
//! `PATTERN_MAX_SHAPES`.

use std::io::{BufRead, BufWriter, Write};
use std::time::Instant;

use lad_core::pattern::{mine, PatternParams};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(input), Some(output)) = (args.get(1), args.get(2)) else {
        return Err("usage: pattern_eval IN.jsonl OUT.jsonl".into());
    };
    let mut params = PatternParams::default();
    if let Ok(s) = std::env::var("PATTERN_VARIABLE_AFTER") {
        params.variable_after = s.parse()?;
    }
    if let Ok(s) = std::env::var("PATTERN_MIN_CONTEXT") {
        params.min_context = s.parse()?;
    }
    if let Ok(s) = std::env::var("PATTERN_MAX_SHAPES") {
        params.max_shapes = s.parse()?;
    }
    let params = params.check()?;
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
    let mined = mine(&messages, &params);
    let mine_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut agree = 0usize;
    for (m, id) in messages.iter().zip(&mined.ids) {
        agree += usize::from(mined.miner.classify(m) == *id);
    }
    let match_s = started.elapsed().as_secs_f64();

    let mut out = BufWriter::new(std::fs::File::create(output)?);
    for (object, id) in objects.iter().zip(&mined.ids) {
        let mut object = object.clone();
        let text = mined
            .miner
            .get(*id)
            .map_or_else(String::new, |p| p.text.to_string());
        if let Some(map) = object.as_object_mut() {
            map.insert("group".into(), id.to_string().into());
            map.insert("template".into(), text.into());
        }
        writeln!(out, "{object}")?;
    }
    out.flush()?;
    let saved_bytes = postcard::to_stdvec(&mined.miner)?.len();
    eprintln!(
        "{{\"lines\": {}, \"patterns\": {}, \"shapes\": {}, \"saved_bytes\": {}, \"mine_s\": {:.6}, \"match_s\": {:.6}, \"classify_agrees\": {}}}",
        messages.len(),
        mined.miner.patterns().count(),
        mined.miner.shapes(),
        saved_bytes,
        mine_s,
        match_s,
        agree
    );
    Ok(())
}
