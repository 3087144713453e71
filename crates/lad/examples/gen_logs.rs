//! Writes a synthetic multi-host log set as JSON Lines for `scripts/bench-daemon.sh`: each host
//! repeats the lines of its own raw log files (digits shuffled, so messages differ but their
//! templates repeat), with a rare line from another host's files now and then. Seeded, so the
//! same arguments give the same file.
//!
//! Usage: `gen_logs --raw-dir DIR --out FILE [--records N] [--hosts H] [--seed S]
//! [--end-ms MS] [--span-s S]`

use std::fs;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

struct Args {
    raw_dir: PathBuf,
    out: PathBuf,
    records: usize,
    hosts: usize,
    seed: u64,
    end_ms: i64,
    span_s: i64,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        raw_dir: PathBuf::new(),
        out: PathBuf::new(),
        records: 1_000_000,
        hosts: 8,
        seed: 1,
        end_ms: 0,
        span_s: 86_400,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--raw-dir" => a.raw_dir = value.into(),
            "--out" => a.out = value.into(),
            "--records" => a.records = value.parse()?,
            "--hosts" => a.hosts = value.parse()?,
            "--seed" => a.seed = value.parse()?,
            "--end-ms" => a.end_ms = value.parse()?,
            "--span-s" => a.span_s = value.parse()?,
            other => bail!("unknown option {other}"),
        }
    }
    if a.raw_dir.as_os_str().is_empty() || a.out.as_os_str().is_empty() {
        bail!("--raw-dir and --out are required");
    }
    if a.end_ms == 0 {
        a.end_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis() as i64;
    }
    Ok(a)
}

fn rfc3339_ms(ms: i64) -> Result<String> {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)?;
    Ok(t.format(&time::format_description::well_known::Rfc3339)?)
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let mut files: Vec<PathBuf> = fs::read_dir(&args.raw_dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no *.log files in {}", args.raw_dir.display());
    }
    let pools: Vec<Vec<String>> = files
        .iter()
        .map(|f| {
            let text = String::from_utf8_lossy(&fs::read(f)?).into_owned();
            Ok(text
                .lines()
                .map(str::trim_end)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect())
        })
        .collect::<Result<_>>()?;
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let mut out = BufWriter::with_capacity(1 << 20, fs::File::create(&args.out)?);
    let start = args.end_ms - args.span_s * 1000;
    let step = (args.span_s * 1000) as f64 / args.records as f64;
    let mut message = String::new();
    for i in 0..args.records {
        let host = i % args.hosts;
        // Two raw files per host; one line in a thousand from another host's files.
        let pool = if rng.random_bool(0.001) {
            (2 * host + 2 + rng.random_range(0..pools.len())) % pools.len()
        } else {
            (2 * host + rng.random_range(0..2)) % pools.len()
        };
        let lines = &pools[pool];
        let line = &lines[rng.random_range(0..lines.len())];
        message.clear();
        for c in line.chars() {
            if c.is_ascii_digit() && rng.random_bool(0.3) {
                message.push(char::from(b'0' + rng.random_range(0..10u8)));
            } else {
                message.push(c);
            }
        }
        let time = start + (i as f64 * step) as i64;
        let doc = serde_json::json!({
            "hostname": format!("host-{host}"),
            "received_at": rfc3339_ms(time)?,
            "message": message,
        });
        serde_json::to_writer(&mut out, &doc)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}
