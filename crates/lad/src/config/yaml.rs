//! The YAML reader of the config loader: one document read into an untyped [`Value`] tree with
//! the pure-Rust event parser `saphyr-parser` (no C code, no `unsafe`).
//!
//! Plain scalars are typed as `serde_yaml` typed them (the YAML 1.2 core schema: `null`/`~`/
//! empty, `true`/`false` in three spellings, decimal, `0x`, `0o` and `0b` integers, floats and
//! `.inf`/`.nan`; `0123` stays a string), so old config files read exactly as before. Quoted and
//! block scalars are strings. The reader also bounds what a hostile file can cost:
//! - collections nest at most [`MAX_DEPTH`] deep; deeper is an error at the line where the limit
//!   is crossed, found after reading only that far (the parser is driven event by event);
//! - aliases (`*name`) are expanded, but all expansions together hold at most
//!   [`alias_budget`] values and bytes (a "billion laughs" file is refused, not expanded);
//! - a key repeated in one mapping is an error at the line of the repeat;
//! - a stream of more than one document is an error.
//!
//! Nothing here recurses over the input: the tree is built on an explicit stack, and only
//! dropping a finished tree walks it, at most [`MAX_DEPTH`] deep.

use std::collections::{HashMap, HashSet};
use std::fmt;

use saphyr_parser::{Event, Parser, ScalarStyle, Tag};

/// The deepest nesting of lists and mappings a config file may have. lad's own keys nest four
/// deep (`LOG_SOURCES` → source → `HOSTNAMES` → list); the rest is headroom.
pub(crate) const MAX_DEPTH: usize = 64;

/// The most values and bytes all alias expansions of one file may add together: ten times the
/// file's length, and at least a million.
pub(crate) fn alias_budget(text_len: usize) -> usize {
    text_len.saturating_mul(10).max(1_000_000)
}

/// An untyped YAML value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// `null`, `~` or nothing.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer or a float.
    Number(Number),
    /// Any other scalar, and every quoted or block scalar.
    String(String),
    /// A list.
    Sequence(Vec<Value>),
    /// A mapping, in the file's order (keys are unique).
    Mapping(Mapping),
    /// A value with a tag outside the core schema (`!secret x`).
    Tagged(Box<TaggedValue>),
}

/// A mapping's entries in the file's order.
pub(crate) type Mapping = Vec<(Value, Value)>;

/// A value and its (non-core) tag.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TaggedValue {
    /// The tag as written (`!secret`).
    pub tag: String,
    /// The value it tags.
    pub value: Value,
}

/// A YAML number: a whole number that fits 64 bits, or a float.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
    /// Zero or more.
    PosInt(u64),
    /// Below zero.
    NegInt(i64),
    /// Anything else that reads as a number.
    Float(f64),
}

impl Number {
    /// The number as a `u64`, when it is a whole number of at least zero.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Number::PosInt(n) => Some(n),
            _ => None,
        }
    }

    /// The number as a float.
    pub fn as_f64(&self) -> Option<f64> {
        Some(match *self {
            Number::PosInt(n) => n as f64,
            Number::NegInt(n) => n as f64,
            Number::Float(x) => x,
        })
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Number::PosInt(n) => write!(f, "{n}"),
            Number::NegInt(n) => write!(f, "{n}"),
            Number::Float(x) if x.is_nan() => f.write_str(".nan"),
            Number::Float(x) if x.is_infinite() => {
                f.write_str(if x < 0.0 { "-.inf" } else { ".inf" })
            }
            // `{:?}` keeps the `.0` of whole floats, as serde_yaml wrote them.
            Number::Float(x) => write!(f, "{x:?}"),
        }
    }
}

impl Value {
    /// Whether the value is `null` (or was written as nothing).
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Whether the value is a number.
    pub fn is_number(&self) -> bool {
        matches!(self, Value::Number(_))
    }

    /// How much this value costs to copy: one per node plus the bytes of its strings.
    fn weight(&self) -> usize {
        let mut total = 0usize;
        let mut stack = vec![self];
        while let Some(v) = stack.pop() {
            total = total.saturating_add(1);
            match v {
                Value::String(s) => total = total.saturating_add(s.len()),
                Value::Sequence(items) => stack.extend(items.iter()),
                Value::Mapping(entries) => {
                    for (k, v) in entries {
                        stack.push(k);
                        stack.push(v);
                    }
                }
                Value::Tagged(t) => stack.push(&t.value),
                Value::Null | Value::Bool(_) | Value::Number(_) => {}
            }
        }
        total
    }
}

/// Why a text is not a config document, and the 1-based line where that was found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct YamlError {
    /// The line, when the parser knows it.
    pub line: Option<usize>,
    /// What is wrong, in words.
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for YamlError {}

/// A collection being read.
enum Frame {
    Seq {
        items: Vec<Value>,
        anchor: usize,
        tag: Option<Tag>,
    },
    Map {
        entries: Mapping,
        /// A key read whose value has not come yet.
        key: Option<Value>,
        /// The keys so far, as [`key_identity`] writes them.
        seen: HashSet<String>,
        anchor: usize,
        tag: Option<Tag>,
    },
}

/// Reads one YAML document; an empty text (or one with only comments) is [`Value::Null`].
pub(crate) fn from_str(text: &str) -> Result<Value, YamlError> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Value> = HashMap::new();
    let mut root: Option<Value> = None;
    let mut documents = 0usize;
    let budget = alias_budget(text.len());
    let mut expanded = 0usize;
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|e| {
            let line = e.marker().line();
            YamlError {
                line: Some(line),
                // The scanner reads ahead and has its own bound on flow nesting (255).
                message: if e.info() == "recursion limit exceeded" {
                    too_deep(line)
                } else {
                    format!(
                        "{} at line {line} column {}",
                        e.info(),
                        e.marker().col() + 1
                    )
                },
            }
        })?;
        let line = span.start.line();
        // A finished value with its anchor (0: none).
        let done: (Value, usize) = match event {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => continue,
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(YamlError {
                        line: Some(line),
                        message: format!(
                            "a second document starts at line {line}; a config file holds one"
                        ),
                    });
                }
                continue;
            }
            Event::SequenceStart(anchor, ref tag) | Event::MappingStart(anchor, ref tag) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(YamlError {
                        line: Some(line),
                        message: too_deep(line),
                    });
                }
                let tag = tag.as_deref().cloned();
                stack.push(if matches!(event, Event::SequenceStart(..)) {
                    Frame::Seq {
                        items: Vec::new(),
                        anchor,
                        tag,
                    }
                } else {
                    Frame::Map {
                        entries: Vec::new(),
                        key: None,
                        seen: HashSet::new(),
                        anchor,
                        tag,
                    }
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq { items, anchor, tag }) => {
                    (tag_collection(Value::Sequence(items), tag), anchor)
                }
                Some(Frame::Map {
                    entries,
                    anchor,
                    tag,
                    ..
                }) => (tag_collection(Value::Mapping(entries), tag), anchor),
                None => continue,
            },
            Event::Scalar(text, style, anchor, tag) => {
                (scalar(&text, style, tag.as_deref()), anchor)
            }
            Event::Alias(id) => {
                let Some(value) = anchors.get(&id) else {
                    return Err(YamlError {
                        line: Some(line),
                        message: format!("an alias at line {line} names no anchor before it"),
                    });
                };
                expanded = expanded.saturating_add(value.weight());
                if expanded > budget {
                    return Err(YamlError {
                        line: Some(line),
                        message: format!(
                            "aliases expand to more than {budget} values and bytes by line \
                             {line} (a config file needs far fewer)"
                        ),
                    });
                }
                (value.clone(), 0)
            }
        };
        let (value, anchor) = done;
        if anchor != 0 {
            anchors.insert(anchor, value.clone());
        }
        match stack.last_mut() {
            None => root = Some(value),
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map {
                entries, key, seen, ..
            }) => match key.take() {
                Some(k) => entries.push((k, value)),
                None => {
                    if !seen.insert(key_identity(&value)) {
                        return Err(YamlError {
                            line: Some(line),
                            message: format!("duplicate entry with key {}", describe_key(&value)),
                        });
                    }
                    *key = Some(value);
                }
            },
        }
    }
    Ok(root.unwrap_or(Value::Null))
}

fn too_deep(line: usize) -> String {
    format!(
        "lists and mappings nest deeper than {MAX_DEPTH} levels at line {line} (a config file \
         needs a few)"
    )
}

/// A tag on a list or mapping: the core `!!seq`/`!!map` change nothing, others are kept.
fn tag_collection(value: Value, tag: Option<Tag>) -> Value {
    match tag {
        Some(tag) if !tag.is_yaml_core_schema() => Value::Tagged(Box::new(TaggedValue {
            tag: tag.to_string(),
            value,
        })),
        _ => value,
    }
}

/// Types a scalar: quoted and block scalars are strings, plain ones by the core schema; core
/// tags (`!!str 5`) say the type, other tags are kept around the string.
fn scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Value {
    match tag {
        Some(tag) if tag.is_yaml_core_schema() => match tag.suffix.as_str() {
            "str" => Value::String(text.to_string()),
            _ => resolve_plain(text),
        },
        Some(tag) => Value::Tagged(Box::new(TaggedValue {
            tag: tag.to_string(),
            value: Value::String(text.to_string()),
        })),
        None if style == ScalarStyle::Plain => resolve_plain(text),
        None => Value::String(text.to_string()),
    }
}

/// The core schema's reading of a plain scalar, as serde_yaml did it.
fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Some(n) = parse_int(text) {
        return Value::Number(n);
    }
    match parse_float(text) {
        Some(x) if !digits_but_not_number(text) => Value::Number(Number::Float(x)),
        _ => Value::String(text.to_string()),
    }
}

/// Leading zeros followed by digits (`0123`) are a string in YAML 1.2.
fn digits_but_not_number(text: &str) -> bool {
    let t = text.strip_prefix(['-', '+']).unwrap_or(text);
    t.len() > 1 && t.starts_with('0') && t[1..].bytes().all(|b| b.is_ascii_digit())
}

/// A whole number: decimal, or `0x`/`0o`/`0b` with an optional sign.
fn parse_int(text: &str) -> Option<Number> {
    let (negative, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if body.starts_with(['+', '-']) {
        return None;
    }
    let (radix, digits) = if let Some(d) = body.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = body.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = body.strip_prefix("0b") {
        (2, d)
    } else {
        if digits_but_not_number(text) {
            return None;
        }
        (10, body)
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if !negative {
        return Some(Number::PosInt(magnitude));
    }
    if magnitude == 0 {
        return Some(Number::PosInt(0));
    }
    // -2^63 is the one magnitude that fits i64 only when negative.
    let n = 0i64.checked_sub_unsigned(magnitude)?;
    Some(Number::NegInt(n))
}

/// A float, `.inf`, `-.inf` or `.nan` (any of their three spellings).
fn parse_float(text: &str) -> Option<f64> {
    let unsigned = match text.strip_prefix('+') {
        Some(rest) if rest.starts_with(['+', '-']) => return None,
        Some(rest) => rest,
        None => text,
    };
    match unsigned {
        ".inf" | ".Inf" | ".INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    // Rust's parser also takes `inf` and `NaN`, which YAML reads as strings.
    if !unsigned
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    unsigned.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// What makes two keys the same key: their kind and value.
fn key_identity(key: &Value) -> String {
    format!("{key:?}")
}

/// A key for a message: strings quoted, numbers and booleans as written, others by kind.
fn describe_key(key: &Value) -> String {
    match key {
        Value::String(s) => format!("{s:?}"),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_string(),
        Value::Sequence(_) => "a list".to_string(),
        Value::Mapping(_) => "a mapping".to_string(),
        Value::Tagged(t) => format!("tagged {}", t.tag),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(text: &str) -> Value {
        from_str(text).expect("parses")
    }

    #[test]
    fn plain_scalars_are_typed_as_serde_yaml_typed_them() {
        assert_eq!(num("5"), Value::Number(Number::PosInt(5)));
        assert_eq!(num("-5"), Value::Number(Number::NegInt(-5)));
        assert_eq!(num("0x1F"), Value::Number(Number::PosInt(31)));
        assert_eq!(num("0o17"), Value::Number(Number::PosInt(15)));
        assert_eq!(num("0.5"), Value::Number(Number::Float(0.5)));
        assert_eq!(num("1e3"), Value::Number(Number::Float(1000.0)));
        assert_eq!(num("0123"), Value::String("0123".into()));
        assert_eq!(num("inf"), Value::String("inf".into()));
        assert_eq!(num("yes"), Value::String("yes".into()));
        assert_eq!(num("True"), Value::Bool(true));
        assert_eq!(num("~"), Value::Null);
        assert_eq!(num("'5'"), Value::String("5".into()));
        assert_eq!(num("!!str 5"), Value::String("5".into()));
        assert_eq!(num("18446744073709551616"), num("1.8446744073709552e19"));
        assert_eq!(
            num("-9223372036854775808"),
            Value::Number(Number::NegInt(i64::MIN))
        );
        assert_eq!(Number::Float(1000.0).to_string(), "1000.0");
        assert_eq!(num(""), Value::Null);
        assert_eq!(num("# only a comment\n"), Value::Null);
    }

    #[test]
    fn mappings_keep_order_and_refuse_repeats() {
        let v = num("B: 1\nA: [x, 'y']\n");
        let Value::Mapping(m) = v else {
            panic!("a mapping")
        };
        assert_eq!(m[0].0, Value::String("B".into()));
        assert_eq!(
            m[1].1,
            Value::Sequence(vec![Value::String("x".into()), Value::String("y".into())])
        );
        let err = from_str("A: 1\nB:\n  C: 1\n  C: 2\n").expect_err("repeat");
        assert_eq!(err.line, Some(4));
        assert_eq!(err.message, "duplicate entry with key \"C\"");
    }

    #[test]
    fn depth_is_bounded_and_cheap_to_refuse() {
        let ok = format!("{}1{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(from_str(&ok).is_ok());
        // 100,000 deep, in flow and in block style: refused at the line where it crosses.
        let flow = format!("A: {}", "[".repeat(100_000));
        let err = from_str(&flow).expect_err("too deep");
        assert_eq!(err.line, Some(1));
        assert!(err.message.contains("deeper than 64"), "{}", err.message);
        let block = "- ".repeat(100_000);
        let err = from_str(&block).expect_err("too deep");
        assert!(err.message.contains("deeper than 64"), "{}", err.message);
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [\"lol\", \"lol\", \"lol\", \"lol\"]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = from_str(&text).expect_err("bomb");
        assert!(err.message.contains("aliases expand"), "{}", err.message);
        // Plain reuse still works.
        let v = num("base: &h [a, b]\nother: *h\n");
        let Value::Mapping(m) = v else {
            panic!("a mapping")
        };
        assert_eq!(m[0].1, m[1].1);
    }

    #[test]
    fn syntax_errors_and_second_documents_have_lines() {
        let err = from_str("A: 1\nB: [1, 2\nC: 3\n").expect_err("unclosed");
        assert!(err.line.is_some());
        let err = from_str("A: 1\n---\nB: 2\n").expect_err("two documents");
        assert_eq!(err.line, Some(2));
    }
}
