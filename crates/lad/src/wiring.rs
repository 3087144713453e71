//! The one wiring layer: configuration in, the components that run out. It maps the typed
//! [`Config`] to backend settings ([`BackendConfig`]) and model parameters, runs every check that
//! depends on more than one key or on what a backend accepts ([`check`], called when a
//! configuration is loaded, so `lad check-config` fails wherever `lad run` would), and opens the
//! stores by the role their user needs them for ([`open_for_scoring`], [`open_for_training`],
//! [`open_for_state`]).
//!
//! This is the only module that knows how keys become backend settings: the passes of
//! [`crate::pipeline`] and the commands receive built objects. It does no scoring and keeps no
//! state.

#[cfg(any(feature = "mysql", feature = "kafka"))]
use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use lad_core::aggregate::{AggregateParams, GroupingMethod};
use lad_core::detector::{DetectorParams, EnsembleParams, Rule};
use lad_core::pattern::PatternValidParams;
use lad_core::tokenizer::TokenizerMode;
use lad_core::word2vec::Word2VecParams;
use lad_store::{BackendConfig, FieldNames, LocalConfig, SqliteConfig, StdoutConfig, Store};

use crate::alerts::{self, AlerterSettings, ReceiverKind, ReceiverSettings};
use crate::config::{
    AggrMethod, Config, DetectorKind, LofMetric, SinkKind, SourceKind, TokenizerKind,
};
use crate::error::UsageError;

/// Every check of a loaded configuration that is not the config module's own: the backend
/// settings and model parameters can be built, the source and sink go together, and names that
/// reach SQL are plain identifiers. Nothing is opened or connected to.
pub fn check(config: &Config) -> Result<(), UsageError> {
    let source = backend_for_source(config, Consumes::Records)?;
    sink_backend(config)?;
    detector_params(config)?;
    alerter_settings(config)?;
    #[cfg(feature = "mysql")]
    if let BackendConfig::Mysql(m) = &source {
        check_mysql_names(config, m)?;
    }
    #[cfg(not(feature = "mysql"))]
    let _ = source;
    Ok(())
}

/// The alerter's settings: a receiver per configured key (`ALERTMANAGER_URL`,
/// `ALERT_WEBHOOK_URL`), the page alerts link to (`ALERT_PAGE_URL`, else `http://HTTP_ADDR/`),
/// and the outbox folder `MODEL_BASE_DIR/alerts/`. `None` when no receiver is configured.
pub fn alerter_settings(config: &Config) -> Result<Option<AlerterSettings>, UsageError> {
    let mut receivers = Vec::new();
    let mut add = |kind: ReceiverKind, key: &str, url: &str, shown: &str| {
        // The client's own parser, so an address that passes here is one it can post to.
        ureq::http::Uri::try_from(alerts::sender::post_url(kind, url))
            .map_err(|e| UsageError(format!("{key} {shown}: not a usable address ({e})")))?;
        receivers.push(ReceiverSettings {
            kind,
            url: url.to_string(),
        });
        Ok::<(), UsageError>(())
    };
    if let Some(url) = &config.alertmanager_url {
        add(ReceiverKind::Alertmanager, "ALERTMANAGER_URL", url, url)?;
    }
    if let Some(url) = &config.alert_webhook_url {
        add(
            ReceiverKind::Webhook,
            "ALERT_WEBHOOK_URL",
            url.expose(),
            "(secret)",
        )?;
    }
    if receivers.is_empty() {
        return Ok(None);
    }
    let page_url = config
        .alert_page_url
        .clone()
        .unwrap_or_else(|| format!("http://{}/", config.http_addr));
    let mut settings =
        AlerterSettings::new(receivers, page_url, config.model_base_dir.join("alerts"));
    settings.history_after = Some(config.incident_quiet_gap);
    Ok(Some(settings))
}

/// The error for a backend this build of lad was compiled without.
#[allow(dead_code)] // unused when every driver feature is on
fn not_built(backend: &str, feature: &str) -> UsageError {
    UsageError(format!(
        "STORAGE_DATASOURCE {backend}: this lad was built without the {feature} backend \
         (build with `--features {feature}`, which the default build has)"
    ))
}

/// MySQL table and column names are checked here, not first when the store opens.
#[cfg(feature = "mysql")]
fn check_mysql_names(config: &Config, m: &lad_store::MysqlConfig) -> Result<(), UsageError> {
    let valid = |name: &str, key: &str| {
        lad_store::mysql::validate_identifier(name, key).map_err(|e| UsageError(e.to_string()))
    };
    valid(&m.fields.message, "MESSAGE_INDEX")?;
    valid(&m.fields.time, "DATETIME_INDEX")?;
    valid(&m.fields.host, "HOSTNAME_INDEX")?;
    for source in &m.sources {
        valid(source, "LOG_SOURCES")?;
    }
    for table in m.anomaly_tables.values() {
        valid(table, "MYSQL_TARGET_TABLE")?;
    }
    for t in &config.aggregation_targets {
        valid(&t.input, "MYSQL_INPUT_TABLES")?;
        valid(&t.target, "MYSQL_TARGET_TABLES")?;
    }
    Ok(())
}

/// The store records are read from and the store verdicts go to (the same one unless
/// STORAGE_DATASINK names another backend).
pub struct Stores {
    /// Where records come from.
    pub source: Store,
    /// Where verdicts and aggregates go, when not `source`.
    pub sink: Option<Store>,
}

impl Stores {
    /// The store verdicts and aggregates are written to.
    pub fn sink(&mut self) -> &mut Store {
        self.sink.as_mut().unwrap_or(&mut self.source)
    }
}

/// The field names of the user's documents.
pub fn field_names(config: &Config) -> FieldNames {
    FieldNames {
        message: config.message_index.clone(),
        time: config.datetime_index.clone(),
        host: config.hostname_index.clone(),
    }
}

/// Whether an opened store consumes records. Only a scoring worker does: for a stream source
/// (Kafka) that is what joins the consumer group, so training, the HTTP side and import open
/// it without (they must not take partitions from the workers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Consumes {
    Records,
    Nothing,
}

fn backend_for_source(config: &Config, consumes: Consumes) -> Result<BackendConfig, UsageError> {
    #[cfg(not(feature = "kafka"))]
    let _ = consumes;
    Ok(match config.storage_datasource {
        SourceKind::Sqlite => BackendConfig::Sqlite(SqliteConfig {
            path: config.sqlite_path.clone(),
        }),
        SourceKind::Local => {
            let input = config
                .ls_input_path
                .clone()
                .ok_or_else(|| UsageError("STORAGE_DATASOURCE local needs LS_INPUT_PATH".into()))?;
            let output = config
                .ls_output_path
                .clone()
                .unwrap_or_else(|| PathBuf::from("lad-verdicts.jsonl"));
            BackendConfig::Local(LocalConfig {
                input_path: input,
                output_path: output,
                fields: field_names(config),
                source: None,
            })
        }
        #[cfg(feature = "mongo")]
        SourceKind::Mongo => BackendConfig::Mongo(mongo_config(config)),
        #[cfg(not(feature = "mongo"))]
        SourceKind::Mongo => return Err(not_built("mg", "mongo")),
        #[cfg(feature = "mysql")]
        SourceKind::Mysql => BackendConfig::Mysql(Box::new(mysql_config(config))),
        #[cfg(not(feature = "mysql"))]
        SourceKind::Mysql => return Err(not_built("mysql", "mysql")),
        #[cfg(feature = "es")]
        SourceKind::Es => BackendConfig::Es(Box::new(es_config(config)?)),
        #[cfg(not(feature = "es"))]
        SourceKind::Es => return Err(not_built("es", "es")),
        #[cfg(feature = "kafka")]
        SourceKind::Kafka => BackendConfig::Kafka(Box::new(kafka_config(
            config,
            consumes == Consumes::Records,
        ))),
        #[cfg(not(feature = "kafka"))]
        SourceKind::Kafka => return Err(not_built_kafka()),
    })
}

/// The Elasticsearch/OpenSearch store settings from the ES_* keys: `ES_ENDPOINT` as the old
/// system wrote it (scheme from `ES_USE_SSL` when missing, credentials in the URL allowed,
/// `ES_USER`/`ES_PASSWORD` winning over them), `ES_INPUT_INDEX` as daily indices.
#[cfg(feature = "es")]
fn es_config(config: &Config) -> Result<lad_store::EsConfig, UsageError> {
    let es = &config.es;
    check_es_indices(config)?;
    let text = es
        .endpoint
        .as_ref()
        .map(|e| e.expose().to_string())
        .unwrap_or_default();
    let (endpoint, url_user, url_password) =
        lad_store::es::parse_endpoint(&text, es.use_ssl).map_err(UsageError)?;
    let (user, password) = match &es.user {
        Some(u) => (
            Some(u.clone()),
            es.password.as_ref().map(|p| p.expose().to_string()),
        ),
        None => (
            url_user,
            es.password
                .as_ref()
                .map(|p| p.expose().to_string())
                .or(url_password),
        ),
    };
    // A pattern in ES_INPUT_INDEX is read as a pattern, not as daily indices.
    let daily_sources = es
        .input_index
        .iter()
        .filter(|i| !i.contains(['*', ',']))
        .cloned()
        .collect();
    Ok(lad_store::EsConfig {
        endpoint,
        user,
        password,
        api_key: es.api_key.as_ref().map(|k| k.expose().to_string()),
        ca_cert: es.ca_cert.clone(),
        cert_dir: es.cert_dir.clone(),
        verify_certs: es.verify_certs,
        connect_timeout: es.connect_timeout,
        request_timeout: es.timeout,
        daily_sources,
        query: es.query.clone(),
        target_index: es.target_index.clone(),
        state_index: es.state_index.clone(),
        incident_index: es.incident_index.clone(),
        version: es.version,
        fields: field_names(config),
        ..lad_store::EsConfig::default()
    })
}

/// lad's own indices (`ES_STATE_INDEX`, `ES_INCIDENT_INDEX`, `ES_AGGREGATE_INDEX`,
/// `ES_TARGET_INDEX`) each hold one kind of document with a mapping of its own: two keys
/// naming one index, or one of them naming an index lad reads records from, would mix them.
#[cfg(feature = "es")]
fn check_es_indices(config: &Config) -> Result<(), UsageError> {
    let es = &config.es;
    let mut own: Vec<(&str, &str)> = vec![
        ("ES_STATE_INDEX", es.state_index.as_str()),
        ("ES_INCIDENT_INDEX", es.incident_index.as_str()),
        ("ES_AGGREGATE_INDEX", es.aggregate_index.as_str()),
    ];
    if let Some(t) = &es.target_index {
        own.push(("ES_TARGET_INDEX", t.as_str()));
    }
    for (i, (key, name)) in own.iter().enumerate() {
        if let Some((other, _)) = own[..i].iter().find(|(_, n)| n == name) {
            return Err(UsageError(format!(
                "{other} and {key} both name the index {name:?}: each holds its own kind of \
                 document; give them different names"
            )));
        }
    }
    let sources = config
        .log_sources
        .keys()
        .map(|s| ("LOG_SOURCES", s.as_str()))
        .chain(
            es.input_index
                .iter()
                .map(|s| ("ES_INPUT_INDEX", s.as_str())),
        );
    for (skey, source) in sources {
        // A pattern `syslog-*` reads what it matches; the old daily source `syslog-` reads
        // `syslog-YYYY.MM.DD`.
        let reads = |index: &str| {
            index == source
                || source
                    .strip_suffix('*')
                    .is_some_and(|prefix| !prefix.contains(['*', ',']) && index.starts_with(prefix))
                || (skey == "ES_INPUT_INDEX"
                    && index
                        .strip_prefix(source)
                        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit())))
        };
        if let Some((key, name)) = own.iter().find(|(_, n)| reads(n)) {
            return Err(UsageError(format!(
                "{key} {name:?} is an index lad would read records from ({skey} {source:?}); \
                 give lad's own index a name outside the sources"
            )));
        }
    }
    Ok(())
}

/// The error for `kafka` in a build without the feature (off by default: see README).
#[cfg(not(feature = "kafka"))]
fn not_built_kafka() -> UsageError {
    UsageError(
        "STORAGE_DATASOURCE/STORAGE_DATASINK kafka: this lad was built without the kafka backend \
         (build with `cargo build --release --features kafka`, which needs libssl-dev)"
            .into(),
    )
}

/// The Kafka settings from the KF_* keys; `reads` when the store consumes LOG_SOURCES (the
/// source), not when it only publishes (a sink beside another source).
#[cfg(feature = "kafka")]
fn kafka_config(config: &Config, reads: bool) -> lad_store::KafkaConfig {
    use crate::config::{KafkaProtocol, KafkaVerdicts};
    let kf = &config.kafka;
    let protocol = match kf.security_protocol {
        KafkaProtocol::Plaintext => "plaintext",
        KafkaProtocol::Ssl => "ssl",
        KafkaProtocol::SaslPlaintext => "sasl_plaintext",
        KafkaProtocol::SaslSsl => "sasl_ssl",
    };
    let (sources, hosts) = if reads {
        (
            config.log_sources.keys().cloned().collect(),
            config
                .log_sources
                .iter()
                .map(|(s, l)| (s.clone(), l.hostnames.clone()))
                .collect(),
        )
    } else {
        (Vec::new(), BTreeMap::new())
    };
    // The daemon reads between sleeps of INFER_TIME_SPAN; the group must not drop it meanwhile.
    let max_poll_interval_ms = (config.infer_time_span.as_millis() as u64)
        .saturating_mul(2)
        .saturating_add(300_000);
    lad_store::KafkaConfig {
        brokers: kf.bootstrap_server.clone(),
        security: lad_store::KafkaSecurity {
            protocol: protocol.into(),
            ca_cert: kf.ca_cert.clone(),
            sasl_mechanism: kf.sasl_mechanism.clone(),
            sasl_username: kf.sasl_username.clone(),
            sasl_password: kf.sasl_password.as_ref().map(|p| p.expose().to_string()),
        },
        group_id: kf.group_id.clone(),
        sources,
        hosts,
        verdict_topic: kf.topic.clone(),
        verdicts: match kf.verdicts {
            KafkaVerdicts::Anomalies => lad_store::VerdictSelection::Anomalies,
            KafkaVerdicts::All => lad_store::VerdictSelection::All,
        },
        aggregates_topic: kf.aggregates_topic.clone(),
        dead_letter_topic: kf.dead_letter_topic.clone(),
        fields: field_names(config),
        librdkafka_options: kf.librdkafka_options.clone(),
        max_poll_interval_ms,
        ..lad_store::KafkaConfig::default()
    }
}

/// The MongoDB store settings from the MG_* keys: detection works in MG_DB, aggregation in
/// MG_INPUT_DB (an aggregation-only `aggregator.yaml` has no MG_DB) and MG_TARGET_DB.
#[cfg(feature = "mongo")]
fn mongo_config(config: &Config) -> lad_store::MongoConfig {
    let mg = &config.mg;
    lad_store::MongoConfig {
        host: mg.host.clone(),
        port: mg.port,
        user: mg.user.clone(),
        password: mg.password.as_ref().map(|p| p.expose().to_string()),
        db: mg
            .db
            .clone()
            .or_else(|| mg.input_db.clone())
            .unwrap_or_default(),
        target_db: mg.target_db.clone().or_else(|| mg.input_db.clone()),
        tls: mg.ca_cert.is_some(),
        ca_cert: mg.ca_cert.clone(),
        verify_cert: mg.verify_cert,
        fields: field_names(config),
        ..lad_store::MongoConfig::default()
    }
}

/// The MySQL store settings from the MYSQL_INPUT_* and MYSQL_TARGET_* keys.
#[cfg(feature = "mysql")]
fn mysql_config(config: &Config) -> lad_store::MysqlConfig {
    let endpoint = |e: &crate::config::MysqlEndpoint, fallback_db: Option<&String>| {
        let db = e.db.as_ref().or(fallback_db).cloned().unwrap_or_default();
        let mut out = lad_store::MysqlEndpoint::new(&db);
        out.host = e.host.clone();
        out.port = e.port;
        if let Some(u) = &e.user {
            out.user = u.clone();
        }
        out.password = e.password.as_ref().map(|p| p.expose().to_string());
        out
    };
    let input = endpoint(&config.mysql_input, None);
    let target = endpoint(&config.mysql_target, config.mysql_input.db.as_ref());
    let mut anomaly_tables = BTreeMap::new();
    let mut sources: Vec<String> = config.log_sources.keys().cloned().collect();
    if let Some(t) = &config.mysql_input.table {
        if !sources.contains(t) {
            sources.push(t.clone());
        }
    }
    for source in &sources {
        let table = config
            .log_sources
            .get(source)
            .and_then(|l| l.mysql_target_table.clone())
            .or_else(|| config.mysql_target.table.clone());
        if let Some(t) = table {
            anomaly_tables.insert(source.clone(), t);
        }
    }
    lad_store::MysqlConfig {
        input,
        target,
        fields: field_names(config),
        anomaly_tables,
        sources,
        aggregation_inputs: config
            .aggregation_targets
            .iter()
            .map(|t| t.input.clone())
            .collect(),
    }
}

/// Where verdicts go when not into the source's own store: `None` when the sink is the source's
/// backend; an error for a combination lad does not support.
fn sink_backend(config: &Config) -> Result<Option<BackendConfig>, UsageError> {
    Ok(match (config.storage_datasource, config.storage_datasink) {
        (SourceKind::Sqlite, SinkKind::Sqlite)
        | (SourceKind::Local, SinkKind::Local)
        | (SourceKind::Mongo, SinkKind::Mongo)
        | (SourceKind::Mysql, SinkKind::Mysql)
        | (SourceKind::Es, SinkKind::Es) => None,
        (SourceKind::Kafka, SinkKind::Kafka) => None,
        (_, SinkKind::Stdout) => Some(BackendConfig::Stdout(StdoutConfig {
            fields: field_names(config),
        })),
        #[cfg(feature = "kafka")]
        (src, SinkKind::Kafka) if src != SourceKind::Kafka => {
            Some(BackendConfig::Kafka(Box::new(kafka_config(config, false))))
        }
        #[cfg(not(feature = "kafka"))]
        (_, SinkKind::Kafka) => return Err(not_built_kafka()),
        // Kafka ids (partition:offset) mean nothing to a database: verdicts of a topic go to
        // a topic or to standard output.
        (SourceKind::Kafka, sink) => {
            return Err(UsageError(format!(
                "STORAGE_DATASINK {} with STORAGE_DATASOURCE kafka is not supported: verdicts of \
                 Kafka records are published to KF_TOPIC (STORAGE_DATASINK kafka) or printed \
                 (stdout)",
                sink.as_str()
            )))
        }
        (_, SinkKind::Sqlite) => Some(BackendConfig::Sqlite(SqliteConfig {
            path: config.sqlite_path.clone(),
        })),
        (src, sink) => {
            return Err(UsageError(format!(
                "STORAGE_DATASINK {} with STORAGE_DATASOURCE {} is not supported: verdicts are \
                 written next to the records they judge (use the same backend, or stdout)",
                sink.as_str(),
                src.as_str()
            )))
        }
    })
}

/// Opens the configured source and, when it differs, the sink. Callers name what they open it
/// for through [`open_for_scoring`], [`open_for_training`] and [`open_for_state`].
fn open_stores(config: &Config, consumes: Consumes) -> Result<Stores> {
    let source = Store::open(&backend_for_source(config, consumes)?)
        .context("cannot open the record store")?;
    let sink = match sink_backend(config)? {
        Some(b) => Some(Store::open(&b).context("cannot open the verdict sink")?),
        None => None,
    };
    let mut stores = Stores { source, sink };
    log_notices(&mut stores);
    Ok(stores)
}

/// Opens the store that holds the records, alone (what `lad import` writes to).
pub fn open_record_store(config: &Config) -> Result<Store> {
    let mut store = Store::open(&backend_for_source(config, Consumes::Nothing)?)
        .context("cannot open the record store")?;
    for n in store.take_notices() {
        tracing::info!("{n}");
    }
    Ok(store)
}

/// Opens what a scoring worker needs: the record source it polls and acknowledges, and the
/// verdict sink it writes to. For a stream source this is the one place a consumer is created.
pub fn open_for_scoring(config: &Config) -> Result<Stores> {
    open_stores(config, Consumes::Records)
}

/// Opens what training needs: the training reader (the records of a window) and the feedback
/// marks kept beside the records. Retraining opens its own, so scoring goes on meanwhile.
pub fn open_for_training(config: &Config) -> Result<Stores> {
    open_stores(config, Consumes::Nothing)
}

/// Opens lad's state as the HTTP side, aggregation and export read it: verdicts and anomalies,
/// aggregates, feedback. It never consumes records, so it may be opened beside any worker.
pub fn open_for_state(config: &Config) -> Result<Stores> {
    open_stores(config, Consumes::Nothing)
}

/// Logs what the stores have to tell the operator (see [`Store::take_notices`]); called after
/// each pass so notices appear when they happen.
pub fn log_notices(stores: &mut Stores) {
    let mut notices = stores.source.take_notices();
    if let Some(sink) = stores.sink.as_mut() {
        notices.extend(sink.take_notices());
    }
    for n in notices {
        tracing::info!("{n}");
    }
}

/// Detection settings from the configuration.
pub fn detector_params(config: &Config) -> Result<DetectorParams, UsageError> {
    if config.lof_metric != LofMetric::Euclidean {
        return Err(UsageError(format!(
            "LOF_METRIC {} is not supported: lad's Local Outlier Factor is euclidean",
            config.lof_metric.as_str()
        )));
    }
    let word2vec = Word2VecParams {
        vector_length: config.train_vector_length,
        window: config.train_window,
        min_count: config.w2v_min_count as u64,
        epochs: config.w2v_iter,
        seed: config.w2v_seed,
        ..Word2VecParams::default()
    };
    let mut params = DetectorParams {
        tokenizer: match config.tokenizer {
            TokenizerKind::Masked => TokenizerMode::Masked,
            TokenizerKind::Letters => TokenizerMode::LettersOnly,
        },
        word2vec,
        lof_neighbors: config.lof_neighbors,
        rule: match config.detector {
            DetectorKind::Ensemble => Rule::Ensemble,
            DetectorKind::Legacy => Rule::Legacy,
        },
        ensemble: EnsembleParams::default(),
        ..DetectorParams::default()
    };
    params.autoencoder.seed = config.w2v_seed;
    Ok(params)
}

/// Pattern mining settings: lad-core's defaults (at most 5,000 shapes per host, hourly count
/// buckets for a week); no key changes them yet.
pub fn pattern_params() -> PatternValidParams {
    PatternValidParams::default()
}

/// Aggregation settings from the configuration.
pub fn aggregate_params(config: &Config) -> AggregateParams {
    AggregateParams {
        method: match config.aggr_method {
            AggrMethod::Templates => GroupingMethod::Templates,
            AggrMethod::Dbscan => GroupingMethod::Dbscan,
        },
        eps: config.aggr_eps,
        min_samples: config.aggr_min_samples,
        vector_length: config.aggr_vector_length,
        window: config.aggr_window,
        seed: config.w2v_seed,
        ..AggregateParams::default()
    }
}

/// The tokenizer the configuration asks for (also what feedback matches "same template" with).
pub fn tokenizer_mode(config: &Config) -> TokenizerMode {
    match config.tokenizer {
        TokenizerKind::Masked => TokenizerMode::Masked,
        TokenizerKind::Letters => TokenizerMode::LettersOnly,
    }
}
