//! The one error type of `lad-store`, [`StoreError`]. Every variant names the backend and, where
//! it applies, the file or table and the record id, so a message read in a log says where to look.
//! Every error says whether trying again may succeed ([`StoreError::is_transient`]); driver
//! errors are boxed inside [`StoreError::Driver`], so no driver type leaks into the API and a
//! build without a driver feature has the same type. This module owns no I/O; how a retry is
//! done is [`crate::retry`]'s business.

use std::path::PathBuf;

/// What went wrong in a store, and where.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A driver call failed (SQLite, MySQL, MongoDB): the file is unreadable or locked, a
    /// statement was refused, a right is missing, a table has the wrong shape. The driver's own
    /// error is boxed, so no driver type is part of this API and a build without a driver still
    /// has the same error type.
    #[error("{backend} store {location}: {operation} failed: {source}")]
    Driver {
        /// The backend name.
        backend: &'static str,
        /// Where: the database file, or `host:port/database` of the server (and the user, for
        /// authentication failures).
        location: String,
        /// What the store was doing, e.g. "write verdicts".
        operation: &'static str,
        /// Whether trying again later may succeed (a lock, a failover); see
        /// [`StoreError::is_transient`].
        transient: bool,
        /// The driver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The database was written by a newer `lad` whose schema this one does not know.
    #[error(
        "sqlite store {path}: schema version {found} is newer than the {supported} this lad supports; \
         upgrade lad or point SQLITE_PATH at another file"
    )]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// The version found in the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// A file of the `local` backend could not be read or written.
    #[error("{backend} store: cannot {operation} {path}: {source}")]
    Io {
        /// The backend name.
        backend: &'static str,
        /// What the store was doing, e.g. "read input file".
        operation: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The backend does not offer this operation (e.g. reading from the `stdout` sink).
    #[error("{backend} store: {operation} is not supported by this backend")]
    Unsupported {
        /// The backend name.
        backend: &'static str,
        /// The operation asked for.
        operation: &'static str,
    },
    /// A caller passed something the store cannot accept (an id of another backend, a NaN score).
    #[error("{backend} store: {operation}: record {id}: {reason}")]
    InvalidRecord {
        /// The backend name.
        backend: &'static str,
        /// The operation asked for.
        operation: &'static str,
        /// The record id as text.
        id: String,
        /// What was expected and what was found.
        reason: String,
    },
    /// Stored state could not be understood (a corrupt state file, a broken line in it).
    #[error("{backend} store: {location}: {reason}")]
    Corrupt {
        /// The backend name.
        backend: &'static str,
        /// File and line, or table.
        location: String,
        /// What was expected and what was found.
        reason: String,
    },
    /// No usable server: it is down, unreachable, or refuses the TLS handshake. Transient: the
    /// daemon retries with backoff.
    #[error("{backend} store: cannot {operation}: server {address} unavailable: {reason}")]
    Unavailable {
        /// The backend name.
        backend: &'static str,
        /// `host:port`.
        address: String,
        /// What the store was doing, e.g. "read records".
        operation: &'static str,
        /// The driver's account of it.
        reason: String,
    },
    /// The configuration handed to `open` cannot work (e.g. an input path that does not exist).
    #[error("{backend} store: invalid configuration: {reason}")]
    Config {
        /// The backend name.
        backend: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl StoreError {
    /// A driver failure ([`StoreError::Driver`]), boxing the driver's error.
    pub(crate) fn driver(
        backend: &'static str,
        location: impl Into<String>,
        operation: &'static str,
        transient: bool,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> StoreError {
        StoreError::Driver {
            backend,
            location: location.into(),
            operation,
            transient,
            source: Box::new(source),
        }
    }

    /// A record the caller passed that the store cannot accept ([`StoreError::InvalidRecord`]).
    pub(crate) fn invalid_record(
        backend: &'static str,
        id: &crate::RecordId,
        operation: &'static str,
        reason: String,
    ) -> StoreError {
        StoreError::InvalidRecord {
            backend,
            operation,
            id: id.to_string(),
            reason,
        }
    }

    /// The answer of a backend asked for a role it does not have (reading from `stdout`).
    pub(crate) fn unsupported(backend: &'static str, operation: &'static str) -> StoreError {
        StoreError::Unsupported { backend, operation }
    }

    /// True when the error says the operation is not offered by the backend (as opposed to failing).
    pub fn is_unsupported(&self) -> bool {
        matches!(self, StoreError::Unsupported { .. })
    }

    /// True when trying again later may succeed (a server away or restarting), so the daemon
    /// should back off and retry rather than stop.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable { .. }
                | StoreError::Driver {
                    transient: true,
                    ..
                }
        )
    }
}
