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
        ErrorKind::ServerSelection { message, .. } => StoreError::Unavailable {
            backend: BACKEND,
            address: address.to_owned(),
            operation,
            reason: format!(
                "no usable server within {:?}{tls_note}: {}",
                config.server_selection_timeout,
                server_selection_reason(message)
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
/// What the servers answered, out of the driver's server-selection message: that message is a
/// dump of the whole topology (`Topology: { Type: Unknown, Servers: [ { Address: ..., Error:
/// Kind: I/O error: Connection refused (os error 111), labels: {...} } ] }`) whose label sets
/// come in a random order, so the same outage would read differently each time. Keeps each
/// server's error once (`I/O error: Connection refused (os error 111)`), or the message's head
/// when no server has answered yet.
pub(super) fn server_selection_reason(message: &str) -> String {
    let mut errors: Vec<String> = Vec::new();
    for part in message.split("Error: ").skip(1) {
        let end = [", labels:", " }", ", Average RTT"]
            .iter()
            .filter_map(|stop| part.find(stop))
            .min()
            .unwrap_or(part.len());
        let text = part[..end].trim();
        let text = text.strip_prefix("Kind: ").unwrap_or(text).to_owned();
        if !text.is_empty() && !errors.contains(&text) {
            errors.push(text);
        }
    }
    if errors.is_empty() {
        let head = message.split(". Topology:").next().unwrap_or(message);
        return head.trim().to_owned();
    }
    errors.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_selection_dumps_become_the_servers_errors() {
        let dump = "Server selection timeout: No available servers. Topology: { Type: Unknown, \
                    Servers: [ { Address: 127.0.0.1:1, Type: Unknown, Error: Kind: I/O error: \
                    Connection refused (os error 111), labels: {\"SystemOverloadedError\", \
                    \"RetryableError\"} } ] }, labels: {}";
        assert_eq!(
            server_selection_reason(dump),
            "I/O error: Connection refused (os error 111)"
        );
        assert_eq!(
            server_selection_reason(
                "Server selection timeout: No available servers. Topology: { Type: Unknown, \
                 Servers: [ { Address: a:1, Type: Unknown } ] }"
            ),
            "Server selection timeout: No available servers"
        );
    }
}
