//! Error mapping of the `es` backend: an HTTP failure becomes a [`StoreError`] that names the
//! endpoint (never the password or API key), the index and what the server said. No server
//! reachable, 429 and 502-504 are transient ([`StoreError::Unavailable`] or a transient
//! [`StoreError::Driver`]); 401, 403, a missing index and a mapping conflict are not, and say
//! what to check.

use super::*;

/// What went wrong in one request, boxed inside [`StoreError::Driver`].
#[derive(Debug, thiserror::Error)]
pub enum EsError {
    /// The server answered with an error status.
    #[error("{method} {path}: HTTP {status}: {kind}: {reason}{hint}")]
    Status {
        /// The request method.
        method: &'static str,
        /// The request path (index names included, no credentials).
        path: String,
        /// The HTTP status.
        status: u16,
        /// The error type the server named (`index_not_found_exception`, ...).
        kind: String,
        /// The server's reason.
        reason: String,
        /// What to check, for the statuses lad knows.
        hint: String,
    },
    /// The reply could not be read as the JSON lad expects.
    #[error("{method} {path}: unexpected reply: {reason}")]
    Reply {
        /// The request method.
        method: &'static str,
        /// The request path.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// Some items of a `_bulk` request were refused.
    #[error("_bulk on {index}: {count} item(s) refused, the first (document {id}): HTTP {status}: {kind}: {reason}{hint}")]
    Bulk {
        /// The index of the first refused item.
        index: String,
        /// Its id.
        id: String,
        /// How many items were refused.
        count: usize,
        /// Its status.
        status: u16,
        /// Its error type.
        kind: String,
        /// Its reason.
        reason: String,
        /// What to check.
        hint: String,
    },
}

/// What to check for a status and error type, as a suffix of the message.
pub(super) fn hint(status: u16, kind: &str, config: &EsConfig) -> String {
    let who = match (&config.api_key, &config.user) {
        (Some(_), _) => "the API key (ES_API_KEY)".to_owned(),
        (None, Some(u)) => format!("user {u:?}"),
        (None, None) => "no credentials (set ES_USER and ES_PASSWORD, or ES_API_KEY)".to_owned(),
    };
    match (status, kind) {
        (401, _) => format!(" (authentication failed for {who}: check the credentials)"),
        (403, _) => format!(" (permission denied for {who}: the role needs read, write and create_index on the indices lad uses)"),
        (404, "index_not_found_exception") => {
            " (the index does not exist: check LOG_SOURCES / ES_INPUT_INDEX)".to_owned()
        }
        (_, "mapper_parsing_exception" | "illegal_argument_exception" | "document_parsing_exception")
        | (_, "strict_dynamic_mapping_exception") => {
            " (a mapping conflict: the index maps a field lad writes or reads (is_anomaly: integer, anomaly_score: double, aggregated_message_id and lad_malformed: keyword, the time: date, the host: keyword) to another type)".to_owned()
        }
        (429, _) => " (the cluster is overloaded; lad slows down and retries)".to_owned(),
        _ => String::new(),
    }
}

/// Whether an HTTP status may pass when tried again later.
pub(super) fn transient_status(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

impl EsStore {
    /// The error of a request that got no HTTP answer: transient ([`StoreError::Unavailable`]).
    pub(super) fn transport_error(&self, operation: &'static str, e: &ureq::Error) -> StoreError {
        let tls = if self.config.endpoint.starts_with("https") {
            format!(
                " (TLS, server certificate {}{})",
                if self.config.verify_certs {
                    "verified"
                } else {
                    "NOT verified"
                },
                self.config
                    .ca_cert
                    .as_ref()
                    .map(|c| format!(" against the CA file ES_CA_CERT {}", c.display()))
                    .unwrap_or_default()
            )
        } else {
            String::new()
        };
        StoreError::Unavailable {
            backend: BACKEND,
            address: self.config.endpoint.clone(),
            operation,
            reason: format!("{e}{tls}"),
        }
    }

    /// A failure with an HTTP answer or an unreadable reply.
    pub(super) fn driver_error(&self, operation: &'static str, e: EsError) -> StoreError {
        let transient = match &e {
            EsError::Status { status, .. } | EsError::Bulk { status, .. } => {
                transient_status(*status)
            }
            EsError::Reply { .. } => false,
        };
        StoreError::driver(
            BACKEND,
            self.config.endpoint.clone(),
            operation,
            transient,
            e,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_name_the_credentials_never_the_secret() {
        let config = EsConfig {
            user: Some("lad".into()),
            password: Some("hunter2".into()),
            ..EsConfig::default()
        };
        let h401 = hint(401, "security_exception", &config);
        assert!(
            h401.contains("user \"lad\"") && !h401.contains("hunter2"),
            "{h401}"
        );
        let h403 = hint(403, "security_exception", &config);
        assert!(h403.contains("permission denied"), "{h403}");
        let keyed = EsConfig {
            api_key: Some("c2VjcmV0".into()),
            ..EsConfig::default()
        };
        let h = hint(401, "", &keyed);
        assert!(h.contains("ES_API_KEY") && !h.contains("c2VjcmV0"), "{h}");
        assert!(hint(404, "index_not_found_exception", &config).contains("does not exist"));
        assert!(hint(400, "mapper_parsing_exception", &config).contains("mapping conflict"));
        assert!(hint(429, "es_rejected_execution_exception", &config).contains("slows down"));
        assert!(transient_status(429) && transient_status(503) && !transient_status(403));
    }
}
