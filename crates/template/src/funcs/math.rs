//! Sprig's math: integer arithmetic through `cast.ToInt64` (wrapping like Go), float helpers, conversions and
//! number sequences.

use super::{Call, FResult, FuncDef, FuncError, fail, fixed, ranged, to_float64, to_int64, variadic};
use crate::error::LimitExceeded;
use crate::value::Value;

pub(crate) const FUNCS: &[FuncDef] = &[
    variadic("add", 0, add),
    fixed("add1", 1, add1),
    fixed("sub", 2, sub),
    fixed("div", 2, div),
    fixed("mod", 2, modulo),
    variadic("mul", 1, mul),
    variadic("max", 1, max),
    variadic("biggest", 1, max),
    variadic("min", 1, min),
    variadic("maxf", 1, maxf),
    variadic("minf", 1, minf),
    fixed("floor", 1, floor),
    fixed("ceil", 1, ceil),
    ranged("round", 2, 3, round),
    fixed("int", 1, int),
    fixed("int64", 1, int),
    fixed("float64", 1, float64),
    fixed("atoi", 1, atoi),
    fixed("toDecimal", 1, to_decimal),
    fixed("until", 1, until),
    fixed("untilStep", 3, until_step),
    variadic("seq", 0, seq),
    fixed("add1f", 1, add1f),
    variadic("addf", 0, addf),
    variadic("subf", 1, subf),
    variadic("mulf", 1, mulf),
    variadic("divf", 1, divf),
];

/// The longest list `until`/`untilStep`/`seq` may build.
const MAX_SEQUENCE: i64 = 1 << 20;

fn add(c: &mut Call<'_>) -> FResult {
    Ok(Value::Int(c.args.iter().fold(0i64, |acc, v| acc.wrapping_add(to_int64(v)))))
}

fn add1(c: &mut Call<'_>) -> FResult {
    Ok(Value::Int(to_int64(c.value(0)).wrapping_add(1)))
}

fn sub(c: &mut Call<'_>) -> FResult {
    Ok(Value::Int(to_int64(c.value(0)).wrapping_sub(to_int64(c.value(1)))))
}

fn div(c: &mut Call<'_>) -> FResult {
    let b = to_int64(c.value(1));
    if b == 0 {
        return Err(fail("runtime error: integer divide by zero"));
    }
    Ok(Value::Int(to_int64(c.value(0)).wrapping_div(b)))
}

fn modulo(c: &mut Call<'_>) -> FResult {
    let b = to_int64(c.value(1));
    if b == 0 {
        return Err(fail("runtime error: integer divide by zero"));
    }
    Ok(Value::Int(to_int64(c.value(0)).wrapping_rem(b)))
}

fn mul(c: &mut Call<'_>) -> FResult {
    let first = to_int64(c.value(0));
    Ok(Value::Int(c.args[1..].iter().fold(first, |acc, v| acc.wrapping_mul(to_int64(v)))))
}

fn max(c: &mut Call<'_>) -> FResult {
    Ok(Value::Int(c.args.iter().map(to_int64).max().unwrap_or(0)))
}

fn min(c: &mut Call<'_>) -> FResult {
    Ok(Value::Int(c.args.iter().map(to_int64).min().unwrap_or(0)))
}

fn maxf(c: &mut Call<'_>) -> FResult {
    let first = to_float64(c.value(0));
    Ok(Value::Float(c.args[1..].iter().fold(first, |acc, v| go_max(acc, to_float64(v)))))
}

fn minf(c: &mut Call<'_>) -> FResult {
    let first = to_float64(c.value(0));
    Ok(Value::Float(c.args[1..].iter().fold(first, |acc, v| go_min(acc, to_float64(v)))))
}

/// Go's `math.Max`: NaN wins.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) }
}

fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.min(b) }
}

fn floor(c: &mut Call<'_>) -> FResult {
    Ok(Value::Float(to_float64(c.value(0)).floor()))
}

fn ceil(c: &mut Call<'_>) -> FResult {
    Ok(Value::Float(to_float64(c.value(0)).ceil()))
}

fn round(c: &mut Call<'_>) -> FResult {
    let value = to_float64(c.value(0));
    let places = c.int(1)? as f64;
    let round_on = if c.len() > 2 { to_float64(c.value(2)) } else { 0.5 };
    let pow = 10f64.powf(places);
    let digit = pow * value;
    let fraction = digit - digit.trunc();
    let rounded = if fraction >= round_on { digit.ceil() } else { digit.floor() };
    Ok(Value::Float(rounded / pow))
}

fn int(c: &mut Call<'_>) -> FResult {
    Ok(Value::Int(to_int64(c.value(0))))
}

fn float64(c: &mut Call<'_>) -> FResult {
    Ok(Value::Float(to_float64(c.value(0))))
}

fn atoi(c: &mut Call<'_>) -> FResult {
    let s = c.str(0)?;
    let s: &str = &s;
    // strconv.Atoi: decimal with an optional sign; anything else is 0.
    let valid = {
        let body = s.strip_prefix(['+', '-']).unwrap_or(s);
        !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit())
    };
    Ok(Value::Int(if valid { s.parse().unwrap_or(0) } else { 0 }))
}

/// Sprig's `toDecimal`: the value's text read as an octal number.
fn to_decimal(c: &mut Call<'_>) -> FResult {
    let text = crate::fmt::value_string(c.value(0)).to_str_lossy().into_owned();
    let body = text.strip_prefix(['+', '-']).unwrap_or(&text);
    let parsed = if body.is_empty() { None } else { i64::from_str_radix(&text, 8).ok() };
    Ok(Value::Int(parsed.unwrap_or(0)))
}

fn sequence(start: i64, stop: i64, step: i64) -> Result<Vec<i64>, FuncError> {
    // i128 so that extreme bounds cannot overflow.
    let (start, stop, step) = (i128::from(start), i128::from(stop), i128::from(step));
    let count = if step > 0 && stop > start {
        (stop - start + step - 1) / step
    } else if step < 0 && stop < start {
        (start - stop - step - 1) / -step
    } else {
        0
    };
    if count > i128::from(MAX_SEQUENCE) {
        return Err(FuncError::Limit(LimitExceeded::ValueSize(MAX_SEQUENCE as usize)));
    }
    Ok((0..count).map(|i| (start + i * step) as i64).collect())
}

fn int_list(v: Vec<i64>) -> Value {
    Value::list(v.into_iter().map(Value::Int).collect())
}

fn until(c: &mut Call<'_>) -> FResult {
    let count = c.int(0)?;
    let step = if count < 0 { -1 } else { 1 };
    sequence(0, count, step).map(int_list)
}

fn until_step(c: &mut Call<'_>) -> FResult {
    sequence(c.int(0)?, c.int(1)?, c.int(2)?).map(int_list)
}

fn seq(c: &mut Call<'_>) -> FResult {
    let mut params = Vec::with_capacity(c.len());
    for i in 0..c.len() {
        params.push(c.int(i)?);
    }
    let numbers = match params.as_slice() {
        [end] => {
            let start = 1;
            let inc = if *end < start { -1 } else { 1 };
            sequence(start, end.saturating_add(inc), inc)?
        }
        [start, end] => {
            let step = if end < start { -1 } else { 1 };
            sequence(*start, end.saturating_add(step), step)?
        }
        [start, step, end] => {
            let mut inc = 1;
            if end < start {
                inc = -1;
                if *step > 0 {
                    return Ok(Value::from(String::new()));
                }
            }
            sequence(*start, end.saturating_add(inc), *step)?
        }
        _ => return Ok(Value::from(String::new())),
    };
    let parts: Vec<String> = numbers.iter().map(i64::to_string).collect();
    Ok(Value::from(parts.join(" ")))
}

/// Sprig's float functions compute in decimal; rounding the binary result to 15 significant digits gives the
/// same answers for ordinary inputs (`addf 0.1 0.2` is `0.3`).
fn decimal_round(f: f64) -> f64 {
    if !f.is_finite() || f == 0.0 {
        return f;
    }
    format!("{f:.14e}").parse().unwrap_or(f)
}

fn decimal_fold(c: &Call<'_>, start: f64, from: usize, op: fn(f64, f64) -> f64) -> f64 {
    let result = c.args[from..].iter().fold(start, |acc, v| op(acc, to_float64(v)));
    decimal_round(result)
}

fn add1f(c: &mut Call<'_>) -> FResult {
    Ok(Value::Float(decimal_round(to_float64(c.value(0)) + 1.0)))
}

fn addf(c: &mut Call<'_>) -> FResult {
    Ok(Value::Float(decimal_fold(c, 0.0, 0, |a, b| a + b)))
}

fn subf(c: &mut Call<'_>) -> FResult {
    let first = to_float64(c.value(0));
    Ok(Value::Float(decimal_fold(c, first, 1, |a, b| a - b)))
}

fn mulf(c: &mut Call<'_>) -> FResult {
    let first = to_float64(c.value(0));
    Ok(Value::Float(decimal_fold(c, first, 1, |a, b| a * b)))
}

/// Sprig's decimal division keeps 16 decimal places.
fn divf(c: &mut Call<'_>) -> FResult {
    let mut acc = to_float64(c.value(0));
    for v in &c.args[1..] {
        let d = to_float64(v);
        if d == 0.0 {
            return Err(fail("decimal division by 0"));
        }
        acc /= d;
        if acc.is_finite() {
            acc = format!("{acc:.16}").parse().unwrap_or(acc);
        }
    }
    Ok(Value::Float(acc))
}
