//! PostgreSQL's dates and times between their binary forms and the text the server prints
//! (`DateStyle` ISO, `TimeZone` UTC): date, time, timetz, timestamp, timestamptz. Pure and
//! checked: the bytes may come from a client's binary parameter and the text from any
//! engine's column.

use std::error::Error;

type BoxError = Box<dyn Error + Sync + Send>;

pub(super) const MICROS_PER_DAY: i64 = 86_400_000_000;
/// Days from 0000-03-01 (the civil algorithm's epoch) to 2000-01-01 (PostgreSQL's).
const PG_EPOCH_DAYS: i64 = 10_957 + 719_468;

/// Days since 2000-01-01 as PostgreSQL prints a date (`YYYY-MM-DD`, ` BC` for years before
/// 1, `infinity` for the sentinels).
pub fn date_text(days: i32) -> String {
    match days {
        i32::MAX => "infinity".into(),
        i32::MIN => "-infinity".into(),
        d => {
            let (y, m, d) = civil(i64::from(d));
            if y <= 0 {
                format!("{:04}-{m:02}-{d:02} BC", 1 - y)
            } else {
                format!("{y:04}-{m:02}-{d:02}")
            }
        }
    }
}

/// Microseconds since 2000-01-01 00:00 as PostgreSQL prints a timestamp (fraction without
/// trailing zeros, none for whole seconds); `zone` appends `+00` (timestamptz, as printed
/// with `TimeZone` UTC).
pub fn timestamp_text(micros: i64, zone: bool) -> String {
    match micros {
        i64::MAX => return "infinity".into(),
        i64::MIN => return "-infinity".into(),
        _ => {}
    }
    let (days, rem) = (
        micros.div_euclid(MICROS_PER_DAY),
        micros.rem_euclid(MICROS_PER_DAY),
    );
    let (s, us) = (rem / 1_000_000, rem % 1_000_000);
    let (y, m, d) = civil(days);
    let (year, era) = if y <= 0 { (1 - y, " BC") } else { (y, "") };
    let fraction = if us == 0 {
        String::new()
    } else {
        format!(".{us:06}").trim_end_matches('0').to_string()
    };
    format!(
        "{year:04}-{m:02}-{d:02} {:02}:{:02}:{:02}{fraction}{}{era}",
        s / 3600,
        s % 3600 / 60,
        s % 60,
        if zone { "+00" } else { "" }
    )
}

/// Days since 2000-01-01 to (year, month, day), proleptic Gregorian, year 0 = 1 BC.
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + PG_EPOCH_DAYS;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// (year, month, day) to days since 2000-01-01; the inverse of [`civil`].
pub(super) fn days_of(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - PG_EPOCH_DAYS
}

fn number(s: &str, what: &str) -> Result<i64, BoxError> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad {what} {s:?}").into());
    }
    Ok(s.parse()?)
}

/// `YYYY-MM-DD` (with an optional ` BC`) as days since 2000-01-01, day and month checked.
fn date_days(text: &str, bc: bool) -> Result<i64, BoxError> {
    let mut parts = text.splitn(3, '-');
    let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("bad date {text:?}").into());
    };
    let (y, m, d) = (number(y, "year")?, number(m, "month")?, number(d, "day")?);
    let leap = |y: i64| y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    // There is no year 0: 1 BC is followed by 1 AD (as PostgreSQL's input says).
    let year_given = y;
    let y = if bc { 1 - y } else { y };
    let month_days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap(y) => 29,
        2 => 28,
        _ => 0,
    };
    if year_given == 0 || d < 1 || d > month_days {
        return Err(format!("date out of range: {text:?}").into());
    }
    Ok(days_of(y, m, d))
}

/// Splits a trailing ` BC` off.
fn era(text: &str) -> (&str, bool) {
    match text.trim().strip_suffix("BC") {
        Some(rest) => (rest.trim_end(), true),
        None => (text.trim(), false),
    }
}

/// A date's text as PostgreSQL's binary date (days since 2000-01-01).
pub fn date_binary(text: &str) -> Result<i32, BoxError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "infinity" | "+infinity" => return Ok(i32::MAX),
        "-infinity" => return Ok(i32::MIN),
        _ => {}
    }
    let (date, bc) = era(text);
    let days = date_days(date, bc)?;
    i32::try_from(days).map_err(|_| format!("date out of range: {text:?}").into())
}

/// A timestamp's text (`YYYY-MM-DD HH:MM:SS[.ffffff][+HH[:MM[:SS]]][ BC]`) as PostgreSQL's
/// binary timestamp (microseconds since 2000-01-01). With `zone` (timestamptz) an offset
/// is subtracted to give UTC and a missing one means UTC; without it an offset is ignored,
/// as PostgreSQL's `timestamp` input ignores it.
pub fn timestamp_binary(text: &str, zone: bool) -> Result<i64, BoxError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "infinity" | "+infinity" => return Ok(i64::MAX),
        "-infinity" => return Ok(i64::MIN),
        _ => {}
    }
    let bad = || -> BoxError { format!("bad timestamp {text:?}").into() };
    let (body, bc) = era(text);
    let (date, time) = body.split_once([' ', 'T']).ok_or_else(bad)?;
    let days = date_days(date, bc)?;
    let (micros, offset_seconds) = time_of_day(time).map_err(|_| bad())?;
    let shift = if zone { offset_seconds.unwrap_or(0) } else { 0 };
    days.checked_mul(MICROS_PER_DAY)
        .and_then(|d| d.checked_add(micros - shift * 1_000_000))
        .ok_or_else(|| format!("timestamp out of range: {text:?}").into())
}

/// `HH:MM:SS[.ffffff]` with an optional zone (`+HH[:MM[:SS]]`, `-...`, `Z`): microseconds
/// since midnight (24:00:00 allowed, as PostgreSQL allows it) and the zone's offset east
/// of UTC in seconds, if one was given.
fn time_of_day(time: &str) -> Result<(i64, Option<i64>), BoxError> {
    let bad = || -> BoxError { format!("bad time of day {time:?}").into() };
    // The zone starts at the first sign after the time of day (or a `Z`).
    let (clock, zone) = match time.find(['+', '-', 'Z', 'z']) {
        Some(i) => (&time[..i], Some(&time[i..])),
        None => (time, None),
    };
    let (hms, fraction) = clock.trim().split_once('.').unwrap_or((clock.trim(), ""));
    let mut hms = hms.split(':');
    let (Some(h), Some(mi), Some(s), None) = (hms.next(), hms.next(), hms.next(), hms.next())
    else {
        return Err(bad());
    };
    let (h, mi, s) = (
        number(h, "hour")?,
        number(mi, "minute")?,
        number(s, "second")?,
    );
    if fraction.len() > 6 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let us = if fraction.is_empty() {
        0
    } else {
        number(fraction, "fraction")? * 10i64.pow(6 - fraction.len() as u32)
    };
    if mi > 59 || s > 59 || h > 24 || (h == 24 && (mi, s, us) != (0, 0, 0)) {
        return Err(bad());
    }
    let offset = match zone {
        None => None,
        Some("Z" | "z") => Some(0),
        Some(o) => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let mut parts = o[1..].split(':');
            let oh = number(parts.next().unwrap_or(""), "zone hour")?;
            let om = parts.next().map_or(Ok(0), |p| number(p, "zone minute"))?;
            let os = parts.next().map_or(Ok(0), |p| number(p, "zone second"))?;
            if parts.next().is_some() || oh > 15 || om > 59 || os > 59 {
                return Err(bad());
            }
            Some(sign * (oh * 3600 + om * 60 + os))
        }
    };
    Ok(((h * 3600 + mi * 60 + s) * 1_000_000 + us, offset))
}

/// Microseconds since midnight as PostgreSQL prints a `time` (`HH:MM:SS[.ffffff]`, the
/// fraction without trailing zeros).
pub fn time_text(micros: i64) -> String {
    let (s, us) = (micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000));
    let fraction = if us == 0 {
        String::new()
    } else {
        format!(".{us:06}").trim_end_matches('0').to_string()
    };
    format!(
        "{:02}:{:02}:{:02}{fraction}",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// A `timetz` (microseconds since midnight, and the zone in seconds *west* of UTC, as
/// PostgreSQL stores it) as PostgreSQL prints it: `12:00:00+05:30`.
pub fn timetz_text(micros: i64, west: i32) -> String {
    let east = -i64::from(west);
    let (sign, e) = if east < 0 { ('-', -east) } else { ('+', east) };
    let mut zone = format!("{sign}{:02}", e / 3600);
    if e % 3600 != 0 {
        zone.push_str(&format!(":{:02}", e % 3600 / 60));
        if e % 60 != 0 {
            zone.push_str(&format!(":{:02}", e % 60));
        }
    }
    format!("{}{zone}", time_text(micros))
}

/// A time's text as PostgreSQL's binary `time` (microseconds since midnight); a zone, if
/// any, is ignored, as PostgreSQL's `time` input ignores it.
pub fn time_binary(text: &str) -> Result<i64, BoxError> {
    Ok(time_of_day(text.trim())?.0)
}

/// A `timetz`'s text as PostgreSQL's binary form: microseconds since midnight and the zone
/// in seconds west of UTC (a missing zone means UTC).
pub fn timetz_binary(text: &str) -> Result<(i64, i32), BoxError> {
    let (micros, east) = time_of_day(text.trim())?;
    Ok((micros, -i32::try_from(east.unwrap_or(0))?))
}
