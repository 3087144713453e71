//! Helpers shared by the command-line behaviour tests: running the built `lad` binary with a
//! clean environment, and generating small seeded log sets.

#![allow(dead_code)] // each test file uses a different subset

use std::io::Write;
use std::path::Path;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// A `lad` command with no `LAD_*` or `RUST_LOG` variables from the caller's environment.
pub fn lad() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lad"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("LAD_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// Runs `cmd` to completion, feeding `stdin` when given.
pub fn run(cmd: &mut Command, stdin: Option<&[u8]>) -> Output {
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the lad binary starts");
    if let Some(bytes) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(bytes).expect("write stdin");
    }
    child.wait_with_output().expect("lad runs to completion")
}

/// Runs `lad ARGS` and asserts it exits with `code`; returns the output.
pub fn lad_expect(args: &[&str], stdin: Option<&[u8]>, code: i32) -> Output {
    let out = run(lad().args(args), stdin);
    assert_eq!(
        out.status.code(),
        Some(code),
        "lad {args:?} exited with {:?}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Parses JSON Lines.
pub fn json_lines(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// Writes JSON values as JSON Lines to `path`.
pub fn write_json_lines(path: &Path, docs: &[Value]) {
    let mut text = String::new();
    for d in docs {
        text.push_str(&d.to_string());
        text.push('\n');
    }
    std::fs::write(path, text).expect("write JSON Lines");
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis() as i64
}

/// RFC 3339 with milliseconds, UTC.
pub fn rfc3339(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .expect("a representable time");
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("RFC 3339 formats every UTC time")
}

/// Routine message templates: `{}` is filled with a number.
const ROUTINE: &[&str] = &[
    "session opened for user admin by (uid={})",
    "session closed for user admin",
    "Accepted password for admin from 10.0.0.{} port 22 ssh2",
    "interface eth0 link up, speed 1000 Mbps, rx packets {}",
    "dhcp lease renewed for 192.168.1.{} lifetime 3600",
    "cron job backup finished in {} seconds",
    "GET /index.html 200 {} bytes",
];

/// Rare lines, one now and then.
const RARE: &[&str] = &[
    "kernel panic: fatal error in module nf_conntrack at 0x{}",
    "disk /dev/sda failure: I/O error on sector {} (unrecoverable)",
    "authentication failure: permission denied for root from 203.0.113.{}",
    "watchdog timeout: service api did not respond for {} seconds",
];

/// `n` seeded messages: mostly routine, one in `rare_every` rare (0: never).
pub fn messages(seed: u64, n: usize, rare_every: usize) -> Vec<String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let pool = if rare_every > 0 && i % rare_every == rare_every - 1 {
                RARE
            } else {
                ROUTINE
            };
            let t = pool[rng.random_range(0..pool.len())];
            t.replace("{}", &rng.random_range(1..250u32).to_string())
        })
        .collect()
}

/// JSON documents for `hosts`, `per_host` each, interleaved, one second apart ending
/// before `end_ms`, with an extra field or two that must survive every command.
pub fn docs(
    seed: u64,
    hosts: &[&str],
    per_host: usize,
    rare_every: usize,
    end_ms: i64,
) -> Vec<Value> {
    let per: Vec<Vec<String>> = hosts
        .iter()
        .enumerate()
        .map(|(h, _)| messages(seed + h as u64, per_host, rare_every))
        .collect();
    let total = hosts.len() * per_host;
    (0..total)
        .map(|i| {
            let h = i % hosts.len();
            let t = end_ms - (total - i) as i64 * 1000;
            json!({
                "hostname": hosts[h],
                "received_at": rfc3339(t),
                "message": per[h][i / hosts.len()],
                "app": "testgen",
                "seq": i,
            })
        })
        .collect()
}

/// A SQLite store in `dir` (`lad.db`, models in `models/`, 20 neighbours, 2,000 training
/// lines) whose three hosts (web, db, fw) are trained on 600 routine lines each from two hours
/// ago, with a backlog of 800 lines each, a rare one every 40th, ending a minute ago, imported
/// and not scored. Returns the base configuration text (for a test that writes more
/// configurations over the same store) and the path of `lad.yaml`: that text plus `extra`.
pub fn store_with_rare_backlog(dir: &Path, extra: &str) -> (String, PathBuf) {
    let base = format!(
        "SQLITE_PATH: '{}'\nMODEL_BASE_DIR: '{}'\nLOF_NEIGHBORS: 20\nTRAIN_MAX_ENTRIES: 2000\n",
        dir.join("lad.db").display(),
        dir.join("models").display()
    );
    let config = dir.join("lad.yaml");
    std::fs::write(&config, format!("{base}{extra}")).expect("write config");
    let cfg = config.to_str().expect("temp paths are UTF-8");
    let hosts = ["web", "db", "fw"];
    let now = now_ms();
    let routine = dir.join("routine.jsonl");
    write_json_lines(&routine, &docs(3, &hosts, 600, 0, now - 7_200_000));
    let routine = routine.to_str().expect("temp paths are UTF-8");
    lad_expect(&["-q", "import", "-c", cfg, routine], None, 0);
    lad_expect(&["-q", "train", "-c", cfg], None, 0);
    let backlog = dir.join("backlog.jsonl");
    write_json_lines(&backlog, &docs(4, &hosts, 800, 40, now - 60_000));
    let backlog = backlog.to_str().expect("temp paths are UTF-8");
    lad_expect(&["-q", "import", "-c", cfg, backlog], None, 0);
    (base, config)
}

/// How many records of the SQLite store at `db` have a verdict.
pub fn scored(db: &Path) -> usize {
    let conn = rusqlite::Connection::open(db).expect("open the store");
    conn.busy_timeout(Duration::from_secs(10))
        .expect("busy timeout");
    conn.query_row(
        "SELECT count(*) FROM records WHERE is_anomaly IS NOT NULL",
        [],
        |r| r.get::<_, i64>(0),
    )
    .expect("count") as usize
}

/// A running `lad run`, killed when dropped (so a failing test leaves no daemon behind).
pub struct Daemon {
    child: Child,
    /// Where its standard error goes.
    pub log: PathBuf,
}

impl Daemon {
    pub fn start(config: &Path, log: PathBuf) -> Daemon {
        let err = std::fs::File::create(&log).expect("log file");
        let child = lad()
            .args([
                "run",
                "--config",
                config.to_str().expect("temp paths are UTF-8"),
            ])
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("lad run starts");
        Daemon { child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `done` every 2 ms; panics with the daemon's log after `limit`.
    pub fn wait_for(&mut self, what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
        let start = Instant::now();
        while !done() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "lad run exited ({status}) while waiting for {what}:\n{}",
                    self.log()
                );
            }
            assert!(
                start.elapsed() < limit,
                "no {what} within {limit:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    pub fn kill9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }

    /// Sends SIGTERM and returns the exit code, which must come within 30 s.
    pub fn terminate(mut self) -> Option<i32> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "lad run did not stop within 30 s of SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
