//! Go's `time` package conventions on top of `jiff`: reference-time layouts (`2006-01-02 15:04:05`), `Duration`
//! strings (`1h2m3s`) and `time.ParseDuration`.
//!
//! Go's "Local" zone is taken to be UTC (ESO's container image has no local zone configured).

use std::fmt::Write as _;

use jiff::civil::DateTime;
use jiff::tz::{Offset, TimeZone};
use jiff::{Timestamp, Zoned};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/// One element of a Go layout.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    TZ,
    ISO8601TZ,
    ISO8601SecondsTZ,
    ISO8601ShortTZ,
    ISO8601ColonTZ,
    ISO8601ColonSecondsTZ,
    NumTZ,
    NumSecondsTz,
    NumShortTZ,
    NumColonTZ,
    NumColonSecondsTZ,
    /// Fractional seconds: digits, zero-padded (`.000`) or trimmed (`.999`), with `.` or `,` as separator.
    Frac {
        digits: usize,
        trim: bool,
        comma: bool,
    },
}

/// Splits a layout into the text before the next element, the element and the rest (Go's `nextStdChunk`).
fn next_std_chunk(layout: &str) -> (&str, Option<(Std, usize)>, &str) {
    let b = layout.as_bytes();
    let starts = |i: usize, p: &str| layout.get(i..).is_some_and(|s| s.starts_with(p));
    for i in 0..b.len() {
        let found: Option<(Std, usize)> = match b[i] {
            b'J' => {
                if starts(i, "January") {
                    Some((Std::LongMonth, 7))
                } else if starts(i, "Jan") {
                    Some((Std::Month, 3))
                } else {
                    None
                }
            }
            b'M' => {
                if starts(i, "Monday") {
                    Some((Std::LongWeekDay, 6))
                } else if starts(i, "Mon") {
                    Some((Std::WeekDay, 3))
                } else if starts(i, "MST") {
                    Some((Std::TZ, 3))
                } else {
                    None
                }
            }
            b'0' => match b.get(i + 1) {
                Some(b'1') => Some((Std::ZeroMonth, 2)),
                Some(b'2') => Some((Std::ZeroDay, 2)),
                Some(b'3') => Some((Std::ZeroHour12, 2)),
                Some(b'4') => Some((Std::ZeroMinute, 2)),
                Some(b'5') => Some((Std::ZeroSecond, 2)),
                Some(b'6') => Some((Std::Year, 2)),
                Some(b'0') if b.get(i + 2) == Some(&b'2') => Some((Std::ZeroYearDay, 3)),
                _ => None,
            },
            b'1' => {
                if b.get(i + 1) == Some(&b'5') {
                    Some((Std::Hour, 2))
                } else {
                    Some((Std::NumMonth, 1))
                }
            }
            b'2' => {
                if starts(i, "2006") {
                    Some((Std::LongYear, 4))
                } else {
                    Some((Std::Day, 1))
                }
            }
            b'_' => {
                if b.get(i + 1) == Some(&b'2') {
                    if starts(i + 1, "2006") {
                        // "_2006" is a literal underscore followed by a year.
                        None
                    } else {
                        Some((Std::UnderDay, 2))
                    }
                } else if starts(i, "__2") {
                    Some((Std::UnderYearDay, 3))
                } else {
                    None
                }
            }
            b'3' => Some((Std::Hour12, 1)),
            b'4' => Some((Std::Minute, 1)),
            b'5' => Some((Std::Second, 1)),
            b'P' if b.get(i + 1) == Some(&b'M') => Some((Std::PM, 2)),
            b'p' if b.get(i + 1) == Some(&b'm') => Some((Std::Pm, 2)),
            b'-' => {
                if starts(i, "-07:00:00") {
                    Some((Std::NumColonSecondsTZ, 9))
                } else if starts(i, "-0700") && starts(i, "-070000") {
                    Some((Std::NumSecondsTz, 7))
                } else if starts(i, "-07:00") {
                    Some((Std::NumColonTZ, 6))
                } else if starts(i, "-0700") {
                    Some((Std::NumTZ, 5))
                } else if starts(i, "-07") {
                    Some((Std::NumShortTZ, 3))
                } else {
                    None
                }
            }
            b'Z' => {
                if starts(i, "Z07:00:00") {
                    Some((Std::ISO8601ColonSecondsTZ, 9))
                } else if starts(i, "Z070000") {
                    Some((Std::ISO8601SecondsTZ, 7))
                } else if starts(i, "Z07:00") {
                    Some((Std::ISO8601ColonTZ, 6))
                } else if starts(i, "Z0700") {
                    Some((Std::ISO8601TZ, 5))
                } else if starts(i, "Z07") {
                    Some((Std::ISO8601ShortTZ, 3))
                } else {
                    None
                }
            }
            b'.' | b',' => {
                let digit = b.get(i + 1).copied();
                if matches!(digit, Some(b'0') | Some(b'9')) {
                    let ch = b[i + 1];
                    let mut j = i + 1;
                    while j < b.len() && b[j] == ch {
                        j += 1;
                    }
                    // A fractional second must not be followed by another digit.
                    if !b.get(j).is_some_and(u8::is_ascii_digit) {
                        Some((Std::Frac { digits: j - i - 1, trim: ch == b'9', comma: b[i] == b',' }, j - i))
                    } else {
                        None
                    }
                } else {
                    None
                }
            }
            _ => None,
        };
        if let Some((std, len)) = found {
            return (&layout[..i], Some((std, len)), &layout[i + len..]);
        }
    }
    (layout, None, "")
}

/// The zone abbreviation Go would print for a zoned time: the zone's abbreviation, `UTC`, or for a fixed offset
/// without a name (a parsed `+05:30`) the offset as `+0530`.
fn abbreviation(z: &Zoned) -> String {
    let tz = z.time_zone();
    if z.offset() == Offset::UTC && (tz.iana_name().is_none() || tz.iana_name() == Some("UTC")) {
        return "UTC".to_owned();
    }
    if tz.iana_name().is_none() {
        return format_offset(z.offset().seconds(), false, false, false);
    }
    let info = tz.to_offset_info(z.timestamp());
    let abbr = info.abbreviation();
    if abbr.is_empty() { format_offset(z.offset().seconds(), false, false, false) } else { abbr.to_owned() }
}

fn format_offset(seconds: i32, colon: bool, with_seconds: bool, short: bool) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let s = seconds.unsigned_abs();
    let (h, m, sec) = (s / 3600, (s / 60) % 60, s % 60);
    let mut out = format!("{sign}{h:02}");
    if short {
        return out;
    }
    if colon {
        out.push(':');
    }
    let _ = write!(out, "{m:02}");
    if with_seconds {
        if colon {
            out.push(':');
        }
        let _ = write!(out, "{sec:02}");
    }
    out
}

/// Formats a time with a Go layout (Go's `Time.Format`).
pub(crate) fn format(z: &Zoned, layout: &str) -> String {
    let mut out = String::new();
    let mut rest = layout;
    let year = i32::from(z.year());
    let month = z.month() as usize;
    let day = z.day();
    let hour = z.hour();
    let minute = z.minute();
    let second = z.second();
    let nanos = z.subsec_nanosecond();
    let offset = z.offset().seconds();
    loop {
        let (prefix, std, suffix) = next_std_chunk(rest);
        out.push_str(prefix);
        let Some((std, _)) = std else { break };
        rest = suffix;
        match std {
            Std::Year => {
                let _ = write!(out, "{:02}", year.rem_euclid(100));
            }
            Std::LongYear => {
                let _ = write!(out, "{year:04}");
            }
            Std::Month => out.push_str(&MONTHS[month - 1][..3]),
            Std::LongMonth => out.push_str(MONTHS[month - 1]),
            Std::NumMonth => {
                let _ = write!(out, "{month}");
            }
            Std::ZeroMonth => {
                let _ = write!(out, "{month:02}");
            }
            Std::WeekDay => out.push_str(&DAYS[z.weekday().to_sunday_zero_offset() as usize][..3]),
            Std::LongWeekDay => out.push_str(DAYS[z.weekday().to_sunday_zero_offset() as usize]),
            Std::Day => {
                let _ = write!(out, "{day}");
            }
            Std::UnderDay => {
                let _ = write!(out, "{day:>2}");
            }
            Std::ZeroDay => {
                let _ = write!(out, "{day:02}");
            }
            Std::UnderYearDay => {
                let _ = write!(out, "{:>3}", z.day_of_year());
            }
            Std::ZeroYearDay => {
                let _ = write!(out, "{:03}", z.day_of_year());
            }
            Std::Hour => {
                let _ = write!(out, "{hour:02}");
            }
            Std::Hour12 => {
                let h = if hour % 12 == 0 { 12 } else { hour % 12 };
                let _ = write!(out, "{h}");
            }
            Std::ZeroHour12 => {
                let h = if hour % 12 == 0 { 12 } else { hour % 12 };
                let _ = write!(out, "{h:02}");
            }
            Std::Minute => {
                let _ = write!(out, "{minute}");
            }
            Std::ZeroMinute => {
                let _ = write!(out, "{minute:02}");
            }
            Std::Second => {
                let _ = write!(out, "{second}");
            }
            Std::ZeroSecond => {
                let _ = write!(out, "{second:02}");
            }
            Std::PM => out.push_str(if hour >= 12 { "PM" } else { "AM" }),
            Std::Pm => out.push_str(if hour >= 12 { "pm" } else { "am" }),
            Std::ISO8601TZ
            | Std::ISO8601ColonTZ
            | Std::ISO8601SecondsTZ
            | Std::ISO8601ShortTZ
            | Std::ISO8601ColonSecondsTZ
            | Std::NumTZ
            | Std::NumColonTZ
            | Std::NumSecondsTz
            | Std::NumShortTZ
            | Std::NumColonSecondsTZ => {
                let iso = matches!(
                    std,
                    Std::ISO8601TZ
                        | Std::ISO8601ColonTZ
                        | Std::ISO8601SecondsTZ
                        | Std::ISO8601ShortTZ
                        | Std::ISO8601ColonSecondsTZ
                );
                if iso && offset == 0 {
                    out.push('Z');
                    continue;
                }
                let colon = matches!(
                    std,
                    Std::ISO8601ColonTZ | Std::ISO8601ColonSecondsTZ | Std::NumColonTZ | Std::NumColonSecondsTZ
                );
                let with_seconds = matches!(
                    std,
                    Std::ISO8601SecondsTZ | Std::ISO8601ColonSecondsTZ | Std::NumSecondsTz | Std::NumColonSecondsTZ
                );
                let short = matches!(std, Std::ISO8601ShortTZ | Std::NumShortTZ);
                out.push_str(&format_offset(offset, colon, with_seconds, short));
            }
            Std::TZ => out.push_str(&abbreviation(z)),
            Std::Frac { digits, trim, comma } => {
                let digits = digits.min(9);
                let frac = format!("{nanos:09}");
                let mut frac = frac[..digits].to_owned();
                if trim {
                    while frac.ends_with('0') {
                        frac.pop();
                    }
                    if frac.is_empty() {
                        continue;
                    }
                }
                out.push(if comma { ',' } else { '.' });
                out.push_str(&frac);
            }
        }
    }
    out
}

/// Go's `Time.String()` (without the monotonic clock reading).
pub(crate) fn time_string(z: &Zoned) -> String {
    format(z, "2006-01-02 15:04:05.999999999 -0700 MST")
}

/// RFC 3339 with nanoseconds, as Go marshals a time to JSON.
pub(crate) fn rfc3339_nano(z: &Zoned) -> String {
    format(z, "2006-01-02T15:04:05.999999999Z07:00")
}

/// Go's zero time, `0001-01-01 00:00:00 +0000 UTC` (what `toDate` returns on a parse error).
pub(crate) fn zero_time() -> Zoned {
    DateTime::new(1, 1, 1, 0, 0, 0, 0)
        .and_then(|dt| dt.to_zoned(TimeZone::UTC))
        .unwrap_or_else(|_| Timestamp::UNIX_EPOCH.to_zoned(TimeZone::UTC))
}

/// `time.Unix(seconds, 0)` in the local zone (UTC).
pub(crate) fn from_unix(seconds: i64) -> Zoned {
    Timestamp::from_second(seconds).unwrap_or(Timestamp::UNIX_EPOCH).to_zoned(TimeZone::UTC)
}

/// The time zone Go's `time.LoadLocation` gives for a name; unknown names give `None`.
pub(crate) fn load_location(name: &str) -> Option<TimeZone> {
    match name {
        "" | "UTC" | "Local" => Some(TimeZone::UTC),
        _ => jiff::tz::db().get(name).ok(),
    }
}

/// Parses `value` with a Go layout (Go's `time.ParseInLocation` with the local zone = UTC).
pub(crate) fn parse(layout: &str, value: &str) -> Option<Zoned> {
    let mut rest_layout = layout;
    let mut v = value;
    let mut year: i32 = 1;
    let mut month: i32 = 1;
    let mut day: i32 = 1;
    let mut yday: i32 = -1;
    let mut hour: i32 = 0;
    let mut minute: i32 = 0;
    let mut second: i32 = 0;
    let mut nanos: i32 = 0;
    let mut pm_set: Option<bool> = None;
    let mut offset: Option<i32> = None;
    let mut zone_abbr: Option<String> = None;
    loop {
        let (prefix, std, suffix) = next_std_chunk(rest_layout);
        v = skip_literal(v, prefix)?;
        let Some((std, _)) = std else {
            if !v.is_empty() {
                return None;
            }
            break;
        };
        rest_layout = suffix;
        match std {
            Std::Year => {
                let (n, r) = take_digits(v, 2, 2)?;
                year = if n >= 69 { n + 1900 } else { n + 2000 };
                v = r;
            }
            Std::LongYear => {
                let (n, r) = take_digits(v, 4, 4)?;
                year = n;
                v = r;
            }
            Std::Month | Std::LongMonth => {
                let (idx, r) = lookup_name(v, &MONTHS, std == Std::Month)?;
                month = idx as i32 + 1;
                v = r;
            }
            Std::NumMonth | Std::ZeroMonth => {
                let (n, r) = take_digits(v, if std == Std::ZeroMonth { 2 } else { 1 }, 2)?;
                if !(1..=12).contains(&n) {
                    return None;
                }
                month = n;
                v = r;
            }
            Std::WeekDay | Std::LongWeekDay => {
                let (_, r) = lookup_name(v, &DAYS, std == Std::WeekDay)?;
                v = r;
            }
            Std::Day | Std::UnderDay | Std::ZeroDay => {
                let mut s = v;
                if std == Std::UnderDay && s.starts_with(' ') {
                    s = &s[1..];
                }
                let (n, r) = take_digits(s, if std == Std::ZeroDay { 2 } else { 1 }, 2)?;
                day = n;
                v = r;
            }
            Std::UnderYearDay | Std::ZeroYearDay => {
                let s = v.trim_start_matches(' ');
                let (n, r) = take_digits(s, if std == Std::ZeroYearDay { 3 } else { 1 }, 3)?;
                yday = n;
                v = r;
            }
            Std::Hour => {
                let (n, r) = take_digits(v, 2, 2)?;
                if n > 23 {
                    return None;
                }
                hour = n;
                v = r;
            }
            Std::Hour12 | Std::ZeroHour12 => {
                let (n, r) = take_digits(v, if std == Std::ZeroHour12 { 2 } else { 1 }, 2)?;
                if n > 12 {
                    return None;
                }
                hour = n;
                v = r;
            }
            Std::Minute | Std::ZeroMinute => {
                let (n, r) = take_digits(v, if std == Std::ZeroMinute { 2 } else { 1 }, 2)?;
                if n > 59 {
                    return None;
                }
                minute = n;
                v = r;
            }
            Std::Second | Std::ZeroSecond => {
                let (n, r) = take_digits(v, if std == Std::ZeroSecond { 2 } else { 1 }, 2)?;
                if n > 59 {
                    return None;
                }
                second = n;
                v = r;
                // Go accepts a fractional second after the seconds even if the layout has none.
                if let Some(after) = v.strip_prefix(['.', ',']) {
                    let next_is_frac = matches!(next_std_chunk(rest_layout).1, Some((Std::Frac { .. }, _)));
                    if !next_is_frac && after.starts_with(|c: char| c.is_ascii_digit()) {
                        let len = after.bytes().take_while(u8::is_ascii_digit).count();
                        nanos = frac_nanos(&after[..len]);
                        v = &after[len..];
                    }
                }
            }
            Std::PM | Std::Pm => {
                let head = v.get(..2)?;
                match head.to_ascii_uppercase().as_str() {
                    "PM" => pm_set = Some(true),
                    "AM" => pm_set = Some(false),
                    _ => return None,
                }
                v = &v[2..];
            }
            Std::ISO8601TZ
            | Std::ISO8601ColonTZ
            | Std::ISO8601SecondsTZ
            | Std::ISO8601ShortTZ
            | Std::ISO8601ColonSecondsTZ
            | Std::NumTZ
            | Std::NumShortTZ
            | Std::NumColonTZ
            | Std::NumSecondsTz
            | Std::NumColonSecondsTZ => {
                let iso = matches!(
                    std,
                    Std::ISO8601TZ
                        | Std::ISO8601ColonTZ
                        | Std::ISO8601SecondsTZ
                        | Std::ISO8601ShortTZ
                        | Std::ISO8601ColonSecondsTZ
                );
                if iso && let Some(r) = v.strip_prefix('Z') {
                    offset = Some(0);
                    v = r;
                    continue;
                }
                let (secs, r) = parse_offset(v, std)?;
                offset = Some(secs);
                v = r;
            }
            Std::TZ => {
                if let Some(r) = v.strip_prefix("UTC") {
                    offset = Some(0);
                    zone_abbr = Some("UTC".to_owned());
                    v = r;
                    continue;
                }
                let len = v.bytes().take_while(u8::is_ascii_uppercase).count();
                if len < 3 {
                    return None;
                }
                zone_abbr = Some(v[..len].to_owned());
                v = &v[len..];
            }
            Std::Frac { digits, trim, .. } => {
                let Some(after) = v.strip_prefix(['.', ',']) else {
                    if trim {
                        continue;
                    }
                    return None;
                };
                let len = after.bytes().take_while(u8::is_ascii_digit).count();
                if !trim && len != digits {
                    return None;
                }
                nanos = frac_nanos(&after[..len]);
                v = &after[len..];
            }
        }
    }
    if let Some(pm) = pm_set {
        if pm && hour < 12 {
            hour += 12;
        } else if !pm && hour == 12 {
            hour = 0;
        }
    }
    let mut date = jiff::civil::Date::new(i16::try_from(year).ok()?, i8::try_from(month).ok()?, 1).ok()?;
    if yday >= 0 {
        date = date.with().day_of_year(i16::try_from(yday).ok()?).build().ok()?;
    } else {
        date = date.with().day(i8::try_from(day).ok()?).build().ok()?;
    }
    let dt = date.to_datetime(jiff::civil::Time::new(hour as i8, minute as i8, second as i8, nanos).ok()?);
    let tz = match offset {
        Some(secs) => TimeZone::fixed(Offset::from_seconds(secs).ok()?),
        // An unknown abbreviation is taken as a zone with a zero offset, as Go does.
        None => {
            let _ = zone_abbr;
            TimeZone::UTC
        }
    };
    dt.to_zoned(tz).ok()
}

fn frac_nanos(digits: &str) -> i32 {
    let mut s: String = digits.chars().take(9).collect();
    while s.len() < 9 {
        s.push('0');
    }
    s.parse().unwrap_or(0)
}

fn skip_literal<'v>(value: &'v str, prefix: &str) -> Option<&'v str> {
    let mut v = value;
    let mut p = prefix;
    while !p.is_empty() {
        if p.starts_with(' ') {
            // Go: a run of spaces in the layout matches a (possibly empty) run of spaces in the value.
            p = p.trim_start_matches(' ');
            v = v.trim_start_matches(' ');
            continue;
        }
        let c = p.chars().next()?;
        v = v.strip_prefix(c)?;
        p = &p[c.len_utf8()..];
    }
    Some(v)
}

fn take_digits(v: &str, min: usize, max: usize) -> Option<(i32, &str)> {
    let len = v.bytes().take(max).take_while(u8::is_ascii_digit).count();
    if len < min {
        return None;
    }
    Some((v[..len].parse().ok()?, &v[len..]))
}

fn lookup_name<'v>(v: &'v str, names: &[&str], short: bool) -> Option<(usize, &'v str)> {
    for (i, name) in names.iter().enumerate() {
        let name = if short { &name[..3] } else { name };
        if let Some(head) = v.get(..name.len())
            && head.eq_ignore_ascii_case(name)
        {
            return Some((i, &v[name.len()..]));
        }
    }
    None
}

fn parse_offset(v: &str, std: Std) -> Option<(i32, &str)> {
    let sign = match v.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let s = &v[1..];
    let two = |s: &str| -> Option<i32> {
        if s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()) { s.parse().ok() } else { None }
    };
    let (h, m, sec, used) = match std {
        Std::ISO8601ColonTZ | Std::NumColonTZ => {
            if s.as_bytes().get(2) != Some(&b':') {
                return None;
            }
            (two(s.get(..2)?)?, two(s.get(3..5)?)?, 0, 5)
        }
        Std::ISO8601ShortTZ | Std::NumShortTZ => (two(s.get(..2)?)?, 0, 0, 2),
        Std::ISO8601ColonSecondsTZ | Std::NumColonSecondsTZ => {
            if s.as_bytes().get(2) != Some(&b':') || s.as_bytes().get(5) != Some(&b':') {
                return None;
            }
            (two(s.get(..2)?)?, two(s.get(3..5)?)?, two(s.get(6..8)?)?, 8)
        }
        Std::ISO8601SecondsTZ | Std::NumSecondsTz => (two(s.get(..2)?)?, two(s.get(2..4)?)?, two(s.get(4..6)?)?, 6),
        _ => (two(s.get(..2)?)?, two(s.get(2..4)?)?, 0, 4),
    };
    Some((sign * (h * 3600 + m * 60 + sec), &s[used..]))
}

/// Go's `time.Duration.String()` for a duration in nanoseconds: `1h2m3.5s`, `1.5ms`, `0s`.
pub(crate) fn duration_string(nanos: i128) -> String {
    if nanos == 0 {
        return "0s".to_owned();
    }
    let neg = nanos < 0;
    let u = nanos.unsigned_abs();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if u < 1_000_000_000 {
        // Sub-second: a single unit with a fraction.
        let (unit, scale) = if u < 1_000 {
            ("ns", 1u128)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        out.push_str(&fraction(u, scale));
        out.push_str(unit);
        return out;
    }
    let total_secs = u / 1_000_000_000;
    let frac_nanos = u % 1_000_000_000;
    let hours = total_secs / 3600;
    let minutes = (total_secs / 60) % 60;
    let secs = total_secs % 60;
    if hours > 0 {
        let _ = write!(out, "{hours}h");
    }
    if hours > 0 || minutes > 0 {
        let _ = write!(out, "{minutes}m");
    }
    out.push_str(&fraction(secs * 1_000_000_000 + frac_nanos, 1_000_000_000));
    out.push('s');
    out
}

/// `value / scale` printed with the fractional digits Go keeps (trailing zeros dropped).
fn fraction(value: u128, scale: u128) -> String {
    let int = value / scale;
    let frac = value % scale;
    if frac == 0 {
        return int.to_string();
    }
    let width = scale.to_string().len() - 1;
    let mut digits = format!("{frac:0width$}");
    while digits.ends_with('0') {
        digits.pop();
    }
    format!("{int}.{digits}")
}

/// Go's `time.ParseDuration`: a signed sequence of decimal numbers with units (`ns`, `us`, `µs`, `ms`, `s`, `m`,
/// `h`), e.g. `-1.5h`, `2h45m`. Returns nanoseconds.
pub(crate) fn parse_duration(s: &str) -> Option<i128> {
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
        if num_len == 0 {
            return None;
        }
        let number: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest.bytes().take_while(|b| !b.is_ascii_digit() && *b != b'.').count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale: f64 = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += number * scale;
    }
    if total > 9.3e18 {
        return None;
    }
    let nanos = total.round() as i128;
    Some(if neg { -nanos } else { nanos })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Zoned {
        match s.parse::<Zoned>() {
            Ok(z) => z,
            Err(e) => unreachable!("bad test time {s}: {e}"),
        }
    }

    #[test]
    fn formats_go_layouts() {
        let z = t("2024-03-05T07:08:09.120+00:00[UTC]");
        assert_eq!(format(&z, "2006-01-02 15:04:05"), "2024-03-05 07:08:09");
        assert_eq!(format(&z, "Jan _2 3:04PM Mon"), "Mar  5 7:08AM Tue");
        assert_eq!(format(&z, "2006-01-02T15:04:05.000Z07:00"), "2024-03-05T07:08:09.120Z");
        assert_eq!(format(&z, "02/01/06 .999 MST -0700"), "05/03/24 .12 UTC +0000");
        assert_eq!(time_string(&z), "2024-03-05 07:08:09.12 +0000 UTC");
    }

    #[test]
    fn parses_go_layouts() {
        let z = parse("2006-01-02", "2024-03-05");
        assert_eq!(z.map(|z| format(&z, "2006-01-02T15:04:05Z07:00")), Some("2024-03-05T00:00:00Z".to_owned()));
        let z = parse("2006-01-02T15:04:05Z07:00", "2024-03-05T10:11:12+02:00");
        assert_eq!(z.map(|z| z.timestamp().as_second()), Some(1_709_626_272));
        assert!(parse("2006-01-02", "2024-13-05").is_none());
    }

    #[test]
    fn durations_like_go() {
        assert_eq!(duration_string(0), "0s");
        assert_eq!(duration_string(90 * 1_000_000_000), "1m30s");
        assert_eq!(duration_string(3_600 * 1_000_000_000), "1h0m0s");
        assert_eq!(duration_string(1_500_000), "1.5ms");
        assert_eq!(duration_string(-2_500_000_000), "-2.5s");
        assert_eq!(parse_duration("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_duration("-1.5h"), Some(-5_400_000_000_000));
        assert_eq!(parse_duration("10x"), None);
    }
}
