//! Golden cases whose expected outputs come from Go itself: `tests/fixtures/sprig_golden.json` is written by
//! `hack/tools/template-golden` (Go's `text/template` at the Go version in its go.mod, with
//! `github.com/Masterminds/sprig/v3 v3.3.0`, ESO's options). See `tests/fixtures/README.md` to regenerate it.
#![allow(clippy::panic)]

use std::collections::BTreeMap;

use external_secrets_template::{Delimiters, Template, secret_data_value};
use serde::Deserialize;

#[derive(Deserialize)]
struct GoldenCase {
    name: String,
    template: String,
    #[serde(default)]
    data: BTreeMap<String, String>,
    #[serde(default)]
    data_b64: BTreeMap<String, String>,
    output: Option<String>,
    output_b64: Option<String>,
    #[serde(default)]
    error: bool,
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    match base64::engine::general_purpose::STANDARD.decode(text) {
        Ok(bytes) => bytes,
        Err(e) => panic!("fixtures/sprig_golden.json holds invalid base64: {e}"),
    }
}

#[test]
fn renders_what_go_and_sprig_render() {
    let cases: Vec<GoldenCase> = match serde_json::from_str(include_str!("fixtures/sprig_golden.json")) {
        Ok(cases) => cases,
        Err(e) => panic!("fixtures/sprig_golden.json: {e}"),
    };
    assert!(!cases.is_empty());
    let mut failures = Vec::new();
    for case in &cases {
        let mut data: BTreeMap<String, Vec<u8>> =
            case.data.iter().map(|(k, v)| (k.clone(), v.as_bytes().to_vec())).collect();
        data.extend(case.data_b64.iter().map(|(k, v)| (k.clone(), base64_decode(v))));
        let want: Option<Vec<u8>> = match (&case.output, &case.output_b64) {
            (Some(text), _) => Some(text.as_bytes().to_vec()),
            (None, Some(b64)) => Some(base64_decode(b64)),
            (None, None) => None,
        };
        let result = Template::parse(&case.name, &case.template, &Delimiters::default())
            .and_then(|t| t.execute(&secret_data_value(&data)));
        match (&want, result) {
            (Some(want), Ok(got)) if *want == got => {}
            (None, Err(_)) if case.error => {}
            (want, got) => failures.push(format!(
                "{}: want {:?}, got {:?}",
                case.name,
                want.as_ref().map(|w| String::from_utf8_lossy(w).into_owned()),
                got.map(|b| String::from_utf8_lossy(&b).into_owned()).map_err(|e| e.to_string())
            )),
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
