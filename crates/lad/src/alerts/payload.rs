//! What is posted: the Alertmanager v2 alerts of a notice ([`alertmanager_alerts`],
//! [`alertmanager_body`]) and the webhook document ([`webhook_body`]).
//!
//! Alertmanager identifies an alert by its labels, so an incident becomes one alert per host,
//! labelled `alertname="LadIncident"`, `incident`, `source`, `host`, `pattern` (the main
//! pattern's id) and `severity`. When an incident grows to another host a new alert fires; when
//! its main pattern or severity changes, the alerts with the old labels are resolved and new
//! ones fire; when it resolves, every alert it had gets `endsAt`. Annotations carry the
//! explanation (`description`), a one-line `summary`, the counts and `lad_url`, the link to
//! the incident on lad's page (also the `generatorURL`).
//!
//! The webhook document has a Slack-compatible `text` and every field of the notice, with
//! times in RFC 3339, and the notice's `key` for receivers that drop repeats.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use lad_store::timefmt::format_rfc3339_millis;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{AlertNotice, Transition};

/// The `alertname` label of every alert lad sends.
pub const ALERT_NAME: &str = "LadIncident";

/// Hosts named in a summary or a `text` before "and N more".
const HOSTS_SHOWN: usize = 10;

/// Pattern templates listed in the `patterns` annotation.
const PATTERNS_SHOWN: usize = 5;

/// One Alertmanager alert, with times kept as numbers until it is posted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AmAlert {
    /// Its identity.
    pub labels: BTreeMap<String, String>,
    /// What a person reads.
    pub annotations: BTreeMap<String, String>,
    /// When the incident started, unix milliseconds.
    pub starts_at_ms: i64,
    /// When it stopped firing; `None` while it fires (the sender sets `endsAt` ahead of now).
    pub ends_at_ms: Option<i64>,
    /// The link back to lad.
    pub generator_url: String,
}

impl AmAlert {
    /// The v2 API object; a firing alert gets `endsAt` at `firing_until_ms`.
    pub fn to_json(&self, firing_until_ms: i64) -> Value {
        let ends = self.ends_at_ms.unwrap_or(firing_until_ms);
        // Alertmanager refuses an alert that ends before it starts (HTTP 400), which a host
        // whose clock runs ahead would cause: such an alert starts when it ends at the latest.
        json!({
            "labels": self.labels,
            "annotations": self.annotations,
            "startsAt": format_rfc3339_millis(self.starts_at_ms.min(ends)),
            "endsAt": format_rfc3339_millis(ends),
            "generatorURL": self.generator_url,
        })
    }
}

/// The body of `POST /api/v2/alerts` for `alerts`.
pub fn alertmanager_body(alerts: &[AmAlert], firing_until_ms: i64) -> Vec<u8> {
    let list: Vec<Value> = alerts.iter().map(|a| a.to_json(firing_until_ms)).collect();
    serde_json::to_vec(&list).unwrap_or_default()
}

/// The link to the incident on lad's page.
pub fn incident_link(page_url: &str, id: &str) -> String {
    let mut out = page_url.to_string();
    out.push_str("#incident=");
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn hosts_text(hosts: &[String]) -> String {
    let mut text = hosts
        .iter()
        .take(HOSTS_SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if hosts.len() > HOSTS_SHOWN {
        let _ = write!(text, " and {} more", hosts.len() - HOSTS_SHOWN);
    }
    if text.is_empty() {
        text.push_str("no host");
    }
    text
}

fn summary(n: &AlertNotice) -> String {
    let pattern = n
        .patterns
        .first()
        .map_or(String::new(), |p| format!(" like `{}`", p.template));
    format!(
        "{} anomalous {} lines{pattern} on {}",
        n.count,
        n.source,
        hosts_text(&n.hosts)
    )
}

fn annotations(n: &AlertNotice, link: &str) -> BTreeMap<String, String> {
    let patterns: Vec<String> = n
        .patterns
        .iter()
        .take(PATTERNS_SHOWN)
        .map(|p| format!("{} {}", p.id, p.template))
        .collect();
    BTreeMap::from([
        ("summary".to_string(), summary(n)),
        ("description".to_string(), n.explanation.clone()),
        ("lad_url".to_string(), link.to_string()),
        ("count".to_string(), n.count.to_string()),
        ("peak_score".to_string(), format!("{:.3}", n.peak_score)),
        ("hosts".to_string(), n.hosts.join(", ")),
        ("patterns".to_string(), patterns.join("\n")),
        (
            "first_seen".to_string(),
            format_rfc3339_millis(n.first_seen_ms),
        ),
        (
            "last_seen".to_string(),
            format_rfc3339_millis(n.last_seen_ms),
        ),
    ])
}

/// The label sets of a notice: one per host (one without `host` when it names none).
fn label_sets(n: &AlertNotice) -> Vec<BTreeMap<String, String>> {
    let mut base = BTreeMap::from([
        ("alertname".to_string(), ALERT_NAME.to_string()),
        ("incident".to_string(), n.id.clone()),
        ("severity".to_string(), n.severity.as_str().to_string()),
    ]);
    if !n.source.is_empty() {
        base.insert("source".to_string(), n.source.clone());
    }
    if let Some(p) = n.patterns.first() {
        base.insert("pattern".to_string(), p.id.clone());
    }
    let mut hosts: Vec<&String> = n.hosts.iter().filter(|h| !h.is_empty()).collect();
    hosts.sort();
    hosts.dedup();
    if hosts.is_empty() {
        return vec![base];
    }
    hosts
        .into_iter()
        .map(|h| {
            let mut l = base.clone();
            l.insert("host".to_string(), h.clone());
            l
        })
        .collect()
}

/// The alerts to post for `n`, and the incident's firing alerts afterwards. `firing` holds the
/// incident's alerts that fire now (from earlier notices); `now_ms` is when a resolved alert
/// ends.
pub fn alertmanager_alerts(
    n: &AlertNotice,
    firing: &[AmAlert],
    page_url: &str,
    now_ms: i64,
) -> (Vec<AmAlert>, Vec<AmAlert>) {
    let link = incident_link(page_url, &n.id);
    let notes = annotations(n, &link);
    let current: Vec<AmAlert> = label_sets(n)
        .into_iter()
        .map(|labels| {
            // A label set that already fires keeps its start.
            let starts_at_ms = firing
                .iter()
                .find(|a| a.labels == labels)
                .map_or(n.first_seen_ms, |a| a.starts_at_ms);
            AmAlert {
                labels,
                annotations: notes.clone(),
                starts_at_ms,
                ends_at_ms: None,
                generator_url: link.clone(),
            }
        })
        .collect();
    let ended = |a: &AmAlert| AmAlert {
        annotations: notes.clone(),
        // Now, even when the lines' clock runs ahead: an alert ending later would fire on.
        ends_at_ms: Some(now_ms),
        ..a.clone()
    };
    if n.transition == Transition::Resolved {
        // Resolve what fires, and what the notice names (a resolve after a restart that lost
        // the firing set, or of an incident opened while the queue dropped its notice).
        let mut post: Vec<AmAlert> = firing.iter().map(ended).collect();
        for a in &current {
            if !post.iter().any(|p| p.labels == a.labels) {
                post.push(ended(a));
            }
        }
        return (post, Vec::new());
    }
    let mut post = current.clone();
    for old in firing {
        if !current.iter().any(|c| c.labels == old.labels) {
            post.push(ended(old));
        }
    }
    (post, current)
}

/// The Slack-compatible one-line text of a notice.
pub fn text(n: &AlertNotice, link: &str) -> String {
    let verb = match n.transition {
        Transition::Opened => "opened",
        Transition::Grew => "grew",
        Transition::Resolved => "resolved",
    };
    let mut t = format!(
        "[lad] {} incident {} {verb}: {}",
        n.severity.as_str().to_uppercase(),
        n.id,
        summary(n)
    );
    if !n.explanation.is_empty() {
        let _ = write!(t, ". {}", n.explanation);
    }
    let _ = write!(t, " (peak score {:.2}) {link}", n.peak_score);
    t
}

/// The webhook document of a notice.
pub fn webhook_body(n: &AlertNotice, page_url: &str) -> Value {
    let link = incident_link(page_url, &n.id);
    let patterns: Vec<Value> = n
        .patterns
        .iter()
        .map(|p| json!({"id": p.id, "template": p.template}))
        .collect();
    json!({
        "text": text(n, &link),
        "key": n.key(),
        "incident_id": n.id,
        "transition": n.transition.as_str(),
        "state": n.state,
        "severity": n.severity.as_str(),
        "source": n.source,
        "hosts": n.hosts,
        "patterns": patterns,
        "explanation": n.explanation,
        "first_seen": format_rfc3339_millis(n.first_seen_ms),
        "last_seen": format_rfc3339_millis(n.last_seen_ms),
        "count": n.count,
        "peak_score": n.peak_score,
        "url": link,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::alerts::{PatternRef, Severity};

    // 2024-01-05T12:00:00Z.
    const T: i64 = 1_704_456_000_000;

    pub(crate) fn notice(id: &str, transition: Transition) -> AlertNotice {
        AlertNotice {
            id: id.to_string(),
            transition,
            state: "open".to_string(),
            severity: Severity::Critical,
            source: "syslog".to_string(),
            hosts: vec!["web-2".to_string(), "web-1".to_string()],
            patterns: vec![PatternRef {
                id: "p1f3".to_string(),
                template: "Failed password for <*> from <*>".to_string(),
            }],
            explanation: "never seen on web-1 since 2024-01-01".to_string(),
            first_seen_ms: T,
            last_seen_ms: T + 60_000,
            count: 42,
            peak_score: 3.25,
        }
    }

    #[test]
    fn an_incident_fires_one_alert_per_host_with_the_promised_labels() {
        let n = notice("inc/1", Transition::Opened);
        let (post, firing) = alertmanager_alerts(&n, &[], "http://lad:9184/", T + 1);
        assert_eq!(post, firing);
        assert_eq!(post.len(), 2);
        let a = &post[0];
        let labels: Vec<(&str, &str)> = a
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            labels,
            vec![
                ("alertname", "LadIncident"),
                ("host", "web-1"),
                ("incident", "inc/1"),
                ("pattern", "p1f3"),
                ("severity", "critical"),
                ("source", "syslog"),
            ]
        );
        assert_eq!(a.generator_url, "http://lad:9184/#incident=inc%2F1");
        assert_eq!(a.annotations["description"], n.explanation);
        let v = a.to_json(T + 180_000);
        assert_eq!(v["startsAt"], "2024-01-05T12:00:00.000Z");
        assert_eq!(v["endsAt"], "2024-01-05T12:03:00.000Z");
    }

    #[test]
    fn growth_keeps_starts_and_resolving_ends_every_alert() {
        let open = notice("i", Transition::Opened);
        let (_, firing) = alertmanager_alerts(&open, &[], "http://x/", T);
        let mut grew = notice("i", Transition::Grew);
        grew.hosts.push("db-1".to_string());
        grew.first_seen_ms = T + 5;
        let (post, firing) = alertmanager_alerts(&grew, &firing, "http://x/", T + 10);
        assert_eq!(post.len(), 3);
        assert!(post
            .iter()
            .all(|a| a.starts_at_ms == T || a.labels["host"] == "db-1"));
        // The severity changes: the old label sets end, new ones fire.
        let mut worse = grew.clone();
        worse.severity = Severity::Warning;
        let (post, firing) = alertmanager_alerts(&worse, &firing, "http://x/", T + 20);
        assert_eq!(post.len(), 6);
        assert_eq!(
            post.iter().filter(|a| a.ends_at_ms == Some(T + 20)).count(),
            3
        );
        assert_eq!(firing.len(), 3);
        let done = notice("i", Transition::Resolved);
        let (post, firing) = alertmanager_alerts(&done, &firing, "http://x/", T + 30);
        assert!(firing.is_empty());
        // The three warning alerts that fire and the two critical label sets the notice names.
        assert_eq!(post.len(), 5);
        assert!(post.iter().all(|a| a.ends_at_ms == Some(T + 30)));
    }

    #[test]
    fn webhook_document_has_text_and_every_field() {
        let n = notice("inc-7", Transition::Resolved);
        let v = webhook_body(&n, "http://lad:9184/");
        let text = v["text"].as_str().expect("text is a string");
        assert!(text.starts_with("[lad] CRITICAL incident inc-7 resolved: 42 anomalous syslog lines like `Failed password for <*> from <*>` on web-2, web-1. never seen"), "{text}");
        assert!(text.ends_with("http://lad:9184/#incident=inc-7"), "{text}");
        assert_eq!(v["key"], n.key());
        assert_eq!(v["hosts"], json!(["web-2", "web-1"]));
        assert_eq!(
            v["patterns"][0]["template"],
            "Failed password for <*> from <*>"
        );
        assert_eq!(v["first_seen"], "2024-01-05T12:00:00.000Z");
        assert_eq!(v["count"], 42);
        assert_eq!(v["transition"], "resolved");
    }

    #[test]
    fn long_host_lists_are_shortened_in_text() {
        let mut n = notice("i", Transition::Opened);
        n.hosts = (0..25).map(|i| format!("h{i}")).collect();
        assert!(summary(&n).ends_with("h9 and 15 more"), "{}", summary(&n));
    }
}
