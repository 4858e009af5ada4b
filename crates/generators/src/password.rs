//! The `Password` generator, with ESO's semantics (ESO uses sethvargo/go-password):
//!
//! - `length` (unset or 0: 24) characters: `digits` digits and `symbols` symbols (each unset: a quarter of the
//!   length, rounded down), the rest letters (lowercase and, unless `noUpper`, uppercase).
//! - Symbols come from `symbolCharacters` (unset or empty: ESO's set ``~!@#$%^&*()_+`-={}|[]\:"<>?,./``).
//! - Unless `allowRepeat`, no character appears twice, so each class must fit in its alphabet.
//! - The characters are placed in a uniformly random order; each key of `secretKeys` (unset or empty:
//!   `password`) gets its own password, encoded by `encoding` (`raw` unless set).

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use external_secrets_api::generators::v1alpha1::{PasswordEncoding, PasswordSpec};
use rand::seq::SliceRandom;
use rand::{Rng, TryRngCore};

use crate::{Generated, Generator, GeneratorError, SecretBytes};

/// ESO's default symbol set.
pub const DEFAULT_SYMBOL_CHARACTERS: &str = "~!@#$%^&*()_+`-={}|[]\\:\"<>?,./";
/// ESO's default length.
pub const DEFAULT_LENGTH: usize = 24;
/// The longest password we make: a Secret holds at most 1 MiB, and a larger length would only use memory.
pub const MAX_LENGTH: usize = 1024 * 1024;

const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &str = "0123456789";

/// The `Password` generator.
#[derive(Debug, Default, Clone, Copy)]
pub struct PasswordGenerator;

/// The settings of one password, with ESO's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PasswordRules {
    pub length: usize,
    pub digits: usize,
    pub symbols: usize,
    pub symbol_characters: Vec<char>,
    pub no_upper: bool,
    pub allow_repeat: bool,
}

fn invalid(reason: impl Into<String>) -> GeneratorError {
    GeneratorError::InvalidSpec { kind: PasswordGenerator::KIND, reason: reason.into() }
}

fn count(field: &str, value: i64) -> Result<usize, GeneratorError> {
    usize::try_from(value).map_err(|_| invalid(format!("{field} must not be negative (got {value})")))
}

impl PasswordRules {
    /// ESO's reading of a spec.
    pub(crate) fn from_spec(spec: &PasswordSpec) -> Result<Self, GeneratorError> {
        let length = if spec.length > 0 { count("length", spec.length)? } else { DEFAULT_LENGTH };
        if length > MAX_LENGTH {
            return Err(invalid(format!("length {length} is more than {MAX_LENGTH}")));
        }
        // ESO: int(float32(length) * 0.25), i.e. rounded down.
        let quarter = length / 4;
        let digits = match spec.digits {
            Some(d) => count("digits", d)?,
            None => quarter,
        };
        let symbols = match spec.symbols {
            Some(s) => count("symbols", s)?,
            None => quarter,
        };
        let symbol_characters = match spec.symbol_characters.as_deref() {
            Some(set) if !set.is_empty() => set.chars().collect(),
            _ => DEFAULT_SYMBOL_CHARACTERS.chars().collect(),
        };
        let rules = PasswordRules {
            length,
            digits,
            symbols,
            symbol_characters,
            no_upper: spec.no_upper,
            allow_repeat: spec.allow_repeat,
        };
        rules.check()?;
        Ok(rules)
    }

    fn letters(&self) -> Vec<char> {
        if self.no_upper { LOWER.chars().collect() } else { LOWER.chars().chain(UPPER.chars()).collect() }
    }

    /// go-password's checks: the classes fit in the length, and, without repeats, in their alphabets.
    fn check(&self) -> Result<(), GeneratorError> {
        let Some(letters) = self.length.checked_sub(self.digits + self.symbols) else {
            return Err(invalid(format!(
                "digits ({}) and symbols ({}) exceed the length ({})",
                self.digits, self.symbols, self.length
            )));
        };
        if !self.allow_repeat {
            let distinct: BTreeSet<char> = self.symbol_characters.iter().copied().collect();
            for (class, wanted, available) in [
                ("letters", letters, self.letters().len()),
                ("digits", self.digits, DIGITS.len()),
                ("symbols", self.symbols, distinct.len()),
            ] {
                if wanted > available {
                    return Err(invalid(format!(
                        "{wanted} {class} without repeats, but only {available} are available (set allowRepeat)"
                    )));
                }
            }
        }
        Ok(())
    }

    /// One password: the classes drawn in go-password's order (letters, digits, symbols), each character
    /// uniformly from its alphabet (without repeats: from what is not used yet anywhere in the password), then
    /// shuffled — the same distribution as go-password's insertion of each character at a random position.
    pub(crate) fn draw(&self, rng: &mut impl Rng) -> Result<String, GeneratorError> {
        let letters = self.letters();
        let digits: Vec<char> = DIGITS.chars().collect();
        let mut out: Vec<char> = Vec::with_capacity(self.length);
        let mut used: BTreeSet<char> = BTreeSet::new();
        for (alphabet, wanted) in [
            (&letters, self.length - self.digits - self.symbols),
            (&digits, self.digits),
            (&self.symbol_characters, self.symbols),
        ] {
            for _ in 0..wanted {
                let c = if self.allow_repeat {
                    alphabet[rng.random_range(0..alphabet.len())]
                } else {
                    let free: Vec<char> = alphabet.iter().copied().filter(|c| !used.contains(c)).collect();
                    // A custom symbol set that shares characters with letters or digits can run out.
                    if free.is_empty() {
                        return Err(invalid(
                            "not enough distinct characters without repeats (symbolCharacters overlaps letters or \
                             digits; set allowRepeat)",
                        ));
                    }
                    let c = free[rng.random_range(0..free.len())];
                    used.insert(c);
                    c
                };
                out.push(c);
            }
        }
        out.shuffle(rng);
        Ok(out.into_iter().collect())
    }
}

/// ESO's keys: `password` when unset or empty; each key non-empty and unique.
fn secret_keys(spec: &PasswordSpec) -> Result<Vec<String>, GeneratorError> {
    let keys = match &spec.secret_keys {
        Some(keys) if !keys.is_empty() => keys.clone(),
        _ => vec!["password".to_string()],
    };
    let mut seen = BTreeSet::new();
    if keys.iter().any(|k| k.is_empty() || !seen.insert(k.as_str())) {
        return Err(invalid("secretKeys must be non-empty and unique"));
    }
    Ok(keys)
}

/// ESO's encodings of the password's bytes.
fn encode(password: String, encoding: PasswordEncoding) -> Vec<u8> {
    match encoding {
        PasswordEncoding::Raw => password.into_bytes(),
        PasswordEncoding::Base64 => base64::engine::general_purpose::STANDARD.encode(password).into_bytes(),
        PasswordEncoding::Base64Url => base64::engine::general_purpose::URL_SAFE.encode(password).into_bytes(),
        PasswordEncoding::Base32 => base32_std(password.as_bytes()).into_bytes(),
        PasswordEncoding::Hex => hex::encode(password).into_bytes(),
    }
}

/// RFC 4648 base32 with padding (Go's `base32.StdEncoding`).
fn base32_std(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    for chunk in bytes.chunks(5) {
        let mut block = [0u8; 5];
        block[..chunk.len()].copy_from_slice(chunk);
        let bits = block.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let symbols = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < symbols {
                let index = (bits >> (35 - 5 * i)) & 0x1f;
                out.push(char::from(ALPHABET[index as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl Generator for PasswordGenerator {
    type Spec = PasswordSpec;
    const KIND: &'static str = "Password";

    fn generate(&self, spec: &PasswordSpec) -> Result<Generated, GeneratorError> {
        let rules = PasswordRules::from_spec(spec)?;
        let keys = secret_keys(spec)?;
        let encoding = spec.encoding.unwrap_or_default();
        let mut rng = rand::rngs::OsRng.unwrap_err();
        let mut out = BTreeMap::new();
        for key in keys {
            let password = rules.draw(&mut rng)?;
            out.insert(key, SecretBytes::new(encode(password, encoding)));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used)]
    use super::*;

    fn spec(json: serde_json::Value) -> PasswordSpec {
        serde_json::from_value(json).expect("Password spec")
    }

    fn one(spec: &PasswordSpec) -> String {
        let data = PasswordGenerator.generate(spec).expect("generate");
        String::from_utf8(data["password"].expose().to_vec()).expect("UTF-8")
    }

    fn classes(password: &str, symbols: &str) -> (usize, usize, usize, usize) {
        let lower = password.chars().filter(char::is_ascii_lowercase).count();
        let upper = password.chars().filter(char::is_ascii_uppercase).count();
        let digits = password.chars().filter(char::is_ascii_digit).count();
        let symbol = password.chars().filter(|c| symbols.contains(*c)).count();
        (lower, upper, digits, symbol)
    }

    #[test]
    fn defaults_are_eso_s_24_characters_6_digits_6_symbols_under_password() {
        let data = PasswordGenerator.generate(&PasswordSpec::default()).expect("generate");
        assert_eq!(data.keys().collect::<Vec<_>>(), ["password"]);
        let password = one(&PasswordSpec::default());
        assert_eq!(password.chars().count(), 24);
        let (lower, upper, digits, symbols) = classes(&password, DEFAULT_SYMBOL_CHARACTERS);
        assert_eq!((digits, symbols, lower + upper), (6, 6, 12), "{}", password.len());
        let distinct: BTreeSet<char> = password.chars().collect();
        assert_eq!(distinct.len(), 24, "allowRepeat is false by default");
    }

    #[test]
    fn length_zero_means_the_default_and_a_quarter_is_rounded_down() {
        let rules = PasswordRules::from_spec(&spec(serde_json::json!({"length": 0}))).expect("rules");
        assert_eq!((rules.length, rules.digits, rules.symbols), (24, 6, 6));
        let rules = PasswordRules::from_spec(&spec(serde_json::json!({"length": 11}))).expect("rules");
        assert_eq!((rules.length, rules.digits, rules.symbols), (11, 2, 2));
    }

    #[test]
    fn explicit_counts_no_upper_and_symbol_characters_are_obeyed() {
        let s = spec(serde_json::json!({
            "length": 36, "digits": 10, "symbols": 3, "symbolCharacters": "-_.", "noUpper": true, "allowRepeat": false
        }));
        for _ in 0..50 {
            let password = one(&s);
            assert_eq!(password.chars().count(), 36);
            let (lower, upper, digits, symbols) = classes(&password, "-_.");
            assert_eq!((lower, upper, digits, symbols), (23, 0, 10, 3), "classes");
            assert!(password.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c)));
            assert_eq!(password.chars().collect::<BTreeSet<_>>().len(), 36, "no repeats");
        }
    }

    #[test]
    fn without_repeats_a_class_larger_than_its_alphabet_is_refused_and_allowed_with_repeats() {
        let err = PasswordGenerator
            .generate(&spec(serde_json::json!({"length": 20, "digits": 11, "symbols": 0})))
            .expect_err("11 distinct digits");
        assert!(err.to_string().contains("11 digits without repeats"), "{err}");
        let err = PasswordGenerator
            .generate(&spec(serde_json::json!({"length": 30, "digits": 0, "symbols": 0, "noUpper": true})))
            .expect_err("30 distinct lowercase letters");
        assert!(err.to_string().contains("letters"), "{err}");
        let s = spec(serde_json::json!({"length": 30, "digits": 30, "symbols": 0, "allowRepeat": true}));
        let password = one(&s);
        assert_eq!(password.len(), 30);
        assert!(password.chars().all(|c| c.is_ascii_digit()));
    }

    #[test]
    fn counts_beyond_the_length_or_negative_are_invalid() {
        for json in [
            serde_json::json!({"length": 4, "digits": 3, "symbols": 2}),
            serde_json::json!({"length": 4, "digits": -1}),
            serde_json::json!({"length": 2_000_000}),
        ] {
            let err = PasswordGenerator.generate(&spec(json.clone())).expect_err("invalid");
            assert!(err.to_string().starts_with("invalid Password spec: "), "{json}: {err}");
        }
    }

    #[test]
    fn overlapping_symbol_characters_without_repeats_end_in_an_error_not_a_loop() {
        let s = spec(serde_json::json!({"length": 2, "digits": 1, "symbols": 1, "symbolCharacters": "0"}));
        // The digit may be `0` (then no symbol is left) or another digit (then `0` is): never a hang.
        for _ in 0..50 {
            match PasswordGenerator.generate(&s) {
                Ok(data) => assert_eq!(data["password"].len(), 2),
                Err(e) => assert!(e.to_string().contains("not enough distinct characters"), "{e}"),
            }
        }
    }

    #[test]
    fn every_class_and_every_position_turn_up_over_many_draws() {
        let rules = PasswordRules::from_spec(&PasswordSpec::default()).expect("rules");
        let mut rng = rand::rngs::OsRng.unwrap_err();
        let mut seen: BTreeSet<char> = BTreeSet::new();
        // Which class each position held, over all draws: the shuffle must put every class everywhere.
        let mut digit_at = [0usize; 24];
        for _ in 0..2000 {
            let password = rules.draw(&mut rng).expect("draw");
            for (i, c) in password.chars().enumerate() {
                seen.insert(c);
                if c.is_ascii_digit() {
                    digit_at[i] += 1;
                }
            }
        }
        // 2000 draws of 12 letters from 52, 6 digits from 10, 6 symbols from 31: missing any one character has a
        // probability far below 1e-30.
        let alphabet: BTreeSet<char> =
            LOWER.chars().chain(UPPER.chars()).chain(DIGITS.chars()).chain(DEFAULT_SYMBOL_CHARACTERS.chars()).collect();
        assert_eq!(seen, alphabet);
        // Each position holds a digit with probability 1/4: 500 expected, far from 0 and 2000.
        assert!(digit_at.iter().all(|n| (300..700).contains(n)), "{digit_at:?}");
    }

    #[test]
    fn secret_keys_each_get_their_own_password_and_must_be_unique() {
        let data = PasswordGenerator.generate(&spec(serde_json::json!({"secretKeys": ["a", "b"]}))).expect("two keys");
        assert_eq!(data.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_ne!(data["a"].expose(), data["b"].expose());
        for keys in [serde_json::json!(["a", "a"]), serde_json::json!(["a", ""])] {
            let err = PasswordGenerator.generate(&spec(serde_json::json!({"secretKeys": keys}))).expect_err("bad");
            assert!(err.to_string().contains("secretKeys must be non-empty and unique"), "{err}");
        }
        let data = PasswordGenerator.generate(&spec(serde_json::json!({"secretKeys": []}))).expect("empty list");
        assert!(data.contains_key("password"));
    }

    #[test]
    fn encodings_are_go_s() {
        assert_eq!(encode("foobar".into(), PasswordEncoding::Raw), b"foobar");
        assert_eq!(encode("foobar".into(), PasswordEncoding::Base64), b"Zm9vYmFy");
        assert_eq!(encode("??>".into(), PasswordEncoding::Base64Url), b"Pz8-");
        assert_eq!(encode("??>".into(), PasswordEncoding::Base64), b"Pz8+");
        assert_eq!(encode("foobar".into(), PasswordEncoding::Hex), b"666f6f626172");
        // RFC 4648 test vectors.
        for (input, expected) in [
            ("", ""),
            ("f", "MY======"),
            ("fo", "MZXQ===="),
            ("foo", "MZXW6==="),
            ("foob", "MZXW6YQ="),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI======"),
        ] {
            assert_eq!(String::from_utf8(encode(input.into(), PasswordEncoding::Base32)).unwrap(), expected);
        }
        let data =
            PasswordGenerator.generate(&spec(serde_json::json!({"length": 12, "encoding": "hex"}))).expect("hex");
        assert_eq!(data["password"].len(), 24);
        assert!(data["password"].expose().iter().all(u8::is_ascii_hexdigit));
    }

    #[test]
    fn errors_and_debug_never_show_a_password() {
        let data = PasswordGenerator.generate(&PasswordSpec::default()).expect("generate");
        let shown = format!("{data:?}");
        let password = String::from_utf8(data["password"].expose().to_vec()).unwrap();
        assert!(!shown.contains(&password), "{shown}");
    }
}
