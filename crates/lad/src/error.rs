//! The kinds of failure a command ends with, and their exit codes: [`UsageError`] for what the
//! user typed or configured (exit 2), a reader that closed standard output (exit 0, quietly),
//! anything else is a failure (exit 1). Every module may
//! raise a [`UsageError`]; this module depends on no other module of the crate, so no import
//! circle can start here.

/// A usage or configuration error: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// How a failure maps to an exit code.
#[derive(Debug, PartialEq, Eq)]
pub enum ExitKind {
    /// Usage or configuration: 2.
    Usage,
    /// Anything else: 1.
    Failure,
    /// Standard output was closed by its reader (a broken pipe, as with `| head`): the command
    /// stops quietly with 0, as Unix tools do.
    ReaderGone,
}

impl ExitKind {
    /// Classifies an error returned by a command.
    pub fn of(err: &anyhow::Error) -> ExitKind {
        if err.chain().any(|e| e.is::<UsageError>()) {
            ExitKind::Usage
        } else if err.chain().any(|e| {
            e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        }) {
            ExitKind::ReaderGone
        } else {
            ExitKind::Failure
        }
    }

    /// The process exit code of this kind.
    pub fn code(&self) -> u8 {
        match self {
            ExitKind::Usage => 2,
            ExitKind::Failure => 1,
            ExitKind::ReaderGone => 0,
        }
    }
}
