//! Logging set-up: human-readable lines on standard error by default, JSON with
//! `--log-format json`, errors only with `--quiet`. `RUST_LOG` overrides the level.

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
