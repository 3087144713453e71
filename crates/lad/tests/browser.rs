//! The web page in a real browser: `lad demo` fills a store, `lad run` serves it on a free
//! loopback port, headless Chromium (driven through chromedriver's WebDriver API) opens the
//! page, sees the chart and the anomaly list, clicks "not an anomaly", and the test checks
//! through the API and /metrics that the mark was stored and that the next scoring pass
//! suppressed a line of the same template.
//!
//! Needs Debian's `chromium` and `chromium-driver` (scripts/browser-test-deps.sh installs them).
//! Without them the test fails, unless LAD_SKIP_BROWSER=1 says to skip it on purpose.
//! LAD_SCREENSHOT=PATH saves a screenshot of the page after the click.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const LAD: &str = env!("CARGO_BIN_EXE_lad");
/// How long to wait for anything (start-up, a pass, the page) before failing.
const PATIENCE: Duration = Duration::from_secs(120);

fn find_binary(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain([
        PathBuf::from("/usr/bin"),
        PathBuf::from("/usr/lib/chromium"),
    ]) {
        for n in names {
            let p = dir.join(n);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Kills a child when the test ends, however it ends.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let until = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < until, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn get_text(agent: &ureq::Agent, url: &str) -> Option<(u16, String)> {
    let mut r = agent.get(url).call().ok()?;
    let status = r.status().as_u16();
    Some((status, r.body_mut().read_to_string().ok()?))
}

fn get_json(agent: &ureq::Agent, url: &str) -> Value {
    let (status, text) = get_text(agent, url).unwrap_or_else(|| panic!("GET {url} failed"));
    assert_eq!(status, 200, "GET {url}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {url}: {e}: {text}"))
}

/// A WebDriver session.
struct Driver {
    agent: ureq::Agent,
    base: String,
}

impl Driver {
    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let resp = match method {
            "POST" => self.agent.post(&url).send_json(body.unwrap_or(json!({}))),
            "DELETE" => self.agent.delete(&url).call(),
            _ => self.agent.get(&url).call(),
        };
        let mut resp = resp.unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert!(
            v["value"].get("error").is_none(),
            "WebDriver {method} {path} failed: {text}"
        );
        v["value"].clone()
    }

    fn find_all(&self, session: &str, css: &str) -> Vec<String> {
        self.cmd(
            "POST",
            &format!("/session/{session}/elements"),
            Some(json!({"using": "css selector", "value": css})),
        )
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| {
                    e.as_object()
                        .and_then(|o| o.values().next())
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default()
    }
}

/// Decodes standard base64 (the WebDriver screenshot).
fn base64_decode(text: &str) -> Vec<u8> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    };
    let digits: Vec<u32> = text.bytes().filter_map(val).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk.iter().fold(0u32, |acc, d| (acc << 6) | d) << (6 * (4 - chunk.len()));
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len().saturating_sub(1)]);
    }
    out
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}

fn run_lad(args: &[&str], dir: &Path) {
    let out = Command::new(LAD)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("lad runs");
    assert!(
        out.status.success(),
        "lad {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_page_shows_anomalies_and_feedback_takes_effect() {
    let chromium = find_binary(&["chromium", "chromium-browser"]);
    let chromedriver = find_binary(&["chromedriver"]);
    let (Some(chromium), Some(chromedriver)) = (chromium, chromedriver) else {
        if std::env::var("LAD_SKIP_BROWSER").as_deref() == Ok("1") {
            eprintln!("browser test skipped: LAD_SKIP_BROWSER=1");
            return;
        }
        panic!(
            "the browser test needs chromium and chromedriver on PATH (run scripts/browser-test-deps.sh, \
             or set LAD_SKIP_BROWSER=1 to skip it deliberately)"
        );
    };

    let dir = tempfile::tempdir().expect("a temporary directory");
    let demo = dir.path().join("demo");
    run_lad(
        &[
            "--quiet",
            "demo",
            "--dir",
            demo.to_str().expect("utf-8 path"),
        ],
        dir.path(),
    );

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let cfg = dir.path().join("lad.yaml");
    std::fs::write(
        &cfg,
        format!(
            "SQLITE_PATH: {}\nMODEL_BASE_DIR: {}\nHTTP_ADDR: 127.0.0.1:{port}\nINFER_TIME_SPAN: 1\n",
            demo.join("lad.db").display(),
            demo.join("models").display()
        ),
    )
    .expect("config written");
    let cfg_s = cfg.to_str().expect("utf-8 path").to_string();
    let log = std::fs::File::create(dir.path().join("lad-run.log")).expect("log file");
    let lad = Guard(
        Command::new(LAD)
            .args(["run", "--config", &cfg_s])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("lad run starts"),
    );
    let http = agent();
    wait_for("lad run to be ready", || {
        get_text(&http, &format!("{base}/readyz")).filter(|(s, _)| *s == 200)
    });

    let driver_port = free_port();
    let _driver = Guard(
        Command::new(&chromedriver)
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    let driver = Driver {
        agent: agent(),
        base: format!("http://127.0.0.1:{driver_port}"),
    };
    wait_for("chromedriver", || {
        get_text(&driver.agent, &format!("{}/status", driver.base)).filter(|(s, _)| *s == 200)
    });
    let profile = dir.path().join("chromium-profile");
    let session = driver.cmd(
        "POST",
        "/session",
        Some(json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": chromium.to_str().expect("utf-8 path"),
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--no-first-run", "--disable-component-update",
                     "--disable-sync", "--window-size=1400,1000",
                     format!("--user-data-dir={}", profile.display())]
        }}}})),
    );
    let sid = session["sessionId"]
        .as_str()
        .expect("a session id")
        .to_string();
    driver.cmd(
        "POST",
        &format!("/session/{sid}/url"),
        Some(json!({"url": format!("{base}/")})),
    );

    // The chart has bars and the list has anomalies with a button each.
    wait_for("the page to load its data", || {
        (!driver.find_all(&sid, "body[data-loaded='1']").is_empty()).then_some(())
    });
    let bars = driver.find_all(&sid, "#chart-svg rect.bar");
    assert!(!bars.is_empty(), "the chart has no bars");
    let rows = driver.find_all(&sid, "#anomalies tr.anomaly");
    assert!(!rows.is_empty(), "the anomaly list is empty");
    let buttons = driver.find_all(&sid, "#anomalies button.fp");
    assert!(!buttons.is_empty(), "no \"not an anomaly\" button");
    let record_id = driver.cmd(
        "GET",
        &format!("/session/{sid}/element/{}/attribute/data-id", buttons[0]),
        None,
    );
    let record_id = record_id
        .as_str()
        .expect("the button names its record")
        .to_string();

    let before = get_text(&http, &format!("{base}/metrics"))
        .expect("metrics")
        .1;
    assert_eq!(
        metric(&before, "lad_feedback_active"),
        Some(0.0),
        "{before}"
    );

    driver.cmd(
        "POST",
        &format!("/session/{sid}/element/{}/click", buttons[0]),
        None,
    );
    wait_for("the mark to appear in the feedback list", || {
        (!driver.find_all(&sid, "#feedback tr.mark").is_empty()).then_some(())
    });
    if let Ok(path) = std::env::var("LAD_SCREENSHOT") {
        let shot = driver.cmd("GET", &format!("/session/{sid}/screenshot"), None);
        std::fs::write(&path, base64_decode(shot.as_str().expect("base64 png")))
            .expect("screenshot written");
    }
    driver.cmd("DELETE", &format!("/session/{sid}"), None);

    // The API has the mark, for the record that was clicked.
    let marks = get_json(&http, &format!("{base}/api/feedback"));
    let mark = marks["items"]
        .as_array()
        .and_then(|a| a.iter().find(|m| m["record_id"] == json!(record_id)))
        .unwrap_or_else(|| panic!("no mark for record {record_id}: {marks}"))
        .clone();
    let host = mark["host"].as_str().expect("host").to_string();
    let message = mark["message"].as_str().expect("message").to_string();
    let after = get_text(&http, &format!("{base}/metrics"))
        .expect("metrics")
        .1;
    assert_eq!(metric(&after, "lad_feedback_active"), Some(1.0), "{after}");
    let suppressed_before =
        metric(&after, "lad_lines_suppressed_total").expect("the counter is exported");

    // The same line arrives again: the next pass writes it as normal and counts it suppressed.
    let line = json!({
        "message": message,
        "hostname": host,
        "received_at": lad_store::timefmt::format_rfc3339_millis(lad::pipeline::now_ms()),
    });
    let input = dir.path().join("again.jsonl");
    let mut f = std::fs::File::create(&input).expect("input file");
    writeln!(f, "{line}").expect("input written");
    run_lad(
        &[
            "--quiet",
            "import",
            "--config",
            &cfg_s,
            "--source",
            "syslog",
            input.to_str().expect("utf-8 path"),
        ],
        dir.path(),
    );
    wait_for("the next pass to suppress the repeated line", || {
        let text = get_text(&http, &format!("{base}/metrics"))?.1;
        (metric(&text, "lad_lines_suppressed_total")? > suppressed_before).then_some(())
    });
    let page = get_json(
        &http,
        &format!("{base}/api/anomalies?host={host}&limit=1000"),
    );
    let flagged_copies = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|a| a["message"] == json!(message))
        .count();
    assert_eq!(
        flagged_copies, 1,
        "only the line marked before stays flagged: {page}"
    );

    // A clean stop on SIGTERM.
    let mut lad = lad;
    let pid = lad.0.id().to_string();
    let term = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(term.success());
    let status = wait_for("lad run to stop", || lad.0.try_wait().ok().flatten());
    assert!(status.success(), "lad run exited with {status}");
}
