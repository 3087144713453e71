//! The bodies of lad's fuzz targets, one function per input format: each takes any bytes,
//! runs them through the code that reads that input in lad, and checks what must hold for
//! every input (no panic, errors that name a line inside the input, ids and bodies that are
//! parts of the input, round trips that give back what was saved).
//!
//! This file is the one source of these code paths: the libFuzzer binaries in
//! `fuzz/fuzz_targets/` call it, and `crates/lad/tests/fuzz_regressions.rs` includes it (by
//! `#[path]`) to replay the committed seed corpora and the regression inputs of
//! `fuzz/regressions/` on stable Rust in a normal `cargo test`. It uses only `lad`, `lad-core`,
//! `lad-store` and `std`, which both places have. It does no I/O beyond what the code under test
//! does (the config loader may read a `<KEY>_FILE` secret the input names).

use std::collections::HashMap;
use std::path::Path;

use lad_core::detector::HostModel;
use lad_core::model_file;
use lad_core::pattern::{Miner, PatternId, TemplateFormat};
use lad_core::syslog;
use lad_core::tokenizer::{Tokenizer, TokenizerMode, SEPARATOR};
use lad_store::parse::{self, ParseOptions, ParsedItem};
use lad_store::record::{FieldNames, RecordId};
use lad_store::timefmt;

/// The names of the targets, as the folders of `fuzz/corpus/` and `fuzz/regressions/` and the
/// binaries of `fuzz/fuzz_targets/` are named.
pub const TARGETS: [&str; 7] = [
    "tokenizer",
    "pattern",
    "jsonl",
    "mongoexport",
    "syslog",
    "config",
    "model_file",
];

/// Runs the target named `name` on `data`; `false` for an unknown name.
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "tokenizer" => tokenizer(data),
        "pattern" => pattern(data),
        "jsonl" => jsonl(data),
        "mongoexport" => mongoexport(data),
        "syslog" => syslog_import(data),
        "config" => config(data),
        "model_file" => model_file(data),
        _ => return false,
    }
    true
}

/// 2025-01-01T00:00:00Z: the "now" RFC 3164 stamps (which have no year) are read against.
const REFERENCE_MS: i64 = 1_735_689_600_000;

/// Both tokenizer modes: tokens are non-empty, hold no ASCII whitespace and no separator
/// (letters-only tokens are ASCII letters), and the three entry points agree.
pub fn tokenizer(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut reused = vec![String::from("left over"); 3];
    let mut joined = String::from("left over");
    for mode in [TokenizerMode::Masked, TokenizerMode::LettersOnly] {
        let tokenizer = Tokenizer::new(mode);
        let tokens = tokenizer.tokenize(&text);
        for token in &tokens {
            assert!(!token.is_empty(), "{mode:?}: an empty token");
            assert!(
                // The tokenizer splits at ASCII bytes only (its docs): other Unicode spaces,
                // such as U+2001, stay inside a token (fuzz/regressions/tokenizer/crash-55a0...).
                !token.contains(SEPARATOR) && !token.bytes().any(|b| b.is_ascii_whitespace()),
                "{mode:?}: token {token:?} holds a separator or ASCII whitespace"
            );
            if mode == TokenizerMode::LettersOnly {
                assert!(token.bytes().all(|b| b.is_ascii_alphabetic()), "{token:?}");
            }
        }
        tokenizer.tokenize_into(&text, &mut reused);
        assert_eq!(reused, tokens, "{mode:?}: tokenize_into differs");
        let count = tokenizer.tokenize_joined(&text, &mut joined);
        assert_eq!(count, tokens.len(), "{mode:?}: tokenize_joined's count");
        if count > 0 {
            assert_eq!(joined, tokens.join(&SEPARATOR.to_string()));
        }
    }
}

/// The syslog splitter and the pattern miner over the input's lines: the header's parts and
/// the body are slices of the line, the body its end; every line's pattern, once mined, is
/// what `classify` finds for it; a miner saved in the model file format reads back to the same
/// patterns.
pub fn pattern(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.split('\n').collect();
    let mut bodies = Vec::with_capacity(lines.len());
    let mut headers = Vec::with_capacity(lines.len());
    for line in &lines {
        let split = syslog::split(line);
        assert!(
            is_part(line, split.body) && line.ends_with(split.body),
            "the body {:?} is not the end of {line:?}",
            split.body
        );
        if let Some(h) = split.header {
            for part in [
                h.timestamp,
                h.host,
                h.program,
                h.pid,
                h.msgid,
                h.structured_data,
            ]
            .into_iter()
            .flatten()
            {
                assert!(is_part(line, part), "{part:?} is not a part of {line:?}");
            }
        }
        bodies.push(split.body);
        headers.push(split.header);
    }
    let mut miner = Miner::default();
    let first: Vec<PatternId> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| miner.observe(b, i as i64 * 1_000))
        .collect();
    for (body, id) in bodies.iter().zip(&first) {
        let id = miner.resolve(*id);
        let view = miner
            .get(id)
            .expect("a pattern handed out can be looked up");
        if !view.overflow {
            assert_eq!(miner.classify(body), id, "classify({body:?})");
        }
    }
    for view in miner.patterns() {
        let stars = view.template(TemplateFormat::Stars);
        let _ = view.template(TemplateFormat::Angle);
        let _ = syslog::aggregate_message(&headers, &stars);
    }
    let bytes = model_file::encode(&miner).expect("a miner encodes");
    let back: Miner = model_file::decode(&bytes).expect("a saved miner reads back");
    let texts = |m: &Miner| -> Vec<(PatternId, String, u64)> {
        m.patterns()
            .map(|v| (v.id, v.text.to_string(), v.stats.count))
            .collect()
    };
    assert_eq!(
        texts(&back),
        texts(&miner),
        "patterns after a save and load"
    );
    for body in &bodies {
        assert_eq!(back.classify(body), miner.classify(body), "{body:?}");
    }
}

/// `lad import` of JSON Lines (and the format detection in front of it).
pub fn jsonl(data: &[u8]) {
    let _ = parse::parse_bytes(data, &options());
    let items = parse::parse_json_lines(data, 1, &options());
    check_items(data, &items, true);
}

/// `lad import` of a `mongoexport --jsonArray` file (Extended JSON).
pub fn mongoexport(data: &[u8]) {
    let items = parse::parse_json_array(data, &options());
    check_items(data, &items, false);
}

/// `lad import` of syslog text (RFC 3164, RFC 5424, RFC 3339-prefixed), and the time parser on
/// every word that could be a time.
pub fn syslog_import(data: &[u8]) {
    let items = parse::parse_syslog_lines(data, 1, &options());
    check_items(data, &items, true);
    for line in String::from_utf8_lossy(data).lines() {
        if let Some(word) = line.split(' ').next() {
            if let Ok(ms) = timefmt::parse_time_str(word) {
                let _ = timefmt::format_rfc3339_millis(ms);
            }
        }
        if let Some(stamp) = line.get(..15) {
            if let Ok(ms) = timefmt::parse_rfc3164_stamp(stamp, REFERENCE_MS) {
                let _ = timefmt::format_rfc3339_millis(ms);
            }
        }
    }
}

/// The config loader on YAML text. A NUL byte ends the YAML; the lines after it are the
/// environment (`NAME=value`), so `LAD_<KEY>` overrides and `${VAR}` are reached too.
pub fn config(data: &[u8]) {
    let (yaml, env_text) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let Ok(yaml) = std::str::from_utf8(yaml) else {
        return; // the loader reads the file as UTF-8 text; that error is the reader's
    };
    let env: HashMap<String, String> = String::from_utf8_lossy(env_text)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    match lad::config::load_str(Some(Path::new("fuzz.yaml")), yaml, &env) {
        Ok((config, warnings)) => {
            let _ = config.describe();
            let _ = config.require_detection();
            let _ = config.require_aggregation();
            for w in warnings {
                let _ = w.to_string();
            }
        }
        Err(e) => {
            let message = e.to_string();
            assert!(!message.is_empty(), "an empty config error");
        }
    }
}

/// The model-file reader, on the input as a whole file and on the input as a payload behind a
/// right header (so that the checksum does not stop every mutation before the decoder). A model
/// or patterns file that reads without error must be usable: it scores lines, classifies and
/// learns, and saves again.
pub fn model_file(data: &[u8]) {
    model_bytes(data);
    model_bytes(&model_file::frame(data));
}

fn model_bytes(bytes: &[u8]) {
    const LINES: [&str; 4] = [
        "interface eth0 link up, speed 1000 Mbps",
        "session opened for user admin by (uid=48)",
        "kernel: Out of memory: Killed process 4242 (java)",
        "",
    ];
    if let Ok(model) = model_file::decode::<HostModel>(bytes) {
        let mut scorer = model.scorer();
        for line in LINES {
            let _ = scorer.score(line);
        }
        let mut explaining = model.explaining_scorer();
        let _ = explaining.score(LINES[2]);
        for line in LINES {
            let _ = model.patterns().classify(line);
        }
        let _ = model_file::encode(&model).expect("a model read from a file encodes again");
    }
    if let Ok(mut miner) = model_file::decode::<Miner>(bytes) {
        for line in LINES {
            let id = miner.classify(line);
            let _ = miner.get(id);
        }
        for view in miner.patterns() {
            let _ = view.template(TemplateFormat::Stars);
        }
        for (i, line) in LINES.iter().enumerate() {
            let id = miner.observe(line, i as i64);
            let _ = miner.resolve(id);
        }
        let _ = model_file::encode(&miner).expect("a miner read from a file encodes again");
    }
}

fn options() -> ParseOptions {
    ParseOptions {
        fields: FieldNames::default(),
        origin: "fuzz.in".into(),
        reference_time_ms: REFERENCE_MS,
    }
}

/// What holds for the items of any input: one item per non-blank line at most (JSON Lines,
/// syslog) , line numbers inside the input and in order, an id on every record, a time that
/// `lad export` can write.
fn check_items(data: &[u8], items: &[ParsedItem], one_per_line: bool) {
    let lines = data.split(|b| *b == b'\n').count();
    let mut last = 0;
    for item in items {
        let line = match item {
            Ok(p) => {
                assert!(p.record.original_id.is_some(), "a record without an id");
                if let Some(RecordId::Text(id)) = &p.record.original_id {
                    assert!(!id.is_empty());
                }
                let _ = timefmt::format_rfc3339_millis(p.record.time);
                p.line
            }
            Err(e) => {
                assert!(!e.reason.is_empty(), "an error without a reason");
                e.line
            }
        };
        assert!(
            (1..=lines).contains(&line),
            "line {line} outside 1..={lines}"
        );
        if one_per_line {
            assert!(line > last, "line {line} after line {last}");
        } else {
            assert!(line >= last, "line {line} after line {last}");
        }
        last = line;
    }
}

/// Whether `part` is a slice of `whole` (by address, not by content). An empty part may be any
/// `""` and is a part of everything.
fn is_part(whole: &str, part: &str) -> bool {
    let (w, p) = (whole.as_ptr() as usize, part.as_ptr() as usize);
    part.is_empty() || (p >= w && p + part.len() <= w + whole.len())
}
