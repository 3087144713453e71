//! Test support for the `es` backend: an `osmem-server` (an in-memory OpenSearch-compatible test
//! server, MIT, from PyPI's `osmem-server`; never a dependency of lad) and one clone of it per
//! test, so tests running at once never see each other's indices. Not for the daemon.
//!
//! Where the server comes from, in order: `LAD_TEST_ES_URL` (a running server, as
//! `scripts/es-test-server.sh` prints it); else an `osmem-server` binary named by
//! `OSMEM_SERVER_BIN`, found on `PATH`, or in the virtual environment the script installs
//! (`/var/tmp/lad-osmem-venv`), started on a free port for this test process; it exits when the
//! process does (its standard input closes). When none exists the tests fail with a message
//! saying how to get one, unless `LAD_SKIP_ES=1` asks to skip them (so CI cannot skip them
//! silently).
//!
//! A clone (`POST /_osmem/clones`) is a copy of the server's base on a port of its own; the base
//! is frozen by the first clone, so everything is written to clones.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// True when the caller asked to skip the Elasticsearch tests (`LAD_SKIP_ES=1`).
pub fn skip_requested() -> bool {
    std::env::var("LAD_SKIP_ES").is_ok_and(|v| v == "1")
}

/// The message of a test that has no server to run against.
pub fn missing_server_message() -> String {
    "no Elasticsearch/OpenSearch test server: run scripts/es-test-server.sh (it installs \
     osmem-server from PyPI into /var/tmp/lad-osmem-venv and prints the port) and set \
     LAD_TEST_ES_URL=http://127.0.0.1:PORT, or set OSMEM_SERVER_BIN to an osmem-server binary, \
     or set LAD_SKIP_ES=1 to skip the Elasticsearch tests on purpose"
        .to_owned()
}

/// The `osmem-server` binary, if installed.
pub fn find_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("OSMEM_SERVER_BIN") {
        return Some(PathBuf::from(p));
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.join("osmem-server"))
        .find(|p| p.is_file());
    if on_path.is_some() {
        return on_path;
    }
    let lib = PathBuf::from("/var/tmp/lad-osmem-venv/lib");
    std::fs::read_dir(&lib)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path().join("site-packages/osmem_server/bin/osmem-server"))
        .find(|p| p.is_file())
}

/// The URL of the server the tests share: `LAD_TEST_ES_URL`, or one started for this process.
pub fn shared_server() -> Result<String, String> {
    if let Ok(url) = std::env::var("LAD_TEST_ES_URL") {
        if !url.is_empty() {
            return Ok(url.trim_end_matches('/').to_owned());
        }
    }
    static STARTED: OnceLock<Result<(String, Mutex<Child>), String>> = OnceLock::new();
    match STARTED.get_or_init(start) {
        Ok((url, _)) => Ok(url.clone()),
        Err(e) => Err(e.clone()),
    }
}

/// Starts an `osmem-server` on a free loopback port; it lives as long as this process.
fn start() -> Result<(String, Mutex<Child>), String> {
    let bin = find_binary().ok_or_else(missing_server_message)?;
    let mut child = Command::new(&bin)
        .args(["-addr", "127.0.0.1:0", "-parent-pid"])
        .arg(std::process::id().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout of osmem-server")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| format!("reading osmem-server's first line: {e}"))?;
    let ready: serde_json::Value = serde_json::from_str(&line)
        .map_err(|e| format!("osmem-server said {line:?} on start: {e}"))?;
    let url = ready["url"]
        .as_str()
        .ok_or_else(|| format!("osmem-server said {line:?} on start"))?
        .to_owned();
    Ok((url, Mutex::new(child)))
}

/// A clone of the shared server for one test; dropped, it is deleted.
#[derive(Debug)]
pub struct Clone {
    /// The clone's URL (`http://127.0.0.1:PORT`).
    pub url: String,
    base: String,
    id: String,
}

impl Clone {
    /// A fresh clone of the shared server.
    pub fn new() -> Result<Clone, String> {
        let base = shared_server()?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut reply = agent
            .post(format!("{base}/_osmem/clones"))
            .send_empty()
            .map_err(|e| format!("POST {base}/_osmem/clones: {e}"))?;
        let text = reply
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("POST {base}/_osmem/clones: {e}"))?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            format!("POST {base}/_osmem/clones answered {text:?} ({e}); is it an osmem-server?")
        })?;
        match (v["url"].as_str(), v["id"].as_str()) {
            (Some(url), Some(id)) => Ok(Clone {
                url: url.to_owned(),
                base,
                id: id.to_owned(),
            }),
            _ => Err(format!("POST {base}/_osmem/clones answered {text:?}")),
        }
    }
}

impl Drop for Clone {
    fn drop(&mut self) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let _ = agent
            .delete(format!("{}/_osmem/clones/{}", self.base, self.id))
            .call();
    }
}
