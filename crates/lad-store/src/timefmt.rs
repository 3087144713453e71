//! Time parsing and formatting: every time a store reads becomes unix milliseconds UTC here.
//!
//! Accepted forms:
//! - RFC 3339 strings (`2024-01-05T12:00:00.123Z`, `+02:00` offsets); a space instead of `T` and a
//!   missing zone (`2024-01-05 12:00:00`, as MySQL `DATETIME` prints) are accepted and read as UTC;
//! - MongoDB Extended JSON `{"$date": ...}` holding an RFC 3339 string, a number of milliseconds,
//!   or `{"$numberLong": "..."}`;
//! - numbers of seconds, milliseconds, microseconds or nanoseconds since the epoch, told apart by
//!   magnitude: below 1e11 they are seconds (1e11 s is the year 5138, while 1e11 ms is 1973),
//!   below 1e14 milliseconds, below 1e17 microseconds, otherwise nanoseconds;
//! - RFC 3164 stamps (`Jan  5 12:00:00`), which have no year and no zone: they are read as UTC
//!   in the year of a reference time the caller gives, or the year before when that would put the
//!   line more than 7 days after the reference (a December line read in January).
//!
//! This module reads no clock: the reference time is always a parameter.

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

const MS_PER_DAY: i64 = 86_400_000;

/// Reads a JSON time value (string, number or `{"$date": ..}`) into unix milliseconds UTC.
pub fn parse_time_value(value: &Value) -> Result<i64, String> {
    match value {
        Value::String(s) => parse_time_str(s),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(epoch_int_to_ms(i)),
            (None, Some(f)) => epoch_to_ms(f),
            _ => Err(format!("expected a time, found the number {n}")),
        },
        Value::Object(map) => match map.get("$date") {
            Some(Value::String(s)) => parse_time_str(s),
            Some(Value::Number(n)) => n
                .as_i64()
                .ok_or_else(|| format!("expected integer milliseconds in $date, found {n}")),
            Some(Value::Object(inner)) => match inner.get("$numberLong") {
                Some(Value::String(s)) => s.parse::<i64>().map_err(|_| {
                    format!("expected integer milliseconds in $numberLong, found {s:?}")
                }),
                _ => Err(format!(
                    "expected {{\"$numberLong\": \"..\"}} in $date, found {}",
                    value
                )),
            },
            _ => Err(format!(
                "expected a time or {{\"$date\": ..}}, found {value}"
            )),
        },
        other => Err(format!(
            "expected a time (string, number or {{\"$date\": ..}}), found {other}"
        )),
    }
}

/// Converts a number since the epoch to milliseconds, deciding the unit by magnitude (see the
/// module docs).
pub fn epoch_to_ms(n: f64) -> Result<i64, String> {
    if !n.is_finite() {
        return Err(format!("expected a finite epoch time, found {n}"));
    }
    let a = n.abs();
    let ms = if a < 1e11 {
        n * 1e3
    } else if a < 1e14 {
        n
    } else if a < 1e17 {
        n / 1e3
    } else {
        n / 1e6
    };
    Ok(ms.round() as i64)
}

/// [`epoch_to_ms`] for integers, without going through floating point.
pub fn epoch_int_to_ms(n: i64) -> i64 {
    let a = n.unsigned_abs();
    if a < 100_000_000_000 {
        n.saturating_mul(1000)
    } else if a < 100_000_000_000_000 {
        n
    } else if a < 100_000_000_000_000_000 {
        n / 1000
    } else {
        n / 1_000_000
    }
}

/// Reads an RFC 3339 string (or its zone-less or space-separated variant, read as UTC).
pub fn parse_time_str(text: &str) -> Result<i64, String> {
    let trimmed = text.trim();
    let mut owned = trimmed.to_owned();
    if owned.len() > 10 && owned.as_bytes()[10] == b' ' {
        owned.replace_range(10..11, "T");
    }
    if let Ok(t) = OffsetDateTime::parse(&owned, &Rfc3339) {
        return Ok(to_ms(t));
    }
    let zoneless = format_description!(
        version = 2,
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    if let Ok(t) = PrimitiveDateTime::parse(&owned, zoneless) {
        return Ok(to_ms(t.assume_utc()));
    }
    Err(format!(
        "expected an RFC 3339 time such as 2024-01-05T12:00:00Z, found {trimmed:?}"
    ))
}

fn to_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Reads an RFC 3164 stamp `Mmm dd hh:mm:ss` (day possibly space-padded) as UTC in the year of
/// `reference_ms`, or the year before when it would lie more than 7 days after the reference.
pub fn parse_rfc3164_stamp(stamp: &str, reference_ms: i64) -> Result<i64, String> {
    let bad = || format!("expected an RFC 3164 time such as \"Jan  5 12:00:00\", found {stamp:?}");
    let mut parts = stamp.split_whitespace();
    let (Some(mon), Some(day), Some(clock), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let month = month_from_abbrev(mon).ok_or_else(bad)?;
    let day: u8 = day.parse().map_err(|_| bad())?;
    let mut hms = clock.split(':').map(|p| p.parse::<u8>());
    let (Some(Ok(h)), Some(Ok(m)), Some(Ok(s)), None) =
        (hms.next(), hms.next(), hms.next(), hms.next())
    else {
        return Err(bad());
    };
    let clock = Time::from_hms(h, m, s).map_err(|_| bad())?;
    let reference = OffsetDateTime::from_unix_timestamp_nanos(i128::from(reference_ms) * 1_000_000)
        .map_err(|_| format!("reference time {reference_ms} ms is out of range"))?;
    let at_year = |year: i32| -> Option<i64> {
        let date = Date::from_calendar_date(year, month, day).ok()?;
        Some(to_ms(PrimitiveDateTime::new(date, clock).assume_utc()))
    };
    let year = reference.year();
    match at_year(year) {
        Some(ms) if ms <= reference_ms + 7 * MS_PER_DAY => Ok(ms),
        // In the future (a December line read in January), or Feb 29 of a non-leap year.
        _ => at_year(year - 1).ok_or_else(bad),
    }
}

fn month_from_abbrev(text: &str) -> Option<Month> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let lower = text.to_ascii_lowercase();
    let index = MONTHS.iter().position(|m| *m == lower)?;
    Month::try_from(index as u8 + 1).ok()
}

/// Formats unix milliseconds as RFC 3339 UTC with milliseconds, e.g. `2024-01-05T12:00:00.123Z`.
/// Times outside the representable range are written as their number of milliseconds.
pub fn format_rfc3339_millis(ms: i64) -> String {
    let fmt =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(fmt).ok())
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // 2024-01-05T12:00:00Z, computed with `date -u -d 2024-01-05T12:00:00Z +%s`.
    const T: i64 = 1_704_456_000_000;

    #[test]
    fn rfc3339_variants() {
        assert_eq!(parse_time_str("2024-01-05T12:00:00Z"), Ok(T));
        assert_eq!(parse_time_str("2024-01-05T13:00:00+01:00"), Ok(T));
        assert_eq!(parse_time_str("2024-01-05 12:00:00.250"), Ok(T + 250));
        assert_eq!(parse_time_str("2024-01-05T12:00:00"), Ok(T));
        assert!(parse_time_str("yesterday").is_err());
    }

    #[test]
    fn numbers_by_magnitude() {
        assert_eq!(parse_time_value(&json!(1_704_456_000)), Ok(T));
        assert_eq!(parse_time_value(&json!(1_704_456_000.5)), Ok(T + 500));
        assert_eq!(parse_time_value(&json!(T)), Ok(T));
        assert_eq!(parse_time_value(&json!(T * 1000)), Ok(T));
        assert_eq!(parse_time_value(&json!(T * 1_000_000)), Ok(T));
    }

    #[test]
    fn extended_json_dates() {
        assert_eq!(
            parse_time_value(&json!({"$date": "2024-01-05T12:00:00Z"})),
            Ok(T)
        );
        assert_eq!(parse_time_value(&json!({"$date": T})), Ok(T));
        assert_eq!(
            parse_time_value(&json!({"$date": {"$numberLong": T.to_string()}})),
            Ok(T)
        );
        assert!(parse_time_value(&json!({"$date": true})).is_err());
        assert!(parse_time_value(&json!(null)).is_err());
    }

    #[test]
    fn rfc3164_takes_year_from_reference() {
        assert_eq!(parse_rfc3164_stamp("Jan  5 12:00:00", T + 1000), Ok(T));
        // A December line read on 2024-01-05 belongs to 2023.
        let dec = parse_rfc3164_stamp("Dec 31 23:00:00", T).expect("valid stamp");
        assert_eq!(parse_time_str("2023-12-31T23:00:00Z"), Ok(dec));
        assert!(parse_rfc3164_stamp("Foo  5 12:00:00", T).is_err());
        assert!(parse_rfc3164_stamp("Jan 5 25:00:00", T).is_err());
    }

    #[test]
    fn format_round_trips() {
        assert_eq!(format_rfc3339_millis(T + 7), "2024-01-05T12:00:00.007Z");
        assert_eq!(parse_time_str(&format_rfc3339_millis(T + 7)), Ok(T + 7));
    }
}
