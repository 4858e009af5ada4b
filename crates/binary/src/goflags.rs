//! Values as Go's `pflag` parses them, so that an argument list written for ESO parses the same here:
//! booleans (`strconv.ParseBool`), durations (`time.ParseDuration`), log levels (zap) and time encodings (zap).

use std::time::Duration;

/// `strconv.ParseBool`: `1 t T TRUE true True` and `0 f F FALSE false False`.
pub fn go_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("invalid boolean {text:?} (Go syntax: true, false, 1, 0, t, f)")),
    }
}

/// `time.ParseDuration`: a sequence of decimal numbers with units (`ns us µs ms s m h`), optionally signed
/// (negative durations are refused: no flag means one); `0` alone needs no unit.
pub fn go_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration {text:?} (Go syntax, for example 300ms, 5m, 1h30m, 2160h)");
    let body = text.strip_prefix('+').unwrap_or(text);
    if body.starts_with('-') {
        return Err(format!("negative duration {text:?}"));
    }
    if body == "0" {
        return Ok(Duration::ZERO);
    }
    if body.is_empty() {
        return Err(invalid());
    }
    let mut total = 0f64;
    let mut rest = body;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        if number.is_empty() || number == "." {
            return Err(invalid());
        }
        let value: f64 = number.parse().map_err(|_| invalid())?;
        let unit_len = after.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let seconds = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(invalid()),
        };
        total += value * seconds;
        rest = next;
    }
    Duration::try_from_secs_f64(total).map_err(|_| invalid())
}

/// zap's levels (`--loglevel`) mapped onto tracing's: `dpanic`, `panic` and `fatal` log errors only. `trace`
/// is accepted as well (more than zap's `debug`).
pub fn zap_level(text: &str) -> Result<String, String> {
    match text.to_ascii_lowercase().as_str() {
        "trace" => Ok("trace".to_string()),
        "debug" => Ok("debug".to_string()),
        "" | "info" => Ok("info".to_string()),
        "warn" => Ok("warn".to_string()),
        "error" | "dpanic" | "panic" | "fatal" => Ok("error".to_string()),
        _ => Err(format!("invalid log level {text:?}: one of debug, info, warn, error, dpanic, panic, fatal")),
    }
}

/// `--zap-time-encoding`: how log timestamps are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeEncoding {
    /// Seconds since the Unix epoch, with a fraction (zap's default).
    Epoch,
    /// Milliseconds since the Unix epoch, with a fraction.
    Millis,
    /// Nanoseconds since the Unix epoch.
    Nanos,
    /// ISO 8601 with milliseconds and the local offset (zap's `iso8601`).
    Iso8601,
    /// RFC 3339 to the second.
    Rfc3339,
    /// RFC 3339 with nanoseconds.
    Rfc3339Nano,
}

/// zap's `TimeEncoder.UnmarshalText`: the names it knows; anything else falls back to epoch, as in zap.
pub fn zap_time_encoding(text: &str) -> Result<TimeEncoding, String> {
    Ok(match text {
        "rfc3339nano" | "RFC3339Nano" => TimeEncoding::Rfc3339Nano,
        "rfc3339" | "RFC3339" => TimeEncoding::Rfc3339,
        "iso8601" | "ISO8601" => TimeEncoding::Iso8601,
        "millis" => TimeEncoding::Millis,
        "nanos" | "nano" => TimeEncoding::Nanos,
        _ => TimeEncoding::Epoch,
    })
}

impl tracing_subscriber::fmt::time::FormatTime for TimeEncoding {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        let now = jiff::Timestamp::now();
        let nanos = now.as_nanosecond();
        match self {
            TimeEncoding::Epoch => write!(w, "{:.6}", nanos as f64 / 1e9),
            TimeEncoding::Millis => write!(w, "{:.6}", nanos as f64 / 1e6),
            TimeEncoding::Nanos => write!(w, "{nanos}"),
            TimeEncoding::Iso8601 => write!(w, "{}", now.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")),
            TimeEncoding::Rfc3339 => write!(w, "{}", now.strftime("%Y-%m-%dT%H:%M:%SZ")),
            TimeEncoding::Rfc3339Nano => write!(w, "{}", now.strftime("%Y-%m-%dT%H:%M:%S%.fZ")),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn booleans_parse_as_strconv_parse_bool_does() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(go_bool(t), Ok(true), "{t}");
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(go_bool(f), Ok(false), "{f}");
        }
        for bad in ["yes", "on", "", "tRUE"] {
            assert!(go_bool(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_parse_as_time_parse_duration_does() {
        let cases = [
            ("0", Duration::ZERO),
            ("5m", Duration::from_secs(300)),
            ("2160h", Duration::from_secs(2160 * 3600)),
            ("1h30m", Duration::from_secs(5400)),
            ("1.5h", Duration::from_secs(5400)),
            ("300ms", Duration::from_millis(300)),
            ("2s", Duration::from_secs(2)),
            ("10us", Duration::from_micros(10)),
            ("+15s", Duration::from_secs(15)),
        ];
        for (text, want) in cases {
            let got = go_duration(text).unwrap();
            assert!(got.abs_diff(want) < Duration::from_nanos(2), "{text}: {got:?}");
        }
        for bad in ["", "5", "5 m", "m", "1d", "-5s", "1h-5m", "."] {
            assert!(go_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn zap_levels_and_time_encodings() {
        assert_eq!(zap_level("info").unwrap(), "info");
        assert_eq!(zap_level("dpanic").unwrap(), "error");
        assert_eq!(zap_level("fatal").unwrap(), "error");
        assert!(zap_level("verbose").is_err());
        assert_eq!(zap_time_encoding("epoch").unwrap(), TimeEncoding::Epoch);
        assert_eq!(zap_time_encoding("rfc3339nano").unwrap(), TimeEncoding::Rfc3339Nano);
        assert_eq!(zap_time_encoding("nano").unwrap(), TimeEncoding::Nanos);
        assert_eq!(zap_time_encoding("whatever").unwrap(), TimeEncoding::Epoch);
    }
}
