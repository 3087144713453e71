//! The typed values a checked [`Config`](super::Config) is made of: backend and algorithm
//! choices as enums, connection settings, secrets that never print, the time zone. These types
//! only hold checked data; they do no I/O and open no connection.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use time::UtcOffset;

/// A value that must not appear in logs: `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that needs it (a connection, a token check).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Declares a closed set of names read from the config, with `FromStr`, `as_str` and the
/// list of accepted names used in error messages.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every accepted spelling, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The name as written in the config.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl FromStr for $name {
            type Err = ();

            fn from_str(s: &str) -> Result<Self, ()> {
                match s.trim().to_ascii_lowercase().as_str() {
                    $($text => Ok($name::$variant),)+
                    _ => Err(()),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum! {
    /// Where records are read from (`STORAGE_DATASOURCE`).
    SourceKind {
        /// The embedded SQLite store at `SQLITE_PATH` (the default).
        Sqlite = "sqlite",
        /// Files: `LS_INPUT_PATH`.
        Local = "local",
        /// MongoDB.
        Mongo = "mg",
        /// MySQL.
        Mysql = "mysql",
        /// Elasticsearch or OpenSearch.
        Es = "es",
        /// Kafka topics (feature `kafka`): LOG_SOURCES names the input topics.
        Kafka = "kafka",
    }
}

named_enum! {
    /// Where verdicts are written (`STORAGE_DATASINK`).
    SinkKind {
        /// The embedded SQLite store.
        Sqlite = "sqlite",
        /// A JSON Lines file at `LS_OUTPUT_PATH`.
        Local = "local",
        /// MongoDB: verdicts are written back into the source documents.
        Mongo = "mg",
        /// MySQL.
        Mysql = "mysql",
        /// Elasticsearch or OpenSearch: verdicts are written back into the source documents.
        Es = "es",
        /// Standard output, JSON Lines.
        Stdout = "stdout",
        /// A Kafka topic (`KF_TOPIC`), one JSON message per verdict (feature `kafka`).
        Kafka = "kafka",
    }
}

named_enum! {
    /// Which verdicts the Kafka sink publishes (`KF_VERDICTS`).
    KafkaVerdicts {
        /// Only anomalies (the default).
        Anomalies = "anomalies",
        /// Every verdict.
        All = "all",
    }
}

named_enum! {
    /// How Kafka clients reach the brokers (`KF_SECURITY_PROTOCOL`).
    KafkaProtocol {
        /// No TLS, no SASL.
        Plaintext = "plaintext",
        /// TLS (with `KF_CACERT`).
        Ssl = "ssl",
        /// SASL without TLS.
        SaslPlaintext = "sasl_plaintext",
        /// SASL over TLS.
        SaslSsl = "sasl_ssl",
    }
}

named_enum! {
    /// Distance used by the Local Outlier Factor (`LOF_METRIC`).
    LofMetric {
        /// Euclidean distance (the default).
        Euclidean = "euclidean",
        /// Manhattan (L1) distance.
        Manhattan = "manhattan",
        /// Cosine distance.
        Cosine = "cosine",
    }
}

named_enum! {
    /// How messages are split into words (`TOKENIZER`).
    TokenizerKind {
        /// Variable parts (numbers, addresses, ids) are masked before splitting (the default).
        Masked = "masked",
        /// The old system's rule: keep letters only.
        Letters = "letters",
    }
}

named_enum! {
    /// Which detector scores lines (`DETECTOR`).
    DetectorKind {
        /// lad's detector (the default).
        Ensemble = "ensemble",
        /// The old system's LOF + autoencoder rule, for comparison.
        Legacy = "legacy",
    }
}

named_enum! {
    /// How anomalies are grouped for aggregation (`AGGR_METHOD`).
    AggrMethod {
        /// Template mining (the default).
        Templates = "templates",
        /// The old system's Word2Vec + DBSCAN.
        Dbscan = "dbscan",
    }
}

/// The time zone schedules are read in (`TIMEZONE`): UTC or a fixed offset from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timezone(UtcOffset);

impl Timezone {
    /// UTC.
    pub const UTC: Timezone = Timezone(UtcOffset::UTC);

    /// The offset from UTC.
    pub fn offset(self) -> UtcOffset {
        self.0
    }

    /// Parses `UTC`, `Z`, `+03:00`, `-0500`, `+3` or `UTC+03:00`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let upper = t.to_ascii_uppercase();
        let rest = upper
            .strip_prefix("UTC")
            .or_else(|| upper.strip_prefix("GMT"))
            .unwrap_or(&upper);
        if rest.is_empty() || rest == "Z" || upper == "ETC/UTC" {
            return Ok(Timezone::UTC);
        }
        let bad = || {
            if t.contains('/') {
                format!(
                    "named zones such as {t:?} are not supported; write the offset, e.g. +03:00"
                )
            } else {
                format!("{t:?} is not an offset such as +03:00")
            }
        };
        let (sign, digits) = match rest.as_bytes().first() {
            Some(b'+') => (1i8, &rest[1..]),
            Some(b'-') => (-1i8, &rest[1..]),
            _ => return Err(bad()),
        };
        // Only digits and one colon: rules out signs, spaces and multi-byte characters.
        if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit() || c == b':') {
            return Err(bad());
        }
        let (h, m) = match digits.split_once(':') {
            Some((h, m)) => (h, m),
            None if digits.len() == 4 => digits.split_at(2),
            None => (digits, "0"),
        };
        let hours: u8 = h.parse().map_err(|_| bad())?;
        let minutes: u8 = m.parse().map_err(|_| bad())?;
        if hours > 23 || minutes > 59 {
            return Err(bad());
        }
        let (hours, minutes) = (sign * hours as i8, sign * minutes as i8);
        UtcOffset::from_hms(hours, minutes, 0)
            .map(Timezone)
            .map_err(|_| bad())
    }
}

impl fmt::Display for Timezone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_utc() {
            f.write_str("UTC")
        } else {
            let (h, m, _) = self.0.as_hms();
            let sign = if self.0.is_negative() { '-' } else { '+' };
            write!(f, "{sign}{:02}:{:02}", h.abs(), m.abs())
        }
    }
}

/// One entry of `LOG_SOURCES`: a collection, table or stream, and the hosts in it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogSource {
    /// Hosts to model; empty means every host found in this source.
    pub hostnames: Vec<String>,
    /// MySQL: the table verdicts go to, when not the top-level `MYSQL_TARGET_TABLE`.
    pub mysql_target_table: Option<String>,
}

/// MongoDB connection settings (`MG_*`). `user` and `password` are stored as written; the
/// store URL-escapes them when it builds the connection string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MongoSettings {
    /// `MG_HOST`.
    pub host: String,
    /// `MG_PORT`.
    pub port: u16,
    /// `MG_USER`.
    pub user: Option<String>,
    /// `MG_PASSWORD`.
    pub password: Option<Secret>,
    /// `MG_DB`: the database detection reads and writes.
    pub db: Option<String>,
    /// `MG_CA_CERT`: checked readable at load time; TLS is on when it is set.
    pub ca_cert: Option<PathBuf>,
    /// `MG_VERIFY_CERT`: `true` means the server certificate IS verified.
    pub verify_cert: bool,
    /// `MG_INPUT_DB`: aggregation input.
    pub input_db: Option<String>,
    /// `MG_TARGET_DB`: aggregation output (defaults to `MG_INPUT_DB`).
    pub target_db: Option<String>,
}

/// Elasticsearch/OpenSearch settings (`ES_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EsSettings {
    /// `ES_ENDPOINT` as written (a secret: it may hold `user:password@`).
    pub endpoint: Option<Secret>,
    /// `ES_USE_SSL`: the scheme of an endpoint written without one (`https` when true).
    pub use_ssl: bool,
    /// `ES_USER` (wins over a user in the endpoint URL).
    pub user: Option<String>,
    /// `ES_PASSWORD`.
    pub password: Option<Secret>,
    /// `ES_API_KEY`: base64 `id:key`, wins over basic auth.
    pub api_key: Option<Secret>,
    /// `ES_CA_CERT`: checked readable at load time.
    pub ca_cert: Option<PathBuf>,
    /// `ES_CERT_DIR`: holds `es.crt` and `es.key` (the client certificate); checked at load time.
    pub cert_dir: Option<PathBuf>,
    /// `ES_VERIFY_CERTS`: `true` means the server certificate IS verified.
    pub verify_certs: bool,
    /// `ES_INPUT_INDEX`: the old system's daily indices (this + `YYYY.MM.DD`); a source.
    pub input_index: Option<String>,
    /// `ES_TARGET_INDEX`: verdicts are also written there as new documents.
    pub target_index: Option<String>,
    /// `ES_QUERY`: a `query_string` filter on every read of records.
    pub query: Option<String>,
    /// `ES_VERSION`: the major version the config names (compared with the server's).
    pub version: Option<u32>,
    /// `ES_TIMEOUT`: limit of one request.
    pub timeout: Duration,
    /// `ES_CONNECT_TIMEOUT`: limit of opening a connection.
    pub connect_timeout: Duration,
    /// `ES_STATE_INDEX`: lad's own index (aggregate targets, feedback).
    pub state_index: String,
    /// `ES_INCIDENT_INDEX`: lad's index of incidents and their links to anomalies.
    pub incident_index: String,
    /// `ES_AGGREGATE_INDEX`: where aggregates of every source go.
    pub aggregate_index: String,
}

/// Kafka settings (`KF_*`), for the `kafka` source and sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSettings {
    /// `KF_BOOTSTRAP_SERVER`: `host:port[,host:port...]` (default `localhost:9092`).
    pub bootstrap_server: String,
    /// `KF_TOPIC`: the verdict topic (default `lad-verdicts`).
    pub topic: String,
    /// `KF_CACERT`: CA file to verify the brokers (checked readable at load time).
    pub ca_cert: Option<PathBuf>,
    /// `KF_SECURITY_PROTOCOL` (default `ssl` when `KF_CACERT` is set, else `plaintext`).
    pub security_protocol: KafkaProtocol,
    /// `KF_SASL_MECHANISM` (`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`).
    pub sasl_mechanism: Option<String>,
    /// `KF_SASL_USERNAME`.
    pub sasl_username: Option<String>,
    /// `KF_SASL_PASSWORD`.
    pub sasl_password: Option<Secret>,
    /// `KF_GROUP_ID`: the consumer group of the scoring instances (default `lad`).
    pub group_id: String,
    /// `KF_VERDICTS`: `anomalies` (default) or `all`.
    pub verdicts: KafkaVerdicts,
    /// `KF_DEAD_LETTER_TOPIC`: where malformed input records go (default `lad-dead-letter`).
    pub dead_letter_topic: String,
    /// `KF_AGGREGATES_TOPIC`: where aggregates go (default `lad-aggregates`).
    pub aggregates_topic: String,
    /// `KF_LIBRDKAFKA_OPTIONS`: librdkafka properties for every client, applied last.
    pub librdkafka_options: BTreeMap<String, String>,
}

/// One MySQL endpoint (`MYSQL_INPUT_*` or `MYSQL_TARGET_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlEndpoint {
    /// `..._HOST`.
    pub host: String,
    /// `..._PORT`.
    pub port: u16,
    /// `..._DB`.
    pub db: Option<String>,
    /// `..._USER`.
    pub user: Option<String>,
    /// `..._PASSWORD`.
    pub password: Option<Secret>,
    /// `..._TABLE`.
    pub table: Option<String>,
    /// `..._TABLES`: aggregation, paired with the other endpoint's list.
    pub tables: Vec<String>,
}

/// An aggregation pair: anomalies of `input` are grouped into `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregationTarget {
    /// Input collection or table.
    pub input: String,
    /// Target collection or table.
    pub target: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timezone_spellings() {
        for (text, shown) in [
            ("UTC", "UTC"),
            ("utc", "UTC"),
            ("Z", "UTC"),
            ("Etc/UTC", "UTC"),
            ("+03:00", "+03:00"),
            ("UTC+3", "+03:00"),
            ("-0530", "-05:30"),
            ("GMT-2", "-02:00"),
        ] {
            let tz = Timezone::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(tz.to_string(), shown, "{text}");
        }
        for bad in [
            "Europe/Minsk",
            "+24:00",
            "+03:60",
            "+-1",
            "+",
            "3",
            "+aé1",
            "+3:00:00",
        ] {
            assert!(Timezone::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** Secret(***)");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn named_enums_round_trip() {
        for name in SinkKind::NAMES {
            let kind: SinkKind = name.parse().expect("listed names parse");
            assert_eq!(kind.as_str(), *name);
        }
        assert_eq!("MG".parse::<SourceKind>(), Ok(SourceKind::Mongo));
        assert!("stdout".parse::<SourceKind>().is_err());
    }
}
