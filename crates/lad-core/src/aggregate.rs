//! Aggregation: groups messages (normally the anomalies of a window) into templates. Main items:
//! [`group`], [`AggregateParams`], [`GroupingMethod`], [`Grouping`].
//!
//! Two methods exist. [`GroupingMethod::Templates`] (the default) cuts the syslog header off
//! each message ([`crate::syslog`]) and groups the bodies by pattern ([`crate::pattern`]): a
//! group is one pattern, its text the pattern with `***` for variables, behind the members'
//! header with its varying parts collapsed into one `***`. [`group_by_patterns`] does the
//! same with a miner that has already seen the stream. [`GroupingMethod::Dbscan`] is the old
//! system's way (letters-only tokens, Word2Vec mean vectors, DBSCAN; noise points become
//! groups of one), kept in [`legacy`], whose group text is [`build_template`] of its members.
//!
//! Group indices are ordered by the first message of each group, and the same input and parameters always give the same
//! grouping. This module does no I/O and knows nothing of the fields an aggregate carries in the
//! store (counts, average times, hosts): callers compute those from [`Grouping::labels`].

pub mod legacy;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::pattern::lexer::lex;
use crate::pattern::{
    mine, render, Miner, PatternError, PatternId, PatternParams, PatternValidParams, TemplateFormat,
};
use crate::syslog::{aggregate_message, split, Header, Split};
use crate::template::build_template;

/// How messages are grouped.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum GroupingMethod {
    /// Drain-like parse tree over masked tokens (the default).
    #[default]
    Templates,
    /// The old system: Word2Vec mean vectors clustered with DBSCAN.
    Dbscan,
}

/// Settings of [`group`]. The DBSCAN fields mirror the old `AGGR_*` keys; the others tune the
/// template tree.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AggregateParams {
    /// Which grouping runs.
    pub method: GroupingMethod,
    /// DBSCAN neighbourhood radius (`AGGR_EPS`).
    pub eps: f64,
    /// DBSCAN core point size (`AGGR_MIN_SAMPLES`).
    pub min_samples: usize,
    /// Word2Vec dimension for DBSCAN (`AGGR_VECTOR_LENGTH`).
    pub vector_length: usize,
    /// Word2Vec window for DBSCAN (`AGGR_WINDOW`).
    pub window: usize,
    /// Seed of the Word2Vec training for DBSCAN.
    pub seed: u64,
    /// Settings of the pattern miner for [`GroupingMethod::Templates`].
    pub patterns: PatternParams,
}

impl Default for AggregateParams {
    fn default() -> Self {
        Self {
            method: GroupingMethod::Templates,
            eps: 0.5,
            min_samples: 5,
            vector_length: 25,
            window: 5,
            seed: 1,
            patterns: PatternParams::default(),
        }
    }
}

/// Why [`group`] refused its input.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AggregateError {
    /// A parameter is outside its range.
    #[error("aggregation parameter {name}: expected {expected}, found {found}")]
    InvalidParam {
        /// The parameter's name.
        name: &'static str,
        /// What was expected.
        expected: &'static str,
        /// The value given.
        found: String,
    },
    /// The pattern settings for [`GroupingMethod::Templates`] are out of range.
    #[error("aggregation by patterns: {0}")]
    Pattern(#[from] PatternError),
    /// The Word2Vec settings derived for [`GroupingMethod::Dbscan`] are out of range.
    #[error("aggregation by DBSCAN: {0}")]
    Word2Vec(#[from] crate::word2vec::Word2VecError),
}

/// The result of [`group`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grouping {
    /// Group index of each input message, in input order; groups are numbered by first appearance.
    pub labels: Vec<usize>,
    /// The text of each group (`***` where members differ), indexed by group.
    pub templates: Vec<String>,
}

impl AggregateParams {
    fn check(&self) -> Result<(), AggregateError> {
        let invalid = |name, expected, found: String| {
            Err(AggregateError::InvalidParam {
                name,
                expected,
                found,
            })
        };
        if self.method == GroupingMethod::Dbscan {
            if !(self.eps.is_finite() && self.eps > 0.0) {
                return invalid("eps", "a finite number above 0", self.eps.to_string());
            }
            if self.min_samples == 0 {
                return invalid("min_samples", "at least 1", "0".to_string());
            }
            if self.vector_length == 0 {
                return invalid("vector_length", "at least 1", "0".to_string());
            }
            if self.window == 0 {
                return invalid("window", "at least 1", "0".to_string());
            }
            legacy::word2vec_params(self)?;
        }
        Ok(())
    }
}

/// Groups `messages` and builds each group's template.
///
/// # Errors
/// [`AggregateError::InvalidParam`] when a parameter the chosen method uses is out of range.
pub fn group<S: AsRef<str>>(
    messages: &[S],
    params: &AggregateParams,
) -> Result<Grouping, AggregateError> {
    params.check()?;
    match params.method {
        GroupingMethod::Templates => Ok(pattern_groups(messages, &params.patterns.check()?)),
        GroupingMethod::Dbscan => {
            let raw = legacy::dbscan_labels(messages, params)?;
            Ok(finish(messages, &raw))
        }
    }
}

/// Renumbers arbitrary group ids by first appearance and builds the templates.
fn finish<S: AsRef<str>>(messages: &[S], raw: &[usize]) -> Grouping {
    let mut renumber: HashMap<usize, usize> = HashMap::new();
    let mut members: Vec<Vec<&str>> = Vec::new();
    let labels = raw
        .iter()
        .zip(messages)
        .map(|(&id, message)| {
            let next = renumber.len();
            let label = *renumber.entry(id).or_insert(next);
            if label == members.len() {
                members.push(Vec::new());
            }
            members[label].push(message.as_ref());
            label
        })
        .collect();
    let templates = members.iter().map(|m| build_template(m)).collect();
    Grouping { labels, templates }
}

/// Groups by pattern: each message's syslog header is cut off ([`crate::syslog`]), the bodies
/// are mined ([`crate::pattern::mine`]) and messages of one pattern are one group. A group's
/// text is its pattern in the `***` format behind the members' header with the parts that
/// differ collapsed ([`crate::syslog::aggregate_message`]).
fn pattern_groups<S: AsRef<str>>(messages: &[S], params: &PatternValidParams) -> Grouping {
    let splits: Vec<Split<'_>> = messages.iter().map(|m| split(m.as_ref())).collect();
    let bodies: Vec<&str> = splits.iter().map(|s| s.body).collect();
    let mined = mine(&bodies, params);
    group_by_ids(&splits, &mined.ids, &mined.miner)
}

/// Groups messages by the pattern a miner that has already seen the stream (normally the
/// host's, trained on all its lines) gives their bodies, without learning: aggregation then
/// uses the same patterns as the rest of lad, however few messages are grouped. Labels and
/// texts as for [`group`]; a body of a shape the miner has not seen is its own pattern.
pub fn group_by_patterns<S: AsRef<str>>(messages: &[S], miner: &Miner) -> Grouping {
    let splits: Vec<Split<'_>> = messages.iter().map(|m| split(m.as_ref())).collect();
    let ids: Vec<PatternId> = splits.iter().map(|s| miner.classify(s.body)).collect();
    group_by_ids(&splits, &ids, miner)
}

fn group_by_ids(splits: &[Split<'_>], ids: &[PatternId], miner: &Miner) -> Grouping {
    let mut label_of: HashMap<PatternId, usize> = HashMap::new();
    // Per group: its pattern, the body of its first member and the members' headers.
    let mut members: Vec<(PatternId, &str, Vec<Option<Header<'_>>>)> = Vec::new();
    let labels = ids
        .iter()
        .zip(splits)
        .map(|(&id, s)| {
            let next = label_of.len();
            let label = *label_of.entry(id).or_insert(next);
            if label == members.len() {
                members.push((id, s.body, Vec::new()));
            }
            members[label].2.push(s.header);
            label
        })
        .collect();
    let templates = members
        .iter()
        .map(|(id, body, headers)| pattern_group_text(miner, *id, body, headers))
        .collect();
    Grouping { labels, templates }
}

/// The text [`group`] gives a group of pattern `id` (the miner's current id): the pattern in
/// the `***` format (or, for a pattern the miner does not hold, `first_body`, the body of the
/// group's first member, as a pattern of its own) behind the members' `headers` as
/// [`aggregate_message`] writes them. For callers that group a stream they cannot hold,
/// `headers` may be those a [`crate::syslog::HeaderWitnesses`] of the members kept.
pub fn pattern_group_text(
    miner: &Miner,
    id: PatternId,
    first_body: &str,
    headers: &[Option<Header<'_>>],
) -> String {
    let text = match miner.get(id) {
        Some(p) => p.template(TemplateFormat::Stars),
        None => render(lex(first_body).text(), TemplateFormat::Stars),
    };
    aggregate_message(headers, &text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::WILDCARD;
    use proptest::prelude::*;

    /// True when the literal parts of `template` (between wildcards and spaces) appear in order
    /// in `message`. Messages with a syslog header are not checked: their header is rewritten.
    fn matches_member(template: &str, message: &str) -> bool {
        if crate::syslog::split(message).header.is_some() {
            return true;
        }
        let message = message
            .split_ascii_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let mut at = 0;
        template
            .split(WILDCARD)
            .flat_map(str::split_ascii_whitespace)
            .all(|part| match message[at..].find(part) {
                Some(i) => {
                    at += i + part.len();
                    true
                }
                None => false,
            })
    }

    /// Messages built from log-like pieces, so that groups of several members form.
    fn log_like() -> impl Strategy<Value = Vec<String>> {
        let piece = prop::sample::select(vec![
            "failed",
            "password",
            "for",
            "user",
            "root",
            "admin",
            "from",
            "1.2.3.4",
            "10.0.0.1:22",
            "port",
            "22",
            "4096",
            "(host.example.org)",
            "()",
            "uid=0",
            "a=1,b=true",
            "5",
            "KB",
            "ms",
            "(1.5",
            "MB)",
            "***",
            "Über",
            "-",
            "[x]",
        ]);
        proptest::collection::vec(
            proptest::collection::vec(piece, 0..10).prop_map(|w| w.join(" ")),
            0..40,
        )
    }

    /// The invariants every grouping must meet.
    fn check_grouping(messages: &[String], g: &Grouping) -> Result<(), TestCaseError> {
        prop_assert_eq!(g.labels.len(), messages.len());
        // Labels are numbered by first appearance: each new label is the next number.
        let mut next = 0;
        for &label in &g.labels {
            prop_assert!(label <= next, "label {} before {}", label, next);
            if label == next {
                next += 1;
            }
        }
        // Every label has a template and every template a member.
        prop_assert_eq!(g.templates.len(), next);
        for (message, &label) in messages.iter().zip(&g.labels) {
            let template = &g.templates[label];
            prop_assert!(
                matches_member(template, message),
                "template {:?} member {:?}",
                template,
                message
            );
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_messages(
            messages in proptest::collection::vec(any::<String>(), 0..20)
        ) {
            let g = group(&messages, &AggregateParams::default()).expect("valid params");
            check_grouping(&messages, &g)?;
        }

        #[test]
        fn groupings_meet_their_invariants(messages in log_like()) {
            let g = group(&messages, &AggregateParams::default()).expect("valid params");
            check_grouping(&messages, &g)?;
        }

        #[test]
        fn grouping_is_deterministic(messages in log_like()) {
            let params = AggregateParams::default();
            let a = group(&messages, &params).expect("valid params");
            let b = group(&messages, &params).expect("valid params");
            prop_assert_eq!(a, b);
        }

        #[test]
        fn equal_messages_get_equal_labels(messages in log_like()) {
            // The same messages given twice: the second copy is grouped like the first.
            let twice: Vec<&String> = messages.iter().chain(&messages).collect();
            let g = group(&twice, &AggregateParams::default()).expect("valid params");
            let n = messages.len();
            prop_assert_eq!(&g.labels[..n], &g.labels[n..]);
        }

        #[test]
        fn dbscan_meets_the_invariants(messages in log_like()) {
            let params = AggregateParams {
                method: GroupingMethod::Dbscan,
                ..AggregateParams::default()
            };
            let a = group(&messages, &params).expect("valid params");
            check_grouping(&messages, &a)?;
            let b = group(&messages, &params).expect("valid params");
            prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn groups_are_numbered_by_first_appearance() {
        // Two user names are not yet evidence of a variable (four are): `root` and `admin`
        // are two patterns here, and one in a miner that has seen the host's other lines.
        let messages = [
            "Failed password for root from 1.2.3.4 port 22 ssh2",
            "Connection closed by 5.6.7.8",
            "Failed password for admin from 1.2.3.9 port 2222 ssh2",
            "Connection closed by 9.9.9.9",
            "Failed password for root from 1.2.3.9 port 2222 ssh2",
        ];
        let g = group(&messages, &AggregateParams::default()).expect("valid params");
        assert_eq!(g.labels, [0, 1, 2, 1, 0]);
        assert_eq!(
            g.templates,
            [
                "Failed password for root from *** port *** ssh2",
                "Connection closed by ***",
                "Failed password for admin from *** port *** ssh2",
            ]
        );
    }

    fn labels(messages: &[&str]) -> Vec<usize> {
        group(messages, &AggregateParams::default())
            .expect("valid params")
            .labels
    }

    #[test]
    fn optional_sizes_and_units_do_not_split_an_event() {
        let messages = [
            "a.example.com:443 close, 1190 bytes (1.16 KB) sent, 0 bytes received, lifetime 00:02",
            "b.example.org:443 close, 0 bytes sent, 0 bytes received, lifetime 00:01",
            "10.0.0.1:80 close, 5 bytes sent, 10547 bytes (10.2 KB) received, lifetime 01:02",
            "link down on port 4",
        ];
        assert_eq!(labels(&messages), [0, 0, 0, 1]);
    }

    #[test]
    fn values_of_pairs_are_variables_but_keys_are_not() {
        let messages = [
            "ready=true,policy=3,mode=false",
            "ready=false,policy=1,mode=false",
            "setDiffTotalSteps=0",
            "setWriteDBLastDataMinute=25233979",
            "setDiffTotalSteps=12",
        ];
        assert_eq!(labels(&messages), [0, 0, 1, 2, 1]);
    }

    #[test]
    fn an_empty_parenthesis_is_an_optional_part() {
        let messages = [
            "connection from 1.2.3.4 () at Mon Jun 20 03:40:59 2005",
            "connection from 5.6.7.8 (host-5-6.example.net) at Fri Jun 17 07:07:00 2005",
            "connection from 5.6.7.9 (dsl-10-2.example.org) at Fri Jun 17 07:08:00 2005",
        ];
        assert_eq!(labels(&messages), [0, 0, 0]);
    }

    #[test]
    fn a_leading_word_names_the_event_in_short_lines() {
        let messages = [
            "cupsd startup succeeded",
            "sdpd startup succeeded",
            "klogd startup succeeded",
            "cupsd startup succeeded",
        ];
        assert_eq!(labels(&messages), [0, 1, 2, 0]);
    }

    #[test]
    fn a_recurring_word_with_few_values_names_the_event() {
        let mut messages = Vec::new();
        for _ in 0..3 {
            messages.push("Location icon should now be in state 'Active'");
            messages.push("Location icon should now be in state 'Inactive'");
        }
        assert_eq!(labels(&messages), [0, 1, 0, 1, 0, 1]);
        // Many values are a variable.
        let users = ["root", "admin", "guest", "oracle", "test", "root"];
        let lines: Vec<String> = users
            .iter()
            .map(|u| format!("Failed password for {u} from 1.2.3.4 port 22 ssh2"))
            .collect();
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        assert_eq!(labels(&lines), [0; 6]);
    }

    #[test]
    fn syslog_headers_are_cut_off_and_collapsed() {
        let messages = [
            "<38>Dec  7 10:00:01 bastion sshd[11]: Failed password for invalid user a from 1.2.3.4 port 22 ssh2",
            "<38>Dec  7 10:05:09 bastion sshd[12]: Failed password for invalid user b from 1.2.3.5 port 23 ssh2",
            "<38>Dec  7 10:06:09 bastion sshd[13]: Failed password for invalid user c from 1.2.3.6 port 24 ssh2",
            "<38>Dec  7 10:07:09 bastion sshd[14]: Failed password for invalid user d from 1.2.3.7 port 25 ssh2",
        ];
        let g = group(&messages, &AggregateParams::default()).expect("valid params");
        assert_eq!(g.labels, [0, 0, 0, 0]);
        assert_eq!(
            g.templates,
            ["<38>Dec 7 *** bastion sshd: Failed password for invalid user *** from *** port *** ssh2"]
        );
    }

    #[test]
    fn a_host_miner_groups_few_messages_by_what_it_has_seen() {
        let mut miner = crate::pattern::Miner::default();
        for user in ["root", "admin", "guest", "oracle", "test"] {
            miner.observe(
                &format!("Failed password for {user} from 1.2.3.4 port 22 ssh2"),
                0,
            );
        }
        let messages = [
            "Failed password for root from 1.2.3.4 port 22 ssh2",
            "Failed password for admin from 1.2.3.9 port 2222 ssh2",
            "something new 42",
        ];
        let g = group_by_patterns(&messages, &miner);
        assert_eq!(g.labels, [0, 0, 1]);
        assert_eq!(
            g.templates,
            [
                "Failed password for *** from *** port *** ssh2",
                "something new ***"
            ]
        );
    }

    #[test]
    fn empty_input_gives_empty_grouping() {
        let g = group::<&str>(&[], &AggregateParams::default()).expect("valid params");
        assert!(g.labels.is_empty() && g.templates.is_empty());
    }

    #[test]
    fn bad_pattern_params_are_rejected() {
        let params = AggregateParams {
            patterns: PatternParams {
                variable_after: 1,
                ..PatternParams::default()
            },
            ..AggregateParams::default()
        };
        assert!(matches!(
            group(&["a"], &params),
            Err(AggregateError::Pattern(PatternError::InvalidParam {
                name: "variable_after",
                ..
            }))
        ));
    }
}
