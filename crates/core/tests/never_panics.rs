//! Property tests: the functions that see provider data — decoding, key conversion and validation, property
//! selection, `extract`, `rewrite[].merge` — never panic, whatever bytes a store returns or a user writes, and keep
//! their invariants. Cases per property: proptest's default (256), or `PROPTEST_CASES` for a longer run (see
//! `docs/fuzzing.md`).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;

use external_secrets_api::{
    ExternalSecretConversionStrategy, ExternalSecretDecodingStrategy, ExternalSecretNullBytePolicy,
    ExternalSecretRewriteMerge,
};
use external_secrets_core::decode::{apply_null_byte_policy, decode, decode_auto, decode_base64, decode_base64_url};
use external_secrets_core::keys::{KeyError, convert_key, convert_keys, validate_key, validate_keys};
use external_secrets_core::pipeline::rewrite_merge;
use external_secrets_core::property::{extract_map, extract_map_at, select_property};
use external_secrets_core::{RemoteValue, SecretBytes};
use proptest::prelude::*;

const DECODINGS: [ExternalSecretDecodingStrategy; 4] = [
    ExternalSecretDecodingStrategy::None,
    ExternalSecretDecodingStrategy::Base64,
    ExternalSecretDecodingStrategy::Base64Url,
    ExternalSecretDecodingStrategy::Auto,
];

/// Text that is often almost-JSON: braces, quotes, escapes, numbers, dots and gjson path syntax.
fn jsonish() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[{}\\[\\]\":,.a-z0-9 \\\\#|@*?!=<>%~-]{0,64}",
        // Well-formed objects with odd members.
        proptest::collection::btree_map("[a-z.\\\\/ ]{0,6}", "[a-z0-9\"\\\\{}]{0,8}", 0..6)
            .prop_map(|m| serde_json::to_string(&m).unwrap_or_default()),
    ]
}

/// A gjson path or property name, with the syntax gjson gives meaning to.
fn property() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-z0-9.#|@*?!=<>%\\\\\\[\\]{}\",:-]{0,24}"]
}

fn remote_value() -> impl Strategy<Value = RemoteValue> {
    prop_oneof![
        jsonish().prop_map(RemoteValue::bytes),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(RemoteValue::bytes),
        proptest::collection::btree_map(property(), proptest::collection::vec(any::<u8>(), 0..32), 0..4).prop_map(
            |fields| RemoteValue {
                bytes: SecretBytes::default(),
                fields: Some(fields.into_iter().map(|(k, v)| (k, SecretBytes::new(v))).collect()),
            }
        ),
    ]
}

proptest! {
    #[test]
    fn decoding_never_panics(input in proptest::collection::vec(any::<u8>(), 0..256)) {
        for strategy in DECODINGS {
            let _ = decode(strategy, &input);
        }
        // Auto never fails, and falls back to the input unchanged when neither base64 flavour decodes it.
        let auto = decode_auto(&input);
        if decode_base64(&input).is_err() && decode_base64_url(&input).is_err() {
            prop_assert_eq!(auto, input.clone());
        }
        let _ = apply_null_byte_policy(ExternalSecretNullBytePolicy::Fail, "k", &input);
    }

    #[test]
    fn base64_text_never_panics(input in "[A-Za-z0-9+/=_\r\n-]{0,128}") {
        for strategy in DECODINGS {
            let _ = decode(strategy, input.as_bytes());
        }
    }

    #[test]
    fn converted_keys_are_valid_or_too_long(key in any::<String>()) {
        for strategy in [ExternalSecretConversionStrategy::Default, ExternalSecretConversionStrategy::Unicode] {
            let converted = convert_key(strategy, &key);
            match validate_key(&converted) {
                Ok(()) | Err(KeyError::TooLong { .. }) => {}
                Err(other) => prop_assert!(false, "{:?} converted to an invalid key: {}", strategy, other),
            }
        }
        let _ = validate_key(&key);
    }

    #[test]
    fn key_maps_never_panic(keys in proptest::collection::vec(any::<String>(), 0..8)) {
        let map: BTreeMap<String, Vec<u8>> = keys.into_iter().map(|k| (k, Vec::new())).collect();
        let converted = convert_keys(map.clone(), |k| convert_key(ExternalSecretConversionStrategy::Default, k));
        if let Ok(mut converted) = converted {
            let _ = validate_keys(&mut converted);
            prop_assert!(!converted.contains_key(""));
        }
    }

    #[test]
    fn property_selection_never_panics(value in remote_value(), key in "[a-z/]{0,8}", prop in property()) {
        let _ = select_property(&value, &key, &prop);
        let _ = extract_map_at(&value, &key, &prop);
    }

    #[test]
    fn extract_never_panics(value in remote_value()) {
        let _ = extract_map(&value);
    }

    #[test]
    fn rewrite_merge_never_panics(
        input in proptest::collection::btree_map("[a-z]{0,3}", jsonish(), 0..5),
        priority in proptest::collection::vec("[a-z]{0,3}", 0..3),
        ignore_not_found in any::<bool>(),
        ignore_conflicts in any::<bool>(),
        json in any::<bool>(),
    ) {
        let rule: ExternalSecretRewriteMerge = serde_json::from_value(serde_json::json!({
            "into": if json { "merged" } else { "" },
            "priority": priority,
            "priorityPolicy": if ignore_not_found { "IgnoreNotFound" } else { "Strict" },
            "conflictPolicy": if ignore_conflicts { "Ignore" } else { "Error" },
            "strategy": if json { "JSON" } else { "Extract" },
        }))
        .expect("merge rule");
        let input: BTreeMap<String, Vec<u8>> = input.into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
        if let Err(message) = rewrite_merge(&rule, input.clone()) {
            // Errors name keys, never values.
            for value in input.values().filter(|v| v.len() >= 8) {
                prop_assert!(!message.contains(&*String::from_utf8_lossy(value)), "{}", message);
            }
        }
    }
}
