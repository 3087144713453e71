//! The kinds of failure a command ends with, and their exit codes: [`UsageError`] for what the
//! user typed or configured (exit 2), a reader that closed standard output (exit 0, quietly),
//! anything else is a failure (exit 1). Every module may
//! raise a [`UsageError`]; this module depends on no other module of the crate, so no import
//! circle can start here. [`chain`] writes an error and its causes as one line without saying
//! anything twice.

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

/// An error and its causes as one line, `outer: cause: deeper cause`, leaving out a cause whose
/// text the line already holds. Many errors (ours and the drivers') put their source into their
/// own message and also return it as their source, so the `{:#}` of `anyhow` says it twice
/// ("cannot open x: No such file: No such file"); this says it once.
pub fn chain(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        let text = text.trim();
        if text.is_empty() || line.ends_with(text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error that puts its source into its message and also returns it as its source.
    #[derive(Debug, thiserror::Error)]
    #[error("cannot read {path}: {source}")]
    struct Doubled {
        path: String,
        source: std::io::Error,
    }

    #[test]
    fn a_cause_already_in_the_message_is_said_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let err = anyhow::Error::new(Doubled {
            path: "/x/lad.db".into(),
            source: io,
        })
        .context("opening the store");
        // What anyhow alone writes: the cause twice.
        assert_eq!(
            format!("{err:#}"),
            "opening the store: cannot read /x/lad.db: No such file or directory: No such file \
             or directory"
        );
        assert_eq!(
            chain(&err),
            "opening the store: cannot read /x/lad.db: No such file or directory"
        );
        // A cause that adds something is kept.
        let err = anyhow::anyhow!("disk full").context("writing /m/model.bin");
        assert_eq!(chain(&err), "writing /m/model.bin: disk full");
    }
}
