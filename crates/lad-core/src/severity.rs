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

/// Lexicon entries: a lowercase word and its weight in `[0, 1]`.
const LEXICON: &[(&str, f32)] = &[
    ("emerg", 1.0),
    ("emergency", 1.0),
    ("panic", 1.0),
    ("fatal", 1.0),
    ("segfault", 1.0),
    ("crit", 0.9),
    ("critical", 0.9),
    ("alert", 0.8),
    ("oom", 0.8),
    ("corrupt", 0.8),
    ("corrupted", 0.8),
    ("severe", 0.8),
    ("error", 0.7),
    ("errors", 0.7),
    ("err", 0.7),
    ("fail", 0.7),
    ("failed", 0.7),
    ("failure", 0.7),
    ("failures", 0.7),
    ("abort", 0.7),
    ("aborted", 0.7),
    ("exception", 0.7),
    ("killed", 0.6),
    ("denied", 0.6),
    ("refused", 0.6),
    ("unreachable", 0.6),
    ("timeout", 0.6),
    ("timed", 0.5),
    ("severed", 0.5),
    ("lost", 0.5),
    ("unable", 0.5),
    ("cannot", 0.5),
    ("invalid", 0.4),
    ("illegal", 0.5),
    ("violation", 0.6),
    ("down", 0.4),
    ("bad", 0.4),
    ("reset", 0.3),
    ("warn", 0.3),
    ("warning", 0.3),
    ("retry", 0.2),
];

/// Declared level words (exact, upper case) and their weights.
const LEVELS: &[(&str, f32)] = &[
    ("TRACE", 0.0),
    ("DEBUG", 0.0),
    ("INFO", 0.0),
    ("NOTICE", 0.0),
    ("WARN", 0.3),
    ("WARNING", 0.3),
    ("ERR", 0.7),
    ("ERROR", 0.7),
    ("SEVERE", 0.8),
    ("CRIT", 0.9),
    ("CRITICAL", 0.9),
    ("ALERT", 0.9),
    ("FATAL", 1.0),
    ("EMERG", 1.0),
    ("PANIC", 1.0),
];

/// How many leading words may hold a declared level.
const LEVEL_WORDS: usize = 12;

/// Scores `message` in `[0, 1]`: its declared level if it has one, otherwise the weight of its
/// strongest lexicon word or of its syslog `<PRI>` severity, whichever is stronger; 0 when
/// none is present.
pub fn severity(message: &str) -> f32 {
    if let Some(level) = declared_level(message) {
        return level;
    }
    let mut best = pri_severity(message).unwrap_or(0.0);
    for word in message.split(|c: char| !c.is_ascii_alphabetic()) {
        if word.len() < 3 || word.len() > 11 || best >= 1.0 {
            continue;
        }
        let mut lower = [0u8; 11];
        for (dst, src) in lower.iter_mut().zip(word.bytes()) {
            *dst = src.to_ascii_lowercase();
        }
        let lower = &lower[..word.len()];
        if let Some((_, w)) = LEXICON.iter().find(|(k, _)| k.as_bytes() == lower) {
            best = best.max(*w);
        }
    }
    best
}

/// The weight of the first declared level among the leading words, if any.
fn declared_level(message: &str) -> Option<f32> {
    message
        .split_ascii_whitespace()
        .take(LEVEL_WORDS)
        .find_map(|word| {
            let bracketed = word
                .strip_prefix('[')
                .and_then(|w| w.strip_suffix(']'))
                .map(|w| w.to_ascii_uppercase());
            let word = bracketed.as_deref().unwrap_or(word);
            let word = word.trim_end_matches(':');
            LEVELS.iter().find(|(k, _)| *k == word).map(|(_, w)| *w)
        })
}

/// The weight of a leading syslog `<PRI>` (RFC 3164/5424): severities 0-2 (emerg, alert,
/// crit) weigh 1, 3 (err) 0.7, 4 (warning) 0.3, the rest 0.
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
    Some(match pri % 8 {
        0..=2 => 1.0,
        3 => 0.7,
        4 => 0.3,
        _ => 0.0,
    })
}

#[cfg(test)]
mod tests {
    use super::severity;

    #[test]
    fn strongest_word_wins_case_insensitively() {
        assert_eq!(severity("Connection timed out; FATAL error"), 1.0);
        assert_eq!(severity("sshd: Failed password for root"), 0.7);
        assert_eq!(severity("session opened for user root"), 0.0);
    }

    #[test]
    fn whole_words_only() {
        assert_eq!(severity("terrorist errand"), 0.0);
        assert_eq!(severity("error_count=0"), 0.7);
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
            0.7
        );
        assert_eq!(severity("[notice] worker process exited, failed"), 0.0);
        // Lower-case level words in free text are ordinary words.
        assert_eq!(severity("connection info: fatal signal"), 1.0);
    }

    #[test]
    fn syslog_pri_counts() {
        assert_eq!(severity("<11>Dec  1 host app: something"), 0.7); // user.err
        assert_eq!(severity("<86>Dec  1 cumulus CRON[1]: session opened"), 0.0); // authpriv.info
        assert_eq!(severity("<2>1 2024-01-01T00:00:00Z h a - - - x"), 1.0); // kern.crit
        assert_eq!(severity("<999>nonsense"), 0.0);
    }
}
