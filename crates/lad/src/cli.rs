//! The command line as the user types it (clap definitions only; no behaviour).
//!
//! Parsing checks the shape of what was typed; the commands in [`crate::commands`] turn it,
//! together with the configuration, into the objects that run.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// lad, a log anomaly detector: learns what is normal for each host, marks every new line as
/// normal or anomalous with a score, and groups the anomalous lines into readable templates.
#[derive(Debug, Parser)]
#[command(
    name = "lad",
    version = crate::VERSION,
    about = "lad, a log anomaly detector: learns what is normal for each host, marks every new \
             line as normal or anomalous with a score, and groups the anomalies into templates",
    long_about = None
)]
pub struct Cli {
    /// Settings shared by every command.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts.
#[derive(Debug, Args)]
pub struct Global {
    /// Print only errors (no progress bars, no summaries on standard error).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// How log lines are written on standard error.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

/// Log line format.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line.
    Json,
}

/// The configuration file option, shared by the commands that read one.
#[derive(Debug, Args, Clone)]
pub struct ConfigArg {
    /// The YAML configuration file (old `multihost.yaml` / `aggregator.yaml` files work as they are).
    #[arg(
        long = "config",
        visible_alias = "config-yaml",
        short = 'c',
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The daemon: train or load models, score new records every INFER_TIME_SPAN seconds,
    /// retrain and aggregate on schedule, serve HTTP.
    Run {
        /// Configuration.
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Train now and save the models.
    Train {
        /// Configuration.
        #[command(flatten)]
        config: ConfigArg,
        /// Only this host.
        #[arg(long)]
        host: Option<String>,
    },
    /// Score unscored records with the saved models (no training).
    Detect {
        /// Configuration.
        #[command(flatten)]
        config: ConfigArg,
        /// One pass over the backlog, then exit (the default; kept for the old habit).
        #[arg(long)]
        once: bool,
    },
    /// One aggregation pass over the anomalies of the last AGGR_TIME_SPAN seconds.
    Aggregate {
        /// Configuration.
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Load JSON Lines, mongoexport JSON or syslog text into a source of the store.
    Import {
        /// Configuration.
        #[command(flatten)]
        config: ConfigArg,
        /// Source (collection / table / stream) to import into.
        #[arg(long, default_value = "logs")]
        source: String,
        /// Files to import.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Import the valid lines and exit 0 even when some lines are invalid (they are
        /// reported either way).
        #[arg(long)]
        skip_invalid: bool,
    },
    /// Write records with their verdicts (or the aggregates, or the incidents) as JSON Lines.
    Export {
        /// Configuration.
        #[command(flatten)]
        config: ConfigArg,
        /// Output file (standard output when absent or `-`).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Only anomalous records.
        #[arg(long)]
        anomalies: bool,
        /// The aggregates instead of the records.
        #[arg(long, conflicts_with = "incidents")]
        aggregates: bool,
        /// The incidents instead of the records (one JSON object per incident).
        #[arg(long, conflicts_with = "anomalies")]
        incidents: bool,
    },
    /// Zero set-up: fill the embedded store with bundled sample logs, train, detect,
    /// aggregate and print a short report.
    Demo {
        /// Where the demo store and models go.
        #[arg(long, default_value = "lad-demo")]
        dir: PathBuf,
        /// Serve the web interface afterwards.
        #[arg(long)]
        serve: bool,
    },
    /// List the patterns (templates of message bodies) of every modelled host with their
    /// counts, first and last seen, as JSON Lines, most frequent first.
    Patterns {
        /// Configuration.
        #[command(flatten)]
        config: ConfigArg,
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
        /// Only this host.
        #[arg(long)]
        host: Option<String>,
        /// How variables are written.
        #[arg(long, value_enum, default_value_t = FormatArg::Stars)]
        format: FormatArg,
        /// Output file (standard output when absent or `-`).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Offline: train one model per host on TRAIN, score INPUT, write JSON Lines.
    Score(ScoreArgs),
    /// Offline: group the messages of INPUT and write each line with its group and template.
    Templates(TemplatesArgs),
    /// Check a configuration and print what lad would run with (secrets redacted).
    CheckConfig {
        /// Configuration.
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Print a shell completion script (for example `lad completions bash >
    /// /usr/share/bash-completion/completions/lad`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) on standard output (`lad manpage | man -l -`).
    Manpage,
}

/// Options of `lad score`.
#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// Configuration for detection settings (optional).
    #[command(flatten)]
    pub config: ConfigArg,
    /// Training lines (JSON Lines; `-` for standard input).
    #[arg(long)]
    pub train: PathBuf,
    /// Lines to score (JSON Lines; `-` for standard input).
    #[arg(long)]
    pub input: PathBuf,
    /// Output (standard output when absent or `-`).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Skip and count invalid lines instead of stopping at the first.
    #[arg(long)]
    pub skip_invalid: bool,
    /// The verdict rule (overrides DETECTOR in the configuration).
    #[arg(long, value_enum)]
    pub rule: Option<RuleArg>,
    /// Model seed (overrides W2V_SEED).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Leave the severity prior out of the default rule (to measure what it adds).
    #[arg(long)]
    pub no_severity: bool,
    /// Also write the components (`lof_score`, `ae_error`, `novelty`, `severity`).
    #[arg(long)]
    pub explain: bool,
}

/// Options of `lad templates`.
#[derive(Debug, Args)]
pub struct TemplatesArgs {
    /// Configuration for aggregation settings (optional).
    #[command(flatten)]
    pub config: ConfigArg,
    /// Lines to group (JSON Lines; `-` for standard input).
    #[arg(long)]
    pub input: PathBuf,
    /// Output (standard output when absent or `-`).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Skip and count invalid lines instead of stopping at the first.
    #[arg(long)]
    pub skip_invalid: bool,
    /// The grouping method (overrides AGGR_METHOD).
    #[arg(long, value_enum)]
    pub method: Option<MethodArg>,
    /// How variables are written in `template`.
    #[arg(long, value_enum, default_value_t = FormatArg::Stars)]
    pub format: FormatArg,
}

/// `--format` of templates.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq, Default)]
pub enum FormatArg {
    /// `***`, as the old system wrote aggregates (default).
    #[default]
    Stars,
    /// `<*>`, as Drain and LogHub write templates.
    Angle,
}

impl FormatArg {
    /// The format in lad-core's terms.
    pub fn template_format(self) -> lad_core::pattern::TemplateFormat {
        match self {
            FormatArg::Stars => lad_core::pattern::TemplateFormat::Stars,
            FormatArg::Angle => lad_core::pattern::TemplateFormat::Angle,
        }
    }
}

/// `--rule`.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum RuleArg {
    /// Calibrated novelty weighted by severity (default).
    Ensemble,
    /// The old rule: autoencoder error above threshold and LOF above 1.
    Legacy,
}

/// `--method`.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum MethodArg {
    /// Template mining over masked tokens (default).
    Templates,
    /// The old Word2Vec + DBSCAN grouping.
    Dbscan,
}
