//! Runs a parsed command line: builds the objects a command needs from its arguments and the
//! configuration, runs it, and classifies failures for the exit code.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
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
use crate::wire::{self, open_output};

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

fn open_input(path: &Path) -> Result<(Box<dyn BufRead>, String)> {
    if path.as_os_str() == "-" {
        return Ok((
            Box::new(BufReader::new(std::io::stdin().lock())),
            "<stdin>".to_string(),
        ));
    }
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok((
        Box::new(BufReader::with_capacity(1 << 20, file)),
        path.display().to_string(),
    ))
}

fn read(path: &Path, skip_invalid: bool) -> Result<offline::Input> {
    let (reader, name) = open_input(path)?;
    let input = offline::read_input(reader, &name, skip_invalid)?;
    if !input.skipped.is_empty() {
        warn!(
            file = %name,
            skipped = input.skipped.len(),
            first = %input.skipped[0],
            "invalid lines skipped"
        );
    }
    Ok(input)
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

/// Fails when `--output` names one of the input files: writing it would destroy the input
/// before it is read.
fn refuse_overwriting(output: Option<&Path>, inputs: &[&Path]) -> Result<()> {
    let Some(out) = output.filter(|o| o.as_os_str() != "-") else {
        return Ok(());
    };
    let Ok(out_real) = std::fs::canonicalize(out) else {
        return Ok(()); // does not exist yet: it cannot be an input
    };
    for input in inputs {
        if std::fs::canonicalize(input).is_ok_and(|i| i == out_real) {
            return Err(UsageError(format!(
                "--output {} is also an input file; write the output elsewhere",
                out.display()
            ))
            .into());
        }
    }
    Ok(())
}

fn parallelism() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn score(args: ScoreArgs, quiet: bool) -> Result<()> {
    if args.train.as_os_str() == "-" && args.input.as_os_str() == "-" {
        return Err(UsageError("--train and --input cannot both be standard input".into()).into());
    }
    refuse_overwriting(args.output.as_deref(), &[&args.train, &args.input])?;
    let params = detector_params(&args)?;
    let train = read(&args.train, args.skip_invalid)?;
    let input = read(&args.input, args.skip_invalid)?;
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
    let scored = offline::score_lines(&input, &hosts, args.explain);
    let scoring = started.elapsed() - trained;
    let mut out = open_output(args.output.as_deref())?;
    let bar = crate::telemetry::progress(input.lines.len() as u64, "writing", quiet);
    let mut unscored = 0usize;
    let mut flagged = 0usize;
    for (line, s) in scored.in_input_order(&input) {
        let fields = match s {
            Some(s) => {
                flagged += usize::from(s.is_anomaly);
                let mut f = vec![
                    ("is_anomaly", u8::from(s.is_anomaly).to_string()),
                    ("anomaly_score", wire::json_number(s.score)),
                ];
                if args.explain {
                    f.push(("lof_score", wire::json_number(s.lof)));
                    f.push(("ae_error", wire::json_number(s.ae_error)));
                    f.push(("novelty", wire::json_number(s.novelty)));
                    f.push((
                        "severity",
                        s.severity
                            .map_or("null".into(), |v| wire::json_number(f64::from(v))),
                    ));
                }
                f
            }
            None => {
                unscored += 1;
                vec![
                    ("is_anomaly", "null".into()),
                    ("anomaly_score", "null".into()),
                ]
            }
        };
        offline::write_with_fields(&mut out, line, &fields)?;
        bar.inc(1);
    }
    out.flush()?;
    bar.finish_and_clear();
    info!(
        hosts = hosts.models.len(),
        train_lines = train.lines.len(),
        scored = input.lines.len() - unscored,
        flagged,
        unscored,
        train_s = trained.as_secs_f64(),
        score_s = scoring.as_secs_f64(),
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
    refuse_overwriting(args.output.as_deref(), &[&args.input])?;
    let input = read(&args.input, args.skip_invalid)?;
    if let Some(m) = args.method {
        params.method = match m {
            MethodArg::Templates => GroupingMethod::Templates,
            MethodArg::Dbscan => GroupingMethod::Dbscan,
        };
    }
    let started = std::time::Instant::now();
    let groups = offline::template_lines(&input, &params)?;
    let grouping = started.elapsed();
    let mut out = open_output(args.output.as_deref())?;
    let format = args.format.template_format();
    for (line, (g, t)) in input.lines.iter().zip(&groups) {
        let t = serde_json::to_string(&wire::template_text(t, format))?;
        offline::write_with_fields(
            &mut out,
            line,
            &[("group", format!("\"{g}\"")), ("template", t)],
        )?;
    }
    out.flush()?;
    info!(
        lines = input.lines.len(),
        group_s = grouping.as_secs_f64(),
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
