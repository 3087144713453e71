//! Error mapping of the `mysql` backend: which side failed ([`Fail`]), which driver errors are
//! transient (a lost connection, a deadlock, a lock wait), and how a failure becomes a
//! [`StoreError`]. Retrying is [`crate::retry`]'s business.

use super::*;

/// What failed inside an operation, before it is turned into a [`StoreError`].
pub(super) enum Fail {
    Input(sqlx::Error),
    Target(sqlx::Error),
    Store(StoreError),
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

pub(super) fn is_transient_sql(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => d
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            // Lock wait timeout, deadlock, too many connections, server shutdown, gone away,
            // lost connection, connection killed.
            .is_some_and(|m| {
                matches!(
                    m.number(),
                    1205 | 1213 | 1040 | 1053 | 2006 | 2013 | 1927 | 4031
                )
            }),
        _ => false,
    }
}

impl Fail {
    pub(super) fn is_transient(&self) -> bool {
        match self {
            Fail::Input(e) | Fail::Target(e) => is_transient_sql(e),
            Fail::Store(_) => false,
        }
    }
}

impl Ctx {
    pub(super) fn error(&self, operation: &'static str, fail: Fail) -> StoreError {
        let (endpoint, source) = match fail {
            Fail::Store(e) => return e,
            Fail::Input(e) => (&self.config.input, e),
            Fail::Target(e) => (&self.config.target, e),
        };
        if is_transient_sql(&source) {
            StoreError::Unavailable {
                backend: BACKEND,
                address: endpoint.address(),
                operation,
                reason: format!("{source} (retried {} times)", RETRY.retries),
            }
        } else {
            StoreError::driver(BACKEND, endpoint.address(), operation, false, source)
        }
    }
}
