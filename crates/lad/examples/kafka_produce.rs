//! Produces a JSON Lines file to a Kafka topic, one message per line keyed by its host field,
//! for `scripts/bench-kafka.sh`; creates the topic first (with `--partitions`) when asked.
//!
//! Usage: `kafka_produce --brokers HOST:PORT --topic T --file F [--partitions N]
//! [--create T2,T3...]` (the topics of `--create` get 3 partitions).

use anyhow::{bail, Context, Result};
use lad_store::kafka::testing::{create_topics, produce};

fn main() -> Result<()> {
    let (mut brokers, mut topic, mut file, mut partitions, mut create) = (
        String::new(),
        String::new(),
        String::new(),
        12,
        String::new(),
    );
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--brokers" => brokers = value,
            "--topic" => topic = value,
            "--file" => file = value,
            "--partitions" => partitions = value.parse().context("--partitions")?,
            "--create" => create = value,
            other => bail!("unknown flag {other}"),
        }
    }
    if brokers.is_empty() || topic.is_empty() || file.is_empty() {
        bail!("usage: kafka_produce --brokers HOST:PORT --topic T --file F [--partitions N]");
    }
    create_topics(&brokers, &[&topic], partitions).context("create the input topic")?;
    let others: Vec<&str> = create.split(',').filter(|s| !s.is_empty()).collect();
    if !others.is_empty() {
        create_topics(&brokers, &others, 3).context("create the output topics")?;
    }
    let text = std::fs::read_to_string(&file).with_context(|| format!("read {file}"))?;
    let started = std::time::Instant::now();
    let mut batch = Vec::with_capacity(100_000);
    let mut n = 0usize;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).context("a JSON line")?;
        let key = v["hostname"].as_str().unwrap_or_default().to_string();
        batch.push((key, line.as_bytes().to_vec()));
        if batch.len() == 100_000 {
            produce(&brokers, &topic, &batch).context("produce")?;
            n += batch.len();
            batch.clear();
        }
    }
    n += batch.len();
    produce(&brokers, &topic, &batch).context("produce")?;
    eprintln!(
        "produced {n} records to {topic} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
