//! The function registry: Go's builtins, the Sprig functions ESO vendors, and ESO's own functions.
//!
//! Every function declares its arity; the evaluator checks it (Go's "wrong number of args" error) and the
//! function checks its argument types with the [`Call`] helpers (Go's "wrong type for value" error).

use std::borrow::Cow;
use std::collections::BTreeSet;

use crate::Limits;
use crate::error::LimitExceeded;
use crate::value::{GoString, MapRef, Value};

mod builtins;
mod collections;
mod crypto;
mod dates;
mod der;
mod encoding;
mod gencert;
mod jwk;
mod keystore;
mod math;
mod misc;
mod pki;
mod semver;
mod strings;

/// A function implementation.
pub(crate) type FuncImpl = fn(&mut Call<'_>) -> Result<Value, FuncError>;

/// How a function is evaluated.
#[derive(Clone, Copy)]
pub(crate) enum FuncKind {
    /// Arguments are evaluated first, then the function is called.
    Plain(FuncImpl),
    /// Go's short-circuit `and`.
    And,
    /// Go's short-circuit `or`.
    Or,
}

/// A named function with its arity.
pub(crate) struct FuncDef {
    pub name: &'static str,
    pub min: usize,
    /// `None` for variadic functions.
    pub max: Option<usize>,
    pub kind: FuncKind,
}

/// A fixed-arity function.
pub(crate) const fn fixed(name: &'static str, n: usize, f: FuncImpl) -> FuncDef {
    FuncDef { name, min: n, max: Some(n), kind: FuncKind::Plain(f) }
}

/// A function taking `min` to `max` arguments.
pub(crate) const fn ranged(name: &'static str, min: usize, max: usize, f: FuncImpl) -> FuncDef {
    FuncDef { name, min, max: Some(max), kind: FuncKind::Plain(f) }
}

/// A variadic function taking at least `min` arguments.
pub(crate) const fn variadic(name: &'static str, min: usize, f: FuncImpl) -> FuncDef {
    FuncDef { name, min, max: None, kind: FuncKind::Plain(f) }
}

/// Why a function call failed. Messages never contain argument values.
pub(crate) enum FuncError {
    WrongType { expected: &'static str, got: &'static str },
    InvalidValue { expected: &'static str },
    Message(String),
    Fail(String),
    Limit(LimitExceeded),
}

/// A failure with a message.
pub(crate) fn fail(message: impl Into<String>) -> FuncError {
    FuncError::Message(message.into())
}

pub(crate) type FResult = Result<Value, FuncError>;

/// The arguments of one call, with typed accessors that fail as Go's reflection-based calls do.
pub(crate) struct Call<'a> {
    pub args: Vec<Value>,
    pub limits: &'a Limits,
    /// What a missing argument reads as.
    pub nil: Value,
}

fn type_error(expected: &'static str, v: &Value) -> FuncError {
    match v {
        Value::Nil => FuncError::InvalidValue { expected },
        other => FuncError::WrongType { expected, got: other.type_name() },
    }
}

impl Call<'_> {
    pub fn len(&self) -> usize {
        self.args.len()
    }

    pub fn value(&self, i: usize) -> &Value {
        self.args.get(i).unwrap_or(&self.nil)
    }

    pub fn take(&mut self, i: usize) -> Value {
        self.args.get_mut(i).map(std::mem::take).unwrap_or_default()
    }

    /// A `string` parameter read as text: invalid UTF-8 reads as U+FFFD, as Go's rune iteration reads it. For
    /// functions that work on characters; functions that keep bytes use [`Call::bytes`].
    pub fn str(&self, i: usize) -> Result<Cow<'_, str>, FuncError> {
        match self.value(i) {
            Value::String(s) => Ok(s.to_str_lossy()),
            other => Err(type_error("string", other)),
        }
    }

    /// A `string` parameter as its bytes.
    pub fn bytes(&self, i: usize) -> Result<&[u8], FuncError> {
        match self.value(i) {
            Value::String(s) => Ok(s.as_bytes()),
            other => Err(type_error("string", other)),
        }
    }

    /// An `int` parameter. Integral floats are accepted (Go accepts them only as constants).
    pub fn int(&self, i: usize) -> Result<i64, FuncError> {
        match self.value(i) {
            Value::Int(n) => Ok(*n),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(*f as i64),
            other => Err(type_error("int", other)),
        }
    }

    /// A `bool` parameter.
    pub fn bool(&self, i: usize) -> Result<bool, FuncError> {
        match self.value(i) {
            Value::Bool(b) => Ok(*b),
            other => Err(type_error("bool", other)),
        }
    }

    /// A `map[string]interface{}` parameter (a `map[string]string` is accepted too).
    pub fn map(&self, i: usize) -> Result<MapRef, FuncError> {
        match self.value(i) {
            Value::Map(m) => Ok(m.clone()),
            other => Err(type_error("map[string]interface {}", other)),
        }
    }

    /// A `time.Time` parameter.
    pub fn time(&self, i: usize) -> Result<jiff::Zoned, FuncError> {
        match self.value(i) {
            Value::Time(t) => Ok(t.clone()),
            other => Err(type_error("time.Time", other)),
        }
    }

    /// Refuses to build a string longer than the value limit.
    pub fn check_len(&self, len: usize) -> Result<(), FuncError> {
        if len > self.limits.max_value_bytes {
            return Err(FuncError::Limit(LimitExceeded::ValueSize(self.limits.max_value_bytes)));
        }
        Ok(())
    }
}

const TABLES: &[&[FuncDef]] = &[
    builtins::FUNCS,
    strings::FUNCS,
    encoding::FUNCS,
    collections::FUNCS,
    math::FUNCS,
    dates::FUNCS,
    misc::FUNCS,
    pki::FUNCS,
    jwk::FUNCS,
    keystore::FUNCS,
    crypto::FUNCS,
    semver::FUNCS,
    gencert::FUNCS,
];

/// The function with this name, if the engine has one.
pub(crate) fn lookup(name: &str) -> Option<&'static FuncDef> {
    TABLES.iter().flat_map(|t| t.iter()).find(|f| f.name == name)
}

/// The names of all functions templates can call, sorted.
pub fn function_names() -> Vec<&'static str> {
    let names: BTreeSet<&'static str> = TABLES.iter().flat_map(|t| t.iter()).map(|f| f.name).collect();
    names.into_iter().collect()
}

/// Sprig's `strval`: strings as they are (any bytes), everything else as Go's `%v`.
pub(crate) fn strval(v: &Value) -> GoString {
    match v {
        Value::String(s) => s.clone(),
        other => crate::fmt::value_string(other),
    }
}

/// Sprig's `strslice`: a list as strings (nil elements dropped), a single value as a one-element list.
pub(crate) fn strslice(v: &Value) -> Vec<GoString> {
    match v {
        Value::List(items) => items.iter().filter(|i| !matches!(i, Value::Nil)).map(strval).collect(),
        Value::Nil => Vec::new(),
        other => vec![strval(other)],
    }
}

/// A list of strings as a value.
pub(crate) fn string_list<S: Into<GoString>>(items: impl IntoIterator<Item = S>) -> Value {
    Value::list(items.into_iter().map(|s| Value::String(s.into())).collect())
}

/// Go's `cast.ToInt64` (what Sprig's math uses): numbers truncated, numeric strings parsed (with base prefixes),
/// booleans 1/0, anything else 0.
pub(crate) fn to_int64(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Float(f) => go_float_to_int64(*f),
        Value::Bool(b) => i64::from(*b),
        Value::String(s) => s.as_str().and_then(|s| parse_int_base0(trim_zero_decimal(s))).unwrap_or(0),
        _ => 0,
    }
}

/// Go's `int64(f)` on amd64 (CVTTSD2SQ): truncation, and the "integer indefinite" value `math.MinInt64` for NaN
/// and values out of range (Rust's `as` saturates instead). arm64 saturates; amd64 is where ESO mostly runs.
pub(crate) fn go_float_to_int64(f: f64) -> i64 {
    // NaN is outside every range.
    if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f) { f as i64 } else { i64::MIN }
}

/// Go's `cast.ToFloat64`.
pub(crate) fn to_float64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::String(s) => {
            s.as_str().filter(|s| is_go_float_syntax(s)).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0)
        }
        _ => 0.0,
    }
}

/// Rust's float parser accepts words Go's `ParseFloat` also accepts ("inf", "nan") but also some it does not;
/// keep to digits, signs, points and exponents, plus Go's special words.
fn is_go_float_syntax(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    matches!(body, "inf" | "infinity" | "nan")
        || (!body.is_empty() && body.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'+' | b'-')))
}

/// cast's `trimZeroDecimal`: "12.000" → "12".
fn trim_zero_decimal(s: &str) -> &str {
    if let Some((int, frac)) = s.split_once('.')
        && !int.is_empty()
        && !frac.is_empty()
        && frac.bytes().all(|b| b == b'0')
    {
        return int;
    }
    s
}

/// Go's `strconv.ParseInt(s, 0, 64)`: optional sign, then `0x`, `0o`, `0b`, a leading `0` (octal) or decimal.
pub(crate) fn parse_int_base0(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let body = if body.contains('_') {
        // Underscores are allowed only with a base prefix.
        if !body.starts_with('0') || body.len() < 2 {
            return None;
        }
        std::borrow::Cow::Owned(body.replace('_', ""))
    } else {
        std::borrow::Cow::Borrowed(body)
    };
    let lower = body.to_ascii_lowercase();
    let (digits, radix) = if let Some(r) = lower.strip_prefix("0x") {
        (r, 16)
    } else if let Some(r) = lower.strip_prefix("0o") {
        (r, 8)
    } else if let Some(r) = lower.strip_prefix("0b") {
        (r, 2)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (&lower[1..], 8)
    } else {
        (lower.as_str(), 10)
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if neg {
        if magnitude <= i64::MAX as u64 + 1 { Some((magnitude as i64).wrapping_neg()) } else { None }
    } else {
        i64::try_from(magnitude).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let all: Vec<&str> = TABLES.iter().flat_map(|t| t.iter()).map(|f| f.name).collect();
        let unique: BTreeSet<&str> = all.iter().copied().collect();
        assert_eq!(all.len(), unique.len());
    }

    #[test]
    fn cast_rules() {
        assert_eq!(to_int64(&Value::from("0x1f")), 31);
        assert_eq!(to_int64(&Value::from("12.00")), 12);
        assert_eq!(to_int64(&Value::from("12.5")), 0);
        assert_eq!(to_int64(&Value::from("010")), 8);
        assert_eq!(to_int64(&Value::Float(3.9)), 3);
        assert_eq!(to_int64(&Value::Float(1.2345678901234567e19)), i64::MIN);
        assert_eq!(to_int64(&Value::Float(f64::NAN)), i64::MIN);
        assert_eq!(to_int64(&Value::Float(-9.2e18)), -9_200_000_000_000_000_000);
        assert_eq!(to_float64(&Value::from("2.5")), 2.5);
        assert_eq!(to_float64(&Value::from("x")), 0.0);
    }
}
