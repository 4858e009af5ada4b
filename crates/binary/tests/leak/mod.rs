//! The leak scanner of issue 9: every secret value a test used, in every form it could take on the way out
//! (plain, base64 std and url-safe at each of the three byte alignments — so with or without padding and when
//! embedded in a longer encoded text — JSON-escaped once and twice, Rust/Go-quoted, URL- and form-encoded), looked
//! for in every text the operator produced. A hit names where and which value (by its name), never the value.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};

/// A secret value a test put somewhere, with the name a failure report uses for it.
#[derive(Clone)]
pub struct Planted {
    pub name: String,
    pub value: String,
}

/// Never prints the value.
impl std::fmt::Debug for Planted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Planted({}, {} bytes)", self.name, self.value.len())
    }
}

/// One form of a value to look for.
pub struct Form {
    pub form: &'static str,
    pub text: String,
}

/// A value found: where, which (by name), in which form, and the line of the text it was found on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    pub location: String,
    pub secret: String,
    pub form: &'static str,
    pub line: usize,
}

impl std::fmt::Display for Hit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (line {}): secret {:?} as {}", self.location, self.line, self.secret, self.form)
    }
}

/// The characters of the base64 encoding of `value` that do not depend on the bytes around it, when it starts
/// `offset` (0, 1 or 2) bytes into a 3-byte group: a 6-bit character is stable when all its bits come from
/// `value`. Offset 0 gives a prefix of the value's own encoding (padded or not).
fn base64_core(value: &[u8], offset: usize, engine: &impl Engine) -> String {
    let mut bytes = vec![0u8; offset];
    bytes.extend_from_slice(value);
    let encoded = engine.encode(&bytes);
    let (start_bit, end_bit) = (8 * offset, 8 * (offset + value.len()));
    encoded.char_indices().filter(|(i, _)| 6 * i >= start_bit && 6 * i + 6 <= end_bit).map(|(_, c)| c).collect()
}

/// `value` percent-encoded (RFC 3986 unreserved characters kept); `plus_for_space` as in forms.
fn url_encoded(value: &str, plus_for_space: bool) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b as char),
            b' ' if plus_for_space => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn json_escaped(value: &str) -> String {
    let quoted = serde_json::to_string(value).unwrap_or_default();
    quoted[1..quoted.len() - 1].to_string()
}

/// Every form of `value` the scan looks for (forms equal to an earlier one are left out).
pub fn forms(value: &str) -> Vec<Form> {
    let mut all = vec![
        Form { form: "plain", text: value.to_string() },
        Form { form: "JSON-escaped", text: json_escaped(value) },
        Form { form: "JSON-escaped twice", text: json_escaped(&json_escaped(value)) },
        Form { form: "Debug-quoted", text: format!("{value:?}").trim_matches('"').to_string() },
        Form { form: "URL-encoded", text: url_encoded(value, false) },
        Form { form: "form-encoded", text: url_encoded(value, true) },
        Form { form: "URL-encoded (lower-case hex)", text: url_encoded(value, false).to_lowercase() },
    ];
    for offset in 0..3 {
        all.push(Form { form: "base64", text: base64_core(value.as_bytes(), offset, &STANDARD_NO_PAD) });
        all.push(Form { form: "base64 url-safe", text: base64_core(value.as_bytes(), offset, &URL_SAFE_NO_PAD) });
    }
    let mut seen = std::collections::HashSet::new();
    all.retain(|f| f.text.len() >= 8 && seen.insert(f.text.clone()));
    all
}

/// Every planted value found in `text` (one hit per value and form, at its first line).
pub fn scan(location: &str, text: &str, planted: &[Planted]) -> Vec<Hit> {
    let mut hits = Vec::new();
    for secret in planted {
        for form in forms(&secret.value) {
            if let Some(at) = text.find(&form.text) {
                let line = text[..at].matches('\n').count() + 1;
                hits.push(Hit { location: location.to_string(), secret: secret.name.clone(), form: form.form, line });
            }
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};

    fn planted() -> Vec<Planted> {
        vec![
            Planted { name: "db-password".into(), value: "LeakScan/db-password \"q\" +&=%? end".into() },
            Planted { name: "api-token".into(), value: "LeakScan/api-token ~~ >>?? end".into() },
        ]
    }

    /// Each way a value can be written out, planted in surrounding text, is found and named.
    #[test]
    fn scanner_finds_every_encoded_form_of_every_value() {
        for secret in planted() {
            let v = secret.value.as_str();
            let mut encoded = vec![
                ("plain", format!("error: Invalid value: {v}")),
                ("JSON-escaped", serde_json::json!({"message": format!("Invalid value: {v:?}")}).to_string()),
                (
                    "JSON-escaped twice",
                    serde_json::json!({"log": serde_json::json!({"msg": v}).to_string()}).to_string(),
                ),
                ("URL-encoded", format!("GET /x?q={}", url_encoded(v, false))),
                ("form-encoded", format!("q={}&x=1", url_encoded(v, true))),
            ];
            for (prefix, suffix) in [("", ""), ("a", "b"), ("ab", "cde")] {
                let embedded = format!("{prefix}{v}{suffix}");
                encoded.push(("base64", format!("data: {}", STANDARD.encode(&embedded))));
                encoded.push(("base64", format!("data: {}", STANDARD_NO_PAD.encode(&embedded))));
                encoded.push(("base64 url-safe", format!("t={}", URL_SAFE.encode(&embedded))));
                encoded.push(("base64 url-safe", format!("t={}", URL_SAFE_NO_PAD.encode(&embedded))));
            }
            for (what, text) in encoded {
                let text = format!("line one\n{text}\nline three");
                let hits = scan("planted", &text, &planted());
                assert!(
                    hits.iter().any(|h| h.secret == secret.name && h.line == 2),
                    "{what} of {} not found: {hits:?}",
                    secret.name
                );
                assert!(hits.iter().all(|h| h.secret == secret.name), "{what}: another value reported: {hits:?}");
            }
        }
    }

    /// Text without the values (or with a different value of the same shape) has no hits, and a hit's report
    /// does not contain the value.
    #[test]
    fn scanner_reports_nothing_for_other_text_and_never_prints_a_value() {
        let clean = "Invalid value: \"LeakScan/db-passw0rd \\\"q\\\" +&=%? end\" and TGVha1NjYW4vZGItcGFzc3cwcmQ=";
        assert_eq!(scan("clean", clean, &planted()), Vec::new());
        let secret = &planted()[0];
        let hit = &scan("log", &format!("x {}", secret.value), &planted())[0];
        assert!(!hit.to_string().contains(&secret.value), "{hit}");
        assert!(!format!("{secret:?}").contains(&secret.value));
    }
}
