//! Step one of loading: read what the user wrote, in the file and in `LAD_*` variables, into a
//! [`RawConfig`]: known keys with their untyped YAML values and where each was set. Unknown and
//! ignored keys become warnings here. Nothing is typed or cross-checked yet (that is
//! `build.rs`), and nothing here reads the process environment or the clock.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::diagnostics::{ConfigError, ConfigWarning, Origin};
use super::keys::{self, EnvForm};
use super::yaml::{self, Value};

/// One key's value as written, and where.
#[derive(Debug, Clone)]
pub(crate) struct RawEntry {
    pub value: Value,
    pub at: Origin,
}

/// Known keys with their untyped values: the file's, else the environment's.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawConfig {
    /// The file, when there is one.
    pub file: Option<PathBuf>,
    /// The file's text (empty without a file), kept to find the lines of nested keys.
    pub text: String,
    pub entries: BTreeMap<&'static str, RawEntry>,
}

impl RawConfig {
    /// Parses `text` (the content of `file`, or `None` for "no file") and fills in the keys it
    /// lacks from `env`. The file wins over the environment.
    pub fn parse(
        file: Option<&Path>,
        text: &str,
        env: &HashMap<String, String>,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Result<Self, ConfigError> {
        let mut raw = RawConfig {
            file: file.map(Path::to_path_buf),
            text: text.to_string(),
            entries: BTreeMap::new(),
        };
        if let Some(path) = file {
            raw.read_file(path, text, env, warnings)?;
        }
        raw.read_env(env, warnings)?;
        Ok(raw)
    }

    fn read_file(
        &mut self,
        path: &Path,
        text: &str,
        env: &HashMap<String, String>,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Result<(), ConfigError> {
        let document: Value = yaml::from_str(text).map_err(|e| syntax_error(path, e))?;
        let mapping = match document {
            Value::Mapping(m) => m,
            // An empty file (or one with only comments) is the defaults.
            Value::Null => return Ok(()),
            other => {
                return Err(ConfigError::NotAMapping {
                    at: file_origin(path, Some(1)),
                    found: describe_value(&other),
                })
            }
        };
        let names = keys::known_names();
        for (key, value) in mapping {
            let key = match key {
                Value::String(s) => s,
                other => {
                    return Err(ConfigError::WrongType {
                        key: describe_value(&other),
                        at: file_origin(path, None),
                        expected: "an UPPER_SNAKE_CASE key name".to_string(),
                        found: describe_value(&other),
                    })
                }
            };
            let line = top_level_line(text, &key);
            let at = file_origin(path, line);
            let templated = matches!(&value, Value::String(t) if t.contains("${"));
            let value = interpolate_value(value, env).map_err(|(needle, reason)| {
                ConfigError::Interpolation {
                    key: key.clone(),
                    at: file_origin(path, line_with(text, line, &needle).or(line)),
                    reason,
                }
            })?;
            if let Some((name, form)) = keys::known(&key) {
                // A key written with no value (`MG_USER:`) means "not set".
                if !value.is_null() {
                    if self.entries.contains_key(name) {
                        // Only a `<KEY>_FILE` line can have put it there.
                        return Err(ConfigError::SecretTwice {
                            key: name,
                            at,
                            place: "the config file",
                        });
                    }
                    let value = match (form, value) {
                        // A whole value from the environment is read as the environment's
                        // `LAD_<KEY>` would be: `${PORT}` gives a number.
                        (EnvForm::Yaml, Value::String(t)) if templated => {
                            yaml::from_str(&t).unwrap_or(Value::String(t))
                        }
                        (_, v) => v,
                    };
                    self.entries.insert(name, RawEntry { value, at });
                }
            } else if let Some(name) = secret_file_key(&key) {
                if value.is_null() {
                    continue;
                }
                if self.entries.contains_key(name) {
                    return Err(ConfigError::SecretTwice {
                        key: name,
                        at,
                        place: "the config file",
                    });
                }
                let Value::String(file) = value else {
                    return Err(ConfigError::WrongType {
                        key,
                        at,
                        expected: "the path of a file holding the secret".to_string(),
                        found: describe_value(&value),
                    });
                };
                let secret = read_secret(&key, &at, Path::new(&file))?;
                self.entries.insert(
                    name,
                    RawEntry {
                        value: Value::String(secret),
                        at,
                    },
                );
            } else if let Some(reason) = keys::no_effect_reason(&key) {
                warnings.push(ConfigWarning::NoEffect { key, at, reason });
            } else {
                let suggestion = keys::suggest(&key, &names);
                warnings.push(ConfigWarning::UnknownKey {
                    key,
                    at,
                    suggestion,
                });
            }
        }
        Ok(())
    }

    fn read_env(
        &mut self,
        env: &HashMap<String, String>,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Result<(), ConfigError> {
        // Entries the file set; the environment fills in only what the file lacks.
        let from_file: Vec<&'static str> = self.entries.keys().copied().collect();
        let names = keys::known_names();
        // Sorted so warnings come out in a stable order.
        let mut vars: Vec<(&String, &String)> = env.iter().collect();
        vars.sort();
        for (var, text) in vars {
            let Some(key) = var.strip_prefix("LAD_") else {
                continue;
            };
            if keys::RESERVED_ENV.contains(&var.as_str()) {
                continue;
            }
            let at = Origin::Env { var: var.clone() };
            if let Some(name) = secret_file_key(key) {
                if from_file.contains(&name) || text.trim().is_empty() {
                    continue;
                }
                if env
                    .get(&format!("LAD_{name}"))
                    .is_some_and(|v| !v.trim().is_empty())
                {
                    return Err(ConfigError::SecretTwice {
                        key: name,
                        at,
                        place: "the environment",
                    });
                }
                let secret = read_secret(var, &at, Path::new(text))?;
                self.entries.insert(
                    name,
                    RawEntry {
                        value: Value::String(secret),
                        at,
                    },
                );
                continue;
            }
            match keys::known(key) {
                Some((name, form)) => {
                    if from_file.contains(&name) || text.trim().is_empty() {
                        continue;
                    }
                    let value = match form {
                        EnvForm::Verbatim => Value::String(text.clone()),
                        // A value YAML cannot read stays a string; its type check names it.
                        EnvForm::Yaml => {
                            yaml::from_str(text).unwrap_or_else(|_| Value::String(text.clone()))
                        }
                    };
                    self.entries.insert(name, RawEntry { value, at });
                }
                None => {
                    if let Some(reason) = keys::no_effect_reason(key) {
                        warnings.push(ConfigWarning::NoEffect {
                            key: key.to_string(),
                            at,
                            reason,
                        });
                    } else if let Some(suggestion) = keys::suggest(key, &names) {
                        // The LAD_ namespace is shared with other tools' settings, so only
                        // likely typos of our keys are reported.
                        warnings.push(ConfigWarning::UnknownKey {
                            key: key.to_string(),
                            at,
                            suggestion: Some(suggestion),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// The line of `key` nested under the line `parent` (1-based), for file values.
    pub fn nested_line(&self, parent: Option<usize>, key: &str) -> Option<usize> {
        nested_line(&self.text, parent?, key)
    }
}

/// The secret key `<KEY>` of a `<KEY>_FILE` name, when `<KEY>` is a secret.
fn secret_file_key(key: &str) -> Option<&'static str> {
    let stem = key.strip_suffix("_FILE")?;
    keys::SECRET_KEYS.iter().copied().find(|k| *k == stem)
}

/// The most a secret file may hold; a larger one is surely the wrong file.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// Reads a `<KEY>_FILE` secret: the file's text without one trailing line break (files written
/// by `echo` or an editor end with one; systemd credentials often do not).
fn read_secret(key: &str, at: &Origin, path: &Path) -> Result<String, ConfigError> {
    let fail = |reason: String| ConfigError::SecretFile {
        key: key.to_string(),
        at: at.clone(),
        path: path.to_path_buf(),
        reason,
    };
    let too_big = |len: u64| {
        fail(format!(
            "it holds {len} bytes, more than a secret ({MAX_SECRET_BYTES} at most)"
        ))
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    // A FIFO would block start-up until a writer comes, and a device such as /dev/zero
    // reports no length and never ends: only a regular file is read, and at most the cap.
    if !meta.is_file() {
        return Err(fail("it is not a regular file".to_string()));
    }
    if meta.len() > MAX_SECRET_BYTES {
        return Err(too_big(meta.len()));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| {
            std::io::Read::read_to_end(
                &mut std::io::Read::take(f, MAX_SECRET_BYTES + 1),
                &mut bytes,
            )
        })
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() as u64 > MAX_SECRET_BYTES {
        return Err(too_big(bytes.len() as u64));
    }
    let text = String::from_utf8(bytes).map_err(|_| fail("it is not UTF-8 text".to_string()))?;
    let text = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if text.is_empty() {
        return Err(fail("it is empty".to_string()));
    }
    Ok(text.to_string())
}

/// Fills in `${VAR}` and `${VAR:-default}` in every string of a value (not in mapping keys).
/// `Err` holds the text to find the line by and the reason.
fn interpolate_value(
    value: Value,
    env: &HashMap<String, String>,
) -> Result<Value, (String, String)> {
    Ok(match value {
        Value::String(t) if t.contains("${") => Value::String(interpolate(&t, env)?),
        Value::Sequence(items) => Value::Sequence(
            items
                .into_iter()
                .map(|v| interpolate_value(v, env))
                .collect::<Result<_, _>>()?,
        ),
        Value::Mapping(m) => Value::Mapping(
            m.into_iter()
                .map(|(k, v)| Ok((k, interpolate_value(v, env)?)))
                .collect::<Result<yaml::Mapping, (String, String)>>()?,
        ),
        Value::Tagged(mut t) => {
            t.value = interpolate_value(t.value, env)?;
            Value::Tagged(t)
        }
        other => other,
    })
}

/// Replaces `${NAME}` with the variable's value and `${NAME:-default}` with the value, or with
/// `default` when it is unset or empty; `$${` is a literal `${`, and any other `$` stays as
/// written (so old passwords holding `$` keep working). An unset variable without a default is
/// an error, never an empty string. `Err` holds the text to find the line by and the reason.
pub(crate) fn interpolate(
    text: &str,
    env: &HashMap<String, String>,
) -> Result<String, (String, String)> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let Some(end) = after.find('}') else {
                return Err((
                    "${".to_string(),
                    format!(
                        "\"${{\" without a closing \"}}\" in {text:?}; write $${{ for a literal ${{"
                    ),
                ));
            };
            let inner = &after[..end];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            let needle = format!("${{{inner}}}");
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err((
                    needle.clone(),
                    format!(
                        "{needle} does not name an environment variable (letters, digits and _, \
                         not starting with a digit); write $${{ for a literal ${{"
                    ),
                ));
            }
            match (env.get(name), default) {
                (Some(v), Some(d)) if v.is_empty() => out.push_str(d),
                (Some(v), _) => out.push_str(v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => {
                    return Err((
                        needle.clone(),
                        format!(
                            "{needle} names the environment variable {name}, which is not set \
                             (write ${{{name}:-default}} for a default, or $${{ for a literal ${{)"
                        ),
                    ))
                }
            }
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The first line at or after `from` (1-based) that holds `needle`.
fn line_with(text: &str, from: Option<usize>, needle: &str) -> Option<usize> {
    let from = from?;
    text.lines()
        .enumerate()
        .skip(from - 1)
        .find(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
}

fn file_origin(path: &Path, line: Option<usize>) -> Origin {
    Origin::File {
        path: path.to_path_buf(),
        line,
    }
}

fn syntax_error(path: &Path, e: yaml::YamlError) -> ConfigError {
    ConfigError::Syntax {
        at: file_origin(path, e.line),
        message: e.message,
    }
}

/// Whether `line` (after indentation) starts with `key` followed by `:`, bare or quoted.
fn starts_with_key(line: &str, key: &str) -> bool {
    let rest = if let Some(r) = line.strip_prefix(key) {
        r
    } else if let Some(r) = line
        .strip_prefix('"')
        .and_then(|l| l.strip_prefix(key))
        .and_then(|l| l.strip_prefix('"'))
    {
        r
    } else if let Some(r) = line
        .strip_prefix('\'')
        .and_then(|l| l.strip_prefix(key))
        .and_then(|l| l.strip_prefix('\''))
    {
        r
    } else {
        return false;
    };
    rest.trim_start().starts_with(':')
}

/// The 1-based line where top-level `key` is written (top-level keys start at column 0).
pub(crate) fn top_level_line(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|line| starts_with_key(line, key))
        .map(|i| i + 1)
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The 1-based line of `key` inside the block that starts at line `parent`: the first deeper
/// indented line `key:` before the block ends.
fn nested_line(text: &str, parent: usize, key: &str) -> Option<usize> {
    let mut lines = text.lines().enumerate().skip(parent.checked_sub(1)?);
    let (_, parent_line) = lines.next()?;
    let base = indent(parent_line);
    for (i, line) in lines {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if indent(line) <= base && !trimmed.starts_with('-') {
            return None;
        }
        if starts_with_key(trimmed, key) {
            return Some(i + 1);
        }
    }
    None
}

/// A short description of a YAML value for error messages: strings quoted, others by kind.
pub(crate) fn describe_value(value: &Value) -> String {
    match value {
        Value::String(s) => format!("\"{s}\""),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "an empty value".to_string(),
        Value::Sequence(_) => "a list".to_string(),
        Value::Mapping(_) => "a mapping".to_string(),
        Value::Tagged(t) => format!("a value tagged {}", t.tag),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "A: 1\nLOG_SOURCES:\n  web:\n    # hosts\n    HOSTNAMES: [a]\n  db:\n    MYSQL_TARGET_TABLE: t\n    HOSTNAMES:\n      - b\n\"QUOTED\": 2\n";

    #[test]
    fn finds_top_level_and_nested_lines() {
        assert_eq!(top_level_line(TEXT, "A"), Some(1));
        assert_eq!(top_level_line(TEXT, "QUOTED"), Some(10));
        assert_eq!(top_level_line(TEXT, "HOSTNAMES"), None);
        let sources = top_level_line(TEXT, "LOG_SOURCES");
        assert_eq!(sources, Some(2));
        let web = nested_line(TEXT, 2, "web");
        assert_eq!(web, Some(3));
        assert_eq!(nested_line(TEXT, 3, "HOSTNAMES"), Some(5));
        assert_eq!(nested_line(TEXT, 6, "HOSTNAMES"), Some(8));
        // web has no MYSQL_TARGET_TABLE: the search stops at the end of its block.
        assert_eq!(nested_line(TEXT, 3, "MYSQL_TARGET_TABLE"), None);
    }

    #[test]
    fn duplicate_key_points_at_the_repeat() {
        let text = "A: 1\nB: 2\nA: 3\n";
        let env = HashMap::new();
        let err = RawConfig::parse(Some(Path::new("x.yaml")), text, &env, &mut Vec::new())
            .expect_err("duplicate keys are an error");
        assert_eq!(
            err.to_string(),
            "config error in x.yaml line 3: invalid YAML: duplicate entry with key \"A\""
        );
    }
}
