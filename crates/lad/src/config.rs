//! lad's configuration: one YAML file of UPPER_SNAKE_CASE keys (the old system's
//! `multihost.yaml` and `aggregator.yaml` are valid as they are), each key also settable as
//! `LAD_<KEY>` in the environment, where the file wins. Loading has two steps, as in ripgrep:
//! `raw` reads what the user wrote and warns about unknown or ignored keys; `build` types every
//! value, fills in defaults and checks keys that depend on each other, giving a [`Config`] that
//! cannot be half-configured. Errors ([`ConfigError`]) and warnings ([`ConfigWarning`]) name the
//! key and where it was set (file and line, or variable).
//!
//! Two conventions on top of the old format (a file without them reads as before):
//!
//! - `${VAR}` in a value of the file is replaced by the environment variable `VAR`, and
//!   `${VAR:-default}` by `default` when `VAR` is unset or empty. An unset variable without a
//!   default is an error naming the key, file and line (never a silent empty string). `$${` is a
//!   literal `${`; any other `$` stays as written. Only values are filled in, after the YAML is
//!   parsed, so a variable cannot add keys; a whole value like `${PORT}` of a number key is read
//!   as a `LAD_<KEY>` value would be. Values of `LAD_<KEY>` variables are not filled in.
//! - A secret key (every key shown as `***`: `MG_PASSWORD`, the MySQL and Elasticsearch
//!   passwords, `ES_API_KEY`, `HTTP_TOKEN`, `ALERT_WEBHOOK_URL`) can be read from a file named
//!   by `<KEY>_FILE` (in the file) or `LAD_<KEY>_FILE` (in the environment), without one
//!   trailing line break; for systemd
//!   credentials, `MYSQL_INPUT_PASSWORD_FILE: ${CREDENTIALS_DIRECTORY}/mysql`. The config file
//!   still wins over the environment, whichever form each uses; setting both `<KEY>` and
//!   `<KEY>_FILE` in the same place is an error.
//!
//! This module knows nothing of storage, models or HTTP handlers: it only says what to connect
//! to and with which settings. It never reads the process environment except in
//! [`load_with_process_env`]; [`load`] takes the environment as a parameter so tests are pure.
//!
//! Without a config file the embedded default applies: the SQLite store at `./lad.db`, and an
//! empty `LOG_SOURCES`, which means "every source and every host found in the store".
//! Relative paths are relative to the working directory, as in the old system.

mod build;
pub mod cron;
mod diagnostics;
mod keys;
mod raw;
mod values;
mod yaml;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use cron::{CronError, CronSchedule};
pub use diagnostics::{ConfigError, ConfigSource, ConfigWarning, Origin};
pub use values::{
    AggrMethod, AggregationTarget, DetectorKind, EsSettings, KafkaProtocol, KafkaSettings,
    KafkaVerdicts, LofMetric, LogSource, MongoSettings, MysqlEndpoint, Secret, SinkKind,
    SourceKind, Timezone, TokenizerKind,
};

/// A checked configuration: every value typed and defaulted, every backend complete.
///
/// Field names are the keys in snake_case. Secrets are [`Secret`]s, so `{:?}` never shows them.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from; `None` for the embedded default.
    pub file: Option<PathBuf>,
    /// `STORAGE_DATASOURCE` (default `sqlite`).
    pub storage_datasource: SourceKind,
    /// `STORAGE_DATASINK` (default: the source's own backend; `stdout` for `local`).
    pub storage_datasink: SinkKind,
    /// `SQLITE_PATH` (default `./lad.db`).
    pub sqlite_path: PathBuf,
    /// `MODEL_BASE_DIR` (default `./models/`): one sub-folder per (source, host).
    pub model_base_dir: PathBuf,
    /// `LOG_SOURCES`: source name → hosts. Empty means every source and host in the store
    /// (sqlite and local only; mg and mysql detection require it). An entry with no
    /// `HOSTNAMES` means every host of that source. For mysql, a lone `MYSQL_INPUT_TABLE`
    /// becomes one entry with every host.
    pub log_sources: BTreeMap<String, LogSource>,
    /// `MESSAGE_INDEX` (default `message`).
    pub message_index: String,
    /// `DATETIME_INDEX` (default `received_at`).
    pub datetime_index: String,
    /// `HOSTNAME_INDEX` (default `hostname`).
    pub hostname_index: String,
    /// `TRAIN_TIME_SPAN` in seconds (default 30 days).
    pub train_time_span: Duration,
    /// `TRAIN_MAX_ENTRIES` (default 250,000).
    pub train_max_entries: usize,
    /// `TRAIN_VECTOR_LENGTH` (default 25).
    pub train_vector_length: usize,
    /// `TRAIN_WINDOW` (default 5).
    pub train_window: usize,
    /// `W2V_MIN_COUNT` (default 1).
    pub w2v_min_count: usize,
    /// `W2V_ITER` (default 5).
    pub w2v_iter: usize,
    /// `W2V_SEED` (default 1).
    pub w2v_seed: u64,
    /// `LOF_NEIGHBORS` (default 100).
    pub lof_neighbors: usize,
    /// `LOF_METRIC` (default `euclidean`).
    pub lof_metric: LofMetric,
    /// `PARALLELISM` (default: the number of cores).
    pub parallelism: NonZeroUsize,
    /// `INFER_TIME_SPAN` in seconds: time between scoring passes (default 60).
    pub infer_time_span: Duration,
    /// `INFER_MAX_ENTRIES` (default 78,862).
    pub infer_max_entries: usize,
    /// `MG_*`: MongoDB settings.
    pub mg: MongoSettings,
    /// `ES_*`: Elasticsearch/OpenSearch settings.
    pub es: EsSettings,
    /// `MYSQL_INPUT_*`.
    pub mysql_input: MysqlEndpoint,
    /// `MYSQL_TARGET_*`.
    pub mysql_target: MysqlEndpoint,
    /// `KF_*`: Kafka settings.
    pub kafka: KafkaSettings,
    /// `LS_INPUT_PATH`: required when the source is `local`.
    pub ls_input_path: Option<PathBuf>,
    /// `LS_OUTPUT_PATH`: required when the sink is `local`.
    pub ls_output_path: Option<PathBuf>,
    /// `AGGR_TIME_SPAN` in seconds (default 1 day).
    pub aggr_time_span: Duration,
    /// `AGGR_MAX_ENTRIES` (default 315,448).
    pub aggr_max_entries: usize,
    /// `AGGR_EPS` (default 0.5).
    pub aggr_eps: f64,
    /// `AGGR_MIN_SAMPLES` (default 5).
    pub aggr_min_samples: usize,
    /// `AGGR_VECTOR_LENGTH` (default 25).
    pub aggr_vector_length: usize,
    /// `AGGR_WINDOW` (default 5).
    pub aggr_window: usize,
    /// `AGGR_METHOD` (default `templates`).
    pub aggr_method: AggrMethod,
    /// `INCIDENTS` (default true): group anomalies into incidents as they are scored.
    pub incidents: bool,
    /// `INCIDENT_QUIET_GAP` in seconds (default 600): an incident with no line for this long
    /// is resolved.
    pub incident_quiet_gap: Duration,
    /// Aggregation pairs from `MG_INPUT_COLS`/`MG_TARGET_COLS` or the MySQL table lists.
    /// Empty for sqlite and local, which aggregate every source within the store.
    pub aggregation_targets: Vec<AggregationTarget>,
    /// `RETRAIN_SCHEDULE` (default `0 0 * * *`).
    pub retrain_schedule: CronSchedule,
    /// `AGGR_SCHEDULE` (default `0 15 * * *`).
    pub aggr_schedule: CronSchedule,
    /// `TIMEZONE` for the schedules (default UTC).
    pub timezone: Timezone,
    /// `HTTP_ADDR` (default `127.0.0.1:9184`).
    pub http_addr: SocketAddr,
    /// `HTTP_TOKEN`: required when `HTTP_ADDR` is not a loopback address.
    pub http_token: Option<Secret>,
    /// `HTTP_TOKENS`: a token per person (name -> token); a write made with one is recorded
    /// under that name. Either this or `HTTP_TOKEN` protects a non-loopback address.
    pub http_tokens: std::collections::BTreeMap<String, Secret>,
    /// `HTTP_PUBLIC_READS` (default false): on a non-loopback `HTTP_ADDR`, whether the API's
    /// reads (which show raw log lines) are open without a token. Loopback reads are always open.
    pub http_public_reads: bool,
    /// `ALERTMANAGER_URL`: the Alertmanager that incident alerts are posted to (its base
    /// address; `/api/v2/alerts` is appended). Not set: no Alertmanager alerts.
    pub alertmanager_url: Option<String>,
    /// `ALERT_WEBHOOK_URL`: a JSON webhook (Slack-compatible `text`) that incident alerts are
    /// posted to. A secret: chat webhooks carry their token in the address.
    pub alert_webhook_url: Option<Secret>,
    /// `ALERT_PAGE_URL`: lad's page as the people who get alerts reach it (default
    /// `http://HTTP_ADDR/`); alerts link to it.
    pub alert_page_url: Option<String>,
    /// `TOKENIZER` (default `masked`).
    pub tokenizer: TokenizerKind,
    /// `DETECTOR` (default `ensemble`).
    pub detector: DetectorKind,
    detection_enabled: bool,
    aggregation_enabled: bool,
    described: Vec<DescribedKey>,
}

/// One line of [`Config::describe`]: a key, its effective value (secrets as `***`), its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedKey {
    /// The key.
    pub key: &'static str,
    /// The value as shown to a person.
    pub value: String,
    /// Where it came from.
    pub origin: Origin,
}

impl Config {
    /// The embedded default (SQLite at `./lad.db`, every source and host), with no environment.
    pub fn embedded_default() -> Result<Config, ConfigError> {
        load(None, &HashMap::new()).map(|(config, _)| config)
    }

    /// Whether detection (train, detect, run's scoring) has everything it needs.
    pub fn detection_enabled(&self) -> bool {
        self.detection_enabled
    }

    /// Whether aggregation is configured: always for sqlite and local, when input and target
    /// collections or tables are given for mg and mysql.
    pub fn aggregation_enabled(&self) -> bool {
        self.aggregation_enabled
    }

    /// Fails, naming the missing key, when detection is not configured (e.g. `lad train` with
    /// an aggregation-only `aggregator.yaml`).
    pub fn require_detection(&self) -> Result<(), ConfigError> {
        if self.detection_enabled {
            return Ok(());
        }
        let (key, why) = match self.storage_datasource {
            SourceKind::Mongo => (
                "MG_DB",
                "detection reads the collections named in LOG_SOURCES from the database MG_DB; \
                 this config only sets up aggregation",
            ),
            _ => (
                "LOG_SOURCES",
                "detection needs the tables and hosts to model; this config only sets up aggregation",
            ),
        };
        Err(ConfigError::MissingKey {
            key: key.to_string(),
            config: ConfigSource(self.file.clone()),
            why: why.to_string(),
        })
    }

    /// Fails, naming the missing key, when aggregation is not configured.
    pub fn require_aggregation(&self) -> Result<(), ConfigError> {
        if self.aggregation_enabled {
            return Ok(());
        }
        let (key, why) = match self.storage_datasource {
            SourceKind::Mongo => (
                "MG_INPUT_COLS",
                "aggregation groups the anomalies of MG_INPUT_COLS (in MG_INPUT_DB) into MG_TARGET_COLS",
            ),
            _ => (
                "MYSQL_INPUT_TABLES",
                "aggregation groups the anomalies of MYSQL_INPUT_TABLES into MYSQL_TARGET_TABLES",
            ),
        };
        Err(ConfigError::MissingKey {
            key: key.to_string(),
            config: ConfigSource(self.file.clone()),
            why: why.to_string(),
        })
    }

    /// Every key with its effective value and origin, in a stable order. Secrets are `***`.
    pub fn described_keys(&self) -> &[DescribedKey] {
        &self.described
    }

    /// The text `lad check-config` prints: one line per key, secrets redacted.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        match &self.file {
            Some(path) => {
                let _ = writeln!(out, "# config file: {}", path.display());
            }
            None => out.push_str("# no config file: embedded default (SQLite store)\n"),
        }
        let key_width = self
            .described
            .iter()
            .map(|d| d.key.len())
            .max()
            .unwrap_or(0);
        // Long values (LOG_SOURCES) would push every origin far right; cap the column.
        let value_width = self
            .described
            .iter()
            .map(|d| d.value.len())
            .max()
            .unwrap_or(0)
            .min(24);
        for d in &self.described {
            let _ = writeln!(
                out,
                "{:key_width$}  {:value_width$}  # {}",
                d.key, d.value, d.origin
            );
        }
        out
    }
}

/// Loads the configuration from `path` (or the embedded default when `None`) and the
/// `LAD_<KEY>` entries of `env`; the file wins over the environment. Returns the checked
/// config and the warnings to show (unknown keys, keys with no effect, risky settings).
pub fn load(
    path: Option<&Path>,
    env: &HashMap<String, String>,
) -> Result<(Config, Vec<ConfigWarning>), ConfigError> {
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            load_str(Some(path), &text, env)
        }
        None => load_str(None, "", env),
    }
}

/// Like [`load`], with the file's text given; `path` names it in messages (`None`: no file,
/// and `text` is ignored).
pub fn load_str(
    path: Option<&Path>,
    text: &str,
    env: &HashMap<String, String>,
) -> Result<(Config, Vec<ConfigWarning>), ConfigError> {
    let mut warnings = Vec::new();
    let raw = raw::RawConfig::parse(
        path,
        if path.is_some() { text } else { "" },
        env,
        &mut warnings,
    )?;
    let config = build::build(&raw, &mut warnings)?;
    Ok((config, warnings))
}

/// Step one alone: reads the file and environment and reports unknown or ignored keys, without
/// typing or cross-checking anything. `Err` only for unreadable files and invalid YAML.
pub fn check_syntax(
    path: &Path,
    env: &HashMap<String, String>,
) -> Result<Vec<ConfigWarning>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut warnings = Vec::new();
    raw::RawConfig::parse(Some(path), &text, env, &mut warnings)?;
    Ok(warnings)
}

/// The names of every key lad reads, in documentation order.
pub fn known_keys() -> impl Iterator<Item = &'static str> {
    keys::KNOWN_KEYS.iter().map(|(name, _)| *name)
}

/// [`load`] with the process environment (variables that are not valid UTF-8 are skipped).
pub fn load_with_process_env(
    path: Option<&Path>,
) -> Result<(Config, Vec<ConfigWarning>), ConfigError> {
    // Every variable, not only LAD_*: `${VAR}` in the file may name any of them.
    let env: HashMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    load(path, &env)
}
