//! Secret bytes that never print themselves.

use std::collections::BTreeMap;
use std::fmt;

/// Bytes of a secret value. `Debug` shows only the length, and there is no `Display`, so a value cannot end up
/// in a log line, an error string or a panic message by accident.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Wraps bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// The bytes, for code that has to transform or write them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The bytes, by value.
    pub fn into_inner(self) -> Vec<u8> {
        self.0
    }

    /// The length in bytes (safe to log).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} bytes>)", self.0.len())
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(v: Vec<u8>) -> Self {
        Self(v)
    }
}

impl From<&str> for SecretBytes {
    fn from(v: &str) -> Self {
        Self(v.as_bytes().to_vec())
    }
}

impl From<String> for SecretBytes {
    fn from(v: String) -> Self {
        Self(v.into_bytes())
    }
}

/// What a store returned for one key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteValue {
    /// The value as the store holds it (a JSON document, a plain string, binary bytes).
    pub bytes: SecretBytes,
    /// For stores whose values are natively maps of byte strings (a Kubernetes Secret's `data`), the fields, so
    /// that `property` and `extract` are byte-exact. `None` for stores whose values are documents: then
    /// `property` is a JSON path into `bytes` and `extract` needs a JSON object.
    pub fields: Option<BTreeMap<String, SecretBytes>>,
}

impl RemoteValue {
    /// A document-like value.
    pub fn bytes(bytes: impl Into<SecretBytes>) -> Self {
        Self { bytes: bytes.into(), fields: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_bytes() {
        let v = RemoteValue::bytes("hunter2-top-secret");
        let printed = format!("{v:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("18 bytes"), "{printed}");
    }
}
