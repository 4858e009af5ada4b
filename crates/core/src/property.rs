//! `remoteRef.property` selection and `dataFrom[].extract` map building, on the raw value a store returned.
//!
//! Two shapes of value (see [`RemoteValue`]):
//!
//! - **Map-like** (`fields` is `Some`, e.g. a Kubernetes Secret's `data`): the property is a field name, looked up
//!   exactly first (so `tls.crt` works); otherwise `<field>.<path>` selects the gjson `path` inside that field's
//!   JSON. This is ESO's Kubernetes provider.
//! - **Document** (`fields` is `None`, e.g. AWS Secrets Manager and Parameter Store): the value is JSON and the
//!   property a gjson path; a property with dots is first tried as a literal key (`a.b`), then as a path. This is
//!   ESO's AWS providers.
//!
//! The selected value is rendered as Go gjson's `Result.String()`: strings unescaped, integers as written, other
//! numbers as the shortest decimal (`1.50` → `1.5`, `1e3` → `1000`), objects and arrays as their raw JSON text,
//! booleans `true`/`false`, `null` as empty.

use std::collections::BTreeMap;

use serde_json::value::RawValue;

use external_secrets_provider::RemoteValue;

/// Selecting a property or extracting a map failed. Messages name keys and properties, never values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PropertyError {
    /// The property is not in the value (ESO's wording; an error, not "secret not found").
    #[error("key {property} does not exist in secret {key}")]
    Missing {
        /// The `remoteRef.property`.
        property: String,
        /// The `remoteRef.key`.
        key: String,
    },
    /// The value is not UTF-8, so it cannot be JSON to select from.
    #[error("cannot select property {property} of secret {key}: the value is not valid UTF-8 JSON")]
    NotUtf8 {
        /// The `remoteRef.property`.
        property: String,
        /// The `remoteRef.key`.
        key: String,
    },
}

/// A value could not be turned into a map for `dataFrom[].extract`. Names no value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// The value is not a JSON object (or not JSON at all).
    #[error("unable to unmarshal secret: the value is not a JSON object")]
    NotJsonObject,
    /// Selecting the property first failed.
    #[error(transparent)]
    Property(#[from] PropertyError),
}

/// The bytes `remoteRef.property` selects from `value` of the remote secret `key` (`key` only names it in errors).
/// An empty property selects the whole value unchanged.
pub fn select_property(value: &RemoteValue, key: &str, property: &str) -> Result<Vec<u8>, PropertyError> {
    if property.is_empty() {
        return Ok(value.bytes.expose().to_vec());
    }
    let missing = || PropertyError::Missing { property: property.to_owned(), key: key.to_owned() };
    match &value.fields {
        Some(fields) => {
            if let Some(field) = fields.get(property) {
                return Ok(field.expose().to_vec());
            }
            // `<field>.<path>`: split at the first dot, which must have text on both sides.
            let (field_name, path) = match property.split_once('.') {
                Some((field, path)) if !field.is_empty() && !path.is_empty() => (field, path),
                _ => return Err(missing()),
            };
            let field = fields.get(field_name).ok_or_else(missing)?;
            let json = std::str::from_utf8(field.expose()).map_err(|_| missing())?;
            select_rendered(json, path).map(String::into_bytes).ok_or_else(missing)
        }
        None => {
            let json = std::str::from_utf8(value.bytes.expose())
                .map_err(|_| PropertyError::NotUtf8 { property: property.to_owned(), key: key.to_owned() })?;
            select_document_path(json, property).map(String::into_bytes).ok_or_else(missing)
        }
    }
}

/// ESO's `escapeDotsIfRequired`: a property with dots is tried as a literal key first (`a.b` → `a\.b`), then as
/// the gjson path it is written as.
fn select_document_path(json: &str, property: &str) -> Option<String> {
    if property.contains('.')
        && let Some(literal) = select_rendered(json, &property.replace('.', "\\."))
    {
        return Some(literal);
    }
    select_rendered(json, property)
}

/// The gjson `path` in `json`, rendered as Go gjson's `Result.String()`; `None` if it does not exist.
fn select_rendered(json: &str, path: &str) -> Option<String> {
    let selected = gjson::get(json, path);
    selected.exists().then(|| gjson_string(&selected))
}

/// Go gjson's `Result.String()`.
///
/// The Rust gjson port returns a number's raw text; Go re-formats non-integers with
/// `strconv.FormatFloat(f, 'f', -1, 64)`, which Rust's `f64` `Display` matches (shortest round-trip digits, never an
/// exponent).
fn gjson_string(value: &gjson::Value<'_>) -> String {
    match value.kind() {
        gjson::Kind::Number => go_number_string(value.json()),
        _ => value.str().to_owned(),
    }
}

fn go_number_string(raw: &str) -> String {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    if digits.bytes().all(|b| b.is_ascii_digit()) {
        return raw.to_owned();
    }
    // Go ignores the parse error and formats whatever ParseFloat returned (0 for garbage, ±Inf out of range).
    let number = raw.parse::<f64>().unwrap_or(0.0);
    if number.is_infinite() {
        return if number > 0.0 { "+Inf".to_owned() } else { "-Inf".to_owned() };
    }
    if number.is_nan() {
        return "NaN".to_owned();
    }
    number.to_string()
}

/// The map `dataFrom[].extract` yields for a value: the fields of a map-like value as they are; for a document,
/// the members of its top-level JSON object, string members unquoted and all others as their raw JSON text (as
/// written in the document: `1.50` stays `1.50`, nested objects keep their spacing). `null` members become empty
/// values and a `null` document an empty map, as Go's `json.Unmarshal` does.
pub fn extract_map(value: &RemoteValue) -> Result<BTreeMap<String, Vec<u8>>, ExtractError> {
    if let Some(fields) = &value.fields {
        return Ok(fields.iter().map(|(k, v)| (k.clone(), v.expose().to_vec())).collect());
    }
    json_object_to_map(value.bytes.expose())
}

/// `dataFrom[].extract` with a `property`: the property is selected first (see [`select_property`]) and its value
/// must then be a JSON object, as in ESO's AWS providers. An empty property is [`extract_map`].
pub fn extract_map_at(
    value: &RemoteValue,
    key: &str,
    property: &str,
) -> Result<BTreeMap<String, Vec<u8>>, ExtractError> {
    if property.is_empty() {
        return extract_map(value);
    }
    json_object_to_map(&select_property(value, key, property)?)
}

/// ESO's `JSONToSecretDataMap`: Go's `json.Unmarshal` into `map[string]json.RawMessage`, strings unquoted.
fn json_object_to_map(bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, ExtractError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ExtractError::NotJsonObject)?;
    // Later duplicates win, as in Go. Parse errors are dropped on purpose: serde_json quotes values in them.
    let members: Option<BTreeMap<String, &RawValue>> =
        serde_json::from_str(text).map_err(|_| ExtractError::NotJsonObject)?;
    Ok(members
        .unwrap_or_default()
        .into_iter()
        .map(|(key, raw)| {
            let raw = raw.get();
            let value = if raw == "null" {
                // Go: unmarshalling null into a string leaves it empty, without error.
                Vec::new()
            } else if raw.starts_with('"') {
                go_unquote(raw).map_or_else(|| raw.as_bytes().to_vec(), String::into_bytes)
            } else {
                raw.as_bytes().to_vec()
            };
            (key, value)
        })
        .collect())
}

/// Unquotes a JSON string literal as Go's `encoding/json` does; invalid surrogate escapes become U+FFFD (Go's
/// choice) rather than an error. `None` if `raw` is not a complete string literal.
fn go_unquote(raw: &str) -> Option<String> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            '"' => out.push('"'),
            '\\' => out.push('\\'),
            '/' => out.push('/'),
            '\'' => out.push('\''),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'u' => {
                let first = read_hex4(&mut chars)?;
                if (0xD800..0xDC00).contains(&first) {
                    // A high surrogate: only a following `\uDC00-\uDFFF` completes it; otherwise Go writes U+FFFD
                    // and leaves the next escape alone.
                    let mut lookahead = chars.clone();
                    if lookahead.next() == Some('\\')
                        && lookahead.next() == Some('u')
                        && let Some(second) = read_hex4(&mut lookahead)
                        && (0xDC00..0xE000).contains(&second)
                    {
                        let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                        out.push(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
                        chars = lookahead;
                        continue;
                    }
                    out.push(char::REPLACEMENT_CHARACTER);
                } else {
                    out.push(char::from_u32(first).unwrap_or(char::REPLACEMENT_CHARACTER));
                }
            }
            _ => return None,
        }
    }
    Some(out)
}

fn read_hex4(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<u32> {
    let mut code = 0u32;
    for _ in 0..4 {
        code = code * 16 + chars.next()?.to_digit(16)?;
    }
    Some(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use external_secrets_provider::SecretBytes;

    fn doc(json: &str) -> RemoteValue {
        RemoteValue::bytes(json)
    }

    fn fields(entries: &[(&str, &[u8])]) -> RemoteValue {
        RemoteValue {
            bytes: SecretBytes::default(),
            fields: Some(entries.iter().map(|(k, v)| ((*k).to_owned(), SecretBytes::new(*v))).collect()),
        }
    }

    fn select(value: &RemoteValue, property: &str) -> Result<String, PropertyError> {
        select_property(value, "my-secret", property).map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    fn ok(s: &str) -> Result<String, PropertyError> {
        Ok(s.to_owned())
    }

    fn missing(property: &str) -> Result<String, PropertyError> {
        Err(PropertyError::Missing { property: property.to_owned(), key: "my-secret".to_owned() })
    }

    #[test]
    fn empty_property_selects_the_whole_value() {
        assert_eq!(select(&doc("not json at all"), ""), ok("not json at all"));
        let binary = RemoteValue::bytes(vec![0xff, 0x00]);
        assert_eq!(select_property(&binary, "k", ""), Ok(vec![0xff, 0x00]));
    }

    #[test]
    fn selects_top_level_string_members_unescaped() {
        let value = doc(r#"{"username":"admin","password":"p\"a\\ss\nword","uni":"caf\u00e9 \ud83d\ude00"}"#);
        assert_eq!(select(&value, "username"), ok("admin"));
        assert_eq!(select(&value, "password"), ok("p\"a\\ss\nword"));
        assert_eq!(select(&value, "uni"), ok("café 😀"));
    }

    #[test]
    fn selects_raw_unicode_text() {
        let value = doc(r#"{"ключ":"значение","emoji":"😀"}"#);
        assert_eq!(select(&value, "ключ"), ok("значение"));
        assert_eq!(select(&value, "emoji"), ok("😀"));
    }

    #[test]
    fn a_dotted_property_prefers_the_literal_key() {
        let value = doc(r#"{"a.b":"literal","a":{"b":"nested"}}"#);
        assert_eq!(select(&value, "a.b"), ok("literal"));
    }

    #[test]
    fn a_dotted_property_falls_back_to_a_path() {
        let value = doc(r#"{"a":{"b":"nested","c":{"d":"deep"}}}"#);
        assert_eq!(select(&value, "a.b"), ok("nested"));
        assert_eq!(select(&value, "a.c.d"), ok("deep"));
    }

    #[test]
    fn selects_array_elements_and_counts() {
        let value = doc(r#"{"arr":["x","y",3],"objs":[{"n":"first"},{"n":"second"}]}"#);
        assert_eq!(select(&value, "arr.0"), ok("x"));
        assert_eq!(select(&value, "arr.2"), ok("3"));
        assert_eq!(select(&value, "arr.#"), ok("3"));
        assert_eq!(select(&value, "objs.1.n"), ok("second"));
        assert_eq!(select(&value, "objs.#.n"), ok(r#"["first","second"]"#));
        assert_eq!(select(&value, "arr.5"), missing("arr.5"));
    }

    #[test]
    fn renders_integers_as_written() {
        let value = doc(r#"{"port":5432,"neg":-17,"zero":0,"big":123456789012345678901234567890}"#);
        assert_eq!(select(&value, "port"), ok("5432"));
        assert_eq!(select(&value, "neg"), ok("-17"));
        assert_eq!(select(&value, "zero"), ok("0"));
        // Beyond f64 precision, still exactly as written (Go returns Raw for integers).
        assert_eq!(select(&value, "big"), ok("123456789012345678901234567890"));
    }

    #[test]
    fn renders_other_numbers_as_the_shortest_decimal() {
        let value = doc(
            r#"{"f":1.5,"trail":1.50,"whole":2.0,"exp":1e3,"negexp":1.5E-7,"bigexp":1e21,"pi":3.141592653589793,"tenth":0.1,"negzero":-0.0,"huge":1e400}"#,
        );
        assert_eq!(select(&value, "f"), ok("1.5"));
        assert_eq!(select(&value, "trail"), ok("1.5"));
        assert_eq!(select(&value, "whole"), ok("2"));
        assert_eq!(select(&value, "exp"), ok("1000"));
        assert_eq!(select(&value, "negexp"), ok("0.00000015"));
        assert_eq!(select(&value, "bigexp"), ok("1000000000000000000000"));
        assert_eq!(select(&value, "pi"), ok("3.141592653589793"));
        assert_eq!(select(&value, "tenth"), ok("0.1"));
        assert_eq!(select(&value, "negzero"), ok("-0"));
        assert_eq!(select(&value, "huge"), ok("+Inf"));
    }

    #[test]
    fn renders_objects_and_arrays_as_raw_json() {
        let value = doc(r#"{"obj": {"b" : 1,  "a":[1, 2]}, "arr":[ 1 ,"two" ]}"#);
        assert_eq!(select(&value, "obj"), ok(r#"{"b" : 1,  "a":[1, 2]}"#));
        assert_eq!(select(&value, "arr"), ok(r#"[ 1 ,"two" ]"#));
        assert_eq!(select(&value, "obj.a"), ok("[1, 2]"));
    }

    #[test]
    fn renders_booleans_and_null() {
        let value = doc(r#"{"yes":true,"no":false,"nothing":null}"#);
        assert_eq!(select(&value, "yes"), ok("true"));
        assert_eq!(select(&value, "no"), ok("false"));
        assert_eq!(select(&value, "nothing"), ok(""));
    }

    #[test]
    fn missing_properties_name_property_and_key_not_values() {
        let value = doc(r#"{"password":"hunter2"}"#);
        let err = select_property(&value, "db/creds", "username");
        assert_eq!(err, Err(PropertyError::Missing { property: "username".to_owned(), key: "db/creds".to_owned() }));
        let message = err.map_err(|e| e.to_string()).err().unwrap_or_default();
        assert_eq!(message, "key username does not exist in secret db/creds");
        assert!(!message.contains("hunter2"));
    }

    #[test]
    fn non_json_values_have_no_properties() {
        assert_eq!(select(&doc("just a plain string"), "field"), missing("field"));
        assert_eq!(select(&doc(""), "field"), missing("field"));
        assert_eq!(select(&doc("\"a string\""), "field"), missing("field"));
    }

    #[test]
    fn binary_values_are_an_error() {
        let binary = RemoteValue::bytes(vec![0xff, 0xfe, 0x00, 0x80]);
        assert_eq!(
            select_property(&binary, "bin", "field"),
            Err(PropertyError::NotUtf8 { property: "field".to_owned(), key: "bin".to_owned() })
        );
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        let documents = [
            "",
            "{",
            "}",
            "[",
            "{\"a\":",
            "{\"a\":\"",
            "{\"a\":\"\\u12",
            "{\"a\":[1,2",
            "nul",
            "tru",
            "-",
            "\"",
            "{\"a\":{\"b\":{\"c\":",
            "{\"é\":\"\\ud800\"}",
            "[[[[[[",
            "{\"a\":1e}",
            "\\",
            "{\"a\\",
            "😀",
        ];
        let paths = [
            "a", "a.b", "a.#", "#", "a.0", "..", ".", "a\\", "*", "a?", "#(b==1)", "@reverse", "a|b", "[a,b]", "{a}",
            "é", "a.b.c.d", "0",
        ];
        for document in documents {
            for path in paths {
                let _ = select_property(&doc(document), "k", path);
            }
        }
    }

    #[test]
    fn map_fields_are_selected_exactly_first() {
        let value = fields(&[("tls.crt", b"CERT"), ("tls", br#"{"crt":"nested"}"#), ("bin", &[0, 0xff])]);
        assert_eq!(select(&value, "tls.crt"), ok("CERT"));
        assert_eq!(select_property(&value, "k", "bin"), Ok(vec![0, 0xff]));
    }

    #[test]
    fn map_fields_fall_back_to_a_path_inside_the_field() {
        let value = fields(&[("config", br#"{"db":{"user":"admin","port":5432,"ratio":2.50}}"#)]);
        assert_eq!(select(&value, "config.db.user"), ok("admin"));
        assert_eq!(select(&value, "config.db.port"), ok("5432"));
        assert_eq!(select(&value, "config.db.ratio"), ok("2.5"));
        assert_eq!(select(&value, "config.db"), ok(r#"{"user":"admin","port":5432,"ratio":2.50}"#));
        assert_eq!(select(&value, "config.nope"), missing("config.nope"));
    }

    #[test]
    fn map_fields_need_text_on_both_sides_of_the_dot() {
        let value = fields(&[("config", br#"{"a":"b"}"#)]);
        assert_eq!(select(&value, ".config"), missing(".config"));
        assert_eq!(select(&value, "config."), missing("config."));
        assert_eq!(select(&value, "other.a"), missing("other.a"));
        assert_eq!(select(&value, "nodot"), missing("nodot"));
    }

    #[test]
    fn map_fields_with_binary_content_have_no_paths() {
        let value = fields(&[("bin", &[0xff, 0xfe])]);
        assert_eq!(select(&value, "bin.x"), missing("bin.x"));
    }

    fn map(entries: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        entries.iter().map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec())).collect()
    }

    #[test]
    fn extract_unquotes_strings_and_keeps_raw_json_for_the_rest() {
        let value = doc(
            r#"{"user":"admin","esc":"a\"b\u00e9","port":5432,"ratio":1.50,"on":true,"obj":{"x": 1, "y":[1,2]},"arr":[ "a" ],"none":null}"#,
        );
        assert_eq!(
            extract_map(&value),
            Ok(map(&[
                ("user", "admin"),
                ("esc", "a\"bé"),
                ("port", "5432"),
                ("ratio", "1.50"),
                ("on", "true"),
                ("obj", r#"{"x": 1, "y":[1,2]}"#),
                ("arr", r#"[ "a" ]"#),
                ("none", ""),
            ]))
        );
    }

    #[test]
    fn extract_of_map_fields_returns_them() {
        let value = fields(&[("a", b"1"), ("b", &[0, 0xff])]);
        let expected: BTreeMap<String, Vec<u8>> =
            [("a".to_owned(), b"1".to_vec()), ("b".to_owned(), vec![0, 0xff])].into_iter().collect();
        assert_eq!(extract_map(&value), Ok(expected));
    }

    #[test]
    fn extract_needs_a_json_object() {
        for not_object in ["[1,2]", "\"s\"", "42", "plain text", "", "{\"a\":}", "{\"a\":1", "{\"a\":1}x"] {
            assert_eq!(extract_map(&doc(not_object)), Err(ExtractError::NotJsonObject), "{not_object}");
        }
        assert_eq!(extract_map(&RemoteValue::bytes(vec![0xff])), Err(ExtractError::NotJsonObject));
    }

    #[test]
    fn extract_of_null_is_empty_like_go() {
        assert_eq!(extract_map(&doc("null")), Ok(BTreeMap::new()));
        assert_eq!(extract_map(&doc(" {} ")), Ok(BTreeMap::new()));
    }

    #[test]
    fn extract_keeps_the_last_duplicate_like_go() {
        assert_eq!(extract_map(&doc(r#"{"a":"1","a":"2"}"#)), Ok(map(&[("a", "2")])));
    }

    #[test]
    fn extract_errors_never_quote_the_value() {
        let err = extract_map(&doc(r#"["hunter2"]"#)).map_err(|e| e.to_string());
        let message = err.err().unwrap_or_default();
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn extract_with_a_property_selects_first() {
        let value = doc(r#"{"db":{"user":"admin","port":5432},"plain":"text"}"#);
        assert_eq!(extract_map_at(&value, "k", "db"), Ok(map(&[("user", "admin"), ("port", "5432")])));
        assert_eq!(extract_map_at(&value, "k", ""), extract_map(&value));
        assert_eq!(extract_map_at(&value, "k", "plain"), Err(ExtractError::NotJsonObject));
        assert_eq!(
            extract_map_at(&value, "k", "nope"),
            Err(ExtractError::Property(PropertyError::Missing { property: "nope".to_owned(), key: "k".to_owned() }))
        );
    }

    #[test]
    fn unquote_follows_go_for_surrogates() {
        assert_eq!(go_unquote(r#""\ud83d\ude00""#).as_deref(), Some("😀"));
        assert_eq!(go_unquote(r#""\ud800""#).as_deref(), Some("\u{fffd}"));
        assert_eq!(go_unquote(r#""\ud800\u0041""#).as_deref(), Some("\u{fffd}A"));
        assert_eq!(go_unquote(r#""\udc00x""#).as_deref(), Some("\u{fffd}x"));
        assert_eq!(go_unquote(r#""tab\tslash\/""#).as_deref(), Some("tab\tslash/"));
        assert_eq!(go_unquote(r#""bad\q""#), None);
        assert_eq!(go_unquote("no quotes"), None);
    }
}
