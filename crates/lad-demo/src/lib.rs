//! `lad-demo`: the bundled sample logs behind `lad demo`, a synthetic syslog stream generated on
//! the fly. Its own crate, so the binary does not carry a generator in its code and tests of
//! every crate can draw labelled logs from it.
//!
//! The data is made up. Nothing here was copied from a real network or from a public log
//! collection: [`generate`] writes, from a seed, the RFC 3164 lines that five invented hosts
//! would send to a collector. `cumulus` is a Cumulus Linux router (cron sessions, bgpd and
//! ospfd chatter, lldpd, switchd, ntpd, dhcrelay), `fw-edge` a Linux firewall (netfilter LOG
//! lines with SRC/DST/PROTO/SPT/DPT and a conntrack monitor), `web-01` an nginx web server
//! (access lines, the load balancer's health checks, rare error lines), `bastion` an SSH jump
//! host (publickey logins, sessions, sudo) and `db-01` a PostgreSQL server (connections,
//! checkpoints, autovacuum). Addresses come from the documentation ranges (192.0.2.0/24,
//! 198.51.100.0/24, 203.0.113.0/24) and RFC 1918; times are UTC.
//!
//! A [`DemoSpec`] names two periods ending at its reference time: a TRAINING period of
//! routine traffic only, then a LIVE period of routine traffic plus a few injected incidents
//! (an SSH brute force, a BGP neighbour flap, a failing disk, an nginx 502 burst, an OOM
//! kill, a configuration change by sudo, a full conntrack table). Each line written by an
//! incident carries the incident's name in [`DemoRecord::injected`], the ground truth for
//! measuring recall and precision. Some injected lines look routine on their own (a sudo
//! session opening, a BGP session coming back up): judge recall per incident, not per line.
//!
//! This module owns [`DemoSpec`], [`DemoRecord`], [`generate`] and [`incident_names`]. It
//! does no I/O, reads no clock (the caller passes "now" as [`DemoSpec::end_ms`]) and uses
//! only its own seeded generators, so one spec always yields the same records.

use std::fmt::{self, Write as _};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// The longest an incident lasts; incidents start early enough to end inside the live period.
const MAX_INCIDENT_SPAN: i64 = 10 * MINUTE;

/// One generated syslog line, as a collector would have stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoRecord {
    /// The sending host, equal to the host in the message header.
    pub host: String,
    /// When the line was received, in Unix milliseconds (UTC).
    pub time_ms: i64,
    /// The full RFC 3164 line: `<PRI>Mmm dd hh:mm:ss host tag[pid]: text`.
    pub message: String,
    /// The incident this line belongs to (one of [`incident_names`]), `None` for routine lines.
    pub injected: Option<&'static str>,
}

/// What to generate: the seed, the reference time and the size of the two periods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSpec {
    /// Seed of every random choice; the same spec always gives the same records.
    pub seed: u64,
    /// The reference "now" in Unix milliseconds (UTC): the live period ends just before it.
    pub end_ms: i64,
    /// Hours of routine traffic before the live period (the training window).
    pub training_hours: u32,
    /// Hours of routine traffic with injected incidents, ending at `end_ms`.
    pub live_hours: u32,
    /// Mean routine lines per hour per host, before the fixed schedules (cron, health checks,
    /// checkpoints) are added; busy hosts get more than quiet ones.
    pub lines_per_hour_per_host: u32,
}

impl Default for DemoSpec {
    /// Seed 7, 48 training hours, 2 live hours, 400 lines per hour per host (about 110,000
    /// lines), ending at the fixed time 2026-11-24T12:00:00Z; callers pass the real now.
    fn default() -> Self {
        Self {
            seed: 7,
            end_ms: 1_795_521_600_000,
            training_hours: 48,
            live_hours: 2,
            lines_per_hour_per_host: 400,
        }
    }
}

/// The injected incidents, in no particular order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Incident {
    SshBruteForce,
    BgpFlap,
    DiskError,
    Nginx502Burst,
    OomKill,
    ConfigChange,
    ConntrackFull,
}

const INCIDENTS: [Incident; 7] = [
    Incident::SshBruteForce,
    Incident::BgpFlap,
    Incident::DiskError,
    Incident::Nginx502Burst,
    Incident::OomKill,
    Incident::ConfigChange,
    Incident::ConntrackFull,
];

const INCIDENT_NAMES: [&str; 7] = [
    "ssh_brute_force",
    "bgp_flap",
    "disk_error",
    "nginx_502_burst",
    "oom_kill",
    "config_change",
    "conntrack_full",
];

/// The names [`DemoRecord::injected`] can hold, one per incident of the live period.
pub fn incident_names() -> &'static [&'static str] {
    &INCIDENT_NAMES
}

impl Incident {
    fn name(self) -> &'static str {
        let index = INCIDENTS
            .iter()
            .position(|&i| i == self)
            .expect("every incident is listed in INCIDENTS");
        INCIDENT_NAMES[index]
    }

    fn kind(self) -> Kind {
        match self {
            Incident::SshBruteForce | Incident::ConfigChange => Kind::Bastion,
            Incident::BgpFlap => Kind::Router,
            Incident::DiskError => Kind::Database,
            Incident::Nginx502Burst | Incident::OomKill => Kind::Web,
            Incident::ConntrackFull => Kind::Firewall,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Router,
    Firewall,
    Web,
    Bastion,
    Database,
}

struct HostDef {
    name: &'static str,
    kind: Kind,
    /// Share of the routine lines, in per mille of all hosts together.
    share_permille: i64,
    /// Whether the traffic follows the time of day (people browse by day).
    diurnal: bool,
}

const HOSTS: [HostDef; 5] = [
    HostDef {
        name: "cumulus",
        kind: Kind::Router,
        share_permille: 130,
        diurnal: false,
    },
    HostDef {
        name: "fw-edge",
        kind: Kind::Firewall,
        share_permille: 300,
        diurnal: true,
    },
    HostDef {
        name: "web-01",
        kind: Kind::Web,
        share_permille: 350,
        diurnal: true,
    },
    HostDef {
        name: "bastion",
        kind: Kind::Bastion,
        share_permille: 80,
        diurnal: true,
    },
    HostDef {
        name: "db-01",
        kind: Kind::Database,
        share_permille: 140,
        diurnal: false,
    },
];

/// Traffic per UTC hour of day, in per mille of the peak.
const DIURNAL_PERMILLE: [i64; 24] = [
    300, 250, 220, 200, 200, 250, 350, 500, 700, 850, 950, 1000, 1000, 980, 950, 950, 900, 850,
    800, 750, 650, 550, 450, 350,
];

/// Routine events that happen at random times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tpl {
    FdbAged,
    RouteProgrammed,
    BgpUpdate,
    BgpPrefix,
    LldpRemoval,
    LldpMsap,
    OspfRefresh,
    NtpAdjust,
    DhcpRelay,
    DropTcp,
    DropUdp,
    DropIcmp,
    AcceptOut,
    AcceptIn,
    Access,
    ErrorOpen,
    WarnBuffered,
    SshSession,
    SshTypo,
    SshPreauth,
    SudoRoutine,
    PgConnection,
    PgAutovacuum,
    PgAnalyze,
    PgSlowQuery,
}

impl Tpl {
    /// Lines one event writes, to turn a line rate into an event rate.
    fn lines(self) -> i64 {
        match self {
            Tpl::SshSession => 10,
            Tpl::SshTypo => 11,
            Tpl::SudoRoutine | Tpl::PgConnection => 3,
            Tpl::DhcpRelay | Tpl::PgAutovacuum => 2,
            _ => 1,
        }
    }
}

/// Weighted routine events per kind of host; a few dominate, as in real logs.
fn templates(kind: Kind) -> &'static [(u32, Tpl)] {
    match kind {
        Kind::Router => &[
            (30, Tpl::FdbAged),
            (20, Tpl::BgpUpdate),
            (15, Tpl::BgpPrefix),
            (10, Tpl::RouteProgrammed),
            (8, Tpl::LldpRemoval),
            (6, Tpl::OspfRefresh),
            (4, Tpl::NtpAdjust),
            (4, Tpl::DhcpRelay),
            (3, Tpl::LldpMsap),
        ],
        Kind::Firewall => &[
            (45, Tpl::DropTcp),
            (25, Tpl::AcceptOut),
            (12, Tpl::DropUdp),
            (8, Tpl::AcceptIn),
            (5, Tpl::DropIcmp),
        ],
        Kind::Web => &[
            (300, Tpl::Access),
            (2, Tpl::ErrorOpen),
            (1, Tpl::WarnBuffered),
        ],
        Kind::Bastion => &[
            (30, Tpl::SshSession),
            (12, Tpl::SshPreauth),
            (10, Tpl::SudoRoutine),
            (3, Tpl::SshTypo),
        ],
        Kind::Database => &[
            (60, Tpl::PgConnection),
            (6, Tpl::PgAnalyze),
            (6, Tpl::PgAutovacuum),
            (4, Tpl::PgSlowQuery),
        ],
    }
}

/// Routine events on a fixed schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Periodic {
    Cron15,
    CronHourly,
    Healthz,
    Logrotate,
    Checkpoint,
    PgDump,
    ConntrackMonitor,
}

/// `(period, phase from the epoch, event)` per kind of host.
fn schedules(kind: Kind) -> &'static [(i64, i64, Periodic)] {
    const HOURLY: (i64, i64, Periodic) = (HOUR, 17 * MINUTE + SECOND, Periodic::CronHourly);
    match kind {
        Kind::Router => &[(15 * MINUTE, SECOND, Periodic::Cron15), HOURLY],
        Kind::Firewall => &[HOURLY, (5 * MINUTE, 2 * SECOND, Periodic::ConntrackMonitor)],
        Kind::Web => &[
            HOURLY,
            (30 * SECOND, 7 * SECOND, Periodic::Healthz),
            (DAY, 0, Periodic::Logrotate),
        ],
        Kind::Bastion => &[HOURLY],
        Kind::Database => &[
            HOURLY,
            (5 * MINUTE, 2 * MINUTE + 13 * SECOND, Periodic::Checkpoint),
            (DAY, 2 * HOUR + 30 * MINUTE + SECOND, Periodic::PgDump),
            (DAY, 0, Periodic::Logrotate),
        ],
    }
}

#[derive(Debug, Clone, Copy)]
enum Event {
    Random,
    Scheduled(Periodic),
    Incident(Incident),
}

/// Generates the demo records for `spec`, sorted by (time, host).
///
/// Records lie in `[end_ms - (training_hours + live_hours) h, end_ms)`; injected ones only in
/// the live period, the last `live_hours` hours. The same spec always gives the same records.
pub fn generate(spec: &DemoSpec) -> Vec<DemoRecord> {
    let live_start = spec
        .end_ms
        .saturating_sub(i64::from(spec.live_hours) * HOUR);
    let start = live_start.saturating_sub(i64::from(spec.training_hours) * HOUR);
    let mut planner = ChaCha8Rng::seed_from_u64(spec.seed);
    let incidents = plan_incidents(&mut planner, live_start, spec.end_ms);

    let mut records = Vec::new();
    for (index, def) in HOSTS.iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
        // One ChaCha stream per host: hosts stay independent of each other's draws.
        rng.set_stream(index as u64 + 1);
        let lines_per_hour =
            i64::from(spec.lines_per_hour_per_host) * HOSTS.len() as i64 * def.share_permille
                / 1000;
        let mut events: Vec<(i64, Event)> =
            random_times(&mut rng, def, start, spec.end_ms, lines_per_hour)
                .into_iter()
                .map(|t| (t, Event::Random))
                .collect();
        for &(period, phase, what) in schedules(def.kind) {
            let mut t = phase + (start - phase + period - 1).div_euclid(period) * period;
            while t < spec.end_ms {
                events.push((t, Event::Scheduled(what)));
                t += period;
            }
        }
        for &(incident, t) in &incidents {
            if incident.kind() == def.kind {
                events.push((t, Event::Incident(incident)));
            }
        }
        events.sort_by_key(|&(t, _)| t);

        let mut host = HostGen::new(def, rng, start, spec.end_ms);
        for (t, event) in events {
            match event {
                Event::Random => {
                    let tpl = *pick(&mut host.rng, templates(def.kind));
                    host.routine(t, tpl);
                }
                Event::Scheduled(what) => host.scheduled(t, what),
                Event::Incident(incident) => {
                    host.label = Some(incident.name());
                    host.incident(t, incident);
                    host.label = None;
                }
            }
        }
        records.append(&mut host.records);
    }
    // Stable, so lines of one host and millisecond keep the order they were written in.
    records.sort_by(|a, b| (a.time_ms, &a.host).cmp(&(b.time_ms, &b.host)));
    records
}

/// Spreads the incidents over the live period in a seeded order, one per time slot.
fn plan_incidents(rng: &mut ChaCha8Rng, live_start: i64, end: i64) -> Vec<(Incident, i64)> {
    if end - live_start < MAX_INCIDENT_SPAN + 2 * MINUTE {
        return Vec::new();
    }
    let mut order = INCIDENTS;
    order.shuffle(rng);
    let slot = (end - live_start) / order.len() as i64;
    let latest = end - MAX_INCIDENT_SPAN - MINUTE;
    order
        .iter()
        .enumerate()
        .map(|(i, &incident)| {
            let jitter = rng.random_range(slot / 10..=slot * 6 / 10);
            let t = (live_start + i as i64 * slot + jitter).clamp(live_start, latest);
            (incident, t)
        })
        .collect()
}

/// Arrival times of routine events: uniform gaps around the mean, thinned by time of day.
fn random_times(
    rng: &mut ChaCha8Rng,
    def: &HostDef,
    start: i64,
    end: i64,
    lines_per_hour: i64,
) -> Vec<i64> {
    let table = templates(def.kind);
    let weight: i64 = table.iter().map(|&(w, _)| i64::from(w)).sum();
    let weighted_lines: i64 = table
        .iter()
        .map(|&(w, tpl)| i64::from(w) * tpl.lines())
        .sum();
    let mean_factor = if def.diurnal {
        DIURNAL_PERMILLE.iter().sum::<i64>() / 24
    } else {
        1000
    };
    // Events per hour at the daily peak, in thousandths, so that thinning keeps the mean.
    let peak_milli_events =
        lines_per_hour.saturating_mul(weight * 1_000_000) / (weighted_lines * mean_factor);
    if peak_milli_events <= 0 {
        return Vec::new();
    }
    let mean_gap = (HOUR * 1000 / peak_milli_events).max(1);
    let mut times = Vec::new();
    let mut t = start;
    loop {
        t += rng.random_range(0..=2 * mean_gap);
        if t >= end {
            return times;
        }
        if !def.diurnal || rng.random_range(0..1000) < diurnal_permille(t) {
            times.push(t);
        }
    }
}

/// The time-of-day factor at `t`, interpolated between the hourly values.
fn diurnal_permille(t: i64) -> i64 {
    let in_day = t.rem_euclid(DAY);
    let hour = (in_day / HOUR) as usize;
    let frac = in_day % HOUR;
    let a = DIURNAL_PERMILLE[hour];
    let b = DIURNAL_PERMILLE[(hour + 1) % 24];
    a + (b - a) * frac / HOUR
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [(u32, T)]) -> &'a T {
    let total: u32 = items.iter().map(|(w, _)| w).sum();
    let mut x = rng.random_range(0..total.max(1));
    for (w, item) in items {
        if x < *w {
            return item;
        }
        x -= w;
    }
    &items.last().expect("weighted tables are never empty").1
}

/// The UTC date and time of a Unix millisecond (the `time` crate's calendar, as everywhere in
/// lad); times outside its range fall back to the epoch.
fn utc(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Writes `t` in a format; formatting a valid date with a fixed description cannot fail, but
/// an error writes nothing rather than panicking.
fn write_time(
    f: &mut fmt::Formatter<'_>,
    t: OffsetDateTime,
    format: &[BorrowedFormatItem<'_>],
) -> fmt::Result {
    f.write_str(&t.format(format).unwrap_or_default())
}

/// The RFC 3164 header time: `Nov  4 09:05:01` (day padded with a space).
struct SyslogTime(OffsetDateTime);

impl fmt::Display for SyslogTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_time(
            f,
            self.0,
            format_description!("[month repr:short] [day padding:space] [hour]:[minute]:[second]"),
        )
    }
}

/// nginx access-log time: `24/Nov/2026:11:00:00 +0000`.
struct NginxTime(OffsetDateTime);

impl fmt::Display for NginxTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_time(
            f,
            self.0,
            format_description!("[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"),
        )
    }
}

/// nginx error-log time: `2026/11/24 11:00:00`.
struct NginxErrorTime(OffsetDateTime);

impl fmt::Display for NginxErrorTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_time(
            f,
            self.0,
            format_description!("[year]/[month]/[day] [hour]:[minute]:[second]"),
        )
    }
}

/// The kernel's time since boot, `[ 1234.567890]`.
struct KernelTime(i64);

impl fmt::Display for KernelTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:>5}.{:06}]", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

/// PRI values (facility * 8 + severity) of the lines written here.
mod pri {
    pub const KERN_CRIT: u8 = 2;
    pub const KERN_ERR: u8 = 3;
    pub const KERN_WARNING: u8 = 4;
    pub const KERN_INFO: u8 = 6;
    pub const USER_NOTICE: u8 = 13;
    pub const DAEMON_WARNING: u8 = 28;
    pub const DAEMON_NOTICE: u8 = 29;
    pub const DAEMON_INFO: u8 = 30;
    pub const AUTH_INFO: u8 = 38;
    pub const CRON_INFO: u8 = 78;
    pub const AUTHPRIV_NOTICE: u8 = 85;
    pub const AUTHPRIV_INFO: u8 = 86;
    pub const LOCAL0_WARNING: u8 = 132;
    pub const LOCAL0_INFO: u8 = 134;
    pub const LOCAL7_ERR: u8 = 187;
    pub const LOCAL7_WARNING: u8 = 188;
    pub const LOCAL7_INFO: u8 = 190;
}

// Long-running daemons keep their pids for the whole stream.
const PID_SWITCHD: u32 = 1150;
const PID_DHCRELAY: u32 = 1300;
const PID_LLDPD: u32 = 1410;
const PID_OSPFD: u32 = 1518;
const PID_BGPD: u32 = 1520;
const PID_NTPD: u32 = 1602;
const PID_LOGIND: u32 = 612;
const PID_SSHD: u32 = 812;
const PID_CHECKPOINTER: u32 = 1187;
const PID_JAVA: u32 = 2345;
const NGINX_WORKERS: [u32; 4] = [2412, 2413, 2414, 2415];

const BGP_PEERS: [&str; 2] = ["10.0.0.2", "10.0.0.6"];
const UPSTREAM: &str = "10.0.2.21:8080";
const FW_MAC_OUTSIDE: &str = "00:16:3e:5a:10:01:00:1c:73:0a:0b:0c:08:00";
const FW_MAC_INSIDE: &str = "00:16:3e:5a:10:02:00:16:3e:2b:44:01:08:00";

/// Bastion users: (name, uid, weight of logins, sudo allowed).
const BASTION_USERS: [(&str, u32, u32, bool); 5] = [
    ("alice", 1001, 30, true),
    ("bob", 1002, 25, true),
    ("carol", 1003, 15, true),
    ("deploy", 1010, 25, false),
    ("admin", 1000, 5, true),
];

const SUDO_COMMANDS: [(u32, &str); 6] = [
    (30, "/usr/bin/journalctl -u nginx -n 200"),
    (20, "/usr/bin/systemctl status nginx"),
    (15, "/usr/bin/tail -n 100 /var/log/syslog"),
    (15, "/usr/bin/apt list --upgradable"),
    (10, "/usr/bin/ss -tlnp"),
    (10, "/usr/bin/du -sh /var/log"),
];

const USER_AGENTS: [(u32, &str); 7] = [
    (35, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"),
    (20, "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"),
    (15, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"),
    (12, "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"),
    (10, "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"),
    (5, "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
    (3, "curl/8.5.0"),
];

const SCANNER_AGENTS: [&str; 2] = ["Mozilla/5.0 zgrab/0.x", "python-requests/2.31.0"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PageKind {
    Html,
    Static,
    Api,
    ApiItem,
    ApiPost,
    Login,
    Scanner,
}

/// A page browsers ask for; `suffix` is the range of a number appended to the path.
struct Page {
    method: &'static str,
    path: &'static str,
    suffix: Option<(u32, u32)>,
    kind: PageKind,
}

const fn page(method: &'static str, path: &'static str, kind: PageKind) -> Page {
    Page {
        method,
        path,
        suffix: None,
        kind,
    }
}

const fn numbered(path: &'static str, lo: u32, hi: u32, kind: PageKind) -> Page {
    Page {
        method: "GET",
        path,
        suffix: Some((lo, hi)),
        kind,
    }
}

/// The pages browsers ask for, weighted: the home page and its assets dominate.
const PAGES: [(u32, Page); 13] = [
    (180, page("GET", "/", PageKind::Html)),
    (120, page("GET", "/static/css/main.css", PageKind::Static)),
    (120, page("GET", "/static/js/app.js", PageKind::Static)),
    (60, page("GET", "/static/img/logo.png", PageKind::Static)),
    (40, page("GET", "/favicon.ico", PageKind::Static)),
    (150, numbered("/api/v1/items?page=", 1, 20, PageKind::Api)),
    (
        120,
        numbered("/api/v1/items/", 1000, 9999, PageKind::ApiItem),
    ),
    (40, numbered("/product/", 1000, 9999, PageKind::Html)),
    (30, page("POST", "/api/v1/cart", PageKind::ApiPost)),
    (15, page("POST", "/login", PageKind::Login)),
    (10, page("GET", "/robots.txt", PageKind::Static)),
    (6, page("GET", "/wp-login.php", PageKind::Scanner)),
    (4, page("GET", "/.env", PageKind::Scanner)),
];

const PG_TABLES: [&str; 5] = ["orders", "order_items", "customers", "sessions", "carts"];

const SLOW_QUERIES: [&str; 3] = [
    "SELECT o.id, o.total FROM orders o WHERE o.customer_id = $1 ORDER BY o.created_at DESC LIMIT 50",
    "SELECT count(*) FROM order_items WHERE created_at > now() - interval '1 day'",
    "UPDATE carts SET updated_at = now() WHERE session_id = $1",
];

const INVALID_USERS: [&str; 14] = [
    "test",
    "oracle",
    "ubuntu",
    "pi",
    "guest",
    "ftpuser",
    "support",
    "postgres",
    "git",
    "user1",
    "hadoop",
    "minecraft",
    "nagios",
    "teamspeak",
];

/// Internet addresses, all from the documentation ranges.
fn doc_ip(rng: &mut ChaCha8Rng) -> String {
    let net = ["192.0.2", "198.51.100", "203.0.113"][rng.random_range(0..3)];
    format!("{net}.{}", rng.random_range(1..255))
}

/// The state of one host while its events are written in time order.
struct HostGen {
    name: &'static str,
    rng: ChaCha8Rng,
    start_ms: i64,
    end_ms: i64,
    label: Option<&'static str>,
    records: Vec<DemoRecord>,
    next_pid: u32,
    boot_ms: i64,
    /// web-01: client addresses with a sticky user agent; low indices are the regulars.
    clients: Vec<(String, &'static str)>,
    /// web-01: nginx's connection counter (`*N` in error lines).
    connection: u64,
    /// bastion: systemd-logind's session counter.
    session: u32,
    /// bastion: each user's key fingerprint.
    fingerprints: Vec<String>,
    /// db-01: the checkpointer's syslog sequence number.
    checkpoint_seq: u32,
}

impl HostGen {
    fn new(def: &HostDef, mut rng: ChaCha8Rng, start_ms: i64, end_ms: i64) -> Self {
        let boot_ms = start_ms - rng.random_range(3 * DAY..120 * DAY);
        let next_pid = rng.random_range(2_000..60_000);
        let clients = if def.kind == Kind::Web {
            (0..400)
                .map(|_| (doc_ip(&mut rng), *pick(&mut rng, &USER_AGENTS)))
                .collect()
        } else {
            Vec::new()
        };
        let fingerprints = if def.kind == Kind::Bastion {
            const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            BASTION_USERS
                .iter()
                .map(|_| {
                    (0..43)
                        .map(|_| char::from(B64[rng.random_range(0..B64.len())]))
                        .collect()
                })
                .collect()
        } else {
            Vec::new()
        };
        Self {
            name: def.name,
            start_ms,
            end_ms,
            label: None,
            records: Vec::new(),
            next_pid,
            boot_ms,
            clients,
            connection: rng.random_range(10_000..200_000),
            session: rng.random_range(100..5_000),
            fingerprints,
            checkpoint_seq: rng.random_range(1_000..50_000),
            rng,
        }
    }

    /// Writes one line at `t`; lines outside the spec's window are dropped.
    fn line(&mut self, t: i64, pri: u8, prog: &str, pid: u32, body: fmt::Arguments<'_>) {
        if t < self.start_ms || t >= self.end_ms {
            return;
        }
        let mut message = String::with_capacity(200);
        // Writing into a String cannot fail.
        let _ = write!(
            message,
            "<{pri}>{} {} {prog}",
            SyslogTime(utc(t)),
            self.name
        );
        if pid != 0 {
            let _ = write!(message, "[{pid}]");
        }
        let _ = write!(message, ": {body}");
        self.records.push(DemoRecord {
            host: self.name.to_owned(),
            time_ms: t,
            message,
            injected: self.label,
        });
    }

    fn new_pid(&mut self) -> u32 {
        self.next_pid += self.rng.random_range(1..=30);
        if self.next_pid > 4_000_000 {
            self.next_pid = 1_000;
        }
        self.next_pid
    }

    fn ktime(&mut self, t: i64) -> KernelTime {
        KernelTime((t - self.boot_ms) * 1000 + self.rng.random_range(0..1000))
    }

    fn ms(&mut self, lo: i64, hi: i64) -> i64 {
        self.rng.random_range(lo..=hi)
    }

    fn port(&mut self) -> u32 {
        self.rng.random_range(32_768..61_000)
    }

    fn client(&mut self) -> (String, &'static str) {
        // The smaller of two draws: the first clients come back most often.
        let n = self.clients.len().max(1);
        let i = self.rng.random_range(0..n).min(self.rng.random_range(0..n));
        self.clients
            .get(i)
            .cloned()
            .unwrap_or_else(|| ("192.0.2.1".to_owned(), USER_AGENTS[0].1))
    }

    fn cron(&mut self, t: i64, user: &str, command: &str) {
        let pid = self.new_pid();
        let t = t + self.ms(0, 900);
        self.line(
            t,
            pri::AUTHPRIV_INFO,
            "CRON",
            pid,
            format_args!("pam_unix(cron:session): session opened for user {user} by (uid=0)"),
        );
        self.line(
            t + 1,
            pri::CRON_INFO,
            "CRON",
            pid,
            format_args!("({user}) CMD ({command})"),
        );
        let end = t + self.ms(200, 8_000);
        self.line(
            end,
            pri::AUTHPRIV_INFO,
            "CRON",
            pid,
            format_args!("pam_unix(cron:session): session closed for user {user}"),
        );
    }

    fn scheduled(&mut self, t: i64, what: Periodic) {
        match what {
            Periodic::Cron15 => {
                let jobs: [(u32, (&str, &str)); 3] = [
                    (
                        80,
                        (
                            "root",
                            "/usr/lib/cumulus/mstpd-bridge-check >/dev/null 2>&1",
                        ),
                    ),
                    (12, ("cumulus", "/home/cumulus/bin/backup-config.sh")),
                    (8, ("user", "/home/user/bin/poll-counters.sh")),
                ];
                let (user, command) = *pick(&mut self.rng, &jobs);
                self.cron(t, user, command);
            }
            Periodic::CronHourly => {
                self.cron(t, "root", "   cd / && run-parts --report /etc/cron.hourly");
            }
            Periodic::Healthz => {
                let t = t + self.ms(0, 250);
                let c = NginxTime(utc(t));
                self.line(
                    t,
                    pri::LOCAL7_INFO,
                    "nginx",
                    0,
                    format_args!(
                        "10.0.4.2 - - [{c}] \"GET /healthz HTTP/1.1\" 200 2 \"-\" \"HealthChecker/2.0\""
                    ),
                );
            }
            Periodic::Logrotate => {
                let t = t + self.ms(0, 500);
                self.line(
                    t,
                    pri::DAEMON_INFO,
                    "systemd",
                    1,
                    format_args!("Starting logrotate.service - Rotate log files..."),
                );
                let t = t + self.ms(100, 2_000);
                self.line(
                    t,
                    pri::DAEMON_INFO,
                    "systemd",
                    1,
                    format_args!("logrotate.service: Deactivated successfully."),
                );
                self.line(
                    t + 1,
                    pri::DAEMON_INFO,
                    "systemd",
                    1,
                    format_args!("Finished logrotate.service - Rotate log files."),
                );
            }
            Periodic::Checkpoint => self.checkpoint(t),
            Periodic::PgDump => {
                self.cron(t, "postgres", "pg_dump -Fc shop > /var/backups/shop.dump");
                let pid = self.new_pid();
                let t = t + self.ms(1_000, 2_000);
                self.line(
                    t,
                    pri::LOCAL0_INFO,
                    "postgres",
                    pid,
                    format_args!("[1-1] LOG:  connection received: host=[local]"),
                );
                self.line(
                    t + 2,
                    pri::LOCAL0_INFO,
                    "postgres",
                    pid,
                    format_args!(
                        "[2-1] LOG:  connection authorized: user=postgres database=shop application_name=pg_dump"
                    ),
                );
                let dur = self.ms(120_000, 300_000);
                self.line(
                    t + dur,
                    pri::LOCAL0_INFO,
                    "postgres",
                    pid,
                    format_args!(
                        "[3-1] LOG:  disconnection: session time: {} user=postgres database=shop host=[local]",
                        SessionTime(dur)
                    ),
                );
            }
            Periodic::ConntrackMonitor => {
                let t = t + self.ms(0, 900);
                let used = 6_000 + diurnal_permille(t) * 20 + self.ms(0, 3_000);
                self.line(
                    t,
                    pri::USER_NOTICE,
                    "conntrack-monitor",
                    0,
                    format_args!(
                        "conntrack entries: {used}/262144 ({}%)",
                        used * 100 / 262_144
                    ),
                );
            }
        }
    }

    fn checkpoint(&mut self, t: i64) {
        let t = t + self.ms(0, 50);
        self.checkpoint_seq += 1;
        let seq = self.checkpoint_seq;
        self.line(
            t,
            pri::LOCAL0_INFO,
            "postgres",
            PID_CHECKPOINTER,
            format_args!("[{seq}-1] LOG:  checkpoint starting: time"),
        );
        let buffers = self.ms(5, 2_500);
        let write_ms = buffers * 10 + self.ms(0, 900);
        let sync_ms = self.ms(1, 40);
        let files = self.ms(2, 60);
        let distance = buffers * 8 + self.ms(0, 500);
        let estimate = distance + self.ms(0, 4_000);
        self.checkpoint_seq += 1;
        let seq = self.checkpoint_seq;
        self.line(
            t + write_ms + sync_ms,
            pri::LOCAL0_INFO,
            "postgres",
            PID_CHECKPOINTER,
            format_args!(
                "[{seq}-1] LOG:  checkpoint complete: wrote {buffers} buffers ({}.{}%); 0 WAL file(s) added, 0 removed, {} recycled; write={}.{:03} s, sync={}.{:03} s, total={}.{:03} s; sync files={files}, longest=0.{:03} s, average=0.001 s; distance={distance} kB, estimate={estimate} kB",
                buffers * 100 / 16_384,
                buffers * 1000 / 16_384 % 10,
                i64::from(distance > 16_384),
                write_ms / 1000,
                write_ms % 1000,
                sync_ms / 1000,
                sync_ms % 1000,
                (write_ms + sync_ms) / 1000,
                (write_ms + sync_ms) % 1000,
                sync_ms.min(999),
            ),
        );
    }

    fn routine(&mut self, t: i64, tpl: Tpl) {
        match tpl {
            Tpl::FdbAged => {
                let vlan = [10, 20, 30][self.rng.random_range(0..3)];
                let (a, b) = (self.ms(0, 3), self.ms(1, 200));
                let port = self.ms(1, 48);
                self.line(
                    t,
                    pri::DAEMON_INFO,
                    "switchd",
                    PID_SWITCHD,
                    format_args!(
                        "hal_mlx_fdb.c:1124 fdb entry aged out: vlan {vlan} mac 44:38:39:00:{a:02x}:{b:02x} port swp{port}"
                    ),
                );
            }
            Tpl::RouteProgrammed => {
                let peer = self.rng.random_range(0..2);
                let net = self.ms(1, 60);
                self.line(
                    t,
                    pri::DAEMON_INFO,
                    "switchd",
                    PID_SWITCHD,
                    format_args!(
                        "sync_route.c:412 route 10.20.{net}.0/24 nexthop {} via swp{} programmed",
                        BGP_PEERS[peer],
                        51 + peer
                    ),
                );
            }
            Tpl::BgpUpdate => {
                let peer = BGP_PEERS[self.rng.random_range(0..2)];
                let asn = self.ms(65_010, 65_020);
                self.line(
                    t,
                    pri::DAEMON_INFO,
                    "bgpd",
                    PID_BGPD,
                    format_args!(
                        "{peer} rcvd UPDATE w/ attr: nexthop {peer}, origin i, path 65002 {asn}"
                    ),
                );
            }
            Tpl::BgpPrefix => {
                let peer = BGP_PEERS[self.rng.random_range(0..2)];
                let (a, b) = (self.ms(20, 30), self.ms(0, 255));
                self.line(
                    t,
                    pri::DAEMON_INFO,
                    "bgpd",
                    PID_BGPD,
                    format_args!("{peer} rcvd 10.{a}.{b}.0/24"),
                );
            }
            Tpl::LldpRemoval => {
                let (net, ifindex) = (self.ms(2, 9), self.ms(3, 60));
                self.line(
                    t,
                    pri::DAEMON_INFO,
                    "lldpd",
                    PID_LLDPD,
                    format_args!(
                        "removal request for address of 10.0.{net}.1%{ifindex}, but no knowledge of it"
                    ),
                );
            }
            Tpl::LldpMsap => {
                let port = self.ms(1, 48);
                self.line(
                    t,
                    pri::DAEMON_INFO,
                    "lldpd",
                    PID_LLDPD,
                    format_args!("MSAP has changed for port swp{port}, sending immediate LLDPDU"),
                );
            }
            Tpl::OspfRefresh => {
                let rid = self.ms(1, 9);
                self.line(
                    t,
                    pri::DAEMON_INFO,
                    "ospfd",
                    PID_OSPFD,
                    format_args!("LSA[Type1:10.0.0.{rid}]: router-LSA refreshed"),
                );
            }
            Tpl::NtpAdjust => {
                let micros = self.ms(10, 9_999);
                let sign = if self.rng.random_bool(0.5) { "-" } else { "" };
                self.line(
                    t,
                    pri::DAEMON_NOTICE,
                    "ntpd",
                    PID_NTPD,
                    format_args!("adjusting local clock by {sign}0.{micros:06}s"),
                );
            }
            Tpl::DhcpRelay => {
                let (a, b) = (self.ms(0, 3), self.ms(1, 200));
                let host = self.ms(20, 200);
                self.line(
                    t,
                    pri::DAEMON_INFO,
                    "dhcrelay",
                    PID_DHCRELAY,
                    format_args!(
                        "forwarded BOOTREQUEST for 44:38:39:00:{a:02x}:{b:02x} to 10.0.9.10"
                    ),
                );
                let later = t + self.ms(5, 400);
                self.line(
                    later,
                    pri::DAEMON_INFO,
                    "dhcrelay",
                    PID_DHCRELAY,
                    format_args!(
                        "forwarded BOOTREPLY for 44:38:39:00:{a:02x}:{b:02x} to 10.0.3.{host}"
                    ),
                );
            }
            Tpl::DropTcp | Tpl::DropUdp | Tpl::DropIcmp | Tpl::AcceptOut | Tpl::AcceptIn => {
                self.netfilter(t, tpl);
            }
            Tpl::Access => self.access(t),
            Tpl::ErrorOpen => {
                let (ip, _) = self.client();
                let worker = NGINX_WORKERS[self.rng.random_range(0..4)];
                self.connection += 1;
                let conn = self.connection;
                let file =
                    ["wp-login.php", ".env", "phpmyadmin/index.php"][self.rng.random_range(0..3)];
                let c = NginxErrorTime(utc(t));
                self.line(
                    t,
                    pri::LOCAL7_ERR,
                    "nginx",
                    0,
                    format_args!(
                        "{c} [error] {worker}#{worker}: *{conn} open() \"/var/www/html/{file}\" failed (2: No such file or directory), client: {ip}, server: www.example.com, request: \"GET /{file} HTTP/1.1\", host: \"www.example.com\""
                    ),
                );
            }
            Tpl::WarnBuffered => {
                let (ip, _) = self.client();
                let worker = NGINX_WORKERS[self.rng.random_range(0..4)];
                self.connection += 1;
                let conn = self.connection;
                let (d1, d2, n) = (self.ms(0, 9), self.ms(0, 99), self.ms(1, 9_999));
                let page = self.ms(1, 20);
                let c = NginxErrorTime(utc(t));
                self.line(
                    t,
                    pri::LOCAL7_WARNING,
                    "nginx",
                    0,
                    format_args!(
                        "{c} [warn] {worker}#{worker}: *{conn} an upstream response is buffered to a temporary file /var/cache/nginx/proxy_temp/{d1}/{d2:02}/{n:010} while reading upstream, client: {ip}, server: www.example.com, request: \"GET /api/v1/items?page={page} HTTP/1.1\", upstream: \"http://{UPSTREAM}/api/v1/items?page={page}\", host: \"www.example.com\""
                    ),
                );
            }
            Tpl::SshSession => {
                let user = self.bastion_user(false);
                self.ssh_session(t, user, "publickey");
            }
            Tpl::SshTypo => {
                let user = self.bastion_user(true);
                let (name, _, _, _) = BASTION_USERS[user];
                let ip = self.user_ip(user);
                let (pid, port) = (self.new_pid(), self.port());
                self.line(
                    t,
                    pri::AUTH_INFO,
                    "sshd",
                    pid,
                    format_args!("Failed password for {name} from {ip} port {port} ssh2"),
                );
                let later = t + self.ms(4_000, 15_000);
                self.ssh_session(later, user, "password");
            }
            Tpl::SshPreauth => {
                let ip = doc_ip(&mut self.rng);
                let (pid, port) = (self.new_pid(), self.port());
                let how = if self.rng.random_bool(0.7) {
                    "closed"
                } else {
                    "reset"
                };
                self.line(
                    t,
                    pri::AUTH_INFO,
                    "sshd",
                    pid,
                    format_args!("Connection {how} by {ip} port {port} [preauth]"),
                );
            }
            Tpl::SudoRoutine => {
                let user = self.bastion_user(true);
                let command = *pick(&mut self.rng, &SUDO_COMMANDS);
                let tty = self.ms(0, 4);
                self.sudo(t, user, tty, command);
            }
            Tpl::PgConnection => {
                let app = self.rng.random_range(0..10);
                let (ip, user, application) = match app {
                    0 => ("10.0.6.5", "report", "metabase"),
                    1..=5 => ("10.0.2.21", "app", "shop-api"),
                    _ => ("10.0.2.22", "app", "shop-api"),
                };
                let (pid, port) = (self.new_pid(), self.port());
                self.line(
                    t,
                    pri::LOCAL0_INFO,
                    "postgres",
                    pid,
                    format_args!("[1-1] LOG:  connection received: host={ip} port={port}"),
                );
                let t = t + self.ms(1, 8);
                self.line(
                    t,
                    pri::LOCAL0_INFO,
                    "postgres",
                    pid,
                    format_args!(
                        "[2-1] LOG:  connection authorized: user={user} database=shop application_name={application}"
                    ),
                );
                let dur = if user == "report" {
                    self.ms(5_000, 600_000)
                } else {
                    self.ms(20, 30_000)
                };
                self.line(
                    t + dur,
                    pri::LOCAL0_INFO,
                    "postgres",
                    pid,
                    format_args!(
                        "[3-1] LOG:  disconnection: session time: {} user={user} database=shop host={ip} port={port}",
                        SessionTime(dur)
                    ),
                );
            }
            Tpl::PgAutovacuum => {
                let table = PG_TABLES[self.rng.random_range(0..PG_TABLES.len())];
                let pid = self.new_pid();
                let remain = self.ms(100, 50_000);
                let scanned = self.ms(1, remain);
                let scans = self.ms(0, 1);
                self.line(
                    t,
                    pri::LOCAL0_INFO,
                    "postgres",
                    pid,
                    format_args!(
                        "[1-1] LOG:  automatic vacuum of table \"shop.public.{table}\": index scans: {scans}"
                    ),
                );
                self.line(
                    t + 1,
                    pri::LOCAL0_INFO,
                    "postgres",
                    pid,
                    format_args!(
                        "[1-2] #011pages: 0 removed, {remain} remain, {scanned} scanned ({}.{:02}% of total)",
                        scanned * 100 / remain,
                        scanned * 10_000 / remain % 100
                    ),
                );
            }
            Tpl::PgAnalyze => {
                let table = PG_TABLES[self.rng.random_range(0..PG_TABLES.len())];
                let pid = self.new_pid();
                let (user_cs, elapsed_ms) = (self.ms(0, 30), self.ms(10, 900));
                self.line(
                    t,
                    pri::LOCAL0_INFO,
                    "postgres",
                    pid,
                    format_args!(
                        "[1-1] LOG:  automatic analyze of table \"shop.public.{table}\" system usage: CPU: user: 0.{user_cs:02} s, system: 0.00 s, elapsed: {}.{:03} s",
                        elapsed_ms / 1000,
                        elapsed_ms % 1000
                    ),
                );
            }
            Tpl::PgSlowQuery => {
                let query = SLOW_QUERIES[self.rng.random_range(0..SLOW_QUERIES.len())];
                let pid = self.new_pid();
                let (ms, frac) = (self.ms(1_000, 4_999), self.ms(0, 999));
                let seq = self.ms(4, 40);
                self.line(
                    t,
                    pri::LOCAL0_INFO,
                    "postgres",
                    pid,
                    format_args!("[{seq}-1] LOG:  duration: {ms}.{frac:03} ms  statement: {query}"),
                );
            }
        }
    }

    fn netfilter(&mut self, t: i64, tpl: Tpl) {
        let kt = self.ktime(t);
        let ttl_in = self.ms(30, 250);
        let id = self.ms(0, 65_535);
        let spt = self.port();
        match tpl {
            Tpl::DropTcp => {
                let ports: [(u32, u32); 13] = [
                    (20, 23),
                    (15, 22),
                    (10, 445),
                    (10, 3389),
                    (8, 8080),
                    (5, 5900),
                    (5, 1433),
                    (5, 3306),
                    (5, 6379),
                    (4, 8443),
                    (3, 2375),
                    (3, 81),
                    (2, 5432),
                ];
                let dpt = *pick(&mut self.rng, &ports);
                let src = doc_ip(&mut self.rng);
                let dst = self.ms(11, 12);
                let len = [40, 44, 60][self.rng.random_range(0..3)];
                let window = [1024, 29_200, 65_535][self.rng.random_range(0..3)];
                self.line(
                    t,
                    pri::KERN_WARNING,
                    "kernel",
                    0,
                    format_args!(
                        "{kt} FW-DROP-IN: IN=eth0 OUT= MAC={FW_MAC_OUTSIDE} SRC={src} DST=198.51.100.{dst} LEN={len} TOS=0x00 PREC=0x00 TTL={ttl_in} ID={id} PROTO=TCP SPT={spt} DPT={dpt} WINDOW={window} RES=0x00 SYN URGP=0"
                    ),
                );
            }
            Tpl::DropUdp => {
                let ports: [(u32, u32); 6] = [
                    (30, 53),
                    (20, 123),
                    (15, 161),
                    (15, 1900),
                    (12, 5060),
                    (8, 11211),
                ];
                let dpt = *pick(&mut self.rng, &ports);
                let src = doc_ip(&mut self.rng);
                let dst = self.ms(10, 12);
                let payload = self.ms(8, 480);
                self.line(
                    t,
                    pri::KERN_WARNING,
                    "kernel",
                    0,
                    format_args!(
                        "{kt} FW-DROP-IN: IN=eth0 OUT= MAC={FW_MAC_OUTSIDE} SRC={src} DST=198.51.100.{dst} LEN={} TOS=0x00 PREC=0x00 TTL={ttl_in} ID={id} PROTO=UDP SPT={spt} DPT={dpt} LEN={payload}",
                        payload + 20
                    ),
                );
            }
            Tpl::DropIcmp => {
                let src = doc_ip(&mut self.rng);
                let seq = self.ms(1, 20);
                self.line(
                    t,
                    pri::KERN_WARNING,
                    "kernel",
                    0,
                    format_args!(
                        "{kt} FW-DROP-IN: IN=eth0 OUT= MAC={FW_MAC_OUTSIDE} SRC={src} DST=198.51.100.11 LEN=84 TOS=0x00 PREC=0x00 TTL={ttl_in} ID={id} PROTO=ICMP TYPE=8 CODE=0 ID={spt} SEQ={seq}"
                    ),
                );
            }
            Tpl::AcceptOut => {
                let ports: [(u32, u32); 3] = [(85, 443), (12, 80), (3, 22)];
                let dpt = *pick(&mut self.rng, &ports);
                let (net, host) = (self.ms(2, 7), self.ms(10, 250));
                let dst = doc_ip(&mut self.rng);
                self.line(
                    t,
                    pri::KERN_WARNING,
                    "kernel",
                    0,
                    format_args!(
                        "{kt} FW-ACCEPT-OUT: IN=eth1 OUT=eth0 MAC={FW_MAC_INSIDE} SRC=10.0.{net}.{host} DST={dst} LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID={id} DF PROTO=TCP SPT={spt} DPT={dpt} WINDOW=64240 RES=0x00 SYN URGP=0"
                    ),
                );
            }
            _ => {
                let src = doc_ip(&mut self.rng);
                self.line(
                    t,
                    pri::KERN_WARNING,
                    "kernel",
                    0,
                    format_args!(
                        "{kt} FW-ACCEPT-IN: IN=eth0 OUT=eth1 MAC={FW_MAC_OUTSIDE} SRC={src} DST=10.0.2.10 LEN=60 TOS=0x00 PREC=0x00 TTL={ttl_in} ID={id} DF PROTO=TCP SPT={spt} DPT=443 WINDOW=64240 RES=0x00 SYN URGP=0"
                    ),
                );
            }
        }
    }

    fn access(&mut self, t: i64) {
        let &Page {
            method,
            path,
            suffix,
            kind,
        } = pick(&mut self.rng, &PAGES);
        let (ip, agent) = if kind == PageKind::Scanner {
            (
                doc_ip(&mut self.rng),
                SCANNER_AGENTS[self.rng.random_range(0..2)],
            )
        } else {
            self.client()
        };
        let number = suffix.map(|(lo, hi)| self.rng.random_range(lo..=hi));
        let (status, bytes) = match kind {
            PageKind::Html => (200, self.ms(8_000, 40_000)),
            PageKind::Static => {
                if self.rng.random_bool(0.3) {
                    (304, 0)
                } else {
                    (200, self.ms(2_000, 120_000))
                }
            }
            PageKind::Api => (200, self.ms(500, 6_000)),
            PageKind::ApiItem => {
                if self.rng.random_bool(0.03) {
                    (404, 45)
                } else {
                    (200, self.ms(300, 1_500))
                }
            }
            PageKind::ApiPost => (201, self.ms(80, 200)),
            PageKind::Login => {
                if self.rng.random_bool(0.85) {
                    (302, 0)
                } else {
                    (200, 4_512)
                }
            }
            PageKind::Scanner => (404, 153),
        };
        let referer = match kind {
            PageKind::Static | PageKind::Api | PageKind::ApiItem | PageKind::ApiPost => {
                "https://www.example.com/"
            }
            _ => "-",
        };
        let c = NginxTime(utc(t));
        let path = Path(path, number);
        self.line(
            t,
            pri::LOCAL7_INFO,
            "nginx",
            0,
            format_args!(
                "{ip} - - [{c}] \"{method} {path} HTTP/1.1\" {status} {bytes} \"{referer}\" \"{agent}\""
            ),
        );
    }

    fn bastion_user(&mut self, sudoer: bool) -> usize {
        let weights: Vec<(u32, usize)> = BASTION_USERS
            .iter()
            .enumerate()
            .filter(|(_, u)| u.3 || !sudoer)
            .map(|(i, u)| (u.2, i))
            .collect();
        *pick(&mut self.rng, &weights)
    }

    fn user_ip(&self, user: usize) -> String {
        match BASTION_USERS[user].0 {
            "deploy" => "10.0.7.20".to_owned(),
            _ => format!("10.8.0.{}", 11 + user),
        }
    }

    fn ssh_session(&mut self, t: i64, user: usize, method: &str) {
        let (name, uid, _, _) = BASTION_USERS[user];
        let ip = self.user_ip(user);
        let (pid, port) = (self.new_pid(), self.port());
        let key = if method == "publickey" {
            let kind = if name == "deploy" { "RSA" } else { "ED25519" };
            format!(": {kind} SHA256:{}", self.fingerprints[user])
        } else {
            String::new()
        };
        self.line(
            t,
            pri::AUTH_INFO,
            "sshd",
            pid,
            format_args!("Accepted {method} for {name} from {ip} port {port} ssh2{key}"),
        );
        self.line(
            t + 2,
            pri::AUTHPRIV_INFO,
            "sshd",
            pid,
            format_args!(
                "pam_unix(sshd:session): session opened for user {name}(uid={uid}) by (uid=0)"
            ),
        );
        self.session += 1;
        let session = self.session;
        self.line(
            t + 5,
            pri::AUTH_INFO,
            "systemd-logind",
            PID_LOGIND,
            format_args!("New session {session} of user {name}."),
        );
        self.line(
            t + 7,
            pri::DAEMON_INFO,
            "systemd",
            1,
            format_args!("Started session-{session}.scope - Session {session} of User {name}."),
        );
        let dur = if name == "deploy" {
            self.ms(3_000, 60_000)
        } else {
            self.ms(60_000, 120 * MINUTE)
        };
        let end = t + dur;
        self.line(
            end,
            pri::AUTH_INFO,
            "sshd",
            pid,
            format_args!("Received disconnect from {ip} port {port}:11: disconnected by user"),
        );
        self.line(
            end + 1,
            pri::AUTH_INFO,
            "sshd",
            pid,
            format_args!("Disconnected from user {name} {ip} port {port}"),
        );
        self.line(
            end + 3,
            pri::AUTHPRIV_INFO,
            "sshd",
            pid,
            format_args!("pam_unix(sshd:session): session closed for user {name}"),
        );
        self.line(
            end + 6,
            pri::DAEMON_INFO,
            "systemd",
            1,
            format_args!("session-{session}.scope: Deactivated successfully."),
        );
        self.line(
            end + 8,
            pri::AUTH_INFO,
            "systemd-logind",
            PID_LOGIND,
            format_args!("Session {session} logged out. Waiting for processes to exit."),
        );
        self.line(
            end + 10,
            pri::AUTH_INFO,
            "systemd-logind",
            PID_LOGIND,
            format_args!("Removed session {session}."),
        );
    }

    /// A sudo command with its PAM session; returns when the session closed.
    fn sudo(&mut self, t: i64, user: usize, tty: i64, command: &str) -> i64 {
        let (name, uid, _, _) = BASTION_USERS[user];
        self.line(
            t,
            pri::AUTHPRIV_NOTICE,
            "sudo",
            0,
            format_args!(
                "{name} : TTY=pts/{tty} ; PWD=/home/{name} ; USER=root ; COMMAND={command}"
            ),
        );
        self.line(
            t + 3,
            pri::AUTHPRIV_INFO,
            "sudo",
            0,
            format_args!(
                "pam_unix(sudo:session): session opened for user root(uid=0) by {name}(uid={uid})"
            ),
        );
        let end = t + self.ms(300, 30_000);
        self.line(
            end,
            pri::AUTHPRIV_INFO,
            "sudo",
            0,
            format_args!("pam_unix(sudo:session): session closed for user root"),
        );
        end
    }

    fn incident(&mut self, t: i64, incident: Incident) {
        match incident {
            Incident::SshBruteForce => self.ssh_brute_force(t),
            Incident::BgpFlap => self.bgp_flap(t),
            Incident::DiskError => self.disk_error(t),
            Incident::Nginx502Burst => self.nginx_502_burst(t),
            Incident::OomKill => self.oom_kill(t),
            Incident::ConfigChange => self.config_change(t),
            Incident::ConntrackFull => self.conntrack_full(t),
        }
    }

    fn ssh_brute_force(&mut self, t0: i64) {
        let ip = format!("203.0.113.{}", self.rng.random_range(2..255));
        let attempts = self.rng.random_range(14..=22);
        let mut t = t0;
        for attempt in 0..attempts {
            let user = INVALID_USERS[self.rng.random_range(0..INVALID_USERS.len())];
            let (pid, port) = (self.new_pid(), self.port());
            if self.rng.random_bool(0.6) {
                self.line(
                    t,
                    pri::AUTH_INFO,
                    "sshd",
                    pid,
                    format_args!("Invalid user {user} from {ip} port {port}"),
                );
            }
            let failed = t + self.ms(1_800, 3_200);
            self.line(
                failed,
                pri::AUTH_INFO,
                "sshd",
                pid,
                format_args!("Failed password for invalid user {user} from {ip} port {port} ssh2"),
            );
            if attempt % 6 == 5 {
                self.line(
                    failed + 300,
                    pri::AUTH_INFO,
                    "sshd",
                    pid,
                    format_args!(
                        "Disconnecting invalid user {user} {ip} port {port}: Too many authentication failures [preauth]"
                    ),
                );
            }
            t += self.ms(2_000, 12_000);
        }
    }

    fn bgp_flap(&mut self, t0: i64) {
        let peer = BGP_PEERS[0];
        let mut t = t0;
        for _ in 0..3 {
            self.line(
                t,
                pri::DAEMON_WARNING,
                "bgpd",
                PID_BGPD,
                format_args!(
                    "%NOTIFICATION: sent to neighbor {peer} 4/0 (Hold Timer Expired) 0 bytes"
                ),
            );
            self.line(
                t + 1,
                pri::DAEMON_NOTICE,
                "bgpd",
                PID_BGPD,
                format_args!("%ADJCHANGE: neighbor {peer} Down BGP Notification sent"),
            );
            let withdrawn = self.rng.random_range(2..=4);
            for k in 0..withdrawn {
                let net = self.ms(1, 60);
                self.line(
                    t + 40 + k * 3,
                    pri::DAEMON_INFO,
                    "switchd",
                    PID_SWITCHD,
                    format_args!(
                        "sync_route.c:523 route 10.20.{net}.0/24 nexthop {peer} via swp51 removed"
                    ),
                );
            }
            let up = t + self.ms(15_000, 60_000);
            self.line(
                up,
                pri::DAEMON_NOTICE,
                "bgpd",
                PID_BGPD,
                format_args!("%ADJCHANGE: neighbor {peer} Up"),
            );
            t = up + self.ms(40_000, 100_000);
        }
    }

    fn disk_error(&mut self, t0: i64) {
        let mut t = t0;
        let bursts = self.rng.random_range(2..=3);
        for _ in 0..bursts {
            let sact = 1u32 << self.rng.random_range(0..31);
            let tag = self.ms(0, 31);
            let sector = self.ms(10_000_000, 90_000_000);
            let lines: [(u8, String); 8] = [
                (
                    pri::KERN_ERR,
                    format!("ata1.00: exception Emask 0x0 SAct 0x{sact:x} SErr 0x0 action 0x0"),
                ),
                (pri::KERN_ERR, "ata1.00: irq_stat 0x40000008".to_owned()),
                (pri::KERN_ERR, "ata1.00: failed command: READ FPDMA QUEUED".to_owned()),
                (pri::KERN_ERR, "ata1.00: status: { DRDY ERR }".to_owned()),
                (pri::KERN_ERR, "ata1.00: error: { UNC }".to_owned()),
                (pri::KERN_INFO, "ata1.00: configured for UDMA/133".to_owned()),
                (
                    pri::KERN_ERR,
                    format!("sd 0:0:0:0: [sda] tag#{tag} FAILED Result: hostbyte=DID_OK driverbyte=DRIVER_OK cmd_age=3s"),
                ),
                (
                    pri::KERN_ERR,
                    format!("blk_update_request: I/O error, dev sda, sector {sector} op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 0"),
                ),
            ];
            for (i, (p, text)) in lines.iter().enumerate() {
                let kt = self.ktime(t + i as i64);
                self.line(t + i as i64, *p, "kernel", 0, format_args!("{kt} {text}"));
            }
            t += self.ms(20_000, 60_000);
        }
        let (inode, block) = (self.ms(1_000_000, 2_000_000), self.ms(1_000_000, 9_000_000));
        let kt = self.ktime(t);
        self.line(
            t,
            pri::KERN_CRIT,
            "kernel",
            0,
            format_args!(
                "{kt} EXT4-fs error (device sda1): ext4_find_entry:1455: inode #{inode}: comm postgres: reading directory lblock 0"
            ),
        );
        let kt = self.ktime(t + 5);
        self.line(
            t + 5,
            pri::KERN_ERR,
            "kernel",
            0,
            format_args!(
                "{kt} Buffer I/O error on dev sda1, logical block {block}, lost async page write"
            ),
        );
        for k in 0..2 {
            let pid = self.new_pid();
            let (blk, rel) = (self.ms(100, 90_000), self.ms(16_390, 16_500));
            self.line(
                t + 200 + k * 1_500,
                pri::LOCAL0_WARNING,
                "postgres",
                pid,
                format_args!(
                    "[5-1] ERROR:  could not read block {blk} in file \"base/16384/{rel}\": Input/output error"
                ),
            );
        }
    }

    fn nginx_502_burst(&mut self, t0: i64) {
        let events = self.rng.random_range(10..=16);
        let mut t = t0;
        for k in 0..events {
            let (ip, agent) = self.client();
            let page = self.ms(1, 20);
            let path = format!("/api/v1/items?page={page}");
            let worker = NGINX_WORKERS[self.rng.random_range(0..4)];
            self.connection += 1;
            let conn = self.connection;
            let (reason, status, bytes) = if k + 1 == events {
                ("no live upstreams while connecting to upstream", 502, 157)
            } else if self.rng.random_bool(0.6) {
                (
                    "upstream timed out (110: Connection timed out) while reading response header from upstream",
                    504,
                    167,
                )
            } else {
                (
                    "connect() failed (111: Connection refused) while connecting to upstream",
                    502,
                    157,
                )
            };
            let c = NginxErrorTime(utc(t));
            self.line(
                t,
                pri::LOCAL7_ERR,
                "nginx",
                0,
                format_args!(
                    "{c} [error] {worker}#{worker}: *{conn} {reason}, client: {ip}, server: www.example.com, request: \"GET {path} HTTP/1.1\", upstream: \"http://{UPSTREAM}{path}\", host: \"www.example.com\""
                ),
            );
            let c = NginxTime(utc(t + 2));
            self.line(
                t + 2,
                pri::LOCAL7_INFO,
                "nginx",
                0,
                format_args!(
                    "{ip} - - [{c}] \"GET {path} HTTP/1.1\" {status} {bytes} \"https://www.example.com/\" \"{agent}\""
                ),
            );
            t += self.ms(3_000, 20_000);
        }
    }

    fn oom_kill(&mut self, t0: i64) {
        let total_vm = self.ms(7_000_000, 9_000_000);
        let anon = self.ms(3_500_000, 4_000_000);
        let kernel: [(u8, String); 7] = [
            (pri::KERN_WARNING, "java invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0".to_owned()),
            (pri::KERN_WARNING, format!("CPU: 2 PID: {PID_JAVA} Comm: java Not tainted 6.1.0-18-amd64 #1 Debian 6.1.76-1")),
            (pri::KERN_INFO, "Mem-Info:".to_owned()),
            (pri::KERN_INFO, format!("active_anon:{} inactive_anon:{} isolated_anon:0", anon / 4, self.ms(1_000, 9_000))),
            (pri::KERN_INFO, format!("oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/system.slice/shop-api.service,task=java,pid={PID_JAVA},uid=1001")),
            (pri::KERN_ERR, format!("Out of memory: Killed process {PID_JAVA} (java) total-vm:{total_vm}kB, anon-rss:{anon}kB, file-rss:0kB, shmem-rss:0kB, UID:1001 pgtables:{}kB oom_score_adj:0", total_vm / 1000)),
            (pri::KERN_INFO, format!("oom_reaper: reaped process {PID_JAVA} (java), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB")),
        ];
        let mut t = t0;
        for (p, text) in &kernel {
            let kt = self.ktime(t);
            self.line(t, *p, "kernel", 0, format_args!("{kt} {text}"));
            t += self.ms(1, 40);
        }
        let systemd: [(u8, &str); 6] = [
            (
                pri::DAEMON_NOTICE,
                "shop-api.service: A process of this unit has been killed by the OOM killer.",
            ),
            (
                pri::DAEMON_NOTICE,
                "shop-api.service: Main process exited, code=killed, status=9/KILL",
            ),
            (
                pri::DAEMON_WARNING,
                "shop-api.service: Failed with result 'oom-kill'.",
            ),
            (
                pri::DAEMON_INFO,
                "shop-api.service: Scheduled restart job, restart counter is at 1.",
            ),
            (
                pri::DAEMON_INFO,
                "Stopped shop-api.service - Example shop API.",
            ),
            (
                pri::DAEMON_INFO,
                "Started shop-api.service - Example shop API.",
            ),
        ];
        for (i, (p, text)) in systemd.iter().enumerate() {
            // systemd waits RestartSec=10s before the restart job.
            t += if i == 3 { 10_000 } else { self.ms(1, 30) };
            self.line(t, *p, "systemd", 1, format_args!("{text}"));
        }
    }

    fn config_change(&mut self, t0: i64) {
        let admin = BASTION_USERS
            .iter()
            .position(|u| u.0 == "admin")
            .expect("admin is a bastion user");
        let edited = self.sudo(t0, admin, 0, "/usr/bin/vi /etc/ssh/sshd_config");
        let t = edited + self.ms(5_000, 30_000);
        self.sudo(t, admin, 0, "/usr/bin/systemctl restart ssh");
        let new_pid = self.new_pid();
        let steps: [(u8, &str, u32, &str); 8] = [
            (
                pri::DAEMON_INFO,
                "systemd",
                1,
                "Stopping ssh.service - OpenBSD Secure Shell server...",
            ),
            (
                pri::AUTH_INFO,
                "sshd",
                PID_SSHD,
                "Received signal 15; terminating.",
            ),
            (
                pri::DAEMON_INFO,
                "systemd",
                1,
                "ssh.service: Deactivated successfully.",
            ),
            (
                pri::DAEMON_INFO,
                "systemd",
                1,
                "Stopped ssh.service - OpenBSD Secure Shell server.",
            ),
            (
                pri::DAEMON_INFO,
                "systemd",
                1,
                "Starting ssh.service - OpenBSD Secure Shell server...",
            ),
            (
                pri::AUTH_INFO,
                "sshd",
                new_pid,
                "Server listening on 0.0.0.0 port 22.",
            ),
            (
                pri::AUTH_INFO,
                "sshd",
                new_pid,
                "Server listening on :: port 22.",
            ),
            (
                pri::DAEMON_INFO,
                "systemd",
                1,
                "Started ssh.service - OpenBSD Secure Shell server.",
            ),
        ];
        let mut t = t + 10;
        for (p, prog, pid, text) in steps {
            self.line(t, p, prog, pid, format_args!("{text}"));
            t += self.ms(2, 60);
        }
    }

    fn conntrack_full(&mut self, t0: i64) {
        let full = "conntrack entries: 262144/262144 (100%)";
        self.line(
            t0,
            pri::USER_NOTICE,
            "conntrack-monitor",
            0,
            format_args!("{full}"),
        );
        let drops = self.rng.random_range(12..=20);
        let mut t = t0 + self.ms(500, 3_000);
        for k in 0..drops {
            if k % 4 == 3 {
                let suppressed = self.ms(40, 900);
                let kt = self.ktime(t);
                self.line(
                    t,
                    pri::KERN_WARNING,
                    "kernel",
                    0,
                    format_args!("{kt} net_ratelimit: {suppressed} callbacks suppressed"),
                );
            }
            let kt = self.ktime(t + 1);
            self.line(
                t + 1,
                pri::KERN_WARNING,
                "kernel",
                0,
                format_args!("{kt} nf_conntrack: nf_conntrack: table full, dropping packet"),
            );
            t += self.ms(1_000, 9_000);
        }
        self.line(
            t,
            pri::USER_NOTICE,
            "conntrack-monitor",
            0,
            format_args!("{full}"),
        );
    }
}

/// A request path with its optional numeric suffix.
struct Path(&'static str, Option<u32>);

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(n) => write!(f, "{}{n}", self.0),
            None => f.write_str(self.0),
        }
    }
}

/// PostgreSQL's session time, `H:MM:SS.mmm`.
struct SessionTime(i64);

impl fmt::Display for SessionTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        write!(
            f,
            "{}:{:02}:{:02}.{:03}",
            ms / HOUR,
            ms / MINUTE % 60,
            ms / SECOND % 60,
            ms % SECOND
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};
    use std::net::Ipv4Addr;

    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];

    /// A smaller spec than the default so the tests stay quick; it crosses a month boundary
    /// and covers single-digit days (2026-11-30T16:00Z to 2026-12-01T06:00Z).
    fn small() -> DemoSpec {
        DemoSpec {
            seed: 11,
            end_ms: 1_796_104_800_000 + 1_234,
            training_hours: 12,
            live_hours: 2,
            lines_per_hour_per_host: 300,
        }
    }

    /// The parts of an RFC 3164 line: PRI, month, day, hour, minute, second, host, tag, text.
    struct Parsed<'a> {
        pri: u32,
        month: &'a str,
        day: u8,
        hms: (u8, u8, u8),
        host: &'a str,
        tag: &'a str,
        text: &'a str,
    }

    /// Parses `<PRI>Mmm dd hh:mm:ss host tag: text` strictly, written independently of the
    /// generator's formatting code.
    fn parse_rfc3164(line: &str) -> Option<Parsed<'_>> {
        let rest = line.strip_prefix('<')?;
        let close = rest.find('>')?;
        let pri: u32 = rest[..close].parse().ok()?;
        let rest = &rest[close + 1..];
        let stamp = rest.get(..15)?;
        let rest = rest.get(15..)?.strip_prefix(' ')?;
        let month = &stamp[..3];
        if &stamp[3..4] != " " || &stamp[6..7] != " " {
            return None;
        }
        // Days below 10 are padded with a space, never a zero.
        let day: u8 = stamp[4..6].trim_start().parse().ok()?;
        if (day < 10) != stamp[4..5].eq(" ") {
            return None;
        }
        let mut hms = stamp[7..].split(':').map(|p| p.parse::<u8>().ok());
        let hms = (hms.next()??, hms.next()??, hms.next()??);
        let (host, rest) = rest.split_once(' ')?;
        let (tag, text) = rest.split_once(": ")?;
        let tag_ok = !tag.is_empty()
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_[]".contains(c));
        tag_ok.then_some(Parsed {
            pri,
            month,
            day,
            hms,
            host,
            tag,
            text,
        })
    }

    /// The message with its header removed and every token holding a digit masked.
    fn shape(message: &str) -> String {
        let text = parse_rfc3164(message).map_or(message, |p| p.text);
        text.split(' ')
            .map(|tok| {
                if tok.bytes().any(|b| b.is_ascii_digit()) {
                    "<*>"
                } else {
                    tok
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn same_spec_gives_same_records_and_another_seed_differs() {
        let spec = small();
        let a = generate(&spec);
        assert!(!a.is_empty());
        assert_eq!(a, generate(&spec));
        let other = generate(&DemoSpec { seed: 12, ..spec });
        assert_ne!(a, other);
    }

    #[test]
    fn records_are_sorted_and_inside_the_window() {
        let spec = small();
        let records = generate(&spec);
        let start = spec.end_ms - i64::from(spec.training_hours + spec.live_hours) * HOUR;
        assert!(records
            .windows(2)
            .all(|w| (w[0].time_ms, &w[0].host) <= (w[1].time_ms, &w[1].host)));
        assert!(records
            .iter()
            .all(|r| r.time_ms >= start && r.time_ms < spec.end_ms));
    }

    #[test]
    fn every_incident_is_in_the_live_period_and_none_in_training() {
        for seed in [1, 7, 99] {
            let spec = DemoSpec { seed, ..small() };
            let live_start = spec.end_ms - i64::from(spec.live_hours) * HOUR;
            let records = generate(&spec);
            let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
            for r in records.iter().filter_map(|r| r.injected.map(|n| (n, r))) {
                assert!(
                    r.1.time_ms >= live_start,
                    "injected line in training: {:?}",
                    r.1
                );
                *seen.entry(r.0).or_default() += 1;
            }
            for name in incident_names() {
                let n = seen.get(name).copied().unwrap_or(0);
                assert!((4..=60).contains(&n), "seed {seed}: {name} has {n} lines");
            }
            assert_eq!(seen.len(), incident_names().len());
            // Routine traffic goes on in the live period, on every host.
            let live_hosts: BTreeSet<&str> = records
                .iter()
                .filter(|r| r.time_ms >= live_start && r.injected.is_none())
                .map(|r| r.host.as_str())
                .collect();
            assert_eq!(live_hosts.len(), HOSTS.len());
        }
    }

    #[test]
    fn no_incidents_without_a_live_period() {
        let spec = DemoSpec {
            live_hours: 0,
            ..small()
        };
        let records = generate(&spec);
        assert!(!records.is_empty());
        assert!(records.iter().all(|r| r.injected.is_none()));
    }

    #[test]
    fn every_message_is_rfc3164_with_the_record_host_and_time() {
        let records = generate(&small());
        for r in &records {
            let p =
                parse_rfc3164(&r.message).unwrap_or_else(|| panic!("not RFC 3164: {}", r.message));
            assert!(p.pri < 192, "{}", r.message);
            assert_eq!(p.host, r.host);
            assert!(!p.tag.is_empty() && !p.text.is_empty());
            let t = time::OffsetDateTime::from_unix_timestamp(r.time_ms.div_euclid(1000))
                .expect("the window lies in the representable range");
            let month = MONTHS
                .iter()
                .position(|&m| m == p.month)
                .expect("a month abbreviation");
            assert_eq!(month + 1, usize::from(u8::from(t.month())), "{}", r.message);
            assert_eq!(p.day, t.day(), "{}", r.message);
            assert_eq!(p.hms, (t.hour(), t.minute(), t.second()), "{}", r.message);
        }
    }

    #[test]
    fn addresses_come_from_documentation_and_private_ranges() {
        let allowed = |ip: Ipv4Addr| {
            let o = ip.octets();
            ip.is_private()
                || ip.is_loopback()
                || ip.is_unspecified()
                || o[..3] == [192, 0, 2]
                || o[..3] == [198, 51, 100]
                || o[..3] == [203, 0, 113]
        };
        let mut checked = 0;
        for r in generate(&small()) {
            for tok in r.message.split([' ', ',', '"', '=', ':']) {
                if let Ok(ip) = tok.parse::<Ipv4Addr>() {
                    assert!(allowed(ip), "{ip} in {}", r.message);
                    checked += 1;
                }
            }
        }
        assert!(checked > 1000);
    }

    #[test]
    fn a_few_shapes_cover_most_lines() {
        let records = generate(&DemoSpec::default());
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for r in &records {
            *counts.entry(shape(&r.message)).or_default() += 1;
        }
        let mut sizes: Vec<usize> = counts.into_values().collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        let top = sizes.len().div_ceil(10);
        let covered: usize = sizes[..top].iter().sum();
        assert!(sizes.len() >= 30, "only {} shapes", sizes.len());
        assert!(
            covered * 10 >= records.len() * 6,
            "top {top} of {} shapes cover {covered} of {} lines",
            sizes.len(),
            records.len()
        );
    }

    #[test]
    fn default_size_is_demo_sized() {
        let n = generate(&DemoSpec::default()).len();
        assert!((50_000..=150_000).contains(&n), "{n} lines");
    }

    #[test]
    fn lad_imports_every_line_with_the_record_host_and_second() {
        let spec = small();
        for r in generate(&spec) {
            let parsed = lad_store::parse::parse_syslog_line(&r.message, spec.end_ms)
                .unwrap_or_else(|e| panic!("{e}: {}", r.message));
            assert_eq!(parsed.host, r.host, "{}", r.message);
            assert_eq!(
                parsed.time,
                r.time_ms.div_euclid(1000) * 1000,
                "{}",
                r.message
            );
        }
    }

    #[test]
    fn incident_names_match_the_incidents() {
        let names: BTreeSet<&str> = INCIDENTS.iter().map(|i| i.name()).collect();
        assert_eq!(names.len(), INCIDENTS.len());
        assert_eq!(names, incident_names().iter().copied().collect());
    }
}
