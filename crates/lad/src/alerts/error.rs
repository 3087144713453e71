//! The alerter's errors: starting it (outbox folder and file, threads) and one delivery
//! attempt, which is either transient (retried) or permanent (the notice is dropped).

use std::path::PathBuf;

/// Why the alerter could not start, or why a delivery attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// The outbox folder or file could not be read or written.
    #[error("alert outbox {}: {source}", path.display())]
    Outbox {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The outbox file is not one lad wrote.
    #[error("alert outbox {} is unreadable ({reason}); move it away to start with an empty queue", path.display())]
    BadOutbox {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// A receiver thread could not be started.
    #[error("starting an alert sender thread: {0}")]
    Thread(std::io::Error),
    /// The receiver could not be reached or answered with a status worth retrying.
    #[error("{receiver} at {url}: {reason} (will retry)")]
    Transient {
        /// The receiver kind.
        receiver: &'static str,
        /// Where it was posted.
        url: String,
        /// What happened.
        reason: String,
    },
    /// The receiver refused the notice for good (a 4xx other than 408 and 429).
    #[error("{receiver} at {url} refused the alert: {reason}")]
    Refused {
        /// The receiver kind.
        receiver: &'static str,
        /// Where it was posted.
        url: String,
        /// The status and the start of the answer.
        reason: String,
    },
}
