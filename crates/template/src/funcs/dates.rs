//! Sprig's date functions with Go layouts. Go's local zone is UTC here.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, Zoned};

use super::{Call, FResult, FuncDef, fail, fixed};
use crate::gotime;
use crate::value::Value;

pub(crate) const FUNCS: &[FuncDef] = &[
    fixed("now", 0, now),
    fixed("date", 2, date),
    fixed("dateInZone", 3, date_in_zone),
    fixed("date_in_zone", 3, date_in_zone),
    fixed("htmlDate", 1, html_date),
    fixed("htmlDateInZone", 2, html_date_in_zone),
    fixed("dateModify", 2, date_modify),
    fixed("date_modify", 2, date_modify),
    fixed("mustDateModify", 2, must_date_modify),
    fixed("must_date_modify", 2, must_date_modify),
    fixed("toDate", 2, to_date),
    fixed("mustToDate", 2, must_to_date),
    fixed("unixEpoch", 1, unix_epoch),
    fixed("duration", 1, duration),
    fixed("durationRound", 1, duration_round),
    fixed("ago", 1, ago),
];

fn current_time() -> Zoned {
    Timestamp::now().to_zoned(TimeZone::UTC)
}

fn now(_: &mut Call<'_>) -> FResult {
    Ok(Value::Time(current_time()))
}

/// Sprig's date argument: a time, Unix seconds, or anything else meaning "now".
fn as_time(v: &Value) -> Zoned {
    match v {
        Value::Time(t) => t.clone(),
        Value::Int(secs) => gotime::from_unix(*secs),
        _ => current_time(),
    }
}

fn format_in_zone(layout: &str, t: &Zoned, zone: &str) -> String {
    let tz = gotime::load_location(zone).unwrap_or(TimeZone::UTC);
    gotime::format(&t.with_time_zone(tz), layout)
}

fn date(c: &mut Call<'_>) -> FResult {
    let layout = c.str(0)?;
    let layout: &str = &layout;
    Ok(Value::from(format_in_zone(layout, &as_time(c.value(1)), "Local")))
}

fn date_in_zone(c: &mut Call<'_>) -> FResult {
    let layout = c.str(0)?;
    let layout: &str = &layout;
    let zone = c.str(2)?;
    let zone: &str = &zone;
    Ok(Value::from(format_in_zone(layout, &as_time(c.value(1)), zone)))
}

fn html_date(c: &mut Call<'_>) -> FResult {
    Ok(Value::from(format_in_zone("2006-01-02", &as_time(c.value(0)), "Local")))
}

fn html_date_in_zone(c: &mut Call<'_>) -> FResult {
    let zone = c.str(1)?;
    let zone: &str = &zone;
    Ok(Value::from(format_in_zone("2006-01-02", &as_time(c.value(0)), zone)))
}

fn add_nanos(t: &Zoned, nanos: i128) -> Option<Zoned> {
    let d = SignedDuration::from_nanos_i128(nanos);
    let ts = t.timestamp().checked_add(d).ok()?;
    Some(ts.to_zoned(t.time_zone().clone()))
}

fn date_modify(c: &mut Call<'_>) -> FResult {
    let spec = c.str(0)?;
    let spec: &str = &spec;
    let t = c.time(1)?;
    let modified = gotime::parse_duration(spec).and_then(|d| add_nanos(&t, d));
    Ok(Value::Time(modified.unwrap_or(t)))
}

fn must_date_modify(c: &mut Call<'_>) -> FResult {
    let spec = c.str(0)?;
    let spec: &str = &spec;
    let t = c.time(1)?;
    let d = gotime::parse_duration(spec).ok_or_else(|| fail("time: invalid duration"))?;
    add_nanos(&t, d).map(Value::Time).ok_or_else(|| fail("time: duration out of range"))
}

fn to_date(c: &mut Call<'_>) -> FResult {
    let layout = c.str(0)?;
    let layout: &str = &layout;
    let s = c.str(1)?;
    let s: &str = &s;
    Ok(Value::Time(gotime::parse(layout, s).unwrap_or_else(gotime::zero_time)))
}

fn must_to_date(c: &mut Call<'_>) -> FResult {
    let layout = c.str(0)?;
    let layout: &str = &layout;
    let s = c.str(1)?;
    let s: &str = &s;
    gotime::parse(layout, s).map(Value::Time).ok_or_else(|| fail("parsing time: the value does not match the layout"))
}

fn unix_epoch(c: &mut Call<'_>) -> FResult {
    Ok(Value::from(c.time(0)?.timestamp().as_second().to_string()))
}

fn duration(c: &mut Call<'_>) -> FResult {
    let secs: i64 = match c.value(0) {
        Value::String(s) => s.as_str().and_then(|s| s.parse().ok()).unwrap_or(0),
        Value::Int(i) => *i,
        _ => 0,
    };
    Ok(Value::from(gotime::duration_string(i128::from(secs) * 1_000_000_000)))
}

fn since_nanos(t: &Zoned) -> i128 {
    Timestamp::now().as_nanosecond() - t.timestamp().as_nanosecond()
}

fn duration_round(c: &mut Call<'_>) -> FResult {
    let nanos: i128 = match c.value(0) {
        Value::String(s) => s.as_str().and_then(gotime::parse_duration).unwrap_or(0),
        Value::Int(i) => i128::from(*i),
        Value::Time(t) => since_nanos(t),
        _ => 0,
    };
    let u = nanos.unsigned_abs();
    const SECOND: u128 = 1_000_000_000;
    const MINUTE: u128 = 60 * SECOND;
    const HOUR: u128 = 60 * MINUTE;
    const DAY: u128 = 24 * HOUR;
    const MONTH: u128 = 30 * DAY;
    const YEAR: u128 = 365 * DAY;
    let out = if u > YEAR {
        format!("{}y", u / YEAR)
    } else if u > MONTH {
        format!("{}mo", u / MONTH)
    } else if u > DAY {
        format!("{}d", u / DAY)
    } else if u > HOUR {
        format!("{}h", u / HOUR)
    } else if u > MINUTE {
        format!("{}m", u / MINUTE)
    } else if u > SECOND {
        format!("{}s", u / SECOND)
    } else {
        "0s".to_owned()
    };
    Ok(Value::from(out))
}

fn ago(c: &mut Call<'_>) -> FResult {
    let since = since_nanos(&as_time(c.value(0)));
    // Go's Duration.Round(time.Second): halves away from zero.
    let second = 1_000_000_000i128;
    let rem = since % second;
    let rounded = if rem.abs() * 2 >= second { since - rem + rem.signum() * second } else { since - rem };
    Ok(Value::from(gotime::duration_string(rounded)))
}
