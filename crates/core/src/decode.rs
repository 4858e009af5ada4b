//! `decodingStrategy` (Base64, Base64URL, Auto, None) and `nullBytePolicy: Fail`, as ESO applies them to fetched
//! values.
//!
//! Go's `encoding/base64` decoders are the reference: padding is required, `\r` and `\n` anywhere in the input are
//! skipped, and non-zero trailing bits in the last quantum are accepted (Go's encodings are not `Strict()`).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use external_secrets_api::{ExternalSecretDecodingStrategy, ExternalSecretNullBytePolicy};

/// The base64 flavour that failed, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Base64Flavor {
    /// Standard alphabet (`+/`), padded: `decodingStrategy: Base64`.
    Standard,
    /// URL alphabet (`-_`), padded: `decodingStrategy: Base64URL`.
    Url,
}

impl Base64Flavor {
    /// The strategy name as users write it.
    pub fn strategy_name(self) -> &'static str {
        match self {
            Base64Flavor::Standard => "Base64",
            Base64Flavor::Url => "Base64URL",
        }
    }
}

/// A value could not be decoded. Names the strategy, never the value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("value is not valid {} data", .flavor.strategy_name())]
pub struct DecodeError {
    /// Which decoding failed.
    pub flavor: Base64Flavor,
}

/// Decoding one value of a map failed; names the key, never the value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("failure decoding key {key}: {source}")]
pub struct DecodeMapError {
    /// The key whose value failed.
    pub key: String,
    /// Why.
    pub source: DecodeError,
}

/// A fetched value contains NUL bytes while `nullBytePolicy: Fail` is set. Names the key, never the value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("fetched secret value for key {key:?} contains null bytes")]
pub struct NullByteError {
    /// The key whose value has a NUL byte.
    pub key: String,
}

const GO_CONFIG: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_encode_padding(true)
    .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
    .with_decode_allow_trailing_bits(true);

const GO_STD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, GO_CONFIG);
const GO_URL: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, GO_CONFIG);

fn decode_go(engine: &GeneralPurpose, flavor: Base64Flavor, input: &[u8]) -> Result<Vec<u8>, DecodeError> {
    // Go skips CR and LF wherever they are; everything else must be alphabet or padding.
    let result = if input.iter().any(|&b| b == b'\r' || b == b'\n') {
        let stripped: Vec<u8> = input.iter().copied().filter(|&b| b != b'\r' && b != b'\n').collect();
        engine.decode(stripped)
    } else {
        engine.decode(input)
    };
    result.map_err(|_| DecodeError { flavor })
}

/// `decodingStrategy: Base64`: Go's `base64.StdEncoding` (standard alphabet, padding required, CR/LF ignored).
pub fn decode_base64(input: &[u8]) -> Result<Vec<u8>, DecodeError> {
    decode_go(&GO_STD, Base64Flavor::Standard, input)
}

/// `decodingStrategy: Base64URL`: Go's `base64.URLEncoding` (URL alphabet, padding required, CR/LF ignored).
pub fn decode_base64_url(input: &[u8]) -> Result<Vec<u8>, DecodeError> {
    decode_go(&GO_URL, Base64Flavor::Url, input)
}

/// `decodingStrategy: Auto`: standard base64, else URL base64, else the bytes unchanged. Never fails, so a value
/// that merely looks like base64 (`"YmFy"`) is decoded: that is ESO's behaviour.
pub fn decode_auto(input: &[u8]) -> Vec<u8> {
    decode_base64(input).or_else(|_| decode_base64_url(input)).unwrap_or_else(|_| input.to_vec())
}

/// `decodingStrategy: None` (or unset): the bytes unchanged.
pub fn decode_none(input: &[u8]) -> Vec<u8> {
    input.to_vec()
}

/// Decodes one value with `decodingStrategy` (unset is [`ExternalSecretDecodingStrategy::None`]), as ESO's
/// `Decode`.
pub fn decode(strategy: ExternalSecretDecodingStrategy, input: &[u8]) -> Result<Vec<u8>, DecodeError> {
    match strategy {
        ExternalSecretDecodingStrategy::Base64 => decode_base64(input),
        ExternalSecretDecodingStrategy::Base64Url => decode_base64_url(input),
        ExternalSecretDecodingStrategy::Auto => Ok(decode_auto(input)),
        ExternalSecretDecodingStrategy::None => Ok(decode_none(input)),
    }
}

/// [`decode_map`] with `decodingStrategy`, as ESO's `DecodeMap`.
pub fn decode_map_with_strategy<V: AsRef<[u8]>>(
    map: BTreeMap<String, V>,
    strategy: ExternalSecretDecodingStrategy,
) -> Result<BTreeMap<String, Vec<u8>>, DecodeMapError> {
    decode_map(map, |value| decode(strategy, value))
}

/// Decodes every value of `map` with `decode` (one of the functions above), as ESO's `DecodeMap`.
pub fn decode_map<V: AsRef<[u8]>>(
    map: BTreeMap<String, V>,
    decode: impl Fn(&[u8]) -> Result<Vec<u8>, DecodeError>,
) -> Result<BTreeMap<String, Vec<u8>>, DecodeMapError> {
    map.into_iter()
        .map(|(key, value)| match decode(value.as_ref()) {
            Ok(decoded) => Ok((key, decoded)),
            Err(source) => Err(DecodeMapError { key, source }),
        })
        .collect()
}

/// `nullBytePolicy: Fail` for one fetched value: an error naming `key` when `value` contains a NUL byte.
pub fn check_null_bytes(key: &str, value: &[u8]) -> Result<(), NullByteError> {
    if value.contains(&0) { Err(NullByteError { key: key.to_owned() }) } else { Ok(()) }
}

/// Applies `nullBytePolicy` (unset is [`ExternalSecretNullBytePolicy::Ignore`]) to one fetched value.
pub fn apply_null_byte_policy(
    policy: ExternalSecretNullBytePolicy,
    key: &str,
    value: &[u8],
) -> Result<(), NullByteError> {
    match policy {
        ExternalSecretNullBytePolicy::Ignore => Ok(()),
        ExternalSecretNullBytePolicy::Fail => check_null_bytes(key, value),
    }
}

/// Applies `nullBytePolicy` to a fetched map (first offending key in key order).
pub fn apply_null_byte_policy_map<V: AsRef<[u8]>>(
    policy: ExternalSecretNullBytePolicy,
    map: &BTreeMap<String, V>,
) -> Result<(), NullByteError> {
    match policy {
        ExternalSecretNullBytePolicy::Ignore => Ok(()),
        ExternalSecretNullBytePolicy::Fail => check_null_bytes_map(map),
    }
}

/// `nullBytePolicy: Fail` for a fetched map: reports the first offending key in key order.
pub fn check_null_bytes_map<V: AsRef<[u8]>>(map: &BTreeMap<String, V>) -> Result<(), NullByteError> {
    map.iter().try_for_each(|(key, value)| check_null_bytes(key, value.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Values from ESO's decoding tests.
    const DECODED: &[u8] = b"foo%_?bar";
    const STD_ENCODED: &[u8] = b"Zm9vJV8/YmFy";
    const URL_ENCODED: &[u8] = b"Zm9vJV8_YmFy";

    #[test]
    fn base64_decodes_the_standard_alphabet() {
        assert_eq!(decode_base64(b"YmFy"), Ok(b"bar".to_vec()));
        assert_eq!(decode_base64(STD_ENCODED), Ok(DECODED.to_vec()));
        assert_eq!(decode_base64(b""), Ok(Vec::new()));
    }

    #[test]
    fn base64_rejects_invalid_input_naming_the_strategy() {
        assert_eq!(decode_base64(b"foo"), Err(DecodeError { flavor: Base64Flavor::Standard }));
        assert_eq!(decode_base64(b"foo").map_err(|e| e.to_string()), Err("value is not valid Base64 data".to_owned()));
        // URL alphabet is not standard.
        assert!(decode_base64(URL_ENCODED).is_err());
    }

    #[test]
    fn base64_requires_padding_like_go() {
        assert_eq!(decode_base64(b"YQ=="), Ok(b"a".to_vec()));
        assert!(decode_base64(b"YQ").is_err());
        assert!(decode_base64(b"YQ=").is_err());
        assert!(decode_base64(b"YQ===").is_err());
        assert!(decode_base64(b"YWI=").is_ok());
        assert!(decode_base64(b"YWI").is_err());
        assert!(decode_base64(b"=").is_err());
        assert!(decode_base64(b"YQ==YQ==").is_err());
    }

    #[test]
    fn base64_ignores_carriage_returns_and_newlines_like_go() {
        assert_eq!(decode_base64(b"Ym\nFy\r\n"), Ok(b"bar".to_vec()));
        assert_eq!(decode_base64(b"YQ=\n="), Ok(b"a".to_vec()));
        assert!(decode_base64(b"Ym Fy").is_err());
        assert!(decode_base64(b"YmFy\t").is_err());
    }

    #[test]
    fn base64_accepts_non_zero_trailing_bits_like_go() {
        // Go's StdEncoding is not Strict(): "YR==" decodes to "a".
        assert_eq!(decode_base64(b"YR=="), Ok(b"a".to_vec()));
    }

    #[test]
    fn base64_url_decodes_the_url_alphabet_with_padding() {
        assert_eq!(decode_base64_url(URL_ENCODED), Ok(DECODED.to_vec()));
        assert_eq!(decode_base64_url(b"YQ=="), Ok(b"a".to_vec()));
        assert!(decode_base64_url(b"YQ").is_err());
        assert!(decode_base64_url(STD_ENCODED).is_err());
        assert_eq!(decode_base64_url(b"foo"), Err(DecodeError { flavor: Base64Flavor::Url }));
        assert_eq!(
            decode_base64_url(b"foo").map_err(|e| e.to_string()),
            Err("value is not valid Base64URL data".to_owned())
        );
    }

    #[test]
    fn auto_tries_standard_then_url_then_raw() {
        assert_eq!(decode_auto(STD_ENCODED), DECODED.to_vec());
        assert_eq!(decode_auto(URL_ENCODED), DECODED.to_vec());
        assert_eq!(decode_auto(b"foo"), b"foo".to_vec());
        // A plain word of four letters is valid base64: Auto decodes it, as ESO does.
        assert_eq!(decode_auto(b"YmFy"), b"bar".to_vec());
    }

    #[test]
    fn none_returns_the_bytes() {
        assert_eq!(decode_none(URL_ENCODED), URL_ENCODED.to_vec());
    }

    #[test]
    fn decode_map_decodes_every_value() {
        let map: BTreeMap<String, Vec<u8>> = [
            ("b64".to_owned(), STD_ENCODED.to_vec()),
            ("b64url".to_owned(), URL_ENCODED.to_vec()),
            ("invalidb64".to_owned(), b"foo".to_vec()),
        ]
        .into_iter()
        .collect();
        let decoded = decode_map(map, |v| Ok(decode_auto(v)));
        let expected: BTreeMap<String, Vec<u8>> = [
            ("b64".to_owned(), DECODED.to_vec()),
            ("b64url".to_owned(), DECODED.to_vec()),
            ("invalidb64".to_owned(), b"foo".to_vec()),
        ]
        .into_iter()
        .collect();
        assert_eq!(decoded, Ok(expected));
    }

    #[test]
    fn decode_map_names_the_failing_key_not_the_value() {
        let map: BTreeMap<String, Vec<u8>> = [("foo".to_owned(), b"s3cr3t!".to_vec())].into_iter().collect();
        let err = decode_map(map, decode_base64).err();
        assert_eq!(
            err,
            Some(DecodeMapError { key: "foo".to_owned(), source: DecodeError { flavor: Base64Flavor::Standard } })
        );
        let message = err.map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(message, "failure decoding key foo: value is not valid Base64 data");
        assert!(!message.contains("s3cr3t"));
    }

    #[test]
    fn dispatches_on_the_api_decoding_strategy() {
        assert_eq!(decode(ExternalSecretDecodingStrategy::Base64, STD_ENCODED), Ok(DECODED.to_vec()));
        assert_eq!(decode(ExternalSecretDecodingStrategy::Base64Url, URL_ENCODED), Ok(DECODED.to_vec()));
        assert_eq!(decode(ExternalSecretDecodingStrategy::Auto, b"foo"), Ok(b"foo".to_vec()));
        assert_eq!(decode(ExternalSecretDecodingStrategy::None, STD_ENCODED), Ok(STD_ENCODED.to_vec()));
        assert_eq!(decode(ExternalSecretDecodingStrategy::default(), STD_ENCODED), Ok(STD_ENCODED.to_vec()));
        assert!(decode(ExternalSecretDecodingStrategy::Base64, b"foo").is_err());
        let map: BTreeMap<String, Vec<u8>> = [("k".to_owned(), b"YmFy".to_vec())].into_iter().collect();
        let decoded = decode_map_with_strategy(map, ExternalSecretDecodingStrategy::Base64);
        assert_eq!(decoded.map(|m| m.into_values().collect::<Vec<_>>()), Ok(vec![b"bar".to_vec()]));
    }

    #[test]
    fn dispatches_on_the_api_null_byte_policy() {
        assert_eq!(apply_null_byte_policy(ExternalSecretNullBytePolicy::Ignore, "k", b"a\0b"), Ok(()));
        assert_eq!(apply_null_byte_policy(ExternalSecretNullBytePolicy::default(), "k", b"a\0b"), Ok(()));
        assert_eq!(
            apply_null_byte_policy(ExternalSecretNullBytePolicy::Fail, "k", b"a\0b"),
            Err(NullByteError { key: "k".to_owned() })
        );
        let map: BTreeMap<String, Vec<u8>> = [("k".to_owned(), b"a\0b".to_vec())].into_iter().collect();
        assert_eq!(apply_null_byte_policy_map(ExternalSecretNullBytePolicy::Ignore, &map), Ok(()));
        assert!(apply_null_byte_policy_map(ExternalSecretNullBytePolicy::Fail, &map).is_err());
    }

    #[test]
    fn null_bytes_fail_naming_the_key() {
        assert_eq!(check_null_bytes("payload", b"QQBC"), Ok(()));
        assert_eq!(check_null_bytes("payload", b""), Ok(()));
        let err = check_null_bytes("payload", b"A\0B");
        assert_eq!(err, Err(NullByteError { key: "payload".to_owned() }));
        assert_eq!(
            err.map_err(|e| e.to_string()),
            Err("fetched secret value for key \"payload\" contains null bytes".to_owned())
        );
    }

    #[test]
    fn null_bytes_in_a_map_report_the_first_key_in_order() {
        let map: BTreeMap<String, Vec<u8>> = [
            ("zeta".to_owned(), b"A\0B".to_vec()),
            ("alpha".to_owned(), b"C\0D".to_vec()),
            ("safe".to_owned(), b"value".to_vec()),
        ]
        .into_iter()
        .collect();
        assert_eq!(check_null_bytes_map(&map), Err(NullByteError { key: "alpha".to_owned() }));
        assert_eq!(check_null_bytes_map(&BTreeMap::<String, Vec<u8>>::new()), Ok(()));
    }
}
