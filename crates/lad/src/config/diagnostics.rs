//! What configuration loading reports: where a value came from ([`Origin`]), the errors that
//! stop start-up ([`ConfigError`]) and the warnings that do not ([`ConfigWarning`]). Every
//! message names the key and where it was found (file and line, or environment variable).

use std::fmt;
use std::path::PathBuf;

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A line of the configuration file (`line` is 1-based; `None` when it could not be found,
    /// e.g. a key inside a flow mapping).
    File {
        /// The file as given on the command line.
        path: PathBuf,
        /// 1-based line number.
        line: Option<usize>,
    },
    /// An environment variable `LAD_<KEY>`.
    Env {
        /// The variable's name.
        var: String,
    },
    /// Not set anywhere: the built-in default.
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File {
                path,
                line: Some(line),
            } => write!(f, "{} line {line}", path.display()),
            Origin::File { path, line: None } => write!(f, "{}", path.display()),
            Origin::Env { var } => write!(f, "environment variable {var}"),
            Origin::Default => f.write_str("the built-in defaults"),
        }
    }
}

/// Names the configuration as a whole in errors that are about a missing key: the file, or the
/// defaults and environment when there is no file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSource(pub Option<PathBuf>);

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(path) => write!(f, "{}", path.display()),
            None => f.write_str("the built-in defaults and LAD_* environment (no config file)"),
        }
    }
}

/// A configuration that cannot be run. The message names the key, the file and the line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("config error: cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid YAML (or repeats a key).
    #[error("config error in {at}: invalid YAML: {message}")]
    Syntax {
        /// File and line of the problem.
        at: Origin,
        /// The parser's message.
        message: String,
    },
    /// The document is not a `KEY: value` mapping.
    #[error("config error in {at}: the file must be a mapping of KEY: value lines, found {found}")]
    NotAMapping {
        /// The file.
        at: Origin,
        /// What the document was instead.
        found: String,
    },
    /// A value of the wrong type.
    #[error("config error in {at}: {key} expects {expected}, found {found}")]
    WrongType {
        /// The key (`LOG_SOURCES.web.HOSTNAMES` for nested ones).
        key: String,
        /// Where the value was set.
        at: Origin,
        /// The expected type, e.g. "an integer".
        expected: String,
        /// The value found, quoted if it is a string.
        found: String,
    },
    /// A value of the right type that is not acceptable (out of range, unknown name, bad cron).
    #[error("config error in {at}: {key} expects {expected}, found {found}")]
    InvalidValue {
        /// The key.
        key: String,
        /// Where the value was set.
        at: Origin,
        /// What would be accepted, with the reason the value was not.
        expected: String,
        /// The value found.
        found: String,
    },
    /// A key the chosen backend needs is not set.
    #[error("config error in {config}: missing {key}: {why}")]
    MissingKey {
        /// The missing key.
        key: String,
        /// The file (or the defaults and environment) that lacks it.
        config: ConfigSource,
        /// Which setting needs it and what for.
        why: String,
    },
    /// Two lists that pair up entry by entry have different lengths.
    #[error(
        "config error in {at}: {first} has {first_len} entries but {second} has {second_len}; \
         entry i of {first} goes to entry i of {second}, so they must have the same length"
    )]
    UnequalLists {
        /// The first list's key.
        first: &'static str,
        /// Its length.
        first_len: usize,
        /// The second list's key.
        second: &'static str,
        /// Its length.
        second_len: usize,
        /// Where the first list was set.
        at: Origin,
    },
    /// A certificate file that cannot be read.
    #[error("config error in {at}: {key} names {}, which cannot be read: {reason}", path.display())]
    UnreadableFile {
        /// The key (MG_CA_CERT).
        key: &'static str,
        /// Where it was set.
        at: Origin,
        /// The path it names.
        path: PathBuf,
        /// Why it cannot be read.
        reason: String,
    },
    /// A `${VAR}` in a value that cannot be filled in (unset variable, unclosed brace).
    #[error("config error in {at}: {key}: {reason}")]
    Interpolation {
        /// The key whose value holds it.
        key: String,
        /// The line of the value.
        at: Origin,
        /// What is wrong and how to write a literal `${`.
        reason: String,
    },
    /// A `<KEY>_FILE` secret file that cannot be read.
    #[error("config error in {at}: {key} names {}, which cannot be read: {reason}", path.display())]
    SecretFile {
        /// The `_FILE` key (or `LAD_` variable) as written.
        key: String,
        /// Where it was set.
        at: Origin,
        /// The file it names.
        path: PathBuf,
        /// Why it cannot be read.
        reason: String,
    },
    /// A secret given twice in the same place: as `<KEY>` and as `<KEY>_FILE`.
    #[error(
        "config error in {at}: {key} and {key}_FILE are both set in {place}; set one of them \
         ({key}_FILE reads the value from a file)"
    )]
    SecretTwice {
        /// The secret's key.
        key: &'static str,
        /// Where the second one was found.
        at: Origin,
        /// "the config file" or "the environment".
        place: &'static str,
    },
    /// An HTTP address reachable from other machines without a token.
    #[error(
        "config error in {at}: HTTP_ADDR {addr} is reachable from other machines, so HTTP_TOKEN \
         is required (write endpoints would be open to the network); set HTTP_TOKEN or bind to 127.0.0.1"
    )]
    OpenHttpWithoutToken {
        /// Where HTTP_ADDR was set.
        at: Origin,
        /// The address.
        addr: std::net::SocketAddr,
    },
}

/// Something worth telling the user that does not stop the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigWarning {
    /// A key `lad` does not know; it is ignored.
    UnknownKey {
        /// The key as written.
        key: String,
        /// Where.
        at: Origin,
        /// The closest known key, if one is close.
        suggestion: Option<&'static str>,
    },
    /// A key the old system declared that does nothing in `lad`.
    NoEffect {
        /// The key.
        key: String,
        /// Where.
        at: Origin,
        /// Why, or what to use instead.
        reason: &'static str,
    },
    /// A valid setting that deserves a second look (e.g. certificate checks turned off).
    Notice {
        /// The key.
        key: &'static str,
        /// Where.
        at: Origin,
        /// What to know.
        message: String,
    },
}

impl ConfigWarning {
    /// The key the warning is about.
    pub fn key(&self) -> &str {
        match self {
            ConfigWarning::UnknownKey { key, .. } | ConfigWarning::NoEffect { key, .. } => key,
            ConfigWarning::Notice { key, .. } => key,
        }
    }

    /// Where the key was set.
    pub fn origin(&self) -> &Origin {
        match self {
            ConfigWarning::UnknownKey { at, .. }
            | ConfigWarning::NoEffect { at, .. }
            | ConfigWarning::Notice { at, .. } => at,
        }
    }
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigWarning::UnknownKey {
                key,
                at,
                suggestion,
            } => {
                write!(f, "config warning in {at}: unknown key {key} is ignored")?;
                if let Some(s) = suggestion {
                    write!(f, "; did you mean {s}?")?;
                }
                Ok(())
            }
            ConfigWarning::NoEffect { key, at, reason } => {
                write!(
                    f,
                    "config warning in {at}: {key} has no effect in lad ({reason})"
                )
            }
            ConfigWarning::Notice { key, at, message } => {
                write!(f, "config warning in {at}: {key}: {message}")
            }
        }
    }
}
