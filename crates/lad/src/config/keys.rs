//! The closed list of configuration keys: those `lad` honours, those the old system declared
//! but that have no effect, and the "did you mean" suggestion for anything else. It holds no
//! values and does no parsing; it only answers "is this key known, and how".

/// How an environment value for a key is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EnvForm {
    /// Taken verbatim: passwords, names and paths must not be reinterpreted as YAML
    /// (`0123` or `null` are valid passwords).
    Verbatim,
    /// Parsed as a YAML scalar or flow value, so numbers, booleans, `[a, b]` lists and
    /// `{src: {HOSTNAMES: [h]}}` maps work.
    Yaml,
}

use EnvForm::{Verbatim, Yaml};

/// Every key `lad` reads, with the form its environment value takes.
pub(crate) const KNOWN_KEYS: &[(&str, EnvForm)] = &[
    ("STORAGE_DATASOURCE", Verbatim),
    ("STORAGE_DATASINK", Verbatim),
    ("SQLITE_PATH", Verbatim),
    ("MODEL_BASE_DIR", Verbatim),
    ("LOG_SOURCES", Yaml),
    ("MESSAGE_INDEX", Verbatim),
    ("DATETIME_INDEX", Verbatim),
    ("HOSTNAME_INDEX", Verbatim),
    ("TRAIN_TIME_SPAN", Yaml),
    ("TRAIN_MAX_ENTRIES", Yaml),
    ("TRAIN_VECTOR_LENGTH", Yaml),
    ("TRAIN_WINDOW", Yaml),
    ("W2V_MIN_COUNT", Yaml),
    ("W2V_ITER", Yaml),
    ("W2V_SEED", Yaml),
    ("LOF_NEIGHBORS", Yaml),
    ("LOF_METRIC", Verbatim),
    ("PARALLELISM", Yaml),
    ("INFER_TIME_SPAN", Yaml),
    ("INFER_MAX_ENTRIES", Yaml),
    ("MG_HOST", Verbatim),
    ("MG_PORT", Yaml),
    ("MG_USER", Verbatim),
    ("MG_PASSWORD", Verbatim),
    ("MG_DB", Verbatim),
    ("MG_CA_CERT", Verbatim),
    ("MG_VERIFY_CERT", Yaml),
    ("MG_INPUT_DB", Verbatim),
    ("MG_INPUT_COLS", Yaml),
    ("MG_TARGET_DB", Verbatim),
    ("MG_TARGET_COLS", Yaml),
    ("MYSQL_INPUT_HOST", Verbatim),
    ("MYSQL_INPUT_PORT", Yaml),
    ("MYSQL_INPUT_DB", Verbatim),
    ("MYSQL_INPUT_USER", Verbatim),
    ("MYSQL_INPUT_PASSWORD", Verbatim),
    ("MYSQL_INPUT_TABLE", Verbatim),
    ("MYSQL_INPUT_TABLES", Yaml),
    ("MYSQL_TARGET_HOST", Verbatim),
    ("MYSQL_TARGET_PORT", Yaml),
    ("MYSQL_TARGET_DB", Verbatim),
    ("MYSQL_TARGET_USER", Verbatim),
    ("MYSQL_TARGET_PASSWORD", Verbatim),
    ("MYSQL_TARGET_TABLE", Verbatim),
    ("MYSQL_TARGET_TABLES", Yaml),
    ("LS_INPUT_PATH", Verbatim),
    ("LS_OUTPUT_PATH", Verbatim),
    ("AGGR_TIME_SPAN", Yaml),
    ("AGGR_MAX_ENTRIES", Yaml),
    ("AGGR_EPS", Yaml),
    ("AGGR_MIN_SAMPLES", Yaml),
    ("AGGR_VECTOR_LENGTH", Yaml),
    ("AGGR_WINDOW", Yaml),
    ("AGGR_METHOD", Verbatim),
    ("INCIDENTS", Yaml),
    ("INCIDENT_QUIET_GAP", Yaml),
    ("RETRAIN_SCHEDULE", Verbatim),
    ("AGGR_SCHEDULE", Verbatim),
    ("TIMEZONE", Verbatim),
    ("HTTP_ADDR", Verbatim),
    ("HTTP_TOKEN", Verbatim),
    ("HTTP_TOKENS", Yaml),
    ("HTTP_PUBLIC_READS", Yaml),
    ("ALERTMANAGER_URL", Verbatim),
    ("ALERT_WEBHOOK_URL", Verbatim),
    ("ALERT_PAGE_URL", Verbatim),
    ("TOKENIZER", Verbatim),
    ("DETECTOR", Verbatim),
    ("ES_ENDPOINT", Verbatim),
    ("ES_USE_SSL", Yaml),
    ("ES_USER", Verbatim),
    ("ES_PASSWORD", Verbatim),
    ("ES_API_KEY", Verbatim),
    ("ES_CA_CERT", Verbatim),
    ("ES_CERT_DIR", Verbatim),
    ("ES_VERIFY_CERTS", Yaml),
    ("ES_INPUT_INDEX", Verbatim),
    ("ES_TARGET_INDEX", Verbatim),
    ("ES_QUERY", Verbatim),
    ("ES_VERSION", Verbatim),
    ("ES_TIMEOUT", Yaml),
    ("ES_CONNECT_TIMEOUT", Yaml),
    ("ES_STATE_INDEX", Verbatim),
    ("ES_INCIDENT_INDEX", Verbatim),
    ("ES_AGGREGATE_INDEX", Verbatim),
    ("KF_BOOTSTRAP_SERVER", Verbatim),
    ("KF_TOPIC", Verbatim),
    ("KF_CACERT", Verbatim),
    ("KF_SECURITY_PROTOCOL", Verbatim),
    ("KF_SASL_MECHANISM", Verbatim),
    ("KF_SASL_USERNAME", Verbatim),
    ("KF_SASL_PASSWORD", Verbatim),
    ("KF_GROUP_ID", Verbatim),
    ("KF_VERDICTS", Verbatim),
    ("KF_DEAD_LETTER_TOPIC", Verbatim),
    ("KF_AGGREGATES_TOPIC", Verbatim),
    ("KF_LIBRDKAFKA_OPTIONS", Yaml),
];

/// Keys whose values are secrets: never printed, never in `Debug`.
pub(crate) const SECRET_KEYS: &[&str] = &[
    "MG_PASSWORD",
    "MYSQL_INPUT_PASSWORD",
    "MYSQL_TARGET_PASSWORD",
    "HTTP_TOKEN",
    "HTTP_TOKENS",
    // A chat webhook's address is its credential (Slack, Mattermost).
    "ALERT_WEBHOOK_URL",
    "ES_PASSWORD",
    "ES_API_KEY",
    "KF_SASL_PASSWORD",
];

/// Keys of the old system that are accepted and ignored, with what to do instead.
const NO_EFFECT_KEYS: &[(&str, &str)] = &[
    (
        "FACT_STORE_URL",
        "feedback is built into lad (HTTP API and web page); no fact store is needed",
    ),
    ("FREQ_NOISE", "the old system declared it but never used it"),
    (
        "LOGSOURCE_HOSTNAME",
        "list hosts under LOG_SOURCES.<source>.HOSTNAMES",
    ),
    ("MODEL_DIR", "use MODEL_BASE_DIR"),
    ("MODEL_FILE", "model file names are fixed by lad"),
    ("W2V_MODEL_FILE", "model file names are fixed by lad"),
    ("MODEL_PATH", "use MODEL_BASE_DIR"),
    ("W2V_MODEL_PATH", "use MODEL_BASE_DIR"),
    (
        "W2V_COMPUTE_LOSS",
        "the old system declared it but never used it",
    ),
    ("W2V_WORKERS", "use PARALLELISM"),
    (
        "TRAIN_ITERATIONS",
        "the old system declared it but never used it",
    ),
    (
        "TRAIN_UPDATE_MODEL",
        "models are retrained on RETRAIN_SCHEDULE",
    ),
    (
        "INFER_ANOMALY_THRESHOLD",
        "the old system declared it but never used it",
    ),
    ("INFER_LOOPS", "models are retrained on RETRAIN_SCHEDULE"),
    (
        "LS_OUTPUT_RWA_MODE",
        "the old system declared it but never used it",
    ),
    (
        "LOG_FORMATTER",
        "the old system declared it but never used it",
    ),
    (
        "OS_NAMESPACE",
        "the old system declared it but never used it",
    ),
    ("MG_USE_SSL", "TLS is used when MG_CA_CERT is set"),
    ("MG_CERT_DIR", "use MG_CA_CERT"),
    (
        "MG_VERIFY_CERTS",
        "use MG_VERIFY_CERT (true means the certificate is verified)",
    ),
    ("MG_COLLECTION", "list collections under LOG_SOURCES"),
    ("MG_INPUT_COL", "use MG_INPUT_COLS (a list)"),
    ("MG_TARGET_COL", "use MG_TARGET_COLS (a list)"),
    ("HOSTNAMES", "HOSTNAMES belongs under LOG_SOURCES.<source>"),
];

/// Prefixes of old key families that are accepted and ignored.
const NO_EFFECT_PREFIXES: &[(&str, &str)] = &[
    ("S3_", "models are stored under MODEL_BASE_DIR"),
    ("MODEL_STORE", "models are stored under MODEL_BASE_DIR"),
    ("SOMPY_", "the SOM model was replaced long ago"),
];

/// Keys allowed inside one `LOG_SOURCES` entry.
pub(crate) const SOURCE_KEYS: &[&str] = &["HOSTNAMES", "MYSQL_TARGET_TABLE"];

/// `LAD_*` environment variables that belong to the command line, not to the config.
pub(crate) const RESERVED_ENV: &[&str] = &["LAD_CONFIG", "LAD_LOG", "LAD_LOG_FORMAT"];

/// The known key spelled `key`, as a `'static` name, with its environment form.
pub(crate) fn known(key: &str) -> Option<(&'static str, EnvForm)> {
    KNOWN_KEYS.iter().copied().find(|(name, _)| *name == key)
}

/// Why `key` has no effect, if it is one of the old system's ignored keys.
pub(crate) fn no_effect_reason(key: &str) -> Option<&'static str> {
    NO_EFFECT_KEYS
        .iter()
        .find(|(name, _)| *name == key)
        .or_else(|| NO_EFFECT_PREFIXES.iter().find(|(p, _)| key.starts_with(p)))
        .map(|(_, reason)| *reason)
}

/// The closest of `candidates` to `key`, if close enough to be a likely typo.
pub(crate) fn suggest(key: &str, candidates: &[&'static str]) -> Option<&'static str> {
    let upper = key.to_ascii_uppercase();
    let (best, distance) = candidates
        .iter()
        .map(|c| (*c, strsim::levenshtein(&upper, c)))
        .min_by_key(|(_, d)| *d)?;
    // A third of the length tolerates a dropped underscore or a swapped pair in long keys
    // without pairing unrelated short ones.
    let limit = (best.len() / 3).max(2);
    (distance <= limit).then_some(best)
}

/// The names of all known keys, for [`suggest`].
pub(crate) fn known_names() -> Vec<&'static str> {
    KNOWN_KEYS.iter().map(|(name, _)| *name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos_not_strangers() {
        let names = known_names();
        assert_eq!(suggest("TRAIN_WINDOWS", &names), Some("TRAIN_WINDOW"));
        assert_eq!(suggest("train_window", &names), Some("TRAIN_WINDOW"));
        assert_eq!(suggest("MG_PASWORD", &names), Some("MG_PASSWORD"));
        assert_eq!(suggest("LOG_SOURCE", &names), Some("LOG_SOURCES"));
        assert_eq!(suggest("COMPLETELY_UNRELATED_THING", &names), None);
    }

    #[test]
    fn old_families_have_no_effect() {
        assert!(no_effect_reason("S3_BUCKET").is_some());
        assert!(no_effect_reason("SOMPY_INIT").is_some());
        assert!(no_effect_reason("MODEL_STORE_PATH").is_some());
        assert!(no_effect_reason("TRAIN_ITERATIONS").is_some());
        assert!(no_effect_reason("TRAIN_WINDOW").is_none());
    }

    #[test]
    fn tables_do_not_overlap_and_have_no_duplicates() {
        let names = known_names();
        for (i, name) in names.iter().enumerate() {
            assert!(
                no_effect_reason(name).is_none(),
                "{name} is both known and ignored"
            );
            assert!(!names[i + 1..].contains(name), "{name} listed twice");
        }
        for secret in SECRET_KEYS {
            assert!(known(secret).is_some(), "{secret} is not a known key");
        }
    }
}
