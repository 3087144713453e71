//! The severity prior: how alarming the words of a message are, from 0 (nothing) to 1 (fatal).
//!
//! Operators care most about lines that say error, fail, fatal, panic, denied, timeout. This
//! module scores a message by the strongest such word it contains (case-insensitive, whole
//! words only, so `terror` does not count) and, where the line still carries a syslog `<PRI>`
//! header, by its syslog severity. It is a fixed lexicon, not learned: the detector combines it
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

/// Scores the words of `message`: the weight of its strongest lexicon word, or of its syslog
/// `<PRI>` severity if that is stronger; 0 when neither is present.
pub fn severity(message: &str) -> f32 {
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
    fn syslog_pri_counts() {
        assert_eq!(severity("<11>Dec  1 host app: something"), 0.7); // user.err
        assert_eq!(severity("<86>Dec  1 cumulus CRON[1]: session opened"), 0.0); // authpriv.info
        assert_eq!(severity("<2>1 2024-01-01T00:00:00Z h a - - - x"), 1.0); // kern.crit
        assert_eq!(severity("<999>nonsense"), 0.0);
    }
}
