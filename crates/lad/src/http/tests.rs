//! The router driven with `oneshot`, no socket: a temporary sqlite store with hand-made
//! verdicts and aggregates, so every expected value below is computed from the inserted rows.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use lad_store::{AggregateDraft, NewRecord, RecordId, Verdict};
use serde_json::{json, Value};
use tower::ServiceExt;

use super::*;
use crate::config::Secret;

const SOURCE: &str = "syslog";
const T0: i64 = 1_700_000_000_000;

struct Fixture {
    _dir: tempfile::TempDir,
    config: Config,
    /// (id, host, time, message, is_anomaly, score) of every record.
    rows: Vec<(RecordId, String, i64, String, bool, f64)>,
}

/// 40 records on two hosts in turn, one a minute; every 3rd is an anomaly (so both hosts have
/// some) with a score that grows.
fn fixture(token: Option<&str>) -> Fixture {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut config = Config::embedded_default().expect("the embedded default is valid");
    config.sqlite_path = dir.path().join("lad.db");
    config.model_base_dir = dir.path().join("models");
    config.http_token = token.map(Secret::new);
    let mut stores = crate::wiring::open_for_scoring(&config).expect("the store opens");
    let new: Vec<NewRecord> = (0..40)
        .map(|i| NewRecord {
            original_id: None,
            host: if i % 2 == 0 { "web-1" } else { "db-1" }.into(),
            time: T0 + i * 60_000,
            message: if i % 3 == 0 {
                format!("disk quota exceeded for user {i} on /dev/sd{i}")
            } else {
                format!("session opened for user {i}")
            },
            extra: serde_json::Map::new(),
        })
        .collect();
    stores.source.import(SOURCE, &new).expect("import");
    let page = stores
        .source
        .export_page(Some(SOURCE), None, 100)
        .expect("export");
    let mut rows = Vec::new();
    let mut verdicts = Vec::new();
    let mut records = Vec::new();
    for (i, row) in page.rows.iter().enumerate() {
        let r = &row.record;
        let anomalous = r.message.starts_with("disk");
        let score = if anomalous {
            0.5 + i as f64 / 100.0
        } else {
            0.1
        };
        verdicts.push(Verdict {
            id: r.id.clone(),
            is_anomaly: anomalous,
            score,
        });
        records.push(r.clone());
        rows.push((
            r.id.clone(),
            r.host.clone(),
            r.time,
            r.message.clone(),
            anomalous,
            score,
        ));
    }
    stores
        .source
        .write_verdicts(SOURCE, &verdicts, &records)
        .expect("verdicts");
    // One aggregate of the first four anomalies (both hosts).
    let members: Vec<RecordId> = rows
        .iter()
        .filter(|r| r.4)
        .take(4)
        .map(|r| r.0.clone())
        .collect();
    stores
        .source
        .write_aggregates(
            SOURCE,
            "syslog_aggregated",
            &[AggregateDraft {
                message: "disk quota exceeded for user *** on ***".into(),
                total_logs: members.len() as u64,
                average_time_ms: T0,
                average_anomaly_score: 0.5,
                most_frequent_hostname: "web-1".into(),
                was_added_at_ms: T0,
                member_ids: members,
            }],
        )
        .expect("aggregates");
    Fixture {
        _dir: dir,
        config,
        rows,
    }
}

fn app(f: &Fixture) -> Router {
    router(AppState::new(f.config.clone(), Arc::new(State::default())))
}

/// Sends one request and returns the status and the body (as JSON when it parses).
fn call(
    router: &Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> (StatusCode, Value, String) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .expect("a valid request");
    send(router, req)
}

/// Sends a request; returns the status, the body as JSON (`Null` when it does not parse) and
/// the content type and body as text.
fn send(router: &Router, req: Request<Body>) -> (StatusCode, Value, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a test runtime");
    runtime.block_on(async {
        let resp = router
            .clone()
            .oneshot(req)
            .await
            .expect("the router answers");
        let status = resp.status();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = resp.into_body().collect().await.expect("a body").to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, json, format!("{ctype}\n{text}"))
    })
}

#[test]
fn health_metrics_and_page() {
    let f = fixture(None);
    let r = app(&f);
    assert_eq!(call(&r, "GET", "/healthz", None, None).0, StatusCode::OK);
    let (status, _, text) = call(&r, "GET", "/metrics", None, None);
    assert_eq!(status, StatusCode::OK);
    assert!(text.starts_with("text/plain; version=0.0.4"), "{text}");
    assert!(text.contains("\nlad_lines_read_total 0\n"), "{text}");
    assert!(text.contains("\nlad_feedback_active 0\n"), "{text}");
    let (status, _, page) = call(&r, "GET", "/", None, None);
    assert_eq!(status, StatusCode::OK);
    assert!(page.starts_with("text/html"));
    // No external assets: nothing is loaded from another origin.
    assert!(
        !page.contains("src=\"http") && !page.contains("href=\"http"),
        "the page loads an external asset"
    );
}

#[test]
fn readyz_wants_models_and_a_store() {
    let f = fixture(None);
    let state = Arc::new(State::default());
    let r = router(AppState::new(f.config.clone(), Arc::clone(&state)));
    let (status, body, _) = call(&r, "GET", "/readyz", None, None);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["ready"], json!(false));
    assert_eq!(body["reasons"].as_array().map(Vec::len), Some(2), "{body}");
    state.set_store_ok(true);
    let (status, body, _) = call(&r, "GET", "/readyz", None, None);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["reasons"].as_array().map(Vec::len), Some(1), "{body}");
}

#[test]
fn anomalies_are_filtered_and_paged_newest_first() {
    let f = fixture(None);
    let r = app(&f);
    let expected: Vec<&(RecordId, String, i64, String, bool, f64)> = {
        let mut v: Vec<_> = f.rows.iter().filter(|r| r.4).collect();
        v.sort_by_key(|r| std::cmp::Reverse(r.2));
        v
    };
    let (status, body, _) = call(&r, "GET", "/api/anomalies?limit=3", None, None);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["total"], json!(expected.len()));
    let ids: Vec<String> = body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["_id"].as_str().unwrap_or_default().to_string())
        .collect();
    let want: Vec<String> = expected.iter().take(3).map(|r| r.0.to_string()).collect();
    assert_eq!(ids, want);
    // Second page.
    let (_, body, _) = call(&r, "GET", "/api/anomalies?limit=3&offset=3", None, None);
    assert_eq!(body["items"][0]["_id"], json!(expected[3].0.to_string()));

    // Host, score and time filters.
    let min = expected[expected.len() / 2].5;
    let from = T0 + 10 * 60_000;
    let to = T0 + 30 * 60_000;
    let uri = format!(
        "/api/anomalies?host=web-1&min_score={min}&from={from}&to=2023-11-14T22:43:20Z&limit=1000"
    );
    assert_eq!(
        to,
        lad_store::timefmt::parse_time_str("2023-11-14T22:43:20Z").expect("time")
    );
    let (status, body, _) = call(&r, "GET", &uri, None, None);
    assert_eq!(status, StatusCode::OK, "{body}");
    let want = expected
        .iter()
        .filter(|r| r.1 == "web-1" && r.5 >= min && r.2 >= from && r.2 < to)
        .count();
    assert!(want > 0);
    assert_eq!(body["total"], json!(want), "{body}");
    for item in body["items"].as_array().expect("items") {
        assert_eq!(item["hostname"], json!("web-1"));
        assert_eq!(item["is_anomaly"], json!(1));
    }
    let (status, body, _) = call(&r, "GET", "/api/anomalies?from=yesterday", None, None);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap_or("").contains("from"),
        "{body}"
    );
}

#[test]
fn timeline_counts_every_anomaly_of_the_range_once() {
    let f = fixture(None);
    let r = app(&f);
    let to = T0 + 40 * 60_000;
    let (status, body, _) = call(
        &r,
        "GET",
        &format!("/api/timeline?from={T0}&to={to}&buckets=7"),
        None,
        None,
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    let series = body["series"].as_array().expect("series");
    assert_eq!(series.len(), 2);
    for s in series {
        let host = s["host"].as_str().expect("host");
        let counts: Vec<u64> = s["counts"]
            .as_array()
            .expect("counts")
            .iter()
            .filter_map(Value::as_u64)
            .collect();
        assert_eq!(counts.len(), 7);
        let want = f.rows.iter().filter(|r| r.4 && r.1 == host).count() as u64;
        assert_eq!(counts.iter().sum::<u64>(), want, "{host}");
    }
}

#[test]
fn aggregates_come_with_their_members() {
    let f = fixture(None);
    let r = app(&f);
    let (_, body, _) = call(&r, "GET", "/api/aggregates", None, None);
    assert_eq!(body["total"], json!(1));
    let id = body["items"][0]["_id"].as_str().expect("id").to_string();
    assert_eq!(
        body["items"][0]["members"].as_array().map(Vec::len),
        Some(4)
    );
    let (status, one, _) = call(&r, "GET", &format!("/api/aggregates/{id}"), None, None);
    assert_eq!(status, StatusCode::OK);
    let msgs: Vec<&str> = one["member_records"]
        .as_array()
        .expect("member records")
        .iter()
        .filter_map(|m| m["message"].as_str())
        .collect();
    assert_eq!(msgs.len(), 4);
    assert!(msgs.iter().all(|m| m.starts_with("disk quota exceeded")));
    assert_eq!(
        call(&r, "GET", "/api/aggregates/999", None, None).0,
        StatusCode::NOT_FOUND
    );
}

#[test]
fn feedback_needs_the_token_marks_same_template_lines_and_undoes() {
    let f = fixture(Some("s3cret"));
    let r = app(&f);
    let target = f
        .rows
        .iter()
        .find(|r| r.4 && r.1 == "web-1")
        .expect("an anomaly");
    let body = json!({ "source": SOURCE, "record_id": target.0.to_string(), "who": "ops" });
    assert_eq!(
        call(&r, "POST", "/api/feedback", Some(body.clone()), None).0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(
            &r,
            "POST",
            "/api/feedback",
            Some(body.clone()),
            Some("nope")
        )
        .0,
        StatusCode::UNAUTHORIZED
    );
    let (status, created, _) = call(&r, "POST", "/api/feedback", Some(body), Some("s3cret"));
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let mark = &created["created"][0];
    assert_eq!(mark["host"], json!("web-1"));
    assert_eq!(mark["who"], json!("ops"));
    let id = mark["id"].as_i64().expect("id");

    // Every web-1 anomaly has the same template (numbers and paths masked); db-1's are untouched.
    let (_, page, _) = call(&r, "GET", "/api/anomalies?limit=1000", None, None);
    for item in page["items"].as_array().expect("items") {
        let want = item["hostname"] == json!("web-1");
        assert_eq!(item["feedback"], json!(want), "{item}");
    }
    let (_, list, _) = call(&r, "GET", "/api/feedback", None, None);
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    let (_, _, metrics) = call(&r, "GET", "/metrics", None, None);
    assert!(metrics.contains("\nlad_feedback_active 1\n"), "{metrics}");

    let undo = format!("/api/feedback/{id}/undo");
    assert_eq!(
        call(&r, "POST", &undo, None, None).0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&r, "POST", &undo, None, Some("s3cret")).0,
        StatusCode::OK
    );
    assert_eq!(
        call(&r, "POST", &undo, None, Some("s3cret")).0,
        StatusCode::NOT_FOUND
    );
    let (_, list, _) = call(&r, "GET", "/api/feedback", None, None);
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0));
    let (_, list, _) = call(&r, "GET", "/api/feedback?include_undone=true", None, None);
    assert!(list["items"][0]["undone_at"].is_string(), "{list}");
    let (_, page, _) = call(&r, "GET", "/api/anomalies?limit=1000", None, None);
    assert!(page["items"]
        .as_array()
        .expect("items")
        .iter()
        .all(|i| i["feedback"] == json!(false)));
}

#[test]
fn feedback_on_an_aggregate_marks_each_member_host() {
    let f = fixture(None);
    let r = app(&f);
    let (_, aggs, _) = call(&r, "GET", "/api/aggregates", None, None);
    let id = aggs["items"][0]["_id"].as_str().expect("id").to_string();
    let (status, created, _) = call(
        &r,
        "POST",
        "/api/feedback",
        Some(json!({ "aggregate_id": id })),
        None,
    );
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let hosts: Vec<&str> = created["created"]
        .as_array()
        .expect("created")
        .iter()
        .filter_map(|m| m["host"].as_str())
        .collect();
    assert_eq!(hosts, ["db-1", "web-1"]);
    assert_eq!(
        created["created"][0]["template"],
        json!("disk quota exceeded for user *** on ***")
    );
    let (status, _, _) = call(
        &r,
        "POST",
        "/api/feedback",
        Some(json!({ "record_id": "1", "aggregate_id": id })),
        None,
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = call(
        &r,
        "POST",
        "/api/feedback",
        Some(json!({ "record_id": "999999" })),
        None,
    );
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[test]
fn an_open_address_needs_a_token() {
    let mut config = Config::embedded_default().expect("the embedded default is valid");
    let open: std::net::SocketAddr = "0.0.0.0:9184".parse().expect("an address");
    assert!(check_exposure(open, &config).is_err());
    assert!(check_exposure("127.0.0.1:9184".parse().expect("an address"), &config).is_ok());
    config.http_token = Some(Secret::new("t"));
    assert!(check_exposure(open, &config).is_ok());
    // spawn refuses too, before binding anything.
    config.http_token = None;
    config.http_addr = open;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(true));
    assert!(spawn(&config, Arc::new(State::default()), stop).is_err());
}

#[test]
fn patterns_of_the_saved_models_are_listed_and_filtered() {
    let f = fixture(None);
    let router = app(&f);
    // No model yet: nothing listed, and the hosts are counted as without patterns.
    let (status, body, _) = call(&router, "GET", "/api/patterns", None, None);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], 0);
    assert_eq!(body["hosts_without_patterns"], 2);

    let mut stores = crate::wiring::open_for_training(&f.config).expect("the store opens");
    let hosts = crate::pipeline::host_pairs(&f.config, &mut stores.source).expect("hosts");
    crate::pipeline::train(&f.config, &mut stores.source, &hosts, T0 + 3_600_000)
        .expect("training");
    let (status, body, _) = call(&router, "GET", "/api/patterns?host=web-1", None, None);
    assert_eq!(status, StatusCode::OK, "{body}");
    let items = body["items"].as_array().cloned().unwrap_or_default();
    assert!(!items.is_empty(), "{body}");
    assert!(items.iter().all(|p| p["hostname"] == "web-1"), "{body}");
    let total: u64 = items.iter().filter_map(|p| p["count"].as_u64()).sum();
    assert_eq!(
        total, 20,
        "every training line of web-1 is counted once: {body}"
    );
    assert!(
        items
            .iter()
            .any(|p| p["template"] == "session opened for user ***"),
        "{body}"
    );
    let (_, angle, _) = call(
        &router,
        "GET",
        "/api/patterns?host=web-1&format=angle",
        None,
        None,
    );
    assert!(
        angle["items"].as_array().is_some_and(|a| a
            .iter()
            .any(|p| p["template"] == "session opened for user <*>")),
        "{angle}"
    );
    let (status, body, _) = call(&router, "GET", "/api/patterns?format=xml", None, None);
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[test]
fn extreme_time_parameters_are_clamped_not_overflowed() {
    let f = fixture(None);
    let router = app(&f);
    for uri in [
        "/api/timeline?from=-9223372036854775808&to=9223372036854775807",
        "/api/timeline?to=-9223372036854775808",
        "/api/anomalies?from=-9223372036854775808&to=9223372036854775807",
    ] {
        let (status, body, _) = call(&router, "GET", uri, None, None);
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    }
    let (_, body, _) = call(
        &router,
        "GET",
        "/api/timeline?from=-9223372036854775808&to=9223372036854775807&buckets=500",
        None,
        None,
    );
    let total: u64 = body["series"]
        .as_array()
        .map(|s| {
            s.iter()
                .flat_map(|h| h["counts"].as_array().cloned().unwrap_or_default())
                .filter_map(|c| c.as_u64())
                .sum()
        })
        .unwrap_or(0);
    assert_eq!(
        total,
        f.rows.iter().filter(|r| r.4).count() as u64,
        "{body}"
    );
}

/// Sends a request and returns the status and the body parsed as JSON (`Null` if not JSON).
fn raw(router: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let (status, json, _) = send(router, req);
    (status, json)
}

#[test]
fn framework_errors_are_json_and_the_bearer_scheme_is_case_insensitive() {
    let f = fixture(Some("s3cret"));
    let router = app(&f);
    let post = |auth: &str, ctype: &str, body: &str| {
        Request::builder()
            .method("POST")
            .uri("/api/feedback")
            .header("authorization", auth)
            .header("content-type", ctype)
            .body(Body::from(body.to_string()))
            .expect("a valid request")
    };
    // Not JSON, wrong content type, wrong shape: each a JSON error.
    for (ctype, body, want) in [
        ("application/json", "{not json", StatusCode::BAD_REQUEST),
        ("text/plain", "{}", StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (
            "application/json",
            "{\"source\": 5}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (status, body) = raw(&router, post("Bearer s3cret", ctype, body));
        assert_eq!(status, want, "{body}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}"
        );
    }
    let (status, body) = raw(
        &router,
        Request::builder()
            .uri("/api/anomalies?limit=lots")
            .body(Body::empty())
            .expect("a valid request"),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"].is_string(), "{body}");
    // A lowercase scheme is the same scheme: the token is checked, then the body.
    let (status, body) = raw(&router, post("bearer s3cret", "application/json", "{}"));
    assert_ne!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _) = raw(&router, post("bearer wrong", "application/json", "{}"));
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[test]
fn writes_without_a_token_come_from_this_machine_only() {
    let f = fixture(None);
    let router = app(&f);
    let target = f.rows.iter().find(|r| r.4).expect("an anomaly");
    let body = json!({ "source": SOURCE, "record_id": target.0.to_string(), "who": "ops" });
    let post = |host: Option<&str>, origin: Option<&str>| {
        let mut req = Request::builder()
            .method("POST")
            .uri("/api/feedback")
            .header("content-type", "application/json");
        if let Some(h) = host {
            req = req.header("host", h);
        }
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req.body(Body::from(body.to_string()))
            .expect("a valid request")
    };
    // DNS rebinding: the page's own name, resolved to 127.0.0.1.
    for (host, origin) in [
        (Some("evil.example:9184"), None),
        (Some("127.0.0.1:9184"), Some("http://evil.example:9184")),
        (Some("localhost:9184"), Some("null")),
    ] {
        let (status, reply) = raw(&router, post(host, origin));
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{host:?} {origin:?}: {reply}"
        );
        assert!(reply["error"]
            .as_str()
            .is_some_and(|e| e.contains("HTTP_TOKEN")));
    }
    for (host, origin) in [
        (Some("127.0.0.1:9184"), Some("http://127.0.0.1:9184")),
        (Some("localhost:9184"), None),
        (Some("[::1]:9184"), Some("http://[::1]:9184")),
    ] {
        let (status, reply) = raw(&router, post(host, origin));
        assert_eq!(status, StatusCode::CREATED, "{host:?} {origin:?}: {reply}");
    }
}

/// The fixture's anomalies grouped into incidents, as `lad detect` would on start (the hosts
/// have no model here, so each line's pattern is its own).
fn with_incidents(f: &Fixture) -> Arc<crate::incidents::IncidentBook> {
    let repo = Arc::new(crate::models::ModelRepo::new(&f.config.model_base_dir));
    let patterns = Arc::new(crate::patterns::PatternBook::new(
        &f.config.model_base_dir,
        repo,
    ));
    let book = Arc::new(crate::incidents::IncidentBook::new(&f.config, patterns));
    book.repair().expect("the anomalies join incidents");
    book
}

#[test]
fn incidents_are_listed_filtered_and_marked() {
    let f = fixture(Some("t"));
    with_incidents(&f);
    let r = app(&f);
    let (status, body, _) = call(&r, "GET", "/api/incidents", None, None);
    assert_eq!(status, StatusCode::OK, "{body}");
    // Every anomaly is `disk quota exceeded for user <n> on /dev/sd<n>` on both hosts, a
    // minute apart: one incident of one pattern on both hosts.
    assert_eq!(body["total"], json!(1), "{body}");
    let i = &body["items"][0];
    let anomalies = f.rows.iter().filter(|r| r.4).count();
    assert_eq!(i["count"], json!(anomalies), "{i}");
    assert_eq!(i["hosts"], json!(["db-1", "web-1"]));
    assert_eq!(i["state"], json!("open"));
    assert!(
        i["explanation"]
            .as_str()
            .is_some_and(|e| e.contains("on db-1, web-1")),
        "{i}"
    );
    let id = i["id"].as_str().expect("an id").to_string();

    let list = |q: &str| call(&r, "GET", &format!("/api/incidents?{q}"), None, None);
    assert_eq!(list("host=web-1").1["total"], json!(1));
    assert_eq!(list("host=mail-1").1["total"], json!(0));
    assert_eq!(list("state=resolved").1["total"], json!(0));
    assert_eq!(list("state=active").1["total"], json!(1));
    assert_eq!(list("state=pending").1["total"], json!(0), "it opened");
    assert_eq!(list("state=expired").1["total"], json!(0));
    assert_eq!(
        list(&format!("to={T0}")).1["total"],
        json!(0),
        "before its first line"
    );
    assert_eq!(list("limit=1&offset=1").1["items"], json!([]));
    assert_eq!(list("state=sleeping").0, StatusCode::BAD_REQUEST);
    let (status, one, _) = call(&r, "GET", &format!("/api/incidents/{id}"), None, None);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["id"], json!(id));
    assert_eq!(
        call(&r, "GET", "/api/incidents/0000", None, None).0,
        StatusCode::NOT_FOUND
    );

    // Marks need the token.
    let ack = format!("/api/incidents/{id}/acknowledge");
    let mute = format!("/api/incidents/{id}/mute");
    let who = json!({"who": "alice"});
    assert_eq!(
        call(&r, "POST", &ack, Some(who.clone()), None).0,
        StatusCode::UNAUTHORIZED
    );
    let (status, acked, _) = call(&r, "POST", &ack, Some(who), Some("t"));
    assert_eq!(status, StatusCode::OK, "{acked}");
    assert_eq!(acked["state"], json!("acknowledged"));
    assert_eq!(acked["acknowledged_by"], json!("alice"));
    let (_, muted, _) = call(&r, "POST", &mute, Some(json!({"for_s": 600})), Some("t"));
    assert_eq!(muted["state"], json!("muted"), "{muted}");
    assert_eq!(list("state=muted").1["total"], json!(1));
    let (_, unmuted, _) = call(&r, "POST", &mute, None, Some("t"));
    assert_eq!(unmuted["state"], json!("acknowledged"), "{unmuted}");
    let (_, back, _) = call(&r, "POST", &ack, Some(json!({"undo": true})), Some("t"));
    assert_eq!(back["state"], json!("open"));
    assert_eq!(
        call(&r, "POST", "/api/incidents/0000/mute", None, Some("t")).0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&r, "POST", &mute, Some(json!({"until": "x"})), Some("t")).0,
        StatusCode::BAD_REQUEST
    );
}

#[test]
fn marks_go_through_the_daemons_incident_book_and_the_gauge_counts_open_incidents() {
    let f = fixture(None);
    let book = with_incidents(&f);
    let state = Arc::new(State::default());
    let r = router(AppState::new(f.config.clone(), Arc::clone(&state)));
    let (_, _, metrics) = call(&r, "GET", "/metrics", None, None);
    assert!(
        metrics.contains("\nlad_incidents_open 0\n"),
        "present from start-up: {metrics}"
    );
    state.set_incidents(Arc::clone(&book));
    let (_, _, metrics) = call(&r, "GET", "/metrics", None, None);
    assert!(metrics.contains("\nlad_incidents_open 1\n"), "{metrics}");
    let (_, body, _) = call(&r, "GET", "/api/incidents", None, None);
    let id = body["items"][0]["id"].as_str().expect("an id").to_string();
    let (status, acked, _) = call(
        &r,
        "POST",
        &format!("/api/incidents/{id}/acknowledge"),
        Some(json!({"who": "bob"})),
        None,
    );
    assert_eq!(status, StatusCode::OK, "{acked}");
    // The tracker holds the mark, so the incident's next write keeps it.
    let open: Vec<_> = book.take_notices();
    assert!(open.iter().any(|n| n.id == id), "the opening was noticed");
    book.tick(i64::MAX / 4);
    let (_, after, _) = call(&r, "GET", &format!("/api/incidents/{id}"), None, None);
    assert_eq!(after["state"], json!("resolved"), "{after}");
    assert_eq!(after["acknowledged_by"], json!("bob"), "{after}");
    let notices = book.take_notices();
    assert_eq!(notices.len(), 1);
    assert_eq!(
        notices[0].transition,
        lad_core::incident::Transition::Resolved
    );
}

#[test]
fn hosts_are_searched_sorted_paged_and_counted_with_a_sparkline() {
    let f = fixture(None);
    let r = app(&f);
    let to = T0 + 40 * 60_000;
    let range = format!("from={T0}&to={to}");
    let count = |host: &str| f.rows.iter().filter(|r| r.4 && r.1 == host).count();
    // Without parameters: every host, sorted by name, none paged away.
    let (status, body, _) = call(&r, "GET", &format!("/api/hosts?{range}"), None, None);
    assert_eq!(status, StatusCode::OK, "{body}");
    let names: Vec<&str> = body["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .filter_map(|h| h["host"].as_str())
        .collect();
    assert_eq!(names, ["db-1", "web-1"]);
    assert_eq!(body["total"], json!(2));
    assert_eq!(body["all_hosts"], json!(2));
    for h in body["hosts"].as_array().expect("hosts") {
        let host = h["host"].as_str().expect("a name");
        assert_eq!(h["anomalies"], json!(count(host)), "{h}");
        let spark: u64 = h["spark"]
            .as_array()
            .expect("a sparkline")
            .iter()
            .filter_map(Value::as_u64)
            .sum();
        assert_eq!(spark as usize, count(host), "{h}");
        assert_eq!(h["spark"].as_array().map(Vec::len), Some(24));
    }
    // Sorted by anomalies, one a page.
    let most = if count("web-1") > count("db-1") {
        "web-1"
    } else {
        "db-1"
    };
    let (_, body, _) = call(
        &r,
        "GET",
        &format!("/api/hosts?{range}&sort=anomalies&limit=1&buckets=4"),
        None,
        None,
    );
    assert_eq!(body["hosts"].as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(body["hosts"][0]["host"], json!(most));
    assert_eq!(body["hosts"][0]["spark"].as_array().map(Vec::len), Some(4));
    assert_eq!(body["total"], json!(2));
    let (_, body, _) = call(
        &r,
        "GET",
        &format!("/api/hosts?{range}&sort=anomalies&limit=1&offset=1"),
        None,
        None,
    );
    assert_ne!(body["hosts"][0]["host"], json!(most));
    // Search, case-insensitive.
    let (_, body, _) = call(&r, "GET", &format!("/api/hosts?{range}&q=WEB"), None, None);
    assert_eq!(body["total"], json!(1), "{body}");
    assert_eq!(body["hosts"][0]["host"], json!("web-1"));
    // A window without anomalies counts none.
    let (_, body, _) = call(&r, "GET", &format!("/api/hosts?to={T0}"), None, None);
    assert!(body["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .all(|h| h["anomalies"] == json!(0)));
    assert_eq!(
        call(&r, "GET", "/api/hosts?sort=size", None, None).0,
        StatusCode::BAD_REQUEST
    );
}

#[test]
fn anomalies_are_searched_and_drilled_down_from_an_incident() {
    let f = fixture(None);
    with_incidents(&f);
    let r = app(&f);
    // The search matches part of the message, in any case.
    let want = f
        .rows
        .iter()
        .filter(|r| r.4 && r.3.contains("/dev/sd3"))
        .count();
    assert!(want > 0);
    let (_, body, _) = call(&r, "GET", "/api/anomalies?q=%2FDEV%2Fsd3", None, None);
    assert_eq!(body["total"], json!(want), "{body}");
    let (_, body, _) = call(&r, "GET", "/api/anomalies?q=web-1", None, None);
    let on_web = f.rows.iter().filter(|r| r.4 && r.1 == "web-1").count();
    assert_eq!(body["total"], json!(on_web), "{body}");
    // The incident's lines are its anomalies.
    let (_, list, _) = call(&r, "GET", "/api/incidents", None, None);
    let id = list["items"][0]["id"]
        .as_str()
        .expect("an incident")
        .to_string();
    let (status, body, _) = call(
        &r,
        "GET",
        &format!("/api/anomalies?incident={id}&limit=1000"),
        None,
        None,
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], list["items"][0]["count"], "{body}");
    let (_, body, _) = call(
        &r,
        "GET",
        &format!("/api/anomalies?incident={id}&host=db-1"),
        None,
        None,
    );
    assert_eq!(
        body["total"],
        json!(f.rows.iter().filter(|r| r.4 && r.1 == "db-1").count())
    );
    assert_eq!(
        call(&r, "GET", "/api/anomalies?incident=0000", None, None).0,
        StatusCode::NOT_FOUND
    );
}

#[test]
fn timeline_keeps_the_top_hosts_and_sums_the_others_and_aggregates_follow_the_filters() {
    let f = fixture(None);
    let r = app(&f);
    let to = T0 + 40 * 60_000;
    let (_, body, _) = call(
        &r,
        "GET",
        &format!("/api/timeline?from={T0}&to={to}&top=1"),
        None,
        None,
    );
    assert_eq!(body["series"].as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(body["others"]["hosts"], json!(1), "{body}");
    let total: u64 = body["series"][0]["counts"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(body["others"]["counts"].as_array().into_iter().flatten())
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(total as usize, f.rows.iter().filter(|r| r.4).count());
    let (_, body, _) = call(
        &r,
        "GET",
        &format!("/api/timeline?from={T0}&to={to}&host=db-1"),
        None,
        None,
    );
    assert_eq!(body["series"].as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(body["series"][0]["host"], json!("db-1"));
    // The aggregate's mean time is T0 and its main host web-1.
    let agg =
        |q: &str| call(&r, "GET", &format!("/api/aggregates?{q}"), None, None).1["total"].clone();
    assert_eq!(agg(&format!("from={T0}&to={to}")), json!(1));
    assert_eq!(agg(&format!("from={}", T0 + 1)), json!(0));
    assert_eq!(agg("host=web-1"), json!(1));
    assert_eq!(agg("host=db-1"), json!(0));
}

#[test]
fn a_persons_token_names_who_marked_with_the_reason() {
    let mut f = fixture(Some("shared"));
    f.config.http_tokens = [
        ("alice".to_string(), Secret::new("a-token")),
        ("bob".to_string(), Secret::new("b-token")),
    ]
    .into_iter()
    .collect();
    with_incidents(&f);
    let r = app(&f);
    let rid = f
        .rows
        .iter()
        .find(|r| r.4)
        .expect("an anomaly")
        .0
        .to_string();
    let body = json!({"record_id": rid, "who": "mallory", "reason": "a nightly job"});
    assert_eq!(
        call(
            &r,
            "POST",
            "/api/feedback",
            Some(body.clone()),
            Some("nope")
        )
        .0,
        StatusCode::UNAUTHORIZED
    );
    let (status, made, _) = call(&r, "POST", "/api/feedback", Some(body), Some("b-token"));
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let mark = &made["created"][0];
    // The token's name wins over the body's.
    assert_eq!(mark["who"], json!("bob"), "{mark}");
    assert_eq!(mark["reason"], json!("a nightly job"));
    let (_, listed, _) = call(&r, "GET", "/api/feedback", None, None);
    assert_eq!(listed["items"][0]["who"], json!("bob"));
    assert_eq!(listed["items"][0]["reason"], json!("a nightly job"));
    // The shared token still works; the body names the person then.
    let (_, list, _) = call(&r, "GET", "/api/incidents", None, None);
    let id = list["items"][0]["id"]
        .as_str()
        .expect("an incident")
        .to_string();
    let ack = format!("/api/incidents/{id}/acknowledge");
    let (status, acked, _) = call(
        &r,
        "POST",
        &ack,
        Some(json!({"who": "carol"})),
        Some("shared"),
    );
    assert_eq!(status, StatusCode::OK, "{acked}");
    assert_eq!(acked["acknowledged_by"], json!("carol"));
    let (_, acked, _) = call(
        &r,
        "POST",
        &ack,
        Some(json!({"who": "carol"})),
        Some("a-token"),
    );
    assert_eq!(acked["acknowledged_by"], json!("alice"));
    // A non-loopback address is fine with named tokens alone.
    let mut open = f.config.clone();
    open.http_token = None;
    assert!(check_exposure("0.0.0.0:9184".parse().expect("addr"), &open).is_ok());
    open.http_tokens.clear();
    assert!(check_exposure("0.0.0.0:9184".parse().expect("addr"), &open).is_err());
}

#[test]
fn reads_on_an_open_address_need_a_token_unless_reads_are_public() {
    let mut f = fixture(Some("s3cret"));
    f.config.http_tokens = [("alice".to_string(), Secret::new("a-token"))]
        .into_iter()
        .collect();
    f.config.http_addr = "0.0.0.0:9184".parse().expect("an address");
    let r = app(&f);
    for uri in [
        "/api/anomalies",
        "/api/hosts",
        "/api/timeline",
        "/api/aggregates",
        "/api/feedback",
        "/api/patterns",
    ] {
        let (status, body, _) = call(&r, "GET", uri, None, None);
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}: {body}");
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("HTTP_PUBLIC_READS")),
            "{uri}: the error says how to open reads: {body}"
        );
        let (status, body, _) = call(&r, "GET", uri, None, Some("wrong"));
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}: {body}");
        for token in ["s3cret", "a-token"] {
            let (status, body, _) = call(&r, "GET", uri, None, Some(token));
            assert_eq!(status, StatusCode::OK, "{uri} with {token}: {body}");
        }
    }
    // The page holds no data (it asks the API with the token it is given); the probes and
    // the metrics stay open for scrapers.
    for uri in ["/", "/healthz", "/metrics"] {
        let (status, body, _) = call(&r, "GET", uri, None, None);
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    }
    let (_, _, page) = call(&r, "GET", "/", None, None);
    assert!(
        page.contains("sessionStorage"),
        "the page keeps the token per tab"
    );
    // HTTP_PUBLIC_READS opens the reads, and only them.
    f.config.http_public_reads = true;
    let r = app(&f);
    let (status, body, _) = call(&r, "GET", "/api/anomalies", None, None);
    assert_eq!(status, StatusCode::OK, "{body}");
    let target = f.rows.iter().find(|r| r.4).expect("an anomaly");
    let mark = json!({ "source": SOURCE, "record_id": target.0.to_string() });
    let (status, body, _) = call(&r, "POST", "/api/feedback", Some(mark), None);
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // On loopback, reads are open as they always were, tokens or not.
    f.config.http_public_reads = false;
    f.config.http_addr = "127.0.0.1:9184".parse().expect("an address");
    let r = app(&f);
    let (status, body, _) = call(&r, "GET", "/api/anomalies", None, None);
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[test]
fn the_token_is_checked_before_the_body_is_read() {
    let f = fixture(Some("s3cret"));
    let router = app(&f);
    let post = |auth: Option<&str>, ctype: &str, body: &str| {
        let mut req = Request::builder()
            .method("POST")
            .uri("/api/feedback")
            .header("content-type", ctype);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        req.body(Body::from(body.to_string()))
            .expect("a valid request")
    };
    // Without the right token, a broken body, a wrong content type or a wrong shape all get 401:
    // nothing of the body was looked at.
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Basic czNjcmV0"),
        Some("bearer"),
    ] {
        for (ctype, body) in [
            ("application/json", "{not json"),
            ("text/plain", "{}"),
            ("application/json", "{\"source\": 5}"),
        ] {
            let (status, reply) = raw(&router, post(auth, ctype, body));
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{auth:?} {ctype} {body}: {reply}"
            );
            assert!(reply["error"].is_string(), "{reply}");
        }
    }
    // With it, the body is read and its faults reported.
    let (status, reply) = raw(
        &router,
        post(Some("BEARER s3cret"), "application/json", "{not json"),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    // Other writes too: undo and the incident marks.
    for uri in [
        "/api/feedback/1/undo",
        "/api/incidents/x/acknowledge",
        "/api/incidents/x/mute",
    ] {
        let req = Request::builder()
            .method("POST")
            .uri(uri)
            .header("content-type", "application/json")
            .body(Body::from("{not json"))
            .expect("a valid request");
        let (status, reply) = raw(&router, req);
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}: {reply}");
    }
}

#[test]
fn metrics_and_readyz_answer_from_the_last_known_state_when_the_store_is_busy() {
    let f = fixture(None);
    let app_state = AppState::new(f.config.clone(), Arc::new(State::default()));
    let r = router(app_state.clone());
    // A first scrape counts the feedback marks (none yet).
    let (status, _, text) = call(&r, "GET", "/metrics", None, None);
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("lad_feedback_active 0"), "{text}");
    // The store connection is held (as by a call stuck on a hung server): the scrape and the
    // probe answer within their bound, from what was last known.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a test runtime");
    let held = runtime.block_on(Arc::clone(&app_state.stores).lock_owned());
    let started = std::time::Instant::now();
    let (status, _, text) = call(&r, "GET", "/metrics", None, None);
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.contains("lad_feedback_active 0"),
        "the last count: {text}"
    );
    assert!(text.contains("lad_store_up 0"), "{text}");
    let (status, body, _) = call(&r, "GET", "/readyz", None, None);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["reasons"].as_array().is_some_and(|r| r
            .iter()
            .any(|x| x.as_str().is_some_and(|x| x.contains("did not answer")))),
        "{body}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // Once the last call failed, API requests answer at once while the connection is held.
    if let Ok(mut k) = app_state.known.lock() {
        k.last_error = Some("store error: connection refused".into());
    }
    let started = std::time::Instant::now();
    let (status, body, _) = call(&r, "GET", "/api/anomalies", None, None);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("connection refused")),
        "{body}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    drop(held);
    let (status, body, _) = call(&r, "GET", "/api/anomalies", None, None);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        app_state.last_store_error().is_none(),
        "a success clears it"
    );
}
