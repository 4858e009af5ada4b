//! Keeping secret values out of messages built from text we do not control: the apiserver's refusal of an object
//! we rendered (it quotes invalid label values, annotation and data keys), a template's `fail` text.
//!
//! A value is looked for as it is and in the two quoted forms messages use: Go's `%q` / Rust's `{:?}` (the
//! apiserver's `Invalid value: "..."`) and JSON's. Values shorter than [`MIN_LEN`] are left alone: they would hide
//! ordinary words of the message and say little about a secret.

use std::borrow::Cow;

use serde_json::Value;

/// What a redacted value is replaced with.
pub const NOT_SHOWN: &str = "(value not shown)";

/// The shortest value looked for.
pub const MIN_LEN: usize = 3;

/// `value` in the forms a message may quote it in (as is first; duplicates left out).
fn forms(value: &str) -> Vec<String> {
    let debug = format!("{value:?}");
    let json = serde_json::to_string(value).unwrap_or_default();
    let mut out = vec![value.to_owned()];
    for quoted in [&debug, &json] {
        let inner = &quoted[1..quoted.len().saturating_sub(1).max(1)];
        if !out.iter().any(|o| o == inner) {
            out.push(inner.to_owned());
        }
    }
    out
}

/// Whether `message` quotes one of `values` (in any form).
pub fn quotes_any<S: AsRef<str>>(message: &str, values: &[S]) -> bool {
    values
        .iter()
        .map(AsRef::as_ref)
        .filter(|v| v.chars().count() >= MIN_LEN)
        .any(|v| forms(v).iter().any(|f| message.contains(f.as_str())))
}

/// `message` with every occurrence of each of `values` (in any form) replaced by [`NOT_SHOWN`]; longer values
/// first, so that a value containing another is replaced whole.
pub fn redact<'m, S: AsRef<str>>(message: &'m str, values: &[S]) -> Cow<'m, str> {
    if !quotes_any(message, values) {
        return Cow::Borrowed(message);
    }
    let mut all: Vec<String> =
        values.iter().map(AsRef::as_ref).filter(|v| v.chars().count() >= MIN_LEN).flat_map(forms).collect();
    all.sort_by_key(|f| std::cmp::Reverse(f.len()));
    let mut out = message.to_owned();
    for form in all {
        if out.contains(&form) {
            out = out.replace(&form, NOT_SHOWN);
        }
    }
    Cow::Owned(out)
}

/// What we rendered into an object we are about to write, which an apiserver message about it could quote.
#[derive(Debug, Default)]
pub struct Rendered {
    /// Every string or number value outside `metadata`, the values of `metadata.labels` and
    /// `metadata.annotations` (templates render them from secret data) and, for a Secret, the decoded `data`
    /// values. Redacted wherever they appear.
    pub values: Vec<String>,
    /// The keys of those maps (`templateFrom` renders keys from data too). Redacted where a message quotes them
    /// (`"key"`) or names them in a field path (`data[key]`), not inside words: keys are short and ordinary.
    pub keys: Vec<String>,
}

impl Rendered {
    /// What `object` holds that we rendered (not its kind, apiVersion, name or namespace).
    pub fn of(object: &Value) -> Rendered {
        fn walk(value: &Value, out: &mut Rendered) {
            match value {
                Value::String(s) => out.values.push(s.clone()),
                Value::Number(n) => out.values.push(n.to_string()),
                Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
                Value::Object(members) => {
                    for (k, v) in members {
                        out.keys.push(k.clone());
                        walk(v, out);
                    }
                }
                Value::Null | Value::Bool(_) => {}
            }
        }
        let mut out = Rendered::default();
        let Some(members) = object.as_object() else { return out };
        for (key, value) in members {
            match key.as_str() {
                "apiVersion" | "kind" => {}
                "metadata" => {
                    for part in ["labels", "annotations"] {
                        if let Some(map) = value.get(part) {
                            walk(map, &mut out);
                        }
                    }
                }
                _ => walk(value, &mut out),
            }
        }
        if object.get("kind").and_then(Value::as_str) == Some("Secret")
            && let Some(data) = object.get("data").and_then(Value::as_object)
        {
            use base64::Engine;
            for encoded in data.values().filter_map(Value::as_str) {
                if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(encoded) {
                    out.values.push(String::from_utf8_lossy(&bytes).into_owned());
                }
            }
        }
        out
    }

    /// `message` without any of these values or quoted keys.
    pub fn redact<'m>(&self, message: &'m str) -> Cow<'m, str> {
        let quoted_keys: Vec<String> = self
            .keys
            .iter()
            .filter(|k| k.chars().count() >= MIN_LEN)
            .flat_map(|k| {
                let mut out: Vec<String> = forms(k).iter().map(|f| format!("\"{f}\"")).collect();
                out.push(format!("[{k}]"));
                out
            })
            .collect();
        let without_values = redact(message, &self.values);
        if !quoted_keys.iter().any(|q| without_values.contains(q.as_str())) {
            return without_values;
        }
        let mut out = without_values.into_owned();
        for quoted in quoted_keys {
            let replacement =
                if quoted.starts_with('[') { format!("[{NOT_SHOWN}]") } else { format!("\"{NOT_SHOWN}\"") };
            out = out.replace(&quoted, &replacement);
        }
        Cow::Owned(out)
    }
}

/// The apiserver's refusal to write `object` (its status `message`) as a sentence that quotes nothing we
/// rendered into it ([`Rendered`]): `the API server refused Secret "app": Secret "app" is invalid:
/// metadata.labels: Invalid value: "(value not shown)": a valid label must be ...`.
pub fn refusal(kind: &str, name: &str, message: &str, object: &Value) -> String {
    format!("the API server refused {kind} {name:?}: {}", Rendered::of(object).redact(message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const VALUE: &str = "s3cr3t \"quoted\" value";

    #[test]
    fn redacts_plain_go_quoted_and_json_escaped_forms() {
        let go = r#"metadata.labels: Invalid value: "s3cr3t \"quoted\" value": a valid label must be ..."#;
        assert_eq!(
            redact(go, &[VALUE]),
            format!("metadata.labels: Invalid value: \"{NOT_SHOWN}\": a valid label must be ...")
        );
        assert_eq!(redact(&format!("fail: {VALUE}"), &[VALUE]), format!("fail: {NOT_SHOWN}"));
        let json = serde_json::to_string(&format!("x {VALUE} y")).unwrap();
        assert!(!redact(&json, &[VALUE]).contains("quoted"), "{json}");
        assert!(quotes_any(go, &[VALUE]));
    }

    #[test]
    fn short_values_and_clean_messages_are_left_alone() {
        let message = "spec.replicas: Invalid value: 10: must be less than 5";
        assert!(matches!(redact(message, &["10", "ab"]), Cow::Borrowed(_)));
        assert_eq!(redact(message, &["unrelated"]), message);
    }

    #[test]
    fn a_longer_value_containing_a_shorter_one_is_replaced_whole() {
        assert_eq!(redact("x abcdef y", &["abc", "abcdef"]), format!("x {NOT_SHOWN} y"));
    }

    #[test]
    fn rendered_covers_labels_annotations_keys_values_and_decoded_secret_data() {
        let secret = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "app", "namespace": "ns", "labels": {"from-data": "label-value"},
                         "annotations": {"annotation-key": "x"}},
            "data": {"data-key": "ZGF0YS12YWx1ZQ=="},
        });
        let rendered = Rendered::of(&secret);
        assert_eq!(rendered.values, ["ZGF0YS12YWx1ZQ==", "label-value", "x", "data-value"]);
        assert_eq!(rendered.keys, ["data-key", "from-data", "annotation-key"]);
        let widget =
            json!({"apiVersion": "x/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"code": 12345}});
        let rendered = Rendered::of(&widget);
        assert_eq!((rendered.keys, rendered.values), (vec!["code".to_owned()], vec!["12345".to_owned()]));
    }

    #[test]
    fn keys_are_redacted_where_quoted_or_in_a_field_path_not_inside_words() {
        let secret =
            json!({"kind": "Secret", "data": {"bad key!": "eA=="}, "metadata": {"annotations": {"name": "x"}}});
        let message =
            r#"Secret "app" is invalid: data[bad key!]: Invalid value: "bad key!": a valid config key; name part must"#;
        let redacted = Rendered::of(&secret).redact(message).into_owned();
        assert!(!redacted.contains("bad key!"), "{redacted}");
        assert!(redacted.contains(&format!("data[{NOT_SHOWN}]")) && redacted.contains("name part must"), "{redacted}");
    }

    #[test]
    fn a_refusal_names_the_object_and_keeps_the_apiservers_explanation_without_the_value() {
        let secret = json!({"kind": "Secret", "metadata": {"name": "app", "labels": {"leak": VALUE}}});
        let message = r#"Secret "app" is invalid: metadata.labels: Invalid value: "s3cr3t \"quoted\" value": a valid label must be an empty string"#;
        let sentence = refusal("Secret", "app", message, &secret);
        assert!(!sentence.contains("s3cr3t"), "{sentence}");
        assert!(
            sentence.starts_with("the API server refused Secret \"app\": Secret \"app\" is invalid: metadata.labels")
        );
        assert!(sentence.contains("a valid label must be an empty string"), "{sentence}");
    }
}
