//! The `lad` command: parses the command line, sets up logging and runs the command.
//! Exit codes: 0 success, 2 usage or configuration error, 1 anything else.

use std::process::ExitCode;

use clap::Parser;
use lad::cli::{Cli, LogFormat};
use lad::commands;
use lad::error::ExitKind;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cli_format = cli.global.log_format;
    lad::telemetry::init(cli.global.log_format, cli.global.quiet);
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`lad templates ... | head`): not an error of lad's.
        Err(err) if ExitKind::of(&err) == ExitKind::ReaderGone => ExitCode::SUCCESS,
        Err(err) => {
            let kind = ExitKind::of(&err);
            match cli_format {
                // A log collector reading JSON gets the fatal error as JSON too.
                LogFormat::Json => {
                    tracing::error!(exit_code = kind.code(), "{}", lad::error::chain(&err))
                }
                LogFormat::Text => eprintln!("lad: {}", lad::error::chain(&err)),
            }
            ExitCode::from(kind.code())
        }
    }
}
