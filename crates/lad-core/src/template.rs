//! Template building: the aggregated text of a group of messages. Main item: [`build_template`].
//!
//! A template keeps the whitespace-separated tokens that every member shares, in order, and writes
//! [`WILDCARD`] (`***`) where members differ; consecutive wildcards collapse into one. Messages of
//! different lengths are aligned (longest common subsequence against the running template), so an
//! inserted token costs one `***` instead of turning the rest of the line into `***` as the old
//! system's position-by-position comparison did. This module does not group messages (that is
//! [`crate::aggregate`]) and does not tokenise them beyond splitting on whitespace.

/// The text written where the members of a group differ.
pub const WILDCARD: &str = "***";

/// Above this many cells (template tokens times message tokens) the alignment falls back to the
/// common prefix and suffix, so a megabyte-long line cannot make the table explode.
const MAX_ALIGNMENT_CELLS: usize = 4_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot<'a> {
    Literal(&'a str),
    Wild,
}

fn slots(message: &str) -> Vec<Slot<'_>> {
    message
        .split_ascii_whitespace()
        .map(|t| {
            if t == WILDCARD {
                Slot::Wild
            } else {
                Slot::Literal(t)
            }
        })
        .collect()
}

/// The template of `messages`: tokens shared by all of them stay, differing parts become `***`.
///
/// One message gives itself back with whitespace normalised (single spaces, no leading or
/// trailing space); no message gives an empty string. A `***` token inside a message is read as a
/// wildcard, so `build_template(&[t, t]) == t` for every template `t` this function returns. The
/// result depends only on the messages and their order.
pub fn build_template<S: AsRef<str>>(messages: &[S]) -> String {
    let Some((first, rest)) = messages.split_first() else {
        return String::new();
    };
    if rest.is_empty() {
        return first
            .as_ref()
            .split_ascii_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
    }
    let mut template = collapse(slots(first.as_ref()));
    for message in rest {
        let message = slots(message.as_ref());
        template = collapse(align(&template, &message));
    }
    let mut out = String::new();
    for slot in template {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(match slot {
            Slot::Literal(t) => t,
            Slot::Wild => WILDCARD,
        });
    }
    out
}

/// Merges runs of wildcards into one.
fn collapse(slots: Vec<Slot<'_>>) -> Vec<Slot<'_>> {
    let mut out: Vec<Slot<'_>> = Vec::with_capacity(slots.len());
    for slot in slots {
        if slot == Slot::Wild && out.last() == Some(&Slot::Wild) {
            continue;
        }
        out.push(slot);
    }
    out
}

/// Aligns a message against the template: literals matched in both stay, any unmatched stretch on
/// either side becomes a wildcard.
fn align<'a>(template: &[Slot<'a>], message: &[Slot<'_>]) -> Vec<Slot<'a>> {
    let n = template.len();
    let m = message.len();
    let matches = if n.saturating_mul(m) > MAX_ALIGNMENT_CELLS {
        prefix_suffix_matches(template, message)
    } else {
        lcs_matches(template, message)
    };
    let mut out = Vec::with_capacity(n);
    let (mut i, mut j) = (0, 0);
    for (ti, mj) in matches.into_iter().chain(std::iter::once((n, m))) {
        if ti > i || mj > j {
            out.push(Slot::Wild);
        }
        if ti < n {
            out.push(template[ti]);
        }
        i = ti + 1;
        j = mj + 1;
    }
    out
}

fn same(a: Slot<'_>, b: Slot<'_>) -> bool {
    matches!((a, b), (Slot::Literal(x), Slot::Literal(y)) if x == y)
}

/// Index pairs of a longest common subsequence of literals, each match taken as early as possible.
fn lcs_matches(a: &[Slot<'_>], b: &[Slot<'_>]) -> Vec<(usize, usize)> {
    let (n, m) = (a.len(), b.len());
    let width = m + 1;
    // suffix[i * width + j] = LCS length of a[i..] and b[j..].
    let mut suffix = vec![0u32; (n + 1) * width];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            suffix[i * width + j] = if same(a[i], b[j]) {
                suffix[(i + 1) * width + j + 1] + 1
            } else {
                suffix[(i + 1) * width + j].max(suffix[i * width + j + 1])
            };
        }
    }
    let mut out = Vec::with_capacity(suffix[0] as usize);
    let (mut i, mut j) = (0, 0);
    while i < n && j < m {
        if same(a[i], b[j]) && suffix[i * width + j] == suffix[(i + 1) * width + j + 1] + 1 {
            out.push((i, j));
            i += 1;
            j += 1;
        } else if suffix[(i + 1) * width + j] >= suffix[i * width + j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Matches of the common prefix and the common suffix only (the cheap fallback).
fn prefix_suffix_matches(a: &[Slot<'_>], b: &[Slot<'_>]) -> Vec<(usize, usize)> {
    let prefix = a.iter().zip(b).take_while(|(x, y)| same(**x, **y)).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| same(**x, **y))
        .count();
    let mut out: Vec<(usize, usize)> = (0..prefix).map(|k| (k, k)).collect();
    out.extend(
        (0..suffix)
            .rev()
            .map(|k| (a.len() - 1 - k, b.len() - 1 - k)),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// True when the literal tokens of `template` appear in order among the tokens of `message`.
    fn is_subsequence(template: &str, message: &str) -> bool {
        let mut tokens = message.split_ascii_whitespace();
        template
            .split_ascii_whitespace()
            .filter(|t| *t != WILDCARD)
            .all(|t| tokens.any(|m| m == t))
    }

    #[test]
    fn seed_readme_cron_example() {
        let messages = [
            "<86>Dec  1 17:15:01 cumulus CRON[25368]: pam_unix(cron:session): session opened for user root by (uid=0)",
            "<86>Dec  1 17:00:01 cumulus CRON[25252]: pam_unix(cron:session): session opened for user user by (uid=0)",
            "<86>Dec  1 16:45:01 cumulus CRON[25136]: pam_unix(cron:session): session opened for user root by (uid=0)",
            "<86>Dec  1 16:30:01 cumulus CRON[25019]: pam_unix(cron:session): session opened for user root by (uid=0)",
            "<86>Dec  1 16:17:01 cumulus CRON[24915]: pam_unix(cron:session): session opened for user cumulus by (uid=0)",
        ];
        assert_eq!(
            build_template(&messages),
            "<86>Dec 1 *** cumulus *** pam_unix(cron:session): session opened for user *** by (uid=0)"
        );
    }

    #[test]
    fn inserted_token_costs_one_wildcard() {
        let t = build_template(&["a b c d e", "a b X c d e"]);
        assert_eq!(t, "a b *** c d e");
        assert_eq!(build_template(&["a b c", "a b c d"]), "a b c ***");
        assert_eq!(build_template(&["x a b", "a b"]), "*** a b");
    }

    #[test]
    fn empty_and_disjoint_inputs() {
        assert_eq!(build_template::<&str>(&[]), "");
        assert_eq!(build_template(&["a b", "c d"]), "***");
        assert_eq!(build_template(&["", "a"]), "***");
        assert_eq!(build_template(&["", ""]), "");
    }

    #[test]
    fn long_lines_use_the_cheap_alignment() {
        let a = format!("start {} end", "x ".repeat(3_000));
        let b = format!("start {} end", "y ".repeat(3_000));
        assert_eq!(build_template(&[a, b]), "start *** end");
    }

    proptest! {
        #[test]
        fn single_message_is_returned_normalised(s in "[a-c* \t]{0,40}") {
            let want = s.split_ascii_whitespace().collect::<Vec<_>>().join(" ");
            prop_assert_eq!(build_template(&[&s]), want);
        }

        #[test]
        fn template_literals_are_in_every_member(
            messages in proptest::collection::vec("[a-d]{1,2}( [a-d]{1,2}){0,12}", 1..6)
        ) {
            let t = build_template(&messages);
            for m in &messages {
                prop_assert!(is_subsequence(&t, m), "template {:?} member {:?}", t, m);
            }
            prop_assert!(!t.contains("*** ***"));
        }

        #[test]
        fn template_is_idempotent(
            messages in proptest::collection::vec("[a-d]{1,2}( [a-d]{1,2}){0,12}", 2..6)
        ) {
            let t = build_template(&messages);
            prop_assert_eq!(build_template(&[&t, &t]), t.clone());
            // Adding the template itself as a member changes nothing either.
            let mut with_t = messages.clone();
            with_t.push(t.clone());
            prop_assert_eq!(build_template(&with_t), t);
        }

        #[test]
        fn never_panics(messages in proptest::collection::vec(any::<String>(), 0..5)) {
            let _ = build_template(&messages);
        }
    }
}
