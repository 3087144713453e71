//! The severity prior: how alarming the words of a message are, from 0 (nothing) to 1 (fatal).
//!
//! Operators care most about lines that say error, fail, fatal, panic, denied, timeout. This
//! module scores a message by the strongest such word it contains (case-insensitive, whole
//! words only, so `terror` does not count) and, where the line still carries a syslog `<PRI>`
//! header, by its syslog severity.
//!
//! A line that declares its own level (an upper-case level word such as `INFO`, `WARNING`,
//! `ERROR`, `FATAL` among its first words, or a bracketed one such as nginx's `[error]`) is
//! scored by that level alone: the program that wrote the line knew better than its wording,
//! and `RAS KERNEL INFO 0 critical input interrupts` is routine, not critical. It is a fixed lexicon, not learned: the detector combines it
//! with what it learned of the host (see [`crate::detector`]), and it can be switched off.

/// The weight of a lower-case lexicon word, if it is one. A `match` on the bytes compiles to a
/// decision tree, so looking up every word of every line stays cheap.
fn lexicon(word: &[u8]) -> Option<f32> {
    Some(match word {
        b"emerg" | b"emergency" | b"panic" | b"fatal" | b"segfault" => 1.0,
        b"crit" | b"critical" => 0.95,
        b"alert" | b"oom" | b"corrupt" | b"corrupted" | b"severe" => 0.9,
        b"error" | b"errors" | b"err" | b"fail" | b"failed" | b"failure" | b"failures"
        | b"abort" | b"aborted" | b"exception" => 0.85,
        b"killed" | b"denied" | b"refused" | b"unreachable" | b"timeout" | b"violation" => 0.8,
        b"timed" | b"severed" | b"lost" | b"unable" | b"cannot" | b"illegal" | b"down"
        | b"full" | b"dropping" => 0.75,
        b"invalid" | b"bad" | b"reset" => 0.7,
        b"warn" | b"warning" => 0.65,
        b"retry" => 0.6,
        _ => return None,
    })
}

/// Declared level words (exact, upper case) and their weights.
const LEVELS: &[(&str, f32)] = &[
    ("TRACE", 0.0),
    ("DEBUG", 0.0),
    ("INFO", 0.0),
    ("NOTICE", 0.0),
    ("WARN", 0.65),
    ("WARNING", 0.65),
    ("ERR", 0.85),
    ("ERROR", 0.85),
    ("SEVERE", 0.9),
    ("CRIT", 0.95),
    ("CRITICAL", 0.95),
    ("ALERT", 0.95),
    ("FATAL", 1.0),
    ("EMERG", 1.0),
    ("PANIC", 1.0),
];

/// The prior of a line that declares no level and holds no alarming word: nothing is known.
pub const NEUTRAL: f32 = 0.5;

/// How many leading words may hold a declared level.
const LEVEL_WORDS: usize = 12;

/// Each byte's lower-case letter, or 0 for a byte that is not an ASCII letter ([`SPACE`] for
/// ASCII whitespace): one table load both tests and lowers a byte.
const fn byte_table() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut b = 0usize;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphabetic() {
            t[b] = c.to_ascii_lowercase();
        } else if c.is_ascii_whitespace() {
            t[b] = SPACE;
        }
        b += 1;
    }
    t
}

/// [`LOWER`]'s mark for ASCII whitespace (no letter has this bit).
const SPACE: u8 = 0x80;

static LOWER: [u8; 256] = byte_table();

#[inline]
fn is_space(b: u8) -> bool {
    LOWER[b as usize] == SPACE
}

#[inline]
fn letter(b: u8) -> u8 {
    LOWER[b as usize] & !SPACE
}

/// Scores `message` in `[0, 1]`: its declared level if it has one (0 for a routine `INFO`),
/// otherwise the weight of its strongest lexicon word or of its syslog `<PRI>` severity,
/// whichever is stronger, and [`NEUTRAL`] when there is neither.
pub fn severity(message: &str) -> f32 {
    if let Some(level) = declared_level(message) {
        return level;
    }
    let mut best = pri_severity(message).unwrap_or(NEUTRAL).max(NEUTRAL);
    let bytes = message.as_bytes();
    let mut i = 0;
    while i < bytes.len() && best < 1.0 {
        if letter(bytes[i]) == 0 {
            i += 1;
            continue;
        }
        // A run of letters, lowered as it is read (only its first 11 letters are kept: no
        // lexicon word is longer).
        let start = i;
        let mut lower = [0u8; 11];
        while i < bytes.len() {
            let l = letter(bytes[i]);
            if l == 0 {
                break;
            }
            if let Some(slot) = lower.get_mut(i - start) {
                *slot = l;
            }
            i += 1;
        }
        let len = i - start;
        if !(3..=11).contains(&len) {
            continue;
        }
        if let Some(w) = lexicon(&lower[..len]) {
            best = best.max(w);
        }
    }
    best
}

/// The weight of the first declared level among the leading words, if any.
fn declared_level(message: &str) -> Option<f32> {
    let bytes = message.as_bytes();
    let mut i = 0;
    for _ in 0..LEVEL_WORDS {
        while i < bytes.len() && is_space(bytes[i]) {
            i += 1;
        }
        if i == bytes.len() {
            return None;
        }
        let start = i;
        while i < bytes.len() && !is_space(bytes[i]) {
            i += 1;
        }
        if let Some(level) = level_of(&bytes[start..i]) {
            return Some(level);
        }
    }
    None
}

/// The weight of one word if it declares a level: an upper-case level word (`ERROR`,
/// `WARN:`) or a bracketed one in any case (`[error]`).
fn level_of(word: &[u8]) -> Option<f32> {
    // Level words are upper case or bracketed: skip the rest cheaply.
    let bracketed = match word.first()? {
        b'[' => true,
        b if b.is_ascii_uppercase() => false,
        _ => return None,
    };
    let inner = if bracketed {
        word.strip_prefix(b"[")
            .and_then(|w| w.strip_suffix(b"]"))
            .unwrap_or(word)
    } else {
        word
    };
    let mut end = inner.len();
    while end > 0 && inner[end - 1] == b':' {
        end -= 1;
    }
    let inner = &inner[..end];
    if !(3..=8).contains(&inner.len()) {
        return None;
    }
    LEVELS
        .iter()
        .find(|(k, _)| {
            if bracketed && word.len() >= 2 && word.ends_with(b"]") {
                k.as_bytes().eq_ignore_ascii_case(inner)
            } else {
                k.as_bytes() == inner
            }
        })
        .map(|(_, w)| *w)
}

/// The weight of a leading syslog `<PRI>` (RFC 3164/5424): severities 0-2 (emerg, alert,
/// crit) weigh 1, 3 (err) 0.85, 4 (warning) 0.65; notice, info and debug say nothing (many
/// programs log failures at info, so a low PRI does not make a line routine).
fn pri_severity(message: &str) -> Option<f32> {
    let rest = message.trim_start().strip_prefix('<')?;
    let end = rest.find('>')?;
    if end == 0 || end > 3 {
        return None;
    }
    let pri: u16 = rest[..end].parse().ok()?;
    if pri > 191 {
        return None;
    }
    match pri % 8 {
        0..=2 => Some(1.0),
        3 => Some(0.85),
        4 => Some(0.65),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{lexicon, pri_severity, severity, LEVELS, LEVEL_WORDS, NEUTRAL};
    use proptest::prelude::*;

    /// The plain statement of the rule (the first version of this module): the table-driven
    /// scanner above must agree with it on every input.
    fn reference(message: &str) -> f32 {
        let declared = message
            .split_ascii_whitespace()
            .take(LEVEL_WORDS)
            .find_map(|word| {
                if !word.starts_with(|c: char| c.is_ascii_uppercase() || c == '[') {
                    return None;
                }
                let bracketed = word
                    .strip_prefix('[')
                    .and_then(|w| w.strip_suffix(']'))
                    .map(|w| w.to_ascii_uppercase());
                let word = bracketed.as_deref().unwrap_or(word);
                let word = word.trim_end_matches(':');
                LEVELS.iter().find(|(k, _)| *k == word).map(|(_, w)| *w)
            });
        if let Some(level) = declared {
            return level;
        }
        let mut best = pri_severity(message).unwrap_or(NEUTRAL).max(NEUTRAL);
        for run in message.split(|c: char| !c.is_ascii_alphabetic()) {
            if (3..=11).contains(&run.len()) {
                if let Some(w) = lexicon(run.to_ascii_lowercase().as_bytes()) {
                    best = best.max(w);
                }
            }
        }
        best
    }

    proptest! {
        #[test]
        fn agrees_with_the_plain_statement_of_the_rule(s in prop_oneof![
            any::<String>(),
            "[a-zA-Z\\[\\]:<>0-9 \t_é]{0,80}",
            "(<[0-9]{1,3}>)?(([A-Za-z]{1,9}|\\[[A-Za-z]{2,8}:?\\]|[0-9:.-]{1,8}|ERR|ERROR:|WARN|INFO|NOTICE|CRITICAL::|\\[err\\]|\\[Error:\\]|\\[|\\[\\]|info|error|failed|Fatal|timeout)( |\t){1,2}){0,16}",
        ]) {
            prop_assert_eq!(severity(&s).to_bits(), reference(&s).to_bits(), "{:?}", s);
        }
    }

    #[test]
    fn strongest_word_wins_case_insensitively() {
        assert_eq!(severity("Connection timed out; FATAL error"), 1.0);
        assert_eq!(severity("sshd: Failed password for root"), 0.85);
        assert_eq!(severity("session opened for user root"), NEUTRAL);
    }

    #[test]
    fn whole_words_only() {
        assert_eq!(severity("terrorist errand"), NEUTRAL);
        assert_eq!(severity("error_count=0"), 0.85);
    }

    #[test]
    fn a_declared_level_overrides_the_wording() {
        assert_eq!(
            severity("R23 RAS KERNEL INFO 0 critical input interrupts"),
            0.0
        );
        assert_eq!(severity("R23 RAS APP FATAL ciod: Error loading /x"), 1.0);
        assert_eq!(
            severity("2024/01/01 10:00:00 [error] 42#42: open() failed"),
            0.85
        );
        assert_eq!(severity("[notice] worker process exited, failed"), 0.0);
        // Lower-case level words in free text are ordinary words.
        assert_eq!(severity("connection info: fatal signal"), 1.0);
    }

    #[test]
    fn syslog_pri_counts_upwards_only() {
        assert_eq!(severity("<11>Dec  1 host app: something"), 0.85); // user.err
        assert_eq!(
            severity("<86>Dec  1 cumulus CRON[1]: session opened"),
            NEUTRAL
        ); // authpriv.info
        assert_eq!(
            severity("<38>Dec  1 bastion sshd[2]: Failed password"),
            0.85
        ); // auth.info
        assert_eq!(severity("<2>1 2024-01-01T00:00:00Z h a - - - x"), 1.0); // kern.crit
        assert_eq!(severity("<999>nonsense"), NEUTRAL);
    }
}
