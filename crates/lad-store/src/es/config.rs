//! Settings of the `es` backend: [`EsConfig`] (the `ES_*` keys) and [`parse_endpoint`], which
//! reads `ES_ENDPOINT` as the old system wrote it (with or without a scheme, credentials in the
//! URL allowed). Opens no connection.

use super::*;

/// Settings of the `es` backend (the `ES_*` keys).
#[derive(Clone, PartialEq, Eq)]
pub struct EsConfig {
    /// `scheme://host:port[/path]` without credentials, no trailing slash.
    pub endpoint: String,
    /// Basic-auth user (`ES_USER`, or from the URL of `ES_ENDPOINT`).
    pub user: Option<String>,
    /// Basic-auth password (`ES_PASSWORD`, or from the URL).
    pub password: Option<String>,
    /// `ES_API_KEY`: the base64 `id:key` of an API key, sent as `Authorization: ApiKey ..`;
    /// wins over basic auth.
    pub api_key: Option<String>,
    /// `ES_CA_CERT`: PEM file of the CA that signed the server certificate; `None`: the bundled
    /// web PKI roots.
    pub ca_cert: Option<PathBuf>,
    /// `ES_CERT_DIR`: folder with `es.crt` and `es.key`, the client certificate (as the old
    /// system read them).
    pub cert_dir: Option<PathBuf>,
    /// `ES_VERIFY_CERTS`; default true: the server certificate IS verified.
    pub verify_certs: bool,
    /// `ES_CONNECT_TIMEOUT`; default 5 s.
    pub connect_timeout: Duration,
    /// `ES_TIMEOUT`: the limit of one request, reply included; default 60 s.
    pub request_timeout: Duration,
    /// Retries of transient failures (connection refused, 429, 502-504).
    pub retry: RetryPolicy,
    /// Sources read as the old system did: `source` + `YYYY.MM.DD`, one index per day
    /// (`ES_INPUT_INDEX`). A training window reads the daily indices it covers; other reads
    /// use `source*`.
    pub daily_sources: Vec<String>,
    /// `ES_QUERY`: a `query_string` query every read of records is filtered by.
    pub query: Option<String>,
    /// `ES_TARGET_INDEX`: verdicts are also written there as new documents (the old system's
    /// output), `_id` = the record's id; the source documents still get their verdict.
    pub target_index: Option<String>,
    /// `ES_STATE_INDEX`: lad's own index (aggregate targets, feedback); default `lad-state`.
    pub state_index: String,
    /// `ES_INCIDENT_INDEX`: lad's index of incidents and the links of anomalies to them;
    /// default `lad-incidents`.
    pub incident_index: String,
    /// `ES_VERSION`: the major version the old config named; only compared with what the
    /// server reports (a notice when they differ).
    pub version: Option<u32>,
    /// Field names of the documents (`*_INDEX`); dotted names reach into objects.
    pub fields: FieldNames,
}

impl fmt::Debug for EsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the password or the API key.
        f.debug_struct("EsConfig")
            .field("endpoint", &self.endpoint)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("ca_cert", &self.ca_cert)
            .field("cert_dir", &self.cert_dir)
            .field("verify_certs", &self.verify_certs)
            .field("daily_sources", &self.daily_sources)
            .field("query", &self.query)
            .field("target_index", &self.target_index)
            .field("state_index", &self.state_index)
            .field("incident_index", &self.incident_index)
            .finish_non_exhaustive()
    }
}

impl Default for EsConfig {
    fn default() -> Self {
        EsConfig {
            endpoint: "http://localhost:9200".into(),
            user: None,
            password: None,
            api_key: None,
            ca_cert: None,
            cert_dir: None,
            verify_certs: true,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(60),
            retry: RetryPolicy::DEFAULT,
            daily_sources: Vec::new(),
            query: None,
            target_index: None,
            state_index: "lad-state".into(),
            incident_index: "lad-incidents".into(),
            version: None,
            fields: FieldNames::default(),
        }
    }
}

/// `ES_ENDPOINT` split into the URL lad sends to and the credentials it held: a missing scheme
/// is `https` when `use_ssl` (`ES_USE_SSL`) and `http` otherwise; `user:password@` is taken out
/// (percent-decoded) so that no message ever shows it.
pub fn parse_endpoint(
    text: &str,
    use_ssl: bool,
) -> Result<(String, Option<String>, Option<String>), String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("ES_ENDPOINT is empty: give host:port or a URL".into());
    }
    let (scheme, rest) = match text.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => ((if use_ssl { "https" } else { "http" }).to_owned(), text),
    };
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "ES_ENDPOINT has the scheme {scheme:?}; expected http or https"
        ));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    let (credentials, host) = match authority.rsplit_once('@') {
        Some((c, h)) => (Some(c), h),
        None => (None, authority),
    };
    if host.is_empty() {
        return Err("ES_ENDPOINT names no host".into());
    }
    let (user, password) = match credentials {
        Some(c) => {
            let (u, p) = match c.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (c, None),
            };
            (Some(percent_decode(u)?), p.map(percent_decode).transpose()?)
        }
        None => (None, None),
    };
    // The old system's default port was 9200; keep it when none is given.
    let host = if host.starts_with('[') {
        if host.contains("]:") {
            host.to_owned()
        } else {
            format!("{host}:9200")
        }
    } else if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:9200")
    };
    Ok((format!("{scheme}://{host}{path}"), user, password))
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("ES_ENDPOINT: a % in the credentials is not followed by two hex digits")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "ES_ENDPOINT: the credentials are not UTF-8".to_owned())
}

pub(super) fn config_error(reason: impl Into<String>) -> StoreError {
    StoreError::Config {
        backend: BACKEND,
        reason: reason.into(),
    }
}

/// The TLS settings of the client: CA file, client certificate, verification; every file is
/// read and checked here so a bad one is named before any handshake.
pub(super) fn tls_config(config: &EsConfig) -> Result<TlsConfig, StoreError> {
    let mut tls = TlsConfig::builder().disable_verification(!config.verify_certs);
    if let Some(ca) = &config.ca_cert {
        let pem = std::fs::read(ca).map_err(|e| {
            config_error(format!(
                "cannot read the CA file ES_CA_CERT {}: {e}",
                ca.display()
            ))
        })?;
        let certs = certificates(&pem)
            .map_err(|e| config_error(format!("the CA file ES_CA_CERT {}: {e}", ca.display())))?;
        tls = tls.root_certs(RootCerts::new_with_certs(&certs));
    }
    if let Some(dir) = &config.cert_dir {
        let (crt, key) = (dir.join("es.crt"), dir.join("es.key"));
        let read = |p: &PathBuf| {
            std::fs::read(p).map_err(|e| {
                config_error(format!(
                    "cannot read the client certificate file {} (ES_CERT_DIR): {e}",
                    p.display()
                ))
            })
        };
        let chain = certificates(&read(&crt)?)
            .map_err(|e| config_error(format!("{} (ES_CERT_DIR): {e}", crt.display())))?;
        let key_pem = read(&key)?;
        let key = PrivateKey::from_pem(&key_pem).map_err(|e| {
            config_error(format!(
                "{} (ES_CERT_DIR) holds no PEM private key: {e}",
                key.display()
            ))
        })?;
        tls = tls.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
    }
    Ok(tls.build())
}

/// Every PEM certificate of a file; an error when there is none.
fn certificates(pem: &[u8]) -> Result<Vec<Certificate<'static>>, String> {
    let mut out = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        if let ureq::tls::PemItem::Certificate(c) = item.map_err(|e| e.to_string())? {
            out.push(c);
        }
    }
    if out.is_empty() {
        return Err("holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_of_old_configs() {
        assert_eq!(
            parse_endpoint("es.local", false),
            Ok(("http://es.local:9200".into(), None, None))
        );
        assert_eq!(
            parse_endpoint("es.local:9201", true),
            Ok(("https://es.local:9201".into(), None, None))
        );
        assert_eq!(
            parse_endpoint("https://u%40x:p%3Aw@es:443/prefix/", false),
            Ok((
                "https://es:443/prefix".into(),
                Some("u@x".into()),
                Some("p:w".into())
            ))
        );
        assert!(parse_endpoint("ftp://x", false).is_err());
        assert!(parse_endpoint("", false).is_err());
        assert!(parse_endpoint("http://u:%zz@h", false).is_err());
    }
}
