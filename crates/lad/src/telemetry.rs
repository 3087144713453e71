//! Logging set-up: human-readable lines on standard error by default, JSON with
//! `--log-format json`, errors only with `--quiet`. `RUST_LOG` overrides the level.
//! [`error_line`] writes an error chain as one readable line for the log.

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Installs the global log subscriber once; later calls do nothing.
pub fn init(format: LogFormat, quiet: bool) {
    let default = if quiet { "error" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never in piped or redirected logs.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Whether progress bars may be drawn: standard error is a terminal and the user did not ask
/// for quiet.
pub fn progress_allowed(quiet: bool) -> bool {
    use std::io::IsTerminal;
    !quiet && std::io::stderr().is_terminal()
}

/// A progress bar for `len` steps, hidden when progress is not allowed.
pub fn progress(len: u64, what: &str, quiet: bool) -> indicatif::ProgressBar {
    if !progress_allowed(quiet) {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg:>10} [{bar:30}] {pos}/{len} ({per_sec}, {eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

/// The most characters [`error_line`] keeps.
pub const MAX_ERROR_LINE: usize = 600;

/// An error and its causes as one line for the log: [`crate::error::chain`] (causes joined by
/// `": "`, a cause left out when the message before it already ends with it), then every
/// run of white space (drivers' multi-line dumps) made one space, and the whole cut to
/// [`MAX_ERROR_LINE`] characters.
pub fn error_line(e: &anyhow::Error) -> String {
    // The causes and their de-duplication are `error::chain`'s; this only makes it one line.
    let mut out = crate::error::chain(e)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if out.chars().count() > MAX_ERROR_LINE {
        out = out.chars().take(MAX_ERROR_LINE - 1).collect();
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("mysql store db:3306: read records failed: {source}")]
    struct Wrapping {
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn error_chains_become_one_line_without_repeats() {
        let io = std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused\n  (os error 111)",
        );
        let e = anyhow::Error::new(Wrapping { source: io }).context("scoring source web");
        assert_eq!(
            error_line(&e),
            "scoring source web: mysql store db:3306: read records failed: Connection refused \
             (os error 111)"
        );
        let long = anyhow::anyhow!("{}", "x".repeat(5_000));
        assert_eq!(error_line(&long).chars().count(), MAX_ERROR_LINE);
    }
}
