//! What "not an anomaly" feedback does to scoring (SPEC section 7). Main type: [`Suppressions`].
//!
//! A feedback mark names a (source, host) and a message, and for an aggregate its template (the
//! aggregated text with `***` where members differ). From the next scoring pass on, a line of
//! that host is not flagged when its token sequence (the configured tokenizer, so numbers, IPs,
//! ids... are masked: "the same template") equals the token sequence of a marked message, or
//! when its whitespace tokens match a marked aggregate template (`***` standing for any run of
//! tokens, including none). Undone marks are not loaded, so undo restores the old behaviour.
//! Suppression only turns a would-be anomaly into a normal verdict; the score is kept.
//!
//! This module does no I/O: the caller reads the active marks from the store.

use std::collections::{HashMap, HashSet};

use lad_core::template::WILDCARD;
use lad_core::tokenizer::{Tokenizer, TokenizerMode};
use lad_store::Feedback;

/// The active feedback of one source, ready to test lines against.
#[derive(Debug, Clone)]
pub struct Suppressions {
    tokenizer: Tokenizer,
    /// Per host: token sequences (joined by a unit separator) of marked messages.
    keys: HashMap<String, HashSet<String>>,
    /// Per host: marked aggregate templates, as whitespace tokens.
    patterns: HashMap<String, Vec<Vec<String>>>,
}

/// The message's tokens joined by the tokenizer's separator, a byte no token contains.
fn key_of(tokenizer: &Tokenizer, message: &str) -> String {
    let mut key = String::new();
    tokenizer.tokenize_joined(message, &mut key);
    key
}

impl Suppressions {
    /// The suppressions of `marks` (undone ones are skipped), tokenising with `mode`.
    pub fn new(marks: &[Feedback], mode: TokenizerMode) -> Self {
        let tokenizer = Tokenizer::new(mode);
        let mut keys: HashMap<String, HashSet<String>> = HashMap::new();
        let mut patterns: HashMap<String, Vec<Vec<String>>> = HashMap::new();
        for f in marks.iter().filter(|f| f.undone_at_ms.is_none()) {
            let m = &f.mark;
            keys.entry(m.host.clone())
                .or_default()
                .insert(key_of(&tokenizer, &m.message));
            if let Some(t) = &m.template {
                let tokens: Vec<String> = t.split_ascii_whitespace().map(str::to_owned).collect();
                // A template of wildcards only would silence the whole host: ignore it (the
                // marked message above still counts).
                let literal = tokens.iter().any(|t| t != WILDCARD);
                if literal && tokens.iter().any(|t| t == WILDCARD) {
                    patterns.entry(m.host.clone()).or_default().push(tokens);
                }
            }
        }
        Suppressions {
            tokenizer,
            keys,
            patterns,
        }
    }

    /// True when no mark is active.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.patterns.is_empty()
    }

    /// Whether feedback says a line of `host` with `message` is not an anomaly.
    pub fn suppresses(&self, host: &str, message: &str) -> bool {
        if let Some(keys) = self.keys.get(host) {
            if keys.contains(&key_of(&self.tokenizer, message)) {
                return true;
            }
        }
        if let Some(patterns) = self.patterns.get(host) {
            let tokens: Vec<&str> = message.split_ascii_whitespace().collect();
            return patterns.iter().any(|p| wildcard_match(p, &tokens));
        }
        false
    }
}

/// Whether `tokens` match `pattern`, where [`WILDCARD`] matches any run of tokens (even none).
fn wildcard_match(pattern: &[String], tokens: &[&str]) -> bool {
    // Classic glob matching with backtracking to the last wildcard: linear in practice.
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < tokens.len() {
        if p < pattern.len() && pattern[p] == WILDCARD {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == tokens[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|x| x == WILDCARD)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lad_store::NewFeedback;

    fn mark(id: i64, host: &str, message: &str, template: Option<&str>) -> Feedback {
        Feedback {
            id,
            mark: NewFeedback {
                source: "s".into(),
                host: host.into(),
                record_id: None,
                message: message.into(),
                template: template.map(str::to_owned),
                who: "t".into(),
                at_ms: 0,
            },
            undone_at_ms: None,
        }
    }

    #[test]
    fn same_template_of_the_same_host_is_suppressed() {
        let s = Suppressions::new(
            &[mark(1, "a", "disk sda1 at 97% on 10.0.0.1", None)],
            TokenizerMode::Masked,
        );
        assert!(s.suppresses("a", "disk sda1 at 97% on 10.0.0.1"));
        assert!(s.suppresses("a", "disk sda1 at 42% on 10.9.9.9"));
        assert!(!s.suppresses("b", "disk sda1 at 97% on 10.0.0.1"));
        assert!(!s.suppresses("a", "disk sda1 failed"));
    }

    #[test]
    fn undone_marks_do_not_suppress() {
        let mut m = mark(1, "a", "kernel panic", None);
        m.undone_at_ms = Some(5);
        let s = Suppressions::new(&[m], TokenizerMode::Masked);
        assert!(s.is_empty());
        assert!(!s.suppresses("a", "kernel panic"));
    }

    #[test]
    fn aggregate_templates_match_with_wildcards() {
        let s = Suppressions::new(
            &[mark(
                1,
                "a",
                "user bob denied x",
                Some("user *** denied ***"),
            )],
            TokenizerMode::Masked,
        );
        assert!(s.suppresses("a", "user alice denied"));
        assert!(s.suppresses("a", "user alice smith denied on tty1"));
        assert!(!s.suppresses("a", "user alice allowed"));
        assert!(!s.suppresses("a", "root user alice denied"));
    }

    #[test]
    fn a_template_of_wildcards_only_is_ignored() {
        let s = Suppressions::new(
            &[mark(1, "a", "x y", Some("*** ***"))],
            TokenizerMode::Masked,
        );
        assert!(!s.suppresses("a", "anything at all"));
        assert!(s.suppresses("a", "x y"));
    }

    #[test]
    fn wildcard_match_agrees_with_a_regex_reading() {
        let p = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
        assert!(wildcard_match(&p("a *** b"), &["a", "b"]));
        assert!(wildcard_match(&p("a *** b"), &["a", "x", "b", "b"]));
        assert!(!wildcard_match(&p("a *** b"), &["a", "x", "b", "c"]));
        assert!(wildcard_match(&p("***"), &[]));
        assert!(!wildcard_match(&p("a"), &[]));
    }
}
