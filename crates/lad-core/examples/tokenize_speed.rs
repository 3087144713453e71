//! Tokenizer throughput: `tokenize_speed FILE [letters|severity]` tokenises every line of FILE
//! repeatedly (at least 500,000 lines in all) and prints lines per second and a checksum of the
//! tokens, so that a faster tokenizer can be checked to give the same output. With `severity`
//! it times and checksums the severity prior instead.
#![allow(missing_docs)]
use std::hash::{Hash, Hasher};
use std::time::Instant;

use lad_core::tokenizer::{Tokenizer, TokenizerMode};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: tokenize_speed FILE [letters]")?;
    let mode = match std::env::args().nth(2).as_deref() {
        Some("letters") => TokenizerMode::LettersOnly,
        _ => TokenizerMode::Masked,
    };
    let text = std::fs::read_to_string(path)?;
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() {
        return Err("empty input".into());
    }
    let rounds = 500_000usize.div_ceil(lines.len());
    if std::env::args().nth(2).as_deref() == Some("severity") {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        for line in &lines {
            lad_core::severity::severity(line)
                .to_bits()
                .hash(&mut hasher);
        }
        let started = Instant::now();
        let mut sum = 0f64;
        for _ in 0..rounds {
            for line in &lines {
                sum += f64::from(lad_core::severity::severity(line));
            }
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{:.0} lines/s, mean severity {:.4}, checksum {:016x}",
            (rounds * lines.len()) as f64 / secs,
            sum / (rounds * lines.len()) as f64,
            hasher.finish()
        );
        return Ok(());
    }
    let tokenizer = Tokenizer::new(mode);
    let mut buf = Vec::new();
    // The checksum covers one round, so it does not depend on the number of rounds.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for line in &lines {
        tokenizer.tokenize_into(line, &mut buf);
        buf.hash(&mut hasher);
    }
    // Timed on the fast path the scorer uses: tokens joined in one buffer.
    let mut joined = String::new();
    let started = Instant::now();
    let mut tokens = 0usize;
    for _ in 0..rounds {
        for line in &lines {
            tokens += tokenizer.tokenize_joined(line, &mut joined);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let n = rounds * lines.len();
    println!(
        "{:.0} lines/s, {:.1} tokens/line, checksum {:016x}",
        n as f64 / secs,
        tokens as f64 / n as f64,
        hasher.finish()
    );
    Ok(())
}
