//! `result.jsonPath` as ESO evaluates it (PaesslerAG/jsonpath's `Get`), and ESO's conversions of what it selects
//! into secret bytes. Pure.
//!
//! PaesslerAG answers a *definite* path (names and indexes only, e.g. `$.data.token`, `$.items[0]`) with the one
//! value, and an error when it is not there; any other path (wildcards, slices, filters, `..`, unions) with the
//! array of every match, possibly empty. Paths are parsed and matched here by RFC 9535 (`jsonpath-rust`), which
//! agrees with PaesslerAG on the common forms; the singular/array shape of the answer is PaesslerAG's.

use std::collections::BTreeMap;

use jsonpath_rust::JsonPath;
use jsonpath_rust::parser::model::{Segment, Selector};
use jsonpath_rust::parser::parse_json_path;
use serde_json::Value;

/// Why a path selected nothing usable. Messages name the path, never a value of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// The path does not parse.
    Invalid { path: String },
    /// A definite path that is not in the answer.
    NotFound { path: String },
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathError::Invalid { path } => write!(f, "result.jsonPath {path:?} is not a valid JSONPath"),
            PathError::NotFound { path } => write!(f, "result.jsonPath {path:?} selects nothing in the answer"),
        }
    }
}

/// The value `path` selects in `document`: one value for a definite path, an array of every match otherwise.
pub fn get(path: &str, document: &Value) -> Result<Value, PathError> {
    let parsed = parse_json_path(path).map_err(|_| PathError::Invalid { path: path.to_string() })?;
    let definite = parsed
        .segments
        .iter()
        .all(|segment| matches!(segment, Segment::Selector(Selector::Name(_) | Selector::Index(_))));
    let found = document.query(path).map_err(|_| PathError::Invalid { path: path.to_string() })?;
    if definite {
        found.first().map(|v| (*v).clone()).ok_or_else(|| PathError::NotFound { path: path.to_string() })
    } else {
        Ok(Value::Array(found.into_iter().cloned().collect()))
    }
}

/// ESO's `extractSecretData` (one value for `data[]`): strings as they are, booleans `true`/`false`, `null`
/// empty, numbers rounded to an integer (Go's `FormatFloat(v, 'f', 0, 64)`), objects as JSON, and of an array its
/// first element (ESO keeps this for backwards compatibility). `None` for an empty array.
pub fn single_value(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::String(s) => Some(s.clone().into_bytes()),
        Value::Bool(b) => Some(b.to_string().into_bytes()),
        Value::Null => Some(Vec::new()),
        Value::Number(n) => Some(format!("{:.0}", n.as_f64().unwrap_or_default()).into_bytes()),
        Value::Array(items) => items.first().and_then(single_value),
        Value::Object(_) => Some(value.to_string().into_bytes()),
    }
}

/// ESO's `GetByteValue` (each value of a map): strings as they are, numbers in full (`FormatFloat(v, 'f', -1)`),
/// booleans, `null` empty, arrays and objects as JSON.
pub fn map_value(value: &Value) -> Vec<u8> {
    match value {
        Value::String(s) => s.clone().into_bytes(),
        Value::Bool(b) => b.to_string().into_bytes(),
        Value::Null => Vec::new(),
        Value::Number(n) => format_float_full(n),
        Value::Array(_) | Value::Object(_) => value.to_string().into_bytes(),
    }
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`: the shortest decimal that reads back, never an exponent.
fn format_float_full(n: &serde_json::Number) -> Vec<u8> {
    if n.is_i64() || n.is_u64() {
        return n.to_string().into_bytes();
    }
    // Rust's `Display` of f64 is the shortest round-trip decimal without an exponent, as Go's 'f' with -1.
    format!("{}", n.as_f64().unwrap_or_default()).into_bytes()
}

/// Why an answer is not a map of secret values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapError {
    /// A string that should hold a JSON document did not.
    NotJson,
    /// Not a JSON object (names the JSON type).
    NotAnObject(&'static str),
}

/// ESO's webhook `GetSecretMap` after the path: a string is parsed as JSON again, and the result must be an
/// object, whose values become bytes by [`map_value`].
pub fn secret_map(selected: Value) -> Result<BTreeMap<String, Vec<u8>>, MapError> {
    let selected = match selected {
        Value::String(text) => serde_json::from_str(&text).map_err(|_| MapError::NotJson)?,
        other => other,
    };
    match selected {
        Value::Object(map) => Ok(map.iter().map(|(k, v)| (k.clone(), map_value(v))).collect()),
        other => Err(MapError::NotAnObject(json_type(&other))),
    }
}

/// The JSON type of `value`, for messages.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_definite_path_gives_the_value_and_an_error_when_missing() {
        let doc = json!({"data": {"token": "t0k", "n": 3}, "items": [{"v": "a"}, {"v": "b"}]});
        assert_eq!(get("$.data.token", &doc).unwrap(), json!("t0k"));
        assert_eq!(get("$.items[1].v", &doc).unwrap(), json!("b"));
        assert_eq!(get("$['data']['n']", &doc).unwrap(), json!(3));
        assert_eq!(get("$.data", &doc).unwrap(), json!({"token": "t0k", "n": 3}));
        assert_eq!(get("$.data.nope", &doc), Err(PathError::NotFound { path: "$.data.nope".into() }));
        assert_eq!(get("$.items[7]", &doc), Err(PathError::NotFound { path: "$.items[7]".into() }));
    }

    #[test]
    fn other_paths_give_every_match_as_an_array() {
        let doc = json!({"items": [{"v": "a", "k": 1}, {"v": "b", "k": 2}]});
        assert_eq!(get("$.items[*].v", &doc).unwrap(), json!(["a", "b"]));
        assert_eq!(get("$..v", &doc).unwrap(), json!(["a", "b"]));
        assert_eq!(get("$.items[?@.k == 2].v", &doc).unwrap(), json!(["b"]));
        assert_eq!(get(r#"$.items[?(@.v == "a")].k"#, &doc).unwrap(), json!([1]), "PaesslerAG's filter spelling");
        assert_eq!(get("$.items[-1].v", &doc).unwrap(), json!("b"));
        assert_eq!(get("$.items[0:1]", &doc).unwrap(), json!([{"v": "a", "k": 1}]));
        assert_eq!(get("$.items[*].nope", &doc).unwrap(), json!([]));
        assert!(matches!(get("$.items[", &doc), Err(PathError::Invalid { .. })));
    }

    #[test]
    fn single_values_follow_eso_extract_secret_data() {
        assert_eq!(single_value(&json!("s")).unwrap(), b"s");
        assert_eq!(single_value(&json!(true)).unwrap(), b"true");
        assert_eq!(single_value(&json!(null)).unwrap(), b"");
        assert_eq!(single_value(&json!(42)).unwrap(), b"42");
        assert_eq!(single_value(&json!(1.4)).unwrap(), b"1", "ESO formats numbers with no decimals");
        assert_eq!(single_value(&json!(["first", "second"])).unwrap(), b"first");
        assert_eq!(single_value(&json!([])), None);
        assert_eq!(single_value(&json!({"a": 1})).unwrap(), br#"{"a":1}"#);
    }

    #[test]
    fn maps_follow_eso_get_byte_value_and_parse_strings_again() {
        let map = secret_map(json!({"s": "v", "n": 1.5, "i": 7, "b": false, "z": null, "o": {"x": [1]}})).unwrap();
        assert_eq!(map["s"], b"v");
        assert_eq!(map["n"], b"1.5");
        assert_eq!(map["i"], b"7");
        assert_eq!(map["b"], b"false");
        assert_eq!(map["z"], b"");
        assert_eq!(map["o"], br#"{"x":[1]}"#);
        assert_eq!(secret_map(json!(r#"{"k": "v"}"#)).unwrap()["k"], b"v");
        assert_eq!(secret_map(json!("not json")), Err(MapError::NotJson));
        assert_eq!(secret_map(json!([1])), Err(MapError::NotAnObject("array")));
    }
}
