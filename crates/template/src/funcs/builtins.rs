//! Go's `text/template` builtins: `and`, `or`, `not`, `len`, `index`, `print*`, `html`, `js`, `urlquery` and the
//! comparisons. (`slice` is Sprig's, which replaces Go's in ESO's function map; `call` is not provided.)

use std::fmt::Write as _;

use super::{Call, FResult, FuncDef, FuncKind, fail, fixed, variadic};
use crate::fmt::{eval_args_string, sprint, sprintf, sprintln};
use crate::value::Value;

pub(crate) const FUNCS: &[FuncDef] = &[
    FuncDef { name: "and", min: 1, max: None, kind: FuncKind::And },
    FuncDef { name: "or", min: 1, max: None, kind: FuncKind::Or },
    fixed("not", 1, not),
    fixed("len", 1, len),
    variadic("index", 1, index),
    variadic("print", 0, print),
    variadic("printf", 1, printf),
    variadic("println", 0, println),
    variadic("html", 0, html),
    variadic("js", 0, js),
    variadic("urlquery", 0, urlquery),
    variadic("eq", 1, eq),
    fixed("ne", 2, ne),
    fixed("lt", 2, lt),
    fixed("le", 2, le),
    fixed("gt", 2, gt),
    fixed("ge", 2, ge),
];

fn not(c: &mut Call<'_>) -> FResult {
    Ok(Value::Bool(!c.value(0).is_true()))
}

fn len(c: &mut Call<'_>) -> FResult {
    match c.value(0) {
        Value::String(s) => Ok(Value::Int(s.len() as i64)),
        Value::List(l) => Ok(Value::Int(l.len() as i64)),
        Value::Map(m) => Ok(Value::Int(m.borrow().entries.len() as i64)),
        Value::Nil => Err(fail("len of nil pointer")),
        other => Err(fail(format!("len of type {}", other.type_name()))),
    }
}

fn index(c: &mut Call<'_>) -> FResult {
    let mut item = c.take(0);
    if matches!(item, Value::Nil) {
        return Err(fail("index of untyped nil"));
    }
    for i in 1..c.len() {
        let idx = c.value(i);
        item = match &item {
            Value::Nil => return Err(fail("index of nil pointer")),
            Value::List(l) => {
                let n = list_index(idx, l.len())?;
                l.get(n).cloned().unwrap_or_default()
            }
            Value::String(s) => {
                let n = list_index(idx, s.len())?;
                Value::Int(i64::from(s.as_bytes().get(n).copied().unwrap_or(0)))
            }
            Value::Map(m) => {
                let key = match idx {
                    Value::String(k) => k,
                    Value::Nil => return Err(fail("value is nil; should be of type string")),
                    other => return Err(fail(format!("value has type {}; should be string", other.type_name()))),
                };
                let m = m.borrow();
                match m.entries.get(key.to_str_lossy().as_ref()) {
                    Some(v) => v.clone(),
                    // A missing key gives the zero value of the element type, not an error.
                    None if m.strings_only => Value::from(String::new()),
                    None => Value::Nil,
                }
            }
            other => return Err(fail(format!("can't index item of type {}", other.type_name()))),
        };
    }
    Ok(item)
}

fn list_index(idx: &Value, len: usize) -> Result<usize, super::FuncError> {
    let n = match idx {
        Value::Int(n) => *n,
        Value::Nil => return Err(fail("cannot index slice/array with nil")),
        other => return Err(fail(format!("cannot index slice/array with type {}", other.type_name()))),
    };
    if n < 0 || n as u64 >= len as u64 {
        return Err(fail("index out of range"));
    }
    Ok(n as usize)
}

fn print(c: &mut Call<'_>) -> FResult {
    let s = sprint(&c.args);
    c.check_len(s.len())?;
    Ok(Value::from(s))
}

fn printf(c: &mut Call<'_>) -> FResult {
    let format = c.bytes(0)?;
    let s = sprintf(format, &c.args[1..]);
    c.check_len(s.len())?;
    Ok(Value::from(s))
}

fn println(c: &mut Call<'_>) -> FResult {
    let s = sprintln(&c.args);
    c.check_len(s.len())?;
    Ok(Value::from(s))
}

fn html(c: &mut Call<'_>) -> FResult {
    let s = eval_args_string(&c.args);
    let mut out = String::with_capacity(s.len());
    for ch in s.to_str_lossy().chars() {
        match ch {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    Ok(Value::from(out))
}

fn js(c: &mut Call<'_>) -> FResult {
    let s = eval_args_string(&c.args);
    let mut out = String::with_capacity(s.len());
    for ch in s.to_str_lossy().chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c if !c.is_ascii() && !crate::fmt::is_print(c) => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    Ok(Value::from(out))
}

/// Go's `url.QueryEscape`.
pub(crate) fn query_escape(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            other => {
                let _ = write!(out, "%{other:02X}");
            }
        }
    }
    out
}

fn urlquery(c: &mut Call<'_>) -> FResult {
    Ok(Value::from(query_escape(eval_args_string(&c.args).as_bytes())))
}

const BAD_COMPARISON: &str = "incompatible types for comparison";
const BAD_COMPARISON_TYPE: &str = "invalid type for comparison";

/// Go's "incompatible types" error, naming the two types (as Go 1.26 does).
fn incompatible(a: &Value, b: &Value) -> String {
    format!("{BAD_COMPARISON}: {} and {}", a.type_name(), b.type_name())
}

/// Go's `eq` for two values.
fn eq_values(a: &Value, b: &Value) -> Result<bool, String> {
    Ok(match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Time(x), Value::Time(y)) => x == y,
        (Value::Nil, Value::Nil) => true,
        (Value::Nil, _) | (_, Value::Nil) => false,
        (Value::List(_) | Value::Map(_), Value::List(_) | Value::Map(_)) => {
            return Err("non-comparable type".to_owned());
        }
        _ => return Err(incompatible(a, b)),
    })
}

fn eq(c: &mut Call<'_>) -> FResult {
    if c.len() < 2 {
        return Err(fail("missing argument for comparison"));
    }
    let first = c.value(0);
    for other in &c.args[1..] {
        if eq_values(first, other).map_err(fail)? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn ne(c: &mut Call<'_>) -> FResult {
    Ok(Value::Bool(!eq_values(c.value(0), c.value(1)).map_err(fail)?))
}

/// Go's `lt`.
fn less(a: &Value, b: &Value) -> Result<bool, String> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x < y),
        (Value::Float(x), Value::Float(y)) => Ok(x < y),
        (Value::String(x), Value::String(y)) => Ok(x < y),
        (Value::Bool(_), Value::Bool(_)) => Err(BAD_COMPARISON_TYPE.to_owned()),
        (
            Value::Int(_) | Value::Float(_) | Value::String(_) | Value::Bool(_),
            Value::Int(_) | Value::Float(_) | Value::String(_) | Value::Bool(_),
        ) => Err(incompatible(a, b)),
        _ => Err(BAD_COMPARISON_TYPE.to_owned()),
    }
}

fn lt(c: &mut Call<'_>) -> FResult {
    Ok(Value::Bool(less(c.value(0), c.value(1)).map_err(fail)?))
}

fn le(c: &mut Call<'_>) -> FResult {
    let (a, b) = (c.value(0), c.value(1));
    let lt = less(a, b).map_err(fail)?;
    Ok(Value::Bool(lt || eq_values(a, b).map_err(fail)?))
}

fn gt(c: &mut Call<'_>) -> FResult {
    let (a, b) = (c.value(0), c.value(1));
    let lt = less(a, b).map_err(fail)?;
    Ok(Value::Bool(!(lt || eq_values(a, b).map_err(fail)?)))
}

fn ge(c: &mut Call<'_>) -> FResult {
    Ok(Value::Bool(!less(c.value(0), c.value(1)).map_err(fail)?))
}
