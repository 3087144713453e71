//! The HTTP side of `lad run` (SPEC section 7): `/metrics`, `/healthz`, `/readyz`, the JSON API
//! under `/api/` and the web page at `/`. Main items: [`router`] (a plain function, so tests
//! drive it with `oneshot` and no socket), [`spawn`] (serves it on its own thread and tokio
//! runtime until the daemon's stop flag is set) and [`AppState`].
//!
//! The daemon loop owns its own store connection; this module opens its own (sqlite allows
//! several; the file is in WAL mode) and uses it from blocking tasks behind a mutex, reopening
//! it after an error; a request waits for it a bounded time, and `/metrics` and `/readyz` answer
//! from the last known state when it does not answer at once. Write endpoints check
//! `HTTP_TOKEN` when it is set, and [`spawn`] refuses a non-loopback address without one; there,
//! API reads need a token too unless `HTTP_PUBLIC_READS` is set. Tokens are checked before a
//! request's body is read. `HTTP_TOKENS` gives a token per person; writes made
//! with one record that person's name. This module never scores, trains or aggregates: feedback
//! it stores takes effect in the daemon's next scoring pass ([`crate::feedback`]).

mod api;
pub mod metrics;
mod process;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tracing::{error, info};

use crate::config::Config;
use crate::state::State;
use crate::wiring::{self, Stores};

/// The web page: one file, inline CSS and JS, no external assets.
const PAGE: &str = include_str!("http/page.html");

/// How long an API request waits for the store (its connection, or another request using
/// it) before it is answered `503`.
const API_STORE_WAIT: Duration = Duration::from_secs(5);

/// How long `/metrics` and `/readyz` wait for a fresh figure from the store before they answer
/// from the last known state: a Prometheus scrape (10 s by default) or a probe never waits for a
/// store that hangs or retries.
const PROBE_STORE_WAIT: Duration = Duration::from_secs(1);

/// What the HTTP side last learnt from its own store connection, so that health and metrics
/// answer at once when the store is slow or away.
#[derive(Debug, Default)]
struct StoreStatus {
    /// The error of the last store call, `None` when it succeeded (or none was made yet).
    last_error: Option<String>,
    /// Active feedback marks, as last counted.
    feedback_active: Option<u64>,
}

/// Which kind of request a token is checked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// A read of the API (on a non-loopback address without `HTTP_PUBLIC_READS`).
    Read,
    /// A write (`POST`).
    Write,
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    config: Arc<Config>,
    state: Arc<State>,
    /// The HTTP side's own store connection, opened on first use. An async mutex, so that a
    /// request waiting for it can give up (see [`API_STORE_WAIT`]) without holding a thread.
    stores: Arc<tokio::sync::Mutex<Option<Stores>>>,
    known: Arc<Mutex<StoreStatus>>,
}

impl AppState {
    /// Handlers over `config`'s store and the daemon's `state`; the store is opened on first use.
    pub fn new(config: Config, state: Arc<State>) -> Self {
        AppState {
            config: Arc::new(config),
            state,
            stores: Arc::new(tokio::sync::Mutex::new(None)),
            known: Arc::new(Mutex::new(StoreStatus::default())),
        }
    }

    /// The error of the HTTP side's last store call, if it failed.
    fn last_store_error(&self) -> Option<String> {
        self.known.lock().ok().and_then(|k| k.last_error.clone())
    }

    /// Runs `f` on the store in a blocking task, waiting at most [`API_STORE_WAIT`].
    async fn with_stores<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Config, &mut Stores) -> Result<T, ApiError> + Send + 'static,
    {
        self.with_stores_within(API_STORE_WAIT, f).await
    }

    /// Runs `f` on the store in a blocking task; an error closes the connection so the next
    /// request reopens it. Gives up after `wait` with a `503` (the call already started goes on
    /// in the background and records its outcome); while the last call failed and another one
    /// holds the connection, answers `503` at once, so requests never queue behind a store that
    /// is away.
    async fn with_stores_within<T, F>(&self, wait: Duration, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Config, &mut Stores) -> Result<T, ApiError> + Send + 'static,
    {
        let stores = Arc::clone(&self.stores);
        let config = Arc::clone(&self.config);
        let known = Arc::clone(&self.known);
        let failing = self.last_store_error();
        let guard = match (&failing, Arc::clone(&stores).try_lock_owned()) {
            (_, Ok(guard)) => Some(guard),
            (Some(e), Err(_)) => {
                return Err(ApiError::unavailable(format!(
                    "the store is not answering (another request is still trying it); last \
                     error: {e}"
                )))
            }
            (None, Err(_)) => None,
        };
        let task = async move {
            let mut guard = match guard {
                Some(g) => g,
                None => stores.lock_owned().await,
            };
            tokio::task::spawn_blocking(move || {
                let note = |e: Option<&str>| {
                    if let Ok(mut k) = known.lock() {
                        k.last_error = e.map(str::to_owned);
                    }
                };
                if guard.is_none() {
                    match wiring::open_for_state(&config) {
                        Ok(s) => *guard = Some(s),
                        Err(e) => {
                            let e = ApiError::unavailable(format!(
                                "the store cannot be opened: {}",
                                crate::error::chain(&e)
                            ));
                            note(Some(&e.message));
                            return Err(e);
                        }
                    }
                }
                let s = guard.as_mut().expect("opened just above");
                let out = f(&config, s);
                match &out {
                    Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => {
                        *guard = None;
                        note(Some(&e.message));
                    }
                    _ => note(None),
                }
                out
            })
            .await
            .map_err(|e| ApiError::internal(format!("a store task failed: {e}")))?
        };
        match tokio::time::timeout(wait, task).await {
            Ok(out) => out,
            Err(_) => Err(ApiError::unavailable(format!(
                "the store did not answer within {} ms{}",
                wait.as_millis(),
                self.last_store_error()
                    .map(|e| format!("; last error: {e}"))
                    .unwrap_or_default()
            ))),
        }
    }

    /// Whether reads of the API need a token: on a non-loopback `HTTP_ADDR` unless
    /// `HTTP_PUBLIC_READS` is set. Loopback reads are open, as they always were.
    fn reads_need_token(&self) -> bool {
        !self.config.http_addr.ip().is_loopback() && !self.config.http_public_reads
    }

    /// Fails unless the request carries a configured token (when there is one): `HTTP_TOKEN`,
    /// or one of `HTTP_TOKENS`, whose name it answers (the name writes are recorded under).
    /// Every token is compared, in constant time, so timing says neither which matched nor how
    /// much of one. Without any token (a loopback address), a write must come from this
    /// machine's own pages: a `Host` or `Origin` naming another host is refused, so a web page
    /// that rebinds its own name to 127.0.0.1 (DNS rebinding) cannot post feedback.
    fn authorize(&self, headers: &HeaderMap, access: Access) -> Result<Option<String>, ApiError> {
        let config = &self.config;
        if config.http_token.is_none() && config.http_tokens.is_empty() {
            return local_request(headers).map(|()| None);
        }
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            // The scheme is case-insensitive (RFC 9110 section 11.1).
            .and_then(|v| {
                v.trim()
                    .split_once(' ')
                    .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                    .map(|(_, token)| token.trim())
            })
            .or_else(|| headers.get("x-lad-token").and_then(|v| v.to_str().ok()));
        let Some(given) = given else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                match access {
                    Access::Write => {
                        "write endpoints need a token (HTTP_TOKEN or one of HTTP_TOKENS): send \
                         `Authorization: Bearer <token>`"
                    }
                    Access::Read => {
                        "this server is reachable from other machines, so reading its API \
                         needs a token too (HTTP_TOKEN or one of HTTP_TOKENS; HTTP_PUBLIC_READS: \
                         true opens reads): send `Authorization: Bearer <token>`"
                    }
                },
            ));
        };
        let mut shared = false;
        if let Some(token) = &config.http_token {
            shared |= constant_time_eq(given.as_bytes(), token.expose().as_bytes());
        }
        let mut named = None;
        for (name, token) in &config.http_tokens {
            if constant_time_eq(given.as_bytes(), token.expose().as_bytes()) {
                named = Some(name.clone());
            }
        }
        match (named, shared) {
            (Some(name), _) => Ok(Some(name)),
            (None, true) => Ok(None),
            (None, false) => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "the token matches neither HTTP_TOKEN nor any of HTTP_TOKENS",
            )),
        }
    }
}

/// Checks the token of every request that needs one before anything else reads the request
/// (so a body is never parsed for a caller without a token): writes under `/api/` always, reads
/// under `/api/` when [`AppState::reads_need_token`]. The page itself, `/metrics`, `/healthz`
/// and `/readyz` are open (the page holds no data; it asks the API, with the token it is given).
async fn check_token(
    axum::extract::State(app): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let read = request.method() == Method::GET || request.method() == Method::HEAD;
    let access = match (api, read) {
        (true, false) => Some(Access::Write),
        (true, true) if app.reads_need_token() => Some(Access::Read),
        _ => None,
    };
    if let Some(access) = access {
        if let Err(e) = app.authorize(request.headers(), access) {
            return e.into_response();
        }
    }
    next.run(request).await
}

/// Refuses a request whose `Host` or `Origin` names anything but this machine (`localhost`, a
/// loopback address). A request without them (not a browser's) passes.
fn local_request(headers: &HeaderMap) -> Result<(), ApiError> {
    let text = |name| headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"));
    if let Some(host) = text(header::HOST) {
        if !is_loopback_authority(host) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "writes without HTTP_TOKEN are taken from this machine only: Host {host:?} \
                     is not a loopback name (set HTTP_TOKEN to write from elsewhere)"
                ),
            ));
        }
    }
    if let Some(origin) = text(header::ORIGIN) {
        let authority = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        if !authority.is_some_and(is_loopback_authority) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("writes without HTTP_TOKEN are taken from this machine's pages only: Origin {origin:?}"),
            ));
        }
    }
    Ok(())
}

/// Whether `host[:port]` names this machine: `localhost` or a loopback address.
fn is_loopback_authority(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(rest) => rest.split_once(']').map_or("", |(h, _)| h),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Compares without stopping at the first difference, so timing says nothing about the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An API error: a status and a message, sent as `{"error": message}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }
    fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
    /// A store error: the store is unreachable or refused the operation.
    fn store(e: impl std::fmt::Display) -> Self {
        Self::unavailable(format!("store error: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

/// The whole HTTP surface over `app`.
pub fn router(app: AppState) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_handler))
        .route("/api/hosts", get(api::hosts))
        .route("/api/anomalies", get(api::anomalies))
        .route("/api/timeline", get(api::timeline))
        .route("/api/aggregates", get(api::aggregates))
        .route("/api/aggregates/{id}", get(api::aggregate))
        .route("/api/patterns", get(api::patterns))
        .route(
            "/api/feedback",
            get(api::list_feedback).post(api::add_feedback),
        )
        .route("/api/feedback/{id}/undo", post(api::undo_feedback))
        .route("/api/incidents", get(api::incidents))
        .route("/api/incidents/{id}", get(api::incident))
        .route(
            "/api/incidents/{id}/acknowledge",
            post(api::acknowledge_incident),
        )
        .route("/api/incidents/{id}/mute", post(api::mute_incident))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            check_token,
        ))
        .layer(axum::middleware::map_response(json_errors))
        .with_state(app)
}

/// Errors the framework answers by itself (a malformed query or body: 400, 415, 422; an unknown
/// path: 404; a wrong method: 405) come as plain text; every error of the API is
/// `{"error": "..."}`, so they are rewritten into that shape.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, 64 * 1024).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_string(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() {
        parts
            .status
            .canonical_reason()
            .unwrap_or("error")
            .to_string()
    } else {
        text
    };
    (parts.status, Json(json!({ "error": message }))).into_response()
}

async fn page() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-cache")], Html(PAGE))
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready when the daemon's last pass reached the store, at least one model is in use, and this
/// server's own connection answers. The connection is asked for at most [`PROBE_STORE_WAIT`];
/// past that the answer is the last known state, so a hung store never makes the probe hang.
async fn readyz(axum::extract::State(app): axum::extract::State<AppState>) -> Response {
    let models = app.state.hosts().values().filter(|h| h.has_model).count();
    let daemon_store = app.state.store_ok();
    let own_store = app
        .with_stores_within(PROBE_STORE_WAIT, |_, s| {
            s.source.list_sources().map_err(ApiError::store)
        })
        .await
        .map_err(|e| e.message);
    let mut reasons = Vec::new();
    if models == 0 {
        reasons.push("no model is loaded yet".to_string());
    }
    if !daemon_store {
        reasons.push("the daemon has not reached the store yet (or lost it)".to_string());
    }
    if let Err(e) = &own_store {
        reasons.push(e.clone());
    }
    let ready = reasons.is_empty();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({ "ready": ready, "models_loaded": models, "reasons": reasons })),
    )
        .into_response()
}

/// `/metrics` never waits on the store: `lad_store_up` is the daemon's last pass, and the one
/// figure read from the store (`lad_feedback_active`) is asked for at most
/// [`PROBE_STORE_WAIT`], else the last count is exported.
async fn metrics_handler(axum::extract::State(app): axum::extract::State<AppState>) -> Response {
    let fresh = app
        .with_stores_within(PROBE_STORE_WAIT, |_, s| {
            s.source
                .list_feedback(None, false)
                .map(|f| f.len() as u64)
                .map_err(ApiError::store)
        })
        .await
        .ok();
    let active = match app.known.lock() {
        Ok(mut k) => {
            if fresh.is_some() {
                k.feedback_active = fresh;
            }
            k.feedback_active
        }
        Err(_) => fresh,
    };
    let text = metrics::render(&app.state, &app.config, active);
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response()
}

/// Fails when `addr` is reachable from other machines and no token protects the writes.
pub fn check_exposure(addr: SocketAddr, config: &Config) -> Result<()> {
    if !addr.ip().is_loopback() && config.http_token.is_none() && config.http_tokens.is_empty() {
        bail!(
            "refusing to listen on {addr}: it is reachable from other machines and neither \
             HTTP_TOKEN nor HTTP_TOKENS is set (set one, or use a loopback HTTP_ADDR such as \
             127.0.0.1:9184)"
        );
    }
    Ok(())
}

/// Binds HTTP_ADDR now (so a busy port fails the start) and serves [`router`] on a thread of its
/// own until `stop` is set.
pub fn spawn(config: &Config, state: Arc<State>, stop: Arc<AtomicBool>) -> Result<JoinHandle<()>> {
    let addr = config.http_addr;
    check_exposure(addr, config)?;
    let listener = std::net::TcpListener::bind(addr)
        .with_context(|| format!("cannot listen on HTTP_ADDR {addr}"))?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let app = AppState::new(config.clone(), state);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(4)
        .enable_io()
        .enable_time()
        .thread_name("lad-http")
        .build()
        .context("cannot start the HTTP runtime")?;
    info!(addr = %local, "HTTP server listening");
    let handle = std::thread::Builder::new()
        .name("lad-http".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        error!(error = %e, "HTTP listener unusable");
                        return;
                    }
                };
                let shutdown = async move {
                    while !stop.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                };
                if let Err(e) = axum::serve(listener, router(app))
                    .with_graceful_shutdown(shutdown)
                    .await
                {
                    error!(error = %e, "HTTP server failed");
                }
            });
        })
        .context("cannot start the HTTP thread")?;
    Ok(handle)
}

#[cfg(test)]
mod tests;
