//! Go duration strings (`metav1.Duration`): parsing as Go's `time.ParseDuration` and printing as
//! `time.Duration.String()`.
//!
//! `refreshInterval` and sync-window durations are Go duration strings. ESO's API server defaulting writes
//! `"1h0m0s"`, users write `"1h"`, `"90s"` or `"0"`; both have to mean what they mean to ESO, and we print them the
//! way Go does so status and events read the same.

use std::fmt;
use std::time::Duration;

/// A Go `time.Duration`: signed nanoseconds in an `i64` (about ±292 years).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GoDuration {
    nanos: i64,
}

/// Why a Go duration string was rejected. The messages are Go's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Empty, malformed (`"1.h"` is fine, `".h"` and `"h"` are not) or out of range.
    #[error("time: invalid duration {0:?}")]
    Invalid(String),
    /// A number without a unit (`"10"`; only `"0"` may stand alone).
    #[error("time: missing unit in duration {0:?}")]
    MissingUnit(String),
    /// A unit other than ns, us, µs, μs, ms, s, m, h.
    #[error("time: unknown unit {unit:?} in duration {input:?}")]
    UnknownUnit {
        /// The unit as written.
        unit: String,
        /// The whole input.
        input: String,
    },
}

const NANOSECOND: u64 = 1;
const MICROSECOND: u64 = 1_000 * NANOSECOND;
const MILLISECOND: u64 = 1_000 * MICROSECOND;
const SECOND: u64 = 1_000 * MILLISECOND;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;

/// 1<<63: one past the largest positive duration, and the magnitude of the most negative one.
const LIMIT: u64 = 1 << 63;

fn unit_nanos(unit: &str) -> Option<u64> {
    match unit {
        "ns" => Some(NANOSECOND),
        // U+00B5 micro sign and U+03BC Greek small letter mu, as Go accepts both.
        "us" | "\u{b5}s" | "\u{3bc}s" => Some(MICROSECOND),
        "ms" => Some(MILLISECOND),
        "s" => Some(SECOND),
        "m" => Some(MINUTE),
        "h" => Some(HOUR),
        _ => None,
    }
}

impl GoDuration {
    /// Zero.
    pub const ZERO: GoDuration = GoDuration { nanos: 0 };

    /// A duration of `nanos` nanoseconds.
    pub const fn from_nanos(nanos: i64) -> Self {
        Self { nanos }
    }

    /// The signed length in nanoseconds.
    pub const fn as_nanos(self) -> i64 {
        self.nanos
    }

    /// Whether the duration is greater than zero (ESO treats zero and negative refresh intervals alike: no
    /// periodic refresh).
    pub const fn is_positive(self) -> bool {
        self.nanos > 0
    }

    /// The duration as a std `Duration`, or `None` when it is negative.
    pub fn to_std(self) -> Option<Duration> {
        u64::try_from(self.nanos).ok().map(Duration::from_nanos)
    }

    /// The duration as a std `Duration`, with zero for negative durations (how ESO's `<= 0` checks read it).
    pub fn to_std_or_zero(self) -> Duration {
        self.to_std().unwrap_or(Duration::ZERO)
    }

    /// A std `Duration` as a Go duration, or `None` when it does not fit in Go's `i64` nanoseconds.
    pub fn from_std(duration: Duration) -> Option<Self> {
        i64::try_from(duration.as_nanos()).ok().map(Self::from_nanos)
    }
}

impl fmt::Display for GoDuration {
    /// Go's `Duration.String()`: `1h0m0s`, `1.5s`, `300ms`, `-1s`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let magnitude = u128::from(self.nanos.unsigned_abs());
        if self.nanos < 0 {
            f.write_str("-")?;
        }
        f.write_str(&format_magnitude(magnitude))
    }
}

impl std::str::FromStr for GoDuration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_go_duration(s)
    }
}

/// Parses a Go duration string exactly as Go's `time.ParseDuration` does: an optional sign, then one or more
/// `<number><unit>` parts (`1h30m`, `1.5h`, `300ms`, `-1s`); `"0"` alone needs no unit.
pub fn parse_go_duration(input: &str) -> Result<GoDuration, DurationError> {
    let invalid = || DurationError::Invalid(input.to_owned());
    let mut s = input.as_bytes();
    let mut negative = false;
    if let Some((&first, rest)) = s.split_first()
        && (first == b'-' || first == b'+')
    {
        negative = first == b'-';
        s = rest;
    }
    if s == b"0" {
        return Ok(GoDuration::ZERO);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        // The next character must be [0-9.].
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let before = s.len();
        let (mut value, rest) = leading_int(s).ok_or_else(invalid)?;
        s = rest;
        let has_integer_part = before != s.len();

        let mut fraction: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut has_fraction_part = false;
        if let Some((&b'.', rest)) = s.split_first() {
            s = rest;
            let before = s.len();
            let (f, sc, rest) = leading_fraction(s);
            fraction = f;
            scale = sc;
            s = rest;
            has_fraction_part = before != s.len();
        }
        if !has_integer_part && !has_fraction_part {
            return Err(invalid());
        }

        let unit_len = s.iter().position(|&c| c == b'.' || c.is_ascii_digit()).unwrap_or(s.len());
        if unit_len == 0 {
            return Err(DurationError::MissingUnit(input.to_owned()));
        }
        let (unit_bytes, rest) = s.split_at(unit_len);
        s = rest;
        let unit_text = String::from_utf8_lossy(unit_bytes);
        let unit = unit_nanos(&unit_text)
            .ok_or_else(|| DurationError::UnknownUnit { unit: unit_text.into_owned(), input: input.to_owned() })?;

        if value > LIMIT / unit {
            return Err(invalid());
        }
        value *= unit;
        if fraction > 0 {
            // As Go: float64 keeps fractions of hours nanosecond-exact; the product is at most 3.6e12.
            #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let fraction_nanos = (fraction as f64 * (unit as f64 / scale)) as u64;
            value = value.checked_add(fraction_nanos).ok_or_else(invalid)?;
            if value > LIMIT {
                return Err(invalid());
            }
        }
        total = total.checked_add(value).ok_or_else(invalid)?;
        if total > LIMIT {
            return Err(invalid());
        }
    }
    if negative {
        // total <= 1<<63, so the negation fits (1<<63 becomes i64::MIN).
        let nanos = 0i64.checked_sub_unsigned(total).ok_or_else(invalid)?;
        return Ok(GoDuration::from_nanos(nanos));
    }
    i64::try_from(total).map(GoDuration::from_nanos).map_err(|_| invalid())
}

/// Consumes leading `[0-9]*`; `None` on overflow past 1<<63 (as Go's `leadingInt`).
fn leading_int(s: &[u8]) -> Option<(u64, &[u8])> {
    let mut value: u64 = 0;
    let mut index = 0;
    while index < s.len() && s[index].is_ascii_digit() {
        if value > LIMIT / 10 {
            return None;
        }
        value = value * 10 + u64::from(s[index] - b'0');
        if value > LIMIT {
            return None;
        }
        index += 1;
    }
    Some((value, &s[index..]))
}

/// Consumes leading `[0-9]*` after a decimal point; past 63 bits of precision it stops accumulating (as Go's
/// `leadingFraction`). Returns the digits as an integer, `10^digits` taken, and the rest.
fn leading_fraction(s: &[u8]) -> (u64, f64, &[u8]) {
    let mut value: u64 = 0;
    let mut scale: f64 = 1.0;
    let mut overflow = false;
    let mut index = 0;
    while index < s.len() && s[index].is_ascii_digit() {
        let digit = u64::from(s[index] - b'0');
        index += 1;
        if overflow {
            continue;
        }
        if value > (LIMIT - 1) / 10 {
            overflow = true;
            continue;
        }
        let next = value * 10 + digit;
        if next > LIMIT {
            overflow = true;
            continue;
        }
        value = next;
        scale *= 10.0;
    }
    (value, scale, &s[index..])
}

/// Prints a std `Duration` as Go's `Duration.String()` does: `1h0m0s`, `5m0s`, `1.5s`, `300ms`, `1µs`, `0s`.
///
/// Durations beyond Go's range (about 292 years) are printed with the same rules rather than refused.
pub fn format_go_duration(duration: Duration) -> String {
    format_magnitude(duration.as_nanos())
}

/// Go's `Duration.format` for a non-negative number of nanoseconds.
fn format_magnitude(nanos: u128) -> String {
    let second = u128::from(SECOND);
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < second {
        // Below a second Go switches to the smallest fitting unit, with a fraction: 1.5ms, 2µs, 7ns.
        let (precision, unit) = if nanos < u128::from(MICROSECOND) {
            (0, "ns")
        } else if nanos < u128::from(MILLISECOND) {
            (3, "\u{b5}s")
        } else {
            (6, "ms")
        };
        let (whole, fraction) = split_fraction(nanos, precision);
        return format!("{whole}{fraction}{unit}");
    }
    let (total_seconds, fraction) = split_fraction(nanos, 9);
    let seconds = total_seconds % 60;
    let total_minutes = total_seconds / 60;
    if total_minutes == 0 {
        return format!("{seconds}{fraction}s");
    }
    let minutes = total_minutes % 60;
    let hours = total_minutes / 60;
    if hours == 0 {
        return format!("{minutes}m{seconds}{fraction}s");
    }
    format!("{hours}h{minutes}m{seconds}{fraction}s")
}

/// Splits `value` into `value / 10^precision` and the fraction text (`.5`, `.25`; empty when zero), trailing zeros
/// dropped, as Go's `fmtFrac`.
fn split_fraction(value: u128, precision: u32) -> (u128, String) {
    let divisor = 10u128.pow(precision);
    let whole = value / divisor;
    let fraction = value % divisor;
    if fraction == 0 {
        return (whole, String::new());
    }
    let digits = format!("{fraction:0width$}", width = precision as usize);
    (whole, format!(".{}", digits.trim_end_matches('0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> i64 {
        match parse_go_duration(s) {
            Ok(d) => d.as_nanos(),
            Err(e) => panic!("{s:?} should parse: {e}"),
        }
    }

    const S: i64 = 1_000_000_000;

    #[test]
    fn parses_what_go_parses() {
        // Cases from Go's time package tests.
        let cases: &[(&str, i64)] = &[
            ("0", 0),
            ("5s", 5 * S),
            ("30s", 30 * S),
            ("1478s", 1478 * S),
            ("-5s", -5 * S),
            ("+5s", 5 * S),
            ("-0", 0),
            ("+0", 0),
            ("5.0s", 5 * S),
            ("5.6s", 5 * S + 600_000_000),
            ("5.s", 5 * S),
            (".5s", S / 2),
            ("1.0s", S),
            ("1.00s", S),
            ("1.004s", S + 4_000_000),
            ("1.0040s", S + 4_000_000),
            ("100.00100s", 100 * S + 1_000_000),
            ("10ns", 10),
            ("11us", 11_000),
            ("12µs", 12_000),
            ("12μs", 12_000),
            ("13ms", 13_000_000),
            ("14s", 14 * S),
            ("15m", 15 * 60 * S),
            ("16h", 16 * 3600 * S),
            ("3h30m", (3 * 3600 + 30 * 60) * S),
            ("10.5s4m", 4 * 60 * S + 10 * S + S / 2),
            ("-2m3.4s", -(2 * 60 * S + 3 * S + 400_000_000)),
            ("1h2m3s4ms5us6ns", 3600 * S + 2 * 60 * S + 3 * S + 4_000_000 + 5_000 + 6),
            ("39h9m14.425s", (39 * 3600 + 9 * 60 + 14) * S + 425_000_000),
            ("52763797000ns", 52_763_797_000),
            ("0.3333333333333333333h", 20 * 60 * S),
            ("9007199254740993ns", 9_007_199_254_740_993),
            ("9223372036854775807ns", i64::MAX),
            ("9223372036854775.807us", i64::MAX),
            ("9223372036s854ms775us807ns", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
            ("-9223372036854775.808us", i64::MIN),
            ("-9223372036s854ms775us808ns", i64::MIN),
            ("-2562047h47m16.854775808s", i64::MIN),
            ("0.100000000000000000000h", 6 * 60 * S),
            ("0.830103483285477580700h", 49 * 60 * S + 48 * S + 372_539_827),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input), *want, "{input}");
        }
    }

    #[test]
    fn parses_eso_refresh_intervals() {
        assert_eq!(parse("1h"), 3600 * S);
        assert_eq!(parse("1h0m0s"), 3600 * S);
        assert_eq!(parse("90s"), 90 * S);
        assert_eq!(parse("1.5h"), 5400 * S);
        assert_eq!(parse("300ms"), 300_000_000);
        assert_eq!(parse("0s"), 0);
        assert_eq!(parse("-1s"), -S);
    }

    #[test]
    fn rejects_what_go_rejects() {
        let invalid = [
            "",
            "3",
            "-",
            "s",
            ".",
            "-.",
            ".s",
            "+.s",
            "1d",
            "\u{fffd}",
            "9223372036854775808ns",
            "9223372036854775.808us",
            "9223372036854ms775us808ns",
            "-9223372036854775809ns",
            "1 h",
            " 1h",
            "1h ",
            "1hm",
            "1.2.3s",
            "0x1s",
            "++1s",
            "--1s",
        ];
        for input in invalid {
            assert!(parse_go_duration(input).is_err(), "{input:?} should be rejected");
        }
    }

    #[test]
    fn errors_say_what_is_wrong_like_go() {
        assert_eq!(parse_go_duration("").map_err(|e| e.to_string()), Err("time: invalid duration \"\"".to_owned()));
        assert_eq!(
            parse_go_duration("3").map_err(|e| e.to_string()),
            Err("time: missing unit in duration \"3\"".to_owned())
        );
        assert_eq!(
            parse_go_duration("1d"),
            Err(DurationError::UnknownUnit { unit: "d".to_owned(), input: "1d".to_owned() })
        );
        assert_eq!(
            parse_go_duration("1d").map_err(|e| e.to_string()),
            Err("time: unknown unit \"d\" in duration \"1d\"".to_owned())
        );
    }

    #[test]
    fn formats_like_go_duration_string() {
        // Cases from Go's time package tests.
        let cases: &[(u64, &str)] = &[
            (0, "0s"),
            (1, "1ns"),
            (1_100, "1.1µs"),
            (2_200_000, "2.2ms"),
            (3_300_000_000, "3.3s"),
            (4 * 60 * 1_000_000_000 + 5_000_000_000, "4m5s"),
            (4 * 60 * 1_000_000_000 + 5_001_000_000, "4m5.001s"),
            (5 * 3600 * 1_000_000_000 + 6 * 60 * 1_000_000_000 + 7_001_000_000, "5h6m7.001s"),
            (8 * 60 * 1_000_000_000 + 1, "8m0.000000001s"),
            (i64::MAX as u64, "2562047h47m16.854775807s"),
            (3600 * 1_000_000_000, "1h0m0s"),
            (300 * 1_000_000_000, "5m0s"),
            (1_500_000_000, "1.5s"),
            (300_000_000, "300ms"),
            (1_000, "1µs"),
            (999_999_999, "999.999999ms"),
        ];
        for (nanos, want) in cases {
            assert_eq!(format_go_duration(Duration::from_nanos(*nanos)), *want, "{nanos}");
        }
    }

    #[test]
    fn go_duration_display_handles_negative_values() {
        assert_eq!(GoDuration::from_nanos(-S).to_string(), "-1s");
        assert_eq!(GoDuration::from_nanos(i64::MIN).to_string(), "-2562047h47m16.854775808s");
        assert_eq!(GoDuration::from_nanos(-1_500_000).to_string(), "-1.5ms");
        assert_eq!(GoDuration::ZERO.to_string(), "0s");
    }

    #[test]
    fn round_trips_through_go_text() {
        for input in ["1h0m0s", "5m0s", "1.5s", "300ms", "1µs", "7ns", "-1s", "2562047h47m16.854775807s"] {
            let parsed = parse_go_duration(input).map(|d| d.to_string());
            assert_eq!(parsed.as_deref(), Ok(input));
        }
    }

    #[test]
    fn converts_to_and_from_std() {
        assert_eq!(GoDuration::from_nanos(S).to_std(), Some(Duration::from_secs(1)));
        assert_eq!(GoDuration::from_nanos(-S).to_std(), None);
        assert_eq!(GoDuration::from_nanos(-S).to_std_or_zero(), Duration::ZERO);
        assert!(!GoDuration::ZERO.is_positive());
        assert!(GoDuration::from_nanos(1).is_positive());
        assert_eq!(GoDuration::from_std(Duration::from_secs(90)), Some(GoDuration::from_nanos(90 * S)));
        assert_eq!(GoDuration::from_std(Duration::MAX), None);
        assert_eq!("1h".parse::<GoDuration>(), Ok(GoDuration::from_nanos(3600 * S)));
    }

    #[test]
    fn formats_durations_beyond_go_range() {
        let huge = Duration::from_secs(u64::MAX);
        assert!(format_go_duration(huge).ends_with('s'));
    }
}
