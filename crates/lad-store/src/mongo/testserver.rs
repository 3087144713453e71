//! Test support for the `mg` backend: finds or starts a `secantusd-rs` server (a
//! MongoDB-compatible test server, GPL-2.0, never a dependency of lad: it is installed by
//! `scripts/mongo-test-server.sh` or `cargo install secantus-mdb`). Not for the daemon.
//!
//! Where the server comes from, in order: `LAD_TEST_MONGO_URI` (`mongodb://host:port` or
//! `host:port`, an already running server); else a `secantusd-rs` found in `LAD_SECANTUSD`,
//! on `PATH` or in `~/.cargo/bin`, started on a free port with a fresh storage folder. When
//! neither exists the tests fail with a message saying how to get one, unless `LAD_SKIP_MONGO=1`
//! asks to skip them (so CI cannot skip them silently).
//!
//! Servers started here run under a `sh` wrapper that kills them when its standard input closes:
//! when the [`TestServer`] is dropped, or when the test process exits, even if killed, so no
//! server outlives its tests.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A running server started by this process; dropping it stops the server and removes its
/// storage folder.
#[derive(Debug)]
pub struct TestServer {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// Its storage folder.
    pub dir: PathBuf,
    child: Option<Child>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Closing stdin makes the wrapper kill the server and remove the folder.
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }
}

/// TLS files for [`TestServer::start`].
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// PEM certificate chain of the server.
    pub cert: PathBuf,
    /// PEM private key of the server.
    pub key: PathBuf,
}

/// True when the caller asked to skip MongoDB tests (`LAD_SKIP_MONGO=1`).
pub fn skip_requested() -> bool {
    std::env::var("LAD_SKIP_MONGO").is_ok_and(|v| v == "1")
}

/// The `secantusd-rs` binary, if installed.
pub fn find_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("LAD_SECANTUSD") {
        return Some(PathBuf::from(p));
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".cargo/bin"));
    }
    dirs.into_iter()
        .map(|d| d.join("secantusd-rs"))
        .find(|p| p.is_file())
}

/// The message of a test that has no server to run against.
pub fn missing_server_message() -> String {
    "no MongoDB test server: install secantusd-rs (scripts/mongo-test-server.sh does it, or \
     `cargo install secantus-mdb --version 0.5.3-beta.196 --locked --ignore-rust-version`), or \
     set LAD_TEST_MONGO_URI=mongodb://host:port to a running server, or set LAD_SKIP_MONGO=1 to \
     skip the MongoDB tests on purpose"
        .to_owned()
}

fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot find a free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

impl TestServer {
    /// Starts `secantusd-rs` on a free port of 127.0.0.1 with a fresh storage folder (and TLS
    /// when asked, `--auth` when `auth`); waits until it accepts connections.
    pub fn start(tls: Option<&ServerTls>, auth: bool) -> Result<TestServer, String> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let binary = find_binary().ok_or_else(missing_server_message)?;
        let port = free_port()?;
        let dir = std::env::temp_dir().join(format!(
            "lad-mongo-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let log = dir.with_extension("log");
        let mut args: Vec<String> = vec![
            binary.display().to_string(),
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
            "--storage-path".into(),
            dir.display().to_string(),
            "--cache-size".into(),
            "256M".into(),
            "--log-level".into(),
            "WARNING".into(),
        ];
        if let Some(t) = tls {
            args.extend([
                "--tls-cert-file".into(),
                t.cert.display().to_string(),
                "--tls-key-file".into(),
                t.key.display().to_string(),
            ]);
        }
        if auth {
            args.push("--auth".into());
        }
        // The wrapper: start the server, wait for stdin to close, stop it, clean up.
        let script = r#"log="$1"; dir="$2"; shift 2
"$@" >"$log" 2>&1 &
pid=$!
cat >/dev/null
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
rm -rf "$dir" "$log""#;
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .arg(&log)
            .arg(&dir)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let mut server = TestServer {
            port,
            dir,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(server);
            }
            if let Some(child) = server.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("secantusd-rs exited ({status}) before listening"));
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&log) {
            let _ = f.read_to_string(&mut text);
        }
        Err(format!(
            "secantusd-rs did not listen on port {port} within 60 s; its log: {text}"
        ))
    }
}

/// Host and port of the server the shared tests use: `LAD_TEST_MONGO_URI`, or one server started
/// once per test process. `Err` says why there is none.
pub fn shared_server() -> Result<(String, u16), String> {
    static SHARED: OnceLock<Result<(String, u16), String>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            if let Ok(uri) = std::env::var("LAD_TEST_MONGO_URI") {
                return parse_uri(&uri);
            }
            let server = TestServer::start(None, false)?;
            let port = server.port;
            // Kept for the life of the process: the wrapper stops it when the process exits.
            std::mem::forget(server);
            Ok(("127.0.0.1".to_owned(), port))
        })
        .clone()
}

/// Reads `mongodb://[user@]host:port[/db]` or `host:port`.
pub fn parse_uri(uri: &str) -> Result<(String, u16), String> {
    let rest = uri.strip_prefix("mongodb://").unwrap_or(uri);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let hostport = rest.split(['/', '?']).next().unwrap_or(rest);
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("LAD_TEST_MONGO_URI {uri:?}: bad port {p:?}"))?,
        ),
        None => (hostport, 27017),
    };
    if host.is_empty() {
        return Err(format!("LAD_TEST_MONGO_URI {uri:?}: no host"));
    }
    Ok((host.to_owned(), port))
}

/// A database name no other test uses.
pub fn unique_db(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_read() {
        assert_eq!(
            parse_uri("mongodb://127.0.0.1:27018"),
            Ok(("127.0.0.1".into(), 27018))
        );
        assert_eq!(
            parse_uri("mongodb://u:p@db.example:1234/logs?tls=true"),
            Ok(("db.example".into(), 1234))
        );
        assert_eq!(parse_uri("localhost"), Ok(("localhost".into(), 27017)));
        assert!(parse_uri("mongodb://:1").is_err());
        assert!(parse_uri("h:notaport").is_err());
    }
}
