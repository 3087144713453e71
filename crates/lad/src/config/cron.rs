//! Five-field cron schedules (`minute hour day-of-month month day-of-week`) for
//! `RETRAIN_SCHEDULE` and `AGGR_SCHEDULE`. Owns [`CronSchedule`]: parsing, and finding the next
//! firing time after a given wall-clock time. It reads no clock: "now" is always a parameter.
//!
//! Syntax is the classic Vixie-cron one: `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`,
//! lists `a,b,c`, month names `JAN`..`DEC`, weekday names `SUN`..`SAT` (0 and 7 are Sunday), and
//! the aliases `@hourly`, `@daily`/`@midnight`, `@weekly`, `@monthly`, `@yearly`/`@annually`.
//! When both day fields are restricted, a day matches if either matches (as in cron).

use std::fmt;

use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// A parsed cron schedule with minute resolution.
#[derive(Clone, PartialEq, Eq)]
pub struct CronSchedule {
    text: String,
    minutes: u64,
    hours: u32,
    days_of_month: u32,
    months: u16,
    days_of_week: u8,
    /// Whether the day-of-month field was `*` (cron's "either day field" rule needs this).
    any_day_of_month: bool,
    /// Whether the day-of-week field was `*`.
    any_day_of_week: bool,
}

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronSchedule({:?})", self.text)
    }
}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Why a cron expression was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    /// Not five fields (and not a known `@alias`).
    #[error(
        "a cron schedule has 5 fields (minute hour day-of-month month day-of-week), found {0}"
    )]
    FieldCount(usize),
    /// An unknown `@alias`.
    #[error("unknown alias {0:?} (known: @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually)")]
    UnknownAlias(String),
    /// A field that does not parse or is out of range.
    #[error("{field} field {text:?}: {reason}")]
    Field {
        /// Which field: "minute", "hour", ...
        field: &'static str,
        /// The field's text.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The fields are valid but no date ever matches (e.g. `0 0 30 2 *`).
    #[error("the schedule never fires (no date matches its day and month fields)")]
    NeverFires,
}

struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: FieldSpec = FieldSpec {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: FieldSpec = FieldSpec {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY_OF_MONTH: FieldSpec = FieldSpec {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: FieldSpec = FieldSpec {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
};
// 7 is accepted as Sunday and folded onto 0 after parsing.
const DAY_OF_WEEK: FieldSpec = FieldSpec {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
};

/// How many years ahead to look before declaring that a schedule never fires: 29 February
/// on a given weekday can take up to 28 years, but with cron's "either day" rule a weekday
/// match comes within a week, so only pure day-of-month/month patterns need the long search.
const SEARCH_YEARS: i32 = 9;

impl CronSchedule {
    /// Parses a five-field expression or an `@alias`.
    pub fn parse(text: &str) -> Result<Self, CronError> {
        let trimmed = text.trim();
        let expanded = match trimmed {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other if other.starts_with('@') => {
                return Err(CronError::UnknownAlias(other.to_string()))
            }
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let [minute, hour, dom, month, dow] = fields[..] else {
            return Err(CronError::FieldCount(fields.len()));
        };
        let mut days_of_week = parse_field(dow, &DAY_OF_WEEK)?;
        if days_of_week & (1 << 7) != 0 {
            days_of_week = (days_of_week | 1) & !(1 << 7);
        }
        let schedule = CronSchedule {
            text: trimmed.to_string(),
            minutes: parse_field(minute, &MINUTE)?,
            hours: u32::try_from(parse_field(hour, &HOUR)?).unwrap_or(u32::MAX),
            days_of_month: u32::try_from(parse_field(dom, &DAY_OF_MONTH)?).unwrap_or(u32::MAX),
            months: u16::try_from(parse_field(month, &MONTH)?).unwrap_or(u16::MAX),
            days_of_week: u8::try_from(days_of_week).unwrap_or(u8::MAX),
            any_day_of_month: dom == "*",
            any_day_of_week: dow == "*",
        };
        // Reject schedules such as 30 February once, here, instead of at run time.
        let probe = PrimitiveDateTime::new(
            Date::from_calendar_date(2000, Month::January, 1).expect("2000-01-01 is a valid date"),
            Time::MIDNIGHT,
        );
        if schedule.next_after(probe).is_none() {
            return Err(CronError::NeverFires);
        }
        Ok(schedule)
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the schedule fires at this minute (seconds are ignored).
    pub fn matches(&self, t: PrimitiveDateTime) -> bool {
        self.matches_day(t.date())
            && self.hours & (1 << t.hour()) != 0
            && self.minutes & (1 << t.minute()) != 0
    }

    fn matches_day(&self, d: Date) -> bool {
        if self.months & (1 << u8::from(d.month())) == 0 {
            return false;
        }
        let dom = self.days_of_month & (1 << d.day()) != 0;
        let dow = self.days_of_week & (1 << d.weekday().number_days_from_sunday()) != 0;
        match (self.any_day_of_month, self.any_day_of_week) {
            (false, false) => dom || dow,
            _ => dom && dow,
        }
    }

    /// The first wall-clock minute strictly after `t` at which the schedule fires, or `None`
    /// if none comes within the next nine years (only for impossible dates).
    pub fn next_after(&self, t: PrimitiveDateTime) -> Option<PrimitiveDateTime> {
        let start = t.replace_second(0).ok()?.replace_nanosecond(0).ok()? + Duration::minutes(1);
        let mut day = start.date();
        let last_year = start.year().saturating_add(SEARCH_YEARS);
        // Walk days, then the hours and minutes of a matching day: at most ~3,300 day steps.
        while day.year() <= last_year {
            if self.matches_day(day) {
                let from = if day == start.date() {
                    start.time()
                } else {
                    Time::MIDNIGHT
                };
                if let Some(time) = self.first_time_from(from) {
                    return Some(PrimitiveDateTime::new(day, time));
                }
            }
            day = day.next_day()?;
        }
        None
    }

    fn first_time_from(&self, from: Time) -> Option<Time> {
        for hour in from.hour()..24 {
            if self.hours & (1 << hour) == 0 {
                continue;
            }
            let first_minute = if hour == from.hour() {
                from.minute()
            } else {
                0
            };
            for minute in first_minute..60 {
                if self.minutes & (1 << minute) != 0 {
                    return Time::from_hms(hour, minute, 0).ok();
                }
            }
        }
        None
    }

    /// The next firing instant strictly after `now`, reading the schedule in the time zone given
    /// by `offset` (UTC unless `TIMEZONE` says otherwise).
    pub fn next_after_instant(
        &self,
        now: OffsetDateTime,
        offset: UtcOffset,
    ) -> Option<OffsetDateTime> {
        let local = now.to_offset(offset);
        let wall = PrimitiveDateTime::new(local.date(), local.time());
        self.next_after(wall).map(|next| next.assume_offset(offset))
    }
}

fn parse_field(text: &str, spec: &FieldSpec) -> Result<u64, CronError> {
    let err = |reason: String| CronError::Field {
        field: spec.name,
        text: text.to_string(),
        reason,
    };
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step
                    .parse()
                    .map_err(|_| err(format!("step {step:?} is not a number")))?;
                if step == 0 {
                    return Err(err("a step of 0 never advances".to_string()));
                }
                (range, step)
            }
            None => (part, 1),
        };
        let (low, high) = if range == "*" {
            (spec.min, spec.max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, spec).map_err(&err)?, value(b, spec).map_err(&err)?)
        } else {
            let v = value(range, spec).map_err(&err)?;
            // `5/15` means "from 5 to the end, every 15", as in Vixie cron.
            (v, if part.contains('/') { spec.max } else { v })
        };
        if low > high {
            return Err(err(format!("range {low}-{high} runs backwards")));
        }
        // Steps of any size are fine: the walk stops at the field's end without overflow.
        for v in (low..=high).step_by(usize::try_from(step).unwrap_or(usize::MAX)) {
            bits |= 1 << v;
        }
    }
    Ok(bits)
}

fn value(text: &str, spec: &FieldSpec) -> Result<u32, String> {
    let upper = text.to_ascii_uppercase();
    if let Some(i) = spec.names.iter().position(|n| *n == upper) {
        // Names count from the field's minimum: JAN is 1, SUN is 0.
        return Ok(u32::try_from(i).unwrap_or(u32::MAX) + spec.min);
    }
    let v: u32 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number or a known name"))?;
    if v < spec.min || v > spec.max {
        return Err(format!("{v} is outside {}..={}", spec.min, spec.max));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn next(expr: &str, t: PrimitiveDateTime) -> PrimitiveDateTime {
        CronSchedule::parse(expr)
            .expect("test expression parses")
            .next_after(t)
            .expect("test expression fires")
    }

    #[test]
    fn daily_midnight_fires_next_midnight() {
        assert_eq!(
            next("0 0 * * *", datetime!(2024-03-05 13:20)),
            datetime!(2024-03-06 0:00)
        );
        // Strictly after: at exactly midnight the next one is tomorrow's.
        assert_eq!(
            next("0 0 * * *", datetime!(2024-03-06 0:00)),
            datetime!(2024-03-07 0:00)
        );
    }

    #[test]
    fn afternoon_schedule_same_day() {
        assert_eq!(
            next("0 15 * * *", datetime!(2024-03-05 09:59:30)),
            datetime!(2024-03-05 15:00)
        );
    }

    #[test]
    fn steps_ranges_lists() {
        let s = CronSchedule::parse("*/15 9-17 * * MON-FRI").expect("parses");
        // 2024-03-09 is a Saturday: the next match is Monday 09:00.
        assert_eq!(
            s.next_after(datetime!(2024-03-08 17:50)),
            Some(datetime!(2024-03-11 9:00))
        );
        assert_eq!(
            s.next_after(datetime!(2024-03-11 9:01)),
            Some(datetime!(2024-03-11 9:15))
        );
        assert_eq!(
            next("5,35 * * * *", datetime!(2024-01-01 0:06)),
            datetime!(2024-01-01 0:35)
        );
        assert_eq!(
            next("10/20 * * * *", datetime!(2024-01-01 0:31)),
            datetime!(2024-01-01 0:50)
        );
    }

    #[test]
    fn sunday_is_zero_and_seven() {
        // 2024-03-10 is a Sunday.
        for expr in ["0 12 * * 0", "0 12 * * 7", "0 12 * * sun"] {
            assert_eq!(
                next(expr, datetime!(2024-03-05 0:00)),
                datetime!(2024-03-10 12:00),
                "{expr}"
            );
        }
    }

    #[test]
    fn either_day_field_matches_when_both_restricted() {
        // The 1st of the month OR a Friday; 2024-03-08 is a Friday, before April 1st.
        assert_eq!(
            next("0 0 1 * FRI", datetime!(2024-03-02 0:00)),
            datetime!(2024-03-08 0:00)
        );
    }

    #[test]
    fn leap_day_and_month_names() {
        assert_eq!(
            next("0 0 29 feb *", datetime!(2025-01-01 0:00)),
            datetime!(2028-02-29 0:00)
        );
    }

    #[test]
    fn aliases() {
        assert_eq!(
            CronSchedule::parse("@daily")
                .expect("parses")
                .next_after(datetime!(2024-01-01 5:00)),
            Some(datetime!(2024-01-02 0:00))
        );
        assert_eq!(
            next("@hourly", datetime!(2024-01-01 5:00)),
            datetime!(2024-01-01 6:00)
        );
    }

    #[test]
    fn huge_steps_do_not_overflow() {
        let s = CronSchedule::parse("1/4294967295 * * * *").expect("parses");
        assert_eq!(
            s.next_after(datetime!(2024-01-01 0:05)),
            Some(datetime!(2024-01-01 1:01))
        );
        assert!(CronSchedule::parse("*/99999999999 * * * *").is_err());
    }

    #[test]
    fn rejects_bad_expressions() {
        assert_eq!(
            CronSchedule::parse("0 0 * *"),
            Err(CronError::FieldCount(4))
        );
        assert!(matches!(
            CronSchedule::parse("61 0 * * *"),
            Err(CronError::Field {
                field: "minute",
                ..
            })
        ));
        assert!(matches!(
            CronSchedule::parse("0 0 * * */0"),
            Err(CronError::Field { .. })
        ));
        assert!(matches!(
            CronSchedule::parse("0 5-2 * * *"),
            Err(CronError::Field { field: "hour", .. })
        ));
        assert!(matches!(
            CronSchedule::parse("@sometimes"),
            Err(CronError::UnknownAlias(_))
        ));
        assert_eq!(
            CronSchedule::parse("0 0 30 2 *"),
            Err(CronError::NeverFires)
        );
    }

    #[test]
    fn instant_respects_offset() {
        let s = CronSchedule::parse("0 15 * * *").expect("parses");
        let plus3 = UtcOffset::from_hms(3, 0, 0).expect("valid offset");
        let next = s
            .next_after_instant(time::macros::datetime!(2024-03-05 10:00 UTC), plus3)
            .expect("fires");
        // 15:00 at +03:00 is 12:00 UTC.
        assert_eq!(next, time::macros::datetime!(2024-03-05 12:00 UTC));
    }

    /// Brute force over every minute of a span, compared with `next_after`.
    #[test]
    fn next_after_agrees_with_minute_by_minute_scan() {
        for expr in [
            "*/7 3,4 * * *",
            "0 0 1 * FRI",
            "30 23 31 * *",
            "15 * * 2 1-3",
        ] {
            let s = CronSchedule::parse(expr).expect("parses");
            let mut t = datetime!(2024-01-30 22:00);
            for _ in 0..40 {
                let got = s.next_after(t).expect("fires");
                let mut scan = t + Duration::minutes(1);
                while !s.matches(scan) {
                    scan += Duration::minutes(1);
                }
                assert_eq!(got, scan, "{expr} after {t}");
                t = got;
            }
        }
    }
}
