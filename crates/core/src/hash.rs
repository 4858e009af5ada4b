//! ESO's hashes: the `data-hash` annotation, the `created-by` label and `status.syncedResourceVersion`.
//!
//! ESO hashes with `ObjectHash(x)` = lowercase hex SHA3-224 of Go's `fmt.Sprintf("%+v", x)`. The functions here
//! rebuild that Go text byte for byte, so a Secret written by ESO keeps its hash after migration (and the other way
//! round).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sha3::{Digest, Sha3_224};

/// Lowercase hex SHA3-224 of `text` (ESO's `ObjectHash` once the value has been rendered with `%+v`).
pub fn sha3_224_hex(text: &[u8]) -> String {
    hex::encode(Sha3_224::digest(text))
}

/// The `reconcile.external-secrets.io/data-hash` annotation value for Secret data: SHA3-224 hex of Go's `%+v` of a
/// `map[string][]byte`, e.g. `map[foo:[98 97 114]]`.
///
/// `BTreeMap` iterates keys in bytewise order, which is the order Go's `fmt` prints map keys in.
pub fn data_hash(data: &BTreeMap<String, Vec<u8>>) -> String {
    sha3_224_hex(go_format_byte_map(data).as_bytes())
}

/// Go's `%+v` of a `map[string][]byte`: `map[k1:[1 2 3] k2:[]]`, keys in bytewise order, bytes in decimal.
fn go_format_byte_map(data: &BTreeMap<String, Vec<u8>>) -> String {
    // Each byte takes at most four characters ("255 ").
    let capacity = 5 + data.iter().map(|(k, v)| k.len() + 4 + v.len() * 4).sum::<usize>();
    let mut out = String::with_capacity(capacity);
    out.push_str("map[");
    for (index, (key, bytes)) in data.iter().enumerate() {
        if index > 0 {
            out.push(' ');
        }
        out.push_str(key);
        out.push_str(":[");
        for (byte_index, byte) in bytes.iter().enumerate() {
            if byte_index > 0 {
                out.push(' ');
            }
            // Writing to a String cannot fail.
            let _ = write!(out, "{byte}");
        }
        out.push(']');
    }
    out.push(']');
    out
}

/// Go's `%+v` of a `map[string]string`: `map[k1:v1 k2:v2]`, keys in bytewise order, values unquoted.
fn go_format_string_map(map: &BTreeMap<String, String>) -> String {
    let mut out = String::from("map[");
    for (index, (key, value)) in map.iter().enumerate() {
        if index > 0 {
            out.push(' ');
        }
        out.push_str(key);
        out.push(':');
        out.push_str(value);
    }
    out.push(']');
    out
}

/// ESO's `ObjectHash` of an unstructured value (a generic target's `spec` or `data`): SHA3-224 hex of Go's `%+v`
/// of the value as Kubernetes decodes JSON (integers as `int64`, other numbers as `float64`).
pub fn object_hash(value: &serde_json::Value) -> String {
    sha3_224_hex(go_format_unstructured(value).as_bytes())
}

/// Go's `%+v` of an unstructured value: `map[k:v ...]` with keys in bytewise order, `[a b]` for lists, strings
/// unquoted, `<nil>` for null, integers in decimal and other numbers as Go prints a `float64` (`1.5`, `1e+06`).
pub fn go_format_unstructured(value: &serde_json::Value) -> String {
    let mut out = String::new();
    write_unstructured(&mut out, value);
    out
}

fn write_unstructured(out: &mut String, value: &serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => {
                // Writing to a String cannot fail.
                let _ = write!(out, "{i}");
            }
            (None, Some(f)) => out.push_str(&external_secrets_template::go_format_float(f)),
            (None, None) => out.push_str(&n.to_string()),
        },
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(' ');
                }
                write_unstructured(out, item);
            }
            out.push(']');
        }
        Value::Object(members) => {
            let mut keys: Vec<&String> = members.keys().collect();
            keys.sort();
            out.push_str("map[");
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.push(' ');
                }
                out.push_str(key);
                out.push(':');
                write_unstructured(out, &members[key]);
            }
            out.push(']');
        }
    }
}

/// The `reconcile.external-secrets.io/created-by` label value ESO puts on Secrets it owns: SHA3-224 hex of
/// `"<namespace>/<name>"` of the ExternalSecret (56 characters, a valid label value).
pub fn created_by_label(namespace: &str, name: &str) -> String {
    sha3_224_hex(format!("{namespace}/{name}").as_bytes())
}

/// ESO's `status.syncedResourceVersion`: `"<generation>-<hash>"`, where the hash covers the ExternalSecret's labels
/// and annotations.
///
/// ESO hashes `%+v` of an unexported struct `{annotations map[string]string; labels map[string]string}`, which Go
/// prints as `{annotations:map[k:v …] labels:map[k:v …]}` (a nil map prints as `map[]`). So any label or annotation
/// edit, not only a spec change, yields a new version and forces a sync.
pub fn synced_resource_version(
    generation: i64,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> String {
    format!("{generation}-{}", meta_hash(labels, annotations))
}

/// The hash half of [`synced_resource_version`].
pub fn meta_hash(labels: &BTreeMap<String, String>, annotations: &BTreeMap<String, String>) -> String {
    let text = format!("{{annotations:{} labels:{}}}", go_format_string_map(annotations), go_format_string_map(labels));
    sha3_224_hex(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_map(entries: &[(&str, &[u8])]) -> BTreeMap<String, Vec<u8>> {
        entries.iter().map(|(k, v)| ((*k).to_owned(), v.to_vec())).collect()
    }

    fn string_map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn formats_byte_maps_like_go_percent_plus_v() {
        assert_eq!(go_format_byte_map(&BTreeMap::new()), "map[]");
        assert_eq!(go_format_byte_map(&bytes_map(&[("foo", b"bar")])), "map[foo:[98 97 114]]");
        assert_eq!(go_format_byte_map(&bytes_map(&[("empty", b"")])), "map[empty:[]]");
        assert_eq!(go_format_byte_map(&bytes_map(&[("b", &[0, 255]), ("a", &[10])])), "map[a:[10] b:[0 255]]");
    }

    #[test]
    fn data_hash_matches_the_upstream_single_key_vector() {
        assert_eq!(
            data_hash(&bytes_map(&[("foo", b"bar")])),
            "f2a604b87eb0cf673761e8cfea850f901fe73a3d1b2f338802107f36"
        );
    }

    #[test]
    fn data_hash_matches_the_upstream_two_key_vector() {
        let hash = data_hash(&bytes_map(&[("foo", b"value1"), ("bar", b"value2")]));
        assert!(hash.starts_with("1bed8bcb"), "{hash}");
        assert!(hash.ends_with("2d64"), "{hash}");
        assert_eq!(hash, "1bed8bcbcb4547ffe19a19cd47d9078e84aa6598266d86b99f992d64");
    }

    #[test]
    fn data_hash_of_an_empty_map_hashes_map_brackets() {
        assert_eq!(data_hash(&BTreeMap::new()), sha3_224_hex(b"map[]"));
    }

    #[test]
    fn data_hash_orders_keys_bytewise() {
        // Uppercase sorts before lowercase, as in Go.
        let data = bytes_map(&[("a", b"1"), ("B", b"2")]);
        assert_eq!(data_hash(&data), sha3_224_hex(b"map[B:[50] a:[49]]"));
    }

    /// Expected values: Go's `%+v` and ESO's `ObjectHash`, printed by `hack/tools/object-hash-golden` (Go 1.26,
    /// the documents decoded with int64/float64 numbers as apimachinery decodes unstructured objects).
    #[test]
    fn object_hash_of_unstructured_values_matches_go() {
        let cases = [
            (serde_json::json!({}), "map[]", "74a974446e359fb3e6baff9bd0058950e6edd0f040888d9989b0a11b"),
            (
                serde_json::json!({"key1": "value1", "key2": "value2"}),
                "map[key1:value1 key2:value2]",
                "0cf13e4753b5b20b98510b66c92f3fe461f6a88f24e700794e6b640e",
            ),
            (
                serde_json::json!({"data": {"config": "my-config"}}),
                "map[data:map[config:my-config]]",
                "c5bb795e11d75c241d40df4b26355b079a7c12ed286672551664546e",
            ),
            (
                serde_json::from_str(
                    r#"{"replicas":3,"ratio":1.5,"big":1000000.0,"tiny":0.00001,"on":true,"off":null,"list":["a",2,{"b":"c"}]}"#,
                )
                .expect("json"),
                "map[big:1e+06 list:[a 2 map[b:c]] off:<nil> on:true ratio:1.5 replicas:3 tiny:1e-05]",
                "10a4149abceaed2af446f9815041354e8df5d33eaee436a4c716eddc",
            ),
            (
                serde_json::json!({"B": "upper", "a": "lower", "nested": {"z": 1, "y": []}}),
                "map[B:upper a:lower nested:map[y:[] z:1]]",
                "ea0e32567e67b2135aabfe307e21e1737ca5fd972767bd7a507b6eab",
            ),
        ];
        for (value, text, hash) in cases {
            assert_eq!(go_format_unstructured(&value), text);
            assert_eq!(object_hash(&value), hash, "{text}");
        }
    }

    #[test]
    fn created_by_label_hashes_namespace_slash_name() {
        let label = created_by_label("default", "my-es");
        assert_eq!(label, sha3_224_hex(b"default/my-es"));
        assert_eq!(label.len(), 56);
        assert!(label.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }

    #[test]
    fn sha3_224_of_empty_input_is_the_known_constant() {
        assert_eq!(sha3_224_hex(b""), "6b4e03423667dbb73b6e15454f0eb1abd4597f9a1b078e3f5b5a6bc7");
    }

    #[test]
    fn synced_resource_version_is_generation_dash_meta_hash() {
        let labels = string_map(&[("app", "web"), ("tier", "db")]);
        let annotations = string_map(&[("force-sync", "1")]);
        let version = synced_resource_version(3, &labels, &annotations);
        let expected = sha3_224_hex(b"{annotations:map[force-sync:1] labels:map[app:web tier:db]}");
        assert_eq!(version, format!("3-{expected}"));
    }

    #[test]
    fn synced_resource_version_with_no_metadata_hashes_empty_maps() {
        let version = synced_resource_version(1, &BTreeMap::new(), &BTreeMap::new());
        assert_eq!(version, format!("1-{}", sha3_224_hex(b"{annotations:map[] labels:map[]}")));
    }

    #[test]
    fn any_annotation_change_changes_the_synced_resource_version() {
        let labels = BTreeMap::new();
        let before = synced_resource_version(1, &labels, &string_map(&[("force-sync", "1")]));
        let after = synced_resource_version(1, &labels, &string_map(&[("force-sync", "2")]));
        assert_ne!(before, after);
    }
}
