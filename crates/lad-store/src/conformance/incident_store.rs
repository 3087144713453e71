//! Checks of the [`IncidentStore`](crate::IncidentStore) role: incidents replaced by id, links
//! whose first write stands, listings filtered and ordered, everything kept across a restart.

use super::*;
use crate::incident::{IncidentLink, IncidentQuery, StoredIncident};

fn incident(id: &str, source: &str, state: &str, first: i64, last: i64, n: u64) -> StoredIncident {
    StoredIncident {
        id: id.into(),
        source: source.into(),
        state: state.into(),
        first_seen_ms: first,
        last_seen_ms: last,
        hosts: vec!["a".into(), "b".into()],
        body: json!({ "count": n, "explanation": "ünïcode, \"quotes\"", "big": u64::MAX }),
    }
}

fn link(source: &str, record: i64, incident: &str, time: i64) -> IncidentLink {
    IncidentLink {
        source: source.into(),
        record_id: RecordId::Text(format!("r{record}")),
        incident_id: incident.into(),
        host: "a".into(),
        time_ms: time,
    }
}

fn ids(v: &[StoredIncident]) -> Vec<&str> {
    v.iter().map(|i| i.id.as_str()).collect()
}

/// Incidents are replaced by id, links keep their first write, listings are filtered (source,
/// state, window) and newest first, and all of it survives a restart; writing a batch twice
/// adds nothing.
pub fn incidents_and_links(h: &mut dyn Harness) {
    let store = h.store();
    ok(
        store.write_incidents(
            &[
                incident("i1", "src", "open", T0, T0 + 10 * S, 2),
                incident("i2", "src", "resolved", T0 - 100 * S, T0 - 50 * S, 1),
                incident("i3", "other", "open", T0, T0 + 20 * S, 1),
            ],
            &[
                link("src", 1, "i1", T0),
                link("src", 2, "i1", T0 + 10 * S),
                link("src", 3, "i2", T0 - 100 * S),
                link("other", 1, "i3", T0),
            ],
        ),
        "write incidents",
    );
    // The same batch again, then a grown i1, and a link that tries to move record 1.
    for _ in 0..2 {
        ok(
            h.store().write_incidents(
                &[incident("i1", "src", "open", T0, T0 + 30 * S, 3)],
                &[link("src", 1, "i9", T0), link("src", 4, "i1", T0 + 30 * S)],
            ),
            "write incidents again",
        );
    }
    for round in 0..2 {
        let all = ok(h.store().incidents(&IncidentQuery::default()), "incidents");
        assert_eq!(
            ids(&all),
            ["i1", "i3", "i2"],
            "newest last_seen first (round {round})"
        );
        assert_eq!(all[0].body["count"], json!(3), "replaced by id");
        assert_eq!(all[0].last_seen_ms, T0 + 30 * S);
        assert_eq!(
            all[0].body["big"],
            json!(u64::MAX),
            "the body is kept as is"
        );
        assert_eq!(all[0].body["explanation"], json!("ünïcode, \"quotes\""));
        assert_eq!(all[0].hosts, ["a", "b"]);
        let q = |source: Option<&str>, state: Option<&str>, from: i64, to: i64, max: usize| {
            IncidentQuery {
                source: source.map(Into::into),
                state: state.map(Into::into),
                from_ms: from,
                to_ms: to,
                max,
            }
        };
        let got = ok(
            h.store()
                .incidents(&q(Some("src"), None, i64::MIN, i64::MAX, 10)),
            "by source",
        );
        assert_eq!(ids(&got), ["i1", "i2"]);
        let got = ok(
            h.store()
                .incidents(&q(None, Some("open"), i64::MIN, i64::MAX, 10)),
            "by state",
        );
        assert_eq!(ids(&got), ["i1", "i3"]);
        // Overlap with [T0 - 50 s, T0): i2 ends at T0 - 50 s (included), i1 and i3 start at T0.
        let got = ok(
            h.store().incidents(&q(None, None, T0 - 50 * S, T0, 10)),
            "by window",
        );
        assert_eq!(ids(&got), ["i2"]);
        let got = ok(
            h.store().incidents(&q(None, None, i64::MIN, i64::MAX, 1)),
            "capped",
        );
        assert_eq!(ids(&got), ["i1"]);
        let one = ok(h.store().incident("i3"), "one incident");
        assert_eq!(one.map(|i| i.source), Some("other".to_string()));
        assert_eq!(ok(h.store().incident("nope"), "missing incident"), None);

        let links = ok(h.store().incident_links("src", i64::MIN, i64::MAX), "links");
        let got: Vec<(String, &str)> = links
            .iter()
            .map(|l| (l.record_id.to_string(), l.incident_id.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("r3".to_string(), "i2"),
                ("r1".to_string(), "i1"),
                ("r2".to_string(), "i1"),
                ("r4".to_string(), "i1")
            ],
            "oldest first, first link stands"
        );
        let window = ok(
            h.store().incident_links("src", T0, T0 + 30 * S),
            "links of a window",
        );
        assert_eq!(window.len(), 2, "half-open window");
        h.reopen();
    }
}
