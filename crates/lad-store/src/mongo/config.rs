//! Settings of the `mg` backend: [`MongoConfig`] (the `MG_*` keys) and the checks made before the
//! driver sees them (a CA file that holds a certificate). Opens no connection.

use super::*;

/// Settings of the `mg` backend (the `MG_*` keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MongoConfig {
    /// `MG_HOST`; default `localhost`.
    pub host: String,
    /// `MG_PORT`; default 27017.
    pub port: u16,
    /// `MG_USER`: SCRAM user name, given as is (the driver gets it as a field, not inside a URL,
    /// so `@`, `:` and `/` need no escaping).
    pub user: Option<String>,
    /// `MG_PASSWORD`, as is.
    pub password: Option<String>,
    /// The database holding the user; `None`: `admin`.
    pub auth_source: Option<String>,
    /// The database of the log collections: `MG_DB` (detection) or `MG_INPUT_DB` (aggregation).
    pub db: String,
    /// `MG_TARGET_DB`, where aggregates go; `None`: `db`.
    pub target_db: Option<String>,
    /// Connect with TLS; set it when `MG_CA_CERT` is given.
    pub tls: bool,
    /// `MG_CA_CERT`: PEM file of the CA that signed the server certificate; `None`: the bundled
    /// web PKI roots.
    pub ca_cert: Option<PathBuf>,
    /// `MG_VERIFY_CERT`; default true: the server certificate IS verified. False accepts any
    /// certificate and host name (encrypted, not authenticated).
    pub verify_cert: bool,
    /// Limit for opening one TCP/TLS connection; default 5 s.
    pub connect_timeout: Duration,
    /// How long an operation waits for a usable server before failing with
    /// [`StoreError::Unavailable`]; default 5 s.
    pub server_selection_timeout: Duration,
    /// Field names of the documents (`*_INDEX`).
    pub fields: FieldNames,
    /// Create the indexes the reads need when missing (and permitted); default true.
    pub create_indexes: bool,
}

impl Default for MongoConfig {
    fn default() -> Self {
        MongoConfig {
            host: "localhost".into(),
            port: 27017,
            user: None,
            password: None,
            auth_source: None,
            db: String::new(),
            target_db: None,
            tls: false,
            ca_cert: None,
            verify_cert: true,
            connect_timeout: Duration::from_secs(5),
            server_selection_timeout: Duration::from_secs(5),
            fields: FieldNames::default(),
            create_indexes: true,
        }
    }
}

impl MongoConfig {
    /// `host:port`, as errors name the server.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

pub(super) fn config_error(reason: &str) -> StoreError {
    StoreError::Config {
        backend: BACKEND,
        reason: reason.to_owned(),
    }
}

/// Refuses a CA file that cannot be read or holds no PEM certificate, naming it, before the driver
/// turns the problem into a vague handshake failure.
pub(super) fn check_ca_file(path: &PathBuf) -> Result<(), StoreError> {
    let text = std::fs::read(path).map_err(|e| StoreError::Config {
        backend: BACKEND,
        reason: format!("cannot read the CA file MG_CA_CERT {}: {e}", path.display()),
    })?;
    if !text
        .windows(b"BEGIN CERTIFICATE".len())
        .any(|w| w == b"BEGIN CERTIFICATE")
    {
        return Err(StoreError::Config {
            backend: BACKEND,
            reason: format!(
                "the CA file MG_CA_CERT {} holds no PEM certificate (expected \
                 -----BEGIN CERTIFICATE-----)",
                path.display()
            ),
        });
    }
    Ok(())
}
