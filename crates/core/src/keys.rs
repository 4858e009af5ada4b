//! Secret key names: ESO's key conversion (`conversionStrategy`) and key validation.
//!
//! ESO decides with Go's `unicode.IsLetter` / `unicode.IsNumber`, i.e. the Unicode general categories `L` and `N`.
//! Rust's `char::is_alphanumeric` is wider (it also accepts combining marks with the `Alphabetic` property, such as
//! Devanagari vowel signs), so the categories are taken from the `regex` crate's Unicode tables instead.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use external_secrets_api::ExternalSecretConversionStrategy;
use regex::Regex;

/// The longest key (in bytes, as ESO measures with Go's `len`) a Secret may have.
pub const MAX_KEY_LEN: usize = 253;

/// Why a key was refused. Messages name keys (which are not secret), never values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key is longer than 253 bytes.
    #[error("key has length {length} but max is 253: (following is truncated): {truncated}")]
    TooLong {
        /// Length in bytes.
        length: usize,
        /// The first (at most) 253 bytes of the key, cut at a character boundary.
        truncated: String,
    },
    /// The key has a character other than a Unicode letter or number, `-`, `.` or `_`.
    #[error("key has invalid character {character}, only alphanumeric, '-', '.' and '_' are allowed: {key}")]
    InvalidCharacter {
        /// The first offending character.
        character: char,
        /// The whole key.
        key: String,
    },
    /// Two keys became the same key after conversion.
    #[error("secret name collision during conversion: {key} (from {first:?} and {second:?})")]
    Collision {
        /// The converted key both map to.
        key: String,
        /// One original key.
        first: String,
        /// The other original key.
        second: String,
    },
}

/// Matches one Unicode letter or number (Go's `unicode.IsLetter || unicode.IsNumber`).
static LETTER_OR_NUMBER: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"^[\p{L}\p{N}]$").ok());

/// Whether ESO accepts `c` in a Secret key: a Unicode letter (category L) or number (category N), `-`, `.` or `_`.
pub fn is_key_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
    }
    let mut buf = [0u8; 4];
    match LETTER_OR_NUMBER.as_ref() {
        Some(letter_or_number) => letter_or_number.is_match(c.encode_utf8(&mut buf)),
        // The pattern is a constant that compiles; this only keeps the code free of panics.
        None => c.is_alphanumeric(),
    }
}

fn convert_key_with(key: &str, replacement: impl Fn(char, &mut String)) -> String {
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        if is_key_char(c) {
            out.push(c);
        } else {
            replacement(c, &mut out);
        }
    }
    out
}

/// `conversionStrategy: Default`: every character that is not a Unicode letter or number, `-`, `.` or `_` becomes
/// `_` (`/app/db-password` → `_app_db-password`).
pub fn convert_key_default(key: &str) -> String {
    convert_key_with(key, |_, out| out.push('_'))
}

/// `conversionStrategy: Unicode`: every such character becomes `_U%04x_`, the lowercase hex of its code point
/// (`/` → `_U002f_`; code points above U+FFFF get five or six digits, as Go's `%04x` prints them).
pub fn convert_key_unicode(key: &str) -> String {
    convert_key_with(key, |c, out| {
        out.push_str(&format!("_U{:04x}_", u32::from(c)));
    })
}

/// Converts one key with `conversionStrategy` (unset is [`ExternalSecretConversionStrategy::Default`]).
pub fn convert_key(strategy: ExternalSecretConversionStrategy, key: &str) -> String {
    match strategy {
        ExternalSecretConversionStrategy::Default => convert_key_default(key),
        ExternalSecretConversionStrategy::Unicode => convert_key_unicode(key),
    }
}

/// [`convert_keys`] with `conversionStrategy`, as ESO's `ConvertKeys` (used for `extract`/`find` without
/// rewrites).
pub fn convert_keys_with_strategy<V>(
    map: BTreeMap<String, V>,
    strategy: ExternalSecretConversionStrategy,
) -> Result<BTreeMap<String, V>, KeyError> {
    convert_keys(map, |key| convert_key(strategy, key))
}

/// Checks a key as ESO's `ValidateKeys` does: at most 253 bytes, and only Unicode letters and numbers, `-`, `.`
/// and `_`. Empty keys are valid here: ESO drops them before writing (see [`validate_keys`]).
pub fn validate_key(key: &str) -> Result<(), KeyError> {
    if key.len() > MAX_KEY_LEN {
        let mut end = MAX_KEY_LEN;
        while !key.is_char_boundary(end) {
            end -= 1;
        }
        return Err(KeyError::TooLong { length: key.len(), truncated: key[..end].to_owned() });
    }
    match key.chars().find(|&c| !is_key_char(c)) {
        Some(character) => Err(KeyError::InvalidCharacter { character, key: key.to_owned() }),
        None => Ok(()),
    }
}

/// ESO's `ValidateKeys` over a whole map: drops the empty key (a provider returned nothing under it), then checks
/// every other key, reporting the first invalid one in key order.
pub fn validate_keys<V>(map: &mut BTreeMap<String, V>) -> Result<(), KeyError> {
    map.remove("");
    map.keys().try_for_each(|key| validate_key(key))
}

/// Renames every key of `map` with `convert` (for example [`convert_key_default`]); two keys that end up the same
/// are an error naming the converted key and both originals (never the values).
pub fn convert_keys<V>(
    map: BTreeMap<String, V>,
    convert: impl Fn(&str) -> String,
) -> Result<BTreeMap<String, V>, KeyError> {
    let mut out = BTreeMap::new();
    let mut sources: BTreeMap<String, String> = BTreeMap::new();
    for (original, value) in map {
        let converted = convert(&original);
        if let Some(first) = sources.get(&converted) {
            return Err(KeyError::Collision { key: converted, first: first.clone(), second: original });
        }
        sources.insert(converted.clone(), original);
        out.insert(converted, value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_conversion_replaces_path_separators_and_symbols() {
        // Cases from ESO's ConvertKeys tests.
        assert_eq!(convert_key_default("foo$bar%baz*bing"), "foo_bar_baz_bing");
        assert_eq!(convert_key_default("/app/db-password"), "_app_db-password");
        assert_eq!(convert_key_default("kebab-case.dotted_snake"), "kebab-case.dotted_snake");
        assert_eq!(convert_key_default("a b\tc"), "a_b_c");
        assert_eq!(convert_key_default(""), "");
    }

    #[test]
    fn default_conversion_keeps_unicode_letters_and_numbers() {
        assert_eq!(convert_key_default("пароль/ключ"), "пароль_ключ");
        assert_eq!(convert_key_default("密码"), "密码");
        // Arabic-Indic digit three (Nd), Roman numeral twelve (Nl), superscript two (No).
        assert_eq!(convert_key_default("\u{663}\u{216b}\u{b2}"), "\u{663}\u{216b}\u{b2}");
    }

    #[test]
    fn default_conversion_replaces_marks_like_go() {
        // A combining acute accent (Mn) and a Devanagari vowel sign (Mc) are neither L nor N for Go, although Rust
        // calls the vowel sign alphabetic.
        assert_eq!(convert_key_default("e\u{301}"), "e_");
        assert!('\u{93e}'.is_alphabetic());
        assert_eq!(convert_key_default("\u{915}\u{93e}"), "\u{915}_");
    }

    #[test]
    fn default_conversion_replaces_emoji() {
        assert_eq!(convert_key_default("key😀"), "key_");
    }

    #[test]
    fn unicode_conversion_writes_code_points() {
        // Cases from ESO's ConvertKeys tests.
        assert_eq!(convert_key_unicode("foo$bar%baz*bing"), "foo_U0024_bar_U0025_baz_U002a_bing");
        assert_eq!(convert_key_unicode("/app/db"), "_U002f_app_U002f_db");
        assert_eq!(convert_key_unicode("key😀"), "key_U1f600_");
        assert_eq!(convert_key_unicode("a b"), "a_U0020_b");
        assert_eq!(convert_key_unicode("plain-key.ok_1"), "plain-key.ok_1");
    }

    #[test]
    fn validate_accepts_letters_numbers_dash_dot_underscore() {
        assert_eq!(validate_key("abc-DEF.ghi_123"), Ok(()));
        assert_eq!(validate_key("пароль"), Ok(()));
        assert_eq!(validate_key(""), Ok(()));
        assert_eq!(validate_key(&"a".repeat(253)), Ok(()));
    }

    #[test]
    fn validate_rejects_invalid_characters_naming_the_key() {
        let err = validate_key("a/b");
        assert_eq!(err, Err(KeyError::InvalidCharacter { character: '/', key: "a/b".to_owned() }));
        let message = err.map_err(|e| e.to_string()).err().unwrap_or_default();
        assert_eq!(message, "key has invalid character /, only alphanumeric, '-', '.' and '_' are allowed: a/b");
        assert!(validate_key("with space").is_err());
        assert!(validate_key("e\u{301}").is_err());
    }

    #[test]
    fn validate_rejects_keys_longer_than_253_bytes() {
        let key = "a".repeat(254);
        assert_eq!(validate_key(&key), Err(KeyError::TooLong { length: 254, truncated: "a".repeat(253) }));
        // The limit is in bytes, as Go's len(): 127 two-byte letters are 254 bytes.
        let key = "я".repeat(127);
        match validate_key(&key) {
            Err(KeyError::TooLong { length, truncated }) => {
                assert_eq!(length, 254);
                assert_eq!(truncated, "я".repeat(126));
            }
            other => panic!("expected TooLong, got {other:?}"),
        }
    }

    #[test]
    fn validate_keys_drops_the_empty_key_and_checks_the_rest() {
        let mut map: BTreeMap<String, Vec<u8>> =
            [("".to_owned(), b"x".to_vec()), ("ok".to_owned(), b"y".to_vec())].into_iter().collect();
        assert_eq!(validate_keys(&mut map), Ok(()));
        assert_eq!(map.keys().collect::<Vec<_>>(), ["ok"]);

        let mut map: BTreeMap<String, Vec<u8>> =
            [("z/z".to_owned(), Vec::new()), ("a/a".to_owned(), Vec::new())].into_iter().collect();
        assert_eq!(validate_keys(&mut map), Err(KeyError::InvalidCharacter { character: '/', key: "a/a".to_owned() }));
    }

    #[test]
    fn convert_keys_renames_every_key() {
        let map: BTreeMap<String, Vec<u8>> =
            [("/a/b".to_owned(), b"1".to_vec()), ("c".to_owned(), b"2".to_vec())].into_iter().collect();
        let converted = convert_keys(map, convert_key_default);
        let expected: BTreeMap<String, Vec<u8>> =
            [("_a_b".to_owned(), b"1".to_vec()), ("c".to_owned(), b"2".to_vec())].into_iter().collect();
        assert_eq!(converted, Ok(expected));
    }

    #[test]
    fn convert_keys_reports_collisions_without_values() {
        let map: BTreeMap<String, Vec<u8>> =
            [("a/b".to_owned(), b"hunter2".to_vec()), ("a_b".to_owned(), b"swordfish".to_vec())].into_iter().collect();
        let err = match convert_keys(map, convert_key_default) {
            Err(err) => err,
            Ok(_) => panic!("a collision must be an error"),
        };
        assert_eq!(
            err,
            KeyError::Collision { key: "a_b".to_owned(), first: "a/b".to_owned(), second: "a_b".to_owned() }
        );
        let message = err.to_string();
        assert!(message.contains("a_b"), "{message}");
        assert!(!message.contains("hunter2") && !message.contains("swordfish"), "{message}");
    }

    #[test]
    fn dispatches_on_the_api_conversion_strategy() {
        assert_eq!(convert_key(ExternalSecretConversionStrategy::Default, "a/b"), "a_b");
        assert_eq!(convert_key(ExternalSecretConversionStrategy::Unicode, "a/b"), "a_U002f_b");
        assert_eq!(convert_key(ExternalSecretConversionStrategy::default(), "a/b"), "a_b");
        let map: BTreeMap<String, u8> = [("x/y".to_owned(), 1)].into_iter().collect();
        let converted = convert_keys_with_strategy(map, ExternalSecretConversionStrategy::Unicode);
        assert_eq!(converted.map(|m| m.into_keys().collect::<Vec<_>>()), Ok(vec!["x_U002f_y".to_owned()]));
    }

    #[test]
    fn unicode_conversion_avoids_default_collisions() {
        let map: BTreeMap<String, Vec<u8>> =
            [("a/b".to_owned(), Vec::new()), ("a_b".to_owned(), Vec::new())].into_iter().collect();
        let converted = convert_keys(map, convert_key_unicode).map(|m| m.into_keys().collect::<Vec<_>>());
        assert_eq!(converted, Ok(vec!["a_U002f_b".to_owned(), "a_b".to_owned()]));
    }
}
