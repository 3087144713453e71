//! Unit tests of the incident tracker and its rules.

use super::*;

const MIN: i64 = 60_000;
const HOUR: i64 = 3_600_000;

fn tracker() -> Tracker {
    Tracker::new(IncidentParams::default().check().expect("present"))
}

fn line(host: &str, t: i64, template: &str, message: &str) -> Signal {
    Signal {
        source: "syslog".into(),
        host: host.into(),
        time_ms: t,
        pattern: PatternId::of_text(template),
        template: template.into(),
        message: message.into(),
        score: 1.5,
        reason: Reason::Scored {
            novel_since_ms: None,
        },
    }
}

fn transitions(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.transition.as_str()).collect()
}

#[test]
fn lines_of_one_pattern_within_the_quiet_gap_are_one_incident() {
    let mut t = tracker();
    let (a, ev) = t.observe(&line("web1", 0, "disk <*> failed", "disk sda failed"));
    assert_eq!(transitions(&ev), ["opened"]);
    let (b, ev) = t.observe(&line("web1", 9 * MIN, "disk <*> failed", "disk sdb failed"));
    assert_eq!(a, b);
    assert!(ev.is_empty());
    // Nine minutes later again: still within ten minutes of the last line.
    let (c, _) = t.observe(&line(
        "web1",
        18 * MIN,
        "disk <*> failed",
        "disk sdc failed",
    ));
    assert_eq!(a, c);
    let i = t.get(a.as_deref().expect("present")).expect("present");
    assert_eq!(i.count, 3);
    assert_eq!(i.first_seen_ms, 0);
    assert_eq!(i.last_seen_ms, 18 * MIN);
    assert_eq!(i.patterns[0].examples.len(), 3);
}

#[test]
fn a_quiet_gap_resolves_and_the_next_line_opens_a_new_incident() {
    let mut t = tracker();
    let (a, _) = t.observe(&line("web1", 0, "disk <*> failed", "disk sda failed"));
    let (b, ev) = t.observe(&line(
        "web1",
        11 * MIN,
        "disk <*> failed",
        "disk sda failed",
    ));
    assert_ne!(a, b);
    assert_eq!(transitions(&ev), ["resolved", "opened"]);
    assert_eq!(ev[0].id, a.clone().expect("present"));
    let changed = t.take_changed();
    let resolved = changed
        .iter()
        .find(|i| Some(&i.id) == a.as_ref())
        .expect("present");
    assert_eq!(resolved.state, IncidentState::Resolved);
    assert!(t.get(a.as_deref().expect("present")).is_none());
    // advance() alone resolves too.
    let ev = t.advance("syslog", 22 * MIN);
    assert_eq!(transitions(&ev), ["resolved"]);
    assert_eq!(t.open().count(), 0);
}

#[test]
fn the_same_pattern_on_several_hosts_is_one_incident_listing_them() {
    let mut t = tracker();
    let (a, _) = t.observe(&line(
        "web1",
        0,
        "upstream <*> timed out",
        "upstream a timed out",
    ));
    let (b, _) = t.observe(&line(
        "web2",
        MIN,
        "upstream <*> timed out",
        "upstream b timed out",
    ));
    let (c, _) = t.observe(&line(
        "web3",
        5 * MIN,
        "upstream <*> timed out",
        "upstream c timed out",
    ));
    assert_eq!(a, b);
    assert_eq!(a, c);
    let i = t.get(a.as_deref().expect("present")).expect("present");
    assert_eq!(
        i.hosts.iter().map(String::as_str).collect::<Vec<_>>(),
        ["web1", "web2", "web3"]
    );
    assert!(i.explanation().contains("on web1, web2, web3"));
    // Another source never joins.
    let mut other = line("web1", 2 * MIN, "upstream <*> timed out", "x timed out");
    other.source = "nginx".into();
    let (d, _) = t.observe(&other);
    assert_ne!(a, d);
}

#[test]
fn patterns_that_fire_together_on_a_host_join_and_apart_do_not() {
    let mut t = tracker();
    let (a, _) = t.observe(&line("db1", 0, "I/O error on <*>", "I/O error on sda"));
    let (b, _) = t.observe(&line(
        "db1",
        MIN,
        "remounting <*> read-only",
        "remounting / read-only",
    ));
    assert_eq!(
        a, b,
        "a second pattern a minute later on the same host joins"
    );
    let (c, _) = t.observe(&line(
        "db2",
        2 * MIN,
        "remote <*> closed",
        "remote x closed",
    ));
    assert_ne!(a, c, "another host with another pattern does not");
    let (d, _) = t.observe(&line("db1", 8 * MIN, "kernel: <*> oops", "kernel: x oops"));
    assert_ne!(a, d, "seven minutes after the last line is not together");
    assert_eq!(
        t.get(a.as_deref().expect("present"))
            .expect("present")
            .patterns
            .len(),
        2
    );
}

#[test]
fn growth_is_reported_once_per_power_of_ten() {
    let mut t = tracker();
    let mut grew = Vec::new();
    for k in 0..150 {
        let (_, ev) = t.observe(&line(
            "fw",
            k * 1000,
            "conntrack table full",
            "conntrack table full",
        ));
        for e in ev {
            if let Transition::Grew { count } = e.transition {
                grew.push(count);
            }
        }
    }
    assert_eq!(grew, [10, 100]);
}

#[test]
fn the_explanation_names_novelty_rate_and_alarming_words() {
    let mut t = tracker();
    let mut s = line(
        "bastion",
        HOUR,
        "Failed password for <*> from <*>",
        "Failed password for root from 10.0.0.9: permission denied",
    );
    s.reason = Reason::Scored {
        novel_since_ms: Some(0),
    };
    let (id, _) = t.observe(&s);
    let i = t.get(id.as_deref().expect("present")).expect("present");
    let text = i.explanation();
    assert!(
        text.contains("Never seen on bastion since 1970-01-01 00:00 UTC"),
        "{text}"
    );
    assert!(text.contains("Alarming words: denied, failed"), "{text}");
    assert_eq!(i.severity(), Severity::Error);
}

fn stats(buckets: &[(i64, u64)]) -> PatternStats {
    PatternStats {
        count: buckets.iter().map(|b| b.1).sum(),
        first_ms: buckets.first().map_or(0, |b| b.0),
        last_ms: buckets.last().map_or(0, |b| b.0 + HOUR - 1),
        buckets: buckets.to_vec(),
    }
}

#[test]
fn a_known_pattern_jumping_far_above_its_rate_is_an_incident() {
    let params = IncidentParams::default().check().expect("present");
    // Five an hour for two days, then 200 in the current hour.
    let mut b: Vec<(i64, u64)> = (0..48).map(|h| (h * HOUR, 5)).collect();
    b.push((48 * HOUR, 200));
    let jump = rate_jump(&stats(&b), 48 * HOUR + 10 * MIN, HOUR, &params).expect("present");
    assert_eq!(jump.lines_in_bucket, 200);
    assert!((jump.usual_per_bucket - 5.0).abs() < 1e-9);
    // 40 lines: below the minimum of 50.
    b.last_mut().expect("present").1 = 40;
    assert_eq!(
        rate_jump(&stats(&b), 48 * HOUR + 10 * MIN, HOUR, &params),
        None
    );
    // Usual 20 an hour: 150 is not ten times that.
    let mut b: Vec<(i64, u64)> = (0..48).map(|h| (h * HOUR, 20)).collect();
    b.push((48 * HOUR, 150));
    assert_eq!(rate_jump(&stats(&b), 48 * HOUR + MIN, HOUR, &params), None);
    // Too little history.
    let b = [(0, 5), (HOUR, 200)];
    assert_eq!(rate_jump(&stats(&b), HOUR + MIN, HOUR, &params), None);

    // In the tracker: the lines are counted as the bucket grows, each once.
    let mut t = tracker();
    let mut s = line("bastion", 48 * HOUR + MIN, "Failed password for <*>", "");
    s.reason = Reason::Rate {
        lines_in_bucket: 200,
        usual_per_bucket: 5.0,
        bucket_ms: HOUR,
    };
    let (id, ev) = t.observe(&s);
    assert_eq!(transitions(&ev), ["opened"]);
    s.time_ms += MIN;
    assert_eq!(t.observe(&s).0, None, "the same count adds nothing");
    s.reason = Reason::Rate {
        lines_in_bucket: 260,
        usual_per_bucket: 5.0,
        bucket_ms: HOUR,
    };
    assert_eq!(t.observe(&s).0, id);
    let i = t.get(id.as_deref().expect("present")).expect("present");
    assert_eq!(i.count, 260);
    assert!(
        i.explanation().contains("Rate 52 times the usual"),
        "{}",
        i.explanation()
    );
    assert_eq!(i.severity(), Severity::Warning);
}

#[test]
fn a_heartbeat_that_stops_is_an_incident_once() {
    let params = IncidentParams::default().check().expect("present");
    let b: Vec<(i64, u64)> = (0..30).map(|h| (h * HOUR, 60)).collect();
    let st = stats(&b);
    // One hour after its last line: not yet.
    assert_eq!(silence(&st, 31 * HOUR, HOUR, &params), None);
    let usual = silence(&st, 33 * HOUR, HOUR, &params).expect("present");
    assert!((usual - 60.0).abs() < 1e-9);
    // A pattern seen in a third of the hours is no heartbeat.
    let sparse: Vec<(i64, u64)> = (0..30)
        .filter(|h| h % 3 == 0)
        .map(|h| (h * HOUR, 5))
        .collect();
    assert_eq!(silence(&stats(&sparse), 40 * HOUR, HOUR, &params), None);
    // Too short a history.
    let short: Vec<(i64, u64)> = (0..5).map(|h| (h * HOUR, 60)).collect();
    assert_eq!(silence(&stats(&short), 10 * HOUR, HOUR, &params), None);
    // A pattern that follows people: 60 lines an hour by day, 1 in the night hours. Seen in
    // every hour, but at 1 line an hour a silence of 2.5 h is likely (e^-2.5): no heartbeat;
    // after 7 h at that rate (e^-7) it is one.
    let diurnal: Vec<(i64, u64)> = (0..48)
        .map(|h| (h * HOUR, if (h % 24) < 8 { 1 } else { 60 }))
        .collect();
    let dst = stats(&diurnal);
    assert_eq!(
        silence(&dst, dst.last_ms + 5 * HOUR / 2, HOUR, &params),
        None
    );
    assert!(silence(&dst, dst.last_ms + 7 * HOUR, HOUR, &params).is_some());

    let mut t = tracker();
    let mut s = line("router", 33 * HOUR, "heartbeat ok", "");
    s.reason = Reason::Silent {
        last_seen_ms: st.last_ms,
        usual_per_bucket: usual,
    };
    let (id, ev) = t.observe(&s);
    assert!(id.is_some());
    assert_eq!(transitions(&ev), ["opened"]);
    s.time_ms += MIN;
    assert_eq!(t.observe(&s).0, None, "reported once per silence");
    let text = t
        .get(id.as_deref().expect("present"))
        .expect("present")
        .explanation();
    assert!(
        text.contains("Heartbeat silent on router since 1970-01-02 05:59 UTC"),
        "{text}"
    );
}

#[test]
fn the_same_signals_give_the_same_incidents() {
    let run = || {
        let mut t = tracker();
        let mut ids = Vec::new();
        for k in 0..200i64 {
            let host = ["a", "b", "c"][(k % 3) as usize];
            let tpl = ["x <*>", "y <*>", "z <*>", "w"][(k * 7 % 4) as usize];
            let (id, _) = t.observe(&line(host, k * 37_000 + (k % 5) * 400_000, tpl, "m"));
            ids.push(id);
        }
        t.advance("syslog", i64::MAX / 2);
        (ids, t.take_changed())
    };
    assert_eq!(run(), run());
}

#[test]
fn marks_change_the_state_and_restore_keeps_open_incidents() {
    let mut t = tracker();
    let (id, _) = t.observe(&line("h", 0, "p", "p failed"));
    let id = id.expect("present");
    assert!(t.acknowledge(&id, Some("ann")));
    assert_eq!(
        t.get(&id).expect("present").state_at(0),
        IncidentState::Acknowledged
    );
    assert!(t.mute(&id, Some(5 * MIN)));
    assert_eq!(
        t.get(&id).expect("present").state_at(MIN),
        IncidentState::Muted
    );
    assert_eq!(
        t.get(&id).expect("present").state_at(6 * MIN),
        IncidentState::Acknowledged
    );
    assert!(!t.acknowledge("nope", None));

    let saved = t.take_changed();
    let mut u = tracker();
    u.restore(saved);
    assert_eq!(u.clock("syslog"), Some(0));
    let (again, ev) = u.observe(&line("h", MIN, "p", "p failed"));
    assert_eq!(again.as_deref(), Some(id.as_str()));
    assert!(ev.is_empty());
}

#[test]
fn one_info_line_is_pending_until_a_second_line_opens_it() {
    let mut t = tracker();
    let sudo = "admin : COMMAND=/usr/bin/du -sh <*>";
    let (a, ev) = t.observe(&line(
        "h",
        0,
        sudo,
        "admin : COMMAND=/usr/bin/du -sh /var/log",
    ));
    let a = a.expect("a pending incident has an id, so that its line links to it");
    assert!(ev.is_empty(), "a pending incident is not reported");
    assert_eq!(t.get(&a).expect("kept").state, IncidentState::Pending);
    assert_eq!(t.get(&a).expect("kept").state_at(0), IncidentState::Pending);
    assert_eq!(t.open_count(), 0, "and not counted open");
    let (b, ev) = t.observe(&line(
        "h",
        5 * MIN,
        sudo,
        "admin : COMMAND=/usr/bin/du -sh /home",
    ));
    assert_eq!(b.as_deref(), Some(a.as_str()), "the second line joins it");
    assert_eq!(transitions(&ev), ["opened"]);
    assert_eq!(ev[0].id, a);
    let i = t.get(&a).expect("open");
    assert_eq!(
        (i.state, i.count, i.first_seen_ms),
        (IncidentState::Open, 2, 0)
    );
    assert_eq!(t.open_count(), 1);
    // Once open it resolves as any incident.
    assert_eq!(transitions(&t.advance("syslog", 16 * MIN)), ["resolved"]);
}

#[test]
fn a_pending_incident_quiet_for_the_gap_expires_unreported() {
    let mut t = tracker();
    let (a, _) = t.observe(&line(
        "h",
        0,
        "session opened for <*>",
        "session opened for bob",
    ));
    let a = a.expect("present");
    let ev = t.advance("syslog", 11 * MIN);
    assert!(ev.is_empty(), "an expiry is not reported: {ev:?}");
    let changed = t.take_changed();
    assert_eq!(changed.len(), 1, "but written, as expired");
    assert_eq!(
        (changed[0].id.as_str(), changed[0].state),
        (a.as_str(), IncidentState::Expired)
    );
    assert!(changed[0].state.is_over());
    assert!(t.get(&a).is_none());
    // The same line again later is a new pending incident, not a join.
    let (b, ev) = t.observe(&line(
        "h",
        30 * MIN,
        "session opened for <*>",
        "session opened for eve",
    ));
    assert_ne!(b.as_deref(), Some(a.as_str()));
    assert!(ev.is_empty());
}

#[test]
fn an_alarming_word_a_rate_jump_or_a_silence_opens_at_once() {
    let mut t = tracker();
    let (_, ev) = t.observe(&line("h", 0, "link <*> down", "link eth0 down"));
    assert_eq!(transitions(&ev), ["opened"], "'down' warns");
    let (_, ev) = t.observe(&line("g", 0, "kernel panic", "kernel panic"));
    assert_eq!(transitions(&ev), ["opened"]);
    let mut rate = line("r", 0, "GET <*>", "");
    rate.reason = Reason::Rate {
        lines_in_bucket: 60,
        usual_per_bucket: 2.0,
        bucket_ms: HOUR,
    };
    let (_, ev) = t.observe(&rate);
    assert_eq!(transitions(&ev), ["opened"]);
    // An info line joining a pending incident of its host opens it (a second line).
    let (p, ev) = t.observe(&line("q", 0, "user <*> logged in", "user bob logged in"));
    assert!(ev.is_empty());
    let (q, ev) = t.observe(&line("q", MIN, "cron <*> started", "cron job started"));
    assert_eq!(p, q);
    assert_eq!(transitions(&ev), ["opened"]);
}

#[test]
fn restore_keeps_pending_incidents_pending() {
    let mut t = tracker();
    let (a, _) = t.observe(&line("h", 0, "p <*>", "p one"));
    let a = a.expect("present");
    let saved = t.take_changed();
    assert_eq!(saved[0].state, IncidentState::Pending);
    let mut u = tracker();
    u.restore(saved);
    assert_eq!(u.open_count(), 0);
    let (b, ev) = u.observe(&line("h", MIN, "p <*>", "p two"));
    assert_eq!(b.as_deref(), Some(a.as_str()));
    assert_eq!(transitions(&ev), ["opened"]);
}

#[test]
fn params_are_checked() {
    let bad = IncidentParams {
        quiet_gap_ms: 0,
        ..IncidentParams::default()
    };
    assert_eq!(bad.check().expect_err("an error").name, "quiet_gap_ms");
    let bad = IncidentParams {
        rate_factor: 1.0,
        ..IncidentParams::default()
    };
    assert_eq!(bad.check().expect_err("an error").name, "rate_factor");
    let bad = IncidentParams {
        silence_min_expected: f64::NAN,
        ..IncidentParams::default()
    };
    assert_eq!(
        bad.check().expect_err("an error").name,
        "silence_min_expected"
    );
}

#[test]
fn dates_are_written_in_utc() {
    assert_eq!(format_utc_minute(0), "1970-01-01 00:00 UTC");
    assert_eq!(format_utc_minute(1_796_000_000_000), "2026-11-30 00:53 UTC");
    assert_eq!(format_utc_minute(-60_000), "1969-12-31 23:59 UTC");
}

#[test]
fn incidents_round_trip_through_json_with_hex_pattern_ids() {
    let mut t = tracker();
    let (id, _) = t.observe(&line("h", 0, "p <*>", "p 1"));
    let i = t
        .get(id.as_deref().expect("present"))
        .expect("present")
        .clone();
    let json = serde_json::to_value(&i).expect("present");
    assert!(json["patterns"][0]["id"].is_string());
    let back: Incident = serde_json::from_value(json).expect("present");
    assert_eq!(back, i);
}
