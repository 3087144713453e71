//! Settings of the `mysql` backend: [`MysqlConfig`] with its two [`MysqlEndpoint`]s (input and
//! target, possibly one server), [`MysqlTls`], and [`validate_identifier`], the check every
//! configured table or column name passes before it reaches SQL text. Opens no connection.

use super::*;

/// TLS policy of a connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MysqlTls {
    /// Use TLS when the server offers it (the default).
    #[default]
    Preferred,
    /// Fail unless the connection is encrypted (the certificate is not checked).
    Required,
    /// Encrypt and verify the server certificate against `ca_cert` (or the web PKI roots).
    VerifyCa,
    /// As `VerifyCa`, and the certificate must name the host.
    VerifyIdentity,
    /// Never use TLS.
    Disabled,
}

/// One server connection: the input (`MYSQL_INPUT_*`) or the target (`MYSQL_TARGET_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlEndpoint {
    /// Host name or address (`MYSQL_*_HOST`, default `localhost`).
    pub host: String,
    /// TCP port (`MYSQL_*_PORT`, default 3306).
    pub port: u16,
    /// Database (`MYSQL_*_DB`).
    pub database: String,
    /// User (`MYSQL_*_USER`, default `root`).
    pub user: String,
    /// Password (`MYSQL_*_PASSWORD`); `None` for none.
    pub password: Option<String>,
    /// TLS policy.
    pub tls: MysqlTls,
    /// CA certificate file for `VerifyCa` / `VerifyIdentity`.
    pub ca_cert: Option<PathBuf>,
}

impl MysqlEndpoint {
    /// An endpoint with the defaults: `localhost:3306`, user `root`, no password, TLS preferred.
    pub fn new(database: &str) -> MysqlEndpoint {
        MysqlEndpoint {
            host: "localhost".into(),
            port: 3306,
            database: database.into(),
            user: "root".into(),
            password: None,
            tls: MysqlTls::Preferred,
            ca_cert: None,
        }
    }

    /// `host:port/database`, as errors name it.
    pub fn address(&self) -> String {
        format!("{}:{}/{}", self.host, self.port, self.database)
    }

    pub(super) fn options(&self, with_database: bool) -> MySqlConnectOptions {
        let mut o = MySqlConnectOptions::new()
            .host(&self.host)
            .port(self.port)
            .username(&self.user)
            .timezone(Some("+00:00".to_owned()))
            .charset("utf8mb4")
            .ssl_mode(match self.tls {
                MysqlTls::Preferred => MySqlSslMode::Preferred,
                MysqlTls::Required => MySqlSslMode::Required,
                MysqlTls::VerifyCa => MySqlSslMode::VerifyCa,
                MysqlTls::VerifyIdentity => MySqlSslMode::VerifyIdentity,
                MysqlTls::Disabled => MySqlSslMode::Disabled,
            });
        if let Some(p) = &self.password {
            o = o.password(p);
        }
        if let Some(ca) = &self.ca_cert {
            o = o.ssl_ca(ca);
        }
        if with_database {
            o = o.database(&self.database);
        }
        o
    }
}

/// Settings of the `mysql` backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlConfig {
    /// Where the input tables are (`MYSQL_INPUT_*`).
    pub input: MysqlEndpoint,
    /// Where anomalies, aggregates and lad's bookkeeping go (`MYSQL_TARGET_*`); may equal `input`.
    pub target: MysqlEndpoint,
    /// Column names of message, time and host in the input tables (`*_INDEX`).
    pub fields: FieldNames,
    /// Anomaly table per source (`LOG_SOURCES.<source>.MYSQL_TARGET_TABLE`, or `MYSQL_TARGET_TABLE`);
    /// a source not listed uses `<source>_anomalies`.
    pub anomaly_tables: BTreeMap<String, String>,
    /// The configured sources (input tables), listed by `list_sources` even before any row is read.
    pub sources: Vec<String>,
    /// Aggregation inputs (`MYSQL_INPUT_TABLES`): sources, or anomaly tables as an old
    /// `aggregator.yaml` names them; anomaly tables among them are migrated or extended on open.
    pub aggregation_inputs: Vec<String>,
}

/// Checks that a configured table or column name is a plain identifier
/// (`^[A-Za-z_][A-Za-z0-9_$]{0,63}$`); `key` names the config key in the error.
pub fn validate_identifier(name: &str, key: &str) -> Result<(), StoreError> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if first_ok && rest_ok && name.len() <= 64 {
        Ok(())
    } else {
        Err(StoreError::Config {
            backend: BACKEND,
            reason: format!(
                "{key} is {name:?}, expected a table or column name: a letter or '_' then up to 63 \
                 letters, digits, '_' or '$'"
            ),
        })
    }
}
