//! JSON and YAML as Go templates see them: Go's `encoding/json` output (sorted keys, HTML escaping, Go's float
//! format) and decoding where every number becomes a `float64`; `sigs.k8s.io/yaml` for YAML (YAML is converted
//! through JSON, so YAML numbers also become `float64`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::fmt::format_float;
use crate::gotime;
use crate::value::{MAX_VALUE_DEPTH, Value};

/// Why a value cannot be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EncodeError {
    /// NaN or an infinity (Go: "json: unsupported value").
    UnsupportedFloat,
    /// Nested deeper than [`MAX_VALUE_DEPTH`].
    TooDeep,
}

impl EncodeError {
    pub fn message(self) -> &'static str {
        match self {
            EncodeError::UnsupportedFloat => "json: unsupported value: float is NaN or infinite",
            EncodeError::TooDeep => "json: value nested too deeply",
        }
    }
}

/// Encodes as Go's `json.Marshal` (`escape_html`) or a `json.Encoder` with `SetEscapeHTML(false)`, optionally
/// indented as `json.MarshalIndent(v, "", indent)`.
pub(crate) fn encode(v: &Value, escape_html: bool, indent: Option<&str>) -> Result<String, EncodeError> {
    let mut out = String::new();
    encode_into(&mut out, v, escape_html, indent, 0)?;
    Ok(out)
}

fn newline(out: &mut String, indent: Option<&str>, depth: usize) {
    if let Some(ind) = indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(ind);
        }
    }
}

fn encode_into(
    out: &mut String,
    v: &Value,
    escape_html: bool,
    indent: Option<&str>,
    depth: usize,
) -> Result<(), EncodeError> {
    if depth > MAX_VALUE_DEPTH {
        return Err(EncodeError::TooDeep);
    }
    match v {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => out.push_str(&json_float(*f)?),
        Value::String(s) => quote_bytes(out, s.as_bytes(), escape_html),
        Value::Time(t) => quote(out, &gotime::rfc3339_nano(t), escape_html),
        Value::List(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                encode_into(out, item, escape_html, indent, depth + 1)?;
            }
            newline(out, indent, depth);
            out.push(']');
        }
        Value::Map(m) => {
            let m = m.try_borrow().map_err(|_| EncodeError::TooDeep)?;
            if m.entries.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, (k, v)) in m.entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                quote(out, k, escape_html);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                encode_into(out, v, escape_html, indent, depth + 1)?;
            }
            newline(out, indent, depth);
            out.push('}');
        }
    }
    Ok(())
}

/// Go's float encoding: `f` format, exponent form below 1e-6 and from 1e21, and `e-07` cleaned to `e-7`.
fn json_float(f: f64) -> Result<String, EncodeError> {
    if !f.is_finite() {
        return Err(EncodeError::UnsupportedFloat);
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let mut s = format_float(f, 'e', -1);
        // Go cleans "e-09" to "e-9" (and "e+21" stays).
        if let Some(idx) = s.find("e-0") {
            s.remove(idx + 2);
        }
        return Ok(s);
    }
    Ok(format_float(f, 'f', -1))
}

/// Go's string encoding over bytes: each invalid UTF-8 byte is written as the escape `\ufffd`.
fn quote_bytes(out: &mut String, s: &[u8], escape_html: bool) {
    out.push('"');
    for chunk in s.utf8_chunks() {
        quote_chars(out, chunk.valid(), escape_html);
        for _ in chunk.invalid() {
            out.push_str("\\ufffd");
        }
    }
    out.push('"');
}

fn quote(out: &mut String, s: &str, escape_html: bool) {
    out.push('"');
    quote_chars(out, s, escape_html);
    out.push('"');
}

fn quote_chars(out: &mut String, s: &str, escape_html: bool) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' if escape_html => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// Decodes JSON as Go's `json.Unmarshal` into an `interface{}`: numbers become `float64`. The error says where,
/// never what.
pub(crate) fn decode(s: &str) -> Result<Value, String> {
    let parsed: serde_json::Value = serde_json::from_str(s).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Eof => "unexpected end of JSON input",
            serde_json::error::Category::Syntax => "invalid character",
            serde_json::error::Category::Data => "invalid value",
            serde_json::error::Category::Io => "read error",
        };
        format!("{what} at line {} column {}", e.line(), e.column())
    })?;
    Ok(from_json_value(parsed))
}

fn from_json_value(v: serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Value::from(s),
        serde_json::Value::Array(items) => Value::list(items.into_iter().map(from_json_value).collect()),
        serde_json::Value::Object(map) => {
            Value::map(map.into_iter().map(|(k, v)| (k, from_json_value(v))).collect::<BTreeMap<_, _>>())
        }
    }
}

/// ESO's `fromYaml`: the first YAML document as a `map[string]interface{}`; on error, a map with the error text
/// under the key `Error` (the error text never holds document content beyond a position).
pub(crate) fn from_yaml(s: &str) -> Value {
    let mut entries = BTreeMap::new();
    match yaml_document(s) {
        Ok(Value::Map(m)) => return Value::Map(m),
        Ok(Value::Nil) => {}
        Ok(other) => {
            let what = match other {
                Value::List(_) => "array",
                Value::String(_) => "string",
                Value::Bool(_) => "bool",
                _ => "number",
            };
            entries.insert(
                "Error".to_owned(),
                Value::from(format!(
                    "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {what} into Go value of type map[string]interface {{}}"
                )),
            );
        }
        Err(message) => {
            entries.insert("Error".to_owned(), Value::from(message));
        }
    }
    Value::map(entries)
}

fn yaml_document(s: &str) -> Result<Value, String> {
    use serde::Deserialize as _;
    let Some(document) = serde_yaml::Deserializer::from_str(s).next() else {
        return Ok(Value::Nil);
    };
    let mut parsed = serde_yaml::Value::deserialize(document).map_err(|e| {
        let line = e.location().map(|l| l.line()).unwrap_or(0);
        format!("error converting YAML to JSON: yaml: line {line}: could not parse the document")
    })?;
    parsed.apply_merge().map_err(|_| "error converting YAML to JSON: yaml: invalid merge key".to_owned())?;
    from_yaml_value(parsed, 0)
        .ok_or_else(|| "error converting YAML to JSON: yaml: document nested too deeply".to_owned())
}

fn yaml_key(k: serde_yaml::Value) -> String {
    match k {
        serde_yaml::Value::String(s) => s,
        serde_yaml::Value::Bool(b) => b.to_string(),
        serde_yaml::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.to_string()
            } else if let Some(u) = n.as_u64() {
                u.to_string()
            } else {
                format_float(n.as_f64().unwrap_or(0.0), 'g', -1)
            }
        }
        serde_yaml::Value::Null => "null".to_owned(),
        serde_yaml::Value::Tagged(t) => yaml_key(t.value),
        other => {
            let mut s = serde_yaml::to_string(&other).unwrap_or_default();
            while s.ends_with('\n') {
                s.pop();
            }
            s
        }
    }
}

fn from_yaml_value(v: serde_yaml::Value, depth: usize) -> Option<Value> {
    if depth > MAX_VALUE_DEPTH {
        return None;
    }
    Some(match v {
        serde_yaml::Value::Null => Value::Nil,
        serde_yaml::Value::Bool(b) => Value::Bool(b),
        serde_yaml::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
        serde_yaml::Value::String(s) => Value::from(s),
        serde_yaml::Value::Sequence(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(from_yaml_value(item, depth + 1)?);
            }
            Value::list(out)
        }
        serde_yaml::Value::Mapping(map) => {
            let mut entries = BTreeMap::new();
            for (k, v) in map {
                entries.insert(yaml_key(k), from_yaml_value(v, depth + 1)?);
            }
            Value::map(entries)
        }
        serde_yaml::Value::Tagged(t) => from_yaml_value(t.value, depth + 1)?,
    })
}

/// ESO's `toYaml`: the value marshalled through JSON to YAML, without the trailing newline; `""` on error.
pub(crate) fn to_yaml(v: &Value) -> String {
    let Some(yaml) = to_yaml_value(v, 0) else { return String::new() };
    match serde_yaml::to_string(&yaml) {
        Ok(mut s) => {
            if s.ends_with('\n') {
                s.pop();
            }
            s
        }
        Err(_) => String::new(),
    }
}

fn to_yaml_value(v: &Value, depth: usize) -> Option<serde_yaml::Value> {
    if depth > MAX_VALUE_DEPTH {
        return None;
    }
    Some(match v {
        Value::Nil => serde_yaml::Value::Null,
        Value::Bool(b) => serde_yaml::Value::Bool(*b),
        Value::Int(i) => serde_yaml::Value::Number((*i).into()),
        Value::Float(f) => {
            if !f.is_finite() {
                return None;
            }
            // Through JSON, an integral float is written without a fraction and read back as an integer.
            if f.fract() == 0.0 && f.abs() < 1e21 {
                if let Ok(i) = format_float(*f, 'f', -1).parse::<i64>() {
                    serde_yaml::Value::Number(i.into())
                } else {
                    serde_yaml::Value::Number((*f).into())
                }
            } else {
                serde_yaml::Value::Number((*f).into())
            }
        }
        // ESO's toYaml goes through JSON, which writes invalid UTF-8 as U+FFFD.
        Value::String(s) => serde_yaml::Value::String(s.to_str_lossy().into_owned()),
        Value::Time(t) => serde_yaml::Value::String(gotime::rfc3339_nano(t)),
        Value::List(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items.iter() {
                out.push(to_yaml_value(item, depth + 1)?);
            }
            serde_yaml::Value::Sequence(out)
        }
        Value::Map(m) => {
            let m = m.try_borrow().ok()?;
            let mut out = serde_yaml::Mapping::new();
            for (k, v) in &m.entries {
                out.insert(serde_yaml::Value::String(k.clone()), to_yaml_value(v, depth + 1)?);
            }
            serde_yaml::Value::Mapping(out)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_go() {
        let v = decode(r#"{"b":[1,2.5,"<x>"],"a":null,"c":1e21,"d":0.0000001}"#);
        let Ok(v) = v else { unreachable!("valid json") };
        assert_eq!(
            encode(&v, true, None),
            Ok(r#"{"a":null,"b":[1,2.5,"\u003cx\u003e"],"c":1e+21,"d":1e-7}"#.to_owned())
        );
        assert_eq!(encode(&v, false, None), Ok(r#"{"a":null,"b":[1,2.5,"<x>"],"c":1e+21,"d":1e-7}"#.to_owned()));
        assert_eq!(
            encode(&decode(r#"{"a":[1],"b":{}}"#).unwrap_or_default(), true, Some("  ")),
            Ok("{\n  \"a\": [\n    1\n  ],\n  \"b\": {}\n}".to_owned())
        );
    }

    #[test]
    fn decode_errors_do_not_echo_input() {
        let err = decode("{\"secret-value\" x}").err().unwrap_or_default();
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn yaml_round_trip() {
        let v = from_yaml("a: 1\nb: [x, y]\n");
        assert_eq!(to_yaml(&v), "a: 1\nb:\n- x\n- y");
        let bad = from_yaml("- 1\n- 2\n");
        let Value::Map(m) = bad else { unreachable!("map") };
        assert!(m.borrow().entries.contains_key("Error"));
    }
}
