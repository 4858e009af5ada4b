//! The JSON ESO writes for a Secret's data and metadata, byte for byte.
//!
//! ESO serializes with `esutils.JSONMarshal`: Go's `encoding/json` with HTML escaping off and no trailing newline.
//! Map keys come out sorted; in strings, `"` and `\` are escaped, control characters as `\b \f \n \r \t` or
//! `\u00xx`, U+2028/U+2029 as `\u2028`/`\u2029`, and every byte that is not valid UTF-8 as `\ufffd`. Matching it
//! exactly keeps the whole-secret value (and so the target Secret's data hash) identical to ESO's.

use std::collections::BTreeMap;

/// `{"k":"v",...}` for string-ish values given as raw bytes (Go's `map[string]string` of `string(bytes)`).
pub(crate) fn string_map<'a, V>(entries: impl IntoIterator<Item = (&'a String, V)>) -> Vec<u8>
where
    V: AsRef<[u8]>,
{
    let mut out = Vec::new();
    write_string_map(&mut out, entries);
    out
}

/// `{"annotations":{...}|null,"labels":{...}|null}` (Go's `map[string]map[string]string`, nil maps as `null`).
pub(crate) fn metadata(
    labels: Option<&BTreeMap<String, String>>,
    annotations: Option<&BTreeMap<String, String>>,
) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"{\"annotations\":");
    write_optional_map(&mut out, annotations);
    out.extend_from_slice(b",\"labels\":");
    write_optional_map(&mut out, labels);
    out.push(b'}');
    out
}

fn write_optional_map(out: &mut Vec<u8>, map: Option<&BTreeMap<String, String>>) {
    match map {
        Some(map) => write_string_map(out, map.iter()),
        None => out.extend_from_slice(b"null"),
    }
}

fn write_string_map<'a, V>(out: &mut Vec<u8>, entries: impl IntoIterator<Item = (&'a String, V)>)
where
    V: AsRef<[u8]>,
{
    // Go sorts map keys bytewise; collecting into a BTreeMap<&String, _> gives the same order whatever the input.
    let sorted: BTreeMap<&String, V> = entries.into_iter().collect();
    out.push(b'{');
    for (i, (key, value)) in sorted.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(out, key.as_bytes());
        out.push(b':');
        write_string(out, value.as_ref());
    }
    out.push(b'}');
}

/// A JSON string literal of `bytes`, as Go's encoder (HTML escaping off) writes `string(bytes)`.
fn write_string(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\u{8}' => out.extend_from_slice(b"\\b"),
                '\u{c}' => out.extend_from_slice(b"\\f"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                '\u{2028}' => out.extend_from_slice(b"\\u2028"),
                '\u{2029}' => out.extend_from_slice(b"\\u2029"),
                c if (c as u32) < 0x20 => {
                    let b = c as u8;
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[usize::from(b >> 4)]);
                    out.push(HEX[usize::from(b & 0xf)]);
                }
                c => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        // Go decodes invalid input one byte at a time, each becoming one replacement escape. Rust groups a
        // truncated sequence into one invalid chunk, but its bytes are a lead byte and continuation bytes, none of
        // which can start a valid character: one escape per byte matches Go.
        for _ in chunk.invalid() {
            out.extend_from_slice(b"\\ufffd");
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let owned: Vec<(String, Vec<u8>)> = entries.iter().map(|(k, v)| ((*k).to_string(), v.to_vec())).collect();
        string_map(owned.iter().map(|(k, v)| (k, v)))
    }

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn sorts_keys_and_writes_compact_json() {
        assert_eq!(text(map(&[("b", b"2"), ("a", b"1"), ("B", b"3")])), r#"{"B":"3","a":"1","b":"2"}"#);
        assert_eq!(text(map(&[])), "{}");
    }

    #[test]
    fn escapes_like_go_without_html_escaping() {
        let value = text(map(&[("k", b"<a href=\"x\">&amp;</a>\\")]));
        assert_eq!(value, r#"{"k":"<a href=\"x\">&amp;</a>\\"}"#);
    }

    #[test]
    fn escapes_control_characters_like_go() {
        let value = text(map(&[("k", b"\x08\x0c\n\r\t\x00\x1f\x7f")]));
        assert_eq!(value, "{\"k\":\"\\b\\f\\n\\r\\t\\u0000\\u001f\x7f\"}");
    }

    #[test]
    fn escapes_line_and_paragraph_separators_like_go() {
        let value = text(map(&[("k", "a\u{2028}b\u{2029}c".as_bytes())]));
        assert_eq!(value, r#"{"k":"a\u2028b\u2029c"}"#);
    }

    #[test]
    fn keeps_unicode_and_replaces_each_invalid_byte() {
        assert_eq!(text(map(&[("k", "café 😀".as_bytes())])), "{\"k\":\"café 😀\"}");
        // A truncated 3-byte sequence, a stray continuation byte, and 0xff: one escape per byte, as in Go.
        let value = text(map(&[("bin", b"\xe2\x82a\x80\xff")]));
        assert_eq!(value, r#"{"bin":"\ufffd\ufffda\ufffd\ufffd"}"#);
    }

    #[test]
    fn the_output_is_valid_json_with_the_lossy_strings() {
        let bytes = map(&[("a", b"x\x00\xffy"), ("b", "\u{2028}\"".as_bytes())]);
        let parsed: BTreeMap<String, String> = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(parsed.get("a").map(String::as_str), Some("x\u{0}\u{fffd}y"));
        assert_eq!(parsed.get("b").map(String::as_str), Some("\u{2028}\""));
    }

    #[test]
    fn metadata_writes_null_for_missing_maps() {
        let labels: BTreeMap<String, String> = [("app".to_string(), "db".to_string())].into_iter().collect();
        assert_eq!(text(metadata(Some(&labels), None)), r#"{"annotations":null,"labels":{"app":"db"}}"#);
        assert_eq!(text(metadata(None, Some(&labels))), r#"{"annotations":{"app":"db"},"labels":null}"#);
    }
}
