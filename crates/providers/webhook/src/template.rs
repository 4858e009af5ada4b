//! The data ESO's webhook templates see, and rendering them. Pure.
//!
//! ESO (`providers/v1/webhook/pkg/webhook`, v2.9.0) renders `url`, `headers`, `body` and `result.jsonPath` as Go
//! templates over a `map[string]map[string]string`: `remoteRef` (`key`, `version`, `property`, `namespace` for a
//! read; `remoteKey`, `secretKey` and the pushed value under the remote key's own name for a push) and, under
//! each `secrets[].name`, every key of that Secret. In the URL the `remoteRef` values are query-escaped (Go's
//! `url.QueryEscape`); the Secret values never are.

use std::collections::BTreeMap;

use external_secrets_template::{Delimiters, Template, Value};

/// The template data: a map of maps of strings (bytes, as Go strings).
#[derive(Clone, Default)]
pub struct TemplateData(BTreeMap<String, BTreeMap<String, Vec<u8>>>);

impl std::fmt::Debug for TemplateData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: the values are secrets.
        let names: BTreeMap<&String, Vec<&String>> = self.0.iter().map(|(k, v)| (k, v.keys().collect())).collect();
        f.debug_tuple("TemplateData").field(&names).finish()
    }
}

impl TemplateData {
    /// Sets `group.key`.
    pub fn set(&mut self, group: &str, key: &str, value: impl Into<Vec<u8>>) {
        self.0.entry(group.to_string()).or_default().insert(key.to_string(), value.into());
    }

    /// Adds every entry of `other`; a group of the same name is extended (as ESO's writes into one map do).
    pub fn merge(&mut self, other: &TemplateData) {
        for (group, entries) in &other.0 {
            for (key, value) in entries {
                self.set(group, key, value.clone());
            }
        }
    }

    /// Whether `group` exists.
    pub fn has_group(&self, group: &str) -> bool {
        self.0.contains_key(group)
    }

    /// The engine's value of the data.
    fn value(&self) -> Value {
        Value::map(
            self.0
                .iter()
                .map(|(group, entries)| {
                    (group.clone(), Value::string_map(entries.iter().map(|(k, v)| (k.clone(), v.clone()))))
                })
                .collect(),
        )
    }
}

/// `remoteRef` of a read (ESO `GetTemplateData`): `key`, `version`, `property` and the namespace, query-escaped
/// when `escape` (for the URL; the namespace never is).
pub fn remote_ref_for_read(
    data: &mut TemplateData,
    key: &str,
    version: &str,
    property: &str,
    namespace: &str,
    escape: bool,
) {
    let esc = |s: &str| if escape { query_escape(s) } else { s.to_string() };
    data.set("remoteRef", "key", esc(key));
    data.set("remoteRef", "version", esc(version));
    data.set("remoteRef", "property", esc(property));
    data.set("remoteRef", "namespace", namespace);
}

/// `remoteRef` of a push (ESO `GetTemplatePushData` + `PushWebhookData`): `remoteKey`, `secretKey` when set, and
/// the pushed value under the remote key's name, all query-escaped when `escape`.
pub fn remote_ref_for_push(
    data: &mut TemplateData,
    remote_key: &str,
    secret_key: Option<&str>,
    value: &[u8],
    escape: bool,
) {
    let esc = |s: &[u8]| if escape { query_escape_bytes(s).into_bytes() } else { s.to_vec() };
    data.set("remoteRef", "remoteKey", esc(remote_key.as_bytes()));
    if let Some(secret_key) = secret_key.filter(|k| !k.is_empty()) {
        data.set("remoteRef", "secretKey", esc(secret_key.as_bytes()));
    }
    data.set("remoteRef", remote_key, esc(value));
}

/// A template of `field` rendered with `data`; the empty template renders nothing (as ESO's `ExecuteTemplate`).
/// Errors name the field and the template's fault, never a value of the data.
pub fn render(field: &str, text: &str, data: &TemplateData) -> Result<Vec<u8>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let template = Template::parse("webhooktemplate", text, &Delimiters::default())
        .map_err(|e| format!("{field} is not a valid template: {e}"))?;
    template.execute(&data.value()).map_err(|e| format!("rendering {field}: {e}"))
}

/// Go's `url.QueryEscape`: every byte but `A-Z a-z 0-9 - _ . ~` percent-encoded, space as `+`.
pub fn query_escape(s: &str) -> String {
    query_escape_bytes(s.as_bytes())
}

fn query_escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn query_escape_is_gos() {
        assert_eq!(query_escape("a b/c?d=e&f~g.h_i-j"), "a+b%2Fc%3Fd%3De%26f~g.h_i-j");
        assert_eq!(query_escape("ü"), "%C3%BC");
    }

    #[test]
    fn the_url_sees_escaped_remote_refs_and_raw_secrets() {
        let mut data = TemplateData::default();
        remote_ref_for_read(&mut data, "team/db pass", "v 1", "", "apps", true);
        data.set("auth", "token", "s3cr3t/+");
        let url = render("url", "http://h/{{ .remoteRef.key }}?v={{ .remoteRef.version }}&ns={{ .remoteRef.namespace }}&t={{ .auth.token }}", &data).unwrap();
        assert_eq!(String::from_utf8(url).unwrap(), "http://h/team%2Fdb+pass?v=v+1&ns=apps&t=s3cr3t/+");
    }

    #[test]
    fn push_data_holds_the_value_under_the_remote_key() {
        let mut data = TemplateData::default();
        remote_ref_for_push(&mut data, "db-pass", Some("password"), b"p w", false);
        let body = render("body", r#"{"k":"{{ .remoteRef.remoteKey }}","s":"{{ .remoteRef.secretKey }}","v":"{{ index .remoteRef "db-pass" }}"}"#, &data).unwrap();
        assert_eq!(String::from_utf8(body).unwrap(), r#"{"k":"db-pass","s":"password","v":"p w"}"#);
        let mut escaped = TemplateData::default();
        remote_ref_for_push(&mut escaped, "k", None, b"p w", true);
        assert!(!escaped.has_group("secretKey"));
        assert_eq!(render("url", "{{ .remoteRef.k }}", &escaped).unwrap(), b"p+w");
    }

    #[test]
    fn errors_name_the_field_and_not_the_data() {
        let mut data = TemplateData::default();
        data.set("auth", "token", "hunter2");
        let err = render("headers[Authorization]", "{{ .auth.token | nosuchfunc }}", &data).unwrap_err();
        assert!(err.contains("headers[Authorization]"), "{err}");
        let err = render("url", "{{ .auth.missing }}{{ fail .auth.token }}", &data).unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(!format!("{data:?}").contains("hunter2"));
        assert_eq!(render("body", "", &data).unwrap(), b"");
    }
}
