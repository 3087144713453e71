//! Syslog headers: splits a message into its optional header and its body, and writes the
//! header part of an aggregate's text. Main items: [`split`], [`Split`], [`Header`],
//! [`aggregate_message`].
//!
//! Read: RFC 3164 (`<PRI>Mmm dd hh:mm:ss host tag[pid]: body`, also without `<PRI>`, without a
//! tag, and with an RFC 3339 time as rsyslog writes it) and RFC 5424
//! (`<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG`). Splitting never fails: a message whose
//! start is not a header is all body. The header's parts are slices of the message; nothing is
//! parsed into numbers but the priority, and times stay text (turning them into instants is the
//! store's job, which knows the year and the time zone).
//!
//! Why not `syslog_loose` (the parser Vector uses): it parses the time with `chrono` and, for
//! RFC 3164, resolves the missing year from the current date unless given a resolver, and it
//! hands back a parsed time instead of the text. lad-core reads no clock and only needs to cut
//! the header off, once per line, on the hot path; this splitter is a few hundred lines of
//! byte scanning with no dependency, borrows everything and cannot fail.
//!
//! This module does no I/O and knows nothing of patterns; [`crate::pattern`] mines the bodies.

/// Which header a message carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyslogFormat {
    /// BSD syslog (RFC 3164), with a `Mmm dd hh:mm:ss` or an RFC 3339 time.
    Rfc3164,
    /// IETF syslog (RFC 5424).
    Rfc5424,
}

/// The header of a syslog message; every text is a slice of the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// Which format it was.
    pub format: SyslogFormat,
    /// The `<PRI>` value (facility * 8 + severity), when present.
    pub priority: Option<u8>,
    /// The timestamp as written (`Dec  7 10:00:01`, `2026-12-07T10:00:01.5+01:00`).
    pub timestamp: Option<&'a str>,
    /// The host name.
    pub host: Option<&'a str>,
    /// The program (RFC 3164 tag, RFC 5424 APP-NAME).
    pub program: Option<&'a str>,
    /// The process id (RFC 3164 `[pid]`, RFC 5424 PROCID).
    pub pid: Option<&'a str>,
    /// RFC 5424 MSGID.
    pub msgid: Option<&'a str>,
    /// RFC 5424 structured data, brackets included.
    pub structured_data: Option<&'a str>,
}

impl Header<'_> {
    /// The facility (priority / 8).
    pub fn facility(&self) -> Option<u8> {
        self.priority.map(|p| p / 8)
    }

    /// The severity (priority % 8): 0 emergency .. 7 debug.
    pub fn severity(&self) -> Option<u8> {
        self.priority.map(|p| p % 8)
    }
}

/// A message cut into header and body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split<'a> {
    /// The header, when the message starts with one.
    pub header: Option<Header<'a>>,
    /// The rest: the whole message when there is no header.
    pub body: &'a str,
}

/// Cuts `message` into its header and body. Never fails.
pub fn split(message: &str) -> Split<'_> {
    parse(message).unwrap_or(Split {
        header: None,
        body: message,
    })
}

fn parse(message: &str) -> Option<Split<'_>> {
    let (priority, rest) = match priority(message) {
        Some((p, rest)) => (Some(p), rest),
        None => (None, message),
    };
    if priority.is_some() {
        if let Some(rest) = rest.strip_prefix("1 ") {
            if let Some(split) = rfc5424(priority, rest) {
                return Some(split);
            }
        }
    }
    rfc3164(priority, rest)
}

fn priority(s: &str) -> Option<(u8, &str)> {
    let rest = s.strip_prefix('<')?;
    let end = rest.find('>')?;
    let digits = &rest[..end];
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let value: u16 = digits.parse().ok()?;
    (value <= 191).then(|| (value as u8, &rest[end + 1..]))
}

/// The next space-separated field and what follows its single separating space.
fn field(s: &str) -> Option<(&str, &str)> {
    let end = s.find(' ').unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    Some((&s[..end], s.get(end + 1..).unwrap_or("")))
}

fn nil(s: &str) -> Option<&str> {
    (s != "-").then_some(s)
}

fn rfc5424(priority: Option<u8>, s: &str) -> Option<Split<'_>> {
    let (timestamp, s) = field(s)?;
    if timestamp != "-" && !is_rfc3339(timestamp) {
        return None;
    }
    let (host, s) = field(s)?;
    let (app, s) = field(s)?;
    let (procid, s) = field(s)?;
    let (msgid, s) = field(s)?;
    let (sd, body) = if let Some(rest) = s.strip_prefix('-') {
        (None, rest.strip_prefix(' ').unwrap_or(rest))
    } else if s.starts_with('[') {
        let end = structured_data_end(s)?;
        let rest = &s[end..];
        (Some(&s[..end]), rest.strip_prefix(' ').unwrap_or(rest))
    } else {
        return None;
    };
    let body = body.strip_prefix('\u{feff}').unwrap_or(body);
    Some(Split {
        header: Some(Header {
            format: SyslogFormat::Rfc5424,
            priority,
            timestamp: nil(timestamp),
            host: nil(host),
            program: nil(app),
            pid: nil(procid),
            msgid: nil(msgid),
            structured_data: sd,
        }),
        body,
    })
}

/// End of one or more `[...]` elements, with `\]` escapes inside values.
fn structured_data_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i] == b'[' {
        i += 1;
        let mut quoted = false;
        loop {
            match b.get(i)? {
                b'\\' => i += 2,
                b'"' => {
                    quoted = !quoted;
                    i += 1;
                }
                b']' if !quoted => {
                    i += 1;
                    break;
                }
                _ => i += 1,
            }
        }
    }
    Some(i)
}

fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 19
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && (b[10] == b'T' || b[10] == b't')
        && b[13] == b':'
        && b[16] == b':'
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Length of a `Mmm dd hh:mm:ss` stamp (day padded with a space or not) at the start of `s`.
fn bsd_time_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.len() < 14 || !MONTHS.iter().any(|m| s.starts_with(m)) || b[3] != b' ' {
        return None;
    }
    let mut i = 4;
    if b[i] == b' ' {
        i += 1;
    }
    let day = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if !(1..=2).contains(&day) {
        return None;
    }
    i += day;
    if b.get(i) != Some(&b' ') {
        return None;
    }
    i += 1;
    let t = b.get(i..i + 8)?;
    let ok =
        t[2] == b':' && t[5] == b':' && [0, 1, 3, 4, 6, 7].iter().all(|&k| t[k].is_ascii_digit());
    ok.then_some(i + 8)
}

fn rfc3164(priority: Option<u8>, s: &str) -> Option<Split<'_>> {
    let time_len = bsd_time_len(s).or_else(|| {
        let end = s.find(' ').unwrap_or(s.len());
        is_rfc3339(&s[..end]).then_some(end)
    });
    let (timestamp, rest) = match time_len {
        Some(n) => (
            Some(&s[..n]),
            s.get(n..).unwrap_or("").trim_start_matches(' '),
        ),
        None if priority.is_some() => (None, s),
        None => return None,
    };
    // With a time the next field is the host, unless it already is the tag.
    let (host, rest) = match (timestamp, field(rest)) {
        (Some(_), Some((word, after))) if tag(word).is_none() => (Some(word), after),
        _ => (None, rest),
    };
    let (program, pid, body) = match field(rest).and_then(|(word, after)| Some((tag(word)?, after)))
    {
        Some(((program, pid), after)) => (Some(program), pid, after),
        None => (None, None, rest),
    };
    Some(Split {
        header: Some(Header {
            format: SyslogFormat::Rfc3164,
            priority,
            timestamp,
            host,
            program,
            pid,
            msgid: None,
            structured_data: None,
        }),
        body,
    })
}

/// `prog:` or `prog[pid]:` as one field: the program and the pid.
fn tag(word: &str) -> Option<(&str, Option<&str>)> {
    let word = word.strip_suffix(':')?;
    let (program, pid) = match word.find('[') {
        Some(open) => {
            let pid = word[open + 1..].strip_suffix(']')?;
            (&word[..open], Some(pid))
        }
        None => (word, None),
    };
    let ok = !program.is_empty()
        && program.len() <= 48
        && program
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b'/' | b'@'));
    ok.then_some((program, pid))
}

/// The text of an aggregate in the old schema's shape: the members' header with the parts that
/// differ between them written as one `***` (the time of day always differs), then the body
/// template. Parts equal in every member stay (`<38>Dec 7 *** bastion sshd: ...`); a pid that
/// differs is dropped with its brackets. Without any header this is `body_template`.
pub fn aggregate_message(headers: &[Option<Header<'_>>], body_template: &str) -> String {
    let Some(first) = headers.iter().flatten().next() else {
        return body_template.to_string();
    };
    let all = |f: &dyn Fn(&Header<'_>) -> Option<String>| -> Option<String> {
        let want = f(first)?;
        headers
            .iter()
            .all(|h| h.as_ref().and_then(f).as_deref() == Some(want.as_str()))
            .then_some(want)
    };
    // (text, glued to the previous part)
    let mut parts: Vec<(Option<String>, bool)> = Vec::new();
    if first.priority.is_some() {
        parts.push((all(&|h| h.priority.map(|p| format!("<{p}>"))), false));
    }
    match first.format {
        SyslogFormat::Rfc5424 => {
            parts.push((Some("1".into()), true));
            parts.push((None, false));
            parts.push((all(&|h| h.host.map(str::to_string)), false));
            parts.push((all(&|h| h.program.map(str::to_string)), false));
        }
        SyslogFormat::Rfc3164 => {
            if let Some(ts) = first.timestamp {
                let glued = first.priority.is_some();
                if bsd_time_len(ts).is_some() {
                    let date = |h: &Header<'_>, k: usize| {
                        h.timestamp
                            .and_then(|t| t.split_ascii_whitespace().nth(k).map(str::to_string))
                    };
                    parts.push((all(&|h| date(h, 0)), glued));
                    parts.push((all(&|h| date(h, 1)), false));
                } else {
                    parts.push((
                        all(&|h| h.timestamp.and_then(|t| t.get(..10).map(str::to_string))),
                        glued,
                    ));
                }
                parts.push((None, false));
            }
            if first.host.is_some() {
                parts.push((all(&|h| h.host.map(str::to_string)), false));
            }
        }
    }
    if first.format == SyslogFormat::Rfc3164 && first.program.is_some() {
        let program = all(&|h| h.program.map(str::to_string));
        let pid = all(&|h| h.pid.map(str::to_string));
        let tag = program.map(|p| match pid {
            Some(pid) => format!("{p}[{pid}]:"),
            None => format!("{p}:"),
        });
        parts.push((tag, false));
    }
    let mut out = String::new();
    let mut last_wild = false;
    for (text, glued) in parts {
        match text {
            Some(t) => {
                if !out.is_empty() && !glued {
                    out.push(' ');
                }
                out.push_str(&t);
                last_wild = false;
            }
            None if last_wild => {}
            None => {
                if !out.is_empty() && !glued {
                    out.push(' ');
                }
                out.push_str(crate::pattern::STARS);
                last_wild = true;
            }
        }
    }
    if !body_template.is_empty() {
        out.push(' ');
        out.push_str(body_template);
    }
    out
}

/// The few members' headers that give [`aggregate_message`] the text it gives for all of
/// them, so a caller grouping a stream it cannot hold keeps a bounded number of messages per
/// group: the first member with a header, one member without a header (if any), and for each
/// part of a header (priority, host, program, pid, the first two words and the first ten
/// bytes of the time) the first member that differs from the first header in it. At most nine
/// messages are kept whatever the number of members, and two sets merge ([`Self::merge`]).
#[derive(Clone, Debug, Default)]
pub struct HeaderWitnesses {
    /// (position in input order, message), in input order.
    kept: Vec<(usize, String)>,
    /// Index in `kept` of the first member with a header.
    first: Option<usize>,
    none_kept: bool,
    differs: [bool; WITNESS_PARTS],
}

const WITNESS_PARTS: usize = 7;

fn timestamp_word<'a>(h: &Header<'a>, k: usize) -> Option<&'a str> {
    h.timestamp.and_then(|t| t.split_ascii_whitespace().nth(k))
}

fn same_part(a: &Header<'_>, b: &Header<'_>, part: usize) -> bool {
    let word = timestamp_word;
    match part {
        0 => a.priority == b.priority,
        1 => a.host == b.host,
        2 => a.program == b.program,
        3 => a.pid == b.pid,
        4 => word(a, 0) == word(b, 0),
        5 => word(a, 1) == word(b, 1),
        _ => a.timestamp.and_then(|t| t.get(..10)) == b.timestamp.and_then(|t| t.get(..10)),
    }
}

impl HeaderWitnesses {
    /// Counts one member at position `at` (positions increase with each call), whose message
    /// is `message` with header `header` (its [`split`]).
    pub fn push(&mut self, at: usize, header: Option<Header<'_>>, message: &str) {
        let Some(h) = header else {
            if !self.none_kept {
                self.none_kept = true;
                self.kept.push((at, String::new()));
            }
            return;
        };
        let Some(first) = self.first else {
            self.first = Some(self.kept.len());
            self.kept.push((at, message.to_string()));
            return;
        };
        let Some(f) = split(&self.kept[first].1).header else {
            return;
        };
        let mut keep = false;
        for part in 0..WITNESS_PARTS {
            if !self.differs[part] && !same_part(&f, &h, part) {
                self.differs[part] = true;
                keep = true;
            }
        }
        if keep {
            self.kept.push((at, message.to_string()));
        }
    }

    /// Adds the members of `other` (their positions interleave with this set's).
    pub fn merge(&mut self, other: HeaderWitnesses) {
        let mut all = std::mem::take(&mut self.kept);
        all.extend(other.kept);
        all.sort_by_key(|(at, _)| *at);
        *self = HeaderWitnesses::default();
        for (at, message) in all {
            let header = split(&message).header;
            self.push(at, header, &message);
        }
    }

    /// The kept members' headers in input order, for [`aggregate_message`].
    pub fn headers(&self) -> Vec<Option<Header<'_>>> {
        self.kept.iter().map(|(_, m)| split(m).header).collect()
    }

    /// Position of the first member with a header, or else of the first without.
    pub fn first_position(&self) -> Option<usize> {
        self.kept.first().map(|(at, _)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc3164_with_priority_host_and_pid() {
        let s = split("<38>Dec  7 10:00:01 bastion sshd[4242]: Failed password for root");
        let h = s.header.expect("a header");
        assert_eq!(h.format, SyslogFormat::Rfc3164);
        assert_eq!(h.priority, Some(38));
        assert_eq!((h.facility(), h.severity()), (Some(4), Some(6)));
        assert_eq!(h.timestamp, Some("Dec  7 10:00:01"));
        assert_eq!(h.host, Some("bastion"));
        assert_eq!(h.program, Some("sshd"));
        assert_eq!(h.pid, Some("4242"));
        assert_eq!(s.body, "Failed password for root");
    }

    #[test]
    fn rfc3164_variants() {
        let s = split("Dec 7 10:00:01 host kernel: link up");
        let h = s.header.expect("a header");
        assert_eq!(
            (h.priority, h.host, h.program, h.pid),
            (None, Some("host"), Some("kernel"), None)
        );
        assert_eq!(s.body, "link up");

        let s = split("2026-12-07T10:00:01.123+01:00 web1 nginx[7]: GET /");
        let h = s.header.expect("a header");
        assert_eq!(h.timestamp, Some("2026-12-07T10:00:01.123+01:00"));
        assert_eq!(
            (h.host, h.program, h.pid),
            (Some("web1"), Some("nginx"), Some("7"))
        );
        assert_eq!(s.body, "GET /");

        let s = split("<13>Dec 7 10:00:01 host no tag here");
        assert_eq!(s.header.and_then(|h| h.program), None);
        assert_eq!(s.body, "no tag here");

        let s = split("<13>sshd[1]: message");
        let h = s.header.expect("a header");
        assert_eq!((h.timestamp, h.program), (None, Some("sshd")));
        assert_eq!(s.body, "message");
    }

    #[test]
    fn rfc5424() {
        let line = "<165>1 2003-10-11T22:14:15.003Z mymachine evntslog 99 ID47 [exampleSDID@32473 iut=\"3\" x=\"a\\]b\"] An application event";
        let s = split(line);
        let h = s.header.expect("a header");
        assert_eq!(h.format, SyslogFormat::Rfc5424);
        assert_eq!(h.priority, Some(165));
        assert_eq!(h.timestamp, Some("2003-10-11T22:14:15.003Z"));
        assert_eq!(
            (h.host, h.program, h.pid, h.msgid),
            (
                Some("mymachine"),
                Some("evntslog"),
                Some("99"),
                Some("ID47")
            )
        );
        assert_eq!(
            h.structured_data,
            Some("[exampleSDID@32473 iut=\"3\" x=\"a\\]b\"]")
        );
        assert_eq!(s.body, "An application event");
        let s = split("<13>1 - - - - - -");
        assert_eq!(s.body, "");
        assert_eq!(s.header.map(|h| h.host), Some(None));
    }

    #[test]
    fn no_header_is_all_body() {
        for m in [
            "",
            "plain message",
            "<999>x",
            "Decimal 7 things",
            "<12",
            "[x] y",
        ] {
            let s = split(m);
            assert_eq!(
                s,
                Split {
                    header: None,
                    body: m
                },
                "{m:?}"
            );
        }
    }

    #[test]
    fn aggregate_message_collapses_varying_header_parts() {
        let a = "<38>Dec  7 10:00:01 bastion sshd[11]: Failed password for invalid user a from 1.2.3.4 port 22 ssh2";
        let b = "<38>Dec  7 10:05:09 bastion sshd[12]: Failed password for invalid user b from 1.2.3.5 port 23 ssh2";
        let headers = [split(a).header, split(b).header];
        assert_eq!(
            aggregate_message(&headers, "Failed password for invalid user *** from *** port *** ssh2"),
            "<38>Dec 7 *** bastion sshd: Failed password for invalid user *** from *** port *** ssh2"
        );
        let c = "<38>Dec  8 10:05:09 other sshd[12]: x";
        let headers = [split(a).header, split(c).header];
        assert_eq!(aggregate_message(&headers, "x"), "<38>Dec *** sshd: x");
        assert_eq!(aggregate_message(&[None], "body ***"), "body ***");
    }

    /// Messages with headers that agree or differ in each part, and some without a header.
    fn member() -> impl Strategy<Value = String> {
        (
            0..4usize,
            0..3usize,
            0..3usize,
            0..3usize,
            0..3usize,
            0..3usize,
        )
            .prop_map(|(kind, pri, day, host, prog, pid)| {
                let pri = ["", "<38>", "<86>"][pri];
                let day = ["Dec  7", "Dec  8", "Jan  7"][day];
                let host = ["web1", "web2", "db"][host];
                let prog = ["sshd", "cron", "kernel"][prog];
                let pid = ["[1]", "[2]", ""][pid];
                match kind {
                    0 => "Failed password for root".to_string(),
                    1 => format!(
                        "{pri}2026-12-0{}T10:00:01Z {host} {prog}{pid}: x",
                        7 + (pid.len() % 2)
                    ),
                    2 => format!("{pri}1 2026-12-07T10:00:01Z {host} {prog} 42 ID7 - x"),
                    _ => format!("{pri}{day} 10:00:0{} {host} {prog}{pid}: x", host.len()),
                }
            })
    }

    proptest! {
        #[test]
        fn witnesses_give_the_text_of_all_members(
            members in proptest::collection::vec(member(), 1..40),
            cut in 0usize..40,
        ) {
            let all: Vec<Option<Header<'_>>> = members.iter().map(|m| split(m).header).collect();
            let want = aggregate_message(&all, "x");
            // One set of all, and two interleaved sets merged.
            let mut one = HeaderWitnesses::default();
            let (mut a, mut b) = (HeaderWitnesses::default(), HeaderWitnesses::default());
            for (i, m) in members.iter().enumerate() {
                let h = split(m).header;
                one.push(i, h, m);
                if (i + cut) % 3 == 0 { a.push(i, h, m) } else { b.push(i, h, m) }
            }
            prop_assert!(one.headers().len() <= 9);
            prop_assert_eq!(aggregate_message(&one.headers(), "x"), want.clone());
            b.merge(a);
            prop_assert_eq!(aggregate_message(&b.headers(), "x"), want);
        }
    }

    proptest! {
        #[test]
        fn never_panics_and_body_is_a_suffix(m in any::<String>()) {
            let s = split(&m);
            prop_assert!(m.ends_with(s.body));
            let _ = aggregate_message(&[s.header], s.body);
        }

        #[test]
        fn headers_of_syslog_like_lines(m in "(<[0-9]{1,3}>)?(Dec  ?[0-9]{1,2} [0-9]{2}:[0-9]{2}:[0-9]{2} )?[a-z]{1,5}(\\[[0-9]{1,3}\\])?:? [ -~]{0,20}") {
            let s = split(&m);
            prop_assert!(m.ends_with(s.body));
        }
    }
}
