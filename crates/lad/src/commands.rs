//! Runs a parsed command line: builds the objects a command needs from its arguments and the
//! configuration, runs it, and classifies failures for the exit code.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::Path;

use anyhow::{Context, Result};
use lad_core::aggregate::{AggregateParams, GroupingMethod};
use lad_core::detector::{DetectorParams, Rule};
use tracing::{info, warn};

use crate::cli::{
    Cli, Command, ConfigArg, LogFormat, MethodArg, RuleArg, ScoreArgs, TemplatesArgs,
};
use crate::config::Config;
use crate::error::UsageError;
use crate::offline;
use crate::stored;
use crate::wire::open_output;

/// Runs one command.
pub fn run(cli: Cli) -> Result<()> {
    let quiet = cli.global.quiet;
    match cli.command {
        Command::Score(args) => score(args, quiet),
        Command::Templates(args) => templates(args, quiet),
        Command::CheckConfig { config } => check_config(&config, cli.global.log_format),
        Command::Completions { shell } => completions(shell),
        Command::Manpage => manpage(),
        Command::Train { config, host } => {
            stored::train(&load_config(&config)?, host.as_deref(), quiet)
        }
        Command::Detect { config, once: _ } => stored::detect(&load_config(&config)?, quiet),
        Command::Aggregate { config } => stored::aggregate(&load_config(&config)?),
        Command::Import {
            config,
            source,
            files,
            skip_invalid,
        } => stored::import(&load_config(&config)?, &source, &files, skip_invalid),
        Command::Export {
            config,
            output,
            anomalies,
            aggregates,
            incidents,
        } => stored::export(
            &load_config(&config)?,
            output.as_deref(),
            stored::ExportWhat::of(anomalies, aggregates, incidents),
        ),
        Command::Patterns {
            config,
            source,
            host,
            format,
            output,
        } => stored::patterns(
            &load_config(&config)?,
            source.as_deref(),
            host.as_deref(),
            format.template_format(),
            output.as_deref(),
        ),
        Command::Demo { dir, serve } => crate::demo::run(&dir, serve, quiet),
        Command::Run { config } => crate::daemon::run(load_config(&config)?),
    }
}

/// Loads and checks the configuration, logging its warnings; an error is a usage error.
pub fn load_config(arg: &ConfigArg) -> Result<Config> {
    let (config, warnings) = load_checked(arg)?;
    for w in &warnings {
        warn!("{w}");
    }
    Ok(config)
}

/// The configuration with every check of [`crate::wiring::check`] passed: what `lad
/// check-config` accepts, every other command accepts too.
fn load_checked(arg: &ConfigArg) -> Result<(Config, Vec<crate::config::ConfigWarning>)> {
    let (config, warnings) = crate::config::load_with_process_env(arg.config.as_deref())
        .map_err(|e| UsageError(e.to_string()))?;
    crate::wiring::check(&config)?;
    Ok((config, warnings))
}

fn check_config(arg: &ConfigArg, format: LogFormat) -> Result<()> {
    let (config, warnings) = load_checked(arg)?;
    for w in &warnings {
        match format {
            // Every line on standard error is JSON when JSON logs were asked for.
            LogFormat::Json => warn!("{w}"),
            // Shown even with --quiet: checking the configuration is what was asked.
            LogFormat::Text => eprintln!("warning: {w}"),
        }
    }
    print!("{}", config.describe());
    Ok(())
}

fn open_input(path: &Path) -> Result<(Box<dyn Read + Send>, String)> {
    if path.as_os_str() == "-" {
        return Ok((Box::new(std::io::stdin()), "<stdin>".to_string()));
    }
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok((Box::new(file), path.display().to_string()))
}

/// Warns once about the invalid lines of `name` that were left out.
fn warn_skipped(name: &str, skipped: &offline::Skipped) {
    if let Some(first) = &skipped.first {
        warn!(
            file = %name,
            skipped = skipped.count,
            first = %first,
            "invalid lines skipped"
        );
    }
}

/// Detection settings of `lad score`: the configuration's when `--config` names one (its
/// DETECTOR, TOKENIZER, W2V_* and LOF_* keys), else the defaults; the flags override both.
fn detector_params(args: &ScoreArgs) -> Result<DetectorParams> {
    let mut p = match &args.config.config {
        Some(_) => crate::wiring::detector_params(&load_config(&args.config)?)?,
        None => DetectorParams::default(),
    };
    if let Some(seed) = args.seed {
        p.word2vec.seed = seed;
        p.autoencoder.seed = seed;
    }
    if let Some(rule) = args.rule {
        p.rule = match rule {
            RuleArg::Ensemble => Rule::Ensemble,
            RuleArg::Legacy => Rule::Legacy,
        };
    }
    if args.no_severity {
        p.ensemble.use_severity = false;
    }
    Ok(p)
}

/// Fails when `--output` names one of the input files (by any path: a symbolic or hard link
/// is the same file): writing it would destroy the input before it is read. Names both.
fn refuse_overwriting(output: Option<&Path>, inputs: &[(&str, &Path)]) -> Result<()> {
    let Some(out) = output.filter(|o| o.as_os_str() != "-") else {
        return Ok(());
    };
    let Ok(out_meta) = std::fs::metadata(out) else {
        return Ok(()); // does not exist yet: it cannot be an input
    };
    for (flag, input) in inputs {
        if input.as_os_str() == "-" {
            continue;
        }
        if std::fs::metadata(input).is_ok_and(|m| same_file(&m, &out_meta, input, out)) {
            return Err(UsageError(format!(
                "--output {} is also an input file (the same file as {flag} {}); write the \
                 output elsewhere",
                out.display(),
                input.display()
            ))
            .into());
        }
    }
    Ok(())
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata, _: &Path, _: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(_: &std::fs::Metadata, _: &std::fs::Metadata, a: &Path, b: &Path) -> bool {
    matches!((std::fs::canonicalize(a), std::fs::canonicalize(b)), (Ok(x), Ok(y)) if x == y)
}

fn parallelism() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn score(args: ScoreArgs, _quiet: bool) -> Result<()> {
    if args.train.as_os_str() == "-" && args.input.as_os_str() == "-" {
        return Err(UsageError("--train and --input cannot both be standard input".into()).into());
    }
    refuse_overwriting(
        args.output.as_deref(),
        &[("--train", &args.train), ("--input", &args.input)],
    )?;
    let params = detector_params(&args)?;
    let (train_reader, train_name) = open_input(&args.train)?;
    let (input, input_name) = open_input(&args.input)?;
    // The training lines are held (the models need them); the input streams.
    let train = offline::read_training(train_reader, &train_name, args.skip_invalid)?;
    warn_skipped(&train_name, &train.skipped);
    let started = std::time::Instant::now();
    let hosts = offline::train_hosts(&train, &params, parallelism());
    for (host, reason) in &hosts.failed {
        warn!(host = %host, %reason, "no model for this host; its lines are not scored");
    }
    for (host, model) in &hosts.models {
        for note in model.notes() {
            info!(host = %host, "{note}");
        }
    }
    let trained = started.elapsed();
    let train_lines = train.lines;
    drop(train);
    let mut out = open_output(args.output.as_deref())?;
    let done = offline::score_stream(
        input,
        &input_name,
        args.skip_invalid,
        &hosts,
        args.explain,
        &mut *out,
    )?;
    warn_skipped(&input_name, &done.skipped);
    info!(
        hosts = hosts.models.len(),
        train_lines,
        scored = done.lines - done.unscored,
        flagged = done.flagged,
        unscored = done.unscored,
        train_s = trained.as_secs_f64(),
        score_s = done.score_s,
        "score done"
    );
    Ok(())
}

fn templates(args: TemplatesArgs, _quiet: bool) -> Result<()> {
    // The configuration's aggregation settings (AGGR_METHOD, AGGR_EPS, ...) when `--config`
    // names one; `--method` overrides.
    let mut params = match &args.config.config {
        Some(_) => crate::wiring::aggregate_params(&load_config(&args.config)?),
        None => AggregateParams::default(),
    };
    refuse_overwriting(args.output.as_deref(), &[("--input", &args.input)])?;
    if let Some(m) = args.method {
        params.method = match m {
            MethodArg::Templates => GroupingMethod::Templates,
            MethodArg::Dbscan => GroupingMethod::Dbscan,
        };
    }
    let format = args.format.template_format();
    let (input, name) = open_input(&args.input)?;
    let started = std::time::Instant::now();
    let lines = match params.method {
        GroupingMethod::Dbscan => {
            let mut out = open_output(args.output.as_deref())?;
            let done =
                offline::group_whole(input, &name, args.skip_invalid, &params, format, &mut *out)?;
            warn_skipped(&name, &done.1);
            done.0
        }
        GroupingMethod::Templates => {
            let patterns = params.patterns.check()?;
            // Two passes over the input: standard input is copied for the second.
            let mut copy = if args.input.as_os_str() == "-" {
                Some(tempfile::tempfile().context("cannot create a temporary file")?)
            } else {
                None
            };
            let mined =
                offline::mine_stream(input, &name, args.skip_invalid, &patterns, copy.as_mut())?;
            warn_skipped(&name, &mined.skipped);
            let second: Box<dyn Read + Send> = match copy {
                Some(mut f) => {
                    f.rewind()?;
                    Box::new(f)
                }
                None => open_input(&args.input)?.0,
            };
            let lines = mined.lines;
            let mut out = open_output(args.output.as_deref())?;
            offline::write_groups(mined, second, &name, args.skip_invalid, format, &mut *out)?;
            lines
        }
    };
    info!(
        lines,
        group_s = started.elapsed().as_secs_f64(),
        "templates done"
    );
    Ok(())
}

/// `lad completions SHELL`: the completion script for the shell, on standard output.
fn completions(shell: clap_complete::Shell) -> Result<()> {
    use clap::CommandFactory;
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "lad", &mut out);
    write_stdout(&out)
}

/// `lad manpage`: the manual page lad(1) in roff, on standard output.
fn manpage() -> Result<()> {
    use clap::CommandFactory;
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .context("rendering the manual page")?;
    write_stdout(&out)
}

/// Writes generated text to standard output (a reader that leaves early is not an error).
fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(bytes)?;
    stdout.flush()?;
    Ok(())
}
