//! Error mapping of the `mg` backend: a driver error becomes a [`StoreError`], transient when no
//! server is usable or the driver labels it retryable, with the TLS settings named when they may
//! be the cause. This backend does not retry by itself.

use super::*;

/// Turns a driver error into a [`StoreError`]: no usable server is [`StoreError::Unavailable`]
/// (transient); TLS failures say which CA file was used.
pub(super) fn classify(
    e: MongoError,
    address: &str,
    config: &MongoConfig,
    operation: &'static str,
) -> StoreError {
    let tls_note = match (&config.ca_cert, config.tls || config.ca_cert.is_some()) {
        (Some(ca), _) => format!(
            " (TLS, server certificate {} against the CA file MG_CA_CERT {})",
            if config.verify_cert {
                "verified"
            } else {
                "NOT verified"
            },
            ca.display()
        ),
        (None, true) => " (TLS)".to_owned(),
        (None, false) => String::new(),
    };
    match e.kind.as_ref() {
        ErrorKind::ServerSelection { .. } => StoreError::Unavailable {
            backend: BACKEND,
            address: address.to_owned(),
            operation,
            reason: format!(
                "no usable server within {:?}{tls_note}: {e}",
                config.server_selection_timeout
            ),
        },
        ErrorKind::Authentication { .. } => StoreError::driver(
            BACKEND,
            format!(
                "{address} as user {:?}",
                config.user.as_deref().unwrap_or("")
            ),
            operation,
            false,
            e,
        ),
        _ => {
            let transient = matches!(
                e.kind.as_ref(),
                ErrorKind::Io(_) | ErrorKind::ConnectionPoolCleared { .. }
            ) || e.contains_label("RetryableWriteError")
                || e.contains_label("TransientTransactionError");
            if transient {
                StoreError::Unavailable {
                    backend: BACKEND,
                    address: address.to_owned(),
                    operation,
                    reason: format!("{e}{tls_note}"),
                }
            } else {
                StoreError::driver(BACKEND, address, operation, false, e)
            }
        }
    }
}
