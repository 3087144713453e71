//! Step two of loading: turn a [`RawConfig`] into a checked [`Config`]. Every value is typed
//! here, defaults are filled in, and the keys that depend on each other are checked together
//! (a backend's required keys, parallel lists, the CA file, the HTTP token). The only I/O is
//! opening `MG_CA_CERT` to prove it is readable.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::cron::CronSchedule;
use super::diagnostics::{ConfigError, ConfigSource, ConfigWarning, Origin};
use super::keys;
use super::raw::{describe_value, RawConfig};
use super::values::{
    AggrMethod, AggregationTarget, DetectorKind, EsSettings, KafkaProtocol, KafkaSettings,
    KafkaVerdicts, LofMetric, LogSource, MongoSettings, MysqlEndpoint, Secret, SinkKind,
    SourceKind, Timezone, TokenizerKind,
};
use super::yaml::Value;
use super::{Config, DescribedKey};

/// Reads typed values out of a [`RawConfig`], recording each key's effective value for
/// `describe`.
struct Builder<'a> {
    raw: &'a RawConfig,
    rows: Vec<DescribedKey>,
    warnings: Vec<ConfigWarning>,
}

type Result<T> = std::result::Result<T, ConfigError>;

impl<'a> Builder<'a> {
    fn entry(&self, key: &'static str) -> Option<(&'a Value, Origin)> {
        self.raw.entries.get(key).map(|e| (&e.value, e.at.clone()))
    }

    fn origin(&self, key: &'static str) -> Origin {
        self.raw
            .entries
            .get(key)
            .map_or(Origin::Default, |e| e.at.clone())
    }

    fn record(&mut self, key: &'static str, shown: String) {
        let at = self.origin(key);
        let shown = if keys::SECRET_KEYS.contains(&key) && shown != "(not set)" {
            "***".to_string()
        } else {
            shown
        };
        self.rows.push(DescribedKey {
            key,
            value: shown,
            origin: at,
        });
    }

    fn missing(&self, key: &str, why: impl Into<String>) -> ConfigError {
        ConfigError::MissingKey {
            key: key.to_string(),
            config: ConfigSource(self.raw.file.clone()),
            why: why.into(),
        }
    }

    fn wrong_type(key: &str, at: Origin, expected: &str, value: &Value) -> ConfigError {
        ConfigError::WrongType {
            key: key.to_string(),
            at,
            expected: expected.to_string(),
            found: describe_value(value),
        }
    }

    /// An integer of at least `min`; numeric strings are accepted, as the old system did.
    fn uint(&mut self, key: &'static str, default: u64, min: u64) -> Result<u64> {
        let value = match self.entry(key) {
            None => default,
            Some((value, at)) => {
                let n = match value {
                    Value::Number(n) => n.as_u64(),
                    Value::String(s) => s.trim().parse::<u64>().ok(),
                    _ => None,
                };
                let n = match n {
                    Some(n) => n,
                    // A negative or fractional number has the right type but a wrong value.
                    None if value.is_number() => {
                        return Err(ConfigError::InvalidValue {
                            key: key.to_string(),
                            at,
                            expected: format!("a whole number of at least {min}"),
                            found: describe_value(value),
                        })
                    }
                    None => return Err(Self::wrong_type(key, at, "an integer", value)),
                };
                if n < min {
                    return Err(ConfigError::InvalidValue {
                        key: key.to_string(),
                        at,
                        expected: format!("an integer of at least {min}"),
                        found: n.to_string(),
                    });
                }
                n
            }
        };
        self.record(key, value.to_string());
        Ok(value)
    }

    fn usize(&mut self, key: &'static str, default: usize, min: usize) -> Result<usize> {
        let n = self.uint(key, default as u64, min as u64)?;
        usize::try_from(n).map_err(|_| ConfigError::InvalidValue {
            key: key.to_string(),
            at: self.origin(key),
            expected: format!("an integer of at most {}", usize::MAX),
            found: n.to_string(),
        })
    }

    fn port(&mut self, key: &'static str, default: u16) -> Result<u16> {
        let n = self.uint(key, u64::from(default), 1)?;
        u16::try_from(n).map_err(|_| ConfigError::InvalidValue {
            key: key.to_string(),
            at: self.origin(key),
            expected: "a port number from 1 to 65535".to_string(),
            found: n.to_string(),
        })
    }

    fn seconds(&mut self, key: &'static str, default: u64) -> Result<Duration> {
        self.uint(key, default, 1).map(Duration::from_secs)
    }

    /// A number greater than zero.
    fn positive_float(&mut self, key: &'static str, default: f64) -> Result<f64> {
        let value = match self.entry(key) {
            None => default,
            Some((value, at)) => {
                let x = match value {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) => s.trim().parse::<f64>().ok(),
                    _ => None,
                };
                let Some(x) = x else {
                    return Err(Self::wrong_type(key, at, "a number", value));
                };
                if !(x.is_finite() && x > 0.0) {
                    return Err(ConfigError::InvalidValue {
                        key: key.to_string(),
                        at,
                        expected: "a number greater than 0".to_string(),
                        found: describe_value(value),
                    });
                }
                x
            }
        };
        self.record(key, value.to_string());
        Ok(value)
    }

    fn boolean(&mut self, key: &'static str, default: bool) -> Result<bool> {
        let value = match self.entry(key) {
            None => default,
            Some((value, at)) => match value {
                Value::Bool(b) => *b,
                // Strings cover the environment and YAML 1.1 habits (`yes`, `on`).
                Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                    "true" | "yes" | "on" | "1" => true,
                    "false" | "no" | "off" | "0" => false,
                    _ => return Err(Self::wrong_type(key, at, "true or false", value)),
                },
                _ => return Err(Self::wrong_type(key, at, "true or false", value)),
            },
        };
        self.record(key, value.to_string());
        Ok(value)
    }

    /// A scalar read as text: numbers and booleans are accepted as written (`MG_PASSWORD: 1234`).
    fn scalar_text(key: &str, at: Origin, value: &Value) -> Result<String> {
        match value {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            _ => Err(Self::wrong_type(key, at, "a string", value)),
        }
    }

    fn text(&mut self, key: &'static str) -> Result<Option<String>> {
        let value = match self.entry(key) {
            None => None,
            Some((value, at)) => {
                Some(Self::scalar_text(key, at, value)?).filter(|s| !s.trim().is_empty())
            }
        };
        self.record(
            key,
            value.clone().unwrap_or_else(|| "(not set)".to_string()),
        );
        Ok(value)
    }

    fn text_or(&mut self, key: &'static str, default: &str) -> Result<String> {
        let value = match self.entry(key) {
            None => default.to_string(),
            Some((value, at)) => Self::scalar_text(key, at, value)?,
        };
        self.record(key, value.clone());
        Ok(value)
    }

    fn secret(&mut self, key: &'static str) -> Result<Option<Secret>> {
        Ok(self.text(key)?.map(Secret::new))
    }

    fn path_or(&mut self, key: &'static str, default: &str) -> Result<PathBuf> {
        self.text_or(key, default).map(PathBuf::from)
    }

    fn path(&mut self, key: &'static str) -> Result<Option<PathBuf>> {
        Ok(self.text(key)?.map(PathBuf::from))
    }

    /// Checks that `url` (the value of `key`, when set) is an http:// or https:// address;
    /// a `secret` value is not repeated in the error.
    fn check_url(&self, key: &'static str, url: Option<&str>, secret: bool) -> Result<()> {
        let Some(url) = url else {
            return Ok(());
        };
        http_url(url).map_err(|reason| ConfigError::InvalidValue {
            key: key.to_string(),
            at: self.origin(key),
            expected: format!("an http:// or https:// address such as http://host:9093 ({reason})"),
            found: if secret {
                "a value not shown (it is a secret)".to_string()
            } else {
                format!("\"{url}\"")
            },
        })
    }

    /// A list of names; a single scalar is a list of one.
    fn list(&mut self, key: &'static str) -> Result<Vec<String>> {
        let value = match self.entry(key) {
            None => Vec::new(),
            Some((value, at)) => string_list(key, at, value)?,
        };
        self.record(key, format!("[{}]", value.join(", ")));
        Ok(value)
    }

    /// A text value parsed by `parse`, whose `Err` says what was wrong.
    fn parsed<T>(
        &mut self,
        key: &'static str,
        default: &str,
        expected: &str,
        parse: impl Fn(&str) -> std::result::Result<T, String>,
    ) -> Result<T> {
        let (text, at) = match self.entry(key) {
            None => (default.to_string(), Origin::Default),
            Some((value, at)) => (Self::scalar_text(key, at.clone(), value)?, at),
        };
        let parsed = parse(&text).map_err(|reason| ConfigError::InvalidValue {
            key: key.to_string(),
            at,
            expected: if reason.is_empty() {
                expected.to_string()
            } else {
                format!("{expected} ({reason})")
            },
            found: format!("\"{text}\""),
        })?;
        self.record(key, text);
        Ok(parsed)
    }

    fn named<T: FromStr>(&mut self, key: &'static str, default: &str, names: &[&str]) -> Result<T> {
        let expected = one_of(names);
        self.parsed(key, default, &expected, |s| {
            T::from_str(s).map_err(|_| String::new())
        })
    }

    /// A mapping of names to scalar values (`KF_LIBRDKAFKA_OPTIONS: {linger.ms: 10}`).
    fn string_map(
        &mut self,
        key: &'static str,
        expected: &str,
    ) -> Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        if let Some((value, at)) = self.entry(key) {
            match value {
                Value::Null => {}
                Value::Mapping(map) => {
                    for (k, v) in map {
                        let k = Self::scalar_text(key, at.clone(), k)?;
                        let v = Self::scalar_text(&format!("{key}.{k}"), at.clone(), v)?;
                        out.insert(k, v);
                    }
                }
                other => return Err(Self::wrong_type(key, at, expected, other)),
            }
        }
        let shown: Vec<String> = out.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        self.record(key, format!("{{{}}}", shown.join(", ")));
        Ok(out)
    }

    fn log_sources(&mut self) -> Result<BTreeMap<String, LogSource>> {
        const KEY: &str = "LOG_SOURCES";
        let mut sources = BTreeMap::new();
        let Some((value, at)) = self.entry(KEY) else {
            self.record(KEY, "(every source and host in the store)".to_string());
            return Ok(sources);
        };
        let Value::Mapping(map) = value else {
            return Err(Self::wrong_type(
                KEY,
                at,
                "a mapping of source name to {HOSTNAMES: [...]}",
                value,
            ));
        };
        let parent_line = match &at {
            Origin::File { line, .. } => *line,
            _ => None,
        };
        let mut shown = Vec::new();
        for (name, body) in map {
            let name = Self::scalar_text(KEY, at.clone(), name)?;
            let name_line = self.raw.nested_line(parent_line, &name);
            let at_name = with_line(&at, name_line.or(parent_line));
            let key = format!("{KEY}.{name}");
            let source = match body {
                // `web_logs:` with nothing under it: every host of that source.
                Value::Null => LogSource::default(),
                Value::Mapping(fields) => {
                    let mut source = LogSource::default();
                    for (field, field_value) in fields {
                        let field = Self::scalar_text(&key, at_name.clone(), field)?;
                        let line = self.raw.nested_line(name_line, &field);
                        let at_field = with_line(&at_name, line.or(name_line));
                        match field.as_str() {
                            "HOSTNAMES" => {
                                source.hostnames =
                                    string_list(&format!("{key}.HOSTNAMES"), at_field, field_value)?
                            }
                            "MYSQL_TARGET_TABLE" => {
                                source.mysql_target_table = Some(Self::scalar_text(
                                    &format!("{key}.MYSQL_TARGET_TABLE"),
                                    at_field,
                                    field_value,
                                )?)
                            }
                            _ => self.warnings.push(ConfigWarning::UnknownKey {
                                suggestion: keys::suggest(&field, keys::SOURCE_KEYS),
                                key: format!("{key}.{field}"),
                                at: at_field,
                            }),
                        }
                    }
                    source
                }
                other => {
                    return Err(Self::wrong_type(
                        &key,
                        at_name,
                        "a mapping with HOSTNAMES: [...]",
                        other,
                    ))
                }
            };
            shown.push(format!("{name}: [{}]", source.hostnames.join(", ")));
            sources.insert(name, source);
        }
        if shown.is_empty() {
            self.record(KEY, "(every source and host in the store)".to_string());
        } else {
            self.record(KEY, format!("{{{}}}", shown.join("; ")));
        }
        Ok(sources)
    }
}

fn with_line(at: &Origin, line: Option<usize>) -> Origin {
    match at {
        Origin::File { path, .. } => Origin::File {
            path: path.clone(),
            line,
        },
        other => other.clone(),
    }
}

fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    format!("one of {}", quoted.join(", "))
}

fn string_list(key: &str, at: Origin, value: &Value) -> Result<Vec<String>> {
    match value {
        Value::Sequence(items) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(Builder::wrong_type(
                    key,
                    at.clone(),
                    "a list of names",
                    other,
                )),
            })
            .collect(),
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Null => Ok(Vec::new()),
        other => Err(Builder::wrong_type(key, at, "a list of names", other)),
    }
}

fn http_addr(text: &str) -> std::result::Result<SocketAddr, String> {
    text.trim().parse::<SocketAddr>().map_err(|_| {
        "an IP address and port such as 127.0.0.1:9184; host names are not resolved".to_string()
    })
}

/// Checks the shape of an HTTP address: scheme, a host, no spaces. The HTTP client parses it
/// fully when the alerter starts ([`crate::wiring::check`]).
fn http_url(text: &str) -> std::result::Result<(), String> {
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
        .ok_or("it must start with http:// or https://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err("it names no host".to_string());
    }
    if text.chars().any(char::is_whitespace) {
        return Err("it holds a space".to_string());
    }
    Ok(())
}

fn cron(text: &str) -> std::result::Result<CronSchedule, String> {
    CronSchedule::parse(text).map_err(|e| e.to_string())
}

/// Checks that `path` is a readable file.
fn readable_file(path: &std::path::Path) -> std::result::Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("it is not a regular file".to_string());
    }
    std::fs::File::open(path)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// The `ES_*` keys. `ES_ENDPOINT` is shown with any `user:password@` replaced by `***@`.
fn es_settings(b: &mut Builder) -> Result<EsSettings> {
    let endpoint = b.text("ES_ENDPOINT")?;
    if let Some(row) = b.rows.iter_mut().rev().find(|r| r.key == "ES_ENDPOINT") {
        row.value = redact_credentials(&row.value);
    }
    let version = match b.text("ES_VERSION")? {
        None => None,
        Some(text) => {
            let digits: String = text
                .trim()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            match digits.parse::<u32>() {
                Ok(v) => Some(v),
                Err(_) => {
                    let at = b.origin("ES_VERSION");
                    return Err(Builder::wrong_type(
                        "ES_VERSION",
                        at,
                        "a major version such as 7 or \"8.15\"",
                        &Value::String(text),
                    ));
                }
            }
        }
    };
    Ok(EsSettings {
        endpoint: endpoint.map(Secret::new),
        use_ssl: b.boolean("ES_USE_SSL", false)?,
        user: b.text("ES_USER")?,
        password: b.secret("ES_PASSWORD")?,
        api_key: b.secret("ES_API_KEY")?,
        ca_cert: b.path("ES_CA_CERT")?,
        cert_dir: b.path("ES_CERT_DIR")?,
        verify_certs: b.boolean("ES_VERIFY_CERTS", true)?,
        input_index: b.text("ES_INPUT_INDEX")?,
        target_index: b.text("ES_TARGET_INDEX")?,
        query: b.text("ES_QUERY")?,
        version,
        timeout: b.seconds("ES_TIMEOUT", 60)?,
        connect_timeout: b.seconds("ES_CONNECT_TIMEOUT", 5)?,
        state_index: b.text_or("ES_STATE_INDEX", "lad-state")?,
        incident_index: b.text_or("ES_INCIDENT_INDEX", "lad-incidents")?,
        aggregate_index: b.text_or("ES_AGGREGATE_INDEX", "lad-aggregates")?,
    })
}

/// `scheme://user:password@host` → `scheme://***@host` (also without a scheme).
fn redact_credentials(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..].find('/').map_or(url.len(), |i| start + i);
    match url[start..end].rfind('@') {
        Some(at) => format!("{}***{}", &url[..start], &url[start + at..]),
        None => url.to_string(),
    }
}

/// The files the `es` TLS keys name must be readable; not verifying is said out loud.
fn check_es_files(b: &mut Builder, es: &EsSettings) -> Result<()> {
    if let Some(path) = &es.ca_cert {
        readable_file(path).map_err(|reason| ConfigError::UnreadableFile {
            key: "ES_CA_CERT",
            at: b.origin("ES_CA_CERT"),
            path: path.clone(),
            reason,
        })?;
    }
    if let Some(dir) = &es.cert_dir {
        for name in ["es.crt", "es.key"] {
            let path = dir.join(name);
            readable_file(&path).map_err(|reason| ConfigError::UnreadableFile {
                key: "ES_CERT_DIR",
                at: b.origin("ES_CERT_DIR"),
                path: path.clone(),
                reason,
            })?;
        }
    }
    if !es.verify_certs {
        b.warnings.push(ConfigWarning::Notice {
            key: "ES_VERIFY_CERTS",
            at: b.origin("ES_VERIFY_CERTS"),
            message: "false: the Elasticsearch server certificate is NOT verified (true means \
                      verified)"
                .to_string(),
        });
    }
    Ok(())
}

/// Builds and checks the [`Config`]; `warnings` receives the non-fatal findings.
pub(crate) fn build(raw: &RawConfig, warnings: &mut Vec<ConfigWarning>) -> Result<Config> {
    let mut b = Builder {
        raw,
        rows: Vec::new(),
        warnings: Vec::new(),
    };
    let storage_datasource: SourceKind =
        b.named("STORAGE_DATASOURCE", "sqlite", SourceKind::NAMES)?;
    // Without an explicit sink, verdicts go back where the records came from; a file source
    // has nowhere to write back, so it prints (as the old local → stdout setups did).
    let default_sink = match storage_datasource {
        SourceKind::Sqlite => "sqlite",
        SourceKind::Local => "stdout",
        SourceKind::Mongo => "mg",
        SourceKind::Mysql => "mysql",
        SourceKind::Es => "es",
        SourceKind::Kafka => "kafka",
    };
    let storage_datasink: SinkKind = b.named("STORAGE_DATASINK", default_sink, SinkKind::NAMES)?;
    let sqlite_path = b.path_or("SQLITE_PATH", "./lad.db")?;
    let model_base_dir = b.path_or("MODEL_BASE_DIR", "./models/")?;
    let mut log_sources = b.log_sources()?;
    let message_index = b.text_or("MESSAGE_INDEX", "message")?;
    let datetime_index = b.text_or("DATETIME_INDEX", "received_at")?;
    let hostname_index = b.text_or("HOSTNAME_INDEX", "hostname")?;

    let train_time_span = b.seconds("TRAIN_TIME_SPAN", 2_592_000)?;
    let train_max_entries = b.usize("TRAIN_MAX_ENTRIES", 250_000, 1)?;
    let train_vector_length = b.usize("TRAIN_VECTOR_LENGTH", 25, 1)?;
    let train_window = b.usize("TRAIN_WINDOW", 5, 1)?;
    let w2v_min_count = b.usize("W2V_MIN_COUNT", 1, 1)?;
    let w2v_iter = b.usize("W2V_ITER", 5, 1)?;
    let w2v_seed = b.uint("W2V_SEED", 1, 0)?;
    let lof_neighbors = b.usize("LOF_NEIGHBORS", 100, 1)?;
    let lof_metric: LofMetric = b.named("LOF_METRIC", "euclidean", LofMetric::NAMES)?;
    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    let parallelism =
        NonZeroUsize::new(b.usize("PARALLELISM", cores, 1)?).unwrap_or(NonZeroUsize::MIN);
    let infer_time_span = b.seconds("INFER_TIME_SPAN", 60)?;
    let infer_max_entries = b.usize("INFER_MAX_ENTRIES", 78_862, 1)?;

    let mut mg = MongoSettings {
        host: b.text_or("MG_HOST", "localhost")?,
        port: b.port("MG_PORT", 27017)?,
        user: b.text("MG_USER")?,
        password: b.secret("MG_PASSWORD")?,
        db: b.text("MG_DB")?,
        ca_cert: b.path("MG_CA_CERT")?,
        verify_cert: b.boolean("MG_VERIFY_CERT", true)?,
        input_db: b.text("MG_INPUT_DB")?,
        target_db: b.text("MG_TARGET_DB")?,
    };
    let mg_input_cols = b.list("MG_INPUT_COLS")?;
    let mg_target_cols = b.list("MG_TARGET_COLS")?;
    let mysql_input = mysql_endpoint(
        &mut b,
        [
            "MYSQL_INPUT_HOST",
            "MYSQL_INPUT_PORT",
            "MYSQL_INPUT_DB",
            "MYSQL_INPUT_USER",
            "MYSQL_INPUT_PASSWORD",
            "MYSQL_INPUT_TABLE",
            "MYSQL_INPUT_TABLES",
        ],
    )?;
    let mysql_target = mysql_endpoint(
        &mut b,
        [
            "MYSQL_TARGET_HOST",
            "MYSQL_TARGET_PORT",
            "MYSQL_TARGET_DB",
            "MYSQL_TARGET_USER",
            "MYSQL_TARGET_PASSWORD",
            "MYSQL_TARGET_TABLE",
            "MYSQL_TARGET_TABLES",
        ],
    )?;
    let es = es_settings(&mut b)?;
    let ls_input_path = b.path("LS_INPUT_PATH")?;
    let ls_output_path = b.path("LS_OUTPUT_PATH")?;
    let kafka = kafka_settings(&mut b)?;

    let aggr_time_span = b.seconds("AGGR_TIME_SPAN", 86_400)?;
    let aggr_max_entries = b.usize("AGGR_MAX_ENTRIES", 315_448, 1)?;
    let aggr_eps = b.positive_float("AGGR_EPS", 0.5)?;
    let aggr_min_samples = b.usize("AGGR_MIN_SAMPLES", 5, 1)?;
    let aggr_vector_length = b.usize("AGGR_VECTOR_LENGTH", 25, 1)?;
    let aggr_window = b.usize("AGGR_WINDOW", 5, 1)?;
    let aggr_method: AggrMethod = b.named("AGGR_METHOD", "templates", AggrMethod::NAMES)?;
    let incidents = b.boolean("INCIDENTS", true)?;
    let incident_quiet_gap = b.seconds("INCIDENT_QUIET_GAP", 600)?;
    let tokenizer: TokenizerKind = b.named("TOKENIZER", "masked", TokenizerKind::NAMES)?;
    let detector: DetectorKind = b.named("DETECTOR", "ensemble", DetectorKind::NAMES)?;

    let cron_expected = "a cron schedule such as \"0 0 * * *\" (minute hour day month weekday)";
    let retrain_schedule = b.parsed("RETRAIN_SCHEDULE", "0 0 * * *", cron_expected, cron)?;
    let aggr_schedule = b.parsed("AGGR_SCHEDULE", "0 15 * * *", cron_expected, cron)?;
    let timezone = b.parsed(
        "TIMEZONE",
        "UTC",
        "UTC or a fixed offset such as +03:00",
        Timezone::parse,
    )?;
    let http_addr = b.parsed("HTTP_ADDR", "127.0.0.1:9184", "a socket address", http_addr)?;
    let http_token = b.secret("HTTP_TOKEN")?;
    let http_tokens: BTreeMap<String, Secret> = b
        .string_map("HTTP_TOKENS", "a mapping of person's name to token")?
        .into_iter()
        .map(|(name, token)| (name, Secret::new(token)))
        .collect();
    if let Some((name, _)) = http_tokens.iter().find(|(_, t)| t.expose().is_empty()) {
        return Err(ConfigError::InvalidValue {
            key: format!("HTTP_TOKENS.{name}"),
            at: b.origin("HTTP_TOKENS"),
            expected: "a token that is not empty".to_string(),
            found: "an empty value".to_string(),
        });
    }
    let http_public_reads = b.boolean("HTTP_PUBLIC_READS", false)?;
    let alertmanager_url = b.text("ALERTMANAGER_URL")?;
    b.check_url("ALERTMANAGER_URL", alertmanager_url.as_deref(), false)?;
    let alert_webhook_url = b.secret("ALERT_WEBHOOK_URL")?;
    b.check_url(
        "ALERT_WEBHOOK_URL",
        alert_webhook_url.as_ref().map(Secret::expose),
        true,
    )?;
    let alert_page_url = b.text("ALERT_PAGE_URL")?;
    b.check_url("ALERT_PAGE_URL", alert_page_url.as_deref(), false)?;
    let alerting = alertmanager_url.is_some() || alert_webhook_url.is_some();
    if alerting && alert_page_url.is_none() && http_addr.ip().is_unspecified() {
        b.warnings.push(ConfigWarning::Notice {
            key: "ALERT_PAGE_URL",
            at: b.origin("HTTP_ADDR"),
            message: format!(
                "not set, and HTTP_ADDR {http_addr} names no host: alerts will link to \
                 http://{http_addr}/; set ALERT_PAGE_URL to the address people open"
            ),
        });
    }

    // Cross-key checks: the chosen backends must have what they need.
    if storage_datasource == SourceKind::Local && ls_input_path.is_none() {
        return Err(b.missing(
            "LS_INPUT_PATH",
            "STORAGE_DATASOURCE is local, which reads records from the file or folder LS_INPUT_PATH",
        ));
    }
    if storage_datasink == SinkKind::Local && ls_output_path.is_none() {
        return Err(b.missing(
            "LS_OUTPUT_PATH",
            "STORAGE_DATASINK is local, which writes verdicts to the file LS_OUTPUT_PATH",
        ));
    }
    check_parallel(
        &b,
        "MG_INPUT_COLS",
        &mg_input_cols,
        "MG_TARGET_COLS",
        &mg_target_cols,
    )?;
    check_parallel(
        &b,
        "MYSQL_INPUT_TABLES",
        &mysql_input.tables,
        "MYSQL_TARGET_TABLES",
        &mysql_target.tables,
    )?;

    let mut aggregation_targets = Vec::new();
    let detection_enabled;
    let aggregation_enabled;
    match storage_datasource {
        SourceKind::Sqlite | SourceKind::Local => {
            detection_enabled = true;
            aggregation_enabled = true;
        }
        SourceKind::Mongo => {
            let wants_detection = mg.db.is_some() || !log_sources.is_empty();
            let wants_aggregation =
                mg.input_db.is_some() || !mg_input_cols.is_empty() || !mg_target_cols.is_empty();
            if !wants_detection && !wants_aggregation {
                return Err(b.missing(
                    "MG_DB",
                    "STORAGE_DATASOURCE is mg: set MG_DB and LOG_SOURCES for detection, \
                     or MG_INPUT_DB, MG_INPUT_COLS and MG_TARGET_COLS for aggregation",
                ));
            }
            if wants_detection {
                if mg.db.is_none() {
                    return Err(b.missing(
                        "MG_DB",
                        "STORAGE_DATASOURCE is mg and LOG_SOURCES names collections: MG_DB is \
                         the database that holds them",
                    ));
                }
                if log_sources.is_empty() {
                    return Err(b.missing(
                        "LOG_SOURCES",
                        "STORAGE_DATASOURCE is mg: LOG_SOURCES names the collections of MG_DB \
                         and the hosts to model",
                    ));
                }
            }
            if wants_aggregation {
                let why = "MongoDB aggregation reads anomalies from the collections \
                           MG_INPUT_COLS of MG_INPUT_DB and writes groups to MG_TARGET_COLS";
                if mg.input_db.is_none() {
                    return Err(b.missing("MG_INPUT_DB", why));
                }
                if mg_input_cols.is_empty() {
                    return Err(b.missing("MG_INPUT_COLS", why));
                }
                if mg_target_cols.is_empty() {
                    return Err(b.missing("MG_TARGET_COLS", why));
                }
                if mg.target_db.is_none() {
                    mg.target_db = mg.input_db.clone();
                }
            }
            aggregation_targets = pairs(&mg_input_cols, &mg_target_cols);
            detection_enabled = wants_detection;
            aggregation_enabled = wants_aggregation;
        }
        SourceKind::Mysql => {
            if mysql_input.db.is_none() {
                return Err(b.missing(
                    "MYSQL_INPUT_DB",
                    "STORAGE_DATASOURCE is mysql, which reads from the database MYSQL_INPUT_DB",
                ));
            }
            // A lone MYSQL_INPUT_TABLE is one source holding every host.
            if log_sources.is_empty() {
                if let Some(table) = &mysql_input.table {
                    log_sources.insert(table.clone(), LogSource::default());
                }
            }
            let wants_detection = !log_sources.is_empty();
            let wants_aggregation =
                !mysql_input.tables.is_empty() || !mysql_target.tables.is_empty();
            if !wants_detection && !wants_aggregation {
                return Err(b.missing(
                    "LOG_SOURCES",
                    "STORAGE_DATASOURCE is mysql: set LOG_SOURCES (tables and hosts) for \
                     detection, or MYSQL_INPUT_TABLES and MYSQL_TARGET_TABLES for aggregation",
                ));
            }
            if wants_aggregation {
                let why = "MySQL aggregation reads anomalies from MYSQL_INPUT_TABLES and \
                           writes groups to MYSQL_TARGET_TABLES";
                if mysql_input.tables.is_empty() {
                    return Err(b.missing("MYSQL_INPUT_TABLES", why));
                }
                if mysql_target.tables.is_empty() {
                    return Err(b.missing("MYSQL_TARGET_TABLES", why));
                }
            }
            aggregation_targets = pairs(&mysql_input.tables, &mysql_target.tables);
            detection_enabled = wants_detection;
            aggregation_enabled = wants_aggregation;
        }
        SourceKind::Es => {
            if es.endpoint.is_none() {
                return Err(b.missing(
                    "ES_ENDPOINT",
                    "STORAGE_DATASOURCE is es, which reads from the Elasticsearch or OpenSearch \
                     at ES_ENDPOINT",
                ));
            }
            // ES_INPUT_INDEX (the old system's daily indices) is a source of every host.
            if let Some(index) = &es.input_index {
                log_sources.entry(index.clone()).or_default();
            }
            if log_sources.is_empty() {
                return Err(b.missing(
                    "LOG_SOURCES",
                    "STORAGE_DATASOURCE is es: name the indices or patterns to read in \
                     LOG_SOURCES, or the daily index prefix in ES_INPUT_INDEX",
                ));
            }
            // Every source's aggregates go to ES_AGGREGATE_INDEX, told apart by input_source.
            aggregation_targets = log_sources
                .keys()
                .map(|s| AggregationTarget {
                    input: s.clone(),
                    target: es.aggregate_index.clone(),
                })
                .collect();
            detection_enabled = true;
            aggregation_enabled = true;
        }
        SourceKind::Kafka => {
            if log_sources.is_empty() {
                return Err(b.missing(
                    "LOG_SOURCES",
                    "STORAGE_DATASOURCE is kafka: LOG_SOURCES names the input topics",
                ));
            }
            // A topic keeps no anomalies to group: aggregation needs a database source.
            detection_enabled = true;
            aggregation_enabled = false;
        }
    }
    match storage_datasink {
        SinkKind::Mongo if detection_enabled && mg.db.is_none() => {
            return Err(b.missing(
                "MG_DB",
                "STORAGE_DATASINK is mg, which writes verdicts into the database MG_DB",
            ));
        }
        SinkKind::Es if storage_datasource != SourceKind::Es => {
            return Err(b.missing(
                "STORAGE_DATASOURCE",
                "STORAGE_DATASINK is es, which writes verdicts onto the documents read from \
                 Elasticsearch: set STORAGE_DATASOURCE: es too",
            ));
        }
        SinkKind::Mysql if mysql_target.db.is_none() => {
            return Err(b.missing(
                "MYSQL_TARGET_DB",
                "STORAGE_DATASINK is mysql, which writes to the database MYSQL_TARGET_DB",
            ));
        }
        _ => {}
    }

    let uses_mongo = storage_datasource == SourceKind::Mongo || storage_datasink == SinkKind::Mongo;
    if uses_mongo {
        if let Some(path) = &mg.ca_cert {
            readable_file(path).map_err(|reason| ConfigError::UnreadableFile {
                key: "MG_CA_CERT",
                at: b.origin("MG_CA_CERT"),
                path: path.clone(),
                reason,
            })?;
        }
        if !mg.verify_cert {
            b.warnings.push(ConfigWarning::Notice {
                key: "MG_VERIFY_CERT",
                at: b.origin("MG_VERIFY_CERT"),
                message: "false: the MongoDB server certificate is NOT verified \
                          (true means verified; the old system had this inverted)"
                    .to_string(),
            });
        }
    }
    if storage_datasource == SourceKind::Es {
        check_es_files(&mut b, &es)?;
    }
    let uses_kafka = storage_datasource == SourceKind::Kafka || storage_datasink == SinkKind::Kafka;
    if uses_kafka {
        if let Some(path) = &kafka.ca_cert {
            readable_file(path).map_err(|reason| ConfigError::UnreadableFile {
                key: "KF_CACERT",
                at: b.origin("KF_CACERT"),
                path: path.clone(),
                reason,
            })?;
        }
    }
    if !http_addr.ip().is_loopback() && http_token.is_none() && http_tokens.is_empty() {
        return Err(ConfigError::OpenHttpWithoutToken {
            at: b.origin("HTTP_ADDR"),
            addr: http_addr,
        });
    }

    warnings.append(&mut b.warnings);
    Ok(Config {
        file: raw.file.clone(),
        storage_datasource,
        storage_datasink,
        sqlite_path,
        model_base_dir,
        log_sources,
        message_index,
        datetime_index,
        hostname_index,
        train_time_span,
        train_max_entries,
        train_vector_length,
        train_window,
        w2v_min_count,
        w2v_iter,
        w2v_seed,
        lof_neighbors,
        lof_metric,
        parallelism,
        infer_time_span,
        infer_max_entries,
        mg,
        es,
        mysql_input,
        mysql_target,
        kafka,
        ls_input_path,
        ls_output_path,
        aggr_time_span,
        aggr_max_entries,
        aggr_eps,
        aggr_min_samples,
        aggr_vector_length,
        aggr_window,
        aggr_method,
        incidents,
        incident_quiet_gap,
        aggregation_targets,
        retrain_schedule,
        aggr_schedule,
        timezone,
        http_addr,
        http_token,
        http_tokens,
        http_public_reads,
        alertmanager_url,
        alert_webhook_url,
        alert_page_url,
        tokenizer,
        detector,
        detection_enabled,
        aggregation_enabled,
        described: b.rows,
    })
}

/// The `KF_*` keys. The security protocol defaults to `ssl` when `KF_CACERT` is set, as the
/// old sink did.
fn kafka_settings(b: &mut Builder<'_>) -> Result<KafkaSettings> {
    let bootstrap_server = b.text_or("KF_BOOTSTRAP_SERVER", "localhost:9092")?;
    let topic = b.text_or("KF_TOPIC", "lad-verdicts")?;
    let ca_cert = b.path("KF_CACERT")?;
    let default_protocol = if ca_cert.is_some() {
        "ssl"
    } else {
        "plaintext"
    };
    let security_protocol: KafkaProtocol = b.named(
        "KF_SECURITY_PROTOCOL",
        default_protocol,
        KafkaProtocol::NAMES,
    )?;
    let sasl_mechanism = b.text("KF_SASL_MECHANISM")?;
    if let Some(m) = &sasl_mechanism {
        let known = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];
        if !known.contains(&m.as_str()) {
            return Err(ConfigError::InvalidValue {
                key: "KF_SASL_MECHANISM".into(),
                at: b.origin("KF_SASL_MECHANISM"),
                expected: one_of(&known),
                found: format!("\"{m}\""),
            });
        }
    }
    Ok(KafkaSettings {
        bootstrap_server,
        topic,
        ca_cert,
        security_protocol,
        sasl_mechanism,
        sasl_username: b.text("KF_SASL_USERNAME")?,
        sasl_password: b.secret("KF_SASL_PASSWORD")?,
        group_id: b.text_or("KF_GROUP_ID", "lad")?,
        verdicts: b.named("KF_VERDICTS", "anomalies", KafkaVerdicts::NAMES)?,
        dead_letter_topic: b.text_or("KF_DEAD_LETTER_TOPIC", "lad-dead-letter")?,
        aggregates_topic: b.text_or("KF_AGGREGATES_TOPIC", "lad-aggregates")?,
        librdkafka_options: b.string_map(
            "KF_LIBRDKAFKA_OPTIONS",
            "a mapping of librdkafka property to value",
        )?,
    })
}

fn mysql_endpoint(b: &mut Builder<'_>, keys: [&'static str; 7]) -> Result<MysqlEndpoint> {
    let [host, port, db, user, password, table, tables] = keys;
    Ok(MysqlEndpoint {
        host: b.text_or(host, "localhost")?,
        port: b.port(port, 3306)?,
        db: b.text(db)?,
        user: b.text(user)?,
        password: b.secret(password)?,
        table: b.text(table)?,
        tables: b.list(tables)?,
    })
}

fn check_parallel(
    b: &Builder<'_>,
    first: &'static str,
    a: &[String],
    second: &'static str,
    c: &[String],
) -> Result<()> {
    if a.is_empty() || c.is_empty() || a.len() == c.len() {
        return Ok(());
    }
    Err(ConfigError::UnequalLists {
        first,
        first_len: a.len(),
        second,
        second_len: c.len(),
        at: b.origin(first),
    })
}

fn pairs(inputs: &[String], targets: &[String]) -> Vec<AggregationTarget> {
    inputs
        .iter()
        .zip(targets)
        .map(|(input, target)| AggregationTarget {
            input: input.clone(),
            target: target.clone(),
        })
        .collect()
}
